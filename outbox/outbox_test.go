package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/store"
)

var ctx = context.Background()

func open(t testing.TB, st *store.Store, kr *crypto.Keyring, opts ...func(*outbox.Config)) *outbox.Outbox {
	t.Helper()
	cfg := outbox.Config{Store: st, Keyring: kr, Backoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		Poll: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, o := range opts {
		o(&cfg)
	}
	o, err := outbox.Open(ctx, cfg)
	require.NoError(t, err)
	return o
}

func enqueue(t testing.TB, st *store.Store, o *outbox.Outbox, jobs ...outbox.Job) []string {
	t.Helper()
	var ids []string
	require.NoError(t, st.Update(ctx, func(tx store.Tx) error {
		ids = ids[:0]
		for _, j := range jobs {
			id, err := o.Enqueue(tx, j)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	}))
	return ids
}

// receiver records deliveries by job id.
type receiver struct {
	mu   sync.Mutex
	got  map[string][]outbox.Delivery
	seen chan string
}

func newReceiver() *receiver {
	return &receiver{got: map[string][]outbox.Delivery{}, seen: make(chan string, 4096)}
}

func (r *receiver) record(d outbox.Delivery) {
	r.mu.Lock()
	r.got[d.ID] = append(r.got[d.ID], d)
	r.mu.Unlock()
	r.seen <- d.ID
}

func (r *receiver) tries(id string) []outbox.Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]outbox.Delivery(nil), r.got[id]...)
}

func (r *receiver) wait(t testing.TB, n int) {
	t.Helper()
	for range n {
		select {
		case <-r.seen:
		case <-time.After(10 * time.Second):
			t.Fatalf("a delivery did not arrive")
		}
	}
}

func count(t testing.TB, st *store.Store, bucket string) int {
	t.Helper()
	n := 0
	require.NoError(t, st.View(ctx, func(tx store.Tx) error {
		return tx.Scan(bucket, store.Range{}, func(_, _ []byte) error { n++; return nil })
	}))
	return n
}

func TestOutbox(t *testing.T) {
	teststores.Cases(t, map[string]func(*testing.T, teststores.Backend){
		"a job commits with its work":         testCommitsWithWork,
		"retries, then dead letters":          testRetryAndDeadLetter,
		"fair per tenant":                     testFairness,
		"two processes, no job twice at once": testTwoProcesses,
	})
}

