package testkit

import (
	"sync"
	"sync/atomic"
	"testing"
)

// Race runs fn n times at once, with i from 0 to n-1, and returns how many
// calls returned nil and how many failed with an error that lost reports
// as losing the race (already used, say). Any other error fails the test.
func Race(t testing.TB, n int, fn func(i int) error, lost func(error) bool) (won, lostCount int) {
	t.Helper()
	var ok, gone atomic.Int32
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			switch err := fn(i); {
			case err == nil:
				ok.Add(1)
			case lost(err):
				gone.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	wg.Wait()
	return int(ok.Load()), int(gone.Load())
}
