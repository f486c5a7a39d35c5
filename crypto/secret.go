package crypto

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"

	"github.com/cardvault/cardvault"
)

var (
	// ErrOpen is returned when a ciphertext does not open: the key is
	// wrong, the additional data differs, or the ciphertext was altered.
	// The three are indistinguishable on purpose.
	ErrOpen = fmt.Errorf("crypto: ciphertext does not open with this key: %w", cardvault.ErrUnauthorized)
	// ErrFormat is returned for a ciphertext or key that is not in one of
	// this package's formats.
	ErrFormat = fmt.Errorf("crypto: malformed ciphertext or key: %w", cardvault.ErrInvalid)
)

// SecretLen is the length of a secret made by [NewSecret]: 64 URL-safe
// characters, 384 bits of entropy. (64 characters is what clients of the
// vault/capture API expect; 256 bits would be enough.)
const SecretLen = 64

const secretBytes = SecretLen * 6 / 8

// NewSecret returns a new random secret of [SecretLen] characters from the
// URL-safe base64 alphabet, fit for a URL, a header or a form field.
func NewSecret() string {
	var b [secretBytes]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// NewID returns a random identifier of n bytes of entropy in URL-safe
// base64 (no padding): 16 bytes give 22 characters. IDs are not secrets, but
// being unguessable they leak nothing about how many others exist.
func NewID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// SecretHash is what is stored in place of a secret: a domain-separated
// SHA-256 of it. A fast hash is right here, unlike for passwords, because a
// secret from [NewSecret] has 384 bits of entropy: nothing can be guessed.
type SecretHash [32]byte

// HashSecret returns the hash stored for secret.
func HashSecret(secret string) SecretHash {
	h := sha256.New()
	h.Write([]byte("cardvault secret hash v1\x00"))
	h.Write([]byte(secret))
	var out SecretHash
	h.Sum(out[:0])
	return out
}

// Verify reports, in constant time, whether secret hashes to h.
func (h SecretHash) Verify(secret string) bool {
	got := HashSecret(secret)
	return subtle.ConstantTimeCompare(got[:], h[:]) == 1
}

// ParseSecretHash reads a SecretHash back from its bytes.
func ParseSecretHash(b []byte) (SecretHash, error) {
	var h SecretHash
	if len(b) != len(h) {
		return h, fmt.Errorf("%w: secret hash is %d bytes, want %d", ErrFormat, len(b), len(h))
	}
	copy(h[:], b)
	return h, nil
}

// Equal reports, in constant time, whether a and b are equal. Use it for
// every comparison that involves a secret.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

// EqualString is Equal for strings.
func EqualString(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
