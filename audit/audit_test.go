package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/store/storetest"
)

var ctx = context.Background()

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// fixture is a Log over a store, with its keyring and clock. Its Log
// chains only when told (Flush), so that tests say when things happen.
type fixture struct {
	t     testing.TB
	st    *store.Store
	kr    *crypto.Keyring
	clock *testkit.Clock
	log   *audit.Log
}

func newFixture(t testing.TB, st *store.Store, opts ...func(*audit.Config)) *fixture {
	t.Helper()
	f := &fixture{t: t, st: st, kr: testkit.Keyring(t), clock: testkit.NewClock(t0)}
	f.log = f.open(opts...)
	return f
}

// open opens another Log on the fixture's store and keyring: another
// process, as far as the trail can tell.
func (f *fixture) open(opts ...func(*audit.Config)) *audit.Log {
	f.t.Helper()
	cfg := audit.Config{Store: f.st, Keyring: f.kr, FlushEvery: -1, CheckpointEvery: 8, Now: f.clock.Now}
	for _, o := range opts {
		o(&cfg)
	}
	l, err := audit.Open(ctx, cfg)
	require.NoError(f.t, err)
	f.t.Cleanup(func() { _ = l.Close() })
	return l
}

// record writes e in a transaction of its own, as a service's write would,
// one millisecond after the one before.
func (f *fixture) record(e audit.Event) {
	f.t.Helper()
	f.clock.Advance(time.Millisecond)
	require.NoError(f.t, f.st.Update(ctx, func(tx store.Tx) error {
		return f.log.Record(tx, e)
	}))
}

func (f *fixture) flush() {
	f.t.Helper()
	require.NoError(f.t, f.log.Flush(ctx))
}

func (f *fixture) verify() audit.Report {
	f.t.Helper()
	rep, err := audit.Verify(ctx, f.st, f.kr)
	require.NoError(f.t, err)
	return rep
}

// all lists every entry of account, newest first.
func (f *fixture) all(account string) []audit.Entry {
	f.t.Helper()
	var out []audit.Entry
	cursor := ""
	for {
		page, next, err := f.log.List(ctx, account, time.Time{}, time.Time{}, cursor, 7)
		require.NoError(f.t, err)
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

func read(account, ref string) audit.Event {
	return audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: account, User: "u1", Token: "tok", Reference: ref}
}

func stored(account, ref string) audit.Event {
	return audit.Event{Op: audit.OpItemStored, Outcome: audit.OutcomeOK, Account: account, User: "u1", Token: "tok", Reference: ref}
}

func TestRecordCommitsWithTheWork(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		f := newFixture(t, b.Open(t))
		f.record(audit.Event{Op: audit.OpItemStored, Outcome: audit.OutcomeOK, Account: "alice", Reference: "kept"})

		// A transaction that fails takes its entry with it.
		boom := errors.New("the work failed")
		err := f.st.Update(ctx, func(tx store.Tx) error {
			require.NoError(t, f.log.Record(tx, audit.Event{Op: audit.OpItemStored, Outcome: audit.OutcomeOK, Account: "alice", Reference: "rolled-back"}))
			return boom
		})
		require.ErrorIs(t, err, boom)
		require.NoError(t, f.log.Note(read("alice", "noted")))

		// Recorded entries wait, authenticated, until they are chained.
		rep := f.verify()
		require.Equal(t, audit.Report{Pending: 1, Key: rep.Key}, rep)
		f.flush()
		rep = f.verify()
		require.Equal(t, uint64(2), rep.Entries)
		require.Zero(t, rep.Pending)

		got := f.all("alice")
		require.Len(t, got, 2)
		require.Equal(t, "noted", got[0].Reference, "newest first")
		require.Equal(t, audit.OpItemRead, got[0].Op)
		require.Equal(t, "kept", got[1].Reference)
		require.Equal(t, t0.Add(time.Millisecond), got[1].Time)
		require.Equal(t, audit.Stats{Recorded: 1, Noted: 1, Chained: 2}, f.log.Stats())
	})
}

