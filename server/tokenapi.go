package server

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/securetoken"
)

// The secure-token API's routes (docs/reference/payroc-api.md), under bearer
// authentication and the terminal check, content negotiation, the body cap
// and Idempotency-Key on POST and PATCH (s.secureTokenRoute). Every rule
// lives in package securetoken; these handlers read the request, call the
// service and write its answer or its error as an RFC 7807 problem.

const (
	resourceSecureToken    = "secureToken"
	resourceSingleUseToken = "singleUseToken"
)

// registerTokenRoutes registers the secure-token API's routes on mux.
func (s *Server) registerTokenRoutes(mux *http.ServeMux) {
	const base = "/v1/processing-terminals/{processingTerminalId}"
	for _, r := range []struct {
		pattern string
		h       http.HandlerFunc
	}{
		{"POST " + base + "/secure-tokens", s.createSecureToken},
		{"GET " + base + "/secure-tokens", s.listSecureTokens},
		{"GET " + base + "/secure-tokens/{secureTokenId}", s.getSecureToken},
		{"DELETE " + base + "/secure-tokens/{secureTokenId}", s.deleteSecureToken},
		{"PATCH " + base + "/secure-tokens/{secureTokenId}", s.patchSecureToken},
		{"POST " + base + "/secure-tokens/{secureTokenId}/update-account", s.updateAccount},
		{"POST " + base + "/single-use-tokens", s.createSingleUseToken},
		// cardvault's own, not the publisher's: see createCaptureEndpoint.
		{"POST " + base + "/capture-endpoints", s.createCaptureEndpoint},
	} {
		mux.Handle(r.pattern, s.secureTokenRoute(r.h))
	}
}

