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
	"github.com/cardvault/cardvault/store/driver"
)

var _ driver.Store = (*Driver)(nil)

// Driver is memstore's driver.Store; New wraps it in a *store.Store. Use
// [Dump] to see what a store holds.
type Driver struct {
	mu      sync.RWMutex
	buckets map[string]*sortedMap
}

// sortedMap is one bucket: its keys kept sorted beside a map for point
// lookups.
type sortedMap struct {
	keys   []string
	values map[string][]byte
}

// New returns an empty store.
func New() *store.Store {
	return store.New(&Driver{buckets: make(map[string]*sortedMap)})
}

// Dump calls fn for every key of every bucket of s, a store New returned,
// buckets in name order and keys in order, under the read lock. It is for
// tests that look at everything a store holds: snapshots before and after
// a refused request, scans for values that must not be stored in clear. It
// panics when s is not a memstore.
func Dump(s *store.Store, fn func(bucket string, key, value []byte)) {
	var d *Driver
	if !s.As(&d) {
		panic("memstore.Dump: not a memstore")
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	names := make([]string, 0, len(d.buckets))
	for name := range d.buckets {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		b := d.buckets[name]
		for _, k := range b.keys {
			fn(name, []byte(k), bytes.Clone(b.values[k]))
		}
	}
}

// View implements driver.Store.
func (d *Driver) View(ctx context.Context, fn func(driver.Tx) error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return fn(&tx{d: d})
}

// Update implements driver.Store. Writes go straight into the maps under
// the exclusive lock, with an undo log that restores them when fn fails,
// panics, or the context ends before commit.
func (d *Driver) Update(ctx context.Context, fn func(driver.Tx) error) (err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := &tx{d: d}
	committed := false
	defer func() {
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

// Ping implements driver.Store: memory is always reachable.
func (d *Driver) Ping(ctx context.Context) error { return nil }

// Close implements driver.Store.
func (d *Driver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.buckets = nil
	return nil
}

type undo struct {
	bucket, key string
	value       []byte
	existed     bool
}

type tx struct {
	d   *Driver
	log []undo
}

func (t *tx) Get(bucket string, key []byte) ([]byte, bool, error) {
	v, ok := t.d.lookup(bucket, string(key))
	if !ok {
		return nil, false, nil
	}
	return bytes.Clone(v), true, nil
}

func (t *tx) Put(bucket string, key, value []byte) error {
	old, existed := t.d.lookup(bucket, string(key))
	t.log = append(t.log, undo{bucket, string(key), old, existed})
	t.d.set(bucket, string(key), bytes.Clone(value))
	return nil
}

func (t *tx) Delete(bucket string, key []byte) error {
	old, existed := t.d.lookup(bucket, string(key))
	if !existed {
		return nil
	}
	t.log = append(t.log, undo{bucket, string(key), old, true})
	t.d.remove(bucket, string(key))
	return nil
}

func (t *tx) Scan(bucket string, r driver.Range, fn func(key, value []byte) error) error {
	b := t.d.buckets[bucket]
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
			t.d.set(u.bucket, u.key, u.value)
		} else {
			t.d.remove(u.bucket, u.key)
		}
	}
	t.log = nil
}

func (d *Driver) lookup(bucket, key string) ([]byte, bool) {
	b := d.buckets[bucket]
	if b == nil {
		return nil, false
	}
	v, ok := b.values[key]
	return v, ok
}

func (d *Driver) set(bucket, key string, value []byte) {
	b := d.buckets[bucket]
	if b == nil {
		b = &sortedMap{values: make(map[string][]byte)}
		d.buckets[bucket] = b
	}
	if _, ok := b.values[key]; !ok {
		i, _ := slices.BinarySearch(b.keys, key)
		b.keys = slices.Insert(b.keys, i, key)
	}
	b.values[key] = value
}

func (d *Driver) remove(bucket, key string) {
	b := d.buckets[bucket]
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
