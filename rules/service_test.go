package rules_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/rules"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

var ctx = context.Background()

const maskRule = `[{"input":"card_number","output":"card_number","operation":"mask"},{"input":"cvv","output":"cvv","operation":"mask"}]`

func service(t *testing.T, st *store.Store, clock *testkit.Clock) *rules.Service {
	t.Helper()
	h, err := crypto.NewHasher(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	s, err := rules.New(rules.Config{Store: st, Hasher: h, Now: clock.Now})
	require.NoError(t, err)
	return s
}

func TestService(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		clock := testkit.NewClock(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
		s := service(t, b.Open(t), clock)

		created, err := s.Create(ctx, "acme", "mask-card", rule(t, maskRule))
		require.NoError(t, err)
		require.Equal(t, "mask-card", created.ID)
		require.Equal(t, clock.Now(), created.CreatedAt)

		got, err := s.Get(ctx, "acme", "mask-card")
		require.NoError(t, err)
		require.Equal(t, created.Rule.Operations(), got.Rule.Operations())
		require.True(t, created.CreatedAt.Equal(got.CreatedAt))
		b2, err := json.Marshal(got)
		require.NoError(t, err)
		require.JSONEq(t, `{"id":"mask-card","created_at":"2025-06-01T12:00:00Z","operations":`+maskRule+`}`, string(b2))

		// One rule per id, never updated.
		_, err = s.Create(ctx, "acme", "mask-card", one(t, "cvv", "noop", ""))
		require.ErrorIs(t, err, rules.ErrExists)
		require.ErrorIs(t, err, cardvault.ErrConflict)
		got, err = s.Get(ctx, "acme", "mask-card")
		require.NoError(t, err)
		require.Equal(t, created.Rule.Operations(), got.Rule.Operations(), "the conflict changed nothing")

		// Rules belong to their account: another's is not found, and the
		// same id is free for it.
		_, err = s.Get(ctx, "globex", "mask-card")
		require.ErrorIs(t, err, rules.ErrNotFound)
		require.ErrorIs(t, err, cardvault.ErrNotFound)
		require.ErrorIs(t, s.Delete(ctx, "globex", "mask-card"), rules.ErrNotFound)
		_, err = s.Apply(ctx, "globex", []string{"mask-card"}, []byte(card))
		require.ErrorIs(t, err, rules.ErrNotFound)
		_, err = s.Create(ctx, "globex", "mask-card", one(t, "cvv", "noop", ""))
		require.NoError(t, err)
		// An owner that is a prefix of another sees only its own.
		_, err = s.Create(ctx, "acm", "x", one(t, "cvv", "noop", ""))
		require.NoError(t, err)

		clock.Advance(time.Minute)
		_, err = s.Create(ctx, "acme", "last4", one(t, "card_number", "substr", `{"start":-4}`))
		require.NoError(t, err)
		list, err := s.List(ctx, "acme")
		require.NoError(t, err)
		require.Len(t, list, 2)
		require.Equal(t, "last4", list[0].ID)
		require.Equal(t, "mask-card", list[1].ID)
		empty, err := s.List(ctx, "nobody")
		require.NoError(t, err)
		require.NotNil(t, empty)
		require.Empty(t, empty)

		// Apply loads in the order given and runs on a copy.
		doc := []byte(card)
		out, err := s.Apply(ctx, "acme", []string{"last4", "mask-card"}, doc)
		require.NoError(t, err)
		require.Equal(t, []byte(card), doc)
		require.Equal(t, "1111", gjson.GetBytes(out, "out").Str)
		require.Equal(t, "411111******1111", gjson.GetBytes(out, "card_number").Str)
		require.Equal(t, "***", gjson.GetBytes(out, "cvv").Str)
		_, err = s.Apply(ctx, "acme", []string{"last4", "nope"}, doc)
		require.ErrorIs(t, err, rules.ErrNotFound)
		require.Contains(t, err.Error(), `"nope"`)
		loaded, err := s.Load(ctx, "acme", []string{"mask-card", "mask-card"})
		require.NoError(t, err)
		require.Len(t, loaded, 2)

		require.NoError(t, s.Delete(ctx, "acme", "mask-card"))
		_, err = s.Get(ctx, "acme", "mask-card")
		require.ErrorIs(t, err, rules.ErrNotFound)
		require.ErrorIs(t, s.Delete(ctx, "acme", "mask-card"), rules.ErrNotFound)
		_, err = s.Get(ctx, "globex", "mask-card")
		require.NoError(t, err, "the other account's rule of the same id stays")
		// Deleted, the id can be used again.
		_, err = s.Create(ctx, "acme", "mask-card", one(t, "cvv", "noop", ""))
		require.NoError(t, err)
	})
}

func TestServiceRefuses(t *testing.T) {
	s := service(t, teststores.All()[0].Open(t), testkit.NewClock(time.Now()))
	r := one(t, "cvv", "noop", "")
	for _, id := range []string{"", "a,b", "a b", "ü", string(make([]byte, rules.MaxIDLen+1))} {
		_, err := s.Create(ctx, "acme", id, r)
		require.ErrorIs(t, err, rules.ErrInvalid, "%q", id)
		_, err = s.Get(ctx, "acme", id)
		require.ErrorIs(t, err, rules.ErrInvalid, "%q", id)
		require.ErrorIs(t, s.Delete(ctx, "acme", id), rules.ErrInvalid, "%q", id)
	}
	_, err := s.Create(ctx, "ac\x00me", "x", r)
	require.ErrorIs(t, err, rules.ErrInvalid)
	_, err = s.Create(ctx, "acme", "x", nil)
	require.ErrorIs(t, err, rules.ErrInvalid)
	_, err = s.Create(ctx, "acme", "x", &rules.Rule{})
	require.ErrorIs(t, err, rules.ErrInvalid)
	list, err := s.List(ctx, "acme")
	require.NoError(t, err)
	require.Empty(t, list, "nothing was stored")
	ids := make([]string, rules.MaxRulesPerApply+1)
	for i := range ids {
		ids[i] = "x"
	}
	_, err = s.Load(ctx, "acme", ids)
	require.ErrorIs(t, err, rules.ErrInvalid)
	_, err = rules.New(rules.Config{})
	require.ErrorIs(t, err, rules.ErrInvalid)
}

