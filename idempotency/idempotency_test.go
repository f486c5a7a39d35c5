package idempotency_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/store/storetest"
)

type result struct {
	N     int    `json:"n"`
	Token string `json:"token"`
}

// counter is work that increments a counter in the store and returns its
// new value: running it twice shows.
func counter(res *result, ran *atomic.Int32) func(tx store.Tx) error {
	return func(tx store.Tx) error {
		ran.Add(1)
		n := 0
		if v, err := tx.Get("test.counter", []byte("n")); err == nil {
			fmt.Sscan(string(v), &n)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		n++
		*res = result{N: n, Token: "secret-token-of-the-outcome"}
		return tx.Put("test.counter", []byte("n"), []byte(fmt.Sprint(n)))
	}
}

func stored(t *testing.T, st *store.Store) string {
	t.Helper()
	var v []byte
	require.NoError(t, st.View(context.Background(), func(tx store.Tx) error {
		var err error
		v, err = tx.Get("test.counter", []byte("n"))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	}))
	return string(v)
}

func newCall(principal, key, request string) *idempotency.Call {
	return &idempotency.Call{Principal: principal, Key: key, Request: []byte(request)}
}

func TestRun(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		st := b.Open(t)
		ctx := context.Background()
		clock := testkit.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
		k := idempotency.New(st, idempotency.Config{Now: clock.Now})
		var ran atomic.Int32

		// The first run runs the work and keeps its outcome in the same
		// commit.
		commits := st.Stats().Commits
		var r1 result
		c1 := newCall("api-key-1", "key-1", "POST /things {}")
		require.NoError(t, k.Run(ctx, c1, &r1, counter(&r1, &ran)))
		require.Equal(t, result{N: 1, Token: "secret-token-of-the-outcome"}, r1)
		require.False(t, c1.Replayed)
		require.NotEmpty(t, c1.Outcome)
		require.Equal(t, commits+1, st.Stats().Commits, "the work and its record are one commit")

		// The same request again: the kept outcome, the work does not run.
		var r2 result
		c2 := newCall("api-key-1", "key-1", "POST /things {}")
		require.NoError(t, k.Run(ctx, c2, &r2, counter(&r2, &ran)))
		require.True(t, c2.Replayed)
		require.Equal(t, r1, r2)
		require.Equal(t, c1.Outcome, c2.Outcome)
		require.Equal(t, int32(1), ran.Load())
		require.Equal(t, "1", stored(t, st))

		// The same key with another request is refused; nothing runs.
		var r3 result
		err := k.Run(ctx, newCall("api-key-1", "key-1", "POST /things {\"other\":1}"), &r3, counter(&r3, &ran))
		require.ErrorIs(t, err, idempotency.ErrKeyInUse)
		require.ErrorIs(t, err, cardvault.ErrConflict)
		require.Equal(t, int32(1), ran.Load())

		// Keys are scoped per principal.
		var r4 result
		require.NoError(t, k.Run(ctx, newCall("api-key-2", "key-1", "POST /things {}"), &r4, counter(&r4, &ran)))
		require.Equal(t, 2, r4.N)

		// Nothing readable at rest: neither the key nor the outcome.
		raw := string(b.Raw(t, st))
		require.NotContains(t, raw, "secret-token-of-the-outcome")
		require.NotContains(t, raw, "key-1")
		require.NotContains(t, raw, "POST /things")

		// After the TTL the key is free again, and the sweeper removes
		// the records.
		clock.Advance(idempotency.DefaultTTL)
		var r5 result
		c5 := newCall("api-key-1", "key-1", "POST /things {\"other\":1}")
		require.NoError(t, k.Run(ctx, c5, &r5, counter(&r5, &ran)))
		require.False(t, c5.Replayed)
		require.Equal(t, 3, r5.N)
		clock.Advance(idempotency.DefaultTTL)
		n, err := expiry.NewSweeper(st, clock.Now, nil).Sweep(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, n, "two records left to sweep")
	})
}

func TestKeptFailure(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		st := b.Open(t)
		ctx := context.Background()
		k := idempotency.New(st, idempotency.Config{})
		runs := 0
		refuse := func(tx store.Tx) error {
			runs++
			if err := tx.Put("test.counter", []byte("n"), []byte("written then undone")); err != nil {
				return err
			}
			bad := &cardvault.InvalidError{}
			bad.Add("/card/number", "invalid value", "must pass the Luhn check")
			return fmt.Errorf("thing: %w", bad)
		}
		var res result
		c1 := newCall("p", "k", "req")
		err := k.Run(ctx, c1, &res, refuse)
		require.ErrorIs(t, err, cardvault.ErrInvalid)
		require.NotNil(t, c1.Outcome, "a client error is kept")
		require.Empty(t, stored(t, st), "the failed work's writes are undone")

		c2 := newCall("p", "k", "req")
		err = k.Run(ctx, c2, &res, refuse)
		require.True(t, c2.Replayed)
		require.Equal(t, 1, runs)
		require.ErrorIs(t, err, cardvault.ErrInvalid)
		var inv *cardvault.InvalidError
		require.ErrorAs(t, err, &inv)
		require.Equal(t, "/card/number", inv.Fields[0].Field)
		require.Equal(t, "thing: invalid input: /card/number: must pass the Luhn check", err.Error())

		// A failure of no kind (the storage's, a deadline's) is not kept:
		// the retry runs the work again.
		broken := errors.New("the disk is on fire")
		c3 := newCall("p", "k2", "req")
		require.ErrorIs(t, k.Run(ctx, c3, &res, func(store.Tx) error { return broken }), broken)
		require.Nil(t, c3.Outcome)
		ok := false
		require.NoError(t, k.Run(ctx, newCall("p", "k2", "req"), &res, func(store.Tx) error { ok = true; return nil }))
		require.True(t, ok)
	})
}

