// Package boltstore is the embedded [store.Store]: one file on local disk,
// kept by go.etcd.io/bbolt, and cardvault's default.
//
// # Durability and group commit
//
// [Store.Update] returns nil only after its transaction is on disk. Writing
// it into bbolt's B+tree would cost a page for every key it touches (a
// randomly keyed index entry lands on a page of its own) and two fsyncs; a
// commit costs instead one sequential append to a journal and one
// fdatasync, and the transaction's writes go to a memtable — an ordered
// in-memory layer that reads look in before the bbolt file. When the
// memtable holds about [Options.CheckpointBytes], it is frozen and a
// checkpoint moves it into the bbolt file in one large bbolt transaction
// (bbolt's own fsyncs), so that a page is written once for all the writes
// that landed on it; the journal segments it covers are then deleted.
// Open replays the journal after the last checkpoint, so a crash loses no
// acknowledged transaction; a record cut short at the journal's end is a
// commit that never returned and is dropped, and a damaged record with more
// journal after it makes Open fail rather than guess. Close checkpoints
// everything and leaves the bbolt file alone, readable by any bbolt tool.
//
// Concurrent Updates share commits: each writer runs its function, in its
// own goroutine, against the memtable, one at a time; a committer goroutine
// takes the batch once every writer that was queued when the first one
// joined has had its turn, appends their writes to the journal as one
// record, and all of them return together. The next batch forms while the
// journal syncs; its writers see the writes of the batch before (they are
// acknowledged after it), and readers see a batch only once it is on disk.
// A writer alone commits at once, so a single writer waits for one
// fdatasync, not for a timer.
//
// A function that fails or panics has its own writes undone (each Put and
// Delete records the previous state of its key) and leaves the others' in
// the batch, so functions run exactly once — unlike bbolt's DB.Batch, which
// reruns the whole batch when one function fails. A journal write that
// fails (a full disk) fails its batch and every later Update: the memtable
// may then hold writes the journal does not; reopening replays what is on
// disk.
//
// Close waits for transactions in flight. A writer waits for the commit of
// its batch without watching its context: once its writes are part of a
// commit, its outcome is that commit's.
//
// # The file
//
// Each bucket of the store is a top-level bbolt bucket of the same name;
// keys and values are stored as given (the domain packages encrypt what must
// not be readable), in the file and in the journal segments next to it
// ("<file>.journal.<16 hex digits>"; see journal.go for the record format).
// One more bucket, whose name no store bucket can have, holds the last
// checkpointed journal record's number. The file and the segments are
// created with mode 0600 unless [Options.Mode] says otherwise.
//
// bbolt takes an exclusive flock on the file: a second process (or a second
// Open in this one) waits [Options.LockTimeout] and then fails with an error
// wrapping [ErrLocked], without touching the file.
//
// Do not call View or Update from inside a transaction's function: the
// writer slot and bbolt's locks are not reentrant.
//
// # Performance
//
// Small transactions (a 16-byte key and a 128-byte value, see
// storetest.SmallWrite) committed per second on a file in a temporary
// directory of the 2-core development machine (ext4 on a shared virtual
// disk), medians of 6 alternating runs with the store before the journal
// (group commit straight into bbolt) and plain bbolt measured in the same
// runs, on 2026-12-03 with other test runs on the machine (the benchmarks
// at nice -15):
//
//	               boltstore   before the journal   bbolt DB.Update   bbolt DB.Batch
//	1 writer           2,626                1,486             1,097               79
//	64 writers        24,983               10,560             1,486            4,246
//
// With 64 writers the journal commits 2.4 times as many transactions as
// group commit into bbolt did, 17 times DB.Update and 6 times DB.Batch;
// single runs ranged widely (11,897–45,666 for boltstore), the disk's
// noise. The gain in the server is larger than in this benchmark, whose
// one small key per transaction dirties few pages: a secure token's
// create writes about ten randomly placed keys. A point read (View with
// one Get) takes 2.3 µs serial, 2.6 µs per read from 2 goroutines (3.6 and
// 3.4 µs before, same runs).
//
//	go test -run '^$' -bench 'Commit|Get' -benchtime 2s -count 6 ./store/boltstore
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/driver"
)

