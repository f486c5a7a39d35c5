// Package mustachex is the one way cardvault renders a mustache template:
// the proxy's request templates and the rules engine's template operation
// both go through it. It is a gate around github.com/cbroglie/mustache, as
// package jsonx is around encoding/json: the library renders, and this
// package decides what may reach it and what comes out.
//
// # What a template may hold
//
// Variables ({{key}}, {{billing.zip}}), comments ({{! ... }}), and sections
// ({{#key}}...{{/key}}, {{^key}}...{{/key}}) that do not nest. Everything
// else is refused by [Parse] with an error naming the line:
//
//   - delimiter changes ({{=<% %>=}}): they make a template mean something
//     else to every reader that does not track them, a validator included;
//   - partials ({{> name}}): the library would read them from the file
//     system by default;
//   - unescaped variables ({{{key}}}, {{&key}}): every value is escaped for
//     the place it goes ([Escape]), so a cardholder name holding a quote
//     cannot rewrite a JSON body;
//   - nested sections: one level is enough for "only when the item has a
//     CVV" ({{#cvv}}...{{/cvv}}), and depth multiplies the output;
//   - key names other than "." or dot-separated segments that start with a
//     letter or '_' and hold letters, digits, '_' and '-' ([ValidName]).
//
// Lambdas cannot occur: the data is built by [DataOf] from JSON and holds
// only maps, slices, strings and booleans, none of which has a method or is
// a func, so the library never calls anything.
//
// # Data and missing keys
//
// A JSON object is a map, an array a slice, a string itself, a number its
// text as written in the JSON, true and false booleans. A null member of
// an object is left out: null means absent, as in a merge patch.
//
// A variable whose key the data lacks is an error ([*KeyError] wrapping
// [ErrMissingKey]) naming the key, never an empty string; so is a variable
// that names an object, an array or a null array element ([ErrNotText]),
// which the library would print as Go syntax. Sections follow mustache: a
// section is rendered for a present value that is not false, an empty or
// blank string or an empty array — once for an object, a string or true
// (with the value on top of the context), once per element for an array; an
// inverted section for the others. A number is its text, so a section over
// 0 is rendered. The check runs before the library renders, over the same
// lookup rules, because the library's switch for missing keys is a global
// variable (mustache.AllowMissingVariables) that this package never writes.
//
// # Limits
//
// A template is at most [Limits.MaxTemplate] bytes; a rendering visits at
// most [Limits.MaxSteps] tags and text runs (a section over a long array
// multiplies them) and writes at most [Limits.MaxOutput] bytes. A rendering
// over a limit stops early with an error wrapping [ErrTooLarge]: a template
// that would expand to gigabytes fails after a few megabytes of work at
// most.
//
// # Concurrency
//
// A [Template] is immutable after Parse (its escaping is fixed then), so
// any number of goroutines may render it, and templates with different
// escaping render side by side.
package mustachex

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/cbroglie/mustache"
	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/jsonx"
)

// Defaults for a zero field of Limits.
const (
	DefaultMaxTemplate = 64 << 10
	DefaultMaxOutput   = 1 << 20
	DefaultMaxSteps    = 1 << 17
	// MaxNameLen bounds a key name in a tag.
	MaxNameLen = 128
	// MaxDataDepth bounds how deeply the JSON given to DataOf nests.
	MaxDataDepth = 64
)

// Errors. Every error of this package wraps one of them, and through them
// cardvault.ErrInvalid or cardvault.ErrTooLarge. Messages name lines, tags
// and keys, never a value of the data.
var (
	// ErrTemplate: the template is malformed or uses a refused feature.
	ErrTemplate = fmt.Errorf("template: %w", cardvault.ErrInvalid)
	// ErrMissingKey: a variable names a key the data lacks.
	ErrMissingKey = fmt.Errorf("template: missing key: %w", cardvault.ErrInvalid)
	// ErrNotText: a variable names an object, an array or a null.
	ErrNotText = fmt.Errorf("template: not a string, number or boolean: %w", cardvault.ErrInvalid)
	// ErrTooLarge: the template or its rendering is over a limit.
	ErrTooLarge = fmt.Errorf("template: %w", cardvault.ErrTooLarge)
	// ErrData: the data given to DataOf is not JSON within the limits.
	ErrData = fmt.Errorf("template data: %w", cardvault.ErrInvalid)
)

// KeyError is a variable the data cannot fill: Key is the name in the tag,
// Section the enclosing section's name ("" at the top level).
type KeyError struct {
	Key     string
	Section string
	// What the key holds when it is there: "an object", "an array", "null".
	Holds string
	err   error // ErrMissingKey or ErrNotText
}

