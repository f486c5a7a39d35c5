package vault_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/vault"
)

// Store a card under a vault key, update it under the merge rules, read it
// back.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cardvault")
	defer os.RemoveAll(dir)
	master, _ := crypto.CreateKeyringFile(filepath.Join(dir, "master.key"))

	v, err := vault.Open(ctx, vault.Config{Store: memstore.New(), Keyring: master, WorkFactor: 10})
	if err != nil {
		panic(err)
	}
	defer v.Close()

	key, _ := v.CreateKey(ctx, vault.Credentials{User: "test-user", Passphrase: "ALongAndVerySecretPassphraseThatIsSuperSecure"})
	ref, _ := v.Tokenize(ctx, key, []byte(`{"card_number":"4111111111111111","card_holder":"Ada Lovelace","card_expiry":"06-2024"}`),
		vault.TokenizeOptions{Reference: "my-reference"})
	fmt.Println(len(ref.Token), ref.Reference)

	// A new expiry and a CVV merge in; the card number cannot change.
	_, err = v.Update(ctx, key, ref, []byte(`{"card_expiry":"06-2025","cvv":"145"}`), vault.UpdateOptions{})
	fmt.Println(err)
	_, err = v.Update(ctx, key, ref, []byte(`{"card_number":"5555555555554444"}`), vault.UpdateOptions{})
	fmt.Println(err)

	doc, _ := v.Retrieve(ctx, key, ref)
	fmt.Println(string(doc))
	// Output:
	// 64 my-reference
	// <nil>
	// vault: the tokenized number cannot change: invalid input (card_number differs)
	// {"card_number":"4111111111111111","card_holder":"Ada Lovelace","card_expiry":"06-2025","cvv":"145"}
}