// tokenURL is the absolute URL of path (and query q) on this server, for
// Location headers and list links: on the public URL when one is
// configured, else on the request's own scheme and host.
func (s *Server) tokenURL(r *http.Request, path string, q url.Values) string {
	u := s.instanceOf(path)
	if s.publicURL == nil {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		u = scheme + "://" + r.Host + path
	}
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

func (s *Server) createSecureToken(w http.ResponseWriter, r *http.Request) {
	body := tokenBody(r)
	pt := r.PathValue("processingTerminalId")
	var req securetoken.CreateRequest
	writeOnce(s, w, r, func(call *idempotency.Call) (res securetoken.Resource, err error) {
		if req, err = securetoken.ParseCreateRequest(body); err != nil {
			return res, s.deployment.Idempotency.Refuse(r.Context(), call, &res, err)
		}
		return s.deployment.Tokens.Create(r.Context(), pt, req, call)
	}, func(w http.ResponseWriter, res securetoken.Resource, err error) {
		if err != nil {
			p := s.problemFor(r, err, resourceSecureToken)
			if errors.Is(err, securetoken.ErrExists) {
				// The publisher's 409 names the existing resource.
				p.Instance = s.instanceOf(secureTokenPath(pt, req.SecureTokenID))
			}
			writeProblem(w, p)
			return
		}
		w.Header().Set("Location", s.tokenURL(r, secureTokenPath(pt, res.SecureTokenID), nil))
		writeJSON(w, http.StatusCreated, res)
	})
}

// answerToken writes a secure token, or the problem of err.
func (s *Server) answerToken(r *http.Request, resource string) func(http.ResponseWriter, securetoken.Resource, error) {
	return func(w http.ResponseWriter, res securetoken.Resource, err error) {
		if err != nil {
			s.writeProblemFor(w, r, err, resource)
			return
		}
		writeJSON(w, http.StatusOK, res)
	}
}

// terminalPath is the path of a processing terminal's collections' parent.
func terminalPath(pt string) string { return "/v1/processing-terminals/" + url.PathEscape(pt) }

// secureTokenPath is the path of a secure token.
func secureTokenPath(pt, id string) string {
	return terminalPath(pt) + "/secure-tokens/" + url.PathEscape(id)
}

func (s *Server) listSecureTokens(w http.ResponseWriter, r *http.Request) {
	q, err := securetoken.ParseListQuery(r.URL.Query())
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	pt := r.PathValue("processingTerminalId")
	page, err := s.deployment.Tokens.List(r.Context(), pt, q)
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	path := terminalPath(pt) + "/secure-tokens"
	resp := securetoken.NewListResponse(q, page, func(v url.Values) string { return s.tokenURL(r, path, v) })
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) getSecureToken(w http.ResponseWriter, r *http.Request) {
	res, err := s.deployment.Tokens.Retrieve(r.Context(), r.PathValue("processingTerminalId"), r.PathValue("secureTokenId"))
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) deleteSecureToken(w http.ResponseWriter, r *http.Request) {
	if err := s.deployment.Tokens.Delete(r.Context(), r.PathValue("processingTerminalId"), r.PathValue("secureTokenId"), nil); err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) patchSecureToken(w http.ResponseWriter, r *http.Request) {
	body := tokenBody(r)
	writeOnce(s, w, r, func(call *idempotency.Call) (securetoken.Resource, error) {
		return s.deployment.Tokens.Patch(r.Context(), r.PathValue("processingTerminalId"), r.PathValue("secureTokenId"), body, call)
	}, s.answerToken(r, resourceSecureToken))
}

func (s *Server) updateAccount(w http.ResponseWriter, r *http.Request) {
	body := tokenBody(r)
	writeOnce(s, w, r, func(call *idempotency.Call) (res securetoken.Resource, err error) {
		req, err := securetoken.ParseAccountUpdateRequest(body)
		if err != nil {
			return res, s.deployment.Idempotency.Refuse(r.Context(), call, &res, err)
		}
		return s.deployment.Tokens.UpdateAccount(r.Context(), r.PathValue("processingTerminalId"), r.PathValue("secureTokenId"), req, call)
	}, func(w http.ResponseWriter, res securetoken.Resource, err error) {
		resource := resourceSecureToken
		if errors.Is(err, securetoken.ErrSingleUseNotFound) {
			resource = resourceSingleUseToken
		}
		s.answerToken(r, resource)(w, res, err)
	})
}

func (s *Server) createSingleUseToken(w http.ResponseWriter, r *http.Request) {
	body := tokenBody(r)
	pt := r.PathValue("processingTerminalId")
	writeOnce(s, w, r, func(call *idempotency.Call) (res securetoken.SingleUseTokenResponse, err error) {
		req, err := securetoken.ParseSingleUseTokenRequest(body)
		if err != nil {
			return res, s.deployment.Idempotency.Refuse(r.Context(), call, &res, err)
		}
		return s.deployment.Tokens.CreateSingleUseToken(r.Context(), pt, req, call)
	}, func(w http.ResponseWriter, res securetoken.SingleUseTokenResponse, err error) {
		if err != nil {
			s.writeProblemFor(w, r, err, resourceSingleUseToken)
			return
		}
		// The token is a secret that a URL would carry into logs and
		// caches, and there is no route to read one back: the Location
		// names the terminal's single-use tokens.
		w.Header().Set("Location", s.tokenURL(r, terminalPath(pt)+"/single-use-tokens", nil))
		writeJSON(w, http.StatusCreated, res)
	})
}

// Capture endpoints for a processing terminal: cardvault's own route, not
// the publisher's (whose hosted fields are a script of theirs). It is what
// makes a single-use token from a hosted form: a capture endpoint (a
// single-use-token grant of package capture) that a browser posts card or
// bank account fields to, with only its secret, at POST /v1/capture/{id} —
// directly or from a hosted form page, /v1/capture/iframe/{form}?unique_id=
// &secret= — and that answers {"processing_terminal_id", "single_use_token",
// "expires_at"} instead of storing anything; the merchant then sends the
// single-use token to update-account (or to create, as a singleUseToken
// source). Creating one takes what every route of this API takes (a bearer
// token allowed the terminal, an Idempotency-Key) and an optional body
// {"ttl": "PT30M"}: an ISO 8601 duration from one second to a day, 30
// minutes when left out (capture.ParseTerminalRequest). The endpoint takes one capture; a capture
// that is refused (a bad card number) does not use it up. Its reply is capture.TerminalEndpoint.

func (s *Server) createCaptureEndpoint(w http.ResponseWriter, r *http.Request) {
	body := tokenBody(r)
	client, _ := clientFrom(r.Context())
	pt := r.PathValue("processingTerminalId")
	writeOnce(s, w, r, func(call *idempotency.Call) (g capture.Grant, err error) {
		req, err := capture.ParseTerminalRequest(client.ID, pt, body)
		if err != nil {
			return g, s.deployment.Idempotency.Refuse(r.Context(), call, &g, err)
		}
		req.Idempotency = call
		return s.deployment.Capture.CreateGrant(r.Context(), req)
	}, func(w http.ResponseWriter, g capture.Grant, err error) {
		if err != nil {
			s.writeProblemFor(w, r, err, "captureEndpoint")
			return
		}
		w.Header().Set("Location", s.tokenURL(r, capture.DefaultCapturePath+g.ID, nil))
		writeJSON(w, http.StatusCreated, g.TerminalEndpoint(s.capturePath, pt))
	})
}
