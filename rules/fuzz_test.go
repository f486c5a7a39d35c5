package rules_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/rules"
)

var seedRules = []string{
	maskRule,
	`[{"input":"card_number","output":"card_number","operation":"replace","arguments":{"substr":" ","new_str":""}},{"input":"card_expiry","output":"expiry_month","operation":"substr","arguments":{"start":0,"end":2}},{"input":"card_expiry","output":"expiry_year","operation":"substr","arguments":{"start":-4}}]`,
	`[{"input":"count","output":"n","operation":"convert_to_int","arguments":{"base":8}},{"input":"amount","output":"f","operation":"parse_float"},{"input":"json","output":"j","operation":"parse_json"},{"input":"j","output":"s","operation":"stringify"}]`,
	`[{"input":"cvv","output":"x.y","operation":"template","arguments":{"template":"{{.}}-{{card_holder}}{{#tags}}{{.}}{{/tags}}"}},{"input":"x","output":"h","operation":"hash","arguments":{"encoding":"base64"}},{"input":"h","output":"e","operation":"encode","arguments":{"encoding":"hex"}}]`,
	`[{"input":"bank","output":"m","operation":"mask","arguments":{"style":"account"}},{"input":"cvv","output":"f","operation":"format","arguments":{"pattern":"#-#-#-#","placeholder":"#"}},{"input":"billing","output":"b","operation":"noop"}]`,
	`[{"input":"a","output":"b","operation":"nope"}]`, `[]`, `{}`, `[{"input":"a","input":"b"}]`,
}

// FuzzParseRule: Parse never panics, refuses with ErrInvalidRule (an
// InvalidError) or ErrTooLarge, and a rule it accepts reads back from its
// own JSON as the same rule.
func FuzzParseRule(f *testing.F) {
	for _, s := range seedRules {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := rules.Parse(data)
		if err != nil {
			var inv *cardvault.InvalidError
			if !errors.Is(err, rules.ErrTooLarge) && !(errors.Is(err, rules.ErrInvalidRule) && errors.As(err, &inv)) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			return
		}
		if r.Len() < 1 || r.Len() > rules.MaxOperations {
			t.Fatalf("accepted %d operations", r.Len())
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := rules.Parse(b)
		if err != nil {
			t.Fatalf("a rule's own JSON does not parse: %v", err)
		}
		b2, _ := json.Marshal(r2)
		if !bytes.Equal(b, b2) {
			t.Fatalf("the JSON of a rule changes when read back: %s vs %s", b, b2)
		}
	})
}

// FuzzRuleApply: whatever the rule and the document, Apply never panics,
// never changes the document it is given, returns a strict JSON object
// within MaxDocument or an error of the package's kinds, and its errors
// never hold a value of the document.
func FuzzRuleApply(f *testing.F) {
	for _, s := range seedRules {
		f.Add([]byte(s), []byte(card))
	}
	f.Add([]byte(seedRules[0]), []byte(`{"card_number":4111111111111111,"cvv":{"a":null}}`))
	e := engine(f)
	f.Fuzz(func(t *testing.T, ruleJSON, doc []byte) {
		r, err := rules.Parse(ruleJSON)
		if err != nil {
			return
		}
		before := bytes.Clone(doc)
		out, err := e.Apply("acme", doc, r)
		if !bytes.Equal(before, doc) {
			t.Fatal("Apply changed the document it was given")
		}
		if err != nil {
			if !errors.Is(err, rules.ErrInvalid) && !errors.Is(err, rules.ErrTooLarge) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			for _, v := range testkit.StringsOf(doc, 6) {
				if !strings.Contains(string(ruleJSON), v) && strings.Contains(err.Error(), v) {
					t.Fatalf("the error %q holds a value of the document", err)
				}
			}
			return
		}
		if len(out) > rules.MaxDocument || jsonx.Check(out, jsonx.Limits{MaxDepth: rules.MaxDepth}) != nil || !gjson.ParseBytes(out).IsObject() {
			t.Fatalf("Apply made something other than a JSON object within the limits: %q", out)
		}
	})
}
