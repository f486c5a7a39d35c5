package audit

import (
	"errors"
	"sync"
	"time"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/store"
)

// Retention removes the oldest entries a segment at a time: each
// checkpoint, when it is written, sets an entry of package expiry's index
// (kind "audit.segment") for when the entries up to it may go. The
// sweeper then calls sweepSegment, in its own transaction, which deletes
// the entries up to that checkpoint with their account index keys and
// checkpoints, and moves the base — a MACed record of the last entry
// removed — to it. Verify starts after the base, and checks that the first
// entry left links to the base's link, so the chain stays verifiable
// across a sweep; entries deleted any other way are missing after the
// base.
//
// The base must be MACed by the sweep itself (a copy of a checkpoint's MAC
// would let anyone delete a prefix and claim retention did), and expiry's
// Funcs are registered once per process, not per Log: so every open Log
// registers its key here by id, and the expiry entry names the key.

// maxSweepEntries bounds the entries one call of sweepSegment removes; a
// backlog (retention shortened on a large trail) goes on in later batches.
const maxSweepEntries = 4096

var (
	keysMu   sync.Mutex
	keysByID = map[crypto.KeyID]*registered{}
)

type registered struct {
	k    *keys
	refs int
}

func register(k *keys) {
	keysMu.Lock()
	defer keysMu.Unlock()
	r := keysByID[k.id]
	if r == nil {
		r = &registered{k: k}
		keysByID[k.id] = r
	}
	r.refs++
}

func unregister(k *keys) {
	keysMu.Lock()
	defer keysMu.Unlock()
	if r := keysByID[k.id]; r != nil {
		if r.refs--; r.refs == 0 {
			delete(keysByID, k.id)
		}
	}
}

func registeredKeys(id crypto.KeyID) *keys {
	keysMu.Lock()
	defer keysMu.Unlock()
	if r := keysByID[id]; r != nil {
		return r.k
	}
	return nil
}

// segmentKey is the expiry entry's key of the segment ending at seq.
func segmentKey(id crypto.KeyID, seq uint64) []byte {
	return append(id[:], be64(seq)...)
}

// retryLater is how long a segment waits when this process has no open
// Log with its key.
const retryLater = time.Hour

func init() {
	expiry.Handle(expiryKind, sweepSegment)
}

// sweepSegment removes, inside tx, the entries up to the checkpoint the
// expiry entry names, oldest first, and moves the base.
func sweepSegment(tx store.Tx, key []byte, at time.Time) (bool, error) {
	if len(key) != 16 {
		return false, nil // not ours to understand: the sweeper drops it
	}
	var id crypto.KeyID
	copy(id[:], key)
	target, _ := seqOf(key[8:])
	k := registeredKeys(id)
	if k == nil {
		// No Log with this key is open in this process: try again later
		// (the sweeper deletes the entry it called us for).
		return false, expiry.Set(tx, expiryKind, key, at.Add(retryLater))
	}
	base, err := readBase(tx, k)
	if err != nil {
		return false, err
	}
	if base.seq >= target {
		return false, nil // removed already, with an earlier segment
	}
	// The checkpoints from the base to the target, oldest first.
	var cps []mark
	err = tx.Scan(bucketCheckpoints, store.Range{Start: be64(base.seq + 1), End: be64(target + 1)}, func(_, v []byte) error {
		m, err := k.decodeMark(labelCheckpoint, v)
		if err != nil {
			return errSweepTampered
		}
		cps = append(cps, m)
		return nil
	})
	if errors.Is(err, errSweepTampered) {
		return false, nil // leave the evidence to Verify
	}
	if err != nil {
		return false, err
	}
	if len(cps) == 0 || cps[len(cps)-1].seq != target {
		return false, nil // the checkpoint is gone: Verify will say so
	}
	removed := 0
	for _, cp := range cps {
		if removed >= maxSweepEntries {
			// A backlog: the rest in a later batch of the same sweep.
			if err := expiry.Set(tx, expiryKind, key, at.Add(time.Nanosecond)); err != nil {
				return false, err
			}
			break
		}
		if err := removeSegment(tx, base.seq, cp.seq); err != nil {
			return false, err
		}
		removed += int(cp.seq - base.seq)
		base = mark{seq: cp.seq, link: cp.link}
	}
	return true, tx.Put(bucketMeta, baseName, k.encodeMark(labelBase, base))
}

// removeSegment deletes the entries after the one numbered from up to the
// checkpoint numbered to, their index keys and that checkpoint.
func removeSegment(tx store.Tx, from, to uint64) error {
	var entries, index [][]byte
	err := tx.Scan(bucketChain, store.Range{Start: be64(from + 1), End: be64(to + 1)}, func(ck, v []byte) error {
		entries = append(entries, ck)
		e, err := parseEntry(v)
		if err != nil {
			return nil // removed all the same: it was due
		}
		if ns, acct, err := payloadHeader(e.payload); err == nil && len(acct) > 0 {
			seq, _ := seqOf(ck)
			index = append(index, indexKey(acct, ns, seq))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, ik := range index {
		if err := tx.Delete(bucketIndex, ik); err != nil {
			return err
		}
	}
	for _, ck := range entries {
		if err := tx.Delete(bucketChain, ck); err != nil {
			return err
		}
	}
	return tx.Delete(bucketCheckpoints, be64(to))
}

var errSweepTampered = errors.New("audit: a checkpoint does not authenticate")
