package rules

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/internal/mask"
	"github.com/cardvault/cardvault/internal/mustachex"
)

// OperationInfo describes an operation for GET /v1/rule/operations.
type OperationInfo struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	Arguments   []ArgumentInfo `json:"arguments"`
}

// ArgumentInfo describes an argument of an operation.
type ArgumentInfo struct {
	Name string `json:"name"`
	// Type is "integer" or "string".
	Type     string `json:"type"`
	Required bool   `json:"required"`
	// Default is the value of an argument left out (nil when required).
	Default any `json:"default,omitempty"`
	// Values lists the values a string argument may take (nil for any).
	Values      []string `json:"values,omitempty"`
	Description string   `json:"description"`
}

// Operations describes every operation and its arguments, by name.
func Operations() []OperationInfo {
	out := make([]OperationInfo, 0, len(specs))
	for _, name := range opNames() {
		s := specs[name]
		info := OperationInfo{Name: s.Name, Description: s.Description, Arguments: []ArgumentInfo{}}
		for _, a := range s.Arguments {
			info.Arguments = append(info.Arguments, a.ArgumentInfo)
		}
		out = append(out, info)
	}
	return out
}

// opSpec is an operation: what it takes and what it does.
type opSpec struct {
	OperationInfo
	Arguments       []argSpec
	defaultEncoding string
	// run computes the output from the input value. It returns ok false
	// when the operation cannot apply to the value (the input is then
	// copied unchanged) and an error only for a result over the limits.
	run func(e *Engine, owner string, s *step, in gjson.Result, doc []byte) (raw []byte, ok bool, err error)
}

type argSpec struct {
	ArgumentInfo
	min, max int // integer range, or string length in bytes
}

func (s *opSpec) arg(name string) *argSpec {
	for i := range s.Arguments {
		if s.Arguments[i].Name == name {
			return &s.Arguments[i]
		}
	}
	return nil
}

func (s *opSpec) argNames() string {
	names := make([]string, len(s.Arguments))
	for i, a := range s.Arguments {
		names[i] = a.Name
	}
	return strings.Join(names, ", ")
}

