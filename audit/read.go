package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cardvault/cardvault/store"
)

// Entry is an event as the trail keeps it: its place in the chain, and the
// event.
type Entry struct {
	// Seq is the entry's place in the chain, from 1.
	Seq uint64 `json:"seq"`
	Event
}

// MaxListLimit is the most entries List returns at once.
const MaxListLimit = 1000

// cursorLen is the length of a List cursor: the hex of the last entry's
// time and sequence number.
const cursorLen = 32

// ParseRange reads the bounds of a List, from and to, as RFC 3339 times
// ("" leaves that end open). Its error names the bound, never its value.
func ParseRange(from, to string) (time.Time, time.Time, error) {
	var bounds [2]time.Time
	for i, b := range [2]struct{ name, v string }{{"from", from}, {"to", to}} {
		if b.v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, b.v)
		if err != nil {
			return time.Time{}, time.Time{}, errors.New(b.name + " must be an RFC 3339 time, such as 2026-11-25T12:00:00Z")
		}
		bounds[i] = t
	}
	return bounds[0], bounds[1], nil
}

// List returns the entries of account's events with from <= Time < to
// (a zero from or to leaves that end open), newest first, at most limit
// (1 to MaxListLimit) of them, from the account index — it reads no other
// account's entries. cursor is "" for the first page, and then the next
// cursor List returned; next is "" on the last page. Entries are listed
// once chained, within Config.FlushEvery of being recorded or noted.
func (l *Log) List(ctx context.Context, account string, from, to time.Time, cursor string, limit int) (entries []Entry, next string, err error) {
	switch {
	case account == "" || !acceptable(account, "account"):
		return nil, "", fmt.Errorf("%w: the account must be 1-%d printable bytes", ErrInvalid, MaxAccountLen)
	case limit < 1 || limit > MaxListLimit:
		return nil, "", fmt.Errorf("%w: the limit must be 1-%d", ErrInvalid, MaxListLimit)
	case !from.IsZero() && !to.IsZero() && to.Before(from):
		return nil, "", fmt.Errorf("%w: to is before from", ErrInvalid)
	}
	prefix := append([]byte(account), 0)
	r := store.Range{Start: prefix, End: store.PrefixEnd(prefix), Reverse: true, Limit: limit + 1}
	if !from.IsZero() {
		r.Start = append(bytes.Clone(prefix), be64(nanos(from))...)
	}
	if !to.IsZero() {
		r.End = append(bytes.Clone(prefix), be64(nanos(to))...)
	}
	if cursor != "" {
		c, err := hex.DecodeString(cursor)
		if err != nil || len(cursor) != cursorLen {
			return nil, "", fmt.Errorf("%w: the cursor is not one List returned", ErrInvalid)
		}
		if end := append(bytes.Clone(prefix), c...); bytes.Compare(end, r.End) < 0 {
			r.End = end
		}
	}
	err = l.st.View(ctx, func(tx store.Tx) error {
		entries, next = nil, ""
		var seqs []uint64
		err := tx.Scan(bucketIndex, r, func(k, _ []byte) error {
			_, _, seq, ok := parseIndexKey(k)
			if !ok {
				return fmt.Errorf("audit: a key of the account index is malformed")
			}
			seqs = append(seqs, seq)
			return nil
		})
		if err != nil {
			return err
		}
		more := len(seqs) > limit
		seqs = seqs[:min(len(seqs), limit)]
		for _, seq := range seqs {
			v, err := tx.Get(bucketChain, be64(seq))
			if errors.Is(err, store.ErrNotFound) {
				continue // removed by retention since
			}
			if err != nil {
				return err
			}
			e, err := decodeEntry(seq, v)
			if err != nil {
				return err
			}
			entries = append(entries, e)
		}
		if more && len(entries) > 0 {
			last := entries[len(entries)-1]
			c := binary.BigEndian.AppendUint64(be64(uint64(last.Time.UnixNano())), last.Seq)
			next = hex.EncodeToString(c)
		}
		return nil
	})
	return entries, next, err
}

func decodeEntry(seq uint64, v []byte) (Entry, error) {
	e, err := parseEntry(v)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: entry %d is malformed", seq)
	}
	ev, err := decodePayload(e.payload)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: entry %d is malformed", seq)
	}
	return Entry{Seq: seq, Event: ev}, nil
}

// nanos is t in unix nanoseconds, clamped to the range the index keys
// hold (from 1970 on).
func nanos(t time.Time) uint64 {
	return uint64(max(t.UnixNano(), 0))
}

// ExportLine is one line of Export: an entry, with its link to the entry
// before it and its own, in hex, so that a reader can check that the lines
// form one chain (the MACs need the trail's key: Verify checks them).
type ExportLine struct {
	Entry
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// exportPage is how many entries one read transaction of Export takes.
const exportPage = 1000

// Export flushes, then writes the chained entries with from <= Time < to
// (zero leaves an end open), oldest first, to w as JSON lines
// (ExportLine), for a SIEM; it returns how many it wrote. It reads the
// chain in pages of read-only transactions, so a long export does not hold
// one open. Export does not verify: run Verify for that.
func (l *Log) Export(ctx context.Context, w io.Writer, from, to time.Time) (int, error) {
	if err := l.Flush(ctx); err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	written := 0
	var start uint64
	for {
		var lines []ExportLine
		scanned := 0
		from0 := start
		err := l.st.View(ctx, func(tx store.Tx) error {
			lines, scanned, start = lines[:0], 0, from0
			return tx.Scan(bucketChain, store.Range{Start: be64(start), Limit: exportPage}, func(k, v []byte) error {
				scanned++
				seq, err := seqOf(k)
				if err != nil {
					return fmt.Errorf("audit: a key of the chain is malformed")
				}
				e, err := parseEntry(v)
				if err != nil {
					return fmt.Errorf("audit: entry %d is malformed", seq)
				}
				ev, err := decodePayload(e.payload)
				if err != nil {
					return fmt.Errorf("audit: entry %d is malformed", seq)
				}
				start = seq + 1
				if (!from.IsZero() && ev.Time.Before(from)) || (!to.IsZero() && !ev.Time.Before(to)) {
					return nil
				}
				lines = append(lines, ExportLine{Entry: Entry{Seq: seq, Event: ev},
					Prev: hex.EncodeToString(e.prev[:]), Hash: hex.EncodeToString(e.link[:])})
				return nil
			})
		})
		if err != nil {
			return written, err
		}
		for i := range lines {
			if err := enc.Encode(&lines[i]); err != nil {
				return written, err
			}
			written++
		}
		if err := ctx.Err(); err != nil {
			return written, err
		}
		if scanned < exportPage {
			break
		}
	}
	return written, bw.Flush()
}
