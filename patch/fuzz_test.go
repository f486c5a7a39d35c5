package patch_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/patch"
)

// fuzzSeeds adds the conformance suite and the secure token to a fuzzer's
// corpus.
func fuzzSeeds(f *testing.F, add func(doc, p []byte)) {
	for _, file := range []string{"tests.json", "spec_tests.json"} {
		data, err := os.ReadFile(filepath.Join(suiteDir, file))
		if err != nil {
			f.Fatal(err)
		}
		var cases []suiteCase
		if err := json.Unmarshal(data, &cases); err != nil {
			f.Fatal(err)
		}
		for _, c := range cases {
			add(c.Doc, c.Patch)
		}
	}
	token, err := os.ReadFile("testdata/securetoken.json")
	if err != nil {
		f.Fatal(err)
	}
	add(token, []byte(tokenOps))
	add([]byte(`{"a.b":{"*":[1,{"":2}]},"#":3,"0":{"1":[]}}`), []byte(`[{"op":"copy","from":"/a.b/*/1","path":"/0/1/-"},{"op":"move","from":"/#","path":"/a.b/"},{"op":"test","path":"/0/1/0/","value":2.0}]`))
	add([]byte(` [ 1 , [ 2 ] , { "x" : [ ] } ] `), []byte(`[{"op":"remove","path":"/1/0"},{"op":"add","path":"/2/x/0","value":{"\u0061":null}},{"op":"replace","path":"/0","value":1e0}]`))
}

// checkOutput asserts what every successful result must be: strict JSON.
func checkOutput(t *testing.T, out []byte) {
	t.Helper()
	if err := jsonx.Check(out, jsonx.Limits{MaxDepth: 1000}); err != nil {
		t.Fatalf("output is not strict JSON: %v", err)
	}
}

// FuzzApply checks that Apply never panics, never mutates its inputs,
// always returns strict JSON, and agrees with the reference
// implementation: the same document (compared semantically) or both fail.
func FuzzApply(f *testing.F) {
	fuzzSeeds(f, func(doc, p []byte) { f.Add(doc, p) })
	f.Fuzz(func(t *testing.T, doc, ops []byte) {
		docCopy, opsCopy := string(doc), string(ops)
		out, err := patch.Apply(doc, ops)
		if string(doc) != docCopy || string(ops) != opsCopy {
			t.Fatal("Apply modified its input")
		}
		// Stepping through container indexes (big documents) must give
		// the same bytes as scanning (small ones).
		restore := patch.AlwaysIndex()
		outIndexed, errIndexed := patch.Apply(doc, ops)
		restore()
		if string(out) != string(outIndexed) || (err == nil) != (errIndexed == nil) {
			t.Fatalf("indexed apply differs: %v / %v", err, errIndexed)
		}
		if err == nil {
			checkOutput(t, out)
		} else if out != nil {
			t.Fatal("a failed Apply returned a document")
		}
		if errors.Is(err, patch.ErrTooLarge) || hugeExponent.Match(doc) || hugeExponent.Match(ops) {
			return // the reference has no limits and no huge numbers
		}
		want, refErr := refApply(doc, ops)
		switch {
		case err != nil && refErr != nil:
		case err != nil:
			t.Fatalf("Apply failed where the reference succeeds: %v", err)
		case refErr != nil:
			t.Fatalf("Apply succeeded where the reference fails: %v", refErr)
		default:
			got, derr := decodeAny(out)
			if derr != nil {
				t.Fatal(derr)
			}
			if !refEqual(got, want) {
				t.Fatal("Apply and the reference disagree")
			}
		}
	})
}

// FuzzMerge checks Merge as FuzzApply checks Apply, against RFC 7396's
// pseudo-code.
func FuzzMerge(f *testing.F) {
	for _, c := range mergeCases {
		f.Add([]byte(c.doc), []byte(c.patch))
	}
	fuzzSeeds(f, func(doc, p []byte) { f.Add(doc, doc); f.Add(p, doc) })
	f.Fuzz(func(t *testing.T, doc, mp []byte) {
		docCopy, mpCopy := string(doc), string(mp)
		out, err := patch.Merge(doc, mp)
		if string(doc) != docCopy || string(mp) != mpCopy {
			t.Fatal("Merge modified its input")
		}
		if err == nil {
			checkOutput(t, out)
		} else if out != nil {
			t.Fatal("a failed Merge returned a document")
		}
		if errors.Is(err, patch.ErrTooLarge) {
			return
		}
		d, derr := decodeAny(doc)
		p, perr := decodeAny(mp)
		if derr != nil || perr != nil {
			if err == nil {
				t.Fatal("Merge accepted input that is not strict JSON")
			}
			return
		}
		if err != nil {
			t.Fatalf("Merge failed on strict JSON: %v", err)
		}
		got, gerr := decodeAny(out)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if hugeExponent.Match(doc) || hugeExponent.Match(mp) {
			return
		}
		if !refEqual(got, refMerge(d, p)) {
			t.Fatal("Merge and the reference disagree")
		}
	})
}

// FuzzParsePointer checks that parsing never panics and that String gives
// back a pointer that parses to the same tokens.
func FuzzParsePointer(f *testing.F) {
	for _, s := range []string{"", "/", "/a~1b/~0/0", "~", "/~2", "/a/", "//", "/~01", "a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := patch.ParsePointer(s)
		ref, refErr := refPointer(s)
		if (err == nil) != (refErr == nil) {
			t.Fatalf("ParsePointer error %v, reference %v", err, refErr)
		}
		if err != nil {
			return
		}
		if len(p) != len(ref) {
			t.Fatalf("%d tokens, reference %d", len(p), len(ref))
		}
		for i := range p {
			if p[i] != ref[i] {
				t.Fatalf("token %d differs from the reference", i)
			}
		}
		again, err := patch.ParsePointer(p.String())
		if err != nil || again.String() != p.String() || len(again) != len(p) {
			t.Fatalf("String does not round-trip: %v", err)
		}
		if p.String() != s {
			t.Fatal("String does not give back the canonical input")
		}
	})
}
