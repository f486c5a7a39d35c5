package vault_test

import (
	"errors"
	"testing"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/vault"
)

// FuzzTokenizeUpdate stores and updates arbitrary documents. A request is
// either refused with an error of a known kind and changes nothing, or
// stored so that it reads back exactly.
func FuzzTokenizeUpdate(f *testing.F) {
	f.Add([]byte(card), []byte(`{"cvv":"1"}`))
	f.Add([]byte(`{"number":"4242"}`), []byte(`{"number":null}`))
	f.Add([]byte(`{"n":12345,"a":{"b":[1,2]}}`), []byte(`{"a":{"b":null,"c":true}}`))
	f.Add([]byte(`{"account_number":"DE89 3704 0044 0532 0130 00"}`), []byte(`{"account_number":"DE89370400440532013000"}`))
	f.Add([]byte(`[]`), []byte(`null`))
	st := memstore.New()
	v := openVault(f, st, testkit.Keyring(f))
	c := newKey(f, v, "acme", "fuzz")
	kinds := []error{cardvault.ErrInvalid, cardvault.ErrTooLarge, cardvault.ErrNotFound, cardvault.ErrConflict}
	known := func(err error) bool {
		for _, k := range kinds {
			if errors.Is(err, k) {
				return true
			}
		}
		return false
	}
	f.Fuzz(func(t *testing.T, doc, patch []byte) {
		ref, err := v.Tokenize(ctx, c, doc, vault.TokenizeOptions{Reference: "r"})
		if err != nil {
			if !known(err) {
				t.Fatalf("Tokenize: unexpected kind of error: %v", err)
			}
			return
		}
		got, err := v.Retrieve(ctx, c, ref)
		if err != nil || string(got) != string(doc) {
			t.Fatalf("Retrieve: %v, equal=%v", err, string(got) == string(doc))
		}
		if _, err := v.Update(ctx, c, ref, patch, vault.UpdateOptions{}); err != nil {
			if !known(err) {
				t.Fatalf("Update: unexpected kind of error: %v", err)
			}
			after, rerr := v.Retrieve(ctx, c, ref)
			if rerr != nil || string(after) != string(doc) {
				t.Fatalf("a refused update changed the item: %v", rerr)
			}
		}
	})
}
