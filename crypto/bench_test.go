package crypto_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/cardvault/cardvault/crypto"
)

// record is the size of the seed's secure token (about 1.3 KB).
var record = bytes.Repeat([]byte("x"), 1300)

func BenchmarkSeal(b *testing.B) {
	k := crypto.NewDataKey()
	ad := []byte("bucket/key")
	b.SetBytes(int64(len(record)))
	b.ReportAllocs()
	for b.Loop() {
		k.Seal(record, ad)
	}
}

func BenchmarkOpen(b *testing.B) {
	k := crypto.NewDataKey()
	ad := []byte("bucket/key")
	sealed := k.Seal(record, ad)
	b.SetBytes(int64(len(record)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Open(sealed, ad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecordKeyUnwrapOpen is the hot path of reading one record with
// a warm KEK: unwrap its DataKey, then open it.
func BenchmarkRecordKeyUnwrapOpen(b *testing.B) {
	kek := crypto.NewDataKey()
	dk := crypto.NewDataKey()
	w := kek.Wrap(dk, []byte("id"))
	sealed := dk.Seal(record, []byte("id"))
	b.ReportAllocs()
	for b.Loop() {
		k, err := kek.Unwrap(w, []byte("id"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.Open(sealed, []byte("id")); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAgeWrap(b *testing.B) {
	x25519, err := crypto.ParseKeyring(strings.NewReader(
		"AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX\n"))
	if err != nil {
		b.Fatal(err)
	}
	hybrid, err := crypto.CreateKeyringFile(b.TempDir() + "/k")
	if err != nil {
		b.Fatal(err)
	}
	dk := crypto.NewDataKey()
	for _, c := range []struct {
		name string
		kr   *crypto.Keyring
	}{{"x25519", x25519}, {"hybrid", hybrid}} {
		w, _ := c.kr.Wrap(dk)
		b.Run(c.name+"/wrap", func(b *testing.B) {
			for b.Loop() {
				if _, err := c.kr.Wrap(dk); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/unwrap", func(b *testing.B) {
			for b.Loop() {
				if _, err := c.kr.Unwrap(w); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHasher(b *testing.B) {
	h, _ := crypto.NewHasher(make([]byte, 32))
	n := []byte("4242424242424242")
	b.ReportAllocs()
	for b.Loop() {
		h.Sum("token", n)
	}
}

// BenchmarkUnlock shows what one passphrase check costs at a low work
// factor; each step of the work factor doubles it (18 is the default).
func BenchmarkUnlock(b *testing.B) {
	k, _ := crypto.NewPassphraseKey()
	locked, _ := k.Lock("passphrase", 12)
	for b.Loop() {
		if _, err := crypto.UnlockPassphraseKey(locked, "passphrase", 12); err != nil {
			b.Fatal(err)
		}
	}
}
