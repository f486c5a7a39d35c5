package store_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/store/storetest"
)

func TestStatsCountCommits(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	ctx := context.Background()
	require.Zero(t, s.Stats().Commits)
	require.NoError(t, s.Update(ctx, func(tx store.Tx) error { return tx.Put("b", []byte("k"), nil) }))
	require.NoError(t, s.View(ctx, func(tx store.Tx) error { _, err := tx.Get("b", []byte("k")); return err }))
	require.Error(t, s.Update(ctx, func(tx store.Tx) error { return errors.New("no") }))
	require.ErrorIs(t, s.Update(ctx, func(tx store.Tx) error { return tx.Put("Bad", []byte("k"), nil) }), store.ErrInvalid)
	require.Equal(t, uint64(1), s.Stats().Commits, "only the Update that committed counts")
	require.Zero(t, s.Stats().CommitsUnknown)

	// A commit whose outcome the driver could not learn is counted apart.
	var d *memstore.Driver
	require.True(t, memstore.New().As(&d))
	lc := &storetest.LostCommits{Store: d}
	lc.Lose.Store(1)
	u := store.New(lc)
	defer u.Close()
	require.ErrorIs(t, u.Update(ctx, func(tx store.Tx) error { return tx.Put("b", []byte("k"), nil) }), store.ErrCommitUnknown)
	require.Equal(t, store.Stats{CommitsUnknown: 1}, u.Stats())
}

func TestAs(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	var d *memstore.Driver
	require.True(t, s.As(&d))
	require.NotNil(t, d)
	var wrong *int
	require.False(t, s.As(&wrong))
	require.False(t, s.As(nil))
}

func TestOnCommit(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	ctx := context.Background()
	ran := 0
	require.NoError(t, s.Update(ctx, func(tx store.Tx) error {
		require.NoError(t, store.OnCommit(tx, func() { ran++ }))
		require.Zero(t, ran, "not before the commit")
		return tx.Put("b", []byte("k"), nil)
	}))
	require.Equal(t, 1, ran)
	require.Error(t, s.Update(ctx, func(tx store.Tx) error {
		require.NoError(t, store.OnCommit(tx, func() { ran++ }))
		return errors.New("rolled back")
	}))
	require.Equal(t, 1, ran, "not after a rollback")
	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		require.ErrorIs(t, store.OnCommit(tx, func() {}), store.ErrReadOnly)
		return nil
	}))
}

// TestUnavailable: the errors that mean "try again", wrapped or not, and
// those that mean the request itself failed.
func TestUnavailable(t *testing.T) {
	for err, want := range map[error]bool{
		context.DeadlineExceeded: true,
		context.Canceled:         true,
		store.ErrConflict:        true,
		store.ErrClosed:          true,
		store.ErrUnavailable:     true,
		fmt.Errorf("pgstore: commit: %w", store.ErrCommitUnknown):       true,
		&net.OpError{Op: "dial", Err: errors.New("connection refused")}: true,
		store.ErrNotFound:                      false,
		store.ErrInvalid:                       false,
		fmt.Errorf("x: %w", store.ErrReadOnly): false,
		errors.New("a bug"):                    false,
	} {
		require.Equal(t, want, store.Unavailable(err), "%v", err)
	}
}

// Pages after a cursor walk a prefix once, each key on one page, and
// nothing outside the prefix.
func TestPageAfter(t *testing.T) {
	s := memstore.New()
	defer s.Close()
	ctx := context.Background()
	keys := []string{"a\x00", "a\x00x", "a\x00x\x00", "a\x00y", "a\x00z", "a\x01", "b"}
	require.NoError(t, s.Update(ctx, func(tx store.Tx) error {
		for _, k := range keys {
			if err := tx.Put("b", []byte(k), nil); err != nil {
				return err
			}
		}
		return nil
	}))
	prefix := []byte("a\x00")
	var got []string
	var last []byte
	for {
		var page [][]byte
		require.NoError(t, s.View(ctx, func(tx store.Tx) error {
			var err error
			page, err = store.Keys(tx, "b", store.PageAfter(prefix, last, 2))
			return err
		}))
		if len(page) == 0 {
			break
		}
		for _, k := range page {
			got = append(got, string(k))
		}
		last = page[len(page)-1]
	}
	require.Equal(t, keys[:5], got)

	buf := []byte("a\x00xyz")
	r := store.PageAfter(prefix, buf[:3], 0)
	require.Equal(t, []byte("a\x00x\x00"), r.Start)
	require.Equal(t, []byte("a\x00xyz"), buf, "the array behind the cursor is not written")
}