// With ChainInTransaction, the entry is chained in the work's transaction,
// and a transaction that fails undoes the chaining too (boltstore's group
// commit undoes one writer's writes and keeps the others').
func TestRecordChainsInTheTransaction(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		f := newFixture(t, b.Open(t), func(c *audit.Config) { c.ChainInTransaction = true })
		f.record(audit.Event{Op: audit.OpItemStored, Outcome: audit.OutcomeOK, Account: "alice", Reference: "one"})
		rep := f.verify()
		require.Equal(t, audit.Report{Entries: 1, First: 1, Last: 1, Head: rep.Head, Key: rep.Key}, rep)
		require.Len(t, rep.Key, 16)

		boom := errors.New("the work failed")
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				err := f.st.Update(ctx, func(tx store.Tx) error {
					if err := f.log.Record(tx, audit.Event{Op: audit.OpItemStored, Outcome: audit.OutcomeOK, Account: "alice", Reference: fmt.Sprint("c", i)}); err != nil {
						return err
					}
					if i%2 == 1 {
						return boom
					}
					return nil
				})
				if i%2 == 1 {
					require.ErrorIs(t, err, boom)
				} else {
					require.NoError(t, err)
				}
			})
		}
		wg.Wait()
		rep = f.verify()
		require.Equal(t, uint64(5), rep.Entries)
		require.Len(t, f.all("alice"), 5)
		require.Equal(t, audit.Stats{Recorded: 5, Chained: 5}, f.log.Stats())
	})
}

func TestEventsAreCheckedAndRedacted(t *testing.T) {
	f := newFixture(t, memstore.New())
	const card = "4111111111111111"
	long := strings.Repeat("x", audit.MaxFieldLen+1)
	for _, tc := range []struct {
		name     string
		event    audit.Event
		err      error
		redacted []string
		check    func(t *testing.T, e audit.Entry)
	}{
		{name: "unknown operation", event: audit.Event{Op: "item.stolen", Outcome: audit.OutcomeOK}, err: audit.ErrInvalid},
		{name: "no outcome", event: audit.Event{Op: audit.OpItemRead}, err: audit.ErrInvalid},
		{name: "negative count", event: audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Count: -1}, err: audit.ErrInvalid},
		{name: "card number as a reference", event: audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "a", Reference: card},
			redacted: []string{"reference"}},
		{name: "spaced card number inside a resource id", event: audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "a", Resource: "id-4111 1111 1111 1111-x"},
			redacted: []string{"resource"}},
		{name: "too long, and a card number as the user", event: audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "a", Token: long, User: "5555-5555-5555-4444"},
			redacted: []string{"user", "token"}},
		{name: "a card number as a token", event: audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "a", Token: card},
			redacted: []string{"token"}},
		{name: "a full token whose digits pass the Luhn check by chance is kept", event: audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "a", Token: "ab4242424242424242" + strings.Repeat("c", 46)},
			check: func(t *testing.T, e audit.Entry) {
				require.Equal(t, "ab4242424242424242"+strings.Repeat("c", 46), e.Token)
			}},
		{name: "the same run in a hex token of another length is not", event: audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "a", Token: "ab4242424242424242" + strings.Repeat("c", 45)},
			redacted: []string{"token"}},
		{name: "control character", event: audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "a", Reason: "a\x00b"},
			redacted: []string{"reason"}},
		{name: "a client that is not an address", event: audit.Event{Op: audit.OpAuthFailed, Outcome: audit.OutcomeRefused, Account: "a", Client: "evil.example"},
			redacted: []string{"client"}},
		{name: "ip:port is cut to the ip", event: audit.Event{Op: audit.OpAuthFailed, Outcome: audit.OutcomeRefused, Account: "a", Client: "[::1]:4711"},
			check: func(t *testing.T, e audit.Entry) { require.Equal(t, "::1", e.Client) }},
		{name: "digits that are no card number are kept", event: audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "a", Reference: "4111111111111112", Resource: "12345678901"},
			check: func(t *testing.T, e audit.Entry) {
				require.Equal(t, "4111111111111112", e.Reference)
				require.Equal(t, "12345678901", e.Resource)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := f.st.Update(ctx, func(tx store.Tx) error { return f.log.Record(tx, tc.event) })
			noteErr := f.log.Note(tc.event)
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				require.ErrorIs(t, err, cardvault.ErrInvalid)
				require.ErrorIs(t, noteErr, tc.err)
				return
			}
			require.NoError(t, err)
			require.NoError(t, noteErr)
			f.flush()
			got := f.all("a")[:2]
			for _, e := range got {
				require.Equal(t, tc.redacted, e.Redacted)
				for _, name := range tc.redacted {
					raw, _ := json.Marshal(e)
					require.Contains(t, string(raw), `"`+name+`":"redacted:`)
				}
				if tc.check != nil {
					tc.check(t, e)
				}
			}
			// The same value gives the same mark, so redacted entries can
			// still be told apart and matched.
			require.Equal(t, got[0].Reference+got[0].User+got[0].Resource, got[1].Reference+got[1].User+got[1].Resource)
			require.NotContains(t, fmt.Sprint(got), card)
		})
	}
	f.verify()
}