var _ driver.Store = (*Driver)(nil)

// ErrLocked is returned by Open when another process (or another Open in
// this one) holds the file.
var ErrLocked = errors.New("boltstore: the file is in use by another process")

// DefaultLockTimeout is how long Open waits for the file lock unless
// Options.LockTimeout says otherwise.
const DefaultLockTimeout = time.Second

// DefaultCheckpointBytes is about how much the memtable holds before it is
// checkpointed into the bbolt file, unless Options.CheckpointBytes says
// otherwise. A checkpoint writes every page its keys land on, and the keys
// of a secure token or a capture are randomly placed, so a larger memtable
// writes each page once for more keys: with 64 MiB the server creates
// secure tokens about a fifth faster than with 16 MiB (BENCHMARKS.md). The
// price is memory — up to (maxFrozen+1) × 64 MiB of writes held beyond
// the file — and the journal a restart after a crash replays.
const DefaultCheckpointBytes = 64 << 20

// maxFrozen is how many memtables may wait for their checkpoint before
// commits wait for one: it bounds the memory the store holds beyond the
// bbolt file to about (maxFrozen+1) × CheckpointBytes.
const maxFrozen = 2

// initialMmapSize is the address space Open maps for the file: 1 GiB
// where addresses are 64 bits, bbolt's default (the file's size) elsewhere.
const initialMmapSize = (1 << 30) * (math.MaxUint >> 63)

// metaBucket holds the sequence number of the last journal record a
// checkpoint moved into the file. Its name has a byte no store bucket may
// have (see store.CheckBucket), so it cannot meet one.
const metaBucket = "boltstore:journal"

var checkpointKey = []byte("checkpoint")

// Options configure Open. The zero value is the default.
type Options struct {
	// Mode is the permission of the file (and of its journal segments)
	// when Open creates it; 0 means 0600. An existing file keeps its mode.
	Mode os.FileMode
	// LockTimeout is how long Open waits for the file lock another process
	// holds before it fails with ErrLocked; 0 means DefaultLockTimeout.
	LockTimeout time.Duration
	// CheckpointBytes is about how much the memtable holds before a
	// checkpoint moves it into the bbolt file; 0 means
	// DefaultCheckpointBytes.
	CheckpointBytes int
}

// Driver is boltstore's driver.Store: Open wraps it in a *store.Store.
type Driver struct {
	db           *bolt.DB
	path         string
	mode         os.FileMode
	checkpointAt int

	// sem is held (a value in the channel) by the one goroutine that may use
	// the fields below it: a writer running its function, the committer
	// taking the batch, the checkpointer dropping a layer. Channel senders
	// queue in order, which is what makes the committer wait behind the
	// writers that were already queued.
	sem    chan struct{}
	cur    *batch   // the batch being formed
	mem    *layer   // the memtable the writers change
	lower  []*layer // frozen memtables not yet checkpointed, newest first
	seq    uint64   // the last journal record's sequence number
	failed error    // a journal write failed: nothing commits any more

	mu        sync.RWMutex
	view      []*layer      // the committed layers readers see, newest first
	ckptSeq   uint64        // the last journal record checkpointed into the file
	published atomic.Uint64 // the last journal record readers see; set under mu

	jr            *journal // the segment appended to; the committer's
	kick          chan struct{}
	committerDone chan struct{}

	frozen       chan struct{} // a durable frozen layer waits for its checkpoint
	checkpointed chan struct{} // a checkpoint finished
	frozenN      atomic.Int32
	ckptDone     chan struct{}
}

// batch is one group commit: the writers that joined it and their writes
// in order.
type batch struct {
	ops     []op
	members int
	done    chan struct{}
	err     error // the commit's outcome, set before done closes
}

