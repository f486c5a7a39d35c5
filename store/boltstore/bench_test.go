package boltstore_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/boltstore"
)

// A small transaction: one 16-byte key, one 128-byte value, the size of a
// token index entry.
var benchValue = make([]byte, 128)

func benchKey(n uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, rand.Uint64())
	binary.BigEndian.PutUint64(k[8:], n)
	return k
}

// BenchmarkCommit measures committed small transactions per second on a real
// file, with one writer and with 64 concurrent writers, for boltstore and,
// as baselines in the same run, plain bbolt: DB.Update (one fsync per
// transaction) and DB.Batch (bbolt's own batching, default settings).
func BenchmarkCommit(b *testing.B) {
	for _, writers := range []int{1, 64} {
		name := map[int]string{1: "writers=1", 64: "writers=64"}[writers]
		b.Run(name+"/boltstore", func(b *testing.B) {
			s, err := boltstore.Open(filepath.Join(b.TempDir(), "bench.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			runWriters(b, writers, func(n uint64) error {
				return s.Update(ctx, func(tx store.Tx) error {
					return tx.Put("bench", benchKey(n), benchValue)
				})
			})
		})
		for _, variant := range []string{"bbolt-Update", "bbolt-Batch"} {
			b.Run(name+"/"+variant, func(b *testing.B) {
				db, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), 0o600, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				commit := db.Update
				if variant == "bbolt-Batch" {
					commit = db.Batch
				}
				runWriters(b, writers, func(n uint64) error {
					return commit(func(tx *bolt.Tx) error {
						bk, err := tx.CreateBucketIfNotExists([]byte("bench"))
						if err != nil {
							return err
						}
						return bk.Put(benchKey(n), benchValue)
					})
				})
			})
		}
	}
}

// runWriters runs b.N commits spread over writers goroutines and reports
// commits per second.
func runWriters(b *testing.B, writers int, commit func(n uint64) error) {
	var next atomic.Uint64
	b.ResetTimer()
	start := time.Now()
	if writers == 1 {
		for i := range b.N {
			if err := commit(uint64(i)); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		// RunParallel starts parallelism×GOMAXPROCS goroutines.
		procs := max(1, writers/runtimeProcs())
		b.SetParallelism(procs)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := commit(next.Add(1)); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tx/s")
}

// BenchmarkGet measures point reads: one View with one Get of a random key
// among 10,000, from one goroutine and from GOMAXPROCS goroutines.
func BenchmarkGet(b *testing.B) {
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	const keys = 10000
	err = s.Update(ctx, func(tx store.Tx) error {
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

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