func (e *KeyError) Error() string {
	in := ""
	if e.Section != "" {
		in = fmt.Sprintf(" (in section %q)", e.Section)
	}
	if errors.Is(e.err, ErrMissingKey) {
		return fmt.Sprintf("template: the data has no key %q%s", e.Key, in)
	}
	return fmt.Sprintf("template: key %q%s is %s, not a string, number or boolean", e.Key, in, e.Holds)
}

// Unwrap returns ErrMissingKey or ErrNotText.
func (e *KeyError) Unwrap() error { return e.err }

// Escape is how a variable's value is written into the output.
type Escape int

const (
	// None writes values as they are: text bodies, header values, and the
	// rules engine's template operation (whose result is a JSON string
	// that sjson escapes).
	None Escape = iota
	// JSON writes the contents of a JSON string ("a\"b" for a"b): a JSON
	// skeleton with variables inside its strings stays valid JSON.
	JSON
	// Form writes application/x-www-form-urlencoded (url.QueryEscape: a
	// space is '+', '&' and '=' are escaped).
	Form
	// URL percent-encodes everything but the unreserved characters of RFC
	// 3986 (letters, digits, '-', '.', '_', '~'), a space as %20: safe in a
	// path segment and in a query alike, and never a '/', '?', '#' or '@'.
	URL
)

func (e Escape) String() string {
	switch e {
	case None:
		return "none"
	case JSON:
		return "json"
	case Form:
		return "form"
	case URL:
		return "url"
	}
	return fmt.Sprintf("Escape(%d)", int(e))
}

func (e Escape) fn() (mustache.EscapeFunc, error) {
	switch e {
	case None:
		return func(s string) string { return s }, nil
	case JSON:
		return escapeJSON, nil
	case Form:
		return url.QueryEscape, nil
	case URL:
		return escapeURL, nil
	}
	return nil, fmt.Errorf("%w: unknown escaping %d", ErrTemplate, int(e))
}

func escapeJSON(s string) string {
	// A string always encodes; the quotes around it are dropped.
	out, _ := jsonx.Marshal(s)
	return string(out[1 : len(out)-1])
}

func escapeURL(s string) string {
	// QueryEscape leaves exactly the unreserved characters and writes a
	// space as '+'; a '+' of the value itself is %2B, so every '+' left is
	// a space.
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// Limits bound a template and its renderings. A zero field means its
// default.
type Limits struct {
	MaxTemplate int // bytes of template source
	MaxOutput   int // bytes of one rendering
	MaxSteps    int // tags and text runs one rendering visits
}

func (l Limits) withDefaults() Limits {
	if l.MaxTemplate <= 0 {
		l.MaxTemplate = DefaultMaxTemplate
	}
	if l.MaxOutput <= 0 {
		l.MaxOutput = DefaultMaxOutput
	}
	if l.MaxSteps <= 0 {
		l.MaxSteps = DefaultMaxSteps
	}
	return l
}

// Template is a checked, parsed template with its escaping.
type Template struct {
	src    string
	escape Escape
	limits Limits
	nodes  []node
	tmpl   *mustache.Template
}

type nodeKind uint8

const (
	textNode nodeKind = iota
	varNode
	sectionNode
	invertedNode
)

// node mirrors one element of the library's parse: a text run (its length,
// an upper bound on what it writes: the library drops the whitespace of
// standalone tag lines), a variable, or a section and its children.
type node struct {
	kind     nodeKind
	size     int
	name     string
	children []node
}

// Parse checks src and parses it for rendering with escape. See the
// package documentation for what a template may hold. Errors wrap
// [ErrTemplate] (or [ErrTooLarge] for a source over Limits.MaxTemplate)
// and name the line and the kind of tag at fault.
func Parse(src string, escape Escape, limits Limits) (*Template, error) {
	limits = limits.withDefaults()
	if len(src) > limits.MaxTemplate {
		return nil, fmt.Errorf("%w: the template is %d bytes, at most %d", ErrTooLarge, len(src), limits.MaxTemplate)
	}
	esc, err := escape.fn()
	if err != nil {
		return nil, err
	}
	nodes, err := scan(src)
	if err != nil {
		return nil, err
	}
	tmpl, err := mustache.ParseStringPartials(src, noPartials{})
	if err != nil {
		// scan refuses everything the library refuses; this is a guard.
		var pe mustache.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%w: line %d: %s", ErrTemplate, pe.Line, strings.ReplaceAll(string(pe.Code), "_", " "))
		}
		return nil, fmt.Errorf("%w: the template does not parse", ErrTemplate)
	}
	// The library's tree must be the one scan checked: the same variables
	// and sections in the same order, no partial.
	if !sameTree(nodes, tmpl.Tags()) {
		return nil, fmt.Errorf("%w: the template does not parse unambiguously", ErrTemplate)
	}
	tmpl.Escape(esc) // set once, before anyone renders: the template is read-only from here
	return &Template{src: src, escape: escape, limits: limits, nodes: nodes, tmpl: tmpl}, nil
}

