package vault

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// decodeItemRecord must be json.Unmarshal, result and error, for records
// putItem writes and for anything else a store may hold.
func TestDecodeItemRecordIsUnmarshal(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	bytesOf := func(n int) []byte {
		if n < 0 {
			return nil
		}
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rnd.Uint32())
		}
		return b
	}
	var docs []string
	for i := range 200 {
		r := itemRecord{Version: rnd.Uint64() >> (i % 64), Wrap: []string{wrapKEK, wrapAge, ""}[i%3],
			WrappedDK: bytesOf(i%70 - 1), Sealed: bytesOf(i * 7 % 500), Number: bytesOf(i%33 - 1),
			Updated: time.Unix(rnd.Int64N(1<<33), rnd.Int64N(1e9)).In(time.FixedZone("", (i%5-2)*3600))}
		if i%3 == 0 {
			r.CVV = &cvvRecord{ID: fmt.Sprint(i), Sealed: bytesOf(40), Expires: time.Unix(int64(i), 0).UTC()}
		}
		raw, err := json.Marshal(r)
		require.NoError(t, err)
		var got itemRecord
		require.True(t, fastItemRecord(raw, &got), "a record putItem writes takes the fast path: %s", raw)
		docs = append(docs, string(raw))
	}
	base := docs[3] // one with a CVV
	docs = append(docs,
		strings.Replace(base, `"version"`, `"Version"`, 1),                    // encoding/json ignores case
		strings.Replace(base, `"wrap":"kek"`, `"wrap":"k\u0065k"`, 1),         // an escape
		strings.Replace(base, `"wrap":"kek"`, `"wrap":"kek","wrap":"age"`, 1), // a duplicate
		strings.Replace(base, `"cvv":{`, `"cvv":{"id":"x"},"cvv":{`, 1),       // a duplicate object
		strings.Replace(base, `"dk":"`, `"dk":null,"x":"`, 1),                 // null, unknown member
		strings.Replace(base, `"dk":"`, `"dk":"!!`, 1),                        // bad base64
		strings.Replace(base, `"version":`, `"version":-`, 1),                 // negative
		strings.Replace(base, `"version":`, `"version":1e3,"v":`, 1),          // exponent
		strings.Replace(base, `"version":`, `"version":"1","v":`, 1),          // a string
		strings.Replace(base, `"updated":"`, `"updated":"x`, 1),               // bad time
		strings.Replace(base, `"updated":"`, `"updated":null,"u":"`, 1),       // null time
		strings.Replace(base, `"cvv":{`, `"cvv":null,"c":{`, 1),               // null CVV
		strings.Replace(base, `"cvv":{`, `"cvv":[],"c":{`, 1),                 // not an object
		strings.Replace(base, `"cvv":{"id":"`, `"cvv":{"id":1,"i":"`, 1),      // bad CVV member
		strings.Replace(base, `"wrap":"kek"`, "\"wrap\":\"k\xffk\"", 1),       // invalid UTF-8
		strings.Replace(base, `"wrap":"kek"`, `"wrap":"a\"b<&>"`, 1),          // escapes json.Marshal writes
		base[:len(base)-1], base+"x", "", "null", "[]", `{}`, `{"version":1}`, "\"\"",
	)
	for _, doc := range docs {
		var want, got itemRecord
		wantErr := json.Unmarshal([]byte(doc), &want)
		gotErr := decodeItemRecord([]byte(doc), &got)
		require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(gotErr), doc)
		require.Equal(t, want, got, doc)
	}
}

func BenchmarkDecodeItemRecord(b *testing.B) {
	raw, _ := json.Marshal(itemRecord{Version: 3, Wrap: wrapKEK, WrappedDK: make([]byte, 60), Sealed: make([]byte, 300),
		Number: make([]byte, 32), Updated: time.Now()})
	for _, f := range []struct {
		name string
		fn   func([]byte, *itemRecord) error
	}{{"fast", decodeItemRecord}, {"json", func(raw []byte, r *itemRecord) error { return json.Unmarshal(raw, r) }}} {
		b.Run(f.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var r itemRecord
				if err := f.fn(raw, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzDecodeItemRecord: on any input, decodeItemRecord is json.Unmarshal,
// result and error.
func FuzzDecodeItemRecord(f *testing.F) {
	raw, _ := json.Marshal(itemRecord{Version: 3, Wrap: wrapKEK, WrappedDK: []byte("dk"), Sealed: []byte("sealed"),
		Updated: time.Unix(1e9, 5).UTC(), CVV: &cvvRecord{ID: "c", Sealed: []byte("s"), Expires: time.Unix(2e9, 0).UTC()}})
	for _, s := range []string{string(raw), `{}`, `{"version":1e3}`, `{"dk":null}`, `{"Version":2}`, "null"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want, got itemRecord
		wantErr := json.Unmarshal(raw, &want)
		gotErr := decodeItemRecord(raw, &got)
		require.Equal(t, fmt.Sprint(wantErr), fmt.Sprint(gotErr), "%q", raw)
		require.Equal(t, want, got, "%q", raw)
	})
}
