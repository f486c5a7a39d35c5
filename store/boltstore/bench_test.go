package boltstore_test

import (
	"context"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/boltstore"
	"github.com/cardvault/cardvault/store/storetest"
)

func openBench(b *testing.B) *store.Store {
	b.Helper()
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkCommit measures committed small transactions per second on a real
// file, with one writer and with 64 concurrent writers, for boltstore and,
// as baselines in the same run, plain bbolt: DB.Update (one commit and its
// fsyncs per transaction) and DB.Batch (bbolt's own batching, default
// settings).
func BenchmarkCommit(b *testing.B) {
	for _, writers := range []int{1, 64} {
		name := storetest.WritersName(writers)
		b.Run(name+"/boltstore", func(b *testing.B) {
			s := openBench(b)
			ctx := context.Background()
			storetest.BenchWriters(b, writers, func() error { return s.Update(ctx, storetest.SmallWrite) })
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
				storetest.BenchWriters(b, writers, func() error {
					return commit(func(btx *bolt.Tx) error {
						bk, err := btx.CreateBucketIfNotExists([]byte("bench"))
						if err != nil {
							return err
						}
						k, v := storetest.SmallEntry()
						return bk.Put(k, v)
					})
				})
			})
		}
	}
}

// BenchmarkGet: point reads, each one View with one Get.
func BenchmarkGet(b *testing.B) { storetest.BenchGet(b, openBench(b)) }
