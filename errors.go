// Package cardvault holds what every part of cardvault shares: the kinds of
// error a caller can act on, and the error that lists every bad field of a
// request.
//
// The work is done in the subpackages — [github.com/cardvault/cardvault/vault],
// [github.com/cardvault/cardvault/capture] and
// [github.com/cardvault/cardvault/securetoken] over a
// [github.com/cardvault/cardvault/store.Store] — and the reference server in
// [github.com/cardvault/cardvault/server] puts them on the network.
//
// # Errors
//
// Each subpackage documents its own sentinel errors (vault.ErrWrongKey,
// capture.ErrExpired, ...). Every one of them wraps exactly one of the kinds
// below, so a caller — the server mapping errors to HTTP statuses, say — can
// test a whole family with one errors.Is:
//
//	if errors.Is(err, cardvault.ErrNotFound) { ... } // any package's "not found"
//
// Error messages name the field, path or limit at fault and never the value:
// the values that pass through cardvault are card numbers, CVVs and secrets,
// and errors end up in logs.
package cardvault

import (
	"errors"
	"strings"
)

// The kinds of error. Each sentinel of a subpackage wraps one of these.
var (
	// ErrInvalid: the input is malformed or breaks a rule; nothing changed.
	ErrInvalid = errors.New("invalid input")
	// ErrTooLarge: the input is over a size limit; nothing changed.
	ErrTooLarge = errors.New("input too large")
	// ErrUnauthorized: the caller's credentials (a vault key's user and
	// passphrase, a grant's secret, a bearer token) do not open the thing.
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: the caller is known but may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: the thing does not exist (or no longer does).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the thing exists already, is in use, or changed under the
	// caller (a failed JSON Patch test, a duplicate id).
	ErrConflict = errors.New("conflict")
	// ErrExpired: the thing existed but its lifetime is over, or it was
	// single-use and is used up.
	ErrExpired = errors.New("expired")
	// ErrLocked: too many failed attempts; the thing refuses all further
	// attempts.
	ErrLocked = errors.New("locked")
)

// Kinds are the kinds of error, in the order [KindOf] tries them.
var Kinds = []error{ErrInvalid, ErrTooLarge, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrConflict, ErrExpired, ErrLocked}

// KindOf returns the kind err wraps, or nil for an error of no kind: a
// failure of the storage, the network or a deadline, which is not the
// caller's doing and may go away when the request is tried again.
func KindOf(err error) error {
	if err == nil {
		return nil
	}
	for _, k := range Kinds {
		if errors.Is(err, k) {
			return k
		}
	}
	return nil
}

// FieldError is one bad field of a request.
type FieldError struct {
	// Field is where the fault is: a JSON Pointer into the request body
	// ("/customer/lastName") or the name of a query parameter or header.
	Field string
	// Detail is a short summary ("too long", "required", "invalid value").
	Detail string
	// Message says what is expected, never the value that was given.
	Message string
}

// InvalidError is an [ErrInvalid] that lists every bad field of a request,
// not only the first, so that a client can fix them all at once.
type InvalidError struct {
	Fields []FieldError
}

// Error joins the fields' messages.
func (e *InvalidError) Error() string {
	var b strings.Builder
	b.WriteString("invalid input: ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Field)
		b.WriteString(": ")
		if f.Message != "" {
			b.WriteString(f.Message)
		} else {
			b.WriteString(f.Detail)
		}
	}
	return b.String()
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

// Add appends a bad field.
func (e *InvalidError) Add(field, detail, message string) {
	e.Fields = append(e.Fields, FieldError{Field: field, Detail: detail, Message: message})
}

// Err returns e when it holds a bad field and nil otherwise, so that a
// validator can collect faults and return e.Err().
func (e *InvalidError) Err() error {
	if e == nil || len(e.Fields) == 0 {
		return nil
	}
	return e
}
