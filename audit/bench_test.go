package audit_test

// The trail's costs, and the figures behind its design (see the package
// documentation, "Concurrency"):
//
//	go test -run '^$' -bench 'Record|Note' -benchtime 20000x -count 6 ./audit
//	scripts/with-postgres.sh go test -run '^$' -bench 'Record|Contention' -benchtime 3000x -count 6 ./audit
//	go test -run '^$' -bench Verify1M -benchtime 1x -count 6 ./audit
//
// BenchmarkVerify1M builds a trail of a million entries on boltstore first
// (once per process, about a minute); it is not part of `make test`.

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/boltstore"
	"github.com/cardvault/cardvault/store/storetest"
)

func benchLog(b *testing.B, st *store.Store, opts ...func(*audit.Config)) *audit.Log {
	cfg := audit.Config{Store: st, Keyring: testkit.Keyring(b)}
	for _, o := range opts {
		o(&cfg)
	}
	l, err := audit.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { l.Close() })
	return l
}

var benchEvent = audit.Event{Op: audit.OpItemUpdated, Outcome: audit.OutcomeOK, Account: "merchant-account", Client: "203.0.113.7",
	User: "customer-4711", Token: "6f1c2e9a0b7d3f4e2a8b6c5d4e3f2a1b6f1c2e9a0b7d3f4e2a8b6c5d4e3f2a1b", Reference: "order-2026-11-25-0042"}

