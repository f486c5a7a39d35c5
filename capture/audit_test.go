package capture_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/internal/audittest"
	"github.com/cardvault/cardvault/store"
)

// TestAuditEvents runs each operation of the capture service and reads
// back the events it left: endpoints, forms and single-use tokens written
// are recorded with their transaction, refused captures noted; an
// idempotent replay and a rolled-back write add nothing; no secret of an
// endpoint, no card data and no single-use token is in the trail.
func TestAuditEvents(t *testing.T) {
	audittest.Each(t, func(t *testing.T, f audittest.Fixture) {
		e := newEnv(t, f.Store, func(c *capture.Config) { c.Audit, c.MaxFailures = f.Log(), 3 })
		actx := audit.WithActor(ctx, audit.Actor{Client: "198.51.100.4"})
		secrets := []string{"4111111111111111", `"123"`, `"145"`, "Ada Lovelace", e.key.Passphrase}
		who := func(ev audit.Event) audit.Event { ev.Client = "198.51.100.4"; return ev }
		endpoint := func(op audit.Op, id string) audit.Event {
			return who(audit.Event{Op: op, Outcome: audit.OutcomeOK, Account: "acct", User: "test-user", Endpoint: id, Token: e.card.Token, Reference: e.card.Reference})
		}
		refused := func(id, reason string) audit.Event {
			return who(audit.Event{Op: audit.OpCaptureRefused, Outcome: audit.OutcomeRefused, Endpoint: id, Reason: reason})
		}

		var g capture.Grant
		call := &idempotency.Call{Principal: "acct", Key: "create-1", Request: []byte("grant for my-reference")}
		var su capture.SingleUseToken
		var form capture.Form
		steps := []audittest.Step{
			{Name: "create an endpoint", Run: func(ctx context.Context) error {
				var err error
				g, err = e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, TTL: "PT10M", Lock: &e.card, Idempotency: call})
				return err
			}, Want: func() []audit.Event { return []audit.Event{endpoint(audit.OpCaptureCreated, g.ID)} }},
			{Name: "its idempotent replay records nothing", Run: func(ctx context.Context) error {
				again, err := e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, TTL: "PT10M", Lock: &e.card, Idempotency: call})
				require.Equal(t, g.ID, again.ID)
				return err
			}, Want: func() []audit.Event { return nil }},
			{Name: "redeem it", Run: func(ctx context.Context) error {
				_, err := e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_expiry":"06-2025","cvv":"145"}`))
				return err
			}, Want: func() []audit.Event { return []audit.Event{endpoint(audit.OpCaptureRedeemed, g.ID)} }},
			{Name: "a capture refused by the vault leaves nothing", Run: func(ctx context.Context) error {
				_, err := e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_number":"5555555555554444"}`))
				require.Error(t, err)
				return nil
			}, Want: func() []audit.Event { return nil }},
			{Name: "a wrong secret", Run: func(ctx context.Context) error {
				_, err := e.svc.Redeem(ctx, g.ID, "not-the-secret", []byte(`{"cvv":"145"}`))
				require.ErrorIs(t, err, capture.ErrWrongSecret)
				return nil
			}, Want: func() []audit.Event { return []audit.Event{refused(g.ID, "wrong_secret")} }},
			{Name: "an unknown id", Run: func(ctx context.Context) error {
				_, err := e.svc.Redeem(ctx, "NoSuchEndpointAtAll0", "whatever", []byte(`{"cvv":"145"}`))
				require.ErrorIs(t, err, capture.ErrGrantNotFound)
				return nil
			}, Want: func() []audit.Event { return []audit.Event{refused("NoSuchEndpointAtAll0", "unknown_id")} }},
			{Name: "the wrong secret that locks it is recorded with the lock", Run: func(ctx context.Context) error {
				for range 2 {
					_, err := e.svc.Redeem(ctx, g.ID, "not-the-secret", []byte(`{"cvv":"145"}`))
					require.ErrorIs(t, err, capture.ErrWrongSecret)
				}
				return nil
			}, Want: func() []audit.Event {
				return []audit.Event{endpoint(audit.OpCaptureLocked, g.ID), refused(g.ID, "wrong_secret"), refused(g.ID, "wrong_secret")}
			}},
			{Name: "a locked endpoint refuses even its secret", Run: func(ctx context.Context) error {
				_, err := e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"145"}`))
				require.ErrorIs(t, err, capture.ErrLocked)
				return nil
			}, Want: func() []audit.Event { return []audit.Event{refused(g.ID, "locked")} }},
			{Name: "an expired endpoint", Run: func(ctx context.Context) error {
				var err error
				if g, err = e.svc.CreateGrant(ctx, capture.GrantRequest{Credentials: e.key, TTL: "PT1M", Lock: &e.card}); err != nil {
					return err
				}
				e.clock.Advance(2 * time.Minute)
				_, err = e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"145"}`))
				require.ErrorIs(t, err, capture.ErrExpired)
				return nil
			}, Want: func() []audit.Event {
				return []audit.Event{endpoint(audit.OpCaptureCreated, g.ID), refused(g.ID, "expired")}
			}},
			{Name: "delete it", Run: func(ctx context.Context) error { return e.svc.DeleteGrant(ctx, "acct", g.ID) },
				Want: func() []audit.Event { return []audit.Event{endpoint(audit.OpCaptureDeleted, g.ID)} }},
			{Name: "configure a form", Run: func(ctx context.Context) error {
				var err error
				form, err = e.svc.CreateForm(ctx, "acct", "pcd", []byte(`{}`))
				return err
			}, Want: func() []audit.Event {
				return []audit.Event{who(audit.Event{Op: audit.OpFormConfigured, Outcome: audit.OutcomeOK, Account: "acct", Resource: form.ID})}
			}},
			{Name: "delete the form", Run: func(ctx context.Context) error { return e.svc.DeleteForm(ctx, "acct", form.ID) },
				Want: func() []audit.Event {
					return []audit.Event{who(audit.Event{Op: audit.OpFormDeleted, Outcome: audit.OutcomeOK, Account: "acct", Resource: form.ID})}
				}},
			{Name: "mint a single-use token", Run: func(ctx context.Context) error {
				var err error
				su, err = e.svc.MintSingleUse(ctx, "1234001", []byte(`{"card_number":"4111111111111111","cvv":"123"}`))
				secrets = append(secrets, su.Token)
				return err
			}, Want: func() []audit.Event {
				return []audit.Event{who(audit.Event{Op: audit.OpSingleUseCreated, Outcome: audit.OutcomeOK, Terminal: "1234001", Resource: capture.SingleUseID(su.Token)})}
			}},
			{Name: "a use that fails rolls back, its entry with it", Run: func(ctx context.Context) error {
				boom := errors.New("boom")
				require.ErrorIs(t, e.svc.RedeemSingleUse(ctx, "1234001", su.Token, func(store.Tx, []byte) error { return boom }), boom)
				return nil
			}, Want: func() []audit.Event { return nil }},
			{Name: "use it", Run: func(ctx context.Context) error {
				return e.svc.RedeemSingleUse(ctx, "1234001", su.Token, func(store.Tx, []byte) error { return nil })
			}, Want: func() []audit.Event {
				return []audit.Event{who(audit.Event{Op: audit.OpSingleUseUsed, Outcome: audit.OutcomeOK, Terminal: "1234001", Resource: capture.SingleUseID(su.Token)})}
			}},
		}
		steps = append(steps, audittest.Step{Name: "a single-use-token endpoint redeemed mints a token in the same transaction", Run: func(ctx context.Context) error {
			var err error
			if g, err = e.svc.CreateGrant(ctx, capture.GrantRequest{Owner: "acct", Terminal: "1234001", TTL: "PT10M"}); err != nil {
				return err
			}
			res, err := e.svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_number":"4111111111111111","cvv":"123"}`))
			if err == nil {
				su = *res.SingleUse
				secrets = append(secrets, su.Token)
			}
			return err
		}, Want: func() []audit.Event {
			ev := func(op audit.Op) audit.Event {
				return who(audit.Event{Op: op, Outcome: audit.OutcomeOK, Account: "acct", Terminal: "1234001", Endpoint: g.ID})
			}
			return []audit.Event{ev(audit.OpCaptureCreated), ev(audit.OpCaptureRedeemed),
				who(audit.Event{Op: audit.OpSingleUseCreated, Outcome: audit.OutcomeOK, Terminal: "1234001", Resource: capture.SingleUseID(su.Token)})}
		}})
		f.Run(actx, steps, &secrets)
	})
}
