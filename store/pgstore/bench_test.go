package pgstore_test

import (
	"context"
	"testing"

	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/pgstore"
	"github.com/cardvault/cardvault/store/storetest"
)

func openBench(b *testing.B) *store.Store { return openBenchURL(b, pgtest.URL(b)) }

func openBenchURL(b *testing.B, url string) *store.Store {
	b.Helper()
	s, err := pgstore.Open(context.Background(), url, nil)
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

// BenchmarkCommitOneStandby: BenchmarkCommit with cardvault_min_standbys=1
// and one streaming standby (the test's own, which reports what it
// receives as flushed at once): the guard's cost per write. The standby is
// asynchronous here (the shared test server names no synchronous standby),
// so each write waits for the walsender to send its WAL and the standby's
// reply after the COMMIT: 0.8–0.9 ms a write against 0.2–0.3 ms without
// the guard, one writer, on the 2-core machine busy with a formation
// (2026-12-04). A synchronous standby has replied before the COMMIT
// returns, which leaves the one query.
func BenchmarkCommitOneStandby(b *testing.B) {
	url := pgtest.URL(b)
	startStandby(b, url, true)
	storetest.BenchCommit(b, openBenchURL(b, url+"&cardvault_min_standbys=1"))
}
