package cardvault_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/cardvault/cardvault"

// TestDesignMap keeps docs/DESIGN.md's package table true: every library
// package has a row, a row's imports are exactly what the package imports
// from the module (tests aside), and each of them has a row above it — every
// arrow points up the table.
func TestDesignMap(t *testing.T) {
	doc, err := os.ReadFile("docs/DESIGN.md")
	require.NoError(t, err)
	rows, err := packageTable(doc)
	require.NoError(t, err)

	actual := modulePackages(t)
	var names []string
	for name := range actual {
		names = append(names, name)
	}
	slices.Sort(names)

	seen := map[string]int{}
	for i, r := range rows {
		require.NotContains(t, seen, r.name, "docs/DESIGN.md lists %s twice", r.name)
		seen[r.name] = i
	}
	for _, name := range names {
		_, ok := seen[name]
		require.True(t, ok, "docs/DESIGN.md's package table has no row for %s", name)
	}
	for i, r := range rows {
		imports, ok := actual[r.name]
		require.True(t, ok, "docs/DESIGN.md lists %s, which is not a library package of the module", r.name)
		require.Equal(t, imports, r.imports, "docs/DESIGN.md: the imports of %s", r.name)
		for _, imp := range r.imports {
			j, ok := seen[imp]
			require.True(t, ok && j < i, "docs/DESIGN.md: %s imports %s, which must have a row above it", r.name, imp)
		}
	}
}

// supportPackage reports the packages the table leaves out: mains, the
// conformance suite and test support, which nothing in the library imports.
func supportPackage(name string) bool {
	if strings.HasPrefix(name, "examples/") || name == "store/storetest" {
		return true
	}
	switch name {
	case "internal/testkit", "internal/teststores", "internal/pgtest", "internal/pgaftest", "internal/browsertest",
		"internal/stripemock", "internal/serverproc", "internal/loadgen", "internal/reliability", "internal/audittest":
		return true
	}
	return false
}

// modulePackages returns each library package of the module (by its path
// in the module, "cardvault" for the root) with the module packages it
// imports, sorted.
func modulePackages(t *testing.T) map[string][]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	require.NoError(t, err, "go list")
	short := func(p string) string {
		if p == module {
			return "cardvault"
		}
		return strings.TrimPrefix(p, module+"/")
	}
	m := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		require.NoError(t, dec.Decode(&p))
		name := short(p.ImportPath)
		if supportPackage(name) {
			continue
		}
		imports := []string{}
		for _, imp := range p.Imports {
			if imp == module || strings.HasPrefix(imp, module+"/") {
				imports = append(imports, short(imp))
			}
		}
		slices.Sort(imports)
		m[name] = imports
	}
	return m
}

type tableRow struct {
	name    string
	imports []string
}

var backticked = regexp.MustCompile("`([^`]+)`")

// packageTable reads the rows between <!-- packages --> and
// <!-- /packages -->: | `name` | owns | `a`, `b` or — |.
func packageTable(doc []byte) ([]tableRow, error) {
	var rows []tableRow
	in := false
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "<!-- packages -->":
			in = true
			continue
		case line == "<!-- /packages -->":
			in = false
			continue
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		name := backticked.FindStringSubmatch(cells[0])
		if name == nil || len(cells) < 3 {
			continue
		}
		imports := []string{}
		for _, m := range backticked.FindAllStringSubmatch(cells[len(cells)-1], -1) {
			imports = append(imports, m[1])
		}
		slices.Sort(imports)
		rows = append(rows, tableRow{name: name[1], imports: imports})
	}
	return rows, sc.Err()
}
