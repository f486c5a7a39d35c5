package vault_test

import (
	"context"
	"errors"
	"fmt"

	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/luhn"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

// testWorkFactor keeps scrypt cheap in tests; production uses 18.
const testWorkFactor = 10

var ctx = context.Background()

func openVault(t testing.TB, st *store.Store, kr *crypto.Keyring) *vault.Vault {
	t.Helper()
	v, err := vault.Open(ctx, vault.Config{Store: st, Keyring: kr, WorkFactor: testWorkFactor})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	return v
}

func newKey(t testing.TB, v *vault.Vault, owner, user string) vault.Credentials {
	t.Helper()
	c, err := v.CreateKey(ctx, vault.Credentials{Owner: owner, User: user})
	require.NoError(t, err)
	return c
}

const card = `{"card_number":"4242424242424242","card_holder":"Ada Lovelace","card_expiry":"06-2030","cvv":"737"}`

func TestVault(t *testing.T) {
	teststores.Cases(t, map[string]func(*testing.T, teststores.Backend){
		"keys":                      testKeys,
		"tokenize and retrieve":     testTokenize,
		"bad input changes nothing": testBadInput,
		"update":                    testUpdate,
		"concurrent updates":        testConcurrentUpdates,
		"at rest":                   testAtRest,
		"rotation":                  testRotation,
		"grants":                    testGrants,
		"a damaged item key":        testDamagedItemKey,
	})
}

func testKeys(t *testing.T, b teststores.Backend) {
	v := openVault(t, b.Open(t), testkit.Keyring(t))

	c := newKey(t, v, "acme", "alice")
	require.Len(t, c.Passphrase, crypto.SecretLen, "a generated passphrase is a full secret")
	_, err := v.CreateKey(ctx, vault.Credentials{Owner: "acme", User: "alice", Passphrase: "another-long-passphrase"})
	require.ErrorIs(t, err, vault.ErrKeyExists)
	require.ErrorIs(t, err, cardvault.ErrConflict)
	// A chosen passphrase has at least 16 characters (not bytes).
	for _, p := range []string{"x", "a", "fifteen-chars-x", strings.Repeat("é", 15)} {
		_, err = v.CreateKey(ctx, vault.Credentials{Owner: "acme", User: "short", Passphrase: p})
		require.ErrorIs(t, err, vault.ErrInvalid, "%q", p)
		require.ErrorContains(t, err, "passphrase must be at least 16 characters")
	}
	_, err = v.CreateKey(ctx, vault.Credentials{Owner: "acme", User: "short", Passphrase: strings.Repeat("é", 16)})
	require.NoError(t, err, "16 characters are enough")
	require.NoError(t, v.DeleteKey(ctx, "acme", "short", true))
	chosen, err := v.CreateKey(ctx, vault.Credentials{Owner: "acme", User: "bob", Passphrase: "ALongAndVerySecretPassphrase"})
	require.NoError(t, err)
	require.Equal(t, "ALongAndVerySecretPassphrase", chosen.Passphrase)
	newKey(t, v, "other", "alice") // the same user name in another account is another key

	keys, err := v.ListKeys(ctx, "acme", "", 0)
	require.NoError(t, err)
	require.Equal(t, []string{"alice", "bob"}, userNames(keys))
	keys, err = v.ListKeys(ctx, "acme", "alice", 1)
	require.NoError(t, err)
	require.Equal(t, []string{"bob"}, userNames(keys))

	// Unknown user and wrong passphrase: one error, indistinguishable.
	ref, err := v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{})
	require.NoError(t, err)
	_, errUnknown := v.Retrieve(ctx, vault.Credentials{Owner: "acme", User: "mallory", Passphrase: c.Passphrase}, ref)
	_, errWrong := v.Retrieve(ctx, vault.Credentials{Owner: "acme", User: "alice", Passphrase: "guess"}, ref)
	_, errOtherOwner := v.Retrieve(ctx, vault.Credentials{Owner: "other", User: "alice", Passphrase: c.Passphrase}, ref)
	for _, err := range []error{errUnknown, errWrong, errOtherOwner} {
		require.ErrorIs(t, err, vault.ErrWrongKey)
		require.ErrorIs(t, err, cardvault.ErrUnauthorized)
		require.Equal(t, errWrong.Error(), err.Error())
	}

	// A new passphrase: the old one stops working, the data stays. It
	// has 16 characters at least, too.
	_, err = v.ChangePassphrase(ctx, c, "too-short")
	require.ErrorIs(t, err, vault.ErrInvalid)
	require.ErrorContains(t, err, "new_passphrase must be at least 16 characters")
	c2, err := v.ChangePassphrase(ctx, c, "")
	require.NoError(t, err)
	require.NotEqual(t, c.Passphrase, c2.Passphrase)
	_, err = v.Retrieve(ctx, c, ref)
	require.ErrorIs(t, err, vault.ErrWrongKey, "the old passphrase must stop working at once, cache or not")
	doc, err := v.Retrieve(ctx, c2, ref)
	require.NoError(t, err)
	require.JSONEq(t, card, string(doc))

	// Safe delete refuses a key with data; unsafe delete takes the data.
	require.ErrorIs(t, v.DeleteKey(ctx, "acme", "alice", true), vault.ErrKeyNotEmpty)
	require.NoError(t, v.DeleteKey(ctx, "acme", "bob", true))
	require.ErrorIs(t, v.DeleteKey(ctx, "acme", "bob", true), vault.ErrKeyNotFound)
	require.NoError(t, v.DeleteKey(ctx, "acme", "alice", false))
	_, err = v.Retrieve(ctx, c2, ref)
	require.ErrorIs(t, err, vault.ErrWrongKey)
	held, err := v.HoldsNumber(ctx, "4242424242424242")
	require.NoError(t, err)
	require.False(t, held, "a deleted key's numbers are no longer held")

	// A key re-created under the same name and passphrase sees nothing of
	// the old one.
	_, err = v.CreateKey(ctx, c2)
	require.NoError(t, err)
	_, err = v.Retrieve(ctx, c2, ref)
	require.ErrorIs(t, err, vault.ErrItemNotFound)
	items, err := v.List(ctx, "acme", "alice", vault.ItemRef{}, 0)
	require.NoError(t, err)
	require.Empty(t, items)
}

