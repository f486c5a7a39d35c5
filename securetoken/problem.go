package securetoken

import (
	"errors"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/patch"
)

// The secure-token API's errors are RFC 7807 problem documents in the
// publisher's shape (docs/reference/payroc-api.md): this is their model —
// the problem types, their titles and details in the publisher's words,
// and the problem of each error of this package that says more than its
// kind. A server maps the other kinds to types and fills in what only it
// knows (instance, resource).

// DefaultErrorsBaseURL is the base of the problem types, the publisher's,
// which drop-in clients may match on.
const DefaultErrorsBaseURL = "https://docs.payroc.com/api/errors"

// Problem types: the part of a problem's "type" after '#'.
const (
	ProblemBadRequest       = "bad-request"
	ProblemNotAuthorized    = "not-authorized"
	ProblemForbidden        = "forbidden"
	ProblemNotFound         = "not-found"
	ProblemNotAcceptable    = "not-acceptable"
	ProblemAlreadyExists    = "resource-already-exists"
	ProblemCannotBeModified = "cannot-be-modified"
	ProblemTooLarge         = "payload-too-large"
	ProblemMediaType        = "unsupported-media-type"
	ProblemAPIError         = "api-error"
	ProblemIdemMissing      = "idempotency-key-missing"
	ProblemIdemInUse        = "idempotency-key-in-use"
	// ProblemTooMany is cardvault's own: the publisher's contract has no
	// 429, so POST /authorize, the one route of the API that counts
	// failures, answers one in the publisher's problem shape.
	ProblemTooMany = "too-many-requests"
)

// problemTemplates hold the status, title and default detail of each
// problem type, in the publisher's words.
var problemTemplates = map[string]struct {
	status        int
	title, detail string
}{
	ProblemBadRequest:       {400, "Bad request", "One or more validation errors occurred, see error section for more info"},
	ProblemNotAuthorized:    {401, "Not Authorized", "Your identity could not be verified"},
	ProblemForbidden:        {403, "Forbidden", "You do not have the required permissions to perform this action"},
	ProblemNotFound:         {404, "Not found", "Resource not found"},
	ProblemNotAcceptable:    {406, "Not acceptable", "Resource does not support the representation requested"},
	ProblemAlreadyExists:    {409, "Resource already exists", "The resource you attempted to create already exists"},
	ProblemCannotBeModified: {409, "Cannot be modified", "One or more members of the resource cannot be modified, see error section for more info"},
	ProblemTooLarge:         {413, "Payload too large", "The payload submitted is too large"},
	ProblemMediaType:        {415, "Unsupported media type", "You submitted a payload in an unsupported format"},
	ProblemAPIError:         {500, "Api error", "We are unable to process your request at this time"},
	ProblemIdemMissing:      {400, "Idempotency-Key header missing", "An 'Idempotency-Key' must be supplied for this request"},
	ProblemIdemInUse:        {409, "Idempotency-Key in use", "'Idempotency-Key' is already in use against a different request"},
	ProblemTooMany:          {429, "Too many requests", "Too many failed attempts; try again after the time the Retry-After header gives"},
}

// Problem is a problem document: type, title, status and detail always;
// instance and resource on 403 (and resource on 404); errors on 400, 409
// and 500.
type Problem struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail"`
	Instance string         `json:"instance,omitempty"`
	Resource string         `json:"resource,omitempty"`
	Errors   []ProblemError `json:"errors,omitempty"`
}

// ProblemError is one entry of a problem's errors: the parameter (a JSON
// Pointer into the body, or a query parameter or header name) and what is
// wrong with it. It never holds the value.
type ProblemError struct {
	Parameter string `json:"parameter,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Message   string `json:"message,omitempty"`
}

// NewProblem returns the problem of type typ, one of the Problem
// constants (an unknown one is ProblemAPIError), with its template's
// title, status and detail and its type under base.
func NewProblem(base, typ string) *Problem {
	t, ok := problemTemplates[typ]
	if !ok {
		typ, t = ProblemAPIError, problemTemplates[ProblemAPIError]
	}
	return &Problem{Type: base + "#" + typ, Title: t.title, Status: t.status, Detail: t.detail}
}

// FieldErrors are fields as a problem's errors.
func FieldErrors(fields []cardvault.FieldError) []ProblemError {
	out := make([]ProblemError, len(fields))
	for i, f := range fields {
		out[i] = ProblemError{Parameter: f.Field, Detail: f.Detail, Message: f.Message}
	}
	return out
}

// ProblemFor is the problem, under base, of an error that says more than
// its kind: every bad field of an InvalidError (or ImmutableError), a
// JSON Patch test that failed, an Idempotency-Key in use, a secureTokenId
// in use or retired. ok is false for any other error.
func ProblemFor(base string, err error) (p *Problem, ok bool) {
	var inv *cardvault.InvalidError
	var imm *ImmutableError
	switch {
	case errors.As(err, &imm):
		p = NewProblem(base, ProblemCannotBeModified)
		p.Errors = FieldErrors(imm.Fields)
	case errors.As(err, &inv):
		p = NewProblem(base, ProblemBadRequest)
		p.Errors = FieldErrors(inv.Fields)
	case errors.Is(err, ErrImmutable):
		p = NewProblem(base, ProblemCannotBeModified)
	case errors.Is(err, patch.ErrTestFailed):
		// A JSON Patch "test" that failed: the resource is not in the state
		// the patch expects, so it cannot be modified by it (RFC 5789
		// section 2.2 gives 409 Conflict). The publisher's 409 types are
		// resource-already-exists and cannot-be-modified; the second is the
		// one that means this. The error names the pointer, never a value.
		p = NewProblem(base, ProblemCannotBeModified)
		var op *patch.OpError
		if errors.As(err, &op) {
			p.Errors = []ProblemError{{Parameter: op.Path, Detail: "test failed",
				Message: "the value at this path is not the one the test operation expects; nothing was changed"}}
		}
	case errors.Is(err, idempotency.ErrKeyInUse):
		p = NewProblem(base, ProblemIdemInUse)
	case errors.Is(err, ErrExists):
		// The publisher's 409 names the existing resource too: its
		// instance, which only the server can make.
		p = NewProblem(base, ProblemAlreadyExists)
		p.Errors = []ProblemError{{Parameter: "/secureTokenId", Detail: "already exists",
			Message: "a secure token with this secureTokenId exists on this processing terminal"}}
	case errors.Is(err, ErrIDRetired):
		p = NewProblem(base, ProblemAlreadyExists)
		p.Errors = []ProblemError{{Parameter: "/secureTokenId", Detail: "retired",
			Message: "belonged to a secure token that was deleted; a secureTokenId is never reused"}}
	default:
		return nil, false
	}
	return p, true
}