// Open opens the store in the file at path, creating the file (not its
// directory) if needed, and replays its journal.
func Open(path string, opts *Options) (*store.Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Mode == 0 {
		o.Mode = 0o600
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = DefaultLockTimeout
	}
	if o.CheckpointBytes <= 0 {
		o.CheckpointBytes = DefaultCheckpointBytes
	}
	db, err := bolt.Open(path, o.Mode, &bolt.Options{
		Timeout: o.LockTimeout,
		// Map 1 GiB of address space up front (none of it is memory until
		// the file grows into it). Every time bbolt grows its map it waits
		// for every reader to finish, blocking new ones, and copies every
		// node the writing transaction holds out of the old map; a
		// checkpoint of a growing file did that at each doubling.
		InitialMmapSize: initialMmapSize,
		// bbolt's defaults otherwise: fdatasync on every commit, the
		// freelist written with it. (NoFreelistSync made each commit
		// tens of times slower here.)
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (lock not acquired within %v)", ErrLocked, path, o.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: opening %s: %w", path, err)
	}
	s := &Driver{
		db:            db,
		path:          path,
		mode:          o.Mode,
		checkpointAt:  o.CheckpointBytes,
		sem:           make(chan struct{}, 1),
		mem:           newLayer(),
		kick:          make(chan struct{}, 1),
		committerDone: make(chan struct{}),
		frozen:        make(chan struct{}, 1),
		checkpointed:  make(chan struct{}, 1),
		ckptDone:      make(chan struct{}),
	}
	if err := s.recover(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("boltstore: recovering %s: %w", path, err)
	}
	go s.commitLoop()
	go s.checkpointLoop()
	return store.New(s), nil
}

