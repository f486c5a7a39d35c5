package deployment_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/deployment"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/vault"
)

// Every service over one store, without HTTP: a card kept in the vault and
// read back.
func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cardvault-example")
	defer os.RemoveAll(dir)
	keyring, err := crypto.CreateKeyringFile(filepath.Join(dir, "master.key"))
	if err != nil {
		panic(err)
	}
	d, err := deployment.Open(ctx, deployment.Config{
		Store: memstore.New(), Keyring: keyring, Logger: quiet,
		WorkFactor: 10, // scrypt work factor; leave 0 (18) in production
	})
	if err != nil {
		panic(err)
	}
	d.Start(0) // the outbox's deliveries; 0: no sweeping
	defer d.Close()

	c, err := d.Vault.CreateKey(ctx, vault.Credentials{Owner: "merchant", User: "checkout"})
	if err != nil {
		panic(err)
	}
	ref, err := d.Vault.Tokenize(ctx, c, []byte(`{"number":"4111111111111111"}`), vault.TokenizeOptions{})
	if err != nil {
		panic(err)
	}
	doc, err := d.Vault.Retrieve(ctx, c, ref)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(doc))
	// Output:
	// {"number":"4111111111111111"}
}