func userNames(keys []vault.KeyInfo) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.User)
	}
	return out
}

func testTokenize(t *testing.T, b teststores.Backend) {
	v := openVault(t, b.Open(t), testkit.Keyring(t))
	c := newKey(t, v, "acme", "alice")
	c2 := newKey(t, v, "acme", "bob")

	ref, err := v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Reference: "my-reference"})
	require.NoError(t, err)
	require.Regexp(t, `^[0-9a-f]{64}$`, ref.Token)
	require.Equal(t, "my-reference", ref.Reference)
	doc, err := v.Retrieve(ctx, c, ref)
	require.NoError(t, err)
	require.Equal(t, card, string(doc), "the item comes back byte for byte")

	// Deterministic per deployment, whatever the key or the spelling.
	ref2, err := v.Tokenize(ctx, c2, []byte(`{"number":"4242 4242 4242-4242"}`), vault.TokenizeOptions{})
	require.NoError(t, err)
	require.Equal(t, ref.Token, ref2.Token)
	require.Len(t, ref2.Reference, 22, "a generated reference")
	ref3, err := v.Tokenize(ctx, c, []byte(`{"note":"x"}`), vault.TokenizeOptions{Number: "4242424242424242"})
	require.NoError(t, err)
	require.Equal(t, ref.Token, ref3.Token)

	// Field precedence: number, card_number, n, account_number.
	refN, err := v.Tokenize(ctx, c, []byte(`{"account_number":"000123456789","n":"5555555555554444"}`), vault.TokenizeOptions{})
	require.NoError(t, err)
	refMC, err := v.Tokenize(ctx, c, []byte(`{"number":"5555555555554444"}`), vault.TokenizeOptions{})
	require.NoError(t, err)
	require.Equal(t, refMC.Token, refN.Token)
	refBank, err := v.Tokenize(ctx, c, []byte(`{"account_number":"000123456789","routing_number":"011000015"}`), vault.TokenizeOptions{})
	require.NoError(t, err)
	require.NotEqual(t, refMC.Token, refBank.Token)

	// luhn: 16 Luhn-valid digits, deterministic.
	l1, err := v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Algorithm: vault.AlgorithmLuhn})
	require.NoError(t, err)
	require.Regexp(t, `^[0-9]{16}$`, l1.Token)
	require.True(t, luhn.Valid(l1.Token))
	l2, err := v.Tokenize(ctx, c2, []byte(card), vault.TokenizeOptions{Algorithm: vault.AlgorithmLuhn})
	require.NoError(t, err)
	require.Equal(t, l1.Token, l2.Token)
	require.NotEqual(t, "4242424242424242", l1.Token)

	// The same card under several references.
	again, err := v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Reference: "second"})
	require.NoError(t, err)
	require.Equal(t, ref.Token, again.Token)
	list, err := v.List(ctx, "acme", "alice", vault.ItemRef{}, 0)
	require.NoError(t, err)
	require.Contains(t, list, ref)
	require.Contains(t, list, again)
	require.Len(t, list, 7)
	// Paging.
	page1, err := v.List(ctx, "acme", "alice", vault.ItemRef{}, 4)
	require.NoError(t, err)
	page2, err := v.List(ctx, "acme", "alice", page1[3], 4)
	require.NoError(t, err)
	require.Len(t, page2, 3)
	require.Equal(t, list, append(page1, page2...))

	// Storing again under the same token and reference replaces the item.
	_, err = v.Tokenize(ctx, c, []byte(`{"card_number":"4242424242424242","cvv":"000"}`), vault.TokenizeOptions{Reference: "my-reference"})
	require.NoError(t, err)
	doc, err = v.Retrieve(ctx, c, ref)
	require.NoError(t, err)
	require.JSONEq(t, `{"card_number":"4242424242424242","cvv":"000"}`, string(doc))

	// The vault answers whether it holds a number, without a passphrase.
	held, err := v.HoldsNumber(ctx, "4242-4242-4242-4242")
	require.NoError(t, err)
	require.True(t, held)
	held, err = v.HoldsNumber(ctx, "4000056655665556")
	require.NoError(t, err)
	require.False(t, held)

	// Delete crypto-shreds: gone for good.
	require.NoError(t, v.Delete(ctx, "acme", "alice", ref))
	_, err = v.Retrieve(ctx, c, ref)
	require.ErrorIs(t, err, vault.ErrItemNotFound)
	require.ErrorIs(t, v.Delete(ctx, "acme", "alice", ref), vault.ErrItemNotFound)
	_, err = v.List(ctx, "acme", "nobody", vault.ItemRef{}, 0)
	require.ErrorIs(t, err, vault.ErrKeyNotFound)
}

