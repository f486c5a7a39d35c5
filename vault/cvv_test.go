package vault_test

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

func TestCVVLivesBriefly(t *testing.T) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) { testCVV(t, b) })
}

// liveDump is every key and value the vault's buckets and the expiry
// index hold, read through the store: what any backend keeps live.
func liveDump(t *testing.T, st *store.Store) string {
	t.Helper()
	var sb strings.Builder
	require.NoError(t, st.View(ctx, func(tx store.Tx) error {
		sb.Reset()
		for _, bucket := range []string{"vault.keys", "vault.items", "vault.numbers", "vault.meta", expiry.Bucket} {
			err := tx.Scan(bucket, store.Range{}, func(k, v []byte) error {
				sb.Write(k)
				sb.Write(v)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	}))
	return sb.String()
}

func expiryEntries(t *testing.T, st *store.Store) int {
	n := 0
	require.NoError(t, st.View(ctx, func(tx store.Tx) error {
		n = 0
		return tx.Scan(expiry.Bucket, store.Range{}, func(_, _ []byte) error { n++; return nil })
	}))
	return n
}

func testCVV(t *testing.T, b teststores.Backend) {
	st := b.Open(t)
	clock := testkit.NewClock(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	v, err := vault.Open(ctx, vault.Config{Store: st, Keyring: testkit.Keyring(t), WorkFactor: testWorkFactor, Now: clock.Now, CVVTTL: time.Hour})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	sweeper := expiry.NewSweeper(st, clock.Now, nil)
	c := newKey(t, v, "acme", "alice")

	ref, err := v.Tokenize(ctx, c, []byte(`{"card_number":"4242424242424242","cvv":"737","card_expiry":"06-2030"}`), vault.TokenizeOptions{})
	require.NoError(t, err)
	doc, first, err := v.RetrieveWithCVV(ctx, c, ref)
	require.NoError(t, err)
	require.JSONEq(t, `{"card_number":"4242424242424242","cvv":"737","card_expiry":"06-2030"}`, string(doc))
	require.NotEmpty(t, first.ID, "the item holds a CVV")
	require.Equal(t, clock.Now().Add(time.Hour), first.Expires)
	sealed := vault.SealedCVV(st, "acme", "alice", ref)
	require.NotEmpty(t, sealed)
	stored := base64.StdEncoding.EncodeToString(sealed) // as the record's JSON holds it
	require.Contains(t, liveDump(t, st), stored, "the scan sees the sealed CVV while it lives")
	require.Equal(t, 1, expiryEntries(t, st))

	// An update that does not name the CVV keeps it — the same one, with
	// its expiry.
	clock.Advance(30 * time.Minute)
	_, err = v.Update(ctx, c, ref, []byte(`{"card_holder":"Ada"}`), vault.UpdateOptions{})
	require.NoError(t, err)
	_, id, err := v.RetrieveWithCVV(ctx, c, ref)
	require.NoError(t, err)
	require.Equal(t, first, id)
	require.Equal(t, sealed, vault.SealedCVV(st, "acme", "alice", ref))

	// A new CVV is a new one, living an hour from now; the old entry goes.
	_, err = v.Update(ctx, c, ref, []byte(`{"cvv":"1234"}`), vault.UpdateOptions{})
	require.NoError(t, err)
	_, second, err := v.RetrieveWithCVV(ctx, c, ref)
	require.NoError(t, err)
	require.NotEqual(t, first, second)
	require.Equal(t, 1, expiryEntries(t, st), "one CVV, one entry")
	require.NotContains(t, liveDump(t, st), stored, "the replaced CVV is gone")
	sealed = vault.SealedCVV(st, "acme", "alice", ref)
	stored = base64.StdEncoding.EncodeToString(sealed)

	clock.Advance(59 * time.Minute) // 1h29m: the first would have gone, the second lives
	doc, err = v.Retrieve(ctx, c, ref)
	require.NoError(t, err)
	require.JSONEq(t, `{"card_number":"4242424242424242","card_holder":"Ada","card_expiry":"06-2030","cvv":"1234"}`, string(doc))

	// Past its time the CVV is not read, even before the sweeper runs...
	clock.Advance(2 * time.Minute)
	doc, id, err = v.RetrieveWithCVV(ctx, c, ref)
	require.NoError(t, err)
	require.JSONEq(t, `{"card_number":"4242424242424242","card_holder":"Ada","card_expiry":"06-2030"}`, string(doc))
	require.Zero(t, id)
	require.Contains(t, liveDump(t, st), stored, "not swept yet")

	// ...and the sweeper, which has no passphrase, drops it from the
	// record: a raw scan of the store finds it nowhere.
	n, err := sweeper.Sweep(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	require.Nil(t, vault.SealedCVV(st, "acme", "alice", ref))
	require.NotContains(t, liveDump(t, st), stored)
	if b.Name != "boltstore" {
		// memstore and pgstore persist live rows only; a bbolt file keeps
		// old pages until it reuses them (see the package documentation).
		require.NotContains(t, string(b.Raw(t, st)), stored)
	}
	require.Zero(t, expiryEntries(t, st))
	doc, err = v.Retrieve(ctx, c, ref)
	require.NoError(t, err)
	require.JSONEq(t, `{"card_number":"4242424242424242","card_holder":"Ada","card_expiry":"06-2030"}`, string(doc))

	// ForgetCVV drops the CVV it names, without the passphrase, and no
	// other: a CVV captured since stays.
	_, err = v.Update(ctx, c, ref, []byte(`{"cvc":"555"}`), vault.UpdateOptions{})
	require.NoError(t, err)
	_, id, err = v.RetrieveWithCVV(ctx, c, ref)
	require.NoError(t, err)
	forget := func(id string) {
		require.NoError(t, st.Update(ctx, func(tx store.Tx) error { return v.ForgetCVV(tx, "acme", "alice", ref, id) }))
	}
	forget(first.ID)
	require.NotNil(t, vault.SealedCVV(st, "acme", "alice", ref), "another CVV's id removes nothing")
	stored = base64.StdEncoding.EncodeToString(vault.SealedCVV(st, "acme", "alice", ref))
	forget(id.ID)
	require.Nil(t, vault.SealedCVV(st, "acme", "alice", ref))
	require.NotContains(t, liveDump(t, st), stored)
	require.Zero(t, expiryEntries(t, st))
	forget(id.ID) // gone already: no error
	require.NoError(t, st.Update(ctx, func(tx store.Tx) error {
		return v.ForgetCVV(tx, "acme", "alice", vault.ItemRef{Token: ref.Token, Reference: "nope"}, id.ID)
	}))

	// Replacing or deleting an item takes its CVV's entry along.
	_, err = v.Tokenize(ctx, c, []byte(`{"card_number":"4242424242424242","cvv":"111"}`), vault.TokenizeOptions{Reference: ref.Reference})
	require.NoError(t, err)
	_, err = v.Tokenize(ctx, c, []byte(`{"card_number":"4242424242424242","cvv":"222"}`), vault.TokenizeOptions{Reference: ref.Reference})
	require.NoError(t, err)
	require.Equal(t, 1, expiryEntries(t, st))
	require.NoError(t, v.Delete(ctx, "acme", "alice", ref))
	require.Zero(t, expiryEntries(t, st))

	// No CVV was ever in clear.
	raw := string(b.Raw(t, st))
	for _, cvv := range []string{`"737"`, `"1234"`, `"555"`, `"111"`, `"222"`} {
		require.NotContains(t, raw, cvv)
	}
}

func TestCVVOpenGrantsAndLockedGrants(t *testing.T) {
	st := teststores.All()[0].Open(t)
	clock := testkit.NewClock(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	v, err := vault.Open(ctx, vault.Config{Store: st, Keyring: testkit.Keyring(t), WorkFactor: testWorkFactor, Now: clock.Now, CVVTTL: 10 * time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	c := newKey(t, v, "acme", "alice")
	g, err := v.GrantFor(ctx, c, nil)
	require.NoError(t, err)

	// Stored without the passphrase (an open capture endpoint): the CVV
	// is kept apart and expires all the same.
	ref, err := v.StoreForRecipient(ctx, "acme", "alice", g.Recipient, []byte(`{"card_number":"5555555555554444","cvv":"123"}`), vault.TokenizeOptions{})
	require.NoError(t, err)
	require.NotNil(t, vault.SealedCVV(st, "acme", "alice", ref))

	// Updated with the item's key (a locked capture endpoint): the merged
	// document holds the new CVV, and the record keeps it apart.
	locked, err := v.GrantFor(ctx, c, &ref)
	require.NoError(t, err)
	merged, _, err := v.UpdateWithKey(ctx, "acme", "alice", ref, locked.ItemKey, []byte(`{"cvv":"321"}`), vault.UpdateOptions{})
	require.NoError(t, err)
	require.JSONEq(t, `{"card_number":"5555555555554444","cvv":"321"}`, string(merged))
	clock.Advance(11 * time.Minute)
	doc, err := v.Retrieve(ctx, c, ref)
	require.NoError(t, err)
	require.JSONEq(t, `{"card_number":"5555555555554444"}`, string(doc))

	// A null CVV is no CVV.
	ref2, err := v.Tokenize(ctx, c, []byte(`{"card_number":"5555555555554444","cvv":null}`), vault.TokenizeOptions{})
	require.NoError(t, err)
	require.Nil(t, vault.SealedCVV(st, "acme", "alice", ref2))
	doc, err = v.Retrieve(ctx, c, ref2)
	require.NoError(t, err)
	require.JSONEq(t, `{"card_number":"5555555555554444","cvv":null}`, string(doc))
}
