package patch_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/patch"
)

// mergeCases are the examples of RFC 7396 appendix A, then cases for keys
// and formatting.
var mergeCases = []struct{ doc, patch, want string }{
	{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
	{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
	{`{"a":"b"}`, `{"a":null}`, `{}`},
	{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
	{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
	{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
	{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
	{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
	{`["a","b"]`, `["c","d"]`, `["c","d"]`},
	{`{"a":"b"}`, `["c"]`, `["c"]`},
	{`{"a":"foo"}`, `null`, `null`},
	{`{"a":"foo"}`, `"bar"`, `"bar"`},
	{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
	{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
	{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
	// Keys gjson/sjson paths cannot express, escapes, numeric keys.
	{`{"a.b":1,"":{"*":2},"0":3}`, `{"a.b":null,"":{"*":4,"#":5},"0":[6]}`, `{"":{"*":4,"#":5},"0":[6]}`},
	{`{"\u0061":1,"b":2}`, `{"a":null,"\u0062":3}`, `{"b":3}`},
	{`{"a":{"x":1}}`, `{"a":{"y":{"z":null,"w":[null]}}}`, `{"a":{"x":1,"y":{"w":[null]}}}`},
	{` { "keep" : [ 1, 2 ] , "n" : { "m" : 1 } } `, `{"n":{"o":2}}`, `{"keep" : [ 1, 2 ],"n":{"m" : 1,"o":2}}`},
	{`{"a":1}`, `{}`, `{"a":1}`},
	{`"x"`, `{"a":null}`, `{}`},
}

func TestMerge(t *testing.T) {
	for _, c := range mergeCases {
		got, err := patch.Merge([]byte(c.doc), []byte(c.patch))
		require.NoError(t, err, "%s + %s", c.doc, c.patch)
		require.Equal(t, c.want, string(got), "%s + %s", c.doc, c.patch)
	}
}

func TestMergeManyMembers(t *testing.T) {
	doc := bigObject(40, 0)
	mp := `{"k3":null,"k39":"x","k40":{"a":null,"b":1},"k5":{"z":1},` + strings.ReplaceAll(bigObject(20, 1)[1:], `"k`, `"p`)
	got, err := patch.Merge([]byte(doc), []byte(mp))
	require.NoError(t, err)
	want, err := refMergeJSON(doc, mp)
	require.NoError(t, err)
	gotAny, err := decodeAny(got)
	require.NoError(t, err)
	require.True(t, refEqual(want, gotAny), string(got))
}

func refMergeJSON(doc, mp string) (any, error) {
	d, err := decodeAny([]byte(doc))
	if err != nil {
		return nil, err
	}
	p, err := decodeAny([]byte(mp))
	if err != nil {
		return nil, err
	}
	return refMerge(d, p), nil
}

func TestMergeErrors(t *testing.T) {
	doc := []byte(`{"a":1}`)
	_, err := patch.Merge(doc, []byte(`{"a":1,"a":2}`))
	require.ErrorIs(t, err, patch.ErrInvalidPatch)
	require.ErrorIs(t, err, cardvault.ErrInvalid)
	_, err = patch.Merge([]byte(`{"a":`), []byte(`{}`))
	require.ErrorIs(t, err, patch.ErrInvalidDocument)
	_, err = patch.MergeWith(doc, []byte(`{"b":"123456789"}`), patch.Options{Limits: patch.Limits{MaxPatchBytes: 8}})
	require.ErrorIs(t, err, patch.ErrTooLarge)
	require.ErrorIs(t, err, cardvault.ErrTooLarge)
	_, err = patch.MergeWith(doc, []byte(`{"b":"123456789"}`), patch.Options{Limits: patch.Limits{MaxDocumentBytes: 10}})
	require.ErrorIs(t, err, patch.ErrTooLarge)
	_, err = patch.MergeWith(doc, []byte(`{"b":[[[[1]]]]}`), patch.Options{Limits: patch.Limits{MaxDepth: 3}})
	require.ErrorIs(t, err, patch.ErrTooLarge)
	require.Equal(t, `{"a":1}`, string(doc))
}