func testCommitsWithWork(t *testing.T, b teststores.Backend) {
	st := b.Open(t)
	o := open(t, st, testkit.Keyring(t))
	rcv := newReceiver()
	o.Handle("test", func(_ context.Context, d outbox.Delivery) error { rcv.record(d); return nil })

	// A transaction that fails takes its job with it.
	err := st.Update(ctx, func(tx store.Tx) error {
		if _, err := o.Enqueue(tx, outbox.Job{Kind: "test", Tenant: "a", Payload: []byte("rolled back")}); err != nil {
			return err
		}
		return errors.New("the work failed")
	})
	require.Error(t, err)
	require.Zero(t, count(t, st, "outbox.jobs"))

	ids := enqueue(t, st, o, outbox.Job{Kind: "test", Tenant: "a", Payload: []byte("card-payload-4111111111111111")})
	raw := string(b.Raw(t, st))
	require.NotContains(t, raw, "card-payload", "payloads are sealed at rest")
	testkit.Background(t, o.Run)
	rcv.wait(t, 1)
	got := rcv.tries(ids[0])
	require.Len(t, got, 1)
	require.Equal(t, "card-payload-4111111111111111", string(got[0].Payload))
	require.Equal(t, 1, got[0].Try)
	// The counter moves once the outcome is recorded, after the commit
	// that deletes the job.
	require.Eventually(t, func() bool { return o.Stats().Delivered == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Zero(t, count(t, st, "outbox.jobs"), "a delivered job is deleted")
	for _, bucket := range []string{"outbox.queue", "outbox.heads", "outbox.tenants", "outbox.leases", "outbox.running"} {
		require.Zero(t, count(t, st, bucket), bucket)
	}

	// Bad jobs are refused and change nothing.
	for _, j := range []outbox.Job{{Tenant: "a"}, {Kind: "test"}, {Kind: "test", Tenant: "a\x00b"},
		{Kind: "test", Tenant: "a", Payload: make([]byte, outbox.MaxPayloadLen+1)}, {Kind: "test", Tenant: "a", MaxTries: outbox.MaxTries + 1}} {
		err := st.Update(ctx, func(tx store.Tx) error { _, err := o.Enqueue(tx, j); return err })
		require.ErrorIs(t, err, outbox.ErrInvalid)
	}
}

func testRetryAndDeadLetter(t *testing.T, b teststores.Backend) {
	st := b.Open(t)
	o := open(t, st, testkit.Keyring(t), func(c *outbox.Config) { c.MaxTries = 3 })
	rcv := newReceiver()
	var healthy atomic.Bool
	o.Handle("flaky", func(_ context.Context, d outbox.Delivery) error {
		rcv.record(d)
		if d.Try < 3 {
			return fmt.Errorf("status 500")
		}
		return nil
	})
	o.Handle("down", func(_ context.Context, d outbox.Delivery) error {
		rcv.record(d)
		if healthy.Load() {
			return nil
		}
		return fmt.Errorf("status 503")
	})
	o.Handle("refused", func(_ context.Context, d outbox.Delivery) error {
		rcv.record(d)
		return outbox.Permanent(errors.New("status 410"))
	})
	ids := enqueue(t, st, o, outbox.Job{Kind: "flaky", Tenant: "a"}, outbox.Job{Kind: "down", Tenant: "a"},
		outbox.Job{Kind: "refused", Tenant: "b"})
	testkit.Background(t, o.Run)
	rcv.wait(t, 3+3+1)
	require.Len(t, rcv.tries(ids[0]), 3, "tried until it worked")
	for i, d := range rcv.tries(ids[0]) {
		require.Equal(t, i+1, d.Try)
		require.Equal(t, ids[0], d.ID, "one delivery id across tries")
	}
	require.Eventually(t, func() bool {
		a, err := o.DeadLetters(ctx, "a", "", 0)
		require.NoError(t, err)
		return len(a) == 1
	}, 5*time.Second, 10*time.Millisecond)
	dead, err := o.DeadLetters(ctx, "a", "", 0)
	require.NoError(t, err)
	require.Equal(t, ids[1], dead[0].ID)
	require.Equal(t, 3, dead[0].Tries)
	require.Equal(t, "status 503", dead[0].Error)
	require.Eventually(t, func() bool {
		d, err := o.DeadLetters(ctx, "b", "", 0)
		require.NoError(t, err)
		return len(d) == 1
	}, 5*time.Second, 10*time.Millisecond)
	require.Len(t, rcv.tries(ids[2]), 1, "a permanent error is not tried again")
	n, err := o.CountDead(ctx, 100)
	require.NoError(t, err)
	require.Equal(t, 2, n)

	// Another tenant cannot retry it; its own can, and it is delivered
	// once.
	require.ErrorIs(t, o.Retry(ctx, "b", ids[1]), outbox.ErrNotFound)
	healthy.Store(true)
	require.NoError(t, o.Retry(ctx, "a", ids[1]))
	rcv.wait(t, 1)
	got := rcv.tries(ids[1])
	require.Len(t, got, 4)
	require.Equal(t, 1, got[3].Try, "tries count from zero again")
	require.Eventually(t, func() bool { return count(t, st, "outbox.jobs") == 1 }, 5*time.Second, 10*time.Millisecond,
		"only b's dead letter is left")
	require.ErrorIs(t, o.Retry(ctx, "a", ids[1]), outbox.ErrNotFound, "no longer dead")
}

// One tenant's endpoint that never answers holds PerTenant workers, never
// another tenant's job.
func testFairness(t *testing.T, b teststores.Backend) {
	st := b.Open(t)
	o := open(t, st, testkit.Keyring(t), func(c *outbox.Config) { c.Workers, c.PerTenant, c.Lease = 8, 2, 5*time.Second })
	var hung, maxHung atomic.Int32
	release := make(chan struct{})
	o.Handle("slow", func(ctx context.Context, _ outbox.Delivery) error {
		n := hung.Add(1)
		defer hung.Add(-1)
		for m := maxHung.Load(); n > m && !maxHung.CompareAndSwap(m, n); m = maxHung.Load() {
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-release:
			return nil
		}
	})
	rcv := newReceiver()
	o.Handle("fast", func(_ context.Context, d outbox.Delivery) error { rcv.record(d); return nil })
	var slow []outbox.Job
	for range 8 {
		slow = append(slow, outbox.Job{Kind: "slow", Tenant: "b"})
	}
	enqueue(t, st, o, slow...)
	testkit.Background(t, o.Run)
	require.Eventually(t, func() bool { return hung.Load() == 2 }, 5*time.Second, 5*time.Millisecond)
	ids := enqueue(t, st, o, outbox.Job{Kind: "fast", Tenant: "a"})
	start := time.Now()
	rcv.wait(t, 1)
	t.Logf("tenant a's job arrived %v after it was enqueued, behind 8 hanging jobs of b", time.Since(start).Round(time.Millisecond))
	require.Len(t, rcv.tries(ids[0]), 1)
	require.Equal(t, int32(2), maxHung.Load(), "b never had more than PerTenant running")
	close(release)
}

// Two processes on one store deliver every job, and never one job in two
// places at once.
func testTwoProcesses(t *testing.T, b teststores.Backend) {
	st := b.Open(t)
	kr := testkit.Keyring(t)
	const jobs = 300
	var mu sync.Mutex
	active := map[string]bool{}
	delivered := map[string]int{}
	var overlap atomic.Int32
	handler := func(_ context.Context, d outbox.Delivery) error {
		mu.Lock()
		if active[d.ID] {
			overlap.Add(1)
		}
		active[d.ID] = true
		mu.Unlock()
		time.Sleep(time.Millisecond)
		mu.Lock()
		delete(active, d.ID)
		delivered[d.ID]++
		mu.Unlock()
		return nil
	}
	o1, o2 := open(t, st, kr), open(t, st, kr)
	o1.Handle("j", handler)
	o2.Handle("j", handler)
	var all []outbox.Job
	for i := range jobs {
		all = append(all, outbox.Job{Kind: "j", Tenant: fmt.Sprintf("t%d", i%7)})
	}
	ids := enqueue(t, st, o1, all...)
	testkit.Background(t, o1.Run)
	testkit.Background(t, o2.Run)
	require.Eventually(t, func() bool { return count(t, st, "outbox.jobs") == 0 }, 30*time.Second, 20*time.Millisecond)
	require.Zero(t, overlap.Load(), "a job ran in two places at once")
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		require.Equal(t, 1, delivered[id], "job %s", id)
	}
	require.Equal(t, uint64(jobs), o1.Stats().Delivered+o2.Stats().Delivered)
}

// Idle workers poll in read-only transactions: no commit, no fsync.
func TestIdleWorkersDoNotCommit(t *testing.T) {
	st := teststores.All()[0].Open(t)
	o := open(t, st, testkit.Keyring(t), func(c *outbox.Config) { c.Poll = 5 * time.Millisecond })
	before := st.Stats().Commits
	testkit.Background(t, o.Run)
	time.Sleep(100 * time.Millisecond) // twenty polls
	require.Equal(t, before, st.Stats().Commits)
}