func TestNotesShareCommits(t *testing.T) {
	f := newFixture(t, memstore.New())
	before := f.st.Stats().Commits
	for i := range 600 {
		require.NoError(t, f.log.Note(read("alice", fmt.Sprint("r", i))))
	}
	f.flush()
	// 600 reads, one commit (up to 1024 notes per transaction), not 600.
	require.Equal(t, uint64(1), f.st.Stats().Commits-before)
	require.Equal(t, uint64(600), f.verify().Entries)
}

func TestNotesBeyondTheLimitAreCountedInTheTrail(t *testing.T) {
	f := newFixture(t, memstore.New(), func(c *audit.Config) { c.MaxNotes = 2 })
	for i := range 5 {
		require.NoError(t, f.log.Note(read("alice", fmt.Sprint("r", i))))
	}
	require.Equal(t, uint64(3), f.log.Stats().Dropped)
	f.flush()
	var buf bytes.Buffer
	n, err := f.log.Export(ctx, &buf, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Equal(t, 3, n)
	first := exportLines(t, &buf)[0]
	require.Equal(t, audit.OpAuditNotesDropped, first.Op)
	require.Equal(t, 3, first.Count)
	// Counted once: the next flush adds nothing.
	f.flush()
	require.Equal(t, uint64(3), f.verify().Entries)
}

func TestCloseFlushes(t *testing.T) {
	st := memstore.New()
	f := newFixture(t, st)
	l := f.open(func(c *audit.Config) { c.FlushEvery = time.Hour })
	require.NoError(t, l.Note(read("alice", "at-close")))
	require.NoError(t, l.Close())
	require.NoError(t, l.Close())
	require.NoError(t, l.Note(read("alice", "after-close")))
	require.Equal(t, uint64(1), l.Stats().Dropped)
	require.Equal(t, uint64(1), f.verify().Entries)
}

func TestChainsInTheBackground(t *testing.T) {
	f := newFixture(t, memstore.New())
	l := f.open(func(c *audit.Config) { c.FlushEvery = time.Millisecond })
	require.NoError(t, l.Note(read("alice", "bg")))
	require.NoError(t, f.st.Update(ctx, func(tx store.Tx) error {
		return l.Record(tx, audit.Event{Op: audit.OpKeyCreated, Outcome: audit.OutcomeOK, Account: "alice", User: "u"})
	}))
	// No timed assertion: wait for the chainer however long it takes.
	for l.Stats().Chained < 2 {
		time.Sleep(time.Millisecond)
	}
	require.Equal(t, uint64(2), f.verify().Entries)
}

func TestListPagesOneAccountNewestFirst(t *testing.T) {
	f := newFixture(t, memstore.New())
	for i := range 20 {
		acct := "alice"
		if i%3 == 0 {
			acct = "bob"
		}
		f.record(audit.Event{Op: audit.OpItemStored, Outcome: audit.OutcomeOK, Account: acct, Reference: fmt.Sprint("r", i)})
	}
	f.record(audit.Event{Op: audit.OpItemStored, Outcome: audit.OutcomeOK, Account: "alice2", Reference: "prefix-of-alice"})
	f.flush()

	alice := f.all("alice")
	require.Len(t, alice, 13)
	for i, e := range alice {
		require.Equal(t, "alice", e.Account)
		if i > 0 {
			require.True(t, e.Time.Before(alice[i-1].Time))
		}
	}
	require.Equal(t, "r19", alice[0].Reference)
	require.Len(t, f.all("bob"), 7)
	require.Len(t, f.all("alice2"), 1)
	require.Empty(t, f.all("carol"))

	// from is inclusive, to exclusive.
	from, to := t0.Add(5*time.Millisecond), t0.Add(10*time.Millisecond)
	page, next, err := f.log.List(ctx, "alice", from, to, "", 100)
	require.NoError(t, err)
	require.Empty(t, next)
	var refs []string
	for _, e := range page {
		refs = append(refs, e.Reference)
	}
	require.Equal(t, []string{"r8", "r7", "r5", "r4"}, refs) // r6 and r9 are bob's

	for _, tc := range []struct {
		name, account, cursor string
		from, to              time.Time
		limit                 int
	}{
		{"no account", "", "", time.Time{}, time.Time{}, 10},
		{"limit 0", "alice", "", time.Time{}, time.Time{}, 0},
		{"limit over the maximum", "alice", "", time.Time{}, time.Time{}, audit.MaxListLimit + 1},
		{"to before from", "alice", "", to, from, 10},
		{"a cursor List did not make", "alice", "zz", time.Time{}, time.Time{}, 10},
		{"an account with NUL", "al\x00ice", "", time.Time{}, time.Time{}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := f.log.List(ctx, tc.account, tc.from, tc.to, tc.cursor, tc.limit)
			require.ErrorIs(t, err, audit.ErrInvalid)
		})
	}
}