func testBadInput(t *testing.T, b teststores.Backend) {
	v := openVault(t, b.Open(t), testkit.Keyring(t))
	c := newKey(t, v, "acme", "alice")
	big := `{"number":"4242424242424242","x":"` + strings.Repeat("a", vault.DefaultMaxItemSize) + `"}`
	for _, tc := range []struct {
		name string
		doc  string
		opts vault.TokenizeOptions
		want error
	}{
		{"no number", `{"cvv":"123"}`, vault.TokenizeOptions{}, vault.ErrNoNumber},
		{"array", `[{"number":"4242424242424242"}]`, vault.TokenizeOptions{}, vault.ErrInvalid},
		{"string", `"4242424242424242"`, vault.TokenizeOptions{}, vault.ErrInvalid},
		{"not JSON", `{"number":4242`, vault.TokenizeOptions{}, vault.ErrInvalid},
		{"duplicate key", `{"number":"4242424242424242","number":"5555555555554444"}`, vault.TokenizeOptions{}, vault.ErrInvalid},
		{"invalid UTF-8", "{\"number\":\"4242424242424242\",\"x\":\"\xff\"}", vault.TokenizeOptions{}, vault.ErrInvalid},
		{"number is an object", `{"number":{"a":1}}`, vault.TokenizeOptions{}, vault.ErrInvalid},
		{"number has symbols", `{"number":"4242/4242"}`, vault.TokenizeOptions{}, vault.ErrInvalid},
		{"too large", big, vault.TokenizeOptions{}, vault.ErrTooLarge},
		{"luhn fails", `{"number":"4242424242424241"}`, vault.TokenizeOptions{Algorithm: vault.AlgorithmLuhn}, vault.ErrInvalid},
		{"unknown algorithm", card, vault.TokenizeOptions{Algorithm: "sha1"}, vault.ErrInvalid},
		{"reference with NUL", card, vault.TokenizeOptions{Reference: "a\x00b"}, vault.ErrInvalid},
		{"field not allowed", card, vault.TokenizeOptions{AllowedFields: []string{"card_number"}}, vault.ErrFieldNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Tokenize(ctx, c, []byte(tc.doc), tc.opts)
			require.ErrorIs(t, err, tc.want)
			require.NotContains(t, err.Error(), "4242424242424242", "errors must not carry card numbers")
			require.NotContains(t, err.Error(), "424242")
		})
	}
	list, err := v.List(ctx, "acme", "alice", vault.ItemRef{}, 0)
	require.NoError(t, err)
	require.Empty(t, list, "nothing may be stored by a refused request")
	_, err = v.CreateKey(ctx, vault.Credentials{Owner: "acme"})
	require.ErrorIs(t, err, cardvault.ErrInvalid)
	_, err = v.CreateKey(ctx, vault.Credentials{User: strings.Repeat("u", 200)})
	require.ErrorIs(t, err, cardvault.ErrInvalid)
}