// noPartials refuses every partial; scan refuses them first.
type noPartials struct{}

func (noPartials) Get(string) (string, error) {
	return "", fmt.Errorf("%w: partials are not allowed", ErrTemplate)
}

func sameTree(nodes []node, tags []mustache.Tag) bool {
	i := 0
	for _, n := range nodes {
		if n.kind == textNode {
			continue
		}
		if i >= len(tags) {
			return false
		}
		t := tags[i]
		i++
		switch n.kind {
		case varNode:
			if t.Type() != mustache.Variable || t.Name() != n.name {
				return false
			}
		case sectionNode, invertedNode:
			want := mustache.Section
			if n.kind == invertedNode {
				want = mustache.InvertedSection
			}
			if t.Type() != want || t.Name() != n.name || !sameTree(n.children, t.Tags()) {
				return false
			}
		}
	}
	return i == len(tags)
}

// scan tokenizes src exactly as the library does with the default
// delimiters — find "{{"; read to "}}}" when a '{' follows, else to "}}";
// trim spaces; the first character says the kind — and refuses what the
// package refuses. No delimiter change can come before the first '=' tag,
// which scan refuses, so it never loses step with the library. It is one
// loop over the tags, as the library's own tokenizer is, so that the two can
// be read side by side.
func scan(src string) ([]node, error) {
	var root []node
	var section *node // the open section; sections do not nest
	add := func(n node) {
		if section != nil {
			section.children = append(section.children, n)
		} else {
			root = append(root, n)
		}
	}
	lineAt := func(p int) int { return 1 + strings.Count(src[:p], "\n") }
	p := 0
	for {
		i := strings.Index(src[p:], "{{")
		if i < 0 {
			add(node{kind: textNode, size: len(src) - p})
			break
		}
		add(node{kind: textNode, size: i})
		start := p + i
		p = start + 2
		var text string
		if p < len(src) && src[p] == '{' {
			j := strings.Index(src[p:], "}}}")
			if j < 0 {
				return nil, fmt.Errorf("%w: line %d: a tag is not closed", ErrTemplate, lineAt(start))
			}
			text, p = src[p:p+j+1], p+j+3
		} else {
			j := strings.Index(src[p:], "}}")
			if j < 0 {
				return nil, fmt.Errorf("%w: line %d: a tag is not closed", ErrTemplate, lineAt(start))
			}
			text, p = src[p:p+j], p+j+2
		}
		tag := strings.TrimSpace(text)
		line := lineAt(start)
		if tag == "" {
			return nil, fmt.Errorf("%w: line %d: an empty tag", ErrTemplate, line)
		}
		switch tag[0] {
		case '!':
			// a comment
		case '=':
			return nil, fmt.Errorf("%w: line %d: delimiter changes ({{=<%% %%>=}}) are not allowed", ErrTemplate, line)
		case '>':
			return nil, fmt.Errorf("%w: line %d: partials ({{> name}}) are not allowed", ErrTemplate, line)
		case '{', '&':
			return nil, fmt.Errorf("%w: line %d: unescaped variables ({{{key}}}, {{&key}}) are not allowed: every value is escaped for the body's Content-Type", ErrTemplate, line)
		case '#', '^':
			name := strings.TrimSpace(tag[1:])
			if !ValidName(name) {
				return nil, badName(line)
			}
			if section != nil {
				return nil, fmt.Errorf("%w: line %d: section %q is inside section %q: sections do not nest", ErrTemplate, line, name, section.name)
			}
			kind := sectionNode
			if tag[0] == '^' {
				kind = invertedNode
			}
			section = &node{kind: kind, name: name}
		case '/':
			name := strings.TrimSpace(tag[1:])
			if section == nil {
				return nil, fmt.Errorf("%w: line %d: a closing tag without a section", ErrTemplate, line)
			}
			if name != section.name {
				return nil, fmt.Errorf("%w: line %d: the closing tag does not match section %q", ErrTemplate, line, section.name)
			}
			s := *section
			section = nil
			root = append(root, s)
		default:
			if !ValidName(tag) {
				return nil, badName(line)
			}
			add(node{kind: varNode, name: tag})
		}
	}
	if section != nil {
		return nil, fmt.Errorf("%w: section %q is not closed", ErrTemplate, section.name)
	}
	return root, nil
}

