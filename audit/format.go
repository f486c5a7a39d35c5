package audit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"iter"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/cardvault/cardvault/crypto"
)

// The buckets of the trail.
const (
	bucketKey         = "audit.key"         // "key" → the MAC key, wrapped by the master keyring (nothing else: RewrapAll re-wraps every value)
	bucketMeta        = "audit.meta"        // "head", "base"
	bucketChain       = "audit.chain"       // seq (8 bytes, big-endian) → entry
	bucketCheckpoints = "audit.checkpoints" // seq → checkpoint
	bucketPending     = "audit.pending"     // unix ns ‖ process id ‖ counter → pending entry
	bucketIndex       = "audit.index"       // account ‖ 0x00 ‖ unix ns ‖ seq → ""
	expiryKind        = "audit.segment"     // package expiry's kind: key id ‖ checkpoint seq
)

var (
	keyName  = []byte("key")
	headName = []byte("head")
	baseName = []byte("base")
)

// The labels of the keyed hashes, one per use.
const (
	labelLink       = "audit.link"
	labelPending    = "audit.pending"
	labelHead       = "audit.head"
	labelBase       = "audit.base"
	labelCheckpoint = "audit.checkpoint"
	labelIndex      = "audit.index"
	labelRedact     = "audit.redact"
)

const version = 1

// linkLen is the size of a link and of a MAC: HMAC-SHA-256.
const linkLen = 32

type link = [linkLen]byte

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), v) }

// payload is an event as the trail stores it: its time (unix nanoseconds,
// big-endian) and its account (a length byte, the bytes), which the
// account index and the sweep read without decoding the rest, then the
// other fields, each present one as a tag byte, a uvarint length and the
// bytes, in the order of the tags (a count as a tag and a uvarint):
//
//	time (8) | len(account) (1) | account | (tag | uvarint len | bytes)...
//
// Binary and not JSON because every audited write carries one in its
// transaction: it is about half the bytes, and a tenth of the time.
func encodePayload(e Event) ([]byte, error) {
	if len(e.Account) > MaxAccountLen {
		return nil, errMalformed // clean keeps it shorter
	}
	p := make([]byte, 0, 128)
	p = binary.BigEndian.AppendUint64(p, uint64(e.Time.UnixNano()))
	p = append(p, byte(len(e.Account)))
	p = append(p, e.Account...)
	for tag, v := range bodyStrings(&e) {
		if *v != "" {
			p = append(p, byte(tag))
			p = binary.AppendUvarint(p, uint64(len(*v)))
			p = append(p, *v...)
		}
	}
	if e.Count > 0 {
		p = append(p, tagCount)
		p = binary.AppendUvarint(p, uint64(e.Count))
	}
	if len(e.Redacted) > 0 {
		r := strings.Join(e.Redacted, ",")
		p = append(p, tagRedacted)
		p = binary.AppendUvarint(p, uint64(len(r)))
		p = append(p, r...)
	}
	return p, nil
}

// The tags of a payload's fields: the strings from tagOp to tagReason in
// bodyStrings' order, then the count and the redacted fields' names.
const (
	tagOp = 1 + iota
	tagOutcome
	tagAPIKeyID
	tagTerminal
	tagEndpoint
	tagClient
	tagUser
	tagToken
	tagReference
	tagResource
	tagReason
	tagCount
	tagRedacted
)

// bodyStrings yields the string fields of e that follow the header, by tag.
func bodyStrings(e *Event) iter.Seq2[int, *string] {
	return func(yield func(int, *string) bool) {
		for i, p := range []*string{(*string)(&e.Op), (*string)(&e.Outcome), &e.APIKeyID, &e.Terminal, &e.Endpoint,
			&e.Client, &e.User, &e.Token, &e.Reference, &e.Resource, &e.Reason} {
			if !yield(tagOp+i, p) {
				return
			}
		}
	}
}

// payloadHeader returns a payload's time and account without decoding
// the rest.
func payloadHeader(p []byte) (int64, []byte, error) {
	if len(p) < 9 || len(p) < 9+int(p[8]) {
		return 0, nil, errMalformed
	}
	return int64(binary.BigEndian.Uint64(p)), p[9 : 9+int(p[8])], nil
}