// Concurrent requests with one key whose work fails with a kept error all
// get the one failure kept first: its second transaction is the same
// replay-or-keep step as the first's.
func TestConcurrentKeptFailure(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		k := idempotency.New(b.Open(t), idempotency.Config{})
		const n = 8
		outcomes := make([]string, n)
		testkit.Concurrently(t, n, func(i int) error {
			var res result
			c := newCall("p", "same", "req")
			err := k.Run(context.Background(), c, &res, func(store.Tx) error {
				return fmt.Errorf("attempt %d: %w", i, cardvault.ErrConflict)
			})
			outcomes[i] = string(c.Outcome)
			if !errors.Is(err, cardvault.ErrConflict) {
				return fmt.Errorf("want the kept conflict, got %v", err)
			}
			return nil
		})
		require.NotEmpty(t, outcomes[0])
		for _, o := range outcomes {
			require.Equal(t, outcomes[0], o, "one failure is kept, and every request answers with it")
		}
	})
}

// A caller's own encoding (the server's HTTP rendering) is kept as it is,
// and a replay returns it without decoding.
func TestOwnEncoding(t *testing.T) {
	st := teststores.All()[0].Open(t)
	k := idempotency.New(st, idempotency.Config{})
	render := func(res any, err error) ([]byte, error) {
		if err != nil {
			return []byte("409 " + err.Error()), nil
		}
		return []byte(fmt.Sprintf("201 n=%d", res.(*result).N)), nil
	}
	var ran atomic.Int32
	var res result
	c := &idempotency.Call{Principal: "p", Key: "k", Request: []byte("r"), Encode: render}
	require.NoError(t, k.Run(context.Background(), c, &res, counter(&res, &ran)))
	require.Equal(t, "201 n=1", string(c.Outcome))
	var again result
	c = &idempotency.Call{Principal: "p", Key: "k", Request: []byte("r"), Encode: render}
	require.NoError(t, k.Run(context.Background(), c, &again, counter(&again, &ran)))
	require.True(t, c.Replayed)
	require.Equal(t, "201 n=1", string(c.Outcome))
	require.Zero(t, again, "left alone: the caller answers with Outcome")
}

// Concurrent requests with one key run the work once; every one gets its
// outcome.
func TestConcurrentSameKey(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		st := b.Open(t)
		k := idempotency.New(st, idempotency.Config{})
		var ran atomic.Int32
		const n = 16
		outcomes := make([]string, n)
		testkit.Concurrently(t, n, func(i int) error {
			var res result
			c := newCall("p", "same", "req")
			err := k.Run(context.Background(), c, &res, counter(&res, &ran))
			outcomes[i] = string(c.Outcome)
			return err
		})
		require.Equal(t, "1", stored(t, st), "the work committed once")
		for _, o := range outcomes {
			require.Equal(t, outcomes[0], o)
		}
	})
}

func TestBadCall(t *testing.T) {
	st := teststores.All()[0].Open(t)
	k := idempotency.New(st, idempotency.Config{})
	for _, c := range []*idempotency.Call{
		{Principal: "p", Key: ""},
		{Principal: "p", Key: strings.Repeat("k", idempotency.MaxKeyLen+1)},
		{Principal: "p", Key: "k", Request: make([]byte, idempotency.MaxRequestLen+1)},
	} {
		ran := false
		err := k.Run(context.Background(), c, nil, func(store.Tx) error { ran = true; return nil })
		require.ErrorIs(t, err, cardvault.ErrInvalid)
		require.False(t, ran)
	}
}

// After a commit of unknown outcome, the client's retry with its key is
// safe: the work committed once, and the retry gets its outcome.
func TestRetryAfterUnknownCommit(t *testing.T) {
	var d *memstore.Driver
	mem := memstore.New()
	require.True(t, mem.As(&d))
	u := &storetest.LostCommits{Store: d}
	u.Lose.Store(1)
	st := store.New(u)
	k := idempotency.New(st, idempotency.Config{})
	var ran atomic.Int32
	var res result
	first := newCall("p", "k", "req")
	err := k.Run(context.Background(), first, &res, counter(&res, &ran))
	require.ErrorIs(t, err, store.ErrCommitUnknown)
	require.Nil(t, first.Outcome, "an outcome whose commit is unknown is no answer to send")
	require.False(t, first.Replayed)
	var again result
	c := newCall("p", "k", "req")
	require.NoError(t, k.Run(context.Background(), c, &again, counter(&again, &ran)))
	require.True(t, c.Replayed, "the first run had committed: its outcome is replayed")
	require.Equal(t, 1, again.N)
	require.Equal(t, int32(1), ran.Load())
	require.Equal(t, "1", stored(t, st))
}
