package crypto

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sync"
	"sync/atomic"
)

// Hasher computes keyed hashes (HMAC-SHA-256) under a deployment secret:
// deterministic tokens of card numbers, fingerprints, and blind indexes of
// searchable fields (email, phone, name).
//
// A plain hash of a card number is no protection — a 16-digit number with a
// known prefix and a check digit is brute-forced in seconds — so anything
// derived from sensitive data and stored in the clear is keyed. Each use
// takes a label, and the key for each label is derived separately, so that
// a token can never be mistaken for an index entry of another field.
type Hasher struct {
	key [32]byte

	// labels keeps, per label, the label's HMAC already keyed: a state no
	// one writes, which New clones. Deriving the label's key and keying
	// the HMAC is six SHA-256 blocks and nine allocations more than the
	// message itself, and every create, look-up and capture hashes under
	// the same few labels. At most maxLabels are kept (labels that name
	// an account are many); the rest are derived each time.
	labels  sync.Map // label → hash.Cloner
	nlabels atomic.Int32
}

const maxLabels = 256

// NewHasher returns a Hasher under key, which must be 32 bytes of secret
// random data (see [DataKey] for one way to keep it: wrapped by the master
// Keyring).
func NewHasher(key []byte) (*Hasher, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("%w: hash key is %d bytes, want 32", ErrFormat, len(key))
	}
	h := new(Hasher)
	copy(h.key[:], key)
	return h, nil
}

// Sum returns the keyed hash of data for label.
func (h *Hasher) Sum(label string, data []byte) [32]byte {
	m := h.New(label)
	m.Write(data)
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// New returns the keyed hash of label as a hash.Hash, whose Sum over some
// data is Sum(label, data): for a caller that hashes many messages under
// one label (Reset between them, which keeps the label's key schedule), or
// one message in pieces. It is not safe for concurrent use.
func (h *Hasher) New(label string) hash.Hash {
	if p, ok := h.labels.Load(label); ok {
		if m, err := p.(hash.Cloner).Clone(); err == nil {
			return m
		}
	}
	m := h.derive(label)
	if c, ok := m.(hash.Cloner); ok && h.nlabels.Load() < maxLabels {
		if p, err := c.Clone(); err == nil {
			if _, had := h.labels.LoadOrStore(label, p); !had {
				h.nlabels.Add(1)
			}
		}
	}
	return m
}

// derive keys a new HMAC for label: HMAC(HMAC(k, label), data).
func (h *Hasher) derive(label string) hash.Hash {
	lk := hmac.New(sha256.New, h.key[:])
	lk.Write([]byte(label))
	var sub [32]byte
	lk.Sum(sub[:0])
	m := hmac.New(sha256.New, sub[:])
	clear(sub[:])
	return m
}

// Hex returns Sum as 64 lowercase hexadecimal characters.
func (h *Hasher) Hex(label string, data []byte) string {
	s := h.Sum(label, data)
	return hex.EncodeToString(s[:])
}

// Wipe zeroes the key and forgets the labels' keyed states. A Hasher is
// not used after Wipe.
func (h *Hasher) Wipe() {
	clear(h.key[:])
	h.labels.Clear()
}

// NewHasherFromKey returns a Hasher keyed by k's bytes, for a hash key kept
// as a DataKey wrapped by the master Keyring.
func NewHasherFromKey(k *DataKey) *Hasher {
	h := new(Hasher)
	h.key = k.key
	return h
}