func TestServiceCap(t *testing.T) {
	st := teststores.All()[0].Open(t)
	s := service(t, st, testkit.NewClock(time.Now()))
	r := one(t, "cvv", "noop", "")
	for i := range rules.MaxRulesPerOwner {
		_, err := s.Create(ctx, "acme", fmt.Sprintf("r%04d", i), r)
		require.NoError(t, err)
	}
	_, err := s.Create(ctx, "acme", "one-more", r)
	require.ErrorIs(t, err, rules.ErrTooLarge)
	_, err = s.Get(ctx, "acme", "one-more")
	require.ErrorIs(t, err, rules.ErrNotFound)
	_, err = s.Create(ctx, "globex", "one-more", r)
	require.NoError(t, err, "the cap is per account")
}

// TestStoredRuleIsChecked: a record damaged in the store does not run.
func TestStoredRuleIsChecked(t *testing.T) {
	st := teststores.All()[0].Open(t)
	s := service(t, st, testkit.NewClock(time.Now()))
	_, err := s.Create(ctx, "acme", "x", one(t, "cvv", "noop", ""))
	require.NoError(t, err)
	for _, rec := range []string{`{"v":1,"rule":[{"input":"cvv","output":"x","operation":"encrypt"}],"created_at":"2025-01-01T00:00:00Z"}`, `{"v":2,"rule":[],"created_at":"2025-01-01T00:00:00Z"}`, `nope`} {
		require.NoError(t, st.Update(ctx, func(tx store.Tx) error {
			return tx.Put("rules.rules", []byte("acme\x00x"), []byte(rec))
		}))
		_, err = s.Get(ctx, "acme", "x")
		require.ErrorIs(t, err, rules.ErrInvalid, rec)
		_, err = s.Apply(ctx, "acme", []string{"x"}, []byte(card))
		require.ErrorIs(t, err, rules.ErrInvalid, rec)
	}
}

// TestVaultItemUnchanged: rules run on the outgoing copy of a vault item;
// the item as stored — its plaintext as the vault returns it, and every
// byte the backend holds — is the same afterwards.
func TestVaultItemUnchanged(t *testing.T) {
	for _, b := range teststores.All()[:2] { // memstore, boltstore
		t.Run(b.Name, func(t *testing.T) {
			st := b.Open(t)
			kr, err := crypto.CreateKeyringFile(filepath.Join(t.TempDir(), "master.key"))
			require.NoError(t, err)
			v, err := vault.Open(ctx, vault.Config{Store: st, Keyring: kr, WorkFactor: 10})
			require.NoError(t, err)
			t.Cleanup(func() { v.Close() })
			key, err := v.CreateKey(ctx, vault.Credentials{Owner: "acme", User: "alice"})
			require.NoError(t, err)
			ref, err := v.Tokenize(ctx, key, []byte(card), vault.TokenizeOptions{Reference: "r1"})
			require.NoError(t, err)

			s := service(t, st, testkit.NewClock(time.Now()))
			_, err = s.Create(ctx, "acme", "view", rule(t, `[
				{"input":"card_number","output":"card_number","operation":"replace","arguments":{"substr":" "}},
				{"input":"card_number","output":"card_number","operation":"mask"},
				{"input":"cvv","output":"cvv","operation":"mask"},
				{"input":"card_holder","output":"card_holder","operation":"hash"}]`))
			require.NoError(t, err)

			stored, err := v.Retrieve(ctx, key, ref)
			require.NoError(t, err)
			raw := b.Raw(t, st)
			view, err := s.Apply(ctx, "acme", []string{"view"}, stored)
			require.NoError(t, err)
			require.Equal(t, "411111******1111", gjson.GetBytes(view, "card_number").Str)

			again, err := v.Retrieve(ctx, key, ref)
			require.NoError(t, err)
			require.Equal(t, stored, again, "the stored item is unchanged")
			require.Equal(t, "4111 1111 1111 1111", gjson.GetBytes(again, "card_number").Str)
			require.True(t, bytes.Equal(raw, b.Raw(t, st)), "nothing was written to the store")
		})
	}
}

func TestParseIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		msg  string
	}{
		{in: "a", want: []string{"a"}},
		{in: "mask,hash-1,x.y_z", want: []string{"mask", "hash-1", "x.y_z"}},
		{in: "", msg: "rules must be comma-separated rule ids"},
		{in: "a,,b", msg: "rules must be comma-separated rule ids"},
		{in: "a b", msg: "rules must be comma-separated rule ids"},
		{in: strings.Repeat("a", rules.MaxIDLen+1), msg: "rules must be comma-separated rule ids"},
		{in: strings.Repeat("a,", rules.MaxRulesPerApply) + "a", msg: "at most 16 rules run at once"},
	} {
		got, err := rules.ParseIDs(tc.in)
		if tc.msg == "" {
			require.NoError(t, err, tc.in)
			require.Equal(t, tc.want, got)
			continue
		}
		require.ErrorIs(t, err, cardvault.ErrInvalid, tc.in)
		require.ErrorContains(t, err, "invalid input: rules: "+tc.msg, tc.in)
	}
}
