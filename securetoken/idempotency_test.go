package securetoken_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/securetoken"
)

// Every write under an idempotency key is one durable commit — the work
// and its kept outcome together — and sent again it is answered from what
// was kept, without running again.
func TestIdempotentWrites(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		st := b.Open(t)
		e := newSvc(t, st)
		const pt, id = "1234001", "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa"
		call := func(key, request string) *idempotency.Call {
			return &idempotency.Call{Principal: "api-key-1", Key: key, Request: []byte(request)}
		}
		// once runs op twice with one key and checks the commits: one for
		// the first run, and the replay's answer is the first's.
		once := func(name string, op func(c *idempotency.Call) (any, error)) any {
			t.Helper()
			before := st.Stats().Commits
			first, err := op(call(name, name))
			require.NoError(t, err, name)
			require.Equal(t, before+1, st.Stats().Commits, "%s: one durable commit", name)
			c := call(name, name)
			again, err := op(c)
			require.NoError(t, err, name)
			require.True(t, c.Replayed, name)
			require.Equal(t, first, again, "%s: the replay answers what the first run did", name)
			return first
		}
		// The terminal's key exists before the first measured write (a
		// terminal's first secure token creates it, once).
		_, err := e.svc.Create(ctx, pt, seedRequest(t, "MREF_first"), nil)
		require.NoError(t, err)

		created := once("create", func(c *idempotency.Call) (any, error) {
			return e.svc.Create(ctx, pt, seedRequest(t, id), c)
		}).(securetoken.Resource)
		require.Equal(t, id, created.SecureTokenID)

		once("patch", func(c *idempotency.Call) (any, error) {
			return e.svc.Patch(ctx, pt, id, []byte(`[{"op":"replace","path":"/mitAgreement","value":"installment"}]`), c)
		})
		su := once("single-use token", func(c *idempotency.Call) (any, error) {
			return e.svc.CreateSingleUseToken(ctx, pt, singleUseRequest(t), c)
		}).(securetoken.SingleUseTokenResponse)
		updated := once("update-account", func(c *idempotency.Call) (any, error) {
			return e.svc.UpdateAccount(ctx, pt, id, securetoken.AccountUpdateRequest{Type: securetoken.SourceSingleUseToken, Token: su.Token}, c)
		}).(securetoken.Resource)
		require.Equal(t, "555555******4444", updated.Source.Card.CardNumber.Masked())

		// A client error is kept: the same request gets the same refusal,
		// even once it would succeed.
		c := call("refused", "r")
		_, err = e.svc.Patch(ctx, pt, "MREF_not-yet", []byte(`[{"op":"replace","path":"/mitAgreement","value":"recurring"}]`), c)
		require.ErrorIs(t, err, securetoken.ErrNotFound)
		_, err = e.svc.Create(ctx, pt, seedRequest(t, "MREF_not-yet"), nil)
		require.NoError(t, err)
		c = call("refused", "r")
		_, err = e.svc.Patch(ctx, pt, "MREF_not-yet", []byte(`[{"op":"replace","path":"/mitAgreement","value":"recurring"}]`), c)
		require.True(t, c.Replayed)
		require.ErrorIs(t, err, cardvault.ErrNotFound)

		// A validation error is kept with its fields.
		bad := seedRequest(t, "MREF_bad")
		bad.MITAgreement = "sometimes"
		_, err = e.svc.Create(ctx, pt, bad, call("invalid", "i"))
		require.ErrorIs(t, err, cardvault.ErrInvalid)
		c = call("invalid", "i")
		_, err = e.svc.Create(ctx, pt, bad, c)
		require.True(t, c.Replayed)
		require.Equal(t, []string{"/mitAgreement"}, testkit.InvalidFields(t, err))

		// The same key for another request is a conflict, and changes
		// nothing.
		err = e.svc.Delete(ctx, pt, id, call("create", "another request"))
		require.ErrorIs(t, err, idempotency.ErrKeyInUse)
		_, err = e.svc.Retrieve(ctx, pt, id)
		require.NoError(t, err)

		// Delete, once.
		before := st.Stats().Commits
		require.NoError(t, e.svc.Delete(ctx, pt, id, call("delete", "d")))
		require.Equal(t, before+1, st.Stats().Commits)
		c = call("delete", "d")
		require.NoError(t, e.svc.Delete(ctx, pt, id, c), "a replayed delete succeeds again")
		require.True(t, c.Replayed)
		require.ErrorIs(t, e.svc.Delete(ctx, pt, id, nil), securetoken.ErrNotFound)

		// What is kept is sealed: no single-use token, card digits or key
		// in what the store wrote. (The last four are looked for as the
		// JSON string and the masked number they would be kept as: four
		// bare digits turn up by chance among tokens, ids and base64.)
		raw := string(b.Raw(t, st))
		testkit.RequireNoSecret(t, raw, su.Token, "update-account", "5555555555554444", "555555******4444", `"4444"`)
	})
}

func singleUseRequest(t testing.TB) securetoken.SingleUseTokenRequest {
	t.Helper()
	body, err := json.Marshal(map[string]any{"channel": "web", "source": map[string]any{
		"type": "card", "cardDetails": map[string]any{"entryMethod": "keyed", "cardholderName": "Sarah Hopper",
			"keyedData": map[string]any{"dataFormat": "plainText", "cardNumber": "5555555555554444", "expiryDate": "0331", "cvv": "987"}}}})
	require.NoError(t, err)
	req, err := securetoken.ParseSingleUseTokenRequest(body)
	if errors.Is(err, cardvault.ErrInvalid) {
		t.Fatalf("the single-use token request does not parse: %v", err)
	}
	require.NoError(t, err)
	return req
}
