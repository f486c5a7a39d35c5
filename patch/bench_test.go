package patch_test

import (
	"os"
	"testing"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/patch"
)

// listOps are four operations spread over testdata/securetokens-list.json
// (a 60 KB list of 38 secure tokens).
const listOps = `[
  {"op": "test", "path": "/data/37/token", "value": "296753100037"},
  {"op": "replace", "path": "/data/20/customer/lastName", "value": "Smith"},
  {"op": "add", "path": "/data/37/customFields/-", "value": {"name": "loyalty", "value": "gold"}},
  {"op": "remove", "path": "/data/0/customFields/0"}
]`

// tokenMerge is a merge patch on the secure token of the guide.
const tokenMerge = `{"customer":{"lastName":"Smith","shippingAddress":{"recipientName":null}},"mitAgreement":"recurring"}`

type benchCase struct {
	name     string
	doc, ops []byte
}

func benchCases(b testing.TB) []benchCase {
	list, err := os.ReadFile("testdata/securetokens-list.json")
	require.NoError(b, err)
	return []benchCase{
		{name: "SecureToken3Ops", doc: readToken(b), ops: []byte(tokenOps)},
		{name: "List60KB4Ops", doc: list, ops: []byte(listOps)},
	}
}

// TestBenchmarksAgree makes sure both libraries do the same work in the
// benchmarks: their results are the same JSON.
func TestBenchmarksAgree(t *testing.T) {
	for _, c := range benchCases(t) {
		ours, err := patch.Apply(c.doc, c.ops)
		require.NoError(t, err, c.name)
		p, err := jsonpatch.DecodePatch(c.ops)
		require.NoError(t, err, c.name)
		theirs, err := p.Apply(c.doc)
		require.NoError(t, err, c.name)
		require.JSONEq(t, string(theirs), string(ours), c.name)
	}
	ours, err := patch.Merge(readToken(t), []byte(tokenMerge))
	require.NoError(t, err)
	theirs, err := jsonpatch.MergePatch(readToken(t), []byte(tokenMerge))
	require.NoError(t, err)
	require.JSONEq(t, string(theirs), string(ours))
}

// BenchmarkApply decodes and applies a patch per iteration, in both
// libraries: what a PATCH request costs.
func BenchmarkApply(b *testing.B) {
	for _, c := range benchCases(b) {
		b.Run(c.name+"/cardvault", func(b *testing.B) {
			b.SetBytes(int64(len(c.doc)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := patch.Apply(c.doc, c.ops); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(c.name+"/evanphx", func(b *testing.B) {
			b.SetBytes(int64(len(c.doc)))
			b.ReportAllocs()
			for b.Loop() {
				p, err := jsonpatch.DecodePatch(c.ops)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := p.Apply(c.doc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMerge applies an RFC 7396 merge patch to the secure token.
func BenchmarkMerge(b *testing.B) {
	doc, mp := readToken(b), []byte(tokenMerge)
	b.Run("SecureToken/cardvault", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := patch.Merge(doc, mp); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("SecureToken/evanphx", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jsonpatch.MergePatch(doc, mp); err != nil {
				b.Fatal(err)
			}
		}
	})
}
