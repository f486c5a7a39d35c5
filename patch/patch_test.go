package patch_test

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/patch"
)

// tokenOps are three operations a merchant sends to update the secure token
// of the guide (testdata/securetoken.json, the example response of the
// secure-token guide): the guide's own example request, with its paths
// corrected to the response's shape.
const tokenOps = `[
  {"op": "add", "path": "/customer/lastName", "value": null},
  {"op": "add", "path": "/customer/shippingAddress/recipientName", "value": null},
  {"op": "add", "path": "/source/cardholderName", "value": null}
]`

func readToken(t testing.TB) []byte {
	t.Helper()
	doc, err := os.ReadFile("testdata/securetoken.json")
	require.NoError(t, err)
	return doc
}

func TestApply(t *testing.T) {
	tests := []struct {
		name, doc, ops, want string
	}{
		// Keys that gjson/sjson paths treat as syntax are plain keys here.
		{"dot key", `{"a.b":1,"a":{"b":2}}`, `[{"op":"replace","path":"/a.b","value":3}]`, `{"a.b":3,"a":{"b":2}}`},
		{"syntax keys", `{"*":1,"?":2,"#":3,"|":4,"@":5,"!":6,"\\":7}`,
			`[{"op":"replace","path":"/*","value":0},{"op":"remove","path":"/?"},{"op":"replace","path":"/#","value":0},{"op":"replace","path":"/|","value":0},{"op":"replace","path":"/@","value":0},{"op":"replace","path":"/!","value":0},{"op":"replace","path":"/\\","value":0}]`,
			`{"*":0,"#":0,"|":0,"@":0,"!":0,"\\":0}`},
		{"add syntax keys", `{}`, `[{"op":"add","path":"/a.b*?#|@!\\\"","value":1}]`, `{"a.b*?#|@!\\\"":1}`},
		{"empty key", `{"":{"":1}}`, `[{"op":"replace","path":"//","value":2}]`, `{"":{"":2}}`},
		{"numeric object key", `{"0":"a","1":{"2":"b"}}`, `[{"op":"replace","path":"/1/2","value":"c"},{"op":"remove","path":"/0"}]`, `{"1":{"2":"c"}}`},
		{"escapes", `{"a/b":{"m~n":1}}`, `[{"op":"replace","path":"/a~1b/m~0n","value":2}]`, `{"a/b":{"m~n":2}}`},
		{"~01 is ~1", `{"~1":1,"/":2}`, `[{"op":"remove","path":"/~01"}]`, `{"/":2}`},
		{"escaped key in document", `{"\u0061\/":1}`, `[{"op":"replace","path":"/a~1","value":2}]`, `{"\u0061\/":2}`},
		{"escaped key in path", `{"é":1}`, `[{"op":"replace","path":"/\u00e9","value":2}]`, `{"é":2}`},
		{"key with control escape", `{}`, `[{"op":"add","path":"/a\nb\u0001","value":1}]`, `{"a\nb\u0001":1}`},
		{"unicode key", `{"😀":1}`, `[{"op":"copy","from":"/😀","path":"/\ud83d\ude01"}]`, `{"😀":1,"😁":1}`},
		{"scalar root replace", `"foo"`, `[{"op":"replace","path":"","value":"bar"}]`, `"bar"`},
		{"scalar root test", ` 12.50 `, `[{"op":"test","path":"","value":1.25e1}]`, ` 12.50 `},
		{"root add", `[1]`, `[{"op":"add","path":"","value":{"a":[]}}]`, `{"a":[]}`},
		{"array insert middle", `[1,2,3]`, `[{"op":"add","path":"/1","value":9}]`, `[1,9,2,3]`},
		{"array append index", `[1]`, `[{"op":"add","path":"/1","value":2}]`, `[1,2]`},
		{"array append dash", `[]`, `[{"op":"add","path":"/-","value":1},{"op":"add","path":"/-","value":2}]`, `[1,2]`},
		{"array remove first", `[1,2,3]`, `[{"op":"remove","path":"/0"}]`, `[2,3]`},
		{"array remove last", `[1,2,3]`, `[{"op":"remove","path":"/2"}]`, `[1,2]`},
		{"array remove only", `[[1]]`, `[{"op":"remove","path":"/0/0"}]`, `[[]]`},
		{"object remove only", `{"a":{"b":1}}`, `[{"op":"remove","path":"/a/b"}]`, `{"a":{}}`},
		{"dash is a key in an object", `{}`, `[{"op":"add","path":"/-","value":1}]`, `{"-":1}`},
		{"move array element", `[0,1,2,3]`, `[{"op":"move","from":"/0","path":"/3"}]`, `[1,2,3,0]`},
		{"move to parent's sibling", `{"a":{"b":{"c":1}}}`, `[{"op":"move","from":"/a/b/c","path":"/a/c"}]`, `{"a":{"b":{},"c":1}}`},
		{"move child to parent", `{"a":{"b":1}}`, `[{"op":"move","from":"/a/b","path":"/a"}]`, `{"a":1}`},
		{"move to root", `{"a":[1]}`, `[{"op":"move","from":"/a","path":""}]`, `[1]`},
		{"copy whole document", `{"a":1}`, `[{"op":"copy","from":"","path":"/b"}]`, `{"a":1,"b":{"a":1}}`},
		{"copy into array", `{"a":[1,2],"b":"x"}`, `[{"op":"copy","from":"/b","path":"/a/0"}]`, `{"a":["x",1,2],"b":"x"}`},
		{"add replaces member", `{"a":1,"b":2}`, `[{"op":"add","path":"/a","value":[3]}]`, `{"a":[3],"b":2}`},
		{"value as written", `{}`, `[{"op":"add","path":"/a","value": { "x" : 1.0e0 } }]`, `{"a":{ "x" : 1.0e0 }}`},
		{"escaped op member names", `{}`, `[{"\u006fp":"add","p\u0061th":"/a","value":1}]`, `{"a":1}`},
		{"unknown members ignored", `{}`, `[{"op":"add","path":"/a","value":1,"from":7,"x":{}}]`, `{"a":1}`},
		{"test then change", `{"n":1}`, `[{"op":"test","path":"/n","value":1.0},{"op":"replace","path":"/n","value":2}]`, `{"n":2}`},
		{"empty patch", `{"a":1}`, `[]`, `{"a":1}`},
		{"ops in order", `{}`, `[{"op":"add","path":"/a","value":[]},{"op":"add","path":"/a/-","value":{}},{"op":"add","path":"/a/0/b","value":1},{"op":"move","from":"/a/0/b","path":"/c"}]`, `{"a":[{}],"c":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := patch.Apply([]byte(tt.doc), []byte(tt.ops))
			require.NoError(t, err)
			require.Equal(t, tt.want, string(got))
		})
	}
}

// TestApplyKeepsFormatting pins the formatting contract: bytes outside
// the changed values stay as they were.
func TestApplyKeepsFormatting(t *testing.T) {
	doc := "{\n  \"a\": 1.50,\n  \"b\": [ 1,\n 2 ],\n  \"c\": \"\\u00e9\"\n}\n"
	got, err := patch.Apply([]byte(doc), []byte(`[
		{"op":"remove","path":"/a"},
		{"op":"add","path":"/b/-","value":3},
		{"op":"add","path":"/d","value":true},
		{"op":"remove","path":"/c"}]`))
	require.NoError(t, err)
	require.Equal(t, "{\n  \"b\": [ 1,\n 2,3 ],\n  \"d\":true\n}\n", string(got))

	// The secure token: only the three values change.
	token := readToken(t)
	got, err = patch.Apply(token, []byte(tokenOps))
	require.NoError(t, err)
	want := strings.Replace(string(token), `"lastName": "Hopper"`, `"lastName": null`, 1)
	want = strings.Replace(want, `"recipientName": "Sarah Hopper"`, `"recipientName": null`, 1)
	want = strings.Replace(want, `"cardholderName": "Sarah Hazel Hopper"`, `"cardholderName": null`, 1)
	require.Equal(t, want, string(got))
}

func TestApplyDoesNotAliasInput(t *testing.T) {
	doc := []byte(`{"a":[1,2,3]}`)
	orig := string(doc)
	for _, ops := range []string{`[]`, `[{"op":"test","path":"/a/0","value":1}]`, `[{"op":"remove","path":"/a/0"}]`} {
		out, err := patch.Apply(doc, []byte(ops))
		require.NoError(t, err)
		for i := range out {
			out[i] = 'x' // the caller owns the result
		}
		require.Equal(t, orig, string(doc), ops)
	}
}

func TestApplyErrors(t *testing.T) {
	tests := []struct {
		name, doc, ops string
		sentinel       error
		kind           error
		msg            string
	}{
		{"missing member", `{"customer":{}}`, `[{"op":"test","path":"/customer","value":{}},{"op":"add","path":"/a","value":1},{"op":"replace","path":"/customer/x","value":1}]`,
			patch.ErrPathNotFound, cardvault.ErrInvalid, `op 2 (replace /customer/x): path not found: no member "x" in /customer`},
		{"missing parent", `{}`, `[{"op":"add","path":"/a/b","value":1}]`,
			patch.ErrPathNotFound, cardvault.ErrInvalid, `op 0 (add /a/b): path not found: no member "a" in ""`},
		{"index past end", `{"bar":[1,2]}`, `[{"op":"add","path":"/bar/3","value":1}]`,
			patch.ErrPathNotFound, cardvault.ErrInvalid, `op 0 (add /bar/3): path not found: /bar: index 3 out of range (length 2)`},
		{"replace at length", `[1]`, `[{"op":"replace","path":"/1","value":1}]`,
			patch.ErrPathNotFound, cardvault.ErrInvalid, `op 0 (replace /1): path not found: "": index 1 out of range (length 1)`},
		{"leading zero", `[1,2]`, `[{"op":"remove","path":"/01"}]`,
			patch.ErrPathNotFound, cardvault.ErrInvalid, `op 0 (remove /01): path not found: "": "01" is not an array index`},
		{"negative index", `[1,2]`, `[{"op":"add","path":"/-1","value":0}]`,
			patch.ErrPathNotFound, cardvault.ErrInvalid, `op 0 (add /-1): path not found: "": "-1" is not an array index`},
		{"dash in remove", `[1]`, `[{"op":"remove","path":"/-"}]`,
			patch.ErrPathNotFound, cardvault.ErrInvalid, `op 0 (remove /-): path not found: "": "-" is not an array index`},
		{"dash mid-path", `[[1]]`, `[{"op":"add","path":"/-/0","value":1}]`,
			patch.ErrPathNotFound, cardvault.ErrInvalid, `op 0 (add /-/0): path not found: "": "-" is not an array index`},
		{"dash in from", `[1]`, `[{"op":"copy","from":"/-","path":"/0"}]`,
			patch.ErrPathNotFound, cardvault.ErrInvalid, `op 0 (copy /0 from /-): from: path not found: "": "-" is not an array index`},
		{"into a scalar", `{"a":"str"}`, `[{"op":"add","path":"/a/b","value":1}]`,
			patch.ErrPathNotFound, cardvault.ErrInvalid, `op 0 (add /a/b): path not found: /a is not an array or object`},
		{"remove root", `{}`, `[{"op":"remove","path":""}]`,
			patch.ErrPathNotFound, cardvault.ErrInvalid, `op 0 (remove ""): path not found: cannot remove the whole document`},
		{"move from missing", `{}`, `[{"op":"move","from":"/x","path":"/y"}]`,
			patch.ErrPathNotFound, cardvault.ErrInvalid, `op 0 (move /y from /x): from: path not found: no member "x" in ""`},
		{"move to own child", `{"a":{}}`, `[{"op":"move","from":"/a","path":"/a/b"}]`,
			patch.ErrInvalidPatch, cardvault.ErrInvalid, `op 0 (move /a/b from /a): invalid patch: cannot move a value into its own child`},
		{"test failed", `{"card":"4539858876047062"}`, `[{"op":"test","path":"/card","value":"4111111111111111"}]`,
			patch.ErrTestFailed, cardvault.ErrConflict, `op 0 (test /card): test failed`},
		{"unknown op", `{}`, `[{"op":"spam","path":"/a"}]`,
			patch.ErrInvalidPatch, cardvault.ErrInvalid, `op 0: invalid patch: unknown op (want add, remove, replace, move, copy or test)`},
		{"missing op", `{}`, `[{"path":"/a"}]`, patch.ErrInvalidPatch, cardvault.ErrInvalid, `op 0: invalid patch: missing "op"`},
		{"op not a string", `{}`, `[{"op":1,"path":"/a"}]`, patch.ErrInvalidPatch, cardvault.ErrInvalid, `op 0: invalid patch: "op" must be a string`},
		{"missing path", `{}`, `[{"op":"add","value":1}]`, patch.ErrInvalidPatch, cardvault.ErrInvalid, `op 0 (add ""): invalid patch: missing "path"`},
		{"null path", `{}`, `[{"op":"add","path":null,"value":1}]`, patch.ErrInvalidPatch, cardvault.ErrInvalid, `op 0 (add ""): invalid patch: "path" must be a string`},
		{"missing value", `{}`, `[{"op":"test","path":"/a"}]`, patch.ErrInvalidPatch, cardvault.ErrInvalid, `op 0 (test /a): invalid patch: missing "value"`},
		{"missing from", `{}`, `[{"op":"copy","path":"/a"}]`, patch.ErrInvalidPatch, cardvault.ErrInvalid, `op 0 (copy /a from ""): invalid patch: missing "from"`},
		{"from not a string", `{}`, `[{"op":"move","path":"/a","from":[]}]`, patch.ErrInvalidPatch, cardvault.ErrInvalid, `op 0 (move /a from ""): invalid patch: "from" must be a string`},
		{"bad pointer", `{}`, `[{"op":"add","path":"a","value":1}]`, patch.ErrInvalidPointer, cardvault.ErrInvalid, `op 0 (add a): path: invalid JSON Pointer: must be empty or start with "/"`},
		{"bad escape", `{}`, `[{"op":"remove","path":"/a~2"}]`, patch.ErrInvalidPointer, cardvault.ErrInvalid, `op 0 (remove /a~2): path: invalid JSON Pointer: "~" must be followed by "0" or "1"`},
		{"op not an object", `{}`, `[[]]`, patch.ErrInvalidPatch, cardvault.ErrInvalid, `op 0: invalid patch: an operation must be a JSON object`},
		{"patch not an array", `{}`, `{"op":"add","path":"/a","value":1}`, patch.ErrInvalidPatch, cardvault.ErrInvalid, `patch: invalid patch: not a JSON array`},
		{"duplicate op member", `{}`, `[{"op":"add","path":"/a","value":1,"op":"remove"}]`, patch.ErrInvalidPatch, cardvault.ErrInvalid, `patch: invalid patch: duplicate object key at /0 (offset 35): "op"`},
		{"patch not JSON", `{}`, `[{"op":"add",}]`, patch.ErrInvalidPatch, cardvault.ErrInvalid, `patch: invalid patch: invalid JSON at /0 (offset 13): expected a string key`},
		{"document not JSON", `{"a":1,}`, `[]`, patch.ErrInvalidDocument, cardvault.ErrInvalid, `patch: invalid document: invalid JSON at offset 7: expected a string key`},
		{"document duplicate key", `{"a":1,"a":2}`, `[]`, patch.ErrInvalidDocument, cardvault.ErrInvalid, `patch: invalid document: duplicate object key at offset 7: "a"`},
		{"document invalid UTF-8", "{\"a\":\"\xff\"}", `[]`, patch.ErrInvalidDocument, cardvault.ErrInvalid, `patch: invalid document: invalid JSON at /a (offset 6): invalid UTF-8 in string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := []byte(tt.doc)
			got, err := patch.Apply(doc, []byte(tt.ops))
			require.Nil(t, got)
			require.ErrorIs(t, err, tt.sentinel)
			require.ErrorIs(t, err, tt.kind)
			require.Equal(t, tt.msg, err.Error())
			require.Equal(t, tt.doc, string(doc))
		})
	}
}

