package audit

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/luhn"
	"github.com/cardvault/cardvault/store/memstore"
)

func fuzzKeys(t testing.TB) *keys {
	h, err := crypto.NewHasher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return &keys{h: h}
}

// FuzzClean: whatever a caller puts in an event's fields, what is kept
// holds no card number, is printable UTF-8 and within the limits.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "ref-1", "4111111111111111", "4111 1111 1111 1111", "x4111-1111-1111-1111y", "\xff\xfe", "a\x00b",
		"12345678901234567890123", "127.0.0.1:80", "[::1]:1", "é" + string(rune(0x85))} {
		f.Add(s, s)
	}
	k := fuzzKeys(f)
	f.Fuzz(func(t *testing.T, a, b string) {
		in := Event{Op: OpItemRead, Outcome: OutcomeOK, Account: a, APIKeyID: b, Terminal: a + b, Endpoint: b, Client: a,
			User: b + a, Token: a, Reference: b, Resource: a, Reason: b}
		e, err := clean(in, time.Unix(1, 0), k.redactMark)
		if err != nil {
			t.Fatal(err)
		}
		for _, fl := range e.fields() {
			v := *fl.p
			if len(v) > MaxFieldLen || !utf8.ValidString(v) {
				t.Fatalf("%s kept %q", fl.name, v)
			}
			for range luhn.CardNumberRuns(v) {
				t.Fatalf("%s kept a card number: %q", fl.name, v)
			}
			for _, r := range v {
				if r < 0x20 || r == 0x7f {
					t.Fatalf("%s kept a control character", fl.name)
				}
			}
		}
		p, err := encodePayload(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decodePayload(p)
		if err != nil {
			t.Fatal(err)
		}
		if back.Account != e.Account || back.Reference != e.Reference || !back.Time.Equal(e.Time) || len(back.Redacted) != len(e.Redacted) {
			t.Fatalf("round trip: %+v != %+v", back, e)
		}
	})
}

// FuzzDecode: no stored bytes make a decoder panic, and what does not
// authenticate is refused.
func FuzzDecode(f *testing.F) {
	k := fuzzKeys(f)
	payload, _ := encodePayload(Event{Op: OpItemRead, Outcome: OutcomeOK, Time: time.Unix(5, 0), Account: "alice", Reference: "r"})
	var zero link
	f.Add(k.newEntry(1, zero, payload))
	f.Add(k.newPending([]byte("key"), payload))
	f.Add(k.encodeMark(labelHead, mark{seq: 3, cp: 2}))
	f.Add(k.encodeMark(labelCheckpoint, mark{seq: 3, cp: 2, ns: 9}))
	f.Add(indexKey([]byte("alice"), 5, 7))
	f.Add(payload)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, err := parseEntry(b); err == nil {
			_, _ = decodePayload(e.payload)
			_ = k.entryLink(1, e.prev, e.payload)
		}
		_, _, _ = payloadHeader(b)
		_, _ = decodePayload(b)
		for _, label := range []string{labelHead, labelBase, labelCheckpoint} {
			if m, err := k.decodeMark(label, b); err == nil && !bytes.Equal(k.encodeMark(label, m), b) {
				t.Fatalf("%s decodes but does not encode back", label)
			}
		}
		if _, err := k.openPending([]byte("key"), b); err == nil && !bytes.Equal(k.newPending([]byte("key"), b[1+linkLen:]), b) {
			t.Fatal("a pending entry opens that was not made so")
		}
		if acct, ns, seq, ok := parseIndexKey(b); ok && !bytes.Equal(indexKey(acct, ns, seq), b) {
			t.Fatal("an index key parses but does not encode back")
		}
	})
}

// FuzzListCursor: a cursor is one List made, or refused.
func FuzzListCursor(f *testing.F) {
	f.Add("")
	f.Add("00000000000000010000000000000002")
	f.Add("zz")
	f.Add("0000000000000001000000000000000")
	kr := testkit.Keyring(f)
	ctx := context.Background()
	l, err := Open(ctx, Config{Store: memstore.New(), Keyring: kr, FlushEvery: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer l.Close()
	if err := l.Note(Event{Op: OpItemRead, Outcome: OutcomeOK, Account: "alice"}); err != nil {
		f.Fatal(err)
	}
	if err := l.Flush(ctx); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, cursor string) {
		_, _, err := l.List(ctx, "alice", time.Time{}, time.Time{}, cursor, 10)
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Fatal(err)
		}
	})
}