func badName(line int) error {
	return fmt.Errorf("%w: line %d: a key name is \".\" or dot-separated segments of letters, digits, '_' and '-', each starting with a letter or '_', at most %d bytes", ErrTemplate, line, MaxNameLen)
}

// ValidName reports whether name can be named by a tag: "." (the value on
// top of the context), or one or more segments separated by dots, each a
// letter or '_' followed by letters, digits, '_' and '-', at most
// [MaxNameLen] bytes in all. It is also the syntax of the rules engine's
// input and output fields, so a field a rule writes can be named in a
// template.
func ValidName(name string) bool {
	if name == "." {
		return true
	}
	if name == "" || len(name) > MaxNameLen {
		return false
	}
	start := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
		switch {
		case c == '.':
			if start {
				return false
			}
			start = true
		case start:
			if !letter {
				return false
			}
			start = false
		case !letter && !('0' <= c && c <= '9') && c != '-':
			return false
		}
	}
	return !start
}

// Names returns every key name the template's variables and sections name,
// once each, in order of first appearance.
func (t *Template) Names() []string {
	var out []string
	seen := map[string]bool{}
	var walk func([]node)
	walk = func(nodes []node) {
		for _, n := range nodes {
			if n.kind != textNode && !seen[n.name] {
				seen[n.name] = true
				out = append(out, n.name)
			}
			walk(n.children)
		}
	}
	walk(t.nodes)
	return out
}

// Static reports whether the template has no variable or section: it
// renders as its source.
func (t *Template) Static() bool {
	for _, n := range t.nodes {
		if n.kind != textNode {
			return false
		}
	}
	return true
}

// Source returns the template as given to Parse.
func (t *Template) Source() string { return t.src }

// Escape returns the template's escaping.
func (t *Template) Escape() Escape { return t.escape }

// Render renders the template over a context: the first Data is on top,
// and a key not found in it is looked up in the next. Errors wrap
// [ErrMissingKey], [ErrNotText] or [ErrTooLarge]; they name keys, never
// values.
func (t *Template) Render(context ...Data) ([]byte, error) {
	chain := make([]any, 0, len(context))
	for _, d := range context {
		if d.v != nil {
			chain = append(chain, d.v)
		}
	}
	if len(chain) == 0 {
		// The library indexes the top of the context for inverted
		// sections.
		chain = append(chain, map[string]any{})
	}
	// The check first: it proves every variable will be filled and bounds
	// the work, so that the library's own rendering can neither print an
	// empty string for a missing key nor run away.
	c := checker{limits: t.limits}
	if err := c.nodes(t.nodes, chain, ""); err != nil {
		return nil, err
	}
	w := &limitedBuffer{max: t.limits.MaxOutput}
	err := t.tmpl.FRender(w, chain...)
	if w.over {
		return nil, fmt.Errorf("%w: the rendering is over %d bytes", ErrTooLarge, t.limits.MaxOutput)
	}
	if err != nil {
		// The library reports only names (a missing variable, had the
		// check let one through).
		return nil, fmt.Errorf("%w: %v", ErrTemplate, err)
	}
	return w.buf.Bytes(), nil
}

// limitedBuffer keeps at most max bytes and then fails every write, so a
// rendering over the limit stops at the library's next text run.
type limitedBuffer struct {
	buf  bytes.Buffer
	max  int
	over bool
}

var errOver = errors.New("mustachex: output limit")

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.over || b.buf.Len()+len(p) > b.max {
		b.over = true
		return 0, errOver
	}
	return b.buf.Write(p)
}

// checker walks the template over the data with the library's lookup
// rules, without writing: it finds what a rendering would leave empty and
// counts what it would do.
type checker struct {
	limits Limits
	steps  int
	size   int
}

// arrayElem marks a context that is an element of an array, where the
// library sees a nil element as a value ("." finds it) rather than as
// nothing.
type arrayElem struct{ v any }

