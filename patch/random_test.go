package patch_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/patch"
)

// TestRandomPatches applies long random patches, whose ops mostly name
// paths that exist (so that they succeed and build on one another), and
// compares every result with the reference implementation. The fuzzers
// find odd bytes; this finds odd sequences of ops over shared containers.
func TestRandomPatches(t *testing.T) {
	t.Run("scan", func(t *testing.T) { randomPatches(t, 1) })
	t.Run("index", func(t *testing.T) {
		defer patch.AlwaysIndex()()
		randomPatches(t, 2)
	})
}

func randomPatches(t *testing.T, seed uint64) {
	rnd := rand.New(rand.NewPCG(seed, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	failed, opsApplied := 0, 0
	for iter := range n {
		doc := randomValue(rnd, 0, true)
		docJSON := marshalIndented(rnd, doc)
		// Build the patch op by op against the reference's current
		// document, keeping ops that succeed there, and now and then one
		// that fails, as the last.
		var ops []string
		cur := doc
		for range 1 + rnd.IntN(12) {
			op := randomOp(rnd, cur)
			curJSON, _ := json.Marshal(cur)
			next, err := refApply(curJSON, []byte("["+op+"]"))
			if err != nil {
				if rnd.IntN(15) == 0 {
					ops = append(ops, op)
					break
				}
				continue
			}
			ops = append(ops, op)
			cur = next
		}
		opsJSON := "[" + strings.Join(ops, ",") + "]"
		got, err := patch.Apply([]byte(docJSON), []byte(opsJSON))
		want, refErr := refApply([]byte(docJSON), []byte(opsJSON))
		if (err == nil) != (refErr == nil) {
			t.Fatalf("iteration %d: Apply error %v, reference error %v\ndoc %s\nops %s", iter, err, refErr, docJSON, opsJSON)
		}
		if err != nil {
			failed++
			continue
		}
		opsApplied += len(ops)
		gotAny, derr := decodeAny(got)
		require.NoError(t, derr, "iteration %d: output %s", iter, got)
		if !refEqual(gotAny, want) {
			wantJSON, _ := json.Marshal(want)
			t.Fatalf("iteration %d: results differ\ndoc  %s\nops  %s\ngot  %s\nwant %s", iter, docJSON, opsJSON, got, wantJSON)
		}
	}
	// The generator must mostly build patches that apply.
	require.Less(t, failed, n/3, "failed patches")
	require.Greater(t, opsApplied, 3*n, "ops in patches that applied")
	t.Logf("%d patches, %d failed, %d ops applied", n, failed, opsApplied)
}

var randomKeys = []string{"a", "b", "c", "0", "1", "", "a.b", "*", "~", "/", "é", "-"}

func randomValue(rnd *rand.Rand, depth int, container bool) any {
	kind := rnd.IntN(7)
	if container || depth < 2 && kind < 4 {
		kind = rnd.IntN(2)
	}
	if depth > 3 && kind < 2 {
		kind = 2 + rnd.IntN(5)
	}
	switch kind {
	case 0:
		m := map[string]any{}
		for range rnd.IntN(5) {
			m[randomKeys[rnd.IntN(len(randomKeys))]] = randomValue(rnd, depth+1, false)
		}
		return m
	case 1:
		s := make([]any, rnd.IntN(5))
		for i := range s {
			s[i] = randomValue(rnd, depth+1, false)
		}
		return s
	case 2:
		return json.Number([]string{"0", "1", "-1.5", "1e2", "100", "0.10"}[rnd.IntN(6)])
	case 3:
		return []string{"x", "y", "a\"b", "\\"}[rnd.IntN(4)]
	case 4:
		return rnd.IntN(2) == 0
	default:
		return nil
	}
}

// marshalIndented writes v compact or indented, to exercise whitespace.
func marshalIndented(rnd *rand.Rand, v any) string {
	var b []byte
	if rnd.IntN(2) == 0 {
		b, _ = json.Marshal(v)
	} else {
		b, _ = json.MarshalIndent(v, "", strings.Repeat(" ", rnd.IntN(4)))
	}
	return string(b)
}

// randomPath picks an existing location of doc, or sometimes a missing or
// malformed one.
func randomPath(rnd *rand.Rand, doc any) patch.Pointer {
	var p patch.Pointer
	cur := doc
	for rnd.IntN(5) != 0 {
		switch c := cur.(type) {
		case map[string]any:
			if len(c) == 0 {
				return p
			}
			keys := make([]string, 0, len(c))
			for k := range c {
				keys = append(keys, k)
			}
			// Map order is random; sort for a reproducible choice.
			sortStrings(keys)
			k := keys[rnd.IntN(len(keys))]
			p = append(p, k)
			cur = c[k]
		case []any:
			if len(c) == 0 {
				return p
			}
			i := rnd.IntN(len(c))
			p = append(p, fmt.Sprint(i))
			cur = c[i]
		default:
			return p
		}
	}
	return p
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func randomOp(rnd *rand.Rand, doc any) string {
	path := randomPath(rnd, doc)
	// Sometimes point one past the end, at "-", or at a new member.
	switch rnd.IntN(6) {
	case 0:
		path = append(path, randomKeys[rnd.IntN(len(randomKeys))])
	case 1:
		path = append(path, "-")
	}
	pathJSON, _ := json.Marshal(path.String())
	value, _ := json.Marshal(randomValue(rnd, 2, false))
	switch rnd.IntN(6) {
	case 0:
		return fmt.Sprintf(`{"op":"add","path":%s,"value":%s}`, pathJSON, value)
	case 1:
		return fmt.Sprintf(`{"op":"remove","path":%s}`, pathJSON)
	case 2:
		return fmt.Sprintf(`{"op":"replace","path":%s,"value":%s}`, pathJSON, value)
	case 3, 4:
		from, _ := json.Marshal(randomPath(rnd, doc).String())
		name := []string{"move", "copy"}[rnd.IntN(2)]
		return fmt.Sprintf(`{"op":%q,"from":%s,"path":%s}`, name, from, pathJSON)
	default:
		// A test of the current value at the path in the original
		// document often passes; ops before it may have changed it.
		v, err := json.Marshal(valueAt(doc, path))
		if err != nil {
			v = value
		}
		return fmt.Sprintf(`{"op":"test","path":%s,"value":%s}`, pathJSON, v)
	}
}

func valueAt(doc any, p patch.Pointer) any {
	cur := doc
	for _, tok := range p {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[tok]
		case []any:
			var i int
			if _, err := fmt.Sscan(tok, &i); err != nil || i < 0 || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

// TestManyContainers walks more containers than the applier keeps indexes
// for, back and forth, with changes in between, in both ways of stepping.
func TestManyContainers(t *testing.T) {
	var doc, ops []string
	for i := range 20 {
		doc = append(doc, fmt.Sprintf(`"k%d":{"a":[%d,{"x":%d}],"b":"%d"}`, i, i, i, i))
	}
	for round := range 3 {
		for i := range 20 {
			j := (i * 7) % 20
			ops = append(ops,
				fmt.Sprintf(`{"op":"test","path":"/k%d/a/1/x","value":%d}`, j, j),
				fmt.Sprintf(`{"op":"add","path":"/k%d/a/0","value":"r%d"}`, j, round),
				fmt.Sprintf(`{"op":"remove","path":"/k%d/a/0"}`, j),
				fmt.Sprintf(`{"op":"copy","from":"/k%d/b","path":"/k%d/c%d"}`, j, (j+1)%20, round),
				fmt.Sprintf(`{"op":"move","from":"/k%d/a/1","path":"/k%d/a/1"}`, j, j))
		}
	}
	docJSON := []byte("{" + strings.Join(doc, ",\n ") + "}")
	opsJSON := []byte("[" + strings.Join(ops, ",") + "]")
	want, err := refApply(docJSON, opsJSON)
	require.NoError(t, err)
	for _, indexed := range []bool{false, true} {
		restore := func() {}
		if indexed {
			restore = patch.AlwaysIndex()
		}
		got, err := patch.Apply(docJSON, opsJSON)
		restore()
		require.NoError(t, err)
		gotAny, err := decodeAny(got)
		require.NoError(t, err)
		require.True(t, refEqual(want, gotAny), "indexed=%v", indexed)
	}
}