func exportLines(t *testing.T, r *bytes.Buffer) []audit.ExportLine {
	t.Helper()
	var out []audit.ExportLine
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		var l audit.ExportLine
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		require.NoError(t, dec.Decode(&l), sc.Text())
		out = append(out, l)
	}
	require.NoError(t, sc.Err())
	return out
}

func TestExportIsOneChainOfJSONLines(t *testing.T) {
	f := newFixture(t, memstore.New())
	for i := range 30 {
		f.record(audit.Event{Op: audit.OpItemUpdated, Outcome: audit.OutcomeOK, Account: "alice", Reference: fmt.Sprint("r", i)})
	}
	require.NoError(t, f.log.Note(audit.Event{Op: audit.OpAuthFailed, Outcome: audit.OutcomeRefused, Client: "127.0.0.1:9", Reason: "basic"}))
	var buf bytes.Buffer
	n, err := f.log.Export(ctx, &buf, time.Time{}, time.Time{}) // flushes first
	require.NoError(t, err)
	require.Equal(t, 31, n)
	lines := exportLines(t, &buf)
	require.Len(t, lines, 31)
	for i, l := range lines {
		require.Equal(t, uint64(i+1), l.Seq)
		if i > 0 {
			require.Equal(t, lines[i-1].Hash, l.Prev)
		}
	}
	require.Equal(t, strings.Repeat("0", 64), lines[0].Prev)
	require.Equal(t, "127.0.0.1", lines[30].Client)
	require.Equal(t, lines[30].Hash, f.verify().Head)

	buf.Reset()
	n, err = f.log.Export(ctx, &buf, t0.Add(10*time.Millisecond), t0.Add(20*time.Millisecond))
	require.NoError(t, err)
	require.Equal(t, 10, n)
	lines = exportLines(t, &buf)
	require.Equal(t, "r9", lines[0].Reference)
	require.Equal(t, "r18", lines[9].Reference)
}