func (c *checker) nodes(nodes []node, chain []any, section string) error {
	for _, n := range nodes {
		c.steps++
		if c.steps > c.limits.MaxSteps {
			return fmt.Errorf("%w: the rendering visits more than %d tags and text runs", ErrTooLarge, c.limits.MaxSteps)
		}
		switch n.kind {
		case textNode:
			c.size += n.size
		case varNode:
			v, ok := lookup(chain, n.name)
			if !ok {
				return &KeyError{Key: n.name, Section: section, err: ErrMissingKey}
			}
			switch v := v.(type) {
			case string:
				c.size += len(v)
			case bool:
				c.size += 5
			default:
				return &KeyError{Key: n.name, Section: section, Holds: holds(v), err: ErrNotText}
			}
		case sectionNode, invertedNode:
			v, found := lookup(chain, n.name)
			empty := !found || isEmpty(v)
			if empty != (n.kind == invertedNode) {
				continue
			}
			var contexts []any
			switch {
			case n.kind == invertedNode:
				contexts = []any{chain[0]}
			default:
				if a, ok := v.([]any); ok {
					contexts = make([]any, len(a))
					for i, e := range a {
						contexts[i] = arrayElem{e}
					}
				} else {
					contexts = []any{v}
				}
			}
			inner := make([]any, len(chain)+1)
			copy(inner[1:], chain)
			for _, ctx := range contexts {
				inner[0] = ctx
				if err := c.nodes(n.children, inner, n.name); err != nil {
					return err
				}
			}
		}
		if c.size > c.limits.MaxOutput {
			return fmt.Errorf("%w: the rendering is over %d bytes", ErrTooLarge, c.limits.MaxOutput)
		}
	}
	return nil
}

func holds(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case nil:
		return "null"
	}
	return "not text"
}

// lookup finds name in chain as the library does: a dotted name is its
// first segment looked up in the chain, then the rest in that value alone;
// "." is the first context; any other name is a member of the first
// context that is an object holding it. Contexts that are not objects are
// passed over.
func lookup(chain []any, name string) (any, bool) {
	if name != "." {
		if head, rest, dotted := strings.Cut(name, "."); dotted {
			v, ok := lookup(chain, head)
			if !ok {
				return nil, false
			}
			return lookup([]any{v}, rest)
		}
	}
	for _, ctx := range chain {
		if e, ok := ctx.(arrayElem); ok {
			if name == "." {
				return e.v, true
			}
			ctx = e.v
			if ctx == nil {
				continue
			}
		}
		if name == "." {
			return ctx, true
		}
		if m, ok := ctx.(map[string]any); ok {
			if v, ok := m[name]; ok {
				return v, true
			}
		}
	}
	return nil, false
}

// isEmpty is the library's: nil, false, an empty slice, a blank string.
func isEmpty(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case bool:
		return !v
	case string:
		return strings.TrimSpace(v) == ""
	case []any:
		return len(v) == 0
	case arrayElem:
		return isEmpty(v.v)
	}
	return false
}

// Data is what a template renders over: a JSON value as the few plain Go
// types the library may see (see the package documentation).
type Data struct{ v any }

// DataOf turns a JSON value into Data. doc must be strict JSON (see package
// jsonx) nested at most [MaxDataDepth] deep; errors wrap [ErrData].
func DataOf(doc []byte) (Data, error) {
	if err := jsonx.Check(doc, jsonx.Limits{MaxDepth: MaxDataDepth}); err != nil {
		return Data{}, fmt.Errorf("%w: %w", ErrData, err)
	}
	return Data{v: plain(gjson.ParseBytes(doc))}, nil
}

// String returns Data holding s.
func String(s string) Data { return Data{v: s} }

func plain(r gjson.Result) any {
	switch {
	case r.IsObject():
		m := map[string]any{}
		r.ForEach(func(k, v gjson.Result) bool {
			if v.Type != gjson.Null {
				m[k.Str] = plain(v)
			}
			return true
		})
		return m
	case r.IsArray():
		a := []any{}
		r.ForEach(func(_, v gjson.Result) bool {
			a = append(a, plain(v))
			return true
		})
		return a
	}
	switch r.Type {
	case gjson.String:
		return r.Str
	case gjson.Number:
		return r.Raw
	case gjson.True:
		return true
	case gjson.False:
		return false
	}
	return nil
}

// IsObject reports whether d is a JSON object.
func (d Data) IsObject() bool {
	_, ok := d.v.(map[string]any)
	return ok
}

// Has reports whether d is an object with a member key (that is not null).
func (d Data) Has(key string) bool {
	m, ok := d.v.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m[key]
	return ok
}

// Text returns the member key of an object when it is a string, a number
// (its text) or a boolean.
func (d Data) Text(key string) (string, bool) {
	m, _ := d.v.(map[string]any)
	switch v := m[key].(type) {
	case string:
		return v, true
	case bool:
		return fmt.Sprint(v), true
	}
	return "", false
}

// SetText sets the member key of an object to the string s; it does
// nothing when d is not an object. Data shares nothing with the JSON it was
// made from, but a copy of Data shares its members: set before rendering.
func (d Data) SetText(key, s string) {
	if m, ok := d.v.(map[string]any); ok {
		m[key] = s
	}
}
