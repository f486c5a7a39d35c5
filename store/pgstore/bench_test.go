package pgstore_test

import (
	"context"
	"testing"

	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/pgstore"
	"github.com/cardvault/cardvault/store/storetest"
)

func openBench(b *testing.B) *store.Store {
	b.Helper()
	s, err := pgstore.Open(context.Background(), pgtest.URL(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// BenchmarkCommit: small transactions committed per second, 1 and 64
// writers, on the pool's default size.
func BenchmarkCommit(b *testing.B) { storetest.BenchCommit(b, openBench(b)) }

// BenchmarkGet: point reads, each one View with one Get.
func BenchmarkGet(b *testing.B) { storetest.BenchGet(b, openBench(b)) }
