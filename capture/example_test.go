package capture_test

import (
	"context"
	"fmt"
	"log"

	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/vault"
)

// A capture endpoint locked to a stored card: whoever holds the grant's id
// and secret may post to it, and what they post is merged into the card —
// without the vault key's passphrase.
func Example() {
	ctx := context.Background()
	master, err := crypto.NewKeyring() // in memory, like the store; a lasting one is a file (crypto.CreateKeyringFile)
	if err != nil {
		log.Fatal(err)
	}
	s := memstore.New()
	v, err := vault.Open(ctx, vault.Config{Store: s, Keyring: master, WorkFactor: 10})
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	key, err := v.CreateKey(ctx, vault.Credentials{User: "test-user", Passphrase: "ALongAndVerySecretPassphraseThatIsSuperSecure"})
	if err != nil {
		log.Fatal(err)
	}
	ref, err := v.Tokenize(ctx, key, []byte(`{"card_number":"4111111111111111"}`), vault.TokenizeOptions{Reference: "order-1001"})
	if err != nil {
		log.Fatal(err)
	}

	svc, err := capture.New(capture.Config{Store: s, Vault: v})
	if err != nil {
		log.Fatal(err)
	}
	defer svc.Close()
	g, err := svc.CreateGrant(ctx, capture.GrantRequest{Credentials: key, TTL: "PT10M", Lock: &ref})
	if err != nil {
		log.Fatal(err)
	}
	// Hand g.ID and g.Secret to the browser; what it posts is merged into the card:
	res, err := svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"145"}`))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.User, res.Item.Reference)
	_, err = svc.Redeem(ctx, g.ID, "a-wrong-secret", []byte(`{"cvv":"999"}`))
	fmt.Println(err)
	// Output:
	// test-user order-1001
	// capture: wrong secret: unauthorized
}