func TestOpErrorFields(t *testing.T) {
	_, err := patch.Apply([]byte(`{"a":{}}`), []byte(`[{"op":"test","path":"/a","value":{}},{"op":"move","from":"/a/x","path":"/b"}]`))
	var oe *patch.OpError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, 1, oe.Index)
	require.Equal(t, "move", oe.Op)
	require.Equal(t, "/b", oe.Path)
	require.Equal(t, "/a/x", oe.From)
	require.ErrorIs(t, oe.Err, patch.ErrPathNotFound)
	// The pointer lets a caller look for the nearest path that exists.
	from, err := patch.ParsePointer(oe.From)
	require.NoError(t, err)
	require.Equal(t, patch.Pointer{"a", "x"}, from)
}

// TestErrorsHoldNoValues applies failing patches full of card data and
// checks no message repeats it.
func TestErrorsHoldNoValues(t *testing.T) {
	const pan = "4539858876047062"
	doc := []byte(`{"source":{"cardNumber":"` + pan + `"},"n":` + pan + `}`)
	for _, ops := range []string{
		`[{"op":"test","path":"/source/cardNumber","value":"` + pan + `0"}]`,
		`[{"op":"test","path":"/n","value":` + pan + `1}]`,
		`[{"op":"replace","path":"/x","value":"` + pan + `"}]`,
		`[{"op":"add","path":"/source/cardNumber/x","value":"` + pan + `"}]`,
		`[{"op":"add","path":"/a","value":"` + pan + `","value":1}]`,
		`[{"op":"add","path":"/a","value":"` + pan + `"},{"op":"bogus","value":"` + pan + `"}]`,
		`[{"op":"add","path":"/a","value":` + pan + `x}]`,
	} {
		_, err := patch.Apply(doc, []byte(ops))
		require.Error(t, err)
		if strings.Contains(err.Error(), pan) {
			t.Errorf("error message holds the card number (ops %d bytes)", len(ops))
		}
	}
}

