package store

import (
	"context"
	"errors"
	"fmt"
)

// Limits every backend enforces, so that data that fits one fits all.
const (
	MaxBucketLen = 64
	MaxKeySize   = 1024
	MaxValueSize = 16 << 20
)

var (
	// ErrNotFound is returned by Get for a key that is not in the bucket.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned by Update when the backend could not commit
	// the transaction because of concurrent transactions, after retrying.
	ErrConflict = errors.New("store: conflict with a concurrent transaction")
	// ErrClosed is returned by every call on a store after Close.
	ErrClosed = errors.New("store: closed")
	// ErrReadOnly is returned by Put and Delete inside View.
	ErrReadOnly = errors.New("store: read-only transaction")
	// ErrInvalid is returned for a bucket name, key or value outside the
	// limits of the data model.
	ErrInvalid = errors.New("store: invalid argument")
)

// Store is a transactional ordered key/value store. See the package
// documentation for the contract every implementation keeps.
type Store interface {
	// View runs fn in a read-only transaction that sees a consistent
	// snapshot of the store.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a serializable read-write transaction and commits
	// it when fn returns nil. fn may run more than once.
	Update(ctx context.Context, fn func(Tx) error) error
	// Close releases the store. Transactions in flight finish first; later
	// calls return ErrClosed. Close is idempotent.
	Close() error
}

// Pinger is implemented by stores that can tell whether their backing
// storage is reachable right now — a server's readiness check calls Ping
// when its store implements it. Ping returns nil when a transaction could
// run, an error wrapping [ErrClosed] after Close, and otherwise the reason
// the storage cannot be reached (for pgstore, the failed round trip).
type Pinger interface {
	Ping(ctx context.Context) error
}

// Tx is a transaction; it is valid only inside the function it was given to.
type Tx interface {
	// Get returns the value of key, or an error wrapping ErrNotFound.
	Get(bucket string, key []byte) ([]byte, error)
	// Put sets key to value, creating the bucket if needed.
	Put(bucket string, key, value []byte) error
	// Delete removes key. Deleting a missing key is not an error.
	Delete(bucket string, key []byte) error
	// Scan calls fn for the keys of bucket within r, in order, until fn
	// returns an error (which Scan returns) or r.Limit keys were visited.
	Scan(bucket string, r Range, fn func(key, value []byte) error) error
}

// Range selects the keys Start <= key < End of a bucket. A nil Start means
// from the first key, a nil End means to the last. Reverse visits them from
// the last down. Limit > 0 stops after that many keys.
type Range struct {
	Start   []byte
	End     []byte
	Reverse bool
	Limit   int
}

// Prefix returns the Range of all keys that begin with p.
func Prefix(p []byte) Range {
	return Range{Start: p, End: PrefixEnd(p)}
}

// PrefixEnd returns the smallest key greater than every key that begins with
// p, or nil when there is none (p is empty or all 0xff).
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// CheckBucket returns an error wrapping ErrInvalid unless name is a valid
// bucket name. Backends call it (and CheckKey, CheckValue) so that every
// backend refuses the same input in the same words.
func CheckBucket(name string) error {
	if len(name) == 0 || len(name) > MaxBucketLen {
		return fmt.Errorf("%w: bucket name must be 1-%d bytes, got %d", ErrInvalid, MaxBucketLen, len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("%w: bucket name byte %d is not in [a-z0-9_.-]", ErrInvalid, i)
		}
	}
	return nil
}

// CheckKey returns an error wrapping ErrInvalid unless key is a valid key.
func CheckKey(key []byte) error {
	if len(key) == 0 || len(key) > MaxKeySize {
		return fmt.Errorf("%w: key must be 1-%d bytes, got %d", ErrInvalid, MaxKeySize, len(key))
	}
	return nil
}

// CheckValue returns an error wrapping ErrInvalid unless value fits.
func CheckValue(value []byte) error {
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: value must be at most %d bytes, got %d", ErrInvalid, MaxValueSize, len(value))
	}
	return nil
}
