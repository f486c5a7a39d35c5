package audit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/internal/wrappedkey"
	"github.com/cardvault/cardvault/store"
)

// Sentinel errors.
var (
	// ErrInvalid: an event with an unknown operation or outcome, or a
	// List with bad arguments.
	ErrInvalid = fmt.Errorf("audit: %w", cardvault.ErrInvalid)
	// ErrTampered: Verify found the trail altered; the error is a
	// *TamperError that names the first bad entry. The trail is not the
	// caller's to fix, so the kind is the nearest one: a conflict between
	// what the trail says and what its MACs say.
	ErrTampered = fmt.Errorf("audit: the trail does not verify: %w", cardvault.ErrConflict)
)

// Defaults for zero fields of Config.
const (
	// DefaultRetention is how long entries are kept: PCI DSS asks for a
	// year of audit trail, and 400 days leaves a margin.
	DefaultRetention = 400 * 24 * time.Hour
	// DefaultFlushEvery is how often noted events and recorded entries
	// are chained.
	DefaultFlushEvery = 100 * time.Millisecond
	// DefaultCheckpointEvery is how many entries a checkpoint covers.
	DefaultCheckpointEvery = 1024
	// DefaultMaxNotes bounds the noted events waiting for a flush.
	DefaultMaxNotes = 1 << 16
)

// batchSize is how many pending entries, and how many notes, one chaining
// transaction takes at most.
const batchSize = 1024

// Which pending entries chaining in the background looks for: those keyed
// (by their Record's clock) at most pendingWindow before its own clock,
// and every one once each fullScanEvery. Pending entries are a queue —
// written at its end, deleted from its start — and in PostgreSQL a deleted
// row stays in the index until VACUUM: a scan from the start of the bucket
// walked every entry chained since the last vacuum (300 index pages, 2 ms,
// after 25 s of the load mix, each 100 ms, with SERIALIZABLE's predicate
// locks over all of them), and the trail's cost grew run after run. An
// entry outside the window — a transaction open longer than it, or a
// process whose clock is behind — waits for the next full scan; Flush
// always scans everything.
const (
	pendingWindow = 10 * time.Second
	fullScanEvery = 30 * time.Second
)

// Config configures a Log. Store and Keyring are required.
type Config struct {
	Store   *store.Store
	Keyring *crypto.Keyring
	// Retention is how long entries are kept before package expiry's
	// sweeper removes them (DefaultRetention; negative: for ever). It
	// applies to the checkpoints written from now on: each records when
	// the entries it covers may go.
	Retention time.Duration
	// FlushEvery is how often this process chains what was noted and
	// recorded (DefaultFlushEvery); negative means only Flush and Close
	// do, for tests.
	FlushEvery time.Duration
	// CheckpointEvery is how many entries a checkpoint covers
	// (DefaultCheckpointEvery); retention removes whole segments.
	CheckpointEvery int
	// ChainInTransaction makes Record append its entry to the chain in
	// the caller's transaction, instead of writing it aside for the
	// chainer: one write of the entry instead of two, and no chaining
	// transaction. Set it on a store that runs write transactions one at
	// a time (boltstore, memstore), where every Record reads and writes
	// the head without conflict; leave it off on pgstore, where
	// concurrent writers would all conflict on the head (see the package
	// documentation for the figures). Either way the trail is correct.
	ChainInTransaction bool
	// MaxNotes bounds the events noted and not flushed yet
	// (DefaultMaxNotes); beyond it Note drops events, and the next flush
	// chains an audit.notes_dropped entry with their number.
	MaxNotes int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives chaining failures; nil means slog.Default().
	Logger *slog.Logger
}

// Log is a tamper-evident audit trail in a store. It is safe for
// concurrent use, and any number of processes may keep one trail in one
// store (pgstore): see the package documentation.
type Log struct {
	cfg     Config
	st      *store.Store
	k       *keys
	process [8]byte
	counter atomic.Uint64

	mu      sync.Mutex
	notes   []Event // cleaned, waiting to be chained
	dropped int     // notes dropped since the last flush
	closed  bool

	chainMu    sync.Mutex // one chaining transaction at a time in this process
	unsure     *unsure    // a chaining of notes whose commit's outcome is unknown (under chainMu)
	fullScanAt time.Time  // when a flush last scanned every pending entry (under chainMu)

	kick, stop, done chan struct{}
	closeOnce        sync.Once
	closeErr         error

	recorded, noted, chained, droppedTotal atomic.Uint64
	unflushed                              atomic.Int64 // Records committed since the last flush began
}