func TestAtomic(t *testing.T) {
	doc := []byte(`{"a":[1,2],"b":{"c":true}}`)
	orig := string(doc)
	out, err := patch.Apply(doc, []byte(`[
		{"op":"remove","path":"/a/0"},
		{"op":"add","path":"/b/d","value":1},
		{"op":"copy","from":"/b","path":"/e"},
		{"op":"test","path":"/a/0","value":1}]`))
	require.ErrorIs(t, err, patch.ErrTestFailed)
	require.Nil(t, out)
	require.Equal(t, orig, string(doc))

	// A decoded Patch is reusable: the failure left nothing behind.
	p, err := patch.Decode([]byte(`[{"op":"remove","path":"/a/0"},{"op":"test","path":"/a/0","value":2}]`))
	require.NoError(t, err)
	for range 3 {
		out, err := p.Apply(doc)
		require.NoError(t, err)
		require.Equal(t, `{"a":[2],"b":{"c":true}}`, string(out))
	}
	require.Equal(t, orig, string(doc))
}

func TestZeroPatch(t *testing.T) {
	var p patch.Patch
	out, err := p.Apply([]byte(` {"a":1} `))
	require.NoError(t, err)
	require.Equal(t, ` {"a":1} `, string(out))
	_, err = p.Apply([]byte(`{`))
	require.ErrorIs(t, err, patch.ErrInvalidDocument)
}

