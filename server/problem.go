package server

import (
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/store"
)

// DefaultErrorsBaseURL is the base of the problem types of the secure-token
// API (securetoken.DefaultErrorsBaseURL).
const DefaultErrorsBaseURL = securetoken.DefaultErrorsBaseURL

// newProblem returns the problem of type anchor under the configured base
// (securetoken.NewProblem).
func (s *Server) newProblem(anchor string) *securetoken.Problem {
	return securetoken.NewProblem(s.errorsBase, anchor)
}

// writeProblem writes p as application/problem+json with its status.
func writeProblem(w http.ResponseWriter, p *securetoken.Problem) {
	writeBody(w, p.Status, "application/problem+json", p)
}

// problemFor maps an error of the library to the problem the secure-token
// API answers with: securetoken.ProblemFor's, or its kind's type in the
// table below. resource names the kind of thing the route works on
// ("secureToken", "singleUseToken"), for the 403 and 404 members. Errors of
// no known kind are logged and become a 500 api-error that says nothing
// about them.
func (s *Server) problemFor(r *http.Request, err error, resource string) *securetoken.Problem {
	var tooLarge *http.MaxBytesError
	p, ok := securetoken.ProblemFor(s.errorsBase, err)
	switch {
	case errors.As(err, &tooLarge):
		return s.newProblem(securetoken.ProblemTooLarge)
	case ok:
	case store.Unavailable(err):
		// The contract has no 503: a store that does not answer or a
		// request over its deadline is its api-error, with the reason.
		p = s.newProblem(securetoken.ProblemAPIError)
		msg := "Service unavailable, try again"
		if errors.Is(err, store.ErrCommitUnknown) {
			// The outcome is kept in the work's own transaction
			// (package idempotency): the same request with the same key
			// gets the first outcome if it committed and runs if not.
			msg += ": whether the request took effect is unknown; send it again with the same Idempotency-Key"
		}
		p.Errors = []securetoken.ProblemError{{Message: msg}}
		return p
	default:
		a, known := answerFor(err)
		if !known {
			s.log.ErrorContext(r.Context(), "request failed", "route", r.Pattern, "err", err)
			return s.newProblem(securetoken.ProblemAPIError)
		}
		p = s.newProblem(a.anchor)
		if a.anchor == securetoken.ProblemBadRequest {
			p.Errors = []securetoken.ProblemError{{Detail: "invalid value", Message: err.Error()}}
		}
	}
	switch strings.TrimPrefix(p.Type, s.errorsBase+"#") {
	case securetoken.ProblemForbidden:
		p.Instance, p.Resource = s.instance(r), resource
	case securetoken.ProblemNotFound:
		p.Resource = resource
	case securetoken.ProblemAlreadyExists:
		p.Instance = s.instance(r)
	}
	return p
}

// kindAnswer is what each API answers for one kind of error.
type kindAnswer struct {
	status int    // the vault/capture API's
	anchor string // the secure-token API's problem type (securetoken.Problem*)
}

// kindAnswers is the one table from the root package's kinds of error to
// each API's answer. The two differ where the secure-token API's contract
// has no status of its own: an expired or used-up thing (a single-use
// token) is a thing that is not there, a locked one a forbidden one.
var kindAnswers = map[error]kindAnswer{
	cardvault.ErrInvalid:      {http.StatusBadRequest, securetoken.ProblemBadRequest},
	cardvault.ErrTooLarge:     {http.StatusRequestEntityTooLarge, securetoken.ProblemTooLarge},
	cardvault.ErrUnauthorized: {http.StatusUnauthorized, securetoken.ProblemNotAuthorized},
	cardvault.ErrForbidden:    {http.StatusForbidden, securetoken.ProblemForbidden},
	cardvault.ErrNotFound:     {http.StatusNotFound, securetoken.ProblemNotFound},
	cardvault.ErrConflict:     {http.StatusConflict, securetoken.ProblemAlreadyExists},
	cardvault.ErrExpired:      {http.StatusGone, securetoken.ProblemNotFound},
	cardvault.ErrLocked:       {http.StatusLocked, securetoken.ProblemForbidden},
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