func testUpdate(t *testing.T, b teststores.Backend) {
	v := openVault(t, b.Open(t), testkit.Keyring(t))
	c := newKey(t, v, "acme", "alice")
	ref, err := v.Tokenize(ctx, c, []byte(`{"card_number":"4242424242424242","card_holder":"Ada","billing":{"zip":"1000","city":"Ghent"},"tags":["a","b"]}`), vault.TokenizeOptions{})
	require.NoError(t, err)

	ver, err := v.Update(ctx, c, ref, []byte(`{"cvv":"145","card_expiry":"06-2025","billing":{"zip":null,"country":"BE"},"tags":["c"],"card_number":"4242 4242 4242 4242"}`), vault.UpdateOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(2), ver)
	doc, err := v.Retrieve(ctx, c, ref)
	require.NoError(t, err)
	// The same number, spelled another way, is not a change of number.
	require.JSONEq(t, `{"card_number":"4242 4242 4242 4242","card_holder":"Ada","billing":{"city":"Ghent","country":"BE"},"tags":["c"],"cvv":"145","card_expiry":"06-2025"}`, string(doc))

	for _, tc := range []struct {
		name  string
		patch string
		opts  vault.UpdateOptions
		want  error
	}{
		{"another number", `{"card_number":"5555555555554444"}`, vault.UpdateOptions{}, vault.ErrNumberImmutable},
		{"removing the number", `{"card_number":null}`, vault.UpdateOptions{}, vault.ErrNumberImmutable},
		{"a different number in another field", `{"number":"5555555555554444"}`, vault.UpdateOptions{}, vault.ErrNumberImmutable},
		{"field outside the allow-list", `{"cvv":"1","card_holder":"Eve"}`, vault.UpdateOptions{AllowedFields: []string{"cvv"}}, vault.ErrFieldNotAllowed},
		{"stale version", `{"cvv":"1"}`, vault.UpdateOptions{IfVersion: 1}, vault.ErrVersion},
		{"not an object", `["cvv"]`, vault.UpdateOptions{}, vault.ErrInvalid},
		{"duplicate keys", `{"cvv":"1","cvv":"2"}`, vault.UpdateOptions{}, vault.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Update(ctx, c, ref, []byte(tc.patch), tc.opts)
			require.ErrorIs(t, err, tc.want)
			require.NotContains(t, err.Error(), "5555555555554444")
			after, err := v.Retrieve(ctx, c, ref)
			require.NoError(t, err)
			require.Equal(t, string(doc), string(after), "a refused update must change nothing")
		})
	}
	// The same number in another number field is fine, and an allowed update works.
	_, err = v.Update(ctx, c, ref, []byte(`{"number":"4242424242424242"}`), vault.UpdateOptions{})
	require.NoError(t, err)
	ver, err = v.Update(ctx, c, ref, []byte(`{"cvv":"999"}`), vault.UpdateOptions{AllowedFields: []string{"cvv"}, IfVersion: 3})
	require.NoError(t, err)
	require.Equal(t, uint64(4), ver)
	_, err = v.Update(ctx, c, vault.ItemRef{Token: ref.Token, Reference: "nope"}, []byte(`{"cvv":"1"}`), vault.UpdateOptions{})
	require.ErrorIs(t, err, vault.ErrItemNotFound)
}

