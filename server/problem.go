package server

import (
	"context"
	"errors"
	"mime"
	"net"
	"net/http"
	"strings"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/patch"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/store"
)

// DefaultErrorsBaseURL is the base of the problem types of the secure-token
// API, the publisher's, which drop-in clients may match on.
const DefaultErrorsBaseURL = "https://docs.payroc.com/api/errors"

// Anchors of the problem types (the part of "type" after '#').
const (
	anchorBadRequest       = "bad-request"
	anchorNotAuthorized    = "not-authorized"
	anchorForbidden        = "forbidden"
	anchorNotFound         = "not-found"
	anchorNotAcceptable    = "not-acceptable"
	anchorAlreadyExists    = "resource-already-exists"
	anchorCannotBeModified = "cannot-be-modified"
	anchorTooLarge         = "payload-too-large"
	anchorMediaType        = "unsupported-media-type"
	anchorAPIError         = "api-error"
	anchorIdemMissing      = "idempotency-key-missing"
	anchorIdemInUse        = "idempotency-key-in-use"
	// anchorTooMany is cardvault's own: the publisher's contract has no
	// 429 (see limits.go), so POST /authorize, the one route of the API
	// that counts failures, answers one in the publisher's problem shape.
	anchorTooMany = "too-many-requests"
)

// problemTemplates hold the title and default detail of each problem type,
// in the publisher's words.
var problemTemplates = map[string]struct {
	status        int
	title, detail string
}{
	anchorBadRequest:       {400, "Bad request", "One or more validation errors occurred, see error section for more info"},
	anchorNotAuthorized:    {401, "Not Authorized", "Your identity could not be verified"},
	anchorForbidden:        {403, "Forbidden", "You do not have the required permissions to perform this action"},
	anchorNotFound:         {404, "Not found", "Resource not found"},
	anchorNotAcceptable:    {406, "Not acceptable", "Resource does not support the representation requested"},
	anchorAlreadyExists:    {409, "Resource already exists", "The resource you attempted to create already exists"},
	anchorCannotBeModified: {409, "Cannot be modified", "One or more members of the resource cannot be modified, see error section for more info"},
	anchorTooLarge:         {413, "Payload too large", "The payload submitted is too large"},
	anchorMediaType:        {415, "Unsupported media type", "You submitted a payload in an unsupported format"},
	anchorAPIError:         {500, "Api error", "We are unable to process your request at this time"},
	anchorIdemMissing:      {400, "Idempotency-Key header missing", "An 'Idempotency-Key' must be supplied for this request"},
	anchorIdemInUse:        {409, "Idempotency-Key in use", "'Idempotency-Key' is already in use against a different request"},
	anchorTooMany:          {429, "Too many requests", "Too many failed attempts; try again after the time the Retry-After header gives"},
}

// problem is an RFC 7807 problem document in the shape of the secure-token
// API (docs/reference/payroc-api.md): type, title, status and detail always; instance and
// resource on 403 (and resource on 404); errors on 400, 409 and 500.
type problem struct {
	Type     string         `json:"type"`
	Title    string         `json:"title"`
	Status   int            `json:"status"`
	Detail   string         `json:"detail"`
	Instance string         `json:"instance,omitempty"`
	Resource string         `json:"resource,omitempty"`
	Errors   []problemError `json:"errors,omitempty"`
}