// recover replays the journal after the last checkpoint into the bbolt
// file, deletes its segments and starts a new one.
func (s *Driver) recover() error {
	var done uint64
	err := s.db.View(func(btx *bolt.Tx) error {
		if b := btx.Bucket([]byte(metaBucket)); b != nil {
			if v := b.Get(checkpointKey); len(v) == 8 {
				done = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	segs, err := segments(s.path)
	if err != nil {
		return err
	}
	l := newLayer()
	last, err := replay(segs, done, func(_ uint64, ops []op) {
		for _, o := range ops {
			l.set(entry{bucket: o.bucket, key: o.key, val: o.val, del: o.del})
		}
	})
	if err != nil {
		return err
	}
	if last > done {
		l.last = last
		if err := s.checkpoint(l); err != nil {
			return err
		}
	}
	for _, g := range segs {
		if err := os.Remove(g.path); err != nil {
			return err
		}
	}
	s.seq, s.ckptSeq = last, last
	s.published.Store(last)
	s.jr, err = createSegment(s.path, last+1, s.mode)
	return err
}

// Ping implements driver.Store: it opens and ends a read transaction.
func (s *Driver) Ping(ctx context.Context) error {
	return s.View(ctx, func(driver.Tx) error { return nil })
}

// View implements driver.Store. The committed layers are taken and the
// bbolt transaction begun under s.mu, which a checkpoint takes to drop the
// layers it moved into the file: the file is then never ahead of the
// layers (a layer newer than those taken would be shadowed by them), and a
// layer both hold reads the same in each. (Begin may wait for a
// checkpoint's remapping of the file, which waits only for open read
// transactions; none of them waits for s.mu.)
func (s *Driver) View(ctx context.Context, fn func(driver.Tx) error) error {
	s.mu.RLock()
	layers := s.view
	btx, err := s.db.Begin(false)
	s.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("boltstore: %w", err)
	}
	defer func() { _ = btx.Rollback() }()
	return fn(&tx{layers: layers, btx: btx})
}

// Update implements driver.Store; see the package documentation for how
// concurrent Updates share commits.
func (s *Driver) Update(ctx context.Context, fn func(driver.Tx) error) error {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("boltstore: %w", ctx.Err())
	}
	if s.failed != nil {
		<-s.sem
		return fmt.Errorf("boltstore: not committed: an earlier commit failed: %w", s.failed)
	}
	if s.cur == nil {
		s.cur = &batch{done: make(chan struct{})}
	}
	b := s.cur
	// The layers are taken before the bbolt transaction begins, as in View.
	// The transaction ends as soon as fn returns: a checkpoint that must
	// grow bbolt's mapping waits for every read transaction, and the
	// checkpoint may be what this batch's commit waits for.
	layers := append([]*layer{s.mem}, s.lower...)
	btx, err := s.db.Begin(false)
	if err != nil {
		if b.members == 0 {
			s.cur = nil
		}
		<-s.sem
		return fmt.Errorf("boltstore: %w", err)
	}
	t := &tx{layers: layers, btx: btx, mem: s.mem, b: b, opsAt: len(b.ops)}
	joined := false
	defer func() {
		// Runs on error and on panic (which then goes on unwinding).
		if joined {
			return
		}
		_ = btx.Rollback()
		t.rollback()
		if b.members == 0 {
			// Nobody else's writes are in it: drop it here, since no
			// committer was told about it.
			s.cur = nil
		}
		<-s.sem
	}()
	if err := fn(t); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("boltstore: %w", err)
	}
	joined = true
	_ = btx.Rollback()
	b.members++
	<-s.sem
	select {
	case s.kick <- struct{}{}:
	default: // the committer already has a kick pending
	}
	<-b.done
	return b.err
}

// commitLoop commits batches. Told that a batch has a member, it queues for
// sem behind the writers already waiting, so they join the batch first; then
// it takes the batch, appends its writes to the journal with one fdatasync,
// and publishes them to readers. The next batch forms while the journal
// syncs: its writers read this batch's writes, and commit after it.
func (s *Driver) commitLoop() {
	defer close(s.committerDone)
	for range s.kick {
		s.sem <- struct{}{}
		b := s.cur
		s.cur = nil
		if b == nil {
			<-s.sem
			continue // a stale kick: its batch went with an earlier one
		}
		if len(b.ops) > 0 && s.failed == nil {
			s.seq++
		}
		seq, failed := s.seq, s.failed
		snap := s.mem.copy()
		snap.last = seq
		view := append([]*layer{snap}, s.lower...)
		// Only a batch that journals a record freezes: the next segment
		// starts after it, and a segment's name is its first record's.
		freeze := len(b.ops) > 0 && s.mem.bytes >= s.checkpointAt && failed == nil
		if freeze {
			s.lower, s.mem = view, newLayer()
		}
		<-s.sem

		if failed == nil && len(b.ops) > 0 {
			if err := s.jr.append(seq, b.ops); err != nil {
				failed = s.fail(fmt.Errorf("writing the journal: %w", err))
			}
		}
		if failed != nil {
			b.err = fmt.Errorf("boltstore: not committed: %w", failed)
			close(b.done)
			continue
		}
		s.mu.Lock()
		s.view = slices.DeleteFunc(slices.Clone(view), s.checkpointedLocked) // view may be s.lower too
		s.published.Store(seq)
		s.mu.Unlock()
		close(b.done)
		if freeze {
			s.rotate(seq)
		}
		for s.frozenN.Load() > maxFrozen && s.failure() == nil {
			<-s.checkpointed // let the checkpoints catch up
		}
	}
}

// fail marks the store failed: the memtable may hold writes the journal
// does not, so nothing commits after them. Reopening replays what is on
// disk.
func (s *Driver) fail(err error) error {
	s.sem <- struct{}{}
	if s.failed == nil {
		s.failed = err
	}
	err = s.failed
	<-s.sem
	return err
}

// failure returns the error that failed the store, if any.
func (s *Driver) failure() error {
	s.sem <- struct{}{}
	defer func() { <-s.sem }()
	return s.failed
}

// rotate starts a new journal segment after the record seq, which ends a
// frozen layer, and hands that layer to the checkpointer.
func (s *Driver) rotate(seq uint64) {
	next, err := createSegment(s.path, seq+1, s.mode)
	if err != nil {
		s.fail(fmt.Errorf("starting a journal segment: %w", err))
	} else {
		_ = s.jr.close()
		s.jr = next
	}
	s.frozenN.Add(1)
	select {
	case s.frozen <- struct{}{}:
	default:
	}
}

// checkpointLoop moves frozen layers into the bbolt file, oldest first.
func (s *Driver) checkpointLoop() {
	defer close(s.ckptDone)
	for range s.frozen {
		for {
			more, err := s.checkpointOldest()
			if err != nil {
				s.fail(fmt.Errorf("checkpointing: %w", err))
				// Wake a committer waiting for this checkpoint.
				select {
				case s.checkpointed <- struct{}{}:
				default:
				}
				return
			}
			if !more {
				break
			}
		}
	}
}

// checkpointOldest checkpoints the oldest frozen layer, if any, and reports
// whether it did.
func (s *Driver) checkpointOldest() (bool, error) {
	s.sem <- struct{}{}
	var l *layer
	if n := len(s.lower); n > 0 {
		l = s.lower[n-1]
	}
	<-s.sem
	if l == nil || l.last > s.published.Load() {
		// Only what readers see may reach the file: a reader's layers
		// must not be older than the file under them.
		return false, nil
	}
	if err := s.checkpoint(l); err != nil {
		return false, err
	}
	s.sem <- struct{}{}
	s.lower = slices.DeleteFunc(slices.Clone(s.lower), func(x *layer) bool { return x == l })
	<-s.sem
	// Every layer up to l's last record is in the file now. Readers must
	// lose them all at once, not l alone: a view the committer published
	// from an older list may still hold layers older than l, which would
	// shadow l's writes in the file.
	s.mu.Lock()
	s.ckptSeq = l.last
	s.view = slices.DeleteFunc(slices.Clone(s.view), s.checkpointedLocked)
	s.mu.Unlock()
	if err := s.removeSegments(l.last); err != nil {
		return false, err
	}
	s.frozenN.Add(-1)
	select {
	case s.checkpointed <- struct{}{}:
	default:
	}
	return true, nil
}

// checkpointedLocked reports whether every write of l is in the bbolt file
// (s.mu held): l holds no record after the last checkpointed one.
func (s *Driver) checkpointedLocked(l *layer) bool { return l.last <= s.ckptSeq }

// checkpoint writes layer l into the bbolt file in one transaction, with
// the sequence number of its last journal record.
func (s *Driver) checkpoint(l *layer) error {
	return s.db.Update(func(btx *bolt.Tx) error {
		var b *bolt.Bucket
		name := ""
		var err error
		l.t.Scan(func(e *entry) bool {
			if b == nil || e.bucket != name {
				name = e.bucket
				if b, err = btx.CreateBucketIfNotExists([]byte(name)); err != nil {
					return false
				}
			}
			if e.del {
				err = b.Delete([]byte(e.key))
			} else {
				err = b.Put([]byte(e.key), e.val)
			}
			return err == nil
		})
		if err != nil {
			return err
		}
		m, err := btx.CreateBucketIfNotExists([]byte(metaBucket))
		if err != nil {
			return err
		}
		return m.Put(checkpointKey, binary.BigEndian.AppendUint64(nil, l.last))
	})
}

// removeSegments deletes the journal segments whose records are all at or
// before seq: those followed by a segment that starts at seq+1 or before.
func (s *Driver) removeSegments(seq uint64) error {
	segs, err := segments(s.path)
	if err != nil {
		return err
	}
	for i := 0; i+1 < len(segs); i++ {
		if segs[i+1].first <= seq+1 {
			if err := os.Remove(segs[i].path); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close implements driver.Store: called once every transaction has
// returned, it stops the committer, checkpoints what the memtables hold,
// deletes the journal, closes the file and releases its lock. After a
// failed commit it checkpoints nothing: the next Open replays the journal.
func (s *Driver) Close() error {
	close(s.kick)
	<-s.committerDone
	close(s.frozen)
	<-s.ckptDone
	var err error
	if s.failed == nil {
		s.published.Store(s.seq) // every batch has returned
		s.mem.last = s.seq
		s.lower = append([]*layer{s.mem}, s.lower...)
		for {
			more, cerr := s.checkpointOldest()
			if cerr != nil {
				err = fmt.Errorf("boltstore: checkpointing %s: %w", s.path, cerr)
				break
			}
			if !more {
				break
			}
		}
	}
	if cerr := s.jr.close(); cerr != nil && err == nil {
		err = fmt.Errorf("boltstore: closing the journal: %w", cerr)
	}
	if err == nil && s.failed == nil {
		if rerr := os.Remove(s.jr.seg.path); rerr != nil {
			err = fmt.Errorf("boltstore: %w", rerr)
		}
	}
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("boltstore: closing %s: %w", s.path, cerr)
	}
	return err
}

// undo restores one key of the memtable as it was before a Put or Delete.
type undo struct {
	bucket, key string
	prev        *entry
	had         bool
}

// tx reads the layers (newest first) above a bbolt read transaction; in an
// Update it writes the memtable, the first layer.
type tx struct {
	layers []*layer
	btx    *bolt.Tx
	mem    *layer // nil in a View
	b      *batch
	opsAt  int // where this function's writes start in b.ops
	log    []undo
	writes int // bumped by every Put and Delete, so Scan knows to re-seek
}

// lookup returns the value of key in b and whether it exists; the value is
// valid only during the transaction.
func lookup(b *bolt.Bucket, key []byte) ([]byte, bool) {
	if b == nil {
		return nil, false
	}
	k, v := b.Cursor().Seek(key)
	if k == nil || !bytes.Equal(k, key) {
		return nil, false
	}
	return v, true
}

func (t *tx) Get(bucket string, key []byte) ([]byte, bool, error) {
	v, ok := lookupLayers(t.layers, t.btx, bucket, key)
	if !ok {
		return nil, false, nil
	}
	return append([]byte{}, v...), true, nil
}

func (t *tx) write(e entry) {
	prev, had := t.mem.set(e)
	t.log = append(t.log, undo{bucket: e.bucket, key: e.key, prev: prev, had: had})
	t.b.ops = append(t.b.ops, op{del: e.del, bucket: e.bucket, key: e.key, val: e.val})
	t.writes++
}

func (t *tx) Put(bucket string, key, value []byte) error {
	if t.mem == nil {
		return errors.New("boltstore: Put in a read-only transaction")
	}
	// The layer keeps value: give it a copy the caller cannot change.
	t.write(entry{bucket: bucket, key: string(key), val: append(make([]byte, 0, len(value)), value...)})
	return nil
}

func (t *tx) Delete(bucket string, key []byte) error {
	if t.mem == nil {
		return errors.New("boltstore: Delete in a read-only transaction")
	}
	// t.layers[0] is the memtable: look there first, then below it.
	e, inMem := t.mem.get(bucket, key)
	if inMem && e.del {
		return nil // deleted already
	}
	_, below := lookupLayers(t.layers[1:], t.btx, bucket, key)
	switch {
	case !inMem && !below:
		return nil // no such key
	case inMem && !below:
		// Put since the last freeze and nowhere below: forget it rather
		// than leave a tombstone. A queue — the outbox's due jobs, expiry
		// entries — puts and deletes keys at a high rate, and the
		// tombstones would make every scan of its head step over all of
		// them until the next checkpoint.
		t.mem.unset(bucket, e.key)
		t.log = append(t.log, undo{bucket: bucket, key: e.key, prev: e, had: true})
		t.b.ops = append(t.b.ops, op{del: true, bucket: bucket, key: e.key})
		t.writes++
		return nil
	}
	t.write(entry{bucket: bucket, key: string(key), del: true})
	return nil
}

// rollback undoes this function's writes, newest first, leaving those of the
// other functions in the batch.
func (t *tx) rollback() {
	for i := len(t.log) - 1; i >= 0; i-- {
		u := t.log[i]
		if u.had {
			t.mem.set(*u.prev)
		} else {
			t.mem.unset(u.bucket, u.key)
		}
	}
	t.log = nil
	if t.b != nil {
		clear(t.b.ops[t.opsAt:])
		t.b.ops = t.b.ops[:t.opsAt]
	}
}

func (t *tx) Scan(bucket string, r driver.Range, fn func(key, value []byte) error) error {
	return scanLayers(t.layers, t.btx, bucket, r, func() int { return t.writes }, fn)
}