func testConcurrentUpdates(t *testing.T, b teststores.Backend) {
	v := openVault(t, b.Open(t), testkit.Keyring(t))
	c := newKey(t, v, "acme", "alice")
	ref, err := v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{})
	require.NoError(t, err)
	const n = 32
	testkit.Concurrently(t, n, func(i int) error {
		_, err := v.Update(ctx, c, ref, fmt.Appendf(nil, `{"f%d":%d}`, i, i), vault.UpdateOptions{})
		return err
	})
	doc, err := v.Retrieve(ctx, c, ref)
	require.NoError(t, err)
	m := testkit.Object(t, doc)
	for i := range n {
		require.Contains(t, m, fmt.Sprintf("f%d", i), "update %d was lost", i)
	}
	ver, err := v.Update(ctx, c, ref, []byte(`{}`), vault.UpdateOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(n+2), ver, "every update got its own version")
}

// testAtRest stores known values and looks for them in everything the
// backend persisted: none may appear in clear.
func testAtRest(t *testing.T, b teststores.Backend) {
	st := b.Open(t)
	v := openVault(t, st, testkit.Keyring(t))
	c, err := v.CreateKey(ctx, vault.Credentials{Owner: "acme", User: "alice", Passphrase: "Sup3rSecretPassphraseForTheScan"})
	require.NoError(t, err)
	// A CVV is looked for as the JSON string it would be stored as: four
	// bare digits turn up by chance in the hex of tokens and ids.
	secrets := []string{
		"4111111111111111", "Grace Brewster Hopper", `"8675"`, "000123456789", "Sup3rSecretPassphraseForTheScan",
	}
	ref, err := v.Tokenize(ctx, c, []byte(`{"card_number":"4111111111111111","card_holder":"Grace Brewster Hopper","cvv":"8675"}`), vault.TokenizeOptions{})
	require.NoError(t, err)
	_, err = v.Tokenize(ctx, c, []byte(`{"account_number":"000123456789","account_holder":"Grace Brewster Hopper"}`), vault.TokenizeOptions{})
	require.NoError(t, err)
	_, err = v.Update(ctx, c, ref, []byte(`{"cvv":"8675"}`), vault.UpdateOptions{})
	require.NoError(t, err)

	raw := b.Raw(t, st)
	require.NotEmpty(t, raw)
	require.Contains(t, string(raw), ref.Token, "the scan must see what was stored (tokens are stored in clear)")
	testkit.RequireNoSecret(t, string(raw), secrets...)
	// Wrong passphrase reads nothing.
	_, err = v.Retrieve(ctx, vault.Credentials{Owner: "acme", User: "alice", Passphrase: "Sup3rSecretPassphraseForTheScaN"}, ref)
	require.ErrorIs(t, err, vault.ErrWrongKey)
}