// Stats are a Log's counters since Open.
type Stats struct {
	// Recorded counts the entries Record wrote in transactions that
	// committed; Noted the events Note accepted; Chained the entries this
	// process added to the chain; Dropped the notes dropped because
	// MaxNotes were waiting (or the Log was closed).
	Recorded, Noted, Chained, Dropped uint64
}

// Stats returns the Log's counters.
func (l *Log) Stats() Stats {
	return Stats{Recorded: l.recorded.Load(), Noted: l.noted.Load(), Chained: l.chained.Load(), Dropped: l.droppedTotal.Load()}
}

// Open returns the Log over cfg.Store, creating the trail's MAC key on
// first use, and starts chaining in the background (see
// Config.FlushEvery). Close stops it.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if cfg.Store == nil || cfg.Keyring == nil {
		return nil, errors.New("audit: Config.Store and Config.Keyring are required")
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.FlushEvery == 0 {
		cfg.FlushEvery = DefaultFlushEvery
	}
	if cfg.CheckpointEvery <= 0 {
		cfg.CheckpointEvery = DefaultCheckpointEvery
	}
	if cfg.MaxNotes <= 0 {
		cfg.MaxNotes = DefaultMaxNotes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	k, err := loadKeys(ctx, cfg.Store, cfg.Keyring, true)
	if err != nil {
		return nil, err
	}
	l := &Log{cfg: cfg, st: cfg.Store, k: k, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	_, _ = rand.Read(l.process[:])
	register(k)
	if cfg.FlushEvery > 0 {
		go l.run()
	} else {
		close(l.done)
	}
	return l, nil
}

// loadKeys loads the trail's MAC key: a random key wrapped by the master
// keyring (see the package documentation), created when create is set.
func loadKeys(ctx context.Context, st *store.Store, kr *crypto.Keyring, create bool) (*keys, error) {
	dk, err := wrappedkey.Load(ctx, st, kr, bucketKey, keyName, create)
	if err != nil {
		return nil, fmt.Errorf("audit: the trail's key: %w", err)
	}
	defer dk.Wipe()
	return &keys{id: dk.ID(), h: crypto.NewHasherFromKey(dk)}, nil
}

// RewrapMasterKey re-wraps the trail's key for the keyring's current
// identity after a master-key rotation; it returns how many keys changed.
func (l *Log) RewrapMasterKey(ctx context.Context) (int, error) {
	return wrappedkey.RewrapAll(ctx, l.st, l.cfg.Keyring, bucketKey)
}

// Record writes e inside tx, the transaction of the work it describes, so
// that the entry exists if and only if the work commits. It is for writes.
// By default each costs one Put in the caller's transaction and nothing
// else there — no read, so concurrent writers do not conflict on the
// trail — and the entry is chained, in the background, within
// Config.FlushEvery; with Config.ChainInTransaction it is chained in tx
// itself. It returns an error wrapping ErrInvalid for an event with an
// unknown operation or outcome; fields that hold what they must not are
// redacted (see Event). A nil Log records nothing.
func (l *Log) Record(tx store.Tx, e Event) error {
	if l == nil {
		return nil
	}
	now := l.cfg.Now()
	ev, err := clean(e, now, l.k.redactMark)
	if err != nil {
		return err
	}
	payload, err := encodePayload(ev)
	if err != nil {
		return err
	}
	if l.cfg.ChainInTransaction {
		head, err := readHead(tx, l.k)
		if err != nil {
			return err
		}
		if err := l.appendEntry(tx, &head, payload, now); err != nil {
			return err
		}
		if err := tx.Put(bucketMeta, headName, l.k.encodeMark(labelHead, head)); err != nil {
			return err
		}
		return store.OnCommit(tx, func() {
			l.recorded.Add(1)
			l.chained.Add(1)
		})
	}
	key := make([]byte, 0, 24)
	key = binary.BigEndian.AppendUint64(key, uint64(now.UnixNano()))
	key = append(key, l.process[:]...)
	key = binary.BigEndian.AppendUint64(key, l.counter.Add(1))
	if err := tx.Put(bucketPending, key, l.k.newPending(key, payload)); err != nil {
		return err
	}
	return store.OnCommit(tx, func() {
		l.recorded.Add(1)
		l.unflushed.Add(1)
	})
}

// Note queues e — a read or a refusal, which changes nothing and so has no
// transaction of its own — to be chained with the others noted within
// Config.FlushEvery in one transaction, so that reads do not each cost a
// commit. A crash loses what was noted and not flushed yet; a full queue
// drops the event and counts it (see Config.MaxNotes). Note never blocks
// on the store. It returns an error wrapping ErrInvalid for an event with
// an unknown operation or outcome. A nil Log notes nothing.
func (l *Log) Note(e Event) error {
	if l == nil {
		return nil
	}
	ev, err := clean(e, l.cfg.Now(), l.k.redactMark)
	if err != nil {
		return err
	}
	l.mu.Lock()
	if l.closed || len(l.notes) >= l.cfg.MaxNotes {
		l.dropped++
		l.mu.Unlock()
		l.droppedTotal.Add(1)
		return nil
	}
	l.notes = append(l.notes, ev)
	full := len(l.notes) >= batchSize
	l.mu.Unlock()
	l.noted.Add(1)
	if full {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	return nil
}

// Flush chains everything recorded (by any process) and noted (by this
// one) so far, and returns when it is committed.
func (l *Log) Flush(ctx context.Context) error { return l.flush(ctx, true) }

// flush is Flush; without full, as chaining in the background does, it
// looks only for the pending entries of the last pendingWindow, unless a
// full scan is due.
func (l *Log) flush(ctx context.Context, full bool) error {
	l.chainMu.Lock()
	defer l.chainMu.Unlock()
	n := l.unflushed.Swap(0)
	now := l.cfg.Now()
	var from []byte // where pending entries are looked for: all of them
	full = full || now.Sub(l.fullScanAt) >= fullScanEvery
	if !full {
		from = be64(uint64(now.Add(-pendingWindow).UnixNano()))
	}
	for {
		more, err := l.chainBatch(ctx, from)
		if err != nil {
			l.unflushed.Add(n)
			return err
		}
		if !more {
			if full {
				l.fullScanAt = now
			}
			return nil
		}
	}
}

// Close stops chaining in the background, flushes what this Log noted and
// recorded, and returns the flush's error. Notes after Close are dropped;
// Record still writes pending entries, which another Log chains. Close is
// idempotent; a nil Log has nothing to close.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	l.closeOnce.Do(func() {
		if l.cfg.FlushEvery > 0 {
			close(l.stop)
		}
		<-l.done
		l.mu.Lock()
		l.closed = true
		idle := len(l.notes) == 0 && l.dropped == 0 && l.unflushed.Load() == 0
		l.mu.Unlock()
		if !idle {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			l.closeErr = l.Flush(ctx)
		}
		unregister(l.k)
	})
	return l.closeErr
}

