package jsonx_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/jsonx"
)

func TestCheck(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want error  // nil: valid
		msg  string // full error text, when checked
	}{
		{"object", `{"a":1,"b":[true,false,null,"x",-0.5e+3]}`, nil, ""},
		{"scalar root", ` "x" `, nil, ""},
		{"empty containers", `{"a":{},"b":[]}`, nil, ""},
		{"escaped key not a duplicate", `{"a":1,"b\u0061":2}`, nil, ""},
		{"surrogate pair", `"\ud83d\ude00"`, nil, ""},
		{"utf-8 text", `{"name":"Zoë Ångström 日本"}`, nil, ""},
		{"many distinct keys", manyKeys(100, false), nil, ""},

		{"empty", ``, jsonx.ErrSyntax, "invalid JSON at offset 0: unexpected end of input"},
		{"trailing data", `{} {}`, jsonx.ErrSyntax, "invalid JSON at offset 3: data after the JSON value"},
		{"trailing comma", `[1,]`, jsonx.ErrSyntax, ""},
		{"single quotes", `{'a':1}`, jsonx.ErrSyntax, ""},
		{"leading zero", `01`, jsonx.ErrSyntax, ""},
		{"bare dot", `1.`, jsonx.ErrSyntax, ""},
		{"NaN", `NaN`, jsonx.ErrSyntax, ""},
		{"control char", "\"a\tb\"", jsonx.ErrSyntax, ""},
		{"bad escape", `"\x"`, jsonx.ErrSyntax, ""},
		{"invalid utf-8", "{\"a\":\"\xff\"}", jsonx.ErrSyntax, "invalid JSON at /a (offset 6): invalid UTF-8 in string"},
		{"lone high surrogate", `"\ud83d"`, jsonx.ErrSyntax, ""},
		{"lone low surrogate", `"\ude00"`, jsonx.ErrSyntax, ""},
		{"unterminated", `{"a":"b`, jsonx.ErrSyntax, ""},
		{"unterminated object", `{"a":{"b":1`, jsonx.ErrSyntax, "invalid JSON at /a (offset 11): unterminated object"},
		{"unterminated array", `{"a":[1,2`, jsonx.ErrSyntax, "invalid JSON at /a/1 (offset 9): unterminated array"},
		{"object without a comma", `{"a":1 "b":2}`, jsonx.ErrSyntax, "invalid JSON at offset 7: expected ',' or '}' in object"},
		{"array without a comma", `{"a":[1 2]}`, jsonx.ErrSyntax, "invalid JSON at /a/0 (offset 8): expected ',' or ']' in array"},
		{"array closed as an object", `[1}`, jsonx.ErrSyntax, "invalid JSON at /0 (offset 2): expected ',' or ']' in array"},

		{"duplicate", `{"a":1,"a":2}`, jsonx.ErrDuplicateKey, `duplicate object key at offset 7: "a"`},
		{"duplicate by escape", `{"a":1,"\u0061":2}`, jsonx.ErrDuplicateKey, ""},
		{"nested duplicate", `{"x":[{"k":1},{"k":1,"k":2}]}`, jsonx.ErrDuplicateKey, `duplicate object key at /x/1 (offset 21): "k"`},
		{"duplicate past the small set", manyKeys(40, true), jsonx.ErrDuplicateKey, ""},

		{"too deep", strings.Repeat("[", 65) + strings.Repeat("]", 65), jsonx.ErrTooDeep, ""},
		{"deep enough", strings.Repeat("[", 64) + strings.Repeat("]", 64), nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := jsonx.Check([]byte(c.in), jsonx.Limits{})
			if c.want == nil {
				require.NoError(t, err)
				require.True(t, json.Valid([]byte(c.in)))
				return
			}
			require.ErrorIs(t, err, c.want)
			var je *jsonx.Error
			require.ErrorAs(t, err, &je)
			if c.msg != "" {
				require.EqualError(t, err, c.msg)
			}
		})
	}
}

func TestCheckLimits(t *testing.T) {
	err := jsonx.Check([]byte(`[1,2,3]`), jsonx.Limits{MaxBytes: 6})
	require.ErrorIs(t, err, jsonx.ErrTooLarge)
	require.NoError(t, jsonx.Check([]byte(`[1,2,3]`), jsonx.Limits{MaxBytes: 7}))

	require.ErrorIs(t, jsonx.Check([]byte(`{"a":{"b":1}}`), jsonx.Limits{MaxDepth: 1}), jsonx.ErrTooDeep)
	require.NoError(t, jsonx.Check([]byte(`{"a":{"b":1}}`), jsonx.Limits{MaxDepth: 2}))
}

