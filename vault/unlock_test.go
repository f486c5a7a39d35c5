package vault

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/store/memstore"
)

// One owner guessing passphrases — each wrong guess a full scrypt, never
// cached — cannot starve another owner's unlock: its calls hold at most
// MaxUnlocksPerOwner of the process's scrypt slots, so another owner's call
// runs beside them instead of queueing behind all of them.
func TestOneOwnerCannotStarveAnother(t *testing.T) {
	// Two process slots whatever the machine (they are GOMAXPROCS): with
	// as many slots as tenant a has guesses, every guess would run at once,
	// and b would run beside them without the per-owner cap too.
	processSlots := scryptSlots
	scryptSlots = make(chan struct{}, 2)
	t.Cleanup(func() { scryptSlots = processSlots })
	ctx := context.Background()
	kr := testkit.Keyring(t)
	v, err := Open(ctx, Config{Store: memstore.New(), Keyring: kr, WorkFactor: 12, MaxUnlocksPerOwner: 1})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	a, err := v.CreateKey(ctx, Credentials{Owner: "tenant-a", User: "u"})
	require.NoError(t, err)
	b, err := v.CreateKey(ctx, Credentials{Owner: "tenant-b", User: "u"})
	require.NoError(t, err)
	v.cache.clear()

	const guesses = 16
	var guessed atomic.Int32
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			// Each guess its own passphrase: concurrent calls with the same
			// one would share a flight.
			_, err := v.unlock(ctx, Credentials{Owner: a.Owner, User: a.User, Passphrase: fmt.Sprintf("guess-%02d-of-a-passphrase", i)})
			require.ErrorIs(t, err, ErrWrongKey)
			guessed.Add(1)
		})
	}
	// Once a guess has finished, the others are all queued behind it.
	require.Eventually(t, func() bool { return guessed.Load() > 0 }, time.Minute, time.Millisecond, "a first guess finishes")
	uk, err := v.unlock(ctx, b)
	require.NoError(t, err, "tenant b's own passphrase")
	v.cache.release(uk)
	done := guessed.Load()
	wg.Wait()
	t.Logf("tenant b's unlock finished after %d of tenant a's %d guesses", done, guesses)
	require.LessOrEqual(t, done, int32(4), "b waited for at most the guesses a was running, not for its queue")

	v.owners.mu.Lock()
	defer v.owners.mu.Unlock()
	require.Empty(t, v.owners.m, "an owner's slots go when its last call is done")
}

// A call waiting for its owner's slot gives up with its context.
func TestOwnerSlotWaitEndsWithContext(t *testing.T) {
	o := ownerSlots{per: 1}
	release, err := o.acquire(context.Background(), "t")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := o.acquire(ctx, "t")
		errc <- err
	}()
	for {
		o.mu.Lock()
		w := o.waiting
		o.mu.Unlock()
		if w == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)
	other, err := o.acquire(context.Background(), "another owner")
	require.NoError(t, err, "another owner has slots of its own")
	other()
	release()
	require.Empty(t, o.m)
}
