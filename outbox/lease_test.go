package outbox

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/store"
)

// A worker that dies mid-delivery leaves its lease to run out; another
// process then takes the job over, and the dead worker's late completion —
// its fence is the old one — changes nothing.
func TestLeaseTakeoverAndFencing(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		ctx := context.Background()
		st := b.Open(t)
		kr := testkit.Keyring(t)
		clock := testkit.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
		cfg := Config{Store: st, Keyring: kr, Lease: 10 * time.Second, Now: clock.Now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		p1, err := Open(ctx, cfg)
		require.NoError(t, err)
		p2, err := Open(ctx, cfg)
		require.NoError(t, err)
		var id string
		require.NoError(t, st.Update(ctx, func(tx store.Tx) error {
			id, err = p1.Enqueue(tx, Job{Kind: "k", Tenant: "a", Payload: []byte("p")})
			return err
		}))

		first, err := p1.claim(ctx, 4)
		require.NoError(t, err)
		require.Len(t, first, 1)
		// While the lease holds, nobody else gets the job.
		clock.Advance(9 * time.Second)
		none, err := p2.claim(ctx, 4)
		require.NoError(t, err)
		require.Empty(t, none)
		// p1 "dies"; its lease runs out and p2 takes the job over.
		clock.Advance(2 * time.Second)
		second, err := p2.claim(ctx, 4)
		require.NoError(t, err)
		require.Len(t, second, 1)
		require.Equal(t, id, second[0].ID)
		require.Equal(t, 2, second[0].Try)
		require.Greater(t, second[0].fence, first[0].fence)

		// p1's late completion is refused by the fence: the job is p2's.
		require.NoError(t, p1.finish(ctx, []result{{d: first[0]}}))
		require.NoError(t, st.View(ctx, func(tx store.Tx) error {
			r, err := getRecord(tx, id)
			require.NoError(t, err)
			require.Equal(t, stateLeased, r.State)
			require.Equal(t, p2.owner, r.Owner)
			return nil
		}))
		require.NoError(t, p2.finish(ctx, []result{{d: second[0]}}))
		require.NoError(t, st.View(ctx, func(tx store.Tx) error {
			_, err := getRecord(tx, id)
			require.ErrorIs(t, err, store.ErrNotFound, "done")
			return nil
		}))
	})
}

func TestBackoff(t *testing.T) {
	o := &Outbox{cfg: Config{Backoff: time.Second, MaxBackoff: 8 * time.Second}}
	for tries, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 9: 8 * time.Second} {
		for range 50 {
			d := o.backoff(tries)
			require.GreaterOrEqual(t, d, want/2, "after try %d", tries)
			require.LessOrEqual(t, d, want, "after try %d", tries)
		}
	}
}
