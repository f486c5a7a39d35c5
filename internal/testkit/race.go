package testkit

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// Concurrently runs fn n times at once, with i from 0 to n-1, waits for
// every call, then fails the test with the errors they returned. The
// calls must not fail the test themselves (t.FailNow belongs to the test's
// goroutine): they return what went wrong.
func Concurrently(t testing.TB, n int, fn func(i int) error) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
}

// Race runs fn n times at once, with i from 0 to n-1, and returns how many
// calls returned nil and how many failed with an error that lost reports
// as losing the race (already used, say). Any other error fails the test.
func Race(t testing.TB, n int, fn func(i int) error, lost func(error) bool) (won, lostCount int) {
	t.Helper()
	var ok, gone atomic.Int32
	Concurrently(t, n, func(i int) error {
		switch err := fn(i); {
		case err == nil:
			ok.Add(1)
		case lost(err):
			gone.Add(1)
		default:
			return fmt.Errorf("unexpected error: %w", err)
		}
		return nil
	})
	return int(ok.Load()), int(gone.Load())
}