func testRotation(t *testing.T, b teststores.Backend) {
	kr, path := testkit.KeyringFile(t)
	st := b.Open(t)
	v := openVault(t, st, kr)
	c := newKey(t, v, "acme", "alice")
	ref, err := v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{})
	require.NoError(t, err)

	rotated, err := crypto.RotateKeyringFile(path)
	require.NoError(t, err)
	v2 := openVault(t, st, rotated)
	changed, err := v2.RewrapMasterKey(ctx)
	require.NoError(t, err)
	require.True(t, changed)
	changed, err = v2.RewrapMasterKey(ctx)
	require.NoError(t, err)
	require.False(t, changed)

	// Only the new identity from here on: everything still opens, and
	// tokens are the same (the hash key did not change, only its wrapping).
	newOnly := testkit.CurrentOnly(t, path)
	require.Equal(t, rotated.Current(), newOnly.Current())
	v3 := openVault(t, st, newOnly)
	doc, err := v3.Retrieve(ctx, c, ref)
	require.NoError(t, err)
	require.JSONEq(t, card, string(doc))
	again, err := v3.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Reference: "again"})
	require.NoError(t, err)
	require.Equal(t, ref.Token, again.Token)

	// A store opened with an unrelated master key refuses to start.
	_, err = vault.Open(ctx, vault.Config{Store: st, Keyring: testkit.Keyring(t), WorkFactor: testWorkFactor})
	require.ErrorIs(t, err, crypto.ErrOpen)
}

func testGrants(t *testing.T, b teststores.Backend) {
	v := openVault(t, b.Open(t), testkit.Keyring(t))
	c := newKey(t, v, "acme", "alice")
	ref, err := v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Reference: "my-reference"})
	require.NoError(t, err)

	// Open grant: stores new items without the passphrase.
	open, err := v.GrantFor(ctx, c, nil)
	require.NoError(t, err)
	require.Nil(t, open.ItemKey)
	require.True(t, strings.HasPrefix(open.Recipient, "age1"))
	newRef, err := v.StoreForRecipient(ctx, "acme", "alice", open.Recipient, []byte(`{"card_number":"5555555555554444","cvv":"123"}`), vault.TokenizeOptions{})
	require.NoError(t, err)
	doc, err := v.Retrieve(ctx, c, newRef)
	require.NoError(t, err)
	require.JSONEq(t, `{"card_number":"5555555555554444","cvv":"123"}`, string(doc))
	// An item stored by a grant is re-wrapped under the KEK by the next update.
	_, err = v.Update(ctx, c, newRef, []byte(`{"cvv":"321"}`), vault.UpdateOptions{})
	require.NoError(t, err)
	doc, err = v.Retrieve(ctx, c, newRef)
	require.NoError(t, err)
	require.JSONEq(t, `{"card_number":"5555555555554444","cvv":"321"}`, string(doc))
	other := newKey(t, v, "acme", "bob")
	otherGrant, err := v.GrantFor(ctx, other, nil)
	require.NoError(t, err)
	_, err = v.StoreForRecipient(ctx, "acme", "alice", otherGrant.Recipient, []byte(card), vault.TokenizeOptions{})
	require.ErrorIs(t, err, vault.ErrWrongKey, "a recipient of another key must not write here")

	// Locked grant: merges into one item with its data key.
	_, err = v.GrantFor(ctx, c, &vault.ItemRef{Token: ref.Token, Reference: "nope"})
	require.ErrorIs(t, err, vault.ErrItemNotFound)
	locked, err := v.GrantFor(ctx, c, &ref)
	require.NoError(t, err)
	require.NotNil(t, locked.ItemKey)
	merged, ver, err := v.UpdateWithKey(ctx, "acme", "alice", ref, locked.ItemKey, []byte(`{"card_expiry":"06-2025","cvv":"145"}`), vault.UpdateOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(2), ver)
	require.JSONEq(t, `{"card_number":"4242424242424242","card_holder":"Ada Lovelace","card_expiry":"06-2025","cvv":"145"}`, string(merged))
	_, _, err = v.UpdateWithKey(ctx, "acme", "alice", ref, locked.ItemKey, []byte(`{"card_number":"5555555555554444"}`), vault.UpdateOptions{})
	require.ErrorIs(t, err, vault.ErrNumberImmutable)
	_, _, err = v.UpdateWithKey(ctx, "acme", "alice", ref, crypto.NewDataKey(), []byte(`{"cvv":"1"}`), vault.UpdateOptions{})
	require.ErrorIs(t, err, vault.ErrItemNotFound, "another key must not write the item")
	// Replacing the item invalidates the grant's key.
	_, err = v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{Reference: "my-reference"})
	require.NoError(t, err)
	_, _, err = v.UpdateWithKey(ctx, "acme", "alice", ref, locked.ItemKey, []byte(`{"cvv":"1"}`), vault.UpdateOptions{})
	require.ErrorIs(t, err, vault.ErrItemNotFound)
	// Deleting the key ends every grant.
	require.NoError(t, v.DeleteKey(ctx, "acme", "alice", false))
	_, err = v.StoreForRecipient(ctx, "acme", "alice", open.Recipient, []byte(card), vault.TokenizeOptions{})
	require.ErrorIs(t, err, vault.ErrWrongKey)
}