func decodePayload(p []byte) (Event, error) {
	ns, acct, err := payloadHeader(p)
	if err != nil {
		return Event{}, err
	}
	e := Event{Time: time.Unix(0, ns).UTC(), Account: string(acct)}
	var strs [tagReason + 1]*string
	for tag, v := range bodyStrings(&e) {
		strs[tag] = v
	}
	rest, last := p[9+len(acct):], 0
	for len(rest) > 0 {
		tag := int(rest[0])
		n, w := binary.Uvarint(rest[1:])
		if tag <= last || tag > tagRedacted || w <= 0 {
			return Event{}, errMalformed
		}
		last, rest = tag, rest[1+w:]
		switch {
		case tag == tagCount:
			if n > math.MaxInt32 {
				return Event{}, errMalformed
			}
			e.Count = int(n)
			continue
		case n > uint64(len(rest)):
			return Event{}, errMalformed
		case tag == tagRedacted:
			e.Redacted = strings.Split(string(rest[:n]), ",")
		default:
			*strs[tag] = string(rest[:n])
		}
		rest = rest[n:]
	}
	if e.Op == "" || e.Outcome == "" {
		return Event{}, errMalformed
	}
	return e, nil
}

var errMalformed = errors.New("audit: malformed record")

// An entry of the chain, under its sequence number:
//
//	version (1) | prev (32) | link (32) | payload
//
// prev is the link of the entry before it (zero before the first entry of
// a trail), and link = HMAC(key, "audit.link", seq ‖ version ‖ prev ‖
// payload): it authenticates the entry at its place, and the next entry's
// prev repeats it, so the entries form a chain.
type entry struct {
	prev, link link
	payload    []byte
}

const entryHeader = 1 + 2*linkLen

func (k *keys) entryLink(seq uint64, prev link, payload []byte) link {
	var hd [9]byte
	binary.BigEndian.PutUint64(hd[:], seq)
	hd[8] = version
	return k.sum(labelLink, hd[:], prev[:], payload)
}

func (k *keys) newEntry(seq uint64, prev link, payload []byte) []byte {
	l := k.entryLink(seq, prev, payload)
	v := make([]byte, 0, entryHeader+len(payload))
	v = append(v, version)
	v = append(v, prev[:]...)
	v = append(v, l[:]...)
	return append(v, payload...)
}

func parseEntry(v []byte) (entry, error) {
	if len(v) < entryHeader || v[0] != version {
		return entry{}, errMalformed
	}
	var e entry
	copy(e.prev[:], v[1:])
	copy(e.link[:], v[1+linkLen:])
	e.payload = v[entryHeader:]
	return e, nil
}

// A pending entry, recorded by Record in the caller's transaction and not
// chained yet, under a key of its own (unix ns ‖ process id ‖ counter):
//
//	version (1) | mac (32) | payload
//
// mac = HMAC(key, "audit.pending", key ‖ version ‖ payload): a pending
// entry cannot be altered or moved, and the chainer chains only those that
// authenticate.
func (k *keys) pendingMAC(key, payload []byte) link {
	return k.sum(labelPending, key, []byte{version}, payload)
}

func (k *keys) newPending(key, payload []byte) []byte {
	mac := k.pendingMAC(key, payload)
	v := make([]byte, 0, 1+linkLen+len(payload))
	v = append(v, version)
	v = append(v, mac[:]...)
	return append(v, payload...)
}

// openPending returns the payload of a pending entry that authenticates.
func (k *keys) openPending(key, v []byte) ([]byte, error) {
	if len(v) < 1+linkLen || v[0] != version {
		return nil, errMalformed
	}
	mac := k.pendingMAC(key, v[1+linkLen:])
	if !crypto.Equal(mac[:], v[1:1+linkLen]) {
		return nil, errForged
	}
	return v[1+linkLen:], nil
}

var errForged = errors.New("audit: a record does not authenticate")

