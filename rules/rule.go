package rules

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/internal/mustachex"
)

// Limits of a rule.
const (
	// MaxOperations is the most operations one rule holds.
	MaxOperations = 64
	// MaxRuleSize is the most bytes of a rule's JSON.
	MaxRuleSize = 64 << 10
	// MaxArgumentSize bounds a string argument (replace's substr and
	// new_str, format's pattern); MaxTemplateSize a template's.
	MaxArgumentSize = 1 << 10
	MaxTemplateSize = 16 << 10
	// MaxDocument is the most bytes of a document Apply takes or makes.
	MaxDocument = 1 << 20
	// MaxDepth is how deeply a document Apply takes, or a value
	// parse_json makes, may nest.
	MaxDepth = 64
)

// Errors. Each wraps a kind of the root package.
var (
	// ErrInvalidRule: a rule's JSON is malformed, names an unknown
	// operation or gives an operation bad arguments. It comes with a
	// *cardvault.InvalidError listing every fault by JSON Pointer
	// ("/2/arguments/start").
	ErrInvalidRule = fmt.Errorf("rules: invalid rule: %w", cardvault.ErrInvalid)
	// ErrInvalid: a document, an id or an owner is malformed.
	ErrInvalid = fmt.Errorf("rules: %w", cardvault.ErrInvalid)
	// ErrTooLarge: a rule or a document over its limit, or operations that
	// would make the document larger than MaxDocument, or an account with
	// MaxRulesPerOwner rules.
	ErrTooLarge = fmt.Errorf("rules: %w", cardvault.ErrTooLarge)
	// ErrNotFound: no rule of that id for that account.
	ErrNotFound = fmt.Errorf("rules: no such rule: %w", cardvault.ErrNotFound)
	// ErrExists: Create with an id the account already uses; a rule is
	// never updated, only deleted and created again.
	ErrExists = fmt.Errorf("rules: a rule with that id exists: %w", cardvault.ErrConflict)
)

