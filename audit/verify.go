package audit

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store"
)

// Report is what Verify found in a trail that verifies.
type Report struct {
	// Entries is how many chained entries were checked: First to Last.
	Entries     uint64
	First, Last uint64
	// Removed is how many entries retention removed before First.
	Removed uint64
	// Checkpoints is how many checkpoints were checked.
	Checkpoints int
	// Pending is how many entries were recorded and not chained yet, each
	// checked on its own MAC.
	Pending int
	// Head is the link of the last entry, in hex: a value to keep outside
	// the database (with a SIEM's copy of the export, say), because a
	// whole trail rolled back to an earlier copy — head included — is
	// consistent in itself.
	Head string
	// Key is the id of the trail's MAC key: the same for the life of a
	// deployment (master-key rotation re-wraps it, it does not change it).
	// A different one means the key was replaced — see the package
	// documentation, "The key".
	Key string
}

// TamperError is what Verify returns for a trail that does not verify. It
// wraps ErrTampered.
type TamperError struct {
	// Seq is the first bad entry, or 0 when the fault is not in an entry
	// of the chain (a pending entry, the head, a checkpoint, the index:
	// Where says which).
	Seq uint64
	// Where names the record at fault ("entry 17", "checkpoint 1024",
	// "pending entry 0189…", "the head", "the account index").
	Where string
	// What says what is wrong with it.
	What string
}

func (e *TamperError) Error() string { return "audit: " + e.Where + ": " + e.What }

// Unwrap makes errors.Is(err, ErrTampered) true.
func (e *TamperError) Unwrap() error { return ErrTampered }

func entryFault(seq uint64, what string) *TamperError {
	return &TamperError{Seq: seq, Where: fmt.Sprintf("entry %d", seq), What: what}
}

func fault(where, what string) *TamperError { return &TamperError{Where: where, What: what} }

// Verify checks the whole trail in st, in one read-only transaction that
// writes nothing (not even a missing key): every chained entry
// authenticates at its place and links to the one before it, from the
// retention base to the head; every checkpoint, the head and the base
// authenticate and agree with the entries; the account index holds exactly
// one key per entry with an account; every pending entry authenticates. It
// returns the first fault as a *TamperError wrapping ErrTampered, in the
// order of the entries, and other errors (the store, a master key that
// does not open the trail's key) as they are.
//
// An empty store verifies, with nothing in it. Verify needs the master
// keyring that wraps the trail's key.
func Verify(ctx context.Context, st *store.Store, kr *crypto.Keyring) (Report, error) {
	var rep Report
	err := st.View(ctx, func(tx store.Tx) error {
		rep = Report{}
		k, err := verifyKeys(tx, kr)
		if err != nil || k == nil {
			return err
		}
		v := &verifier{tx: tx, k: k, rep: &rep}
		if err := v.run(); err != nil {
			return err
		}
		rep.Key = k.id.String()
		return nil
	})
	return rep, err
}