func opNames() []string {
	names := make([]string, 0, len(specs))
	for n := range specs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

var encodings = []string{"base64", "base64url", "hex"}

var specs = map[string]*opSpec{}

func init() {
	for _, s := range []*opSpec{
		{
			OperationInfo: OperationInfo{Name: "noop", Description: "Copies the input to the output, whatever it holds."},
			run: func(_ *Engine, _ string, _ *step, in gjson.Result, _ []byte) ([]byte, bool, error) {
				return []byte(in.Raw), true, nil
			},
		},
		{
			OperationInfo: OperationInfo{Name: "stringify", Description: "Makes the input a string: a string stays as it is, any other value becomes a string holding its JSON text."},
			run:           runStringify,
		},
		{
			OperationInfo: OperationInfo{Name: "parse_json", Description: "Parses a string holding JSON into the value it holds. Fails (copying the input) for a string that is not strict JSON or any other value."},
			run:           runParseJSON,
		},
		{
			OperationInfo: OperationInfo{Name: "parse_float", Description: "Parses a string (or takes a number) as a decimal floating-point number. Fails for anything else, NaN and infinities."},
			run:           runParseFloat,
		},
		{
			OperationInfo: OperationInfo{Name: "convert_to_int", Description: "Parses the input's text (a string, or a number as written) as an integer in base; fails for a fraction or digits outside the base."},
			Arguments: []argSpec{{ArgumentInfo: ArgumentInfo{Name: "base", Type: "integer", Default: 10,
				Description: "the base of the digits, 2 to 36"}, min: 2, max: 36}},
			run: runConvertToInt,
		},
		{
			OperationInfo: OperationInfo{Name: "substr", Description: "The characters from start up to end of the input's text. Indexes count characters from 0; a negative index counts from the end; an end of 0 means the end. Out-of-range indexes are clamped."},
			Arguments: []argSpec{
				{ArgumentInfo: ArgumentInfo{Name: "start", Type: "integer", Default: 0, Description: "the first character, from 0; negative counts from the end"}, min: -MaxDocument, max: MaxDocument},
				{ArgumentInfo: ArgumentInfo{Name: "end", Type: "integer", Default: 0, Description: "the character after the last; 0 is the end, negative counts from the end"}, min: -MaxDocument, max: MaxDocument},
			},
			run: runSubstr,
		},
		{
			OperationInfo: OperationInfo{Name: "replace", Description: "Replaces every occurrence of substr in the input's text by new_str."},
			Arguments: []argSpec{
				{ArgumentInfo: ArgumentInfo{Name: "substr", Type: "string", Required: true, Description: "the text to replace, 1 to 1024 bytes"}, min: 1, max: MaxArgumentSize},
				{ArgumentInfo: ArgumentInfo{Name: "new_str", Type: "string", Default: "", Description: "what replaces it, at most 1024 bytes"}, min: 0, max: MaxArgumentSize},
			},
			run: runReplace,
		},
		{
			OperationInfo: OperationInfo{Name: "mask", Description: "Masks a number as the vault shows it: style card keeps the first six and last four digits (\"411111******1111\", all stars below 12 characters); style account shows \"*****\" and the last four. Spaces and dashes are removed first. A value that is not a string or a number becomes \"*****\"; null stays null. Never copies its input."},
			Arguments: []argSpec{{ArgumentInfo: ArgumentInfo{Name: "style", Type: "string", Default: "card", Values: []string{"card", "account"},
				Description: "card (first six and last four) or account (***** and last four)"}}},
			run: runMask,
		},
		{
			OperationInfo: OperationInfo{Name: "format", Description: "Lays the input's text out in a pattern: each placeholder character takes the next character of the input, every other character is copied (\"#### #### #### ####\" spaces a card number, \"##/##\" makes 0627 06/27). The output ends at a placeholder the input cannot fill; input left over after the pattern is appended."},
			Arguments: []argSpec{
				{ArgumentInfo: ArgumentInfo{Name: "pattern", Type: "string", Required: true, Description: "the layout, 1 to 1024 bytes"}, min: 1, max: MaxArgumentSize},
				{ArgumentInfo: ArgumentInfo{Name: "placeholder", Type: "string", Default: "#", Description: "the character of the pattern that takes a character of the input"}, min: 1, max: 4},
			},
			run: runFormat,
		},
		{
			OperationInfo: OperationInfo{Name: "hash", Description: "A keyed hash (HMAC-SHA-256 under the deployment's hash key, separate for each account) of the input's text (a string, a number as written, or another value's JSON text): the same value gives the same hash for one account, and nobody without the key can compute or reverse it. Never a plain hash."},
			Arguments: []argSpec{{ArgumentInfo: ArgumentInfo{Name: "encoding", Type: "string", Default: "hex", Values: encodings,
				Description: "hex (64 characters), base64 or base64url (RFC 4648, unpadded)"}}},
			defaultEncoding: "hex",
			run:             runHash,
		},
		{
			OperationInfo: OperationInfo{Name: "encode", Description: "Encodes the input's text (a string, a number as written, or another value's JSON text) as base64 (RFC 4648 standard alphabet, padded), base64url (URL alphabet, unpadded) or hex."},
			Arguments: []argSpec{{ArgumentInfo: ArgumentInfo{Name: "encoding", Type: "string", Default: "base64", Values: encodings,
				Description: "base64, base64url or hex"}}},
			defaultEncoding: "base64",
			run:             runEncode,
		},
		{
			OperationInfo: OperationInfo{Name: "template", Description: "Renders a mustache template into a string: {{.}} is the input's value and every field of the document can be named ({{card_holder}}, {{billing.zip}}). No escaping (the result is a JSON string). Fails (copying the input) when the template names a key the document lacks."},
			Arguments: []argSpec{{ArgumentInfo: ArgumentInfo{Name: "template", Type: "string", Required: true,
				Description: "the mustache template, at most 16 KiB; no partials, delimiter changes, unescaped tags or nested sections"}, min: 1, max: MaxTemplateSize}},
			run: runTemplate,
		},
	} {
		specs[s.Name] = s
	}
}

// text is the input as text: a string's contents, a number as written.
func text(in gjson.Result) (string, bool) {
	switch in.Type {
	case gjson.String:
		return in.Str, true
	case gjson.Number:
		return in.Raw, true
	}
	return "", false
}

// bytesOf is the input as bytes to hash or encode: its text, or its
// compact JSON.
func bytesOf(in gjson.Result) []byte {
	if s, ok := text(in); ok {
		return []byte(s)
	}
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(in.Raw)) != nil {
		return []byte(in.Raw)
	}
	return buf.Bytes()
}

func jsonString(s string) []byte {
	b, _ := jsonx.Marshal(s) // a string always encodes
	return b
}

func runStringify(_ *Engine, _ string, _ *step, in gjson.Result, _ []byte) ([]byte, bool, error) {
	if in.Type == gjson.String {
		return []byte(in.Raw), true, nil
	}
	return jsonString(string(bytesOf(in))), true, nil
}

func runParseJSON(_ *Engine, _ string, _ *step, in gjson.Result, _ []byte) ([]byte, bool, error) {
	if in.Type != gjson.String {
		return nil, false, nil
	}
	if jsonx.Check([]byte(in.Str), jsonx.Limits{MaxBytes: MaxDocument, MaxDepth: MaxDepth}) != nil {
		return nil, false, nil
	}
	var buf bytes.Buffer
	if json.Compact(&buf, []byte(in.Str)) != nil {
		return nil, false, nil
	}
	return buf.Bytes(), true, nil
}