// Operation is one step of a rule as its JSON has it:
//
//	{"input": "card_number", "output": "masked_number", "operation": "mask", "arguments": {"style": "card"}}
type Operation struct {
	Input     string          `json:"input"`
	Output    string          `json:"output"`
	Operation string          `json:"operation"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
}

// Rule is a checked, ordered list of operations. It is immutable and safe
// for concurrent use.
type Rule struct {
	steps []step
}

// step is an operation ready to run.
type step struct {
	src  Operation // as given, arguments compacted
	spec *opSpec
	args args
}

// args are an operation's arguments, parsed.
type args struct {
	start, end, base int
	substr, newStr   string
	style            string
	pattern          string
	placeholder      rune
	encoding         string
	tmpl             *mustachex.Template
}

// Parse checks a rule's JSON — a list of 1 to [MaxOperations] operations —
// and returns the rule. The JSON must be strict (no duplicate members,
// valid UTF-8) and hold nothing but the members documented for each
// operation. A rule over [MaxRuleSize] returns an error wrapping
// [ErrTooLarge]; every other fault an error wrapping [ErrInvalidRule] that
// is also a *[cardvault.InvalidError] listing each bad field by JSON Pointer
// ("/1/arguments/end"), never with the value.
func Parse(data []byte) (*Rule, error) {
	if len(data) > MaxRuleSize {
		return nil, fmt.Errorf("%w: a rule is at most %d bytes, got %d", ErrTooLarge, MaxRuleSize, len(data))
	}
	var bad cardvault.InvalidError
	if err := jsonx.Check(data, jsonx.Limits{MaxBytes: MaxRuleSize, MaxDepth: 8}); err != nil {
		field := "/"
		var je *jsonx.Error
		if errors.As(err, &je) && je.Path != "" {
			field = je.Path
		}
		bad.Add(field, "invalid JSON", err.Error())
		return nil, &ruleError{inv: &bad}
	}
	root := gjson.ParseBytes(data)
	if !root.IsArray() {
		bad.Add("/", "invalid value", "a rule is a JSON array of operations")
		return nil, &ruleError{inv: &bad}
	}
	var ops []gjson.Result
	root.ForEach(func(_, v gjson.Result) bool {
		ops = append(ops, v)
		return true
	})
	switch {
	case len(ops) == 0:
		bad.Add("/", "empty", "a rule has at least one operation")
	case len(ops) > MaxOperations:
		bad.Add("/", "too many operations", fmt.Sprintf("a rule has at most %d operations", MaxOperations))
	}
	if err := bad.Err(); err != nil {
		return nil, &ruleError{inv: &bad}
	}
	r := &Rule{steps: make([]step, 0, len(ops))}
	for i, v := range ops {
		if s, ok := parseStep(fmt.Sprintf("/%d", i), v, &bad); ok {
			r.steps = append(r.steps, s)
		}
	}
	if err := bad.Err(); err != nil {
		return nil, &ruleError{inv: &bad}
	}
	return r, nil
}

// NewRule checks operations as Parse checks their JSON and returns the
// rule.
func NewRule(ops []Operation) (*Rule, error) {
	data, err := json.Marshal(ops)
	if err != nil {
		// Only Arguments can fail to marshal: it is not JSON.
		var bad cardvault.InvalidError
		bad.Add("/", "invalid JSON", "the arguments of an operation are not JSON")
		return nil, &ruleError{inv: &bad}
	}
	return Parse(data)
}

// ruleError is an invalid rule: errors.Is finds ErrInvalidRule and
// cardvault.ErrInvalid, errors.As the InvalidError.
type ruleError struct{ inv *cardvault.InvalidError }

func (e *ruleError) Error() string {
	return "rules: invalid rule: " + strings.TrimPrefix(e.inv.Error(), "invalid input: ")
}
func (e *ruleError) Unwrap() []error { return []error{ErrInvalidRule, e.inv} }

var operationMembers = []string{"input", "output", "operation", "arguments"}

func parseStep(ptr string, v gjson.Result, bad *cardvault.InvalidError) (step, bool) {
	if !v.IsObject() {
		bad.Add(ptr, "invalid value", `an operation is an object {"input", "output", "operation", "arguments"}`)
		return step{}, false
	}
	n := len(bad.Fields)
	var s step
	v.ForEach(func(k, m gjson.Result) bool {
		switch k.Str {
		case "input", "output", "operation":
			if m.Type != gjson.String {
				bad.Add(ptr+"/"+k.Str, "invalid value", "must be a string")
				return true
			}
			switch k.Str {
			case "input":
				s.src.Input = m.Str
			case "output":
				s.src.Output = m.Str
			default:
				s.src.Operation = m.Str
			}
		case "arguments":
			if m.Type != gjson.Null {
				var buf bytes.Buffer
				_ = json.Compact(&buf, []byte(m.Raw)) // checked JSON compacts
				s.src.Arguments = buf.Bytes()
			}
		default:
			bad.Add(ptr, "unknown member", "an operation has only the members "+strings.Join(operationMembers, ", "))
		}
		return true
	})
	for _, f := range []struct{ name, value string }{{"input", s.src.Input}, {"output", s.src.Output}} {
		switch {
		case f.value == "":
			bad.Add(ptr+"/"+f.name, "required", "names a field of the document")
		case f.value == "." || !mustachex.ValidName(f.value):
			bad.Add(ptr+"/"+f.name, "invalid value", fieldSyntax)
		}
	}
	spec := specs[s.src.Operation]
	switch {
	case s.src.Operation == "":
		bad.Add(ptr+"/operation", "required", "one of "+strings.Join(opNames(), ", "))
	case spec == nil:
		bad.Add(ptr+"/operation", "unknown operation", "one of "+strings.Join(opNames(), ", "))
	default:
		s.spec = spec
		s.args = parseArgs(ptr+"/arguments", spec, s.src.Arguments, bad)
	}
	return s, len(bad.Fields) == n
}

const fieldSyntax = "a field is a dot-separated path of keys, each starting with a letter or '_' and holding letters, digits, '_' and '-'"

// parseArgs checks arguments against the operation's argument list, then
// the operation's own rules, and returns them parsed with defaults filled.
func parseArgs(ptr string, spec *opSpec, raw json.RawMessage, bad *cardvault.InvalidError) args {
	a := args{base: 10, style: "card", placeholder: '#', encoding: spec.defaultEncoding}
	got := map[string]gjson.Result{}
	if len(raw) > 0 {
		v := gjson.ParseBytes(raw)
		if !v.IsObject() {
			bad.Add(ptr, "invalid value", "arguments are an object")
			return a
		}
		v.ForEach(func(k, m gjson.Result) bool {
			if spec.arg(k.Str) == nil {
				if len(spec.Arguments) == 0 {
					bad.Add(ptr, "unknown member", spec.Name+" takes no arguments")
				} else {
					bad.Add(ptr, "unknown member", spec.Name+" takes only "+spec.argNames())
				}
				return true
			}
			got[k.Str] = m
			return true
		})
	}
	for _, as := range spec.Arguments {
		m, ok := got[as.Name]
		at := ptr + "/" + as.Name
		if !ok || m.Type == gjson.Null {
			if as.Required {
				bad.Add(at, "required", "is required: "+as.Description)
			}
			continue
		}
		switch as.Type {
		case "integer":
			a.setInteger(at, as, m, bad)
		case "string":
			a.setString(at, as, m, bad)
		}
	}
	return a
}

// setInteger checks the integer argument as and sets it.
func (a *args) setInteger(at string, as argSpec, m gjson.Result, bad *cardvault.InvalidError) {
	n, ok := integer(m)
	if !ok || n < as.min || n > as.max {
		bad.Add(at, "invalid value", fmt.Sprintf("must be an integer from %d to %d", as.min, as.max))
		return
	}
	switch as.Name {
	case "start":
		a.start = n
	case "end":
		a.end = n
	case "base":
		a.base = n
	}
}

// setString checks the string argument as and sets it.
func (a *args) setString(at string, as argSpec, m gjson.Result, bad *cardvault.InvalidError) {
	if m.Type != gjson.String {
		bad.Add(at, "invalid value", "must be a string")
		return
	}
	s := m.Str
	if len(as.Values) > 0 {
		if !slices.Contains(as.Values, s) {
			bad.Add(at, "invalid value", "must be one of "+strings.Join(as.Values, ", "))
			return
		}
	} else if len(s) < as.min || len(s) > as.max {
		bad.Add(at, "invalid value", fmt.Sprintf("must be %d to %d bytes", as.min, as.max))
		return
	}
	switch as.Name {
	case "substr":
		a.substr = s
	case "new_str":
		a.newStr = s
	case "style":
		a.style = s
	case "pattern":
		a.pattern = s
	case "placeholder":
		r, size := utf8.DecodeRuneInString(s)
		if size != len(s) || r == utf8.RuneError {
			bad.Add(at, "invalid value", "must be one character")
			return
		}
		a.placeholder = r
	case "encoding":
		a.encoding = s
	case "template":
		t, err := mustachex.Parse(s, mustachex.None, mustachex.Limits{MaxTemplate: MaxTemplateSize, MaxOutput: MaxDocument})
		if err != nil {
			bad.Add(at, "invalid template", strings.TrimPrefix(err.Error(), "template: "))
			return
		}
		a.tmpl = t
	}
}

// integer returns a JSON number that is an integer as written (no
// fraction, no exponent) within the int32 range.
func integer(m gjson.Result) (int, bool) {
	if m.Type != gjson.Number {
		return 0, false
	}
	n, err := strconv.ParseInt(m.Raw, 10, 32)
	return int(n), err == nil
}

// Operations returns the rule's operations as given (arguments compacted),
// in order.
func (r *Rule) Operations() []Operation {
	out := make([]Operation, len(r.steps))
	for i, s := range r.steps {
		out[i] = s.src
		out[i].Arguments = bytes.Clone(s.src.Arguments)
	}
	return out
}

// Len returns the number of operations.
func (r *Rule) Len() int { return len(r.steps) }

// MarshalJSON returns the rule's JSON, which Parse reads back.
func (r *Rule) MarshalJSON() ([]byte, error) { return json.Marshal(r.Operations()) }

// UnmarshalJSON parses the rule's JSON as Parse does.
func (r *Rule) UnmarshalJSON(data []byte) error {
	p, err := Parse(data)
	if err != nil {
		return err
	}
	*r = *p
	return nil
}
