package rules

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/jsonx"
)

// MaxRulesPerApply is the most rules one Apply runs.
const MaxRulesPerApply = 16

// Engine runs rules. It holds the key of the hash operation and is safe for
// concurrent use.
type Engine struct {
	hasher *crypto.Hasher
}

// NewEngine returns an Engine whose hash operation is keyed by h (the
// deployment's hash key). h must not be nil: a hash operation without a key
// would have to fail, and a failing operation copies its input — a card
// number — to its output.
func NewEngine(h *crypto.Hasher) *Engine {
	if h == nil {
		panic("rules: NewEngine needs a Hasher")
	}
	return &Engine{hasher: h}
}

// Apply runs rules, in order, on a copy of doc, for owner (the account
// whose rules they are: it keys the hash operation), and returns the copy.
// doc itself is never changed.
//
// doc must be a JSON object of at most [MaxDocument] bytes, strict JSON
// nested at most [MaxDepth] deep (ErrInvalid, or ErrTooLarge for its size);
// at most [MaxRulesPerApply] rules run. Each operation reads its input
// field; a missing input skips the operation; the output field is written
// whatever it held, so an output may feed a later input. An operation that
// cannot apply to its input's value copies the value unchanged (mask,
// hash and encode always apply). An operation whose result would make the
// document larger than MaxDocument stops Apply with an error wrapping
// ErrTooLarge that names the rule and the operation by index; no error
// holds a value of the document.
func (e *Engine) Apply(owner string, doc []byte, rules ...*Rule) ([]byte, error) {
	if len(rules) > MaxRulesPerApply {
		return nil, fmt.Errorf("%w: at most %d rules run at once, got %d", ErrInvalid, MaxRulesPerApply, len(rules))
	}
	if len(doc) > MaxDocument {
		return nil, fmt.Errorf("%w: the document is %d bytes, at most %d", ErrTooLarge, len(doc), MaxDocument)
	}
	if err := jsonx.Check(doc, jsonx.Limits{MaxBytes: MaxDocument, MaxDepth: MaxDepth}); err != nil {
		return nil, fmt.Errorf("%w: the document: %w", ErrInvalid, err)
	}
	if !gjson.ParseBytes(doc).IsObject() {
		return nil, fmt.Errorf("%w: the document must be a JSON object", ErrInvalid)
	}
	out := bytes.Clone(doc)
	for ri, r := range rules {
		if r == nil {
			return nil, fmt.Errorf("%w: rule %d is nil", ErrInvalid, ri)
		}
		for oi := range r.steps {
			s := &r.steps[oi]
			in := gjson.GetBytes(out, s.src.Input)
			if !in.Exists() {
				continue
			}
			raw, ok, err := s.spec.run(e, owner, s, in, out)
			if err != nil {
				if errors.Is(err, ErrTooLarge) {
					return nil, fmt.Errorf("%w: rule %d, operation %d (%s): the document would grow over %d bytes", ErrTooLarge, ri, oi, s.src.Operation, MaxDocument)
				}
				return nil, err
			}
			if !ok {
				raw = []byte(in.Raw)
			}
			if len(out)+len(raw) > MaxDocument {
				return nil, fmt.Errorf("%w: rule %d, operation %d (%s): the document would grow over %d bytes", ErrTooLarge, ri, oi, s.src.Operation, MaxDocument)
			}
			next, err := sjson.SetRawBytes(out, s.src.Output, raw)
			if err != nil {
				// The output cannot be written where the document has an
				// array on its path: the operation is skipped.
				continue
			}
			out = next
		}
	}
	if len(out) > MaxDocument {
		return nil, fmt.Errorf("%w: the document would grow over %d bytes", ErrTooLarge, MaxDocument)
	}
	// Outputs deep in a deep document, or parse_json's values, can nest the
	// copy deeper than a document Apply takes: the next reader would refuse
	// it.
	if err := jsonx.Check(out, jsonx.Limits{MaxDepth: MaxDepth}); err != nil {
		return nil, fmt.Errorf("%w: the document would nest deeper than %d", ErrTooLarge, MaxDepth)
	}
	return out, nil
}
