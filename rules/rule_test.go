package rules_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/rules"
)

func TestParse(t *testing.T) {
	r, err := rules.Parse([]byte(`[
		{"input": "card_number", "output": "masked", "operation": "mask"},
		{"input": "card_expiry", "output": "expiry_month", "operation": "substr", "arguments": {"start": 0, "end": 2}},
		{"input": "n", "output": "n2", "operation": "convert_to_int", "arguments": {"base": 16}},
		{"input": "a", "output": "b.c", "operation": "template", "arguments": { "template": "{{.}} {{card_holder}}" }},
		{"input": "a", "output": "b", "operation": "noop", "arguments": null},
		{"input": "a", "output": "b", "operation": "format", "arguments": {"pattern": "##/##", "placeholder": "#"}}
	]`))
	require.NoError(t, err)
	require.Equal(t, 6, r.Len())
	ops := r.Operations()
	require.Equal(t, rules.Operation{Input: "card_number", Output: "masked", Operation: "mask"}, ops[0])
	require.JSONEq(t, `{"start":0,"end":2}`, string(ops[1].Arguments))
	require.Equal(t, `{"template":"{{.}} {{card_holder}}"}`, string(ops[3].Arguments), "arguments kept compact, as given")
	require.Nil(t, ops[4].Arguments, "null arguments are none")

	// The JSON round-trips.
	b, err := json.Marshal(r)
	require.NoError(t, err)
	r2, err := rules.Parse(b)
	require.NoError(t, err)
	require.Equal(t, r.Operations(), r2.Operations())
	var r3 rules.Rule
	require.NoError(t, json.Unmarshal(b, &r3))
	require.Equal(t, r.Operations(), r3.Operations())

	r4, err := rules.NewRule(ops)
	require.NoError(t, err)
	require.Equal(t, ops, r4.Operations())
}

