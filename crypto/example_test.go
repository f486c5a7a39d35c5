package crypto_test

import (
	"fmt"
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
// permissions on first start.
func ExampleCreateKeyringFile() {
	dir, _ := os.MkdirTemp("", "cardvault")
	defer os.RemoveAll(dir)
	kr, _ := crypto.CreateKeyringFile(filepath.Join(dir, "master.key"))
	kek := crypto.NewDataKey()
	wrapped, _ := kr.Wrap(kek)
	back, _ := kr.Unwrap(wrapped)
	fmt.Println(back.ID() == kek.ID())
	// Output: true
}
