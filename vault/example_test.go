package vault_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/vault"
)

// Store a card under a vault key, update it under the merge rules, read it
// back.
func Example() {
	ctx := context.Background()
	master, err := crypto.NewKeyring() // in memory, like the store; a lasting one is a file (crypto.CreateKeyringFile)
	if err != nil {
		log.Fatal(err)
	}
	v, err := vault.Open(ctx, vault.Config{Store: memstore.New(), Keyring: master, WorkFactor: 10})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()

	key, err := v.CreateKey(ctx, vault.Credentials{User: "test-user", Passphrase: "ALongAndVerySecretPassphraseThatIsSuperSecure"})
	if err != nil {
		log.Fatal(err)
	}
	ref, err := v.Tokenize(ctx, key, []byte(`{"card_number":"4111111111111111","card_expiry":"06-2024","cvv":"123"}`),
		vault.TokenizeOptions{Reference: "my-reference"})
	if err != nil {
		log.Fatal(err)
	}

	// A new expiry and CVV merge in; the card number cannot change.
	_, err = v.Update(ctx, key, ref, []byte(`{"card_expiry":"06-2025","cvv":"145"}`), vault.UpdateOptions{})
	fmt.Println(err)
	_, err = v.Update(ctx, key, ref, []byte(`{"card_number":"5555555555554444"}`), vault.UpdateOptions{})
	fmt.Println(err)

	doc, err := v.Retrieve(ctx, key, ref)
	if err != nil {
		log.Fatal(err)
	}
	var card map[string]string
	if err := json.Unmarshal(doc, &card); err != nil {
		log.Fatal(err)
	}
	fmt.Println(ref.Reference, card["card_expiry"])
	// Output:
	// <nil>
	// vault: the tokenized number cannot change: invalid input (card_number differs)
	// my-reference 06-2025
}