func TestParseRefuses(t *testing.T) {
	op := func(s string) string { return `[` + s + `]` }
	many := "[" + strings.Repeat(`{"input":"a","output":"b","operation":"noop"},`, rules.MaxOperations) + `{"input":"a","output":"b","operation":"noop"}]`
	for _, c := range []struct {
		name, body string
		field      string // the JSON Pointer named
		says       string
	}{
		{"not JSON", `[{"input":`, "/0/input", "invalid JSON"},
		{"duplicate member", op(`{"input":"a","input":"b","output":"c","operation":"noop"}`), "/0", "duplicate"},
		{"not an array", `{"input":"a"}`, "/", "JSON array"},
		{"empty", `[]`, "/", "at least one"},
		{"too many operations", many, "/", "at most 64"},
		{"not an object", `["noop"]`, "/0", "an operation is an object"},
		{"unknown member", op(`{"input":"a","output":"b","operation":"noop","args":{}}`), "/0", "only the members"},
		{"unknown operation", op(`{"input":"a","output":"b","operation":"encrypt"}`), "/0/operation", "one of"},
		{"no operation", op(`{"input":"a","output":"b"}`), "/0/operation", "one of"},
		{"no input", op(`{"output":"b","operation":"noop"}`), "/0/input", "names a field"},
		{"no output", op(`{"input":"a","operation":"noop"}`), "/0/output", "names a field"},
		{"input not a string", op(`{"input":1,"output":"b","operation":"noop"}`), "/0/input", "must be a string"},
		{"gjson modifier", op(`{"input":"@reverse","output":"b","operation":"noop"}`), "/0/input", "dot-separated path"},
		{"gjson wildcard", op(`{"input":"a","output":"b*","operation":"noop"}`), "/0/output", "dot-separated path"},
		{"array index", op(`{"input":"tags.0","output":"b","operation":"noop"}`), "/0/input", "dot-separated path"},
		{"sjson append", op(`{"input":"a","output":"tags.-1","operation":"noop"}`), "/0/output", "dot-separated path"},
		{"dot", op(`{"input":".","output":"b","operation":"noop"}`), "/0/input", "dot-separated path"},
		{"arguments not an object", op(`{"input":"a","output":"b","operation":"substr","arguments":[0,2]}`), "/0/arguments", "an object"},
		{"arguments to noop", op(`{"input":"a","output":"b","operation":"noop","arguments":{"x":1}}`), "/0/arguments", "takes no arguments"},
		{"unknown argument", op(`{"input":"a","output":"b","operation":"substr","arguments":{"begin":1}}`), "/0/arguments", "takes only start, end"},
		{"start not an integer", op(`{"input":"a","output":"b","operation":"substr","arguments":{"start":"1"}}`), "/0/arguments/start", "integer"},
		{"start a fraction", op(`{"input":"a","output":"b","operation":"substr","arguments":{"start":1.5}}`), "/0/arguments/start", "integer"},
		{"start an exponent", op(`{"input":"a","output":"b","operation":"substr","arguments":{"start":1e3}}`), "/0/arguments/start", "integer"},
		{"base out of range", op(`{"input":"a","output":"b","operation":"convert_to_int","arguments":{"base":37}}`), "/0/arguments/base", "from 2 to 36"},
		{"replace without substr", op(`{"input":"a","output":"b","operation":"replace","arguments":{"new_str":"x"}}`), "/0/arguments/substr", "required"},
		{"replace with empty substr", op(`{"input":"a","output":"b","operation":"replace","arguments":{"substr":""}}`), "/0/arguments/substr", "1 to 1024 bytes"},
		{"replace with a long new_str", op(`{"input":"a","output":"b","operation":"replace","arguments":{"substr":"x","new_str":"` + strings.Repeat("y", 1025) + `"}}`), "/0/arguments/new_str", "0 to 1024 bytes"},
		{"mask style", op(`{"input":"a","output":"b","operation":"mask","arguments":{"style":"partial"}}`), "/0/arguments/style", "card, account"},
		{"hash encoding", op(`{"input":"a","output":"b","operation":"hash","arguments":{"encoding":"sha256"}}`), "/0/arguments/encoding", "base64, base64url, hex"},
		{"encode encoding", op(`{"input":"a","output":"b","operation":"encode","arguments":{"encoding":"base32"}}`), "/0/arguments/encoding", "base64"},
		{"format placeholder", op(`{"input":"a","output":"b","operation":"format","arguments":{"pattern":"##","placeholder":"##"}}`), "/0/arguments/placeholder", "one character"},
		{"format without pattern", op(`{"input":"a","output":"b","operation":"format"}`), "/0/arguments/pattern", "required"},
		{"template partial", op(`{"input":"a","output":"b","operation":"template","arguments":{"template":"{{> x}}"}}`), "/0/arguments/template", "partials"},
		{"template delimiters", op(`{"input":"a","output":"b","operation":"template","arguments":{"template":"{{=<% %>=}}"}}`), "/0/arguments/template", "delimiter"},
		{"template too long", op(`{"input":"a","output":"b","operation":"template","arguments":{"template":"` + strings.Repeat("t", rules.MaxTemplateSize+1) + `"}}`), "/0/arguments/template", "1 to 16384 bytes"},
		{"second operation", op(`{"input":"a","output":"b","operation":"noop"},{"input":"a","output":"b","operation":"substr","arguments":{"end":"x"}}`), "/1/arguments/end", "integer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := rules.Parse([]byte(c.body))
			require.ErrorIs(t, err, rules.ErrInvalidRule)
			require.Contains(t, testkit.InvalidFields(t, err), c.field)
			require.Contains(t, err.Error(), c.says)
		})
	}

	// Every fault is listed, not only the first.
	_, err := rules.Parse([]byte(`[{"input":"a","output":"b","operation":"nope"},{"input":"","output":"b","operation":"substr","arguments":{"start":"x"}}]`))
	var inv *cardvault.InvalidError
	require.True(t, errors.As(err, &inv))
	require.Len(t, inv.Fields, 3)

	_, err = rules.Parse([]byte(`[` + strings.Repeat(" ", rules.MaxRuleSize) + `]`))
	require.ErrorIs(t, err, rules.ErrTooLarge)
	require.ErrorIs(t, err, cardvault.ErrTooLarge)
}

func TestOperationsCatalog(t *testing.T) {
	ops := rules.Operations()
	var names []string
	for _, o := range ops {
		names = append(names, o.Name)
		require.NotEmpty(t, o.Description, o.Name)
		require.NotNil(t, o.Arguments, o.Name)
	}
	require.Equal(t, []string{"convert_to_int", "encode", "format", "hash", "mask", "noop", "parse_float", "parse_json", "replace", "stringify", "substr", "template"}, names)
	b, err := json.Marshal(ops)
	require.NoError(t, err)
	require.Contains(t, string(b), `{"name":"start","type":"integer","required":false,"default":0,`)
	require.Contains(t, string(b), `{"name":"substr","type":"string","required":true,`)
	require.Contains(t, string(b), `"values":["card","account"]`)
}
