package vault_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/internal/audittest"
	"github.com/cardvault/cardvault/vault"
)

// TestAuditEvents runs each operation of the vault and reads back the
// events it left: writes recorded with their transaction, reads and
// failed unlocks noted, each with the actor of the request, none holding
// the card, the CVV, the name or a passphrase.
func TestAuditEvents(t *testing.T) {
	audittest.Each(t, func(t *testing.T, tr audittest.Fixture) {
		v := auditedVault(t, tr, tr.Log())

		actor := audit.Actor{Account: "shop", Client: "203.0.113.9"}
		actx := audit.WithActor(ctx, actor)
		const pass, newPass = "correct horse battery staple", "tr0ub4dor and three more"
		secrets := []string{"4242424242424242", `"737"`, "Ada Lovelace", pass, newPass}
		c := vault.Credentials{Owner: "shop", User: "u1", Passphrase: pass}
		ref := vault.ItemRef{}
		ev := func(op audit.Op, withItem bool) audit.Event {
			e := audit.Event{Op: op, Outcome: audit.OutcomeOK, Account: "shop", User: "u1", Client: actor.Client}
			if withItem {
				e.Token, e.Reference = ref.Token, ref.Reference
			}
			return e
		}
		steps := []audittest.Step{
			{Name: "create a key", Run: func(ctx context.Context) error { _, err := v.CreateKey(ctx, c); return err },
				Want: func() []audit.Event { return []audit.Event{ev(audit.OpKeyCreated, false)} }},
			{Name: "a duplicate key is refused and leaves nothing", Run: func(ctx context.Context) error {
				_, err := v.CreateKey(ctx, c)
				require.ErrorIs(t, err, vault.ErrKeyExists)
				return nil
			}, Want: func() []audit.Event { return nil }},
			{Name: "store an item", Run: func(ctx context.Context) error {
				var err error
				ref, err = v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Reference: "order-1"})
				return err
			}, Want: func() []audit.Event { return []audit.Event{ev(audit.OpItemStored, true)} }},
			{Name: "read it", Run: func(ctx context.Context) error { _, err := v.Retrieve(ctx, c, ref); return err },
				Want: func() []audit.Event { return []audit.Event{ev(audit.OpItemRead, true)} }},
			{Name: "update it", Run: func(ctx context.Context) error {
				_, err := v.Update(ctx, c, ref, []byte(`{"card_expiry":"07-2031"}`), vault.UpdateOptions{})
				return err
			}, Want: func() []audit.Event { return []audit.Event{ev(audit.OpItemUpdated, true)} }},
			{Name: "an update of a missing item leaves nothing", Run: func(ctx context.Context) error {
				_, err := v.Update(ctx, c, vault.ItemRef{Token: ref.Token, Reference: "nope"}, []byte(`{"a":1}`), vault.UpdateOptions{})
				require.ErrorIs(t, err, vault.ErrItemNotFound)
				return nil
			}, Want: func() []audit.Event { return nil }},
			{Name: "a wrong passphrase is noted", Run: func(ctx context.Context) error {
				bad := c
				bad.Passphrase = "not the passphrase at all"
				_, err := v.Retrieve(ctx, bad, ref)
				require.ErrorIs(t, err, vault.ErrWrongKey)
				return nil
			}, Want: func() []audit.Event {
				e := ev(audit.OpKeyUnlockFailed, false)
				e.Outcome, e.Reason = audit.OutcomeRefused, "wrong_key"
				return []audit.Event{e}
			}},
			{Name: "change the passphrase", Run: func(ctx context.Context) error {
				var err error
				c, err = v.ChangePassphrase(ctx, c, newPass)
				return err
			}, Want: func() []audit.Event { return []audit.Event{ev(audit.OpKeyPassphraseChanged, false)} }},
			{Name: "delete the item", Run: func(ctx context.Context) error { return v.Delete(ctx, c.Owner, c.User, ref) },
				Want: func() []audit.Event { return []audit.Event{ev(audit.OpItemDeleted, true)} }},
			{Name: "store another", Run: func(ctx context.Context) error {
				var err error
				ref, err = v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Reference: "order-2"})
				return err
			}, Want: func() []audit.Event { return []audit.Event{ev(audit.OpItemStored, true)} }},
			{Name: "delete the key, and the item it holds", Run: func(ctx context.Context) error { return v.DeleteKey(ctx, c.Owner, c.User, false) },
				Want: func() []audit.Event {
					e := ev(audit.OpKeyDeleted, false)
					e.Count = 1
					return []audit.Event{e}
				}},
		}
		tr.Run(actx, steps, &secrets)

		// Without an actor in the context the event says only what the
		// vault knows.
		c2 := vault.Credentials{Owner: "shop", User: "u2", Passphrase: pass}
		_, err := v.CreateKey(ctx, c2)
		require.NoError(t, err)
		require.Equal(t, []audit.Event{{Op: audit.OpKeyCreated, Outcome: audit.OutcomeOK, Account: "shop", User: "u2"}}, tr.Events(secrets...))
	})
}

// TestAuditRollsBackWithTheWrite: a write whose transaction fails after
// its entry was put leaves neither the write nor the entry.
func TestAuditRollsBackWithTheWrite(t *testing.T) {
	audittest.Each(t, func(t *testing.T, tr audittest.Fixture) {
		v := auditedVault(t, tr, audittest.Failing{Recorder: tr.Log(), Ops: []audit.Op{audit.OpItemStored}})

		c, err := v.CreateKey(ctx, vault.Credentials{Owner: "shop", User: "u1"})
		require.NoError(t, err)
		require.Equal(t, []audit.Op{audit.OpKeyCreated}, audittest.Ops(tr.Events(c.Passphrase)))
		_, err = v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Reference: "order-1"})
		require.ErrorIs(t, err, audittest.ErrRefused)
		items, err := v.List(ctx, c.Owner, c.User, vault.ItemRef{}, 10)
		require.NoError(t, err)
		require.Empty(t, items, "the write rolled back")
		require.Empty(t, tr.Events(c.Passphrase), "and its entry with it")
	})
}

// auditedVault opens a vault on the fixture's store that records through r.
func auditedVault(t *testing.T, f audittest.Fixture, r audit.Recorder) *vault.Vault {
	t.Helper()
	v, err := vault.Open(ctx, vault.Config{Store: f.Store, Keyring: f.Keyring, WorkFactor: testWorkFactor, Audit: r})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	return v
}
