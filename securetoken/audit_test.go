package securetoken_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/internal/audittest"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/vault"
)

// TestAuditEvents runs each operation of the secure-token service and
// reads back the events it left: writes recorded in the idempotency
// keeper's transaction (a replay records nothing new, a refused write
// nothing at all), reads and listings noted, the single-use token's use in
// the same transaction as the update it pays for — and nowhere a card
// number, a CVV, a name or a single-use token.
func TestAuditEvents(t *testing.T) {
	audittest.Each(t, func(t *testing.T, f audittest.Fixture) {
		e := openSvc(t, f.Store, f.Keyring, "", func(c *securetoken.Config) {
			c.Audit = f.Log()
			v, err := vault.Open(ctx, vault.Config{Store: f.Store, Keyring: f.Keyring, WorkFactor: 10})
			require.NoError(t, err)
			t.Cleanup(func() { v.Close() })
			cs, err := capture.New(capture.Config{Store: f.Store, Vault: v, SingleUseDetails: securetoken.CapturedSource, Audit: f.Log()})
			require.NoError(t, err)
			c.Capture = cs
		})
		const pt, id = "1234001", "MREF_audit-1"
		actor := audit.Actor{APIKeyID: "key-7f3a", Terminal: pt, Client: "192.0.2.10"}
		actx := audit.WithActor(ctx, actor)
		secrets := []string{"4539858876047062", `"234"`, "Sarah Hazel Hopper", "5555555555554444", `"987"`, "Sarah Hopper"}
		ev := func(op audit.Op, resource string) audit.Event {
			return audit.Event{Op: op, Outcome: audit.OutcomeOK, APIKeyID: actor.APIKeyID, Terminal: pt, Client: actor.Client, Resource: resource}
		}
		call := func(key string) *idempotency.Call {
			return &idempotency.Call{Principal: "api-key-1", Key: key, Request: []byte(key)}
		}
		var su securetoken.SingleUseTokenResponse
		steps := []audittest.Step{
			{Name: "create", Run: func(ctx context.Context) error {
				_, err := e.svc.Create(ctx, pt, seedRequest(t, id), call("create"))
				return err
			}, Want: func() []audit.Event { return []audit.Event{ev(audit.OpSecureTokenCreated, id)} }},
			{Name: "a replayed create records nothing new", Run: func(ctx context.Context) error {
				c := call("create")
				_, err := e.svc.Create(ctx, pt, seedRequest(t, id), c)
				require.True(t, c.Replayed)
				return err
			}, Want: func() []audit.Event { return nil }},
			{Name: "a create refused (the id exists) records nothing", Run: func(ctx context.Context) error {
				_, err := e.svc.Create(ctx, pt, seedRequest(t, id), call("create again"))
				require.ErrorIs(t, err, securetoken.ErrExists)
				return nil
			}, Want: func() []audit.Event { return nil }},
			{Name: "read", Run: func(ctx context.Context) error { _, err := e.svc.Retrieve(ctx, pt, id); return err },
				Want: func() []audit.Event { return []audit.Event{ev(audit.OpSecureTokenRead, id)} }},
			{Name: "list", Run: func(ctx context.Context) error { _, err := e.svc.List(ctx, pt, securetoken.ListQuery{}); return err },
				Want: func() []audit.Event {
					listed := ev(audit.OpSecureTokenListed, "")
					listed.Count = 1
					return []audit.Event{listed}
				}},
			{Name: "patch", Run: func(ctx context.Context) error {
				_, err := e.svc.Patch(ctx, pt, id, []byte(`[{"op":"replace","path":"/mitAgreement","value":"installment"}]`), call("patch"))
				return err
			}, Want: func() []audit.Event { return []audit.Event{ev(audit.OpSecureTokenPatched, id)} }},
			{Name: "a failed test op records nothing", Run: func(ctx context.Context) error {
				_, err := e.svc.Patch(ctx, pt, id, []byte(`[{"op":"test","path":"/mitAgreement","value":"recurring"}]`), nil)
				require.Error(t, err)
				return nil
			}, Want: func() []audit.Event { return nil }},
			{Name: "a single-use token", Run: func(ctx context.Context) error {
				var err error
				su, err = e.svc.CreateSingleUseToken(ctx, pt, singleUseRequest(t), call("single use"))
				secrets = append(secrets, su.Token)
				return err
			}, Want: func() []audit.Event {
				return []audit.Event{ev(audit.OpSingleUseCreated, capture.SingleUseID(su.Token))}
			}},
			{Name: "an update from it, and its use, in one transaction", Run: func(ctx context.Context) error {
				_, err := e.svc.UpdateAccount(ctx, pt, id, securetoken.AccountUpdateRequest{Type: securetoken.SourceSingleUseToken, Token: su.Token}, call("update"))
				return err
			}, Want: func() []audit.Event {
				return []audit.Event{ev(audit.OpSingleUseUsed, capture.SingleUseID(su.Token)), ev(audit.OpSecureTokenUpdatedFromSingle, id)}
			}},
			{Name: "an update from a used token rolls back, entries and all", Run: func(ctx context.Context) error {
				_, err := e.svc.UpdateAccount(ctx, pt, id, securetoken.AccountUpdateRequest{Type: securetoken.SourceSingleUseToken, Token: su.Token}, nil)
				require.Error(t, err)
				return nil
			}, Want: func() []audit.Event { return nil }},
			{Name: "delete", Run: func(ctx context.Context) error { return e.svc.Delete(ctx, pt, id, call("delete")) },
				Want: func() []audit.Event { return []audit.Event{ev(audit.OpSecureTokenDeleted, id)} }},
			{Name: "a replayed delete records nothing new", Run: func(ctx context.Context) error { return e.svc.Delete(ctx, pt, id, call("delete")) },
				Want: func() []audit.Event { return nil }},
		}
		f.Run(actx, steps, &secrets)
	})
}
