package testkit

import (
	"context"
	"testing"
)

// Background runs run (a loop until its context ends, such as an
// outbox's Run) in a goroutine until the test ends: then its context is
// cancelled and the test waits for it to return, so that nothing it does
// outlives what the test closes after.
func Background(t testing.TB, run func(context.Context)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}