// The path of an error escapes "~" and "/" in keys as RFC 6901 says.
func TestErrorPathEscapes(t *testing.T) {
	err := jsonx.Check([]byte(`{"a/b":{"c~d":[1,"\xfe"]}}`), jsonx.Limits{})
	var je *jsonx.Error
	require.ErrorAs(t, err, &je)
	require.Equal(t, "/a~1b/c~0d/1", je.Path)
}

func TestCheckAllocations(t *testing.T) {
	doc := []byte(`{"source":{"type":"card","cardholderName":"Sarah Hazel Hopper","cardNumber":"4539858876047062","expiryDate":"1225"},"customer":{"firstName":"Sarah","lastName":"Hopper","contactMethods":[{"type":"email","value":"sarah@example.com"}]}}`)
	allocs := testing.AllocsPerRun(50, func() {
		if err := jsonx.Check(doc, jsonx.Limits{}); err != nil {
			t.Fatal(err)
		}
	})
	// Unescaped keys are compared in place and the path's memory is
	// pooled, so a document with small objects allocates nothing (up to
	// the pool being emptied by a GC); patch.Apply runs this on every
	// document and patch, on its hot path.
	require.LessOrEqual(t, allocs, 1.0)
}

func manyKeys(n int, dupLast bool) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		k := i
		if dupLast && i == n-1 {
			k = 3
		}
		b.WriteString(`"k` + string(rune('a'+k%26)) + string(rune('a'+k/26)) + `":0`)
	}
	b.WriteString("}")
	return b.String()
}

// reference says whether data is valid JSON without duplicate keys or
// nesting beyond maxDepth, using encoding/json's tokenizer.
func reference(data []byte, maxDepth int) bool {
	if !utf8.Valid(data) || !json.Valid(data) {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	// Numbers stay text: as float64, one past 1.8e308 fails to decode,
	// though it is valid JSON (RFC 8259 sets no range).
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		expect bool // next string token in an object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if k, isKey := tok.(string); isKey && top != nil && top.object && top.expect {
			if top.keys[k] {
				return false
			}
			top.keys[k] = true
			top.expect = false
			continue
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if len(stack)+1 > maxDepth {
				return false
			}
			stack = append(stack, &frame{object: tok == json.Delim('{'), keys: map[string]bool{}, expect: true})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		}
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].expect = true
		}
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,false,null,"x",-0.5e+3]}`, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`,
		`"\ud83d\ude00"`, `"\ud83d"`, "\"\xff\"", `[[[[[]]]]]`, `{"a":{"b":{"c":[1,{"d":2,"d":3}]}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := jsonx.Check(data, jsonx.Limits{MaxDepth: 8})
		want := reference(data, 8)
		var je *jsonx.Error
		if want {
			// encoding/json accepts escaped lone surrogates, which I-JSON
			// forbids: the one refusal the reference does not share.
			if errors.As(err, &je) && je.Detail == "unpaired surrogate in \\u escape" {
				require.Contains(t, string(data), `\u`)
				return
			}
			require.NoError(t, err)
			return
		}
		if err == nil {
			t.Fatalf("accepted %q, which the reference refuses", data)
		}
		require.ErrorAs(t, err, &je)
		require.True(t, utf8.ValidString(err.Error()), "error text must be valid UTF-8")
	})
}

// AppendUnescaped decodes every escape as encoding/json does, and does not
// panic on a malformed one.
func TestAppendUnescaped(t *testing.T) {
	for _, raw := range []string{
		``, `plain`, `\"\\\/\b\f\n\r\t`, `a\u0061\u00e9\u20ac`, `\ud83d\ude00 after`, `mixed \t and é`,
	} {
		var want string
		require.NoError(t, json.Unmarshal([]byte(`"`+raw+`"`), &want), raw)
		require.Equal(t, want, string(jsonx.AppendUnescaped(nil, []byte(raw))), raw)
	}
	for raw, want := range map[string]string{`\x`: "x", `\`: "", `\u12`: "\uFFFD"} {
		require.Equal(t, want, string(jsonx.AppendUnescaped([]byte("p"), []byte(raw)))[1:], raw)
	}
}
