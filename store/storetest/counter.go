package storetest

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/store"
)

// The counter of the backends' cross-process and crash tests: key "n" of
// bucket "counter", a big-endian uint64 that each increment reads and
// writes back plus one, so that a lost update shows as a missing count.
const (
	CounterBucket = "counter"
	CounterKey    = "n"
)

// Increment adds one to the counter in one transaction.
func Increment(ctx context.Context, s *store.Store) error {
	return s.Update(ctx, func(tx store.Tx) error {
		var n uint64
		v, err := tx.Get(CounterBucket, []byte(CounterKey))
		if err == nil {
			n = binary.BigEndian.Uint64(v)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Put(CounterBucket, []byte(CounterKey), binary.BigEndian.AppendUint64(nil, n+1))
	})
}

// IncrementConcurrently runs goroutines goroutines that each Increment the
// counter each times, and returns every error they met.
func IncrementConcurrently(ctx context.Context, s *store.Store, goroutines, each int) error {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				if err := Increment(ctx, s); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Counter reads the counter, failing the test when it was never written.
func Counter(t testing.TB, s *store.Store) uint64 {
	t.Helper()
	var n uint64
	require.NoError(t, s.View(context.Background(), func(tx store.Tx) error {
		v, err := tx.Get(CounterBucket, []byte(CounterKey))
		if err != nil {
			return err
		}
		require.Len(t, v, 8)
		n = binary.BigEndian.Uint64(v)
		return nil
	}))
	return n
}
