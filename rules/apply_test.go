package rules_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/rules"
)

const card = `{"card_number":"4111 1111 1111 1111","card_holder":"Ada Lovelace","card_expiry":"06-2027","expiry":"06/27","cvv":"737",
	"amount":"12.50","count":42,"hexed":"ff","flag":true,"nothing":null,"billing":{"zip":"9000","city":"Gent"},"tags":["a","b"],
	"json":"{\"a\":[1,2]}","name":"Ünïcødé","bank":"000123456789"}`

func engine(t testing.TB) *rules.Engine {
	t.Helper()
	h, err := crypto.NewHasher(bytes.Repeat([]byte{7}, 32))
	require.NoError(t, err)
	return rules.NewEngine(h)
}

func rule(t testing.TB, ops string) *rules.Rule {
	t.Helper()
	r, err := rules.Parse([]byte(ops))
	require.NoError(t, err)
	return r
}

// one is a rule of one operation from input to "out".
func one(t testing.TB, input, op, args string) *rules.Rule {
	t.Helper()
	a := ""
	if args != "" {
		a = `,"arguments":` + args
	}
	return rule(t, `[{"input":"`+input+`","output":"out","operation":"`+op+`"`+a+`}]`)
}

func TestOperations(t *testing.T) {
	e := engine(t)
	for _, c := range []struct {
		name, input, op, args string
		want                  string // the JSON of "out"; "" for absent
	}{
		{"noop string", "card_holder", "noop", "", `"Ada Lovelace"`},
		{"noop object", "billing", "noop", "", `{"zip":"9000","city":"Gent"}`},
		{"noop null", "nothing", "noop", "", `null`},
		{"missing input skips", "nope", "noop", "", ``},
		{"stringify string", "card_holder", "stringify", "", `"Ada Lovelace"`},
		{"stringify number", "count", "stringify", "", `"42"`},
		{"stringify object", "billing", "stringify", "", `"{\"zip\":\"9000\",\"city\":\"Gent\"}"`},
		{"stringify bool", "flag", "stringify", "", `"true"`},
		{"parse_json", "json", "parse_json", "", `{"a":[1,2]}`},
		{"parse_json fails and copies", "card_holder", "parse_json", "", `"Ada Lovelace"`},
		{"parse_json of a number copies", "count", "parse_json", "", `42`},
		{"parse_float", "amount", "parse_float", "", `12.5`},
		{"parse_float of a number", "count", "parse_float", "", `42`},
		{"parse_float fails and copies", "card_holder", "parse_float", "", `"Ada Lovelace"`},
		{"convert_to_int", "count", "convert_to_int", "", `42`},
		{"convert_to_int base 16", "hexed", "convert_to_int", `{"base":16}`, `255`},
		{"convert_to_int fraction copies", "amount", "convert_to_int", "", `"12.50"`},
		{"substr month", "card_expiry", "substr", `{"start":0,"end":2}`, `"06"`},
		{"substr year", "card_expiry", "substr", `{"start":-4}`, `"2027"`},
		{"substr negative end", "card_expiry", "substr", `{"start":0,"end":-5}`, `"06"`},
		{"substr end 0 is the end", "card_holder", "substr", `{"start":4,"end":0}`, `"Lovelace"`},
		{"substr clamps", "cvv", "substr", `{"start":-10,"end":100}`, `"737"`},
		{"substr empty", "cvv", "substr", `{"start":2,"end":1}`, `""`},
		{"substr counts characters", "name", "substr", `{"start":1,"end":3}`, `"nï"`},
		{"substr of a number", "count", "substr", `{"start":1}`, `"2"`},
		{"substr of an object copies", "billing", "substr", `{"start":1}`, `{"zip":"9000","city":"Gent"}`},
		{"replace", "card_number", "replace", `{"substr":" ","new_str":""}`, `"4111111111111111"`},
		{"replace default", "card_holder", "replace", `{"substr":"Ada "}`, `"Lovelace"`},
		{"mask card", "card_number", "mask", "", `"411111******1111"`},
		{"mask account", "bank", "mask", `{"style":"account"}`, `"*****6789"`},
		{"mask cvv", "cvv", "mask", "", `"***"`},
		{"mask number", "count", "mask", "", `"**"`},
		{"mask object never copies", "billing", "mask", "", `"*****"`},
		{"mask null", "nothing", "mask", "", `null`},
		{"format groups", "bank", "format", `{"pattern":"### ###-###"}`, `"000 123-456789"`},
		{"format expiry", "cvv", "format", `{"pattern":"#/#"}`, `"7/37"`},
		{"format stops", "cvv", "format", `{"pattern":"##/##/##"}`, `"73/7"`},
		{"format placeholder", "cvv", "format", `{"pattern":"a?b?c?d?","placeholder":"?"}`, `"a7b3c7d"`},
		{"encode base64", "card_holder", "encode", "", `"QWRhIExvdmVsYWNl"`},
		{"encode base64url", "name", "encode", `{"encoding":"base64url"}`, `"w5xuw69jw7hkw6k"`},
		{"encode hex", "cvv", "encode", `{"encoding":"hex"}`, `"373337"`},
		{"encode object", "billing", "encode", `{"encoding":"hex"}`, `"` + hex.EncodeToString([]byte(`{"zip":"9000","city":"Gent"}`)) + `"`},
		{"template", "card_holder", "template", `{"template":"{{.}} of {{billing.city}}, {{card_expiry}}"}`, `"Ada Lovelace of Gent, 06-2027"`},
		{"template quotes", "json", "template", `{"template":"[{{.}}]"}`, `"[{\"a\":[1,2]}]"`},
		{"template section", "cvv", "template", `{"template":"{{#billing}}{{zip}}{{/billing}}"}`, `"9000"`},
		{"template missing key copies", "cvv", "template", `{"template":"{{nope}}"}`, `"737"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := e.Apply("acme", []byte(card), one(t, c.input, c.op, c.args))
			require.NoError(t, err)
			require.True(t, json.Valid(out))
			got := gjson.GetBytes(out, "out")
			if c.want == "" {
				require.False(t, got.Exists())
				return
			}
			require.Equal(t, c.want, got.Raw)
		})
	}
}

func TestHash(t *testing.T) {
	e := engine(t)
	r := one(t, "card_number", "hash", "")
	out, err := e.Apply("acme", []byte(card), r)
	require.NoError(t, err)
	h := gjson.GetBytes(out, "out").Str
	require.Len(t, h, 64)
	plain := sha256.Sum256([]byte("4111 1111 1111 1111"))
	require.NotEqual(t, hex.EncodeToString(plain[:]), h, "never a plain hash")
	again, err := e.Apply("acme", []byte(card), r)
	require.NoError(t, err)
	require.Equal(t, h, gjson.GetBytes(again, "out").Str, "deterministic within an account")
	other, err := e.Apply("globex", []byte(card), r)
	require.NoError(t, err)
	require.NotEqual(t, h, gjson.GetBytes(other, "out").Str, "unrelated across accounts")
	h2, _ := crypto.NewHasher(bytes.Repeat([]byte{8}, 32))
	otherKey, err := rules.NewEngine(h2).Apply("acme", []byte(card), r)
	require.NoError(t, err)
	require.NotEqual(t, h, gjson.GetBytes(otherKey, "out").Str, "keyed")

	b64, err := e.Apply("acme", []byte(card), one(t, "card_number", "hash", `{"encoding":"base64url"}`))
	require.NoError(t, err)
	require.Len(t, gjson.GetBytes(b64, "out").Str, 43)
	require.Panics(t, func() { rules.NewEngine(nil) })
}

func TestApplySemantics(t *testing.T) {
	e := engine(t)
	// Outputs feed later inputs; an existing output is overwritten; the
	// input may be the output.
	r := rule(t, `[
		{"input":"card_number","output":"card_number","operation":"replace","arguments":{"substr":" "}},
		{"input":"card_number","output":"last4","operation":"substr","arguments":{"start":-4}},
		{"input":"card_number","output":"card_holder","operation":"mask"},
		{"input":"card_expiry","output":"exp.month","operation":"substr","arguments":{"end":2}},
		{"input":"exp.month","output":"billing.month","operation":"noop"}
	]`)
	doc := []byte(card)
	before := bytes.Clone(doc)
	out, err := e.Apply("acme", doc, r)
	require.NoError(t, err)
	require.Equal(t, before, doc, "the document given is never changed")
	require.Equal(t, "4111111111111111", gjson.GetBytes(out, "card_number").Str)
	require.Equal(t, "1111", gjson.GetBytes(out, "last4").Str)
	require.Equal(t, "411111******1111", gjson.GetBytes(out, "card_holder").Str)
	require.Equal(t, "06", gjson.GetBytes(out, "exp.month").Str)
	require.JSONEq(t, `{"zip":"9000","city":"Gent","month":"06"}`, gjson.GetBytes(out, "billing").Raw)

	// Several rules run in order.
	r2 := one(t, "last4", "encode", `{"encoding":"hex"}`)
	out, err = e.Apply("acme", doc, r, r2)
	require.NoError(t, err)
	require.Equal(t, "31313131", gjson.GetBytes(out, "out").Str)

	// An output through an array is skipped; through a string replaces it.
	out, err = e.Apply("acme", doc, rule(t, `[{"input":"cvv","output":"tags.x","operation":"noop"},{"input":"cvv","output":"cvv.x","operation":"noop"}]`))
	require.NoError(t, err)
	require.JSONEq(t, `["a","b"]`, gjson.GetBytes(out, "tags").Raw)
	require.JSONEq(t, `{"x":"737"}`, gjson.GetBytes(out, "cvv").Raw)

	// No rules: an identical copy.
	out, err = e.Apply("acme", doc)
	require.NoError(t, err)
	require.Equal(t, doc, out)
}

func TestApplyRefuses(t *testing.T) {
	e := engine(t)
	r := rule(t, `[{"input":"cvv","output":"out","operation":"noop"},{"input":"obj","output":"`+strings.Repeat("a.", 63)+`b","operation":"noop"}]`)
	for _, c := range []struct {
		name, doc string
		kind      error
	}{
		{"not JSON", `{"cvv":`, cardvault.ErrInvalid},
		{"duplicate keys", `{"cvv":"1","cvv":"2"}`, cardvault.ErrInvalid},
		{"not an object", `["cvv"]`, cardvault.ErrInvalid},
		{"too deep", `{"cvv":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, cardvault.ErrInvalid},
		{"too large", `{"cvv":"` + strings.Repeat("x", rules.MaxDocument) + `"}`, cardvault.ErrTooLarge},
		// The output would put the copy one level deeper than allowed.
		{"would nest too deeply", `{"cvv":"1","obj":{},"a":` + strings.Repeat(`{"a":`, 62) + `{}` + strings.Repeat("}", 62) + `}`, cardvault.ErrTooLarge},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.Apply("acme", []byte(c.doc), r)
			require.ErrorIs(t, err, c.kind)
		})
	}
	many := make([]*rules.Rule, rules.MaxRulesPerApply+1)
	for i := range many {
		many[i] = r
	}
	_, err := e.Apply("acme", []byte(card), many...)
	require.ErrorIs(t, err, rules.ErrInvalid)
}

