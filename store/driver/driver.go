// Package driver defines the interface a storage backend implements to be a
// [github.com/cardvault/cardvault/store.Store], in the manner of gocloud.dev's
// blob/driver: package store wraps a driver in its portable type, which checks
// arguments, keeps the closed state, counts commits and wraps errors once, so
// that a driver only stores.
//
// Application code never uses this package: it takes a *store.Store. A
// backend author implements [Store] and [Tx], returns store.New(driver) from
// its Open, and runs the conformance suite of
// [github.com/cardvault/cardvault/store/storetest].
//
// # What a driver may assume
//
// The portable type calls a driver only with valid arguments: bucket names of
// 1 to 64 bytes of [a-z0-9_.-], keys of 1 to 1024 bytes, values of at most
// 16 MiB (the limits of package store). It never calls Put or Delete on a
// [Tx] of View, never uses a Tx after the function it was given to has
// returned, never calls View, Update or Ping after Close, and calls Close
// once, after every View, Update and Ping has returned.
//
// # What a driver must do
//
// View and Update run fn in a transaction as package store documents them:
// serializable, atomic (fn's error or panic rolls back every write of that
// run), durable when Update returns nil. A driver may run fn more than once
// for one call (a retry after a serialization failure); it returns an error
// wrapping [ErrConflict] when it gives up, and one wrapping
// [ErrCommitUnknown] when the commit was sent but its outcome could not be
// learnt, and one wrapping [ErrUnavailable] when it gave up reaching its
// storage before a commit was sent. A context that is done before the commit rolls the transaction back.
// Slices returned by Get and passed to a Scan callback belong to the caller,
// and slices given to Put may be reused by the caller once Put returns.
package driver

import (
	"context"
	"errors"
)

// Errors a driver returns (wrapped); package store exports them under the
// same names.
var (
	// ErrConflict: the driver could not commit because of concurrent
	// transactions, after retrying.
	ErrConflict = errors.New("store: conflict with a concurrent transaction")
	// ErrCommitUnknown: the commit was sent, and then the connection to the
	// storage failed, so whether the transaction took effect is not known.
	// It is not retried: running fn again could apply it twice.
	ErrCommitUnknown = errors.New("store: the outcome of the commit is unknown")
	// ErrUnavailable: the storage could not be reached, and the driver
	// gave up retrying; nothing was committed. Trying again later may
	// succeed.
	ErrUnavailable = errors.New("store: the storage cannot be reached")
)

// Store is a backend.
type Store interface {
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Update runs fn in a read-write transaction and commits it when fn
	// returns nil.
	Update(ctx context.Context, fn func(Tx) error) error
	// Ping reports whether the storage can be reached now.
	Ping(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

// Tx is a transaction of a backend.
type Tx interface {
	// Get returns the value of key and true, or false when the bucket
	// holds no such key.
	Get(bucket string, key []byte) ([]byte, bool, error)
	// Put sets key to value, creating the bucket if needed.
	Put(bucket string, key, value []byte) error
	// Delete removes key; a missing key is not an error.
	Delete(bucket string, key []byte) error
	// Scan calls fn for the keys of bucket within r, in order, until fn
	// returns an error (which Scan returns) or r.Limit keys were visited.
	// fn may Put or Delete the key it visits (in an Update), and the scan
	// goes on with the next key.
	Scan(bucket string, r Range, fn func(key, value []byte) error) error
}

// Range selects the keys Start <= key < End of a bucket; see store.Range.
type Range struct {
	Start   []byte
	End     []byte
	Reverse bool
	Limit   int
}
