package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cardvault/cardvault/securetoken"
)

// The secure-token API's routes (reference/payroc-api.md), under bearer
// authentication and the terminal check, content negotiation, the body cap
// and Idempotency-Key on POST and PATCH (s.secureTokenRoute). Every rule
// lives in package securetoken; these handlers read the request, call the
// service and write its answer or its error as an RFC 7807 problem.

const (
	resourceSecureToken    = "secureToken"
	resourceSingleUseToken = "singleUseToken"
)

// registerTokenRoutes opens the secure-token service over the server's
// store and registers its routes on mux.
func (s *Server) registerTokenRoutes(mux *http.ServeMux) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	svc, err := securetoken.Open(ctx, securetoken.Config{
		Store: s.cfg.Store, Keyring: s.cfg.Keyring, Capture: s.capture,
		NumberInUse: s.vault.HoldsNumber, Now: s.now,
	})
	if err != nil {
		return fmt.Errorf("server: opening the secure-token service: %w", err)
	}
	s.tokens = svc
	s.closers = append(s.closers, svc.Close)

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
	} {
		mux.Handle(r.pattern, s.secureTokenRoute(r.h))
	}
	return nil
}

// readTokenBody reads a request body the route has capped; a body over the
// cap becomes the 413 problem.
func (s *Server) readTokenBody(w http.ResponseWriter, r *http.Request, resource string) ([]byte, bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s.writeProblemFor(w, r, err, resource)
		return nil, false
	}
	return body, true
}

// writeTokenJSON writes v as the route's JSON answer.
func writeTokenJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// tokenURL is the absolute URL of path (and query q) on this server, for
// Location headers and list links: on the public URL when one is
// configured, else on the request's own scheme and host.
func (s *Server) tokenURL(r *http.Request, path string, q url.Values) string {
	var u string
	if s.publicURL != nil {
		u = s.publicURL.Scheme + "://" + s.publicURL.Host + strings.TrimSuffix(s.publicURL.Path, "/") + path
	} else {
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
	body, ok := s.readTokenBody(w, r, resourceSecureToken)
	if !ok {
		return
	}
	req, err := securetoken.ParseCreateRequest(body)
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	pt := r.PathValue("processingTerminalId")
	res, err := s.tokens.Create(r.Context(), pt, req)
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	w.Header().Set("Location", s.tokenURL(r, "/v1/processing-terminals/"+url.PathEscape(pt)+"/secure-tokens/"+url.PathEscape(res.SecureTokenID), nil))
	writeTokenJSON(w, http.StatusCreated, res)
}

func (s *Server) listSecureTokens(w http.ResponseWriter, r *http.Request) {
	q, err := securetoken.ParseListQuery(r.URL.Query())
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	pt := r.PathValue("processingTerminalId")
	page, err := s.tokens.List(r.Context(), pt, q)
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	if q.Limit == 0 {
		q.Limit = securetoken.DefaultListLimit
	}
	resp := securetoken.ListResponse{Limit: q.Limit, Count: len(page.Items), HasMore: page.HasMore,
		Links: []securetoken.Link{}, Data: page.Items}
	if resp.Data == nil {
		resp.Data = []securetoken.Resource{}
	}
	path := "/v1/processing-terminals/" + url.PathEscape(pt) + "/secure-tokens"
	link := func(rel, cursor, value string) {
		v := q.Values()
		v.Del("before")
		v.Del("after")
		v.Set(cursor, value)
		resp.Links = append(resp.Links, securetoken.Link{Rel: rel, Method: "get", Href: s.tokenURL(r, path, v)})
	}
	if page.Next != "" {
		link("next", "after", page.Next)
	}
	if page.Previous != "" {
		link("previous", "before", page.Previous)
	}
	writeTokenJSON(w, http.StatusOK, resp)
}

func (s *Server) getSecureToken(w http.ResponseWriter, r *http.Request) {
	res, err := s.tokens.Retrieve(r.Context(), r.PathValue("processingTerminalId"), r.PathValue("secureTokenId"))
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	writeTokenJSON(w, http.StatusOK, res)
}

func (s *Server) deleteSecureToken(w http.ResponseWriter, r *http.Request) {
	if err := s.tokens.Delete(r.Context(), r.PathValue("processingTerminalId"), r.PathValue("secureTokenId")); err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) patchSecureToken(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readTokenBody(w, r, resourceSecureToken)
	if !ok {
		return
	}
	res, err := s.tokens.Patch(r.Context(), r.PathValue("processingTerminalId"), r.PathValue("secureTokenId"), body)
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	writeTokenJSON(w, http.StatusOK, res)
}

func (s *Server) updateAccount(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readTokenBody(w, r, resourceSecureToken)
	if !ok {
		return
	}
	req, err := securetoken.ParseAccountUpdateRequest(body)
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	res, err := s.tokens.UpdateAccount(r.Context(), r.PathValue("processingTerminalId"), r.PathValue("secureTokenId"), req)
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSecureToken)
		return
	}
	writeTokenJSON(w, http.StatusOK, res)
}

func (s *Server) createSingleUseToken(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readTokenBody(w, r, resourceSingleUseToken)
	if !ok {
		return
	}
	req, err := securetoken.ParseSingleUseTokenRequest(body)
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSingleUseToken)
		return
	}
	pt := r.PathValue("processingTerminalId")
	res, err := s.tokens.CreateSingleUseToken(r.Context(), pt, req)
	if err != nil {
		s.writeProblemFor(w, r, err, resourceSingleUseToken)
		return
	}
	// The token is a secret that a URL would carry into logs and caches,
	// and there is no route to read one back: the Location names the
	// terminal's single-use tokens.
	w.Header().Set("Location", s.tokenURL(r, "/v1/processing-terminals/"+url.PathEscape(pt)+"/single-use-tokens", nil))
	writeTokenJSON(w, http.StatusCreated, res)
}