func TestTestCompares(t *testing.T) {
	tests := []struct {
		doc, value string
		equal      bool
	}{
		{`1`, `1.0`, true},
		{`1`, `1e0`, true},
		{`1`, `10e-1`, true},
		{`1`, `0.1E+1`, true},
		{`100`, `1e2`, true},
		{`0.05`, `5e-2`, true},
		{`0`, `-0`, true},
		{`0`, `0.000e10`, true},
		{`-1.5`, `-15e-1`, true},
		{`1`, `-1`, false},
		{`1`, `1.0000000000000001`, false},
		{`9007199254740993`, `9007199254740992`, false},
		{`123456789012345678901234567890`, `1.23456789012345678901234567890e29`, true},
		{`1e400`, `10e399`, true},
		{`1e400`, `1e401`, false},
		{`1e1000000000000000000000`, `10e999999999999999999999`, true},
		{`1e1000000000000000000000`, `1e1000000000000000000001`, false},
		{`1e-1000000000000000000000`, `0.1e-999999999999999999999`, true},
		{`1`, `"1"`, false},
		{`"é"`, `"\u00e9"`, true},
		{`"a/b"`, `"a\/b"`, true},
		{`"\ud83d\ude00"`, `"😀"`, true},
		{`"a"`, `"A"`, false},
		{`"ab"`, `"a"`, false},
		{`true`, `true`, true},
		{`true`, `false`, false},
		{`null`, `null`, true},
		{`null`, `false`, false},
		{`[1,[2]]`, `[ 1.0 , [ 2e0 ] ]`, true},
		{`[1,2]`, `[2,1]`, false},
		{`[1,2]`, `[1]`, false},
		{`[]`, `[null]`, false},
		{`{"a":1,"b":[{"c":2}]}`, `{"b":[{"c":2.0}],"a":1}`, true},
		{`{"a":1}`, `{"a":1,"b":2}`, false},
		{`{"a":1}`, `{"b":1}`, false},
		{`{"\u0061":1}`, `{"a":1}`, true},
		{`{}`, `[]`, false},
		{bigObject(40, 0), bigObject(40, 1), true},
		{bigObject(40, 0), strings.Replace(bigObject(40, 1), `"k7":7`, `"k7":8`, 1), false},
		{bigObject(40, 0), strings.Replace(bigObject(40, 1), `"k7":7`, `"kx":7`, 1), false},
	}
	for _, tt := range tests {
		_, err := patch.Apply([]byte(`{"v":`+tt.doc+`}`), []byte(`[{"op":"test","path":"/v","value":`+tt.value+`}]`))
		if tt.equal {
			require.NoError(t, err, "%s == %s", tt.doc, tt.value)
		} else {
			require.ErrorIs(t, err, patch.ErrTestFailed, "%s != %s", tt.doc, tt.value)
		}
	}
}

