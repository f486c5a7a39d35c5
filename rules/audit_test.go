package rules_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/audittest"
	"github.com/cardvault/cardvault/rules"
)

// TestAuditEvents: rules created and deleted are recorded with their
// transaction, refusals leave nothing, and a write whose transaction fails
// after its entry leaves neither.
func TestAuditEvents(t *testing.T) {
	audittest.Each(t, func(t *testing.T, f audittest.Fixture) {
		open := func(r audit.Recorder) *rules.Service {
			s, err := rules.New(rules.Config{Store: f.Store, Hasher: crypto.NewHasherFromKey(crypto.NewDataKey()), Audit: r})
			require.NoError(t, err)
			return s
		}
		s := open(f.Log())
		actx := audit.WithActor(ctx, audit.Actor{Account: "acme", Client: "203.0.113.50"})
		ev := func(op audit.Op, id string) audit.Event {
			return audit.Event{Op: op, Outcome: audit.OutcomeOK, Account: "acme", Client: "203.0.113.50", Resource: id}
		}
		var secrets []string
		f.Run(actx, []audittest.Step{
			{Name: "create", Run: func(ctx context.Context) error {
				_, err := s.Create(ctx, "acme", "mask-card", rule(t, maskRule))
				return err
			},
				Want: func() []audit.Event { return []audit.Event{ev(audit.OpRulesCreated, "mask-card")} }},
			{Name: "a duplicate is refused and leaves nothing", Run: func(ctx context.Context) error {
				_, err := s.Create(ctx, "acme", "mask-card", rule(t, maskRule))
				require.ErrorIs(t, err, rules.ErrExists)
				return nil
			}, Want: func() []audit.Event { return nil }},
			{Name: "delete", Run: func(ctx context.Context) error { return s.Delete(ctx, "acme", "mask-card") },
				Want: func() []audit.Event { return []audit.Event{ev(audit.OpRulesDeleted, "mask-card")} }},
			{Name: "a delete of a missing rule leaves nothing", Run: func(ctx context.Context) error {
				require.ErrorIs(t, s.Delete(ctx, "acme", "mask-card"), rules.ErrNotFound)
				return nil
			}, Want: func() []audit.Event { return nil }},
			{Name: "a create whose transaction fails leaves neither rule nor entry", Run: func(ctx context.Context) error {
				_, err := open(audittest.Failing{Recorder: f.Log()}).Create(ctx, "acme", "mask-card", rule(t, maskRule))
				require.ErrorIs(t, err, audittest.ErrRefused)
				_, err = s.Get(ctx, "acme", "mask-card")
				require.ErrorIs(t, err, rules.ErrNotFound)
				return nil
			}, Want: func() []audit.Event { return nil }},
		}, &secrets)
	})
}
