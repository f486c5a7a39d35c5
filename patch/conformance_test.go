package patch_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/patch"
)

// suiteDir holds a copy of the cross-language JSON Patch conformance suite
// (json-patch/json-patch-tests at commit 2a928f9, Apache-2.0; see its
// README.md), so that the module tests itself wherever it is checked out.
// TestSuiteIsTheReference keeps the copy equal to the project's reference.
const suiteDir = "testdata/json-patch-tests"

type suiteCase struct {
	Comment  string          `json:"comment"`
	Doc      json.RawMessage `json:"doc"`
	Patch    json.RawMessage `json:"patch"`
	Expected json.RawMessage `json:"expected"`
	Error    string          `json:"error"`
	Disabled bool            `json:"disabled"`
}

func loadSuite(t *testing.T, name string) []suiteCase {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(suiteDir, name))
	require.NoError(t, err, "the conformance suite must be present (patch/testdata/json-patch-tests)")
	var cases []suiteCase
	require.NoError(t, json.Unmarshal(data, &cases))
	require.NotEmpty(t, cases)
	return cases
}

// TestConformance runs every enabled case of the suite: a case with
// "expected" must apply and give an equal document; a case with "error"
// must fail; a case with neither must apply.
func TestConformance(t *testing.T) {
	total := 0
	for _, file := range []string{"tests.json", "spec_tests.json"} {
		for i, c := range loadSuite(t, file) {
			if c.Disabled {
				continue
			}
			total++
			name := file + "/" + c.Comment
			if c.Comment == "" {
				name = file + "/case"
			}
			t.Run(name, func(t *testing.T) {
				got, err := patch.Apply(c.Doc, c.Patch)
				if c.Error != "" {
					require.Error(t, err, "case %d: %s", i, c.Error)
					require.Nil(t, got)
					return
				}
				require.NoError(t, err, "case %d", i)
				require.True(t, json.Valid(got), "case %d: invalid JSON output", i)
				if c.Expected != nil {
					require.JSONEq(t, string(c.Expected), string(got), "case %d", i)
				}
			})
		}
	}
	require.Equal(t, 108, total, "enabled cases in the suite")
}

// TestConformanceDisabled runs the suite's disabled cases too: they are
// disabled because some implementations cannot pass them, and this one
// can (a scalar document, a test of the whole document, and an operation
// with two "op" members, which jsonx.Check refuses as a duplicate key).
func TestConformanceDisabled(t *testing.T) {
	n := 0
	for _, file := range []string{"tests.json", "spec_tests.json"} {
		for _, c := range loadSuite(t, file) {
			if !c.Disabled {
				continue
			}
			n++
			got, err := patch.Apply(c.Doc, c.Patch)
			if c.Error != "" {
				require.ErrorIs(t, err, patch.ErrInvalidPatch, c.Comment)
				continue
			}
			require.NoError(t, err, c.Comment)
			if c.Expected != nil {
				require.JSONEq(t, string(c.Expected), string(got), c.Comment)
			}
		}
	}
	require.Equal(t, 4, n)
}

// TestSuiteIsTheReference: where the project's shared reference folder
// sits beside the module (a developer's checkout), the copy in testdata is
// byte for byte the suite there.
func TestSuiteIsTheReference(t *testing.T) {
	for _, name := range []string{"tests.json", "spec_tests.json"} {
		theirs, err := os.ReadFile(filepath.Join("../../shared/reference/json-patch-tests", name))
		if err != nil {
			continue // no reference beside this checkout (CI's clean clone, say)
		}
		ours, err := os.ReadFile(filepath.Join(suiteDir, name))
		require.NoError(t, err)
		require.Equal(t, string(theirs), string(ours), "%s differs from the reference: copy it again", name)
	}
}