// BenchmarkRecord: 64 writers each committing a small transaction (the
// store's benchmark unit), without and with a Record in it — on boltstore
// chained in the transaction (as examples/server runs it there) and, for
// comparison, aside for the chainer (pending), on pgstore aside — chained
// in the background as a server does.
func BenchmarkRecord(b *testing.B) {
	for _, be := range []struct {
		name  string
		open  func(testing.TB) *store.Store
		inTx  bool
		audit bool
	}{
		{"boltstore/without", teststores.Boltstore.Open, false, false},
		{"boltstore/with", teststores.Boltstore.Open, true, true},
		{"boltstore/with-pending", teststores.Boltstore.Open, false, true},
		{"pgstore/without", teststores.Pgstore.Open, false, false},
		{"pgstore/with", teststores.Pgstore.Open, false, true},
	} {
		b.Run(be.name, func(b *testing.B) {
			st := be.open(b)
			if !be.audit {
				storetest.BenchWriters(b, 64, func() error { return st.Update(context.Background(), storetest.SmallWrite) })
				return
			}
			l := benchLog(b, st, func(c *audit.Config) { c.ChainInTransaction = be.inTx })
			storetest.BenchWriters(b, 64, func() error {
				return st.Update(context.Background(), func(tx store.Tx) error {
					if err := storetest.SmallWrite(tx); err != nil {
						return err
					}
					return l.Record(tx, benchEvent)
				})
			})
			b.StopTimer()
			if err := l.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkNote: events noted from 64 goroutines, including the flushes
// that chain them (the timer stops after the last one is chained).
func BenchmarkNote(b *testing.B) {
	st := teststores.Boltstore.Open(b)
	l := benchLog(b, st)
	b.SetParallelism(32)
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Note(benchEvent); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := l.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "notes/s")
	if s := l.Stats(); s.Dropped > 0 {
		b.Fatalf("%d notes dropped", s.Dropped)
	}
}

// million is a boltstore trail of a million entries, built once.
var million struct {
	once sync.Once
	dir  string
	kr   *crypto.Keyring
	err  error
}

const millionEntries = 1_000_000

func buildMillion(b *testing.B) (string, *crypto.Keyring) {
	million.once.Do(func() {
		million.dir, million.err = os.MkdirTemp("", "cardvault-audit-bench-")
		if million.err != nil {
			return
		}
		path := filepath.Join(million.dir, "cardvault.db")
		million.kr, million.err = crypto.CreateKeyringFile(filepath.Join(million.dir, "master.key"))
		if million.err != nil {
			return
		}
		st, err := boltstore.Open(path, nil)
		if err != nil {
			million.err = err
			return
		}
		defer st.Close()
		l, err := audit.Open(context.Background(), audit.Config{Store: st, Keyring: million.kr, FlushEvery: -1})
		if err != nil {
			million.err = err
			return
		}
		defer l.Close()
		for i := range millionEntries {
			e := benchEvent
			e.Reference = fmt.Sprint("order-", i)
			if err := l.Note(e); err != nil {
				million.err = err
				return
			}
			if i%4096 == 4095 {
				if err := l.Flush(context.Background()); err != nil {
					million.err = err
					return
				}
			}
		}
		million.err = l.Flush(context.Background())
	})
	if million.err != nil {
		b.Fatal(million.err)
	}
	return filepath.Join(million.dir, "cardvault.db"), million.kr
}

func TestMain(m *testing.M) {
	code := m.Run()
	if million.dir != "" {
		os.RemoveAll(million.dir)
	}
	os.Exit(code)
}

// BenchmarkVerify1M: Verify of a million-entry trail on boltstore.
func BenchmarkVerify1M(b *testing.B) {
	path, kr := buildMillion(b)
	st, err := boltstore.Open(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	b.ResetTimer()
	for range b.N {
		rep, err := audit.Verify(context.Background(), st, kr)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Entries != millionEntries {
			b.Fatalf("%d entries", rep.Entries)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/1000, "s/verify")
}

// BenchmarkContention is the measurement behind the trail's shape: 64
// writers on pgstore each commit a small transaction (the work) and the
// trail's share of it, done three ways —
//
//   - pending: what Record does, one Put of its own key: nothing to
//     conflict on;
//   - chain-in-tx: the entry appended to one chain inside the writer's
//     transaction (read the head, put the entry, put the head), as a
//     design that chains at once would: every writer conflicts on the
//     head, and SERIALIZABLE aborts and retries them;
//   - chain-in-tx-16: the same over 16 chains, one picked at random.
//
// The trail's own cost in the same terms is BenchmarkRecord/pgstore.
func BenchmarkContention(b *testing.B) {
	st := teststores.Pgstore.Open(b)
	entry := make([]byte, 200)
	var n atomic.Uint64
	appendTo := func(tx store.Tx, head []byte) error {
		h, err := tx.Get("design.heads", head)
		var seq uint64
		switch {
		case err == nil:
			seq = binary.BigEndian.Uint64(h)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		seq++
		if err := tx.Put("design.chain", append(append([]byte{}, head...), binary.BigEndian.AppendUint64(nil, seq)...), entry); err != nil {
			return err
		}
		return tx.Put("design.heads", head, binary.BigEndian.AppendUint64(make([]byte, 0, 40), seq))
	}
	for _, d := range []struct {
		name  string
		trail func(tx store.Tx) error
	}{
		{"work-only", func(store.Tx) error { return nil }},
		{"pending", func(tx store.Tx) error {
			k := binary.BigEndian.AppendUint64(nil, uint64(time.Now().UnixNano()))
			return tx.Put("design.pending", binary.BigEndian.AppendUint64(k, n.Add(1)), entry)
		}},
		{"chain-in-tx", func(tx store.Tx) error { return appendTo(tx, []byte("one")) }},
		{"chain-in-tx-16", func(tx store.Tx) error { return appendTo(tx, fmt.Appendf(nil, "lane%02d", mrand.IntN(16))) }},
	} {
		b.Run(d.name, func(b *testing.B) {
			storetest.BenchWriters(b, 64, func() error {
				return st.Update(context.Background(), func(tx store.Tx) error {
					k := make([]byte, 16)
					_, _ = rand.Read(k)
					if err := tx.Put("design.work", k, entry[:128]); err != nil {
						return err
					}
					return d.trail(tx)
				})
			})
		})
	}
}

// BenchmarkChainAfterChurn: on PostgreSQL, one write's entry recorded and
// chained, after 20,000 entries were recorded and chained before it (their
// pending rows deleted, not yet vacuumed): the background's chaining, which
// looks only at the last audit.PendingWindow of pending entries, against
// Flush's, which looks at all of them and so walks every deleted row left
// in the index.
//
//	scripts/with-postgres.sh go test -run '^$' -bench ChainAfterChurn -count 6 ./audit
func BenchmarkChainAfterChurn(b *testing.B) {
	for _, mode := range []string{"window", "all"} {
		b.Run(mode, func(b *testing.B) {
			st := teststores.Pgstore.Open(b)
			l := benchLog(b, st, func(c *audit.Config) { c.FlushEvery = -1 })
			ctx := context.Background()
			record := func(i int) {
				err := st.Update(ctx, func(tx store.Tx) error {
					return l.Record(tx, audit.Event{Op: audit.OpItemStored, Outcome: audit.OutcomeOK, Account: "alice", Reference: fmt.Sprint("r", i)})
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			for i := range 20000 {
				record(i)
				if i%1000 == 999 {
					if err := l.Flush(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := l.FlushInBackground(ctx); err != nil { // the first is a full scan
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				record(i)
				var err error
				if mode == "window" {
					err = l.FlushInBackground(ctx)
				} else {
					err = l.Flush(ctx)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