// Several processes on one store keep one chain: each records in its own
// transactions and chains in the background, and the chainers take turns
// on the head.
func TestProcessesShareOneChain(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		f := newFixture(t, b.Open(t))
		// One of them chains in its transactions, which is correct on any
		// store (slow on pgstore, where they conflict and are retried).
		logs := []*audit.Log{f.log, f.open(), f.open(func(c *audit.Config) { c.ChainInTransaction = true })}
		const each = 40
		var wg sync.WaitGroup
		for p, l := range logs {
			for w := range 4 {
				wg.Go(func() {
					for i := range each {
						e := audit.Event{Op: audit.OpItemStored, Outcome: audit.OutcomeOK, Account: "alice", Reference: fmt.Sprintf("p%d-w%d-%d", p, w, i)}
						if i%2 == 0 {
							require.NoError(t, f.st.Update(ctx, func(tx store.Tx) error { return l.Record(tx, e) }))
						} else {
							require.NoError(t, l.Note(e))
						}
						if i%10 == 0 {
							require.NoError(t, l.Flush(ctx))
						}
					}
				})
			}
		}
		wg.Wait()
		for _, l := range logs {
			require.NoError(t, l.Flush(ctx))
		}
		rep := f.verify()
		require.Equal(t, uint64(len(logs)*4*each), rep.Entries)
		require.Zero(t, rep.Pending)
		seen := map[string]bool{}
		for _, e := range f.all("alice") {
			require.False(t, seen[e.Reference], e.Reference)
			seen[e.Reference] = true
		}
		require.Len(t, seen, len(logs)*4*each)
	})
}

func TestRetentionKeepsTheChainVerifiable(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		f := newFixture(t, b.Open(t), func(c *audit.Config) { c.Retention = 24 * time.Hour })
		sweeper := expiry.NewSweeper(f.st, f.clock.Now, nil)
		for i := range 20 {
			f.record(audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "alice", Reference: fmt.Sprint("old", i)})
		}
		f.flush() // checkpoints at 8 and 16
		n, err := sweeper.Sweep(ctx)
		require.NoError(t, err)
		require.Zero(t, n, "nothing is due yet")

		f.clock.Advance(24*time.Hour + time.Second)
		for i := range 3 {
			f.record(audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "alice", Reference: fmt.Sprint("new", i)})
		}
		f.flush() // checkpoint at 23 (8 after 16 was not reached: 16 + 8 = 24)
		n, err = sweeper.Sweep(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n, "two segments")

		rep := f.verify()
		require.Equal(t, uint64(16), rep.Removed)
		require.Equal(t, uint64(17), rep.First)
		require.Equal(t, uint64(23), rep.Last)
		require.Equal(t, uint64(7), rep.Entries)
		got := f.all("alice")
		require.Len(t, got, 7, "swept entries leave the account index too")
		require.Equal(t, "old16", got[len(got)-1].Reference)

		// The chain goes on from the base.
		f.record(audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "alice", Reference: "newest"})
		f.flush()
		require.Equal(t, uint64(8), f.verify().Entries)

		// Deleting the oldest entries without the sweep is caught: the
		// base stays where the sweep left it.
		require.NoError(t, f.st.Update(ctx, func(tx store.Tx) error {
			return tx.Delete("audit.chain", be64(17))
		}))
		_, err = audit.Verify(ctx, f.st, f.kr)
		requireTamper(t, err, 17, "entry 17", "missing")
	})
}

