package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cardvault/cardvault/store/driver"
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
	ErrConflict = driver.ErrConflict
	// ErrCommitUnknown is returned by Update when the backend sent the
	// commit and then lost its connection to the storage, so that whether
	// the transaction took effect is not known (pgstore, when PostgreSQL
	// fails over or restarts during COMMIT). The caller cannot tell the
	// client yes or no; where the operation is idempotent under a key, the
	// client's retry with that key is safe.
	ErrCommitUnknown = driver.ErrCommitUnknown
	// ErrUnavailable is returned by View and Update when the backend could
	// not reach its storage and gave up retrying, before anything was
	// committed (pgstore, when no PostgreSQL server answers as a primary
	// for longer than its retries last). Trying again later may succeed.
	ErrUnavailable = driver.ErrUnavailable
	// ErrClosed is returned by every call on a store after Close.
	ErrClosed = errors.New("store: closed")
	// ErrReadOnly is returned by Put and Delete inside View.
	ErrReadOnly = errors.New("store: read-only transaction")
	// ErrInvalid is returned for a bucket name, key or value outside the
	// limits of the data model.
	ErrInvalid = errors.New("store: invalid argument")
	// errTxDone is returned by a Tx used after its function returned.
	errTxDone = errors.New("store: transaction used after its function returned")
)

// Store is a transactional ordered key/value store: the portable type over
// a backend's [driver.Store]. See the package documentation for the contract
// every backend keeps. It is safe for concurrent use.
type Store struct {
	d driver.Store

	mu       sync.RWMutex // guards closed against inflight.Add
	closed   bool
	inflight sync.WaitGroup

	closeOnce sync.Once
	closeErr  error

	commits, commitsUnknown atomic.Uint64
}

// New returns the Store over a backend. Backends call it from their Open;
// applications open a backend instead.
func New(d driver.Store) *Store {
	return &Store{d: d}
}

// Stats are a store's counters since it was opened.
type Stats struct {
	// Commits counts the Update calls that returned nil: each is one
	// durable commit the caller waited for (boltstore's group commit may
	// put several of them in one fsync, but each caller waits for one).
	Commits uint64
	// CommitsUnknown counts the Update calls that returned an error
	// wrapping ErrCommitUnknown: commits sent whose outcome the store
	// could not learn — a database failing over during COMMIT, or, with
	// pgstore's cardvault_min_standbys, a commit no standby confirmed. A
	// count that grows says writes are being answered "try again".
	CommitsUnknown uint64
}

// Stats returns the store's counters.
func (s *Store) Stats() Stats {
	return Stats{Commits: s.commits.Load(), CommitsUnknown: s.commitsUnknown.Load()}
}

// enter registers a call in flight, or reports that the store is closed.
func (s *Store) enter() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	s.inflight.Add(1)
	return nil
}

// View runs fn in a read-only transaction that sees a consistent snapshot
// of the store.
func (s *Store) View(ctx context.Context, fn func(Tx) error) error {
	_, err := s.run(ctx, false, fn)
	return err
}

// Update runs fn in a serializable read-write transaction and commits it
// when fn returns nil. fn may run more than once.
func (s *Store) Update(ctx context.Context, fn func(Tx) error) error {
	last, err := s.run(ctx, true, fn)
	if err != nil {
		if errors.Is(err, ErrCommitUnknown) {
			s.commitsUnknown.Add(1)
		}
		return err
	}
	s.commits.Add(1)
	for _, f := range last.onCommit {
		f()
	}
	return nil
}

// run runs fn in a transaction of the driver and returns the Tx of its last
// run (the one that committed, for an Update that returns nil).
func (s *Store) run(ctx context.Context, writable bool, fn func(Tx) error) (*tx, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := s.enter(); err != nil {
		return nil, err
	}
	defer s.inflight.Done()
	var last *tx
	run := func(dt driver.Tx) error {
		t := &tx{d: dt, writable: writable}
		last = t
		defer func() { t.done = true }()
		return fn(t)
	}
	if writable {
		return last, s.d.Update(ctx, run)
	}
	return last, s.d.View(ctx, run)
}

