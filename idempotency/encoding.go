package idempotency

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cardvault/cardvault"
)

// kindNames name the root package's kinds in a kept outcome.
var kindNames = map[error]string{
	cardvault.ErrInvalid:      "invalid",
	cardvault.ErrTooLarge:     "too_large",
	cardvault.ErrUnauthorized: "unauthorized",
	cardvault.ErrForbidden:    "forbidden",
	cardvault.ErrNotFound:     "not_found",
	cardvault.ErrConflict:     "conflict",
	cardvault.ErrExpired:      "expired",
	cardvault.ErrLocked:       "locked",
}

type jsonOutcome struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *jsonError      `json:"error,omitempty"`
}

type jsonError struct {
	Kind    string                 `json:"kind"`
	Message string                 `json:"message"`
	Fields  []cardvault.FieldError `json:"fields,omitempty"`
}

// EncodeJSON is the default Call.Encode: the result's JSON when err is nil,
// else err's kind, message and (for a *cardvault.InvalidError) fields.
// Error messages of the library never carry values, so neither does this.
func EncodeJSON(result any, err error) ([]byte, error) {
	var o jsonOutcome
	if err != nil {
		kind := kindNames[cardvault.KindOf(err)]
		if kind == "" {
			return nil, fmt.Errorf("idempotency: an error of no kind is not kept: %w", err)
		}
		o.Error = &jsonError{Kind: kind, Message: err.Error()}
		var inv *cardvault.InvalidError
		if errors.As(err, &inv) {
			o.Error.Fields = inv.Fields
		}
	} else if result != nil {
		raw, err := json.Marshal(result)
		if err != nil {
			return nil, err
		}
		o.Result = raw
	}
	return json.Marshal(o)
}

// DecodeJSON decodes what EncodeJSON kept: it fills result (a pointer) and
// returns nil, or returns the kept error as a *KeptError.
func DecodeJSON(outcome []byte, result any) error {
	var o jsonOutcome
	if err := json.Unmarshal(outcome, &o); err != nil {
		return fmt.Errorf("idempotency: a kept outcome is corrupt: %w", err)
	}
	if o.Error != nil {
		e := &KeptError{Message: o.Error.Message}
		for k, name := range kindNames {
			if name == o.Error.Kind {
				e.Kind = k
			}
		}
		if e.Kind == nil {
			return fmt.Errorf("idempotency: a kept outcome has an unknown kind %q", o.Error.Kind)
		}
		if len(o.Error.Fields) > 0 {
			e.Fields = &cardvault.InvalidError{Fields: o.Error.Fields}
		}
		return e
	}
	if len(o.Result) > 0 && result != nil {
		return json.Unmarshal(o.Result, result)
	}
	return nil
}

// KeptError is the error a replay returns for a request that failed the
// first time: its message, its kind (errors.Is works with the root
// package's kinds) and its fields (errors.As finds the
// *cardvault.InvalidError).
type KeptError struct {
	Kind    error
	Message string
	Fields  *cardvault.InvalidError
}

func (e *KeptError) Error() string { return e.Message }

// Unwrap returns the kind and, when the error had fields, the
// *cardvault.InvalidError.
func (e *KeptError) Unwrap() []error {
	if e.Fields != nil {
		return []error{e.Kind, e.Fields}
	}
	return []error{e.Kind}
}