func TestRetentionWaitsForALogWithTheKey(t *testing.T) {
	f := newFixture(t, memstore.New(), func(c *audit.Config) { c.Retention = time.Hour })
	for i := range 8 {
		f.record(read("alice", fmt.Sprint(i)))
	}
	f.flush()
	require.NoError(t, f.log.Close())
	f.clock.Advance(2 * time.Hour)
	sweeper := expiry.NewSweeper(f.st, f.clock.Now, nil)
	n, err := sweeper.Sweep(ctx)
	require.NoError(t, err)
	require.Zero(t, n, "no Log with the trail's key is open: nothing is removed")
	require.Equal(t, uint64(8), f.verify().Entries)

	f.log = f.open()
	f.clock.Advance(2 * time.Hour) // the hour it waits
	n, err = sweeper.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	rep := f.verify()
	require.Equal(t, uint64(8), rep.Removed)
	require.Zero(t, rep.Entries)
}

func TestVerifyWritesNothing(t *testing.T) {
	st := memstore.New()
	kr := testkit.Keyring(t)
	rep, err := audit.Verify(ctx, st, kr)
	require.NoError(t, err)
	require.Equal(t, audit.Report{}, rep)
	require.Zero(t, st.Stats().Commits, "not even the key")

	f := newFixture(t, st)
	f.record(read("alice", "x"))
	f.flush()
	before := st.Stats().Commits
	f.verify()
	require.Equal(t, before, st.Stats().Commits)

	// Another master key does not open the trail: an error, not a verdict.
	_, err = audit.Verify(ctx, st, kr)
	require.Error(t, err)
	require.NotErrorIs(t, err, audit.ErrTampered)
}

func TestRewrapMasterKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "master.key")
	kr, err := crypto.CreateKeyringFile(path)
	require.NoError(t, err)
	st := memstore.New()
	l, err := audit.Open(ctx, audit.Config{Store: st, Keyring: kr, FlushEvery: -1})
	require.NoError(t, err)
	require.NoError(t, l.Note(read("alice", "before")))
	require.NoError(t, l.Close())

	rotated, err := crypto.RotateKeyringFile(path)
	require.NoError(t, err)
	l, err = audit.Open(ctx, audit.Config{Store: st, Keyring: rotated, FlushEvery: -1})
	require.NoError(t, err)
	n, err := l.RewrapMasterKey(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.NoError(t, l.Close())

	// The new identity alone opens the trail: the key moved, not changed.
	onlyNew, err := crypto.ParseKeyring(strings.NewReader(firstIdentity(t, path)))
	require.NoError(t, err)
	rep, err := audit.Verify(ctx, st, onlyNew)
	require.NoError(t, err)
	require.Equal(t, uint64(1), rep.Entries)
}

// No card number reaches the store or the export, whichever field a
// careless caller puts it in: every backend's raw bytes are scanned.
func TestCardNumbersNeverReachTheStore(t *testing.T) {
	var planted testkit.Secrets
	cards := []string{"4111111111111111", "5555 5555 5555 4444", "3782-822463-10005", "6011000990139424"}
	for _, c := range cards {
		planted.Add("card number", c)
		planted.Add("card number", strings.NewReplacer(" ", "", "-", "").Replace(c))
	}
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		f := newFixture(t, b.Open(t))
		for i, c := range cards {
			e := audit.Event{Op: audit.OpCaptureRedeemed, Outcome: audit.OutcomeOK, Account: "acct-" + c, APIKeyID: c, Terminal: c,
				Endpoint: c, Client: c, User: c, Token: c, Reference: "ref " + c, Resource: c, Reason: c}
			f.record(e)
			require.NoError(t, f.log.Note(e))
			require.NoError(t, f.log.Note(audit.Event{Op: audit.OpItemRead, Outcome: audit.OutcomeOK, Account: "alice", Reference: fmt.Sprint("clean-", i)}))
		}
		var export bytes.Buffer
		_, err := f.log.Export(ctx, &export, time.Time{}, time.Time{})
		require.NoError(t, err)
		require.Equal(t, uint64(3*len(cards)), f.verify().Entries)
		require.Contains(t, export.String(), "clean-3", "the export holds the entries")
		require.Contains(t, export.String(), `"redacted:`)
		rawBytes := b.Raw(t, f.st)
		require.Contains(t, string(rawBytes), "clean-3", "the scan sees the entries")
		require.Empty(t, planted.Found(string(rawBytes)), "in the store")
		require.Empty(t, planted.Found(export.String()), "in the export")
	})
}

