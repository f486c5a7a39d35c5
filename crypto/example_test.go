package crypto_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/cardvault/cardvault/crypto"
)

// The whole hierarchy for one record that belongs to a vault key: a
// passphrase locks the key's identity, the identity wraps the key's KEK, the
// KEK wraps the record's data key, and the data key seals the record. Only
// the locked identity, the wrapped keys and the sealed record are stored.
func Example() {
	// Creating a vault key (once).
	vaultKey, _ := crypto.NewPassphraseKey()
	locked, _ := vaultKey.Lock("correct horse battery staple", 10) // stored
	kek := crypto.NewDataKey()
	wrappedKEK, _ := vaultKey.Wrap(kek) // stored

	// Storing a record.
	dk := crypto.NewDataKey()
	ad := []byte("vault.items/tok/ref") // where the record lives
	wrappedDK := kek.Wrap(dk, ad)       // stored
	sealed := dk.Seal([]byte(`{"card_number":"4242424242424242"}`), ad)

	// Reading it back later needs the passphrase.
	unlocked, err := crypto.UnlockPassphraseKey(locked, "correct horse battery staple", 10)
	if err != nil {
		panic(err)
	}
	kek2, _ := unlocked.Unwrap(wrappedKEK)
	dk2, _ := kek2.Unwrap(wrappedDK, ad)
	plain, _ := dk2.Open(sealed, ad)
	fmt.Println(string(plain))

	_, err = crypto.UnlockPassphraseKey(locked, "wrong", 10)
	fmt.Println(err)
	// Output:
	// {"card_number":"4242424242424242"}
	// crypto: ciphertext does not open with this key: unauthorized
}

// A capture grant carries a record's data key sealed under the grant's
// secret; the database holds only the box and the secret's hash.
func ExampleSealWithSecret() {
	secret := crypto.NewSecret() // handed to the browser, never stored
	hash := crypto.HashSecret(secret)
	dk := crypto.NewDataKey()
	id := dk.ID()
	box := crypto.SealWithSecret(secret, []byte("grant-id"), id[:]) // stored

	// A POST to the grant presents the secret.
	fmt.Println(hash.Verify(secret))
	_, err := crypto.OpenWithSecret(secret, []byte("grant-id"), box)
	fmt.Println(err)
	// Output:
	// true
	// <nil>
}

// The server's master key is an age identity file, created with 0600
// permissions on first start. It wraps keys, never records: a record is
// sealed by a data key, and what is stored is the wrapped key and the sealed
// record.
func ExampleCreateKeyringFile() {
	dir, err := os.MkdirTemp("", "cardvault")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	master, err := crypto.CreateKeyringFile(filepath.Join(dir, "master.key")) // 0600, refuses to overwrite
	if err != nil {
		log.Fatal(err)
	}
	kek := crypto.NewDataKey()
	wrapped, err := master.Wrap(kek) // stored; rotation re-wraps it, records stay as they are
	if err != nil {
		log.Fatal(err)
	}
	ad := []byte("where the record lives")
	sealed := kek.Seal([]byte(`{"card_number":"4242424242424242"}`), ad) // stored

	// Reading it back: unwrap the key, open the record in its place.
	back, err := master.Unwrap(wrapped)
	if err != nil {
		log.Fatal(err)
	}
	_, err = back.Open(sealed, ad)
	fmt.Println(err)
	_, err = back.Open(sealed, []byte("somewhere else"))
	fmt.Println(err)
	// Output:
	// <nil>
	// crypto: ciphertext does not open with this key: unauthorized
}
