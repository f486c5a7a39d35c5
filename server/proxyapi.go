package server

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/proxy"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/vault"
)

// The proxy's routes: every rule is package proxy's; these handlers read
// the query and the body, call it and write its answer.
//
//	POST /v1/proxy/post?user=&passphrase=&token=[&reference=][&tries=][&rules=][&synchronous=][&debug=]
//	POST /v1/proxy/get?user=&passphrase=[&reference=][&tries=][&synchronous=][&debug=]
//	POST /v1/processing-terminals/{pt}/secure-tokens/{id}/proxy?[tries=][&synchronous=][&debug=]
//
// The body is a call, {"request": {...}, "webhook": {...}}. A synchronous
// call answers 200 {"status", "headers", "body"} — the provider's answer,
// masked, whatever its status — and a receiving one 200 {"token", "user",
// "reference"}; an asynchronous call answers 202 {"id", "status":
// "queued"}. debug=true adds "populated_template". A destination that
// could not be reached is a 502, one that did not answer in time a 504.
// cardvault's own refusals have the API's error shape: {"error": "..."} on
// the vault/capture API, RFC 7807 problems on the secure-token API.
func (s *Server) registerProxyRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/proxy/post", s.requireBasic(s.proxyPost))
	mux.HandleFunc("POST /v1/proxy/get", s.requireBasic(s.proxyGet))
	mux.Handle("POST /v1/processing-terminals/{processingTerminalId}/secure-tokens/{secureTokenId}/proxy", s.secureTokenRoute(http.HandlerFunc(s.secureTokenProxy)))
}

// proxyStatus maps the errors of a call that reached the sending: no
// answer (502), no answer in time (504), an answer that cannot be stored
// (502). Others are the API's usual mapping.
func proxyStatus(err error) (int, bool) {
	switch {
	case errors.Is(err, proxy.ErrTimeout):
		return http.StatusGatewayTimeout, true
	case errors.Is(err, proxy.ErrUnreachable), errors.Is(err, proxy.ErrBadAnswer):
		return http.StatusBadGateway, true
	}
	return 0, false
}

// writeProxyError writes the error of a call that opened the vault key c,
// counting a wrong passphrase as every route that opens a key does.
func (s *Server) writeProxyError(w http.ResponseWriter, r *http.Request, c vault.Credentials, err error) {
	if status, ok := proxyStatus(err); ok {
		writeError(w, status, err.Error())
		return
	}
	s.writeKeyError(w, r, c, err)
}

// readCall reads a vault/capture API proxy route's body and options,
// answering what is wrong with them.
func (s *Server) readCall(w http.ResponseWriter, r *http.Request, q url.Values, withRules bool) (proxy.Call, proxy.Options, bool) {
	body, ok := s.readBody(w, r, proxy.MaxCallSize)
	if !ok {
		return proxy.Call{}, proxy.Options{}, false
	}
	call, opts, err := s.deployment.Proxy.ParseCall(body, q, withRules)
	if err != nil {
		s.writeVaultError(w, r, err)
		return proxy.Call{}, proxy.Options{}, false
	}
	return call, opts, true
}

// proxyPost answers POST /v1/proxy/post: a call with the data of the item
// under token (and reference) in the key user and passphrase open.
func (s *Server) proxyPost(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query() // parsed once for all below
	call, opts, ok := s.readCall(w, r, q, true)
	if !ok {
		return
	}
	c := credentialsOf(r, q)
	if !s.passphraseAllowed(w, r, c) {
		return
	}
	if q.Get("token") == "" {
		writeError(w, http.StatusBadRequest, "token is required: the item whose data the call sends")
		return
	}
	ref, err := s.resolveItem(r, c.User, q.Get("token"), q.Get("reference"))
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	res, err := s.deployment.Proxy.Send(r.Context(), proxy.VaultItem(c, ref), call, opts)
	if err != nil {
		s.writeProxyError(w, r, c, err)
		return
	}
	status, reply := res.Reply()
	writeJSON(w, status, reply)
}

// proxyGet answers POST /v1/proxy/get: a call whose answer becomes a new
// item under the key and reference.
func (s *Server) proxyGet(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	call, opts, ok := s.readCall(w, r, q, false)
	if !ok {
		return
	}
	c := credentialsOf(r, q)
	if !s.passphraseAllowed(w, r, c) {
		return
	}
	got, err := s.deployment.Proxy.Receive(r.Context(), c, q.Get("reference"), call, opts)
	if err != nil {
		s.writeProxyError(w, r, c, err)
		return
	}
	status, reply := got.Reply(c.User)
	writeJSON(w, status, reply)
}

// secureTokenProxy answers POST .../secure-tokens/{id}/proxy: the same call
// with a secure token's data, under the route's Idempotency-Key (an
// asynchronous call is queued once; a synchronous one is made once, and
// its answer replayed).
func (s *Server) secureTokenProxy(w http.ResponseWriter, r *http.Request) {
	body := tokenBody(r)
	pt, id := r.PathValue("processingTerminalId"), r.PathValue("secureTokenId")
	writeOnce(s, w, r, func(call *idempotency.Call) (res proxy.Result, err error) {
		c, opts, err := s.deployment.Proxy.ParseCall(body, r.URL.Query(), false)
		if err != nil {
			return res, s.deployment.Idempotency.Refuse(r.Context(), call, &res, err)
		}
		opts.Idempotency = call
		return s.deployment.Proxy.Send(r.Context(), proxy.SecureToken(pt, id), c, opts)
	}, func(w http.ResponseWriter, res proxy.Result, err error) {
		if err != nil {
			if status, ok := proxyStatus(err); ok {
				p := s.newProblem(securetoken.ProblemAPIError)
				p.Status, p.Title, p.Detail = status, http.StatusText(status), err.Error()
				writeProblem(w, p)
				return
			}
			s.writeProblemFor(w, r, err, resourceSecureToken)
			return
		}
		status, reply := res.Reply()
		writeJSON(w, status, reply)
	})
}
