package boltstore

import (
	"crypto/rand"
	"fmt"
	"testing"
)

// BenchmarkLayerSet measures a memtable write as the commit loop makes it:
// a layer that already holds n entries, copied for readers (published)
// after every batch of 8 writes, each a random 32-byte key in one of a few
// buckets with a 300-byte value. The copy-on-write clone of the path each
// first write after a publish makes is most of the cost.
func BenchmarkLayerSet(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint("entries=", n), func(b *testing.B) {
			buckets := []string{"securetoken:records", "securetoken:index", "idempotency", "audit:pending"}
			l := newLayer()
			val := make([]byte, 300)
			key := func() string { k := make([]byte, 32); rand.Read(k); return string(k) }
			for i := range n {
				l.set(entry{bucket: buckets[i%len(buckets)], key: key(), val: val})
			}
			keys := make([]string, b.N)
			for i := range keys {
				keys[i] = key()
			}
			var readers *layer
			b.ResetTimer()
			for i := range b.N {
				if i%8 == 0 {
					readers = l.copy()
				}
				l.set(entry{bucket: buckets[i%len(buckets)], key: keys[i], val: val})
			}
			_ = readers
		})
	}
}