func runParseFloat(_ *Engine, _ string, _ *step, in gjson.Result, _ []byte) ([]byte, bool, error) {
	s, ok := text(in)
	if !ok {
		return nil, false, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false, nil
	}
	out, err := json.Marshal(f)
	return out, err == nil, nil
}

func runConvertToInt(_ *Engine, _ string, s *step, in gjson.Result, _ []byte) ([]byte, bool, error) {
	t, ok := text(in)
	if !ok {
		return nil, false, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), s.args.base, 64)
	if err != nil {
		return nil, false, nil
	}
	return strconv.AppendInt(nil, n, 10), true, nil
}

func runSubstr(_ *Engine, _ string, s *step, in gjson.Result, _ []byte) ([]byte, bool, error) {
	t, ok := text(in)
	if !ok {
		return nil, false, nil
	}
	r := []rune(t)
	n := len(r)
	clamp := func(i int) int {
		if i < 0 {
			i += n
		}
		return min(max(i, 0), n)
	}
	start, end := clamp(s.args.start), n
	if s.args.end != 0 {
		end = clamp(s.args.end)
	}
	if start >= end {
		return jsonString(""), true, nil
	}
	return jsonString(string(r[start:end])), true, nil
}

func runReplace(_ *Engine, _ string, s *step, in gjson.Result, doc []byte) ([]byte, bool, error) {
	t, ok := text(in)
	if !ok {
		return nil, false, nil
	}
	// Measure before building: "1" replaced by a kilobyte in a long
	// string would otherwise allocate gigabytes.
	if grow := strings.Count(t, s.args.substr) * (len(s.args.newStr) - len(s.args.substr)); len(t)+grow > MaxDocument-len(doc) {
		return nil, false, errTooLarge
	}
	return jsonString(strings.ReplaceAll(t, s.args.substr, s.args.newStr)), true, nil
}

// numberSeparators are what people type between a number's digits.
var numberSeparators = strings.NewReplacer(" ", "", "-", "")

func runMask(_ *Engine, _ string, s *step, in gjson.Result, _ []byte) ([]byte, bool, error) {
	var t string
	switch in.Type {
	case gjson.Null:
		return []byte("null"), true, nil
	case gjson.String:
		t = numberSeparators.Replace(in.Str)
	case gjson.Number:
		t = in.Raw
	default:
		return jsonString("*****"), true, nil
	}
	if s.args.style == "account" {
		return jsonString(mask.Account(t)), true, nil
	}
	return jsonString(mask.Card(t)), true, nil
}

func runFormat(_ *Engine, _ string, s *step, in gjson.Result, _ []byte) ([]byte, bool, error) {
	t, ok := text(in)
	if !ok {
		return nil, false, nil
	}
	input := []rune(t)
	var b strings.Builder
	i := 0
	for _, c := range s.args.pattern {
		if c != s.args.placeholder {
			b.WriteRune(c)
			continue
		}
		if i >= len(input) {
			break
		}
		b.WriteRune(input[i])
		i++
	}
	if i < len(input) {
		b.WriteString(string(input[i:]))
	}
	return jsonString(b.String()), true, nil
}

func encode(encoding string, b []byte) string {
	switch encoding {
	case "hex":
		return hex.EncodeToString(b)
	case "base64url":
		return base64.RawURLEncoding.EncodeToString(b)
	default:
		return base64.StdEncoding.EncodeToString(b)
	}
}

func runHash(e *Engine, owner string, s *step, in gjson.Result, _ []byte) ([]byte, bool, error) {
	sum := e.hasher.Sum(hashLabel(owner), bytesOf(in))
	return jsonString(encode(s.args.encoding, sum[:])), true, nil
}

// hashLabel keys the hash operation for one account, apart from every
// other use of the deployment's hash key: two accounts get unrelated
// hashes of the same card, so they cannot match their customers' cards.
func hashLabel(owner string) string { return "rules.hash\x00" + owner }

func runEncode(_ *Engine, _ string, s *step, in gjson.Result, doc []byte) ([]byte, bool, error) {
	b := bytesOf(in)
	if 2*len(b)+4 > MaxDocument-len(doc) {
		return nil, false, errTooLarge
	}
	return jsonString(encode(s.args.encoding, b)), true, nil
}

func runTemplate(_ *Engine, _ string, s *step, in gjson.Result, doc []byte) ([]byte, bool, error) {
	top, err := mustachex.DataOf([]byte(in.Raw))
	if err != nil {
		return nil, false, nil
	}
	all, err := mustachex.DataOf(doc)
	if err != nil {
		return nil, false, nil
	}
	out, err := s.args.tmpl.Render(top, all)
	switch {
	case errors.Is(err, mustachex.ErrTooLarge):
		return nil, false, errTooLarge
	case err != nil:
		return nil, false, nil
	}
	return jsonString(string(out)), true, nil
}

// errTooLarge is what an operation returns for a result over the limits;
// Apply names the rule and the operation.
var errTooLarge = fmt.Errorf("%w: the document would grow over %d bytes", ErrTooLarge, MaxDocument)