func (l *Log) run() {
	defer close(l.done)
	t := time.NewTicker(l.cfg.FlushEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		case <-l.kick:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := l.flush(ctx, false); err != nil {
			l.cfg.Logger.Warn("audit: chaining failed; retrying", "err", err)
		}
		cancel()
	}
}

// unsure is a chaining transaction that held notes and whose commit's
// outcome is unknown (store.ErrCommitUnknown: a database failing over, or
// pgstore's standby guard without a standby): the head it would have left
// and the notes it held. Pending entries need no such care — they are
// deleted in the transaction that chains them — but notes live in memory,
// and chaining them again after a commit that did take effect would put
// every one in the trail twice (with the guard, once per try for as long
// as the standby is away).
type unsure struct {
	head                    mark
	taken, dropped, chained int
}

// settle finds out whether the unsure chaining committed — the entry at
// its head's sequence number is there, with its link — and lets its notes
// go if it did. Until it can tell, nothing more is chained.
func (l *Log) settle(ctx context.Context) error {
	u := l.unsure
	committed := false
	err := l.st.View(ctx, func(tx store.Tx) error {
		v, err := tx.Get(bucketChain, be64(u.head.seq))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		committed = len(v) >= entryHeader && bytes.Equal(v[1+linkLen:entryHeader], u.head.link[:])
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: reading whether a chaining whose commit was unknown took effect: %w", err)
	}
	l.unsure = nil
	if committed {
		l.chained.Add(uint64(u.chained))
		l.forgetNotes(u.taken, u.dropped)
	}
	return nil
}

// chainBatch appends up to batchSize pending entries (keyed from on) and
// batchSize notes to the chain in one transaction, and reports whether
// more wait.
func (l *Log) chainBatch(ctx context.Context, from []byte) (bool, error) {
	if l.unsure != nil {
		if err := l.settle(ctx); err != nil {
			return false, err
		}
	}
	payloads, taken, dropped, err := l.notedBatch()
	if err != nil {
		return false, err
	}
	if len(payloads) == 0 {
		// Nothing noted: a read transaction tells whether anything was
		// recorded, so that an idle trail costs no commits.
		if found, err := l.anyPending(ctx, from); err != nil || !found {
			return false, err
		}
	}
	var morePending bool
	var chained int
	var head mark
	err = l.st.Update(ctx, func(tx store.Tx) error {
		var err error
		morePending, chained, head, err = l.chainIn(tx, payloads, from)
		return err
	})
	if errors.Is(err, store.ErrCommitUnknown) && len(payloads) > 0 {
		l.unsure = &unsure{head: head, taken: taken, dropped: dropped, chained: chained}
	}
	if err != nil {
		return false, fmt.Errorf("audit: chaining: %w", err)
	}
	l.chained.Add(uint64(chained))
	moreNotes := l.forgetNotes(taken, dropped)
	return morePending || moreNotes, nil
}

// notedBatch returns the payloads of the first batchSize notes, led by an
// entry that counts the notes dropped if any were, and how many notes and
// dropped notes they stand for. The notes stay until forgetNotes: a batch
// that fails to commit is tried again.
func (l *Log) notedBatch() (payloads [][]byte, taken, dropped int, err error) {
	l.mu.Lock()
	notes := slices.Clone(l.notes[:min(len(l.notes), batchSize)])
	dropped = l.dropped
	l.mu.Unlock()
	taken = len(notes)
	if dropped > 0 {
		ev, err := clean(Event{Op: OpAuditNotesDropped, Outcome: OutcomeFailed, Count: dropped}, l.cfg.Now(), l.k.redactMark)
		if err != nil {
			return nil, 0, 0, err
		}
		notes = append([]Event{ev}, notes...)
	}
	payloads = make([][]byte, len(notes))
	for i, ev := range notes {
		if payloads[i], err = encodePayload(ev); err != nil {
			return nil, 0, 0, err
		}
	}
	return payloads, taken, dropped, nil
}

// anyPending reports whether an entry was recorded and waits to be
// chained.
func (l *Log) anyPending(ctx context.Context, from []byte) (bool, error) {
	found := false
	err := l.st.View(ctx, func(tx store.Tx) error {
		found = false
		return tx.Scan(bucketPending, store.Range{Start: from, Limit: 1}, func(_, _ []byte) error { found = true; return nil })
	})
	return found, err
}

// chainIn appends up to batchSize pending entries, then payloads, to the
// chain in tx and writes the new head. It reports whether more pending
// entries wait, how many entries it chained, and the new head.
func (l *Log) chainIn(tx store.Tx, payloads [][]byte, from []byte) (morePending bool, chained int, head mark, err error) {
	head, err = readHead(tx, l.k)
	if err != nil {
		return false, 0, head, err
	}
	todo, morePending, err := l.readPending(tx, from)
	if err != nil {
		return false, 0, head, err
	}
	if len(todo) == 0 && len(payloads) == 0 {
		return morePending, 0, head, nil
	}
	now := l.cfg.Now()
	for _, p := range todo {
		if err := l.appendEntry(tx, &head, p.payload, now); err != nil {
			return false, 0, head, err
		}
		if err := tx.Delete(bucketPending, p.key); err != nil {
			return false, 0, head, err
		}
	}
	for _, p := range payloads {
		if err := l.appendEntry(tx, &head, p, now); err != nil {
			return false, 0, head, err
		}
	}
	return morePending, len(todo) + len(payloads), head, tx.Put(bucketMeta, headName, l.k.encodeMark(labelHead, head))
}

// pendingEntry is a recorded entry waiting to be chained: its key in
// bucketPending and its opened payload.
type pendingEntry struct{ key, payload []byte }

// readPending returns up to batchSize pending entries keyed from on (all
// of them for nil) that authenticate, and whether more may wait.
func (l *Log) readPending(tx store.Tx, from []byte) ([]pendingEntry, bool, error) {
	var todo []pendingEntry
	scanned := 0
	err := tx.Scan(bucketPending, store.Range{Start: from, Limit: batchSize}, func(k, v []byte) error {
		scanned++
		p, err := l.k.openPending(k, v)
		if err != nil {
			// Never chain what does not authenticate: Verify names it.
			l.cfg.Logger.Error("audit: a pending entry does not authenticate; it is left for the verifier", "key", fmt.Sprintf("%x", k))
			return nil
		}
		todo = append(todo, pendingEntry{k, p})
		return nil
	})
	return todo, scanned == batchSize && len(todo) > 0, err
}

// forgetNotes lets go of the taken notes and dropped count that were
// chained, and reports whether more notes wait for another batch now.
func (l *Log) forgetNotes(taken, dropped int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dropped -= dropped
	clear(l.notes[:taken]) // let the chained ones go
	l.notes = l.notes[taken:]
	return len(l.notes) > 0 && (taken == batchSize || l.closed)
}

// appendEntry appends payload to the chain after head, with its account
// index key and, when one is due, a checkpoint, and moves head to it. The
// caller writes the head.
func (l *Log) appendEntry(tx store.Tx, head *mark, payload []byte, now time.Time) error {
	seq := head.seq + 1
	v := l.k.newEntry(seq, head.link, payload)
	if err := tx.Put(bucketChain, be64(seq), v); err != nil {
		return err
	}
	ns, acct, err := payloadHeader(payload)
	if err != nil {
		return err
	}
	if len(acct) > 0 {
		if err := tx.Put(bucketIndex, indexKey(acct, ns, seq), nil); err != nil {
			return err
		}
	}
	head.seq = seq
	copy(head.link[:], v[1+linkLen:entryHeader])
	if seq-head.cp >= uint64(l.cfg.CheckpointEvery) {
		return l.checkpoint(tx, head, now)
	}
	return nil
}

// checkpoint writes a checkpoint at head, which becomes the last one, and
// arranges for retention to remove the segment it ends.
func (l *Log) checkpoint(tx store.Tx, head *mark, now time.Time) error {
	cp := mark{seq: head.seq, link: head.link, cp: head.cp, ns: now.UnixNano()}
	if err := tx.Put(bucketCheckpoints, be64(cp.seq), l.k.encodeMark(labelCheckpoint, cp)); err != nil {
		return err
	}
	head.cp = cp.seq
	if l.cfg.Retention < 0 {
		return nil
	}
	return expiry.Set(tx, expiryKind, segmentKey(l.k.id, cp.seq), now.Add(l.cfg.Retention))
}

// readHead returns the head of the chain: the zero mark before the first
// entry. A head that does not authenticate is an error: nothing is added
// to a chain whose end was tampered with.
func readHead(tx store.Tx, k *keys) (mark, error) {
	v, err := tx.Get(bucketMeta, headName)
	if errors.Is(err, store.ErrNotFound) {
		// No head: a new trail — unless entries exist, whose head was
		// deleted. Appending then would overwrite them.
		found := false
		if err := tx.Scan(bucketChain, store.Range{Limit: 1}, func(_, _ []byte) error { found = true; return nil }); err != nil {
			return mark{}, err
		}
		if found {
			return mark{}, fmt.Errorf("%w: the head is missing", ErrTampered)
		}
		return readBase(tx, k)
	}
	if err != nil {
		return mark{}, err
	}
	m, err := k.decodeMark(labelHead, v)
	if err != nil {
		return mark{}, fmt.Errorf("%w: the head: %v", ErrTampered, err)
	}
	return m, nil
}

// readBase returns the base — the last entry retention removed — or the
// zero mark when it has removed none.
func readBase(tx store.Tx, k *keys) (mark, error) {
	v, err := tx.Get(bucketMeta, baseName)
	if errors.Is(err, store.ErrNotFound) {
		return mark{}, nil
	}
	if err != nil {
		return mark{}, err
	}
	m, err := k.decodeMark(labelBase, v)
	if err != nil {
		return mark{}, fmt.Errorf("%w: the retention base: %v", ErrTampered, err)
	}
	m.cp = m.seq
	return m, nil
}