func TestErrorsWrapKinds(t *testing.T) {
	for _, err := range []error{vault.ErrWrongKey, vault.ErrKeyNotFound, vault.ErrKeyExists, vault.ErrKeyNotEmpty,
		vault.ErrItemNotFound, vault.ErrInvalid, vault.ErrNoNumber, vault.ErrNumberImmutable,
		vault.ErrFieldNotAllowed, vault.ErrTooLarge, vault.ErrVersion} {
		kinds := 0
		for _, k := range []error{cardvault.ErrInvalid, cardvault.ErrTooLarge, cardvault.ErrUnauthorized, cardvault.ErrForbidden,
			cardvault.ErrNotFound, cardvault.ErrConflict, cardvault.ErrExpired, cardvault.ErrLocked} {
			if errors.Is(err, k) {
				kinds++
			}
		}
		require.Equal(t, 1, kinds, "%v must wrap exactly one kind", err)
	}
}

// Every way into an item opens its data key the same way: a damaged one is
// the same error for each, and changes nothing.
func testDamagedItemKey(t *testing.T, b teststores.Backend) {
	st := b.Open(t)
	v := openVault(t, st, testkit.Keyring(t))
	c := newKey(t, v, "acme", "alice")
	ref, err := v.Tokenize(ctx, c, []byte(card), vault.TokenizeOptions{})
	require.NoError(t, err)
	require.NoError(t, vault.DamageItemKey(st, "acme", "alice", ref))
	damaged := func(err error) {
		t.Helper()
		require.ErrorIs(t, err, crypto.ErrOpen)
		require.ErrorContains(t, err, "vault: item key")
	}

	_, err = v.Retrieve(ctx, c, ref)
	damaged(err)
	_, _, err = v.RetrieveWithCVV(ctx, c, ref)
	damaged(err)
	_, err = v.Update(ctx, c, ref, []byte(`{"card_holder":"Ada"}`), vault.UpdateOptions{})
	damaged(err)
	require.NoError(t, vault.DamageItemKey(st, "acme", "alice", ref))
	_, err = v.Retrieve(ctx, c, ref)
	require.NoError(t, err, "undamaged again: the failed update changed nothing")
	require.NoError(t, vault.DamageItemKey(st, "acme", "alice", ref))
	_, err = v.GrantFor(ctx, c, &ref)
	damaged(err)
}
