package cardvault_test

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeTour keeps the README's Tour compiled: every ```go snippet in
// it follows a marker <!-- example: ./dir ExampleName --> and is that
// Example's body (the lines between its braces), as go test runs it. Only
// leading white space may differ.
func TestReadmeTour(t *testing.T) {
	doc, err := os.ReadFile("README.md")
	require.NoError(t, err)
	snippets, err := tourSnippets(doc)
	require.NoError(t, err)
	require.NotEmpty(t, snippets, "README.md has no ```go snippet under ## Tour")

	for _, s := range snippets {
		require.NotEmpty(t, s.dir, "README.md:%d: the snippet under %q has no <!-- example: ./dir ExampleName --> marker before it", s.line, s.heading)
		body, err := exampleBody(s.dir, s.name)
		require.NoError(t, err, "README.md:%d: the snippet under %q", s.line, s.heading)
		want, got := normalizeCode(body), normalizeCode(s.code)
		if i, differ := firstDifference(want, got); differ {
			t.Errorf("README.md:%d: the snippet under %q is not the body of %s %s: snippet line %d\n  README: %q\n  code:   %q",
				s.line, s.heading, s.dir, s.name, i+1, lineAt(got, i), lineAt(want, i))
		}
	}
}

type tourSnippet struct {
	heading   string // the ### heading it is under
	line      int    // of its opening fence
	dir, name string // from its marker; "" without one
	code      string
}

var exampleMarker = regexp.MustCompile(`^<!-- example: (\./\S*) (Example\w*) -->$`)

// tourSnippets returns the ```go snippets of the README's ## Tour section,
// each with the marker on the last non-blank line before its fence, if any.
// A marker that no snippet follows is an error.
func tourSnippets(doc []byte) ([]tourSnippet, error) {
	var (
		out     []tourSnippet
		in      bool   // in the Tour
		heading string // the current ### heading
		marker  []string
		markAt  int
		code    *tourSnippet
		buf     strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if code != nil {
			if strings.TrimSpace(line) == "```" {
				code.code = buf.String()
				out = append(out, *code)
				code = nil
				buf.Reset()
			} else {
				buf.WriteString(line + "\n")
			}
			continue
		}
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Tour"
		case !in || trimmed == "":
		case strings.HasPrefix(line, "### "):
			heading = strings.TrimPrefix(line, "### ")
		case strings.HasPrefix(trimmed, "<!-- example:"):
			if marker != nil {
				return nil, fmt.Errorf("README.md:%d: a marker with no ```go snippet after it", markAt)
			}
			marker = exampleMarker.FindStringSubmatch(trimmed)
			if marker == nil {
				return nil, fmt.Errorf("README.md:%d: a marker is <!-- example: ./dir ExampleName -->, not %q", n, trimmed)
			}
			markAt = n
			continue
		case trimmed == "```go":
			code = &tourSnippet{heading: heading, line: n}
			if marker != nil {
				code.dir, code.name = marker[1], marker[2]
			}
		}
		if in && trimmed != "" && marker != nil && code == nil {
			return nil, fmt.Errorf("README.md:%d: a marker with no ```go snippet after it", markAt)
		}
		if code != nil {
			marker = nil
		}
	}
	if code != nil {
		return nil, fmt.Errorf("README.md:%d: a snippet with no closing fence", code.line)
	}
	if marker != nil {
		return nil, fmt.Errorf("README.md:%d: a marker with no ```go snippet after it", markAt)
	}
	return out, sc.Err()
}

// exampleBody returns the source between the braces of the function name in
// dir's test files.
func exampleBody(dir, name string) (string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*_test.go"))
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("%s has no test files", dir)
	}
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			return "", err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || fn.Name.Name != name || fn.Body == nil {
				continue
			}
			from, to := fset.Position(fn.Body.Lbrace).Offset+1, fset.Position(fn.Body.Rbrace).Offset
			return string(src[from:to]), nil
		}
	}
	return "", fmt.Errorf("no func %s in %s's test files", name, dir)
}

// normalizeCode returns the lines of code without their leading white space
// and without blank lines at either end.
func normalizeCode(code string) []string {
	lines := strings.Split(code, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimLeft(l, " \t")
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// firstDifference returns the index of the first line where a and b differ.
func firstDifference(a, b []string) (int, bool) {
	for i := range max(len(a), len(b)) {
		if lineAt(a, i) != lineAt(b, i) || i >= len(a) || i >= len(b) {
			return i, true
		}
	}
	return 0, false
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return "(end)"
}
