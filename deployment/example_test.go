package deployment_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/deployment"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/vault"
)

// Every service over one store, without HTTP: a card kept in the vault, and
// a master-key rotation that re-wraps keys and leaves the card as it is.
func ExampleOpen() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "cardvault-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "master.key")
	master, err := crypto.CreateKeyringFile(path)
	if err != nil {
		log.Fatal(err)
	}
	s := memstore.New()
	d, err := deployment.Open(ctx, deployment.Config{Store: s, Keyring: master,
		WorkFactor: 10, // scrypt work factor; leave 0 (18) in production
	})
	if err != nil {
		log.Fatal(err)
	}
	d.Start(time.Minute) // outbox deliveries, and the expiry sweeper every minute
	key, err := d.Vault.CreateKey(ctx, vault.Credentials{Owner: "merchant", User: "checkout"})
	if err != nil {
		log.Fatal(err)
	}
	ref, err := d.Vault.Tokenize(ctx, key, []byte(`{"card_number":"4111111111111111"}`), vault.TokenizeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	if err := d.Close(); err != nil {
		log.Fatal(err)
	}

	// A master-key rotation: a new identity in the file, a restart, one re-wrap.
	master, err = crypto.RotateKeyringFile(path)
	if err != nil {
		log.Fatal(err)
	}
	d, err = deployment.Open(ctx, deployment.Config{Store: s, Keyring: master})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close()
	n, err := d.RewrapMasterKey(ctx) // every wrapped key, no record
	if err != nil {
		log.Fatal(err)
	}
	_, err = d.Vault.Retrieve(ctx, key, ref)
	fmt.Println(n, "keys re-wrapped; the card opens:", err == nil)
	// Output: 5 keys re-wrapped; the card opens: true
}
