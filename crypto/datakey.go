package crypto

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeyID names a key without revealing it: the first 8 bytes of a
// domain-separated SHA-256 of the key (for a DataKey) or of the public key
// (for an age identity). Ciphertexts carry the id of the key that made them.
type KeyID [8]byte

func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

const (
	versionSealed    = 0x01
	versionAgeWrap   = 0x02
	versionSecretBox = 0x03

	// DataKeySize is the size of a DataKey in bytes.
	DataKeySize = chacha20poly1305.KeySize
	// sealedHeader is version + key id + nonce.
	sealedHeader = 1 + len(KeyID{}) + chacha20poly1305.NonceSizeX
	// SealOverhead is how much longer a sealed record is than its plaintext.
	SealOverhead = sealedHeader + chacha20poly1305.Overhead
)

// DataKey is a 256-bit symmetric key for XChaCha20-Poly1305. It seals
// records, and as a key-encryption key (KEK) it wraps other DataKeys.
//
// XChaCha20's 192-bit random nonces make it safe to seal any number of
// records under one key without a counter, which is what lets many
// processes share a key.
type DataKey struct {
	key [DataKeySize]byte
	id  KeyID
}

// NewDataKey returns a new random DataKey.
func NewDataKey() *DataKey {
	k := new(DataKey)
	rand.Read(k.key[:])
	k.id = dataKeyID(k.key[:])
	return k
}

// DataKeyFromBytes returns the DataKey whose bytes are b (which it copies).
func DataKeyFromBytes(b []byte) (*DataKey, error) {
	if len(b) != DataKeySize {
		return nil, fmt.Errorf("%w: data key is %d bytes, want %d", ErrFormat, len(b), DataKeySize)
	}
	k := new(DataKey)
	copy(k.key[:], b)
	k.id = dataKeyID(k.key[:])
	return k, nil
}

func dataKeyID(key []byte) KeyID {
	h := sha256.New()
	h.Write([]byte("cardvault data key id v1\x00"))
	h.Write(key)
	var id KeyID
	copy(id[:], h.Sum(nil))
	return id
}

// ID returns the key's id.
func (k *DataKey) ID() KeyID { return k.id }

// Seal encrypts and authenticates plaintext, binding it to ad (which is not
// stored: Open must be given the same ad). It returns a new slice.
func (k *DataKey) Seal(plaintext, ad []byte) []byte {
	out := make([]byte, sealedHeader, sealedHeader+len(plaintext)+chacha20poly1305.Overhead)
	out[0] = versionSealed
	copy(out[1:], k.id[:])
	nonce := out[1+len(k.id) : sealedHeader]
	rand.Read(nonce)
	return k.aead().Seal(out, nonce, plaintext, headerAD(out[:1+len(k.id)], ad))
}

// Open decrypts a ciphertext made by Seal with the same key and ad. It
// returns an error wrapping ErrOpen when the key or ad differ or the
// ciphertext was altered, and ErrFormat when it is not a sealed record.
func (k *DataKey) Open(sealed, ad []byte) ([]byte, error) {
	id, err := SealedKeyID(sealed)
	if err != nil {
		return nil, err
	}
	if id != k.id {
		return nil, fmt.Errorf("%w (sealed under key %s, not %s)", ErrOpen, id, k.id)
	}
	nonce := sealed[1+len(k.id) : sealedHeader]
	pt, err := k.aead().Open(nil, nonce, sealed[sealedHeader:], headerAD(sealed[:1+len(k.id)], ad))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// SealedKeyID returns the id of the key a sealed record (or a DataKey
// wrapped by a KEK) was made with, so that a caller holding several keys
// knows which to use.
func SealedKeyID(sealed []byte) (KeyID, error) {
	var id KeyID
	if len(sealed) < SealOverhead {
		return id, fmt.Errorf("%w: sealed record is %d bytes, shorter than its %d-byte overhead", ErrFormat, len(sealed), SealOverhead)
	}
	if sealed[0] != versionSealed {
		return id, fmt.Errorf("%w: sealed record has version %d, want %d", ErrFormat, sealed[0], versionSealed)
	}
	copy(id[:], sealed[1:])
	return id, nil
}

// Wrap seals inner (another DataKey) under k, bound to ad. k acts as a
// key-encryption key.
func (k *DataKey) Wrap(inner *DataKey, ad []byte) []byte {
	return k.Seal(inner.key[:], ad)
}

// Unwrap opens a DataKey wrapped by Wrap with the same ad.
func (k *DataKey) Unwrap(wrapped, ad []byte) (*DataKey, error) {
	b, err := k.Open(wrapped, ad)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return DataKeyFromBytes(b)
}

// Wipe zeroes the key. A wiped key seals and opens nothing useful; callers
// drop it after wiping. See the package caveats.
func (k *DataKey) Wipe() {
	clear(k.key[:])
}

// aead builds the cipher for one call. Keeping no long-lived cipher value
// means Wipe leaves no copy of the key behind in one; construction copies
// 32 bytes and costs nothing next to the AEAD itself.
func (k *DataKey) aead() interface {
	Seal(dst, nonce, plaintext, ad []byte) []byte
	Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
} {
	a, err := chacha20poly1305.NewX(k.key[:])
	if err != nil {
		panic("crypto: unreachable: " + err.Error()) // the key size is fixed
	}
	return a
}

// headerAD authenticates the stored header along with the caller's ad:
// length-prefixing the header keeps (header, ad) pairs unambiguous.
func headerAD(header, ad []byte) []byte {
	out := make([]byte, 0, 1+len(header)+len(ad))
	out = append(out, byte(len(header)))
	out = append(out, header...)
	return append(out, ad...)
}
