package capture_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
)

// BenchmarkRedeem: posts to a capture grant from many goroutines, on each
// backend — a locked grant merging a new CVV into its card (the seed's
// flow), and an open grant storing a new card each time.
func BenchmarkRedeem(b *testing.B) {
	teststores.EachBench(b, func(b *testing.B, be teststores.Backend) {
		e := newEnv(b, be.Open(b))
		locked, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, Lock: &e.card, TTL: "P1D"})
		if err != nil {
			b.Fatal(err)
		}
		open, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, TTL: "P1D"})
		if err != nil {
			b.Fatal(err)
		}
		b.Run("locked", func(b *testing.B) {
			testkit.Parallel(b, func() error {
				_, err := e.svc.Redeem(ctx, locked.ID, locked.Secret, []byte(`{"card_expiry":"06-2025","cvv":"145"}`))
				return err
			})
		})
		var n atomic.Int64
		b.Run("open", func(b *testing.B) {
			testkit.Parallel(b, func() error {
				body := fmt.Appendf(nil, `{"card_number":"4242424242424242","cvv":"123","reference":"r%d"}`, n.Add(1))
				_, err := e.svc.Redeem(ctx, open.ID, open.Secret, body)
				return err
			})
		})
	})
}