// OnCommit arranges for f to run once tx's Update has committed, after the
// commit and before Update returns; it does not run when the transaction
// rolls back, and only the run that committed counts when the backend ran
// the function more than once. It is for what must happen after, never
// inside, a transaction — waking a worker for a job the transaction
// queued. f must not block. OnCommit in a View is an error wrapping
// ErrReadOnly; on a Tx this package did not make, ErrInvalid.
func OnCommit(t Tx, f func()) error {
	pt, ok := t.(*tx)
	switch {
	case !ok:
		return fmt.Errorf("%w: OnCommit needs a Tx of package store", ErrInvalid)
	case pt.done:
		return errTxDone
	case !pt.writable:
		return ErrReadOnly
	}
	pt.onCommit = append(pt.onCommit, f)
	return nil
}

// Ping returns nil when a transaction could run now, an error wrapping
// [ErrClosed] after Close, and otherwise the reason the storage cannot be
// reached (for pgstore, the failed round trip). A server's readiness check
// calls it.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := s.enter(); err != nil {
		return err
	}
	defer s.inflight.Done()
	return s.d.Ping(ctx)
}

// Close releases the store. Transactions in flight finish first; later
// calls return ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.inflight.Wait()
		s.closeErr = s.d.Close()
	})
	return s.closeErr
}

// As sets target, a pointer to a backend's driver type, to the driver of s
// and reports whether it could: for tests and tools that need what only
// one backend has (memstore's Dump).
func (s *Store) As(target any) bool {
	return asDriver(s.d, target)
}

// Tx is a transaction; it is valid only inside the function it was given
// to. Package store implements it over a backend's driver.Tx.
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
type Range = driver.Range

// Keys returns the keys of bucket within r, in order: for a transaction
// that first finds what to change and then changes it.
func Keys(tx Tx, bucket string, r Range) ([][]byte, error) {
	var keys [][]byte
	err := tx.Scan(bucket, r, func(k, _ []byte) error {
		keys = append(keys, k)
		return nil
	})
	return keys, err
}

// Prefix returns the Range of all keys that begin with p.
func Prefix(p []byte) Range {
	return Range{Start: p, End: PrefixEnd(p)}
}

// PageAfter returns the Range of a listing's page: up to limit keys that
// begin with prefix and come after the key last (the last one of the page
// before), or from the first such key when last is nil.
func PageAfter(prefix, last []byte, limit int) Range {
	start := prefix
	if last != nil {
		// The smallest key after last.
		start = append(last[:len(last):len(last)], 0)
	}
	return Range{Start: start, End: PrefixEnd(prefix), Limit: limit}
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

// tx is the portable Tx: it checks every argument and the transaction's
// state, then calls the driver.
type tx struct {
	d        driver.Tx
	writable bool
	done     bool
	onCommit []func()
}

var _ Tx = (*tx)(nil)

func (t *tx) check(bucket string) error {
	if t.done {
		return errTxDone
	}
	return CheckBucket(bucket)
}

func (t *tx) checkKey(bucket string, key []byte, write bool) error {
	if err := t.check(bucket); err != nil {
		return err
	}
	if err := CheckKey(key); err != nil {
		return err
	}
	if write && !t.writable {
		return ErrReadOnly
	}
	return nil
}

func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	if err := t.checkKey(bucket, key, false); err != nil {
		return nil, err
	}
	v, ok, err := t.d.Get(bucket, key)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	return v, nil
}

func (t *tx) Put(bucket string, key, value []byte) error {
	if err := t.checkKey(bucket, key, true); err != nil {
		return err
	}
	if err := CheckValue(value); err != nil {
		return err
	}
	return t.d.Put(bucket, key, value)
}

func (t *tx) Delete(bucket string, key []byte) error {
	if err := t.checkKey(bucket, key, true); err != nil {
		return err
	}
	return t.d.Delete(bucket, key)
}

func (t *tx) Scan(bucket string, r Range, fn func(key, value []byte) error) error {
	if err := t.check(bucket); err != nil {
		return err
	}
	return t.d.Scan(bucket, r, func(k, v []byte) error {
		if t.done {
			return errTxDone
		}
		return fn(k, v)
	})
}

// CheckBucket returns an error wrapping ErrInvalid unless name is a valid
// bucket name. Every Tx call checks its arguments with it (and with
// CheckKey, CheckValue), so that every backend refuses the same input in
// the same words; callers may check ahead of a transaction.
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
