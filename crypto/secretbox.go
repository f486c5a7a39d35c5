package crypto

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// SealWithSecret encrypts plaintext under a key derived from secret with
// HKDF-SHA-256, bound to context (for a capture grant: its id), and returns
// the ciphertext.
//
// This is how a capture grant carries what it needs to write to the vault —
// a record's DataKey, or a vault key's recipient — to whoever holds the
// grant's secret, and to nobody who holds only the database. HKDF, not
// scrypt, because the secret is high-entropy (see [NewSecret]); do not use
// this with a password.
func SealWithSecret(secret string, context, plaintext []byte) []byte {
	a := secretAEAD(secret, context)
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, 1+chacha20poly1305.NonceSizeX+len(plaintext)+a.Overhead())
	out[0] = versionSecretBox
	nonce := out[1:]
	rand.Read(nonce)
	return a.Seal(out, nonce, plaintext, secretAD(context))
}

// OpenWithSecret opens what SealWithSecret sealed with the same secret and
// context. A wrong secret or context gives an error wrapping ErrOpen.
func OpenWithSecret(secret string, context, sealed []byte) ([]byte, error) {
	const header = 1 + chacha20poly1305.NonceSizeX
	if len(sealed) < header+chacha20poly1305.Overhead || sealed[0] != versionSecretBox {
		return nil, fmt.Errorf("%w: not a secret-sealed value", ErrFormat)
	}
	pt, err := secretAEAD(secret, context).Open(nil, sealed[1:header], sealed[header:], secretAD(context))
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// secretAEAD is the cipher of a secret box: XChaCha20-Poly1305 under the
// key HKDF derives from secret and context. The derived key is cleared
// once the cipher holds its own copy.
func secretAEAD(secret string, context []byte) cipher.AEAD {
	key, err := hkdf.Key(sha256.New, []byte(secret), context, "cardvault secret box v1", chacha20poly1305.KeySize)
	if err != nil {
		panic("crypto: unreachable: " + err.Error()) // only for absurd lengths
	}
	defer clear(key)
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		panic("crypto: unreachable: " + err.Error()) // the key size is fixed
	}
	return a
}

// secretAD is a secret box's additional data: its version byte and
// context, so that neither can be changed without the box failing to open.
func secretAD(context []byte) []byte { return append([]byte{versionSecretBox}, context...) }

// SealKeyWithSecret is SealWithSecret for a DataKey: a locked capture grant
// carries its record's key this way, so that the key's bytes never leave
// this package.
func SealKeyWithSecret(secret string, context []byte, k *DataKey) []byte {
	return SealWithSecret(secret, context, k.key[:])
}

// OpenKeyWithSecret opens what SealKeyWithSecret sealed.
func OpenKeyWithSecret(secret string, context, sealed []byte) (*DataKey, error) {
	b, err := OpenWithSecret(secret, context, sealed)
	if err != nil {
		return nil, err
	}
	defer clear(b)
	return DataKeyFromBytes(b)
}
