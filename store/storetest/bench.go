package storetest

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/cardvault/cardvault/store"
)

// The benchmarks' unit of work, the same for every backend so that their
// figures compare: one small transaction puts one 16-byte random key with a
// 128-byte value (about a token index entry).
var benchValue = make([]byte, 128)

// SmallEntry returns a new key and the value of one small transaction.
func SmallEntry() (key, value []byte) {
	key = binary.BigEndian.AppendUint64(nil, rand.Uint64())
	key = binary.BigEndian.AppendUint64(key, rand.Uint64())
	return key, benchValue
}

// SmallWrite is the small transaction of the commit benchmarks: it puts
// one SmallEntry into the bucket "bench".
func SmallWrite(tx store.Tx) error {
	k, v := SmallEntry()
	return tx.Put("bench", k, v)
}

// BenchWriters runs b.N calls of commit spread over writers goroutines
// and reports committed transactions per second as the metric "tx/s".
func BenchWriters(b *testing.B, writers int, commit func() error) {
	b.ResetTimer()
	start := time.Now()
	if writers <= 1 {
		for range b.N {
			if err := commit(); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		// RunParallel starts parallelism × GOMAXPROCS goroutines.
		b.SetParallelism(max(1, writers/runtime.GOMAXPROCS(0)))
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := commit(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tx/s")
}

// The helpers below are the benchmarks every backend runs, from its own
// Benchmark functions:
//
//	func BenchmarkCommit(b *testing.B) { storetest.BenchCommit(b, open(b)) }
//	func BenchmarkGet(b *testing.B)    { storetest.BenchGet(b, open(b)) }

// BenchCommit measures small transactions committed by s, from 1 and
// from 64 concurrent writers (sub-benchmarks writers=1 and writers=64).
func BenchCommit(b *testing.B, s *store.Store) {
	ctx := context.Background()
	for _, writers := range []int{1, 64} {
		b.Run(WritersName(writers), func(b *testing.B) {
			BenchWriters(b, writers, func() error { return s.Update(ctx, SmallWrite) })
		})
	}
}

// WritersName names a sub-benchmark by its number of writers.
func WritersName(writers int) string {
	return "writers=" + strconv.Itoa(writers)
}

// BenchGet measures point reads — one View with one Get of a random key
// among 10,000 — from one goroutine (serial) and from GOMAXPROCS goroutines
// (parallel).
func BenchGet(b *testing.B, s *store.Store) {
	ctx := context.Background()
	const keys = 10000
	err := s.Update(ctx, func(tx store.Tx) error {
		for i := range keys {
			if err := tx.Put("bench", binary.BigEndian.AppendUint64(nil, uint64(i)), benchValue); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	get := func() error {
		k := binary.BigEndian.AppendUint64(nil, rand.Uint64N(keys))
		return s.View(ctx, func(tx store.Tx) error {
			_, err := tx.Get("bench", k)
			return err
		})
	}
	b.Run("serial", func(b *testing.B) {
		for range b.N {
			if err := get(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := get(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
