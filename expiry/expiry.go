// Package expiry is cardvault's one expiry index and its one sweeper.
//
// Expiry is data, not a backend feature (see package store): what lives for
// a bounded time — capture grants and their tombstones, single-use tokens,
// idempotency records, lockout counters, dead-lettered outbox jobs, audit
// entries past their retention — records its expiry with [Set] in the
// transaction that writes it, and checks its own expires_at when it is read,
// so that something past its time is never used even before it is swept.
// A [Sweeper] then removes what has expired, in batches, in any number of
// processes sharing a store.
//
// # The index
//
// One bucket, [Bucket], holds one entry per thing that expires, keyed by
//
//	big-endian unix nanoseconds of the expiry ‖ kind ‖ 0x00 ‖ key
//
// so that the entries due first come first, and a new entry lands at the
// end of the B-tree (the pages a commit dirties are few). The kind names
// what expires ("capture.grant", "idempotency", ...): 1 to 64 bytes, no
// NUL. The key is the thing's own store key, as its package chooses.
//
// # Sweeping
//
// Each kind has a [Func], registered once with [Handle] (a package does it
// in its init), which the sweeper calls inside the transaction that removes
// the index entry: it deletes the thing if it is still the one that expired
// at that time — a grant id may have been deleted and created again since,
// with an entry of its own. A thing that is one value of a bucket gets its
// Func from [RemoveValue]. An entry whose kind has no Func in this process
// (written by a newer version, say) is left alone.
package expiry

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/cardvault/cardvault/store"
)

// Bucket is the store bucket of the index.
const Bucket = "expiry"

// BatchSize is how many entries one sweeping transaction removes at most.
const BatchSize = 256

// DefaultEvery is how often Run sweeps unless told otherwise.
const DefaultEvery = time.Minute

// A Func removes the thing of its kind stored under key, which expired at
// at, inside tx — unless the thing under key is no longer the one that
// entry was written for. It reports whether it removed something.
type Func func(tx store.Tx, key []byte, at time.Time) (bool, error)

// RemoveValue is the Func of a kind whose thing is the value under key in
// bucket: it deletes the value if expiredAt, given it, reports that it is
// still the one that expired at at. A key without a value has nothing to
// remove.
func RemoveValue(bucket string, expiredAt func(value []byte, at time.Time) bool) Func {
	return func(tx store.Tx, key []byte, at time.Time) (bool, error) {
		v, err := tx.Get(bucket, key)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if !expiredAt(v, at) {
			return false, nil // the key holds a newer thing now
		}
		return true, tx.Delete(bucket, key)
	}
}

var (
	mu    sync.RWMutex
	kinds = map[string]Func{}
)

// Handle registers fn for kind; a package calls it in its init for each
// kind it writes. Registering a kind twice panics.
func Handle(kind string, fn Func) {
	if err := checkKind(kind); err != nil {
		panic(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := kinds[kind]; dup {
		panic("expiry: kind " + kind + " registered twice")
	}
	kinds[kind] = fn
}

func handler(kind string) Func {
	mu.RLock()
	defer mu.RUnlock()
	return kinds[kind]
}

func checkKind(kind string) error {
	if kind == "" || len(kind) > 64 || strings.IndexByte(kind, 0) >= 0 {
		return fmt.Errorf("expiry: kind %q must be 1-64 bytes without NUL: %w", kind, store.ErrInvalid)
	}
	return nil
}

// EntryKey returns the index key of the entry for key of kind expiring at
// at.
func EntryKey(kind string, key []byte, at time.Time) []byte {
	k := make([]byte, 0, 8+len(kind)+1+len(key))
	k = binary.BigEndian.AppendUint64(k, uint64(at.UnixNano()))
	k = append(k, kind...)
	k = append(k, 0)
	return append(k, key...)
}

// parseEntry splits an index key.
func parseEntry(k []byte) (at time.Time, kind string, key []byte, ok bool) {
	if len(k) < 8+2 {
		return time.Time{}, "", nil, false
	}
	i := bytes.IndexByte(k[8:], 0)
	if i <= 0 {
		return time.Time{}, "", nil, false
	}
	at = time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC()
	return at, string(k[8 : 8+i]), k[8+i+1:], true
}

// Set records, inside tx, that key of kind expires at at. A thing whose
// expiry changes calls Clear with the old time and Set with the new.
func Set(tx store.Tx, kind string, key []byte, at time.Time) error {
	if err := checkKind(kind); err != nil {
		return err
	}
	return tx.Put(Bucket, EntryKey(kind, key, at), nil)
}

// Clear removes, inside tx, the entry Set wrote for key of kind at at.
func Clear(tx store.Tx, kind string, key []byte, at time.Time) error {
	return tx.Delete(Bucket, EntryKey(kind, key, at))
}

// Sweeper removes what has expired. It is safe for concurrent use, and any
// number of processes may sweep one store at once.
type Sweeper struct {
	st  *store.Store
	now func() time.Time
	log *slog.Logger
}

// NewSweeper returns a Sweeper of st; now nil means time.Now, log nil
// slog.Default().
func NewSweeper(st *store.Store, now func() time.Time, log *slog.Logger) *Sweeper {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Sweeper{st: st, now: now, log: log}
}

// Sweep removes everything that expired at or before now, BatchSize
// entries per transaction, and returns how many things were removed.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	end := binary.BigEndian.AppendUint64(nil, uint64(s.now().UnixNano()+1))
	var start []byte
	removed := 0
	for {
		var n int
		var last []byte
		more := false
		err := s.st.Update(ctx, func(tx store.Tx) error {
			n, last, more = 0, nil, false
			keys, err := store.Keys(tx, Bucket, store.Range{Start: start, End: end, Limit: BatchSize})
			if err != nil {
				return err
			}
			more = len(keys) == BatchSize
			for _, k := range keys {
				last = k
				at, kind, key, ok := parseEntry(k)
				if !ok {
					if err := tx.Delete(Bucket, k); err != nil {
						return err
					}
					continue
				}
				fn := handler(kind)
				if fn == nil {
					continue
				}
				done, err := fn(tx, key, at)
				if err != nil {
					return fmt.Errorf("expiry: sweeping %s: %w", kind, err)
				}
				if done {
					n++
				}
				if err := tx.Delete(Bucket, k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return removed, err
		}
		removed += n
		if !more {
			return removed, nil
		}
		start = append(last, 0) // entries left alone are behind us
	}
}

// Run sweeps every interval (DefaultEvery when zero or less) until ctx is
// done, logging failures.
func (s *Sweeper) Run(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Sweep(ctx); err != nil && !errors.Is(err, context.Canceled) && ctx.Err() == nil {
			s.log.Warn("expiry: sweeping failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
