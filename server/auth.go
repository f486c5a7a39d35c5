package server

import (
	"context"
	"net/http"
	"strings"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/securetoken"
)

// The HTTP side of package access: reading the credentials of a request,
// answering 401, 403 and 429, and noting who acts for the audit trail and
// the log line.

// bearerToken returns the credentials of an "Authorization: Bearer <token>"
// header (the scheme in any case).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// authorize answers POST /authorize: the x-api-key header's key for an
// access token. No body is read.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	if !acceptsJSON(r) {
		writeProblem(w, s.newProblem(securetoken.ProblemNotAcceptable))
		return
	}
	key := r.Header.Get("X-Api-Key")
	if key != "" {
		if wait := s.limits.APIKeyWait(clientAddr(r)); wait > 0 {
			s.metrics.throttled(limitCredentials)
			setRetryAfter(w.Header(), wait)
			writeProblem(w, s.newProblem(securetoken.ProblemTooMany))
			return
		}
	}
	c, ok := s.keys.Lookup(key)
	if !ok {
		if key != "" {
			s.limits.APIKeyFailed(clientAddr(r))
		}
		s.noteAuthFailure(r, "api_key")
		writeProblem(w, s.newProblem(securetoken.ProblemNotAuthorized))
		return
	}
	token := s.keys.IssueToken(c)
	s.note(r, audit.Event{Op: audit.OpBearerIssued, Outcome: audit.OutcomeOK, APIKeyID: c.ID})
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, token)
}

// terminalWildcard is the path wildcard requireBearer checks against the
// API key's terminals.
const terminalWildcard = "processingTerminalId"

type clientKey struct{}

// clientFrom returns the API client that requireBearer authenticated.
func clientFrom(ctx context.Context) (*access.Client, bool) {
	c, ok := ctx.Value(clientKey{}).(*access.Client)
	return c, ok
}

// requireBearer authenticates "Authorization: Bearer <access token>" and,
// on a route whose pattern has the wildcard {processingTerminalId}, checks
// that the token's API key may act for that terminal. It answers 401
// not-authorized (with WWW-Authenticate: Bearer) for a missing, forged or
// expired token, and 403 forbidden (with instance and resource
// "processingTerminal") for a terminal outside the key's. The handler finds
// the client with clientFrom.
func (s *Server) requireBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		var c *access.Client
		if ok {
			c, ok = s.keys.Verify(token)
		}
		if !ok {
			s.noteAuthFailure(r, "bearer")
			w.Header().Set("WWW-Authenticate", `Bearer realm="cardvault"`)
			writeProblem(w, s.newProblem(securetoken.ProblemNotAuthorized))
			return
		}
		if strings.Contains(r.Pattern, "{"+terminalWildcard+"}") && !c.MayUse(r.PathValue(terminalWildcard)) {
			p := s.newProblem(securetoken.ProblemForbidden)
			p.Instance, p.Resource = s.instance(r), "processingTerminal"
			writeProblem(w, p)
			return
		}
		infoFrom(r.Context()).client = c.ID
		ctx := withActor(r.Context(), func(a *audit.Actor) { a.APIKeyID, a.Terminal = c.ID, r.PathValue(terminalWildcard) })
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, clientKey{}, c)))
	})
}

type accountKey struct{}

// accountFrom returns the Basic account requireBasic authenticated.
func accountFrom(ctx context.Context) string {
	name, _ := ctx.Value(accountKey{}).(string)
	return name
}

// requireBasic authenticates the vault/capture API's HTTP Basic
// credentials: 401 {"error": ...} with WWW-Authenticate: Basic otherwise,
// and 429 with Retry-After, before checking them, for a client (or an
// account) over its limit of failures (see limits.go). A request without
// credentials is not a failure.
func (s *Server) requireBasic(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		user, pass, given := r.BasicAuth()
		name, ok := "", false
		if given {
			client := clientAddr(r)
			if wait := s.limits.CredentialsWait(client, s.accounts.Named(user)); wait > 0 {
				s.writeTooMany(w, limitCredentials, wait)
				return
			}
			if name, ok = s.accounts.Check(user, pass); !ok {
				s.limits.CredentialsFailed(client, name)
			}
		}
		if !ok {
			s.noteAuthFailure(r, "basic")
			w.Header().Set("WWW-Authenticate", `Basic realm="cardvault", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong basic auth credentials")
			return
		}
		infoFrom(r.Context()).account = name
		ctx := withActor(r.Context(), func(a *audit.Actor) { a.Account = name })
		next(w, r.WithContext(context.WithValue(ctx, accountKey{}, name)))
	}
}
