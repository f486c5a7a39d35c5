package boltstore

import (
	"bytes"

	"github.com/tidwall/btree"
	bolt "go.etcd.io/bbolt"

	"github.com/cardvault/cardvault/store/driver"
)

// entry is one key's newest state in a layer: its value, or that it was
// deleted (a tombstone, which hides the key in the layers below).
type entry struct {
	bucket, key string
	val         []byte // immutable once in a layer
	del         bool
}

func entryLess(a, b *entry) bool {
	if a.bucket != b.bucket {
		return a.bucket < b.bucket
	}
	return a.key < b.key
}

// layer is an ordered set of entries: the memtable that committed writes go
// to before a checkpoint moves them into the bbolt file. A layer handed to
// readers is never changed again: the writers change a copy-on-write copy
// (btree.BTreeG.Copy), so readers need no lock.
type layer struct {
	t     *btree.BTreeG[*entry]
	bytes int // about what the entries hold, to decide when to checkpoint
	// last is the sequence number of the newest journal record whose
	// writes the layer holds; set when the layer is handed to readers.
	last uint64
}

func newLayer() *layer {
	return &layer{t: btree.NewBTreeGOptions(entryLess, btree.Options{NoLocks: true, Degree: 16})}
}

// copy returns a copy that later changes to l do not reach.
func (l *layer) copy() *layer {
	return &layer{t: l.t.Copy(), bytes: l.bytes, last: l.last}
}

func (l *layer) get(bucket string, key []byte) (*entry, bool) {
	return l.t.Get(&entry{bucket: bucket, key: string(key)})
}

// set stores e and returns what it replaced.
func (l *layer) set(e entry) (*entry, bool) {
	old, had := l.t.Set(&e)
	l.bytes += len(e.key) + len(e.val) + 64
	return old, had
}

// unset removes the entry of bucket and key (an undo).
func (l *layer) unset(bucket, key string) {
	l.t.Delete(&entry{bucket: bucket, key: key})
}

// lookup finds key in the layers, newest first, and then in the bbolt
// transaction below them.
func lookupLayers(layers []*layer, btx *bolt.Tx, bucket string, key []byte) ([]byte, bool) {
	for _, l := range layers {
		if e, ok := l.get(bucket, key); ok {
			return e.val, !e.del
		}
	}
	return lookup(btx.Bucket([]byte(bucket)), key)
}

// cursor walks one source of a merged scan in the scan's direction.
type cursor interface {
	// first positions the cursor at the scan's first key; after, at the
	// first key past k in the scan's direction; next moves one key on.
	first()
	after(k []byte)
	next()
	// at returns the current key, value and tombstone flag, or ok false
	// when the source has no more keys in the bucket.
	at() (k, v []byte, del, ok bool)
}

// boltCursor is a bbolt bucket's keys, bounded by the scan's range.
type boltCursor struct {
	c    *bolt.Cursor
	r    driver.Range
	k, v []byte
}

func (c *boltCursor) first() {
	switch {
	case c.r.Reverse:
		c.k, c.v = c.before(c.r.End)
	case len(c.r.Start) > 0:
		c.k, c.v = c.c.Seek(c.r.Start)
	default:
		c.k, c.v = c.c.First()
	}
}

// before positions the cursor on the last key < end (the last key when end
// is nil).
func (c *boltCursor) before(end []byte) ([]byte, []byte) {
	if end == nil {
		return c.c.Last()
	}
	if k, _ := c.c.Seek(end); k == nil {
		return c.c.Last()
	}
	return c.c.Prev()
}

func (c *boltCursor) after(k []byte) {
	if c.r.Reverse {
		c.k, c.v = c.before(k)
		return
	}
	if c.k, c.v = c.c.Seek(k); c.k != nil && bytes.Equal(c.k, k) {
		c.k, c.v = c.c.Next()
	}
}

func (c *boltCursor) next() {
	if c.r.Reverse {
		c.k, c.v = c.c.Prev()
	} else {
		c.k, c.v = c.c.Next()
	}
}

func (c *boltCursor) at() ([]byte, []byte, bool, bool) { return c.k, c.v, false, c.k != nil }

// layerCursor is a layer's entries of one bucket.
type layerCursor struct {
	l      *layer
	bucket string
	r      driver.Range
	it     btree.IterG[*entry]
	ok     bool
	live   bool   // it was made
	key    []byte // the current entry's key, made once per position
}

