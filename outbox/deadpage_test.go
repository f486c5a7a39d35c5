package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/store/memstore"
)

func TestDeadLetterJSON(t *testing.T) {
	d := outbox.DeadLetter{ID: "j1", Kind: "webhook", Tenant: "shop", Tries: 3, Error: "status 503",
		Enqueued: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Died: time.Date(2030, 1, 1, 0, 5, 0, 0, time.UTC)}
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"a dead letter, never its tenant", d,
			`{"id":"j1","kind":"webhook","tries":3,"error":"status 503","enqueued_at":"2030-01-01T00:00:00Z","died_at":"2030-01-01T00:05:00Z"}`},
		{"an empty last page", outbox.DeadLetterPage{DeadLetters: []outbox.DeadLetter{}}, `{"dead_letters":[]}`},
		{"a page with more", outbox.DeadLetterPage{DeadLetters: []outbox.DeadLetter{d}, Next: "j1"},
			`{"dead_letters":[{"id":"j1","kind":"webhook","tries":3,"error":"status 503","enqueued_at":"2030-01-01T00:00:00Z","died_at":"2030-01-01T00:05:00Z"}],"next":"j1"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.v)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(b))
		})
	}
}

func TestDeadLetterPage(t *testing.T) {
	st := memstore.New()
	kr := testkit.Keyring(t)
	o := open(t, st, kr, func(c *outbox.Config) { c.MaxTries = 1 })
	o.Handle("refused", func(_ context.Context, _ outbox.Delivery) error { return outbox.Permanent(errors.New("status 410")) })
	ids := enqueue(t, st, o, outbox.Job{Kind: "refused", Tenant: "a"}, outbox.Job{Kind: "refused", Tenant: "a"},
		outbox.Job{Kind: "refused", Tenant: "a"})
	testkit.Background(t, o.Run)
	require.Eventually(t, func() bool {
		n, err := o.CountDead(ctx, 10)
		require.NoError(t, err)
		return n == 3
	}, 5*time.Second, 10*time.Millisecond)
	sorted := slices.Sorted(slices.Values(ids))
	for _, tc := range []struct {
		name, after string
		limit       int
		want        []string
		next        string
	}{
		{"first page", "", 2, sorted[:2], sorted[1]},
		{"last page", sorted[1], 2, sorted[2:], ""},
		{"all", "", 3, sorted, ""},
		{"after the last", sorted[2], 2, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			page, err := o.DeadLetterPage(ctx, "a", tc.after, tc.limit)
			require.NoError(t, err)
			var got []string
			for _, d := range page.DeadLetters {
				got = append(got, d.ID)
			}
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.next, page.Next)
			require.NotNil(t, page.DeadLetters)
		})
	}
}
