// Package memstore is a [store.Store] kept in memory, for tests and examples.
//
// It keeps the whole contract of package store — serializable, atomic
// transactions, ordered scans — but nothing survives the process. Writers
// are serialized by one lock and readers share it, so it is the simplest
// correct backend rather than the fastest.
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/cardvault/cardvault/store"
)

var (
	_ store.Store  = (*Store)(nil)
	_ store.Pinger = (*Store)(nil)
)

// Store is an in-memory store.Store. The zero value is not usable; call New.
type Store struct {
	mu      sync.RWMutex
	buckets map[string]*sortedMap
	closed  bool
}

// sortedMap is one bucket: its keys kept sorted beside a map for point
// lookups.
type sortedMap struct {
	keys   []string
	values map[string][]byte
}

// New returns an empty store.
func New() *Store {
	return &Store{buckets: make(map[string]*sortedMap)}
}

// View implements store.Store.
func (s *Store) View(ctx context.Context, fn func(store.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	t := &tx{s: s}
	defer func() { t.done = true }()
	return fn(t)
}

// Update implements store.Store. Writes go straight into the maps under the
// exclusive lock, with an undo log that restores them when fn fails, panics,
// or the context ends before commit.
func (s *Store) Update(ctx context.Context, fn func(store.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return store.ErrClosed
	}
	t := &tx{s: s, writable: true}
	committed := false
	defer func() {
		t.done = true
		if !committed {
			t.rollback()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	committed = true
	return nil
}

// Ping implements store.Pinger: memory is always reachable, until Close.
func (s *Store) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %w", err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.buckets = nil
	return nil
}

type undo struct {
	bucket, key string
	value       []byte
	existed     bool
}

type tx struct {
	s        *Store
	writable bool
	done     bool
	log      []undo
}

// check validates the arguments of a call; key is checked unless scan.
func (t *tx) check(bucket string, key []byte, scan bool) error {
	if t.done {
		return fmt.Errorf("memstore: transaction used after it ended")
	}
	if err := store.CheckBucket(bucket); err != nil {
		return err
	}
	if scan {
		return nil
	}
	return store.CheckKey(key)
}

func (t *tx) Get(bucket string, key []byte) ([]byte, error) {
	if err := t.check(bucket, key, false); err != nil {
		return nil, err
	}
	b := t.s.buckets[bucket]
	if b == nil {
		return nil, store.ErrNotFound
	}
	v, ok := b.values[string(key)]
	if !ok {
		return nil, store.ErrNotFound
	}
	return bytes.Clone(v), nil
}

func (t *tx) Put(bucket string, key, value []byte) error {
	if err := t.check(bucket, key, false); err != nil {
		return err
	}
	if !t.writable {
		return store.ErrReadOnly
	}
	if err := store.CheckValue(value); err != nil {
		return err
	}
	old, existed := t.s.lookup(bucket, string(key))
	t.log = append(t.log, undo{bucket, string(key), old, existed})
	t.s.set(bucket, string(key), bytes.Clone(value))
	return nil
}

func (t *tx) Delete(bucket string, key []byte) error {
	if err := t.check(bucket, key, false); err != nil {
		return err
	}
	if !t.writable {
		return store.ErrReadOnly
	}
	old, existed := t.s.lookup(bucket, string(key))
	if !existed {
		return nil
	}
	t.log = append(t.log, undo{bucket, string(key), old, true})
	t.s.remove(bucket, string(key))
	return nil
}

func (t *tx) Scan(bucket string, r store.Range, fn func(key, value []byte) error) error {
	if err := t.check(bucket, nil, true); err != nil {
		return err
	}
	b := t.s.buckets[bucket]
	if b == nil {
		return nil
	}
	lo := 0
	if r.Start != nil {
		lo, _ = slices.BinarySearch(b.keys, string(r.Start))
	}
	hi := len(b.keys)
	if r.End != nil {
		hi, _ = slices.BinarySearch(b.keys, string(r.End))
	}
	if lo >= hi {
		return nil
	}
	// Copy the window first: fn may write to this very bucket.
	keys := slices.Clone(b.keys[lo:hi])
	if r.Reverse {
		slices.Reverse(keys)
	}
	if r.Limit > 0 && len(keys) > r.Limit {
		keys = keys[:r.Limit]
	}
	for _, k := range keys {
		v, ok := b.values[k]
		if !ok {
			continue // deleted by fn during the scan
		}
		if err := fn([]byte(k), bytes.Clone(v)); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) rollback() {
	for i := len(t.log) - 1; i >= 0; i-- {
		u := t.log[i]
		if u.existed {
			t.s.set(u.bucket, u.key, u.value)
		} else {
			t.s.remove(u.bucket, u.key)
		}
	}
	t.log = nil
}

func (s *Store) lookup(bucket, key string) ([]byte, bool) {
	b := s.buckets[bucket]
	if b == nil {
		return nil, false
	}
	v, ok := b.values[key]
	return v, ok
}

func (s *Store) set(bucket, key string, value []byte) {
	b := s.buckets[bucket]
	if b == nil {
		b = &sortedMap{values: make(map[string][]byte)}
		s.buckets[bucket] = b
	}
	if _, ok := b.values[key]; !ok {
		i, _ := slices.BinarySearch(b.keys, key)
		b.keys = slices.Insert(b.keys, i, key)
	}
	b.values[key] = value
}

func (s *Store) remove(bucket, key string) {
	b := s.buckets[bucket]
	if b == nil {
		return
	}
	if _, ok := b.values[key]; !ok {
		return
	}
	delete(b.values, key)
	i, _ := slices.BinarySearch(b.keys, key)
	b.keys = slices.Delete(b.keys, i, i+1)
}

// Dump calls fn for every key of every bucket, buckets in name order and
// keys in order, under the read lock. It is for tests that look at
// everything a store holds: snapshots before and after a refused request,
// scans for values that must not be stored in clear.
func (s *Store) Dump(fn func(bucket string, key, value []byte)) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	names := make([]string, 0, len(s.buckets))
	for name := range s.buckets {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b := s.buckets[name]
		for _, k := range b.keys {
			fn(name, []byte(k), bytes.Clone(b.values[k]))
		}
	}
}
