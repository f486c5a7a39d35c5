package crypto_test

import (
	"strings"
	"testing"

	"github.com/cardvault/cardvault/crypto"
)

// FuzzOpen feeds arbitrary bytes to every function that parses a
// ciphertext: none may panic, and none may accept a forgery.
func FuzzOpen(f *testing.F) {
	k, _ := crypto.DataKeyFromBytes(make([]byte, 32))
	kr, err := crypto.ParseKeyring(strings.NewReader(
		"AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX\n"))
	if err != nil {
		f.Fatal(err)
	}
	valid := k.Seal([]byte("hello"), []byte("ad"))
	wrapped, _ := kr.Wrap(k)
	f.Add(valid)
	f.Add(wrapped)
	f.Add(crypto.SealWithSecret("s", []byte("c"), []byte("x")))
	f.Add([]byte{1})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if pt, err := k.Open(data, []byte("ad")); err == nil && string(data) != string(valid) {
			// A different ciphertext that opens is fine only if it is
			// another honest seal; the fuzzer cannot make one.
			t.Fatalf("forged ciphertext opened to %d bytes", len(pt))
		}
		_, _ = k.Unwrap(data, nil)
		_, _ = crypto.SealedKeyID(data)
		_, _ = crypto.WrappedBy(data)
		_, _ = kr.Unwrap(data)
		_, _ = crypto.OpenWithSecret("s", []byte("c"), data)
		_, _ = crypto.UnlockPassphraseKey(data, "p", 10)
		_, _ = crypto.ParseSecretHash(data)
		_, _ = crypto.ParseKeyring(strings.NewReader(string(data)))
	})
}
