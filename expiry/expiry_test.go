package expiry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/store"
)

// things is a kind of the test: a thing under key is the bucket's value,
// the RFC 3339 time it expires at, and is removed only if that is still
// the time its entry says.
const thingsBucket = "test.things"

func init() {
	expiry.Handle("test.thing", expiry.RemoveValue(thingsBucket, func(v []byte, at time.Time) bool {
		return string(v) == at.Format(time.RFC3339Nano)
	}))
}

func putThing(t *testing.T, st *store.Store, key string, at time.Time) {
	t.Helper()
	require.NoError(t, st.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.Put(thingsBucket, []byte(key), []byte(at.Format(time.RFC3339Nano))); err != nil {
			return err
		}
		return expiry.Set(tx, "test.thing", []byte(key), at)
	}))
}

func count(t *testing.T, st *store.Store, bucket string) int {
	t.Helper()
	n := 0
	require.NoError(t, st.View(context.Background(), func(tx store.Tx) error {
		return tx.Scan(bucket, store.Range{}, func(_, _ []byte) error { n++; return nil })
	}))
	return n
}

func TestSweep(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		st := b.Open(t)
		clock := testkit.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
		sw := expiry.NewSweeper(st, clock.Now, nil)
		now := clock.Now()
		// More than a batch due now, some later.
		for i := range expiry.BatchSize + 10 {
			putThing(t, st, fmt.Sprintf("due-%03d", i), now.Add(-time.Duration(i)*time.Second))
		}
		putThing(t, st, "later", now.Add(time.Hour))
		// Re-created with a later expiry: its first entry must not remove it.
		putThing(t, st, "again", now.Add(-time.Minute))
		putThing(t, st, "again", now.Add(2*time.Hour))
		// A thing deleted before its entry is due: nothing to remove.
		putThing(t, st, "gone", now.Add(-time.Minute))
		require.NoError(t, st.Update(context.Background(), func(tx store.Tx) error {
			return tx.Delete(thingsBucket, []byte("gone"))
		}))
		// An entry of a kind this process does not know is left alone.
		require.NoError(t, st.Update(context.Background(), func(tx store.Tx) error {
			return expiry.Set(tx, "test.unknown", []byte("x"), now.Add(-time.Hour))
		}))

		n, err := sw.Sweep(context.Background())
		require.NoError(t, err)
		require.Equal(t, expiry.BatchSize+10, n)
		require.Equal(t, 2, count(t, st, thingsBucket), "later and again remain")
		// later's, again's second entry and the unknown kind's entry remain.
		require.Equal(t, 3, count(t, st, expiry.Bucket))

		n, err = sw.Sweep(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "nothing more is due")

		clock.Advance(3 * time.Hour)
		n, err = sw.Sweep(context.Background())
		require.NoError(t, err)
		require.Equal(t, 2, n)
		require.Zero(t, count(t, st, thingsBucket))
		require.Equal(t, 1, count(t, st, expiry.Bucket), "only the unknown kind's entry is left")
	})
}

// Several sweepers at once remove each thing once and leave nothing due.
func TestConcurrentSweepers(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		st := b.Open(t)
		clock := testkit.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
		now := clock.Now()
		const things = 3 * expiry.BatchSize
		require.NoError(t, st.Update(context.Background(), func(tx store.Tx) error {
			for i := range things {
				key := []byte(fmt.Sprintf("t%04d", i))
				at := now.Add(-time.Duration(i) * time.Millisecond)
				if err := tx.Put(thingsBucket, key, []byte(at.Format(time.RFC3339Nano))); err != nil {
					return err
				}
				if err := expiry.Set(tx, "test.thing", key, at); err != nil {
					return err
				}
			}
			return nil
		}))
		var wg sync.WaitGroup
		total := make(chan int, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := expiry.NewSweeper(st, clock.Now, nil).Sweep(context.Background())
				if err != nil {
					t.Error(err)
				}
				total <- n
			}()
		}
		wg.Wait()
		close(total)
		sum := 0
		for n := range total {
			sum += n
		}
		require.Equal(t, things, sum, "each thing removed once")
		require.Zero(t, count(t, st, thingsBucket))
		require.Zero(t, count(t, st, expiry.Bucket))
	})
}

func TestEntryKeysSortByTime(t *testing.T) {
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	a := expiry.EntryKey("zzz", []byte("a"), base)
	b := expiry.EntryKey("aaa", []byte("b"), base.Add(time.Nanosecond))
	require.Less(t, string(a), string(b), "an earlier expiry sorts first whatever the kind")
}

func TestBadKind(t *testing.T) {
	require.Panics(t, func() { expiry.Handle("", nil) })
	require.Panics(t, func() { expiry.Handle("test.thing", nil) }, "twice")
	st := teststores.All()[0].Open(t)
	err := st.Update(context.Background(), func(tx store.Tx) error {
		return expiry.Set(tx, "a\x00b", []byte("k"), time.Now())
	})
	require.ErrorIs(t, err, store.ErrInvalid)
}
