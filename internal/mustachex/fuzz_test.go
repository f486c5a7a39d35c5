package mustachex

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/cbroglie/mustache"

	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/internal/testkit"
)

const fuzzItem = `{"card_number":"4111111111111111","card_holder":"Ada \"Q\" \\ Lovelace\n\u2028<&>","cvv":"737",
	"amount":1250,"yes":true,"no":false,"billing":{"zip":"B-9000"},"tags":["t1","t2"],"empty":[],
	"cards":[{"last4":"1111"},{"last4":"4444"}],"holes":["x",null],"blank":" "}`

// FuzzRender: whatever the template and the data, Parse and Render never
// panic; errors are of this package's kinds and never hold a value of the
// data; the check before rendering agrees with the library (a rendering the
// check lets through fills every variable, one it stops for a missing key
// the library would have left empty); and a JSON skeleton with its tags
// inside strings renders to valid JSON.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		`{"name":"{{card_holder}}","number":"{{card_number}}","amount":{{amount}}}`,
		`{"a":"{{#cvv}}cvc {{cvv}}{{/cvv}}{{^cvv}}none{{/cvv}}"}`,
		`{"tags":"{{#tags}}[{{.}}]{{/tags}}","cards":"{{#cards}}{{last4}} {{/cards}}"}`,
		"card[number]={{card_number}}&card[cvc]={{cvv}}",
		"{{missing}}", "{{billing}}", "{{#holes}}{{.}}{{/holes}}", "{{=<% %>=}}", "{{> p}}", "{{{x}}}",
		"{{#a}}{{#b}}{{/b}}{{/a}}", "{{#cards}}{{zip}}{{/cards}}", "{{billing.zip}}{{yes}}", "{{#blank}}x{{/blank}}",
		"a\n  {{#yes}}  \nb\n{{/yes}}\n", "{{! c }}{{ . }}",
	} {
		f.Add(s, []byte(fuzzItem))
	}
	f.Add(`"{{a}}"`, []byte(`{"a":"\"\\\u0000"}`))
	f.Add(`["{{#a}}","{{/a}}"]`, []byte(`{"a":[1,2]}`))
	f.Fuzz(func(t *testing.T, src string, doc []byte) {
		d, err := DataOf(doc)
		if err != nil {
			if !errors.Is(err, ErrData) {
				t.Fatalf("DataOf: unexpected kind of error: %v", err)
			}
			doc = []byte(fuzzItem)
			d, _ = DataOf(doc)
		}
		tm, err := Parse(src, JSON, Limits{MaxOutput: 1 << 16, MaxSteps: 1 << 12})
		if err != nil {
			if !errors.Is(err, ErrTemplate) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Parse: unexpected kind of error: %v", err)
			}
			return
		}
		out, err := tm.Render(d)
		if err != nil {
			if !errors.Is(err, ErrMissingKey) && !errors.Is(err, ErrNotText) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Render: unexpected kind of error: %v", err)
			}
			for _, v := range testkit.StringsOf(doc, 6) {
				if !strings.Contains(src, v) && strings.Contains(err.Error(), v) {
					t.Fatalf("the error %q holds a value of the data", err)
				}
			}
		}

		// The library with its global switch turned to "missing is an
		// error" is the oracle of the check. The fuzzer runs one input at
		// a time in a process, so flipping the global here races with
		// nothing.
		lib, perr := mustache.ParseStringPartials(src, noPartials{})
		if perr != nil {
			t.Fatalf("scan accepted what the library refuses: %v", perr)
		}
		lib.Escape(escapeJSON)
		mustache.AllowMissingVariables = false
		var buf bytes.Buffer
		lerr := lib.FRender(&buf, d.v)
		mustache.AllowMissingVariables = true
		switch {
		case err == nil && lerr != nil:
			t.Fatalf("the check passed, the library found a missing key: %v", lerr)
		case err == nil && !bytes.Equal(out, buf.Bytes()):
			t.Fatalf("rendering differs from the library's: %q vs %q", out, buf.Bytes())
		case errors.Is(err, ErrMissingKey) && lerr == nil:
			t.Fatalf("the check found a missing key the library fills: %v", err)
		}

		if err == nil && jsonx.Valid([]byte(src)) && sectionsInsideStrings(src) && !jsonx.Valid(out) {
			t.Fatalf("a JSON skeleton rendered to invalid JSON: %q", out)
		}
	})
}

// sectionsInsideStrings reports whether every section of a JSON skeleton
// opens and closes inside one JSON string: then rendering changes only
// string contents.
func sectionsInsideStrings(src string) bool {
	// token[i] numbers the string that byte i is in, -1 outside strings.
	token := make([]int, len(src))
	in, n := false, 0
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case !in && c == '"':
			in = true
			n++
			token[i] = -1
		case in && c == '\\':
			token[i] = n
			if i+1 < len(src) {
				i++
				token[i] = n
			}
		case in && c == '"':
			in = false
			token[i] = -1
		case in:
			token[i] = n
		default:
			token[i] = -1
		}
	}
	open := -1
	for i := 0; i+2 < len(src); i++ {
		if src[i] != '{' || src[i+1] != '{' {
			continue
		}
		rest := strings.TrimLeftFunc(src[i+2:], unicode.IsSpace)
		if rest == "" {
			continue
		}
		switch rest[0] {
		case '#', '^':
			open = token[i]
		case '/':
			if open < 0 || token[i] != open {
				return false
			}
			open = -1
		}
	}
	return true
}