// verifyKeys returns the trail's keys, or nil when the trail has no key
// and nothing else either.
func verifyKeys(tx store.Tx, kr *crypto.Keyring) (*keys, error) {
	wrapped, err := tx.Get(bucketKey, keyName)
	if errors.Is(err, store.ErrNotFound) {
		for _, b := range []string{bucketChain, bucketMeta, bucketPending, bucketCheckpoints, bucketIndex} {
			found := false
			if err := tx.Scan(b, store.Range{Limit: 1}, func(_, _ []byte) error { found = true; return nil }); err != nil {
				return nil, err
			}
			if found {
				return nil, fault("the trail's key", "it is missing, and the trail is not empty")
			}
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	dk, err := kr.Unwrap(wrapped)
	if err != nil {
		return nil, fmt.Errorf("audit: the trail's key does not open with this master key: %w", err)
	}
	defer dk.Wipe()
	return &keys{id: dk.ID(), h: crypto.NewHasherFromKey(dk)}, nil
}

type verifier struct {
	tx  store.Tx
	k   *keys
	rep *Report

	head, base mark
	hasHead    bool
	cps        map[uint64]mark // the checkpoints by the entry they cover
	cpOrder    []uint64
	index      link // XOR of the keyed hashes of the index keys the entries call for
}

// run checks the trail in stages, each reading one bucket once: the head
// and the retention base, the checkpoints, the entries from the base to
// the head, the checkpoints' own chain, the account index, and the
// entries not chained yet.
func (v *verifier) run() error {
	for _, stage := range []func() error{v.marks, v.checkpoints, v.chain, v.checkpointChain, v.accountIndex, v.pending} {
		if err := stage(); err != nil {
			return err
		}
	}
	v.rep.First, v.rep.Last, v.rep.Removed, v.rep.Checkpoints = v.base.seq+1, v.head.seq, v.base.seq, len(v.cps)
	if v.rep.Entries == 0 {
		v.rep.First = 0
	}
	if v.head.seq > 0 {
		v.rep.Head = hex.EncodeToString(v.head.link[:])
	}
	return nil
}

// marks reads the head and the retention base; a trail without a head
// starts at its base.
func (v *verifier) marks() error {
	raw, err := v.tx.Get(bucketMeta, headName)
	switch {
	case err == nil:
		if v.head, err = v.k.decodeMark(labelHead, raw); err != nil {
			return fault("the head", "it does not authenticate (altered)")
		}
		v.hasHead = true
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	raw, err = v.tx.Get(bucketMeta, baseName)
	switch {
	case err == nil:
		if v.base, err = v.k.decodeMark(labelBase, raw); err != nil {
			return fault("the retention base", "it does not authenticate (altered)")
		}
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	if !v.hasHead {
		v.head = mark{seq: v.base.seq, link: v.base.link, cp: v.base.seq}
	}
	return nil
}

// checkpoints reads the checkpoints, which are few (one per
// Config.CheckpointEvery entries): each authenticates under its own key.
func (v *verifier) checkpoints() error {
	v.cps = map[uint64]mark{}
	return v.tx.Scan(bucketCheckpoints, store.Range{}, func(key, val []byte) error {
		seq, err := seqOf(key)
		if err != nil {
			return fault("the checkpoints", "a key is malformed")
		}
		m, err := v.k.decodeMark(labelCheckpoint, val)
		if err != nil || m.seq != seq {
			return fault(fmt.Sprintf("checkpoint %d", seq), "it does not authenticate (altered or moved)")
		}
		v.cps[seq] = m
		v.cpOrder = append(v.cpOrder, seq)
		return nil
	})
}

// chain checks the entries, in order, from the base to the head, and
// notes the index keys they call for.
func (v *verifier) chain() error {
	head, base := v.head, v.base
	next, prev := base.seq+1, base.link
	err := v.tx.Scan(bucketChain, store.Range{}, func(key, val []byte) error {
		seq, err := seqOf(key)
		if err != nil {
			return fault("the chain", "a key is malformed")
		}
		switch {
		case !v.hasHead:
			return fault("the head", "it is missing, and the chain is not empty")
		case seq <= base.seq:
			return entryFault(seq, fmt.Sprintf("it is before the retention base (%d), where nothing should be left", base.seq))
		case seq > head.seq:
			return entryFault(seq, fmt.Sprintf("it is after the head (%d): added outside the trail", head.seq))
		case seq != next:
			return entryFault(next, "it is missing")
		}
		e, err := parseEntry(val)
		if err != nil {
			return entryFault(seq, "it is malformed (altered)")
		}
		if l := v.k.entryLink(seq, e.prev, e.payload); !crypto.Equal(l[:], e.link[:]) {
			return entryFault(seq, "it does not authenticate at its place (altered or moved)")
		}
		if e.prev != prev {
			if seq == base.seq+1 && base.seq > 0 {
				return entryFault(seq, "it does not link to the retention base")
			}
			return entryFault(seq, fmt.Sprintf("it does not link to entry %d (that entry was replaced)", seq-1))
		}
		if cp, ok := v.cps[seq]; ok && cp.link != e.link {
			return fault(fmt.Sprintf("checkpoint %d", seq), "it does not match its entry")
		}
		if ns, acct, err := payloadHeader(e.payload); err != nil {
			return entryFault(seq, "it is malformed (altered)")
		} else if len(acct) > 0 {
			xorInto(&v.index, v.k.sum(labelIndex, indexKey(acct, ns, seq)))
		}
		prev, next = e.link, seq+1
		v.rep.Entries++
		return nil
	})
	if err != nil {
		return err
	}
	if next <= head.seq {
		return entryFault(next, fmt.Sprintf("it is missing: the head records entries up to %d (the tail was cut)", head.seq))
	}
	if prev != head.link {
		return fault("the head", fmt.Sprintf("it does not match entry %d", head.seq))
	}
	return nil
}

// checkpointChain checks that the checkpoints form a chain of their own,
// from the base to the one the head names, so that one deleted is missed.
func (v *verifier) checkpointChain() error {
	want := v.base.seq
	for _, seq := range v.cpOrder {
		cp := v.cps[seq]
		switch {
		case seq <= v.base.seq || seq > v.head.seq:
			return fault(fmt.Sprintf("checkpoint %d", seq), "it is outside the chain")
		case cp.cp != want:
			return fault(fmt.Sprintf("checkpoint %d", cp.cp), "it is missing")
		}
		want = seq
	}
	if v.head.cp != want {
		return fault(fmt.Sprintf("checkpoint %d", v.head.cp), "it is missing (the head names it)")
	}
	return nil
}

// accountIndex checks that the index keys present are the keys the
// entries call for.
func (v *verifier) accountIndex() error {
	var present link
	err := v.tx.Scan(bucketIndex, store.Range{}, func(key, _ []byte) error {
		xorInto(&present, v.k.sum(labelIndex, key))
		return nil
	})
	if err != nil {
		return err
	}
	if present != v.index {
		return v.indexFault()
	}
	return nil
}

// pending checks the entries not chained yet, each authenticated on its
// own.
func (v *verifier) pending() error {
	return v.tx.Scan(bucketPending, store.Range{}, func(key, val []byte) error {
		if _, err := v.k.openPending(key, val); err != nil {
			return fault("pending entry "+hex.EncodeToString(key), "it does not authenticate (altered or moved)")
		}
		v.rep.Pending++
		return nil
	})
}

// indexFault finds what the index lacks or has too much, the slow way:
// one Get per key.
func (v *verifier) indexFault() error {
	err := v.tx.Scan(bucketIndex, store.Range{}, func(key, _ []byte) error {
		acct, ns, seq, ok := parseIndexKey(key)
		if !ok {
			return fault("the account index", "a key is malformed")
		}
		val, err := v.tx.Get(bucketChain, be64(seq))
		if errors.Is(err, store.ErrNotFound) {
			return fault("the account index", fmt.Sprintf("it names entry %d, which does not exist", seq))
		}
		if err != nil {
			return err
		}
		e, err := parseEntry(val)
		if err != nil {
			return entryFault(seq, "it is malformed (altered)")
		}
		ens, eacct, err := payloadHeader(e.payload)
		if err != nil || ens != ns || string(eacct) != string(acct) {
			return fault("the account index", fmt.Sprintf("a key for entry %d does not match the entry", seq))
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = v.tx.Scan(bucketChain, store.Range{}, func(key, val []byte) error {
		seq, _ := seqOf(key)
		e, _ := parseEntry(val)
		ns, acct, _ := payloadHeader(e.payload)
		if len(acct) == 0 {
			return nil
		}
		if _, err := v.tx.Get(bucketIndex, indexKey(acct, ns, seq)); errors.Is(err, store.ErrNotFound) {
			return fault("the account index", fmt.Sprintf("entry %d is missing from it (hidden from its account's listing)", seq))
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return fault("the account index", "it does not match the entries")
}

func xorInto(dst *link, s [32]byte) {
	for i := range dst {
		dst[i] ^= s[i]
	}
}