// problemError is one entry of a problem's errors: the parameter (a JSON
// Pointer into the body, or a query parameter or header name) and what is
// wrong with it. It never holds the value.
type problemError struct {
	Parameter string `json:"parameter,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Message   string `json:"message,omitempty"`
}

// newProblem returns the problem of anchor with its template's title,
// status and detail, and its type under the configured base.
func (s *Server) newProblem(anchor string) *problem {
	t, ok := problemTemplates[anchor]
	if !ok {
		anchor, t = anchorAPIError, problemTemplates[anchorAPIError]
	}
	return &problem{Type: s.errorsBase + "#" + anchor, Title: t.title, Status: t.status, Detail: t.detail}
}

// writeProblem writes p as application/problem+json with its status.
func writeProblem(w http.ResponseWriter, p *problem) {
	writeBody(w, p.Status, "application/problem+json", p)
}

// problemFor maps an error of the library to the problem the secure-token
// API answers with. resource names the kind of thing the route works on
// ("secureToken", "singleUseToken"), for the 403 and 404 members. Errors of
// no known kind are logged and become a 500 api-error that says nothing
// about them.
func (s *Server) problemFor(r *http.Request, err error, resource string) *problem {
	var inv *cardvault.InvalidError
	var imm *securetoken.ImmutableError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return s.newProblem(anchorTooLarge)
	case errors.As(err, &imm):
		p := s.newProblem(anchorCannotBeModified)
		p.Errors = fieldErrors(imm.Fields)
		return p
	case errors.As(err, &inv):
		p := s.newProblem(anchorBadRequest)
		p.Errors = fieldErrors(inv.Fields)
		return p
	case errors.Is(err, securetoken.ErrImmutable):
		return s.newProblem(anchorCannotBeModified)
	case errors.Is(err, patch.ErrTestFailed):
		// A JSON Patch "test" that failed: the resource is not in the state
		// the patch expects, so it cannot be modified by it (RFC 5789
		// section 2.2 gives 409 Conflict). The publisher's 409 anchors are
		// resource-already-exists and cannot-be-modified; the second is the
		// one that means this. The error names the pointer, never a value.
		p := s.newProblem(anchorCannotBeModified)
		var op *patch.OpError
		if errors.As(err, &op) {
			p.Errors = []problemError{{Parameter: op.Path, Detail: "test failed",
				Message: "the value at this path is not the one the test operation expects; nothing was changed"}}
		}
		return p
	case errors.Is(err, idempotency.ErrKeyInUse):
		return s.newProblem(anchorIdemInUse)
	case unavailable(err):
		// The contract has no 503: a store that does not answer or a
		// request over its deadline is its api-error, with the reason.
		p := s.newProblem(anchorAPIError)
		msg := "Service unavailable, try again"
		if errors.Is(err, store.ErrCommitUnknown) {
			// The outcome is kept in the work's own transaction
			// (package idempotency): the same request with the same key
			// gets the first outcome if it committed and runs if not.
			msg += ": whether the request took effect is unknown; send it again with the same Idempotency-Key"
		}
		p.Errors = []problemError{{Message: msg}}
		return p
	}
	a, ok := answerFor(err)
	if !ok {
		s.log.ErrorContext(r.Context(), "request failed", "route", r.Pattern, "err", err)
		return s.newProblem(anchorAPIError)
	}
	p := s.newProblem(a.anchor)
	switch a.anchor {
	case anchorBadRequest:
		p.Errors = []problemError{{Detail: "invalid value", Message: err.Error()}}
	case anchorForbidden:
		p.Instance, p.Resource = s.instance(r), resource
	case anchorNotFound:
		p.Resource = resource
	case anchorAlreadyExists:
		p.Instance = s.instance(r)
	}
	return p
}

// kindAnswer is what each API answers for one kind of error.
type kindAnswer struct {
	status int    // the vault/capture API's
	anchor string // the secure-token API's problem type
}

// kindAnswers is the one table from the root package's kinds of error to
// each API's answer. The two differ where the secure-token API's contract
// has no status of its own: an expired or used-up thing (a single-use
// token) is a thing that is not there, a locked one a forbidden one.
var kindAnswers = map[error]kindAnswer{
	cardvault.ErrInvalid:      {http.StatusBadRequest, anchorBadRequest},
	cardvault.ErrTooLarge:     {http.StatusRequestEntityTooLarge, anchorTooLarge},
	cardvault.ErrUnauthorized: {http.StatusUnauthorized, anchorNotAuthorized},
	cardvault.ErrForbidden:    {http.StatusForbidden, anchorForbidden},
	cardvault.ErrNotFound:     {http.StatusNotFound, anchorNotFound},
	cardvault.ErrConflict:     {http.StatusConflict, anchorAlreadyExists},
	cardvault.ErrExpired:      {http.StatusGone, anchorNotFound},
	cardvault.ErrLocked:       {http.StatusLocked, anchorForbidden},
}

// answerFor is err's kind's answer; ok is false for an error of no kind.
func answerFor(err error) (kindAnswer, bool) {
	a, ok := kindAnswers[cardvault.KindOf(err)]
	return a, ok
}

// writeProblemFor writes problemFor(r, err, resource).
func (s *Server) writeProblemFor(w http.ResponseWriter, r *http.Request, err error, resource string) {
	writeProblem(w, s.problemFor(r, err, resource))
}

func fieldErrors(fields []cardvault.FieldError) []problemError {
	out := make([]problemError, len(fields))
	for i, f := range fields {
		out[i] = problemError{Parameter: f.Field, Detail: f.Detail, Message: f.Message}
	}
	return out
}

// unavailable reports whether err means "try again": the request's
// deadline passed, the store gave up retrying a conflict or is closed, it
// could not reach its storage — store.ErrUnavailable, or a network error,
// such as pgstore's when PostgreSQL is down for longer than its retries
// last (before, that was an unexplained 500) — or it lost its storage
// during a commit, whose outcome is then unknown (store.ErrCommitUnknown:
// a database failing over).
func unavailable(err error) bool {
	var netErr net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrClosed) ||
		errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrCommitUnknown) || errors.As(err, &netErr)
}

// instance is the URL a 403 or 409 problem names: the request's path on the
// public URL when one is configured.
func (s *Server) instance(r *http.Request) string { return s.instanceOf(r.URL.EscapedPath()) }

// instanceOf is path (escaped) on the public URL when one is configured.
func (s *Server) instanceOf(path string) string {
	if s.publicURL != nil {
		return s.publicURL.Scheme + "://" + s.publicURL.Host + strings.TrimSuffix(s.publicURL.Path, "/") + path
	}
	return path
}

// acceptsJSON reports whether the request's Accept header admits an
// application/json (or problem+json) response: no header, */*,
// application/*, application/json or application/problem+json, with a q
// above zero.
func acceptsJSON(r *http.Request) bool {
	accept := r.Header.Values("Accept")
	if len(accept) == 0 {
		return true
	}
	for _, line := range accept {
		for _, part := range strings.Split(line, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			if q, ok := params["q"]; ok && strings.Trim(q, "0.") == "" {
				continue // q=0: not acceptable
			}
			switch mt {
			case "*/*", "application/*", "application/json", "application/problem+json":
				return true
			}
		}
	}
	return false
}

// mediaType returns the media type of the request body, lower case and
// without parameters, "" when there is no Content-Type, and ok false when
// the header is malformed.
func mediaType(r *http.Request) (mt string, ok bool) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "", true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return mt, err == nil
}