func (c *layerCursor) reset() {
	if c.live {
		c.it.Release()
	}
	c.it, c.live = c.l.t.Iter(), true
}

// check reports whether the iterator stands on an entry of the bucket.
func (c *layerCursor) check(ok bool) {
	c.ok = ok && c.it.Item().bucket == c.bucket
	if c.ok {
		c.key = []byte(c.it.Item().key)
	}
}

// seekBefore positions the iterator on the last entry < (bucket, k), or
// before the bucket's end when k is nil.
func (c *layerCursor) seekBefore(k []byte) {
	c.reset()
	target := &entry{bucket: c.bucket, key: string(k)}
	if k == nil {
		target = &entry{bucket: c.bucket + "\x00"} // sorts after every key of bucket
	}
	if c.it.Seek(target) {
		c.check(c.it.Prev())
	} else {
		c.check(c.it.Last())
	}
}

func (c *layerCursor) first() {
	if c.r.Reverse {
		c.seekBefore(c.r.End)
		return
	}
	c.reset()
	c.check(c.it.Seek(&entry{bucket: c.bucket, key: string(c.r.Start)}))
}

func (c *layerCursor) after(k []byte) {
	if c.r.Reverse {
		c.seekBefore(k)
		return
	}
	c.reset()
	ok := c.it.Seek(&entry{bucket: c.bucket, key: string(k)})
	if ok && c.it.Item().bucket == c.bucket && c.it.Item().key == string(k) {
		ok = c.it.Next()
	}
	c.check(ok)
}

func (c *layerCursor) next() {
	if c.r.Reverse {
		c.check(c.it.Prev())
	} else {
		c.check(c.it.Next())
	}
}

func (c *layerCursor) at() ([]byte, []byte, bool, bool) {
	if !c.ok {
		return nil, nil, false, false
	}
	e := c.it.Item()
	return c.key, e.val, e.del, true
}

func (c *layerCursor) release() {
	if c.live {
		c.it.Release()
	}
}

// scanLayers is driver.Tx.Scan over layers (newest first) above the bbolt
// transaction btx: a merge of their cursors in which, for a key several
// hold, the newest wins, and a tombstone hides the key. writes tells
// whether fn changed anything (in an Update), after which every cursor
// finds its place again past the key fn was given.
func scanLayers(layers []*layer, btx *bolt.Tx, bucket string, r driver.Range, writes func() int, fn func(k, v []byte) error) error {
	cursors := make([]cursor, 0, len(layers)+1)
	for _, l := range layers {
		lc := &layerCursor{l: l, bucket: bucket, r: r}
		defer lc.release()
		cursors = append(cursors, lc)
	}
	if b := btx.Bucket([]byte(bucket)); b != nil {
		cursors = append(cursors, &boltCursor{c: b.Cursor(), r: r})
	}
	for _, c := range cursors {
		c.first()
	}
	inRange := func(k []byte) bool {
		if r.Reverse {
			return len(r.Start) == 0 || bytes.Compare(k, r.Start) >= 0
		}
		return r.End == nil || bytes.Compare(k, r.End) < 0
	}
	for n := 0; r.Limit <= 0 || n < r.Limit; {
		// The next key in the scan's direction; on a tie the newest
		// source (the lowest index) wins.
		best := -1
		var bk, bv []byte
		var bdel bool
		for i, c := range cursors {
			k, v, del, ok := c.at()
			if !ok {
				continue
			}
			if best >= 0 {
				cmp := bytes.Compare(k, bk)
				if r.Reverse {
					cmp = -cmp
				}
				if cmp >= 0 {
					continue
				}
			}
			best, bk, bv, bdel = i, k, v, del
		}
		if best < 0 || !inRange(bk) {
			return nil
		}
		key := bytes.Clone(bk)
		if !bdel {
			before := writes()
			if err := fn(bytes.Clone(bk), bytes.Clone(bv)); err != nil {
				return err
			}
			n++
			if writes() != before {
				for _, c := range cursors {
					c.after(key)
				}
				continue
			}
		}
		for _, c := range cursors {
			if k, _, _, ok := c.at(); ok && bytes.Equal(k, key) {
				c.next()
			}
		}
	}
	return nil
}