func TestApplyGrowth(t *testing.T) {
	e := engine(t)
	big := `{"s":"` + strings.Repeat("1", 100_000) + `","cvv":"737"}`
	for _, c := range []struct{ name, ops string }{
		// 100,000 × 1 KiB would be 100 MB: measured before it is built.
		{"replace", `[{"input":"s","output":"s","operation":"replace","arguments":{"substr":"1","new_str":"` + strings.Repeat("x", 1024) + `"}}]`},
		// Each copy doubles the document.
		{"copies", `[` + strings.TrimSuffix(strings.Repeat(`{"input":"s","output":"s2","operation":"noop"},{"input":"s2","output":"s3","operation":"stringify"},{"input":"s3","output":"s","operation":"template","arguments":{"template":"{{s}}{{s2}}{{s3}}"}},`, 10), ",") + `]`},
		{"encode", `[` + strings.TrimSuffix(strings.Repeat(`{"input":"s","output":"s","operation":"encode","arguments":{"encoding":"hex"}},`, 10), ",") + `]`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.Apply("acme", []byte(big), rule(t, c.ops))
			require.ErrorIs(t, err, rules.ErrTooLarge)
			require.ErrorIs(t, err, cardvault.ErrTooLarge)
			require.Regexp(t, `rule 0, operation \d+ \(\w+\)`, err.Error(), "names the rule and the operation")
			require.NotContains(t, err.Error(), "111111")
		})
	}
}

// TestStoredItemUnchanged: whatever the rules do, the bytes given to Apply
// — the stored item's plaintext, in the vault — are the same afterwards.
// Each operation runs alone on the original, writing over its own input,
// so that one that could write in place (a mask of the same length) would
// be caught.
func TestStoredItemUnchanged(t *testing.T) {
	e := engine(t)
	doc := []byte(card)
	before := bytes.Clone(doc)
	for _, o := range rules.Operations() {
		args := ""
		switch o.Name {
		case "replace":
			args = `,"arguments":{"substr":"1","new_str":"9"}`
		case "format":
			args = `,"arguments":{"pattern":"## ##"}`
		case "template":
			args = `,"arguments":{"template":"{{card_holder}}"}`
		}
		for _, in := range []string{"card_number", "cvv", "billing", "count", "nothing"} {
			r := rule(t, `[{"input":"`+in+`","output":"`+in+`","operation":"`+o.Name+`"`+args+`}]`)
			_, err := e.Apply("acme", doc, r)
			require.NoError(t, err)
			require.Equal(t, before, doc, "%s on %s", o.Name, in)
		}
	}
}