// bigObject builds an object of n members, in order or reversed.
func bigObject(n int, reversed int) string {
	parts := make([]string, n)
	for i := range n {
		j := i
		if reversed == 1 {
			j = n - 1 - i
		}
		parts[i] = `"k` + strconv.Itoa(j) + `":` + strconv.Itoa(j)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestPointer(t *testing.T) {
	tests := []struct {
		in   string
		want patch.Pointer
	}{
		{"", patch.Pointer{}},
		{"/", patch.Pointer{""}},
		{"//", patch.Pointer{"", ""}},
		{"/a~1b/m~0n/0", patch.Pointer{"a/b", "m~n", "0"}},
		{"/~01", patch.Pointer{"~1"}},
		{"/~10", patch.Pointer{"/0"}},
		{"/a.b/*/#", patch.Pointer{"a.b", "*", "#"}},
	}
	for _, tt := range tests {
		got, err := patch.ParsePointer(tt.in)
		require.NoError(t, err, tt.in)
		require.Equal(t, tt.want, got, tt.in)
		require.Equal(t, tt.in, got.String())
	}
	for _, bad := range []string{"a", "~", "/~", "/~2", "/a~", "#/a"} {
		_, err := patch.ParsePointer(bad)
		require.ErrorIs(t, err, patch.ErrInvalidPointer, bad)
		require.ErrorIs(t, err, cardvault.ErrInvalid, bad)
	}
	require.Equal(t, "", patch.Pointer(nil).String())
}

func TestSentinelKinds(t *testing.T) {
	kinds := map[error]error{
		patch.ErrInvalidPatch:    cardvault.ErrInvalid,
		patch.ErrInvalidPointer:  cardvault.ErrInvalid,
		patch.ErrInvalidDocument: cardvault.ErrInvalid,
		patch.ErrPathNotFound:    cardvault.ErrInvalid,
		patch.ErrPathNotAllowed:  cardvault.ErrInvalid,
		patch.ErrTestFailed:      cardvault.ErrConflict,
		patch.ErrTooLarge:        cardvault.ErrTooLarge,
	}
	all := []error{cardvault.ErrInvalid, cardvault.ErrTooLarge, cardvault.ErrConflict, cardvault.ErrNotFound, cardvault.ErrForbidden}
	for sentinel, kind := range kinds {
		for _, k := range all {
			require.Equal(t, k == kind, errors.Is(sentinel, k), "%v / %v", sentinel, k)
		}
	}
}

func TestEscapeToken(t *testing.T) {
	for tok, want := range map[string]string{"": "", "plain": "plain", "a/b": "a~1b", "m~n": "m~0n", "~1": "~01", "/~": "~1~0"} {
		require.Equal(t, want, patch.EscapeToken(tok))
		p, err := patch.ParsePointer("/" + patch.EscapeToken(tok))
		require.NoError(t, err)
		require.Equal(t, patch.Pointer{tok}, p, "round trip of %q", tok)
	}
}

func TestOps(t *testing.T) {
	p, err := patch.Decode([]byte(`[{"op":"add","path":"/a~1b","value":1},{"op":"move","from":"/x","path":"/y"},{"op":"test","path":"","value":{}}]`))
	require.NoError(t, err)
	require.Equal(t, []patch.Op{{Op: "add", Path: "/a~1b"}, {Op: "move", Path: "/y", From: "/x"}, {Op: "test", Path: ""}}, p.Ops())
}