func TestActorFillsWho(t *testing.T) {
	ctx := audit.WithActor(context.Background(), audit.Actor{Account: "alice", Client: "192.0.2.7:443", Terminal: "1234001"})
	e := audit.Event{Op: audit.OpSecureTokenRead, Outcome: audit.OutcomeOK, Terminal: "9999001", Resource: "MREF_x"}.By(audit.ActorFrom(ctx))
	require.Equal(t, "alice", e.Account)
	require.Equal(t, "192.0.2.7:443", e.Client)
	require.Equal(t, "9999001", e.Terminal, "the event's own field wins")
	require.Equal(t, audit.Actor{}, audit.ActorFrom(context.Background()))
}

// Notes whose chaining commit has an unknown outcome are chained exactly
// once: not again if it took effect, however many tries report unknown,
// and not lost if it did not.
func TestNotesAfterAnUnknownCommit(t *testing.T) {
	for _, tc := range []struct {
		name      string
		committed bool
		unknown   int32
	}{
		{"committed", true, 1},
		{"committed, then unknown again", true, 3},
		{"rolled back", false, 1},
		{"rolled back, then unknown again", false, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d *memstore.Driver
			require.True(t, memstore.New().As(&d))
			lc := &storetest.LostCommits{Store: d, RollBack: !tc.committed}
			f := newFixture(t, store.New(lc))
			// A new read before each try, so that each has notes to chain.
			lc.Lose.Store(tc.unknown)
			for i := range tc.unknown {
				require.NoError(t, f.log.Note(read("alice", fmt.Sprint("r", i))))
				require.ErrorIs(t, f.log.Flush(ctx), store.ErrCommitUnknown)
			}
			f.flush()
			require.Equal(t, uint64(tc.unknown), f.verify().Entries, "each note once")
			require.NoError(t, f.log.Note(read("alice", "after")))
			f.flush()
			require.Equal(t, uint64(tc.unknown)+1, f.verify().Entries)
		})
	}
}

// Chaining in the background looks only for the pending entries of the
// last audit.PendingWindow, and for all of them once each
// audit.FullScanEvery; Flush looks for all of them always. An entry keyed
// before the window — a process whose clock is behind, or a transaction
// open longer than the window — waits for the next full scan, and is not
// lost.
func TestBackgroundChainingLooksBackAWindow(t *testing.T) {
	f := newFixture(t, memstore.New())
	behind := testkit.NewClock(t0.Add(-2 * audit.PendingWindow))
	late := f.open(func(c *audit.Config) { c.Now = behind.Now })
	recordLate := func(ref string) {
		require.NoError(t, f.st.Update(ctx, func(tx store.Tx) error { return late.Record(tx, stored("alice", ref)) }))
	}
	entries := func() uint64 { return f.verify().Entries }

	f.record(stored("alice", "first"))
	require.NoError(t, f.log.FlushInBackground(ctx)) // the first is a full scan
	require.Equal(t, uint64(1), entries())

	recordLate("late")
	f.record(stored("alice", "now"))
	f.clock.Advance(time.Second)
	require.NoError(t, f.log.FlushInBackground(ctx))
	require.Equal(t, uint64(2), entries(), "the entry within the window, not the one before it")

	f.clock.Advance(audit.FullScanEvery)
	require.NoError(t, f.log.FlushInBackground(ctx))
	require.Equal(t, uint64(3), entries(), "the full scan finds the late one")

	recordLate("late again")
	f.clock.Advance(time.Second)
	f.flush()
	require.Equal(t, uint64(4), entries(), "Flush looks for every pending entry")
}