// mark is a position in the chain: the head (the last entry), the base
// (the last entry retention removed) or a checkpoint.
//
//	head        version | seq (8) | link (32) | last checkpoint seq (8) | mac (32)
//	base        version | seq (8) | link (32) | mac (32)
//	checkpoint  version | seq (8) | link (32) | previous checkpoint seq (8) | unix ns (8) | mac (32)
//
// Each mac is HMAC(key, label, the bytes before it) with a label of its
// own, so that neither can pass for another — a checkpoint's for a base,
// say, which would let whoever deletes the entries up to it claim that
// retention removed them.
type mark struct {
	seq  uint64
	link link
	cp   uint64 // head: the last checkpoint; checkpoint: the one before it
	ns   int64  // checkpoint: when it was written
}

func (k *keys) encodeMark(label string, m mark) []byte {
	v := []byte{version}
	v = binary.BigEndian.AppendUint64(v, m.seq)
	v = append(v, m.link[:]...)
	switch label {
	case labelHead:
		v = binary.BigEndian.AppendUint64(v, m.cp)
	case labelCheckpoint:
		v = binary.BigEndian.AppendUint64(v, m.cp)
		v = binary.BigEndian.AppendUint64(v, uint64(m.ns))
	}
	mac := k.sum(label, v)
	return append(v, mac[:]...)
}

func (k *keys) decodeMark(label string, v []byte) (mark, error) {
	n := 1 + 8 + linkLen
	switch label {
	case labelHead:
		n += 8
	case labelCheckpoint:
		n += 16
	}
	if len(v) != n+linkLen || v[0] != version {
		return mark{}, errMalformed
	}
	mac := k.sum(label, v[:n])
	if !crypto.Equal(mac[:], v[n:]) {
		return mark{}, errForged
	}
	m := mark{seq: binary.BigEndian.Uint64(v[1:])}
	copy(m.link[:], v[9:])
	switch label {
	case labelHead:
		m.cp = binary.BigEndian.Uint64(v[9+linkLen:])
	case labelCheckpoint:
		m.cp = binary.BigEndian.Uint64(v[9+linkLen:])
		m.ns = int64(binary.BigEndian.Uint64(v[17+linkLen:]))
	}
	return m, nil
}

// indexKey is the account index's key of the entry seq.
func indexKey(account []byte, ns int64, seq uint64) []byte {
	k := make([]byte, 0, len(account)+17)
	k = append(k, account...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(ns))
	return binary.BigEndian.AppendUint64(k, seq)
}

// parseIndexKey splits an index key.
func parseIndexKey(k []byte) (account []byte, ns int64, seq uint64, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 || len(k) != i+17 {
		return nil, 0, 0, false
	}
	return k[:i], int64(binary.BigEndian.Uint64(k[i+1:])), binary.BigEndian.Uint64(k[i+9:]), true
}

// redactMark is what a redacted value becomes: "redacted:" and 64 bits of
// a keyed hash of it, a nibble a letter from a to p — hex digits could
// themselves make a run that looks like a card number.
func (k *keys) redactMark(v string) string {
	s := k.sum(labelRedact, []byte(v))
	b := []byte("redacted:")
	for _, c := range s[:8] {
		b = append(b, 'a'+c>>4, 'a'+c&0xf)
	}
	return string(b)
}

// keys is the trail's MAC key.
type keys struct {
	id    crypto.KeyID
	h     *crypto.Hasher
	pools sync.Map // label → *sync.Pool of the label's hash.Hash
}

// sum is h.Sum(label, the parts joined), without joining them, and with
// the label's keyed hash reused (Reset): Verify computes two per entry,
// and even the Hasher's clone of a label's keyed state costs three
// allocations a pooled hash does not.
func (k *keys) sum(label string, parts ...[]byte) link {
	p, ok := k.pools.Load(label)
	if !ok {
		p, _ = k.pools.LoadOrStore(label, &sync.Pool{New: func() any { return k.h.New(label) }})
	}
	pool := p.(*sync.Pool)
	m := pool.Get().(hash.Hash)
	for _, b := range parts {
		m.Write(b)
	}
	var out link
	m.Sum(out[:0])
	m.Reset()
	pool.Put(m)
	return out
}

func seqOf(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("a key of %d bytes", len(k))
	}
	return binary.BigEndian.Uint64(k), nil
}
