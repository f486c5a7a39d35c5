package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

// Limits of the vault/capture API.
const (
	// MaxVaultBody caps the body of a vault or capture request: the
	// vault's item size limit.
	MaxVaultBody = vault.DefaultMaxItemSize
	// maxPage is the most entries a list returns, and its default.
	maxPage = cardvault.MaxPage
	// headerNextToken carries the cursor of the next page of a list, in
	// the response (and, or the query parameter next_token, in the
	// request for it).
	headerNextToken = "X-PCIVault-Next-Token"
	// headerCaptureSecret carries a capture grant's secret.
	headerCaptureSecret = "X-PCIVault-Capture-Secret"
	// msgCaptureRefused answers an unknown capture endpoint and a wrong
	// secret alike, so that nobody can tell which ids exist.
	msgCaptureRefused = "unknown capture endpoint or wrong secret"
)

func (s *Server) registerVaultRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/key", s.requireBasic(s.createKey))
	mux.HandleFunc("GET /v1/key", s.requireBasic(s.listKeys))
	mux.HandleFunc("PUT /v1/key", s.requireBasic(s.changePassphrase))
	mux.HandleFunc("DELETE /v1/key", s.requireBasic(s.deleteKey))

	mux.HandleFunc("POST /v1/vault", s.requireBasic(s.tokenize))
	mux.HandleFunc("GET /v1/vault", s.requireBasic(s.retrieveOrList))
	mux.HandleFunc("DELETE /v1/vault", s.requireBasic(s.deleteItem))

	mux.HandleFunc("POST /v1/capture", s.requireBasic(s.createGrant))
	mux.HandleFunc("GET /v1/capture", s.requireBasic(s.listGrants))
	mux.HandleFunc("DELETE /v1/capture/{id}", s.requireBasic(s.deleteGrant))
	mux.HandleFunc("POST /v1/capture/{id}", s.redeem)
	mux.HandleFunc("OPTIONS /v1/capture/{id}", s.capturePreflight)

	mux.HandleFunc("POST /v1/capture/iframe", s.requireBasic(s.createForm))
	mux.HandleFunc("DELETE /v1/capture/iframe/{id}", s.requireBasic(s.deleteForm))
	mux.HandleFunc("GET /v1/capture/iframe/{id}", s.formPage)
}

// # Keys

// readKeyRequest reads a vault.KeyRequest, answering what is wrong with it,
// and returns the credentials it names and its new passphrase.
func (s *Server) readKeyRequest(w http.ResponseWriter, r *http.Request, withNew bool) (vault.Credentials, string, bool) {
	body, ok := s.readBody(w, r, vault.MaxKeyRequest)
	if !ok {
		return vault.Credentials{}, "", false
	}
	req, err := vault.ParseKeyRequest(body, r.URL.Query(), withNew)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return vault.Credentials{}, "", false
	}
	return req.Credentials(accountFrom(r.Context())), req.NewPassphrase, true
}

// createKey answers POST /v1/key {"user", "passphrase"}: the passphrase is
// generated when left out, and returned — the only time it is ever seen.
func (s *Server) createKey(w http.ResponseWriter, r *http.Request) {
	req, _, ok := s.readKeyRequest(w, r, false)
	if !ok {
		return
	}
	c, err := s.deployment.Vault.CreateKey(r.Context(), req)
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// changePassphrase answers PUT /v1/key {"user", "passphrase",
// "new_passphrase"} (the new one generated when left out) with the new
// credentials.
func (s *Server) changePassphrase(w http.ResponseWriter, r *http.Request) {
	old, newPassphrase, ok := s.readKeyRequest(w, r, true)
	if !ok {
		return
	}
	if !s.passphraseAllowed(w, r, old) {
		return
	}
	c, err := s.deployment.Vault.ChangePassphrase(r.Context(), old, newPassphrase)
	if err != nil {
		s.writeKeyError(w, r, old, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

// listKeys answers GET /v1/key?limit= with [{"user", "created_at"}, ...].
func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) {
	limit, after, ok := pageParams(w, r)
	if !ok {
		return
	}
	keys, err := s.deployment.Vault.ListKeys(r.Context(), accountFrom(r.Context()), after, limit)
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	if len(keys) == limit {
		setNextToken(w, keys[len(keys)-1].User)
	}
	if keys == nil {
		keys = []vault.KeyInfo{}
	}
	writeJSON(w, http.StatusOK, keys)
}

// deleteKey answers DELETE /v1/key?user=[&safe=true]: with safe, only a key
// that holds no data is deleted (409 otherwise).
func (s *Server) deleteKey(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	safe, ok := boolParam(w, q.Get("safe"), "safe")
	if !ok {
		return
	}
	if err := s.deployment.Vault.DeleteKey(r.Context(), accountFrom(r.Context()), q.Get("user"), safe); err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"user": q.Get("user")})
}

// # Vault

func credentials(r *http.Request) vault.Credentials { return credentialsOf(r, r.URL.Query()) }

// credentialsOf is credentials from the request's query q, parsed already.
func credentialsOf(r *http.Request, q url.Values) vault.Credentials {
	return vault.Credentials{Owner: accountFrom(r.Context()), User: q.Get("user"), Passphrase: q.Get("passphrase")}
}

// tokenize answers POST /v1/vault?user=&passphrase=[&reference=][&algorithm=][&number=]
// with the body, any JSON object, stored.
func (s *Server) tokenize(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, MaxVaultBody)
	if !ok {
		return
	}
	q := r.URL.Query()
	c := credentials(r)
	if !s.passphraseAllowed(w, r, c) {
		return
	}
	ref, err := s.deployment.Vault.Tokenize(r.Context(), c, body, vault.TokenizeOptions{
		Reference: q.Get("reference"), Algorithm: vault.Algorithm(q.Get("algorithm")), Number: q.Get("number"),
	})
	if err != nil {
		s.writeKeyError(w, r, c, err)
		return
	}
	writeJSON(w, http.StatusOK, ref.Of(c.User))
}

// retrieveOrList answers GET /v1/vault: with a token (and the passphrase),
// the stored JSON — or, with rules=, the account's rules run on a copy of
// it —; with only a user, {"<user>": [{"token", "reference"}]}.
func (s *Server) retrieveOrList(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("token") == "" {
		s.listItems(w, r)
		return
	}
	c := credentials(r)
	if !s.passphraseAllowed(w, r, c) {
		return
	}
	ref, err := s.resolveItem(r, c.User, q.Get("token"), q.Get("reference"))
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	doc, err := s.deployment.Vault.Retrieve(r.Context(), c, ref)
	if err == nil {
		// rules=: the masked view a merchant may read instead of the card.
		doc, err = s.deployment.Rules.ApplyQuery(r.Context(), c.Owner, q, doc)
	}
	if err != nil {
		s.writeKeyError(w, r, c, err)
		return
	}
	setAnswerHeaders(w.Header(), "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(doc, '\n'))
}

func (s *Server) listItems(w http.ResponseWriter, r *http.Request) {
	limit, cursor, ok := pageParams(w, r)
	if !ok {
		return
	}
	var after vault.ItemRef
	if cursor != "" {
		if after, ok = vault.ParseCursor(cursor); !ok {
			writeError(w, http.StatusBadRequest, "invalid next token")
			return
		}
	}
	user := r.URL.Query().Get("user")
	items, err := s.deployment.Vault.List(r.Context(), accountFrom(r.Context()), user, after, limit)
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	if len(items) == limit {
		setNextToken(w, items[len(items)-1].Cursor())
	}
	writeJSON(w, http.StatusOK, vault.Listing(user, items))
}

// resolveItem addresses an item of the request's account by token and
// reference (vault.Resolve: the reference may be left out).
func (s *Server) resolveItem(r *http.Request, user, token, reference string) (vault.ItemRef, error) {
	return s.deployment.Vault.Resolve(r.Context(), accountFrom(r.Context()), user, vault.ItemRef{Token: token, Reference: reference})
}

// deleteItem answers DELETE /v1/vault?user=&token=&reference=. Deleting
// needs no passphrase (as deleting a key does not): the item's data key goes
// with it.
func (s *Server) deleteItem(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user := q.Get("user")
	ref, err := s.resolveItem(r, user, q.Get("token"), q.Get("reference"))
	if err == nil {
		err = s.deployment.Vault.Delete(r.Context(), accountFrom(r.Context()), user, ref)
	}
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ref.Of(user))
}

// # Capture endpoints

// createGrant answers POST /v1/capture?user=&passphrase=[&ttl=][&unique_id=]
// [&token=[&reference=]] with the endpoint's url and secret.
func (s *Server) createGrant(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, capture.MaxGrantRequest)
	if !ok {
		return
	}
	req, err := capture.ParseGrantRequest(body) // the options: webhook, allowed_fields, single_use
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	q := r.URL.Query()
	c := credentials(r)
	if !s.passphraseAllowed(w, r, c) {
		return
	}
	req.Credentials, req.UniqueID, req.TTL = c, q.Get("unique_id"), q.Get("ttl")
	if tok := q.Get("token"); tok != "" {
		ref, err := s.resolveItem(r, c.User, tok, q.Get("reference"))
		if err != nil {
			s.writeVaultError(w, r, err)
			return
		}
		req.Lock = &ref
	} else if q.Get("reference") != "" {
		writeError(w, http.StatusBadRequest, "reference locks an endpoint only with token")
		return
	}
	g, err := s.deployment.Capture.CreateGrant(r.Context(), req)
	if err != nil {
		s.writeKeyError(w, r, c, err)
		return
	}
	writeJSON(w, http.StatusOK, g.Reply(s.capturePath))
}

// listGrants answers GET /v1/capture?user=[&limit=] with the key's live
// endpoints, never their secrets.
func (s *Server) listGrants(w http.ResponseWriter, r *http.Request) {
	limit, after, ok := pageParams(w, r)
	if !ok {
		return
	}
	user := r.URL.Query().Get("user")
	if user == "" {
		writeError(w, http.StatusBadRequest, "user is required")
		return
	}
	grants, err := s.deployment.Capture.ListGrants(r.Context(), accountFrom(r.Context()), user, "", after, limit)
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	out := make([]capture.InfoReply, len(grants))
	for i, g := range grants {
		out[i] = g.Reply(s.capturePath)
	}
	if len(grants) == limit {
		setNextToken(w, grants[len(grants)-1].ID)
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteGrant answers DELETE /v1/capture/{id}.
func (s *Server) deleteGrant(w http.ResponseWriter, r *http.Request) {
	s.deleteOwned(w, r, r.PathValue("id"), s.deployment.Capture.DeleteGrant)
}

// deleteOwned answers a DELETE of the thing id of the request's account
// with {"id"}, or with the error of del.
func (s *Server) deleteOwned(w http.ResponseWriter, r *http.Request, id string, del func(ctx context.Context, owner, id string) error) {
	if err := del(r.Context(), accountFrom(r.Context()), id); err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

// # Capturing

// setCORS lets any origin call a capture endpoint: the secret in the
// X-PCIVault-Capture-Secret header is the only credential (no cookies, no
// Basic auth), and a merchant's pages on any site post to it.
func setCORS(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
}

// capturePreflight answers the CORS preflight of a capture POST.
func (s *Server) capturePreflight(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	setCORS(h)
	h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Content-Type, "+headerCaptureSecret)
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// redeem answers POST /v1/capture/{id} with X-PCIVault-Capture-Secret: the
// body is stored (an open endpoint) or merged into the endpoint's card (a
// locked one), and the reply is {"user", "token", "reference"}. An unknown
// endpoint and a wrong secret get the same 403 and body; an endpoint whose
// secret was right but that is expired, used up or deleted gets 410; an
// id locked after too many wrong secrets (known or not) gets 423 Locked
// with Retry-After, the time until its lock lifts (a minute the first
// time, doubling each time after, up to a day: see package capture). A
// client over its limit of failed capture posts (wrong secrets, unknown or
// locked endpoints) gets 429 with Retry-After before anything is checked.
func (s *Server) redeem(w http.ResponseWriter, r *http.Request) {
	setCORS(w.Header())
	client := clientAddr(r)
	if wait := s.limits.CaptureWait(client); wait > 0 {
		s.metrics.redemption(outcomeThrottled)
		s.writeTooMany(w, limitCapture, wait)
		return
	}
	body, ok := s.readBody(w, r, MaxVaultBody)
	if !ok {
		s.metrics.redemption(outcomeInvalid)
		return
	}
	// The capture endpoint acts, and only its id says who: the request
	// has no other credentials than the endpoint's secret. An id that
	// cannot be one is the client's text, and stays out of the trail.
	ctx := r.Context()
	if id := r.PathValue("id"); capture.ValidID(id) {
		ctx = withActor(ctx, func(a *audit.Actor) { a.Endpoint = id })
	}
	res, err := s.deployment.Capture.Redeem(ctx, r.PathValue("id"), r.Header.Get(headerCaptureSecret), body)
	if err != nil {
		var locked *capture.LockedError
		switch {
		case errors.Is(err, capture.ErrGrantNotFound), errors.Is(err, capture.ErrWrongSecret):
			s.limits.CaptureFailed(client)
			s.metrics.redemption(outcomeRefused)
			writeError(w, http.StatusForbidden, msgCaptureRefused)
		case errors.Is(err, capture.ErrDeleted), errors.Is(err, capture.ErrExpired), errors.Is(err, capture.ErrUsed):
			s.metrics.redemption(outcomeClosed)
			writeError(w, http.StatusGone, "this capture endpoint has expired, was used or was deleted")
		case errors.Is(err, capture.ErrLocked):
			s.limits.CaptureFailed(client)
			s.metrics.redemption(outcomeLocked)
			if errors.As(err, &locked) {
				setRetryAfter(w.Header(), locked.Until.Sub(s.now()))
			}
			writeError(w, http.StatusLocked, "too many wrong secrets: this capture endpoint is locked for now (see Retry-After)")
		default:
			status, _ := vaultStatus(err)
			switch status {
			case http.StatusBadRequest:
				s.metrics.redemption(outcomeInvalid)
			case http.StatusRequestEntityTooLarge:
				s.metrics.redemption(outcomeTooLarge)
			default:
				s.metrics.redemption(outcomeFailed)
			}
			s.writeVaultError(w, r, err)
		}
		return
	}
	s.metrics.redemption(outcomeOK)
	// A grant made for a processing terminal (by the secure-token side)
	// answers with the single-use token it minted.
	writeJSON(w, http.StatusOK, res.Reply())
}

// passphraseAllowed answers 429 and reports false when the client, or the
// client and the vault key c names, is over its limit of wrong
// passphrases: the guess is not even checked (an unlock is a full scrypt).
func (s *Server) passphraseAllowed(w http.ResponseWriter, r *http.Request, c vault.Credentials) bool {
	if wait := s.limits.PassphraseWait(clientAddr(r), c.Owner, c.User); wait > 0 {
		s.writeTooMany(w, limitPassphrase, wait)
		return false
	}
	return true
}

// writeKeyError writes err, the error of a call that opened the vault key
// c, after counting it when it says the user or passphrase was wrong.
func (s *Server) writeKeyError(w http.ResponseWriter, r *http.Request, c vault.Credentials, err error) {
	if errors.Is(err, vault.ErrWrongKey) {
		s.limits.PassphraseFailed(clientAddr(r), c.Owner, c.User)
	}
	s.writeVaultError(w, r, err)
}

// # Hosted forms

// createForm answers POST /v1/capture/iframe?form_type= with {"type", "id",
// "link"}, the link without a scheme as in the hosted vault's API.
func (s *Server) createForm(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, MaxVaultBody)
	if !ok {
		return
	}
	f, err := s.deployment.Capture.CreateForm(r.Context(), accountFrom(r.Context()), r.URL.Query().Get("form_type"), body)
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, f.Reply(s.formLink(r, f.ID)))
}

// formLink is host[:port][/prefix]/v1/capture/iframe/<id>: from the public
// URL when one is configured, else from the request's Host.
func (s *Server) formLink(r *http.Request, id string) string {
	host := r.Host
	if s.publicURL != nil {
		host = s.publicURL.Host
	}
	return host + strings.TrimSuffix(s.capturePath, "/") + "/iframe/" + id
}

// deleteForm answers DELETE /v1/capture/iframe/{id}.
func (s *Server) deleteForm(w http.ResponseWriter, r *http.Request) {
	s.deleteOwned(w, r, r.PathValue("id"), s.deployment.Capture.DeleteForm)
}

// formPage answers GET /v1/capture/iframe/{id}?unique_id=&secret=: a
// configured form, or the standard "pcd" and "ach" forms. The page sets its
// own headers (CSP, no-referrer, no-store).
//
// Loading a page never counts against its endpoint's lock (anyone can load
// one), but a page that checked a secret and found its endpoint closed (a
// 410: wrong secret, unknown, locked or expired) counts against the
// client's limit on failed capture posts: otherwise the page would be a
// way to try secrets without limit. A client over it gets 429.
func (s *Server) formPage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	checks := r.Method == http.MethodGet && q.Get("unique_id") != "" && q.Get("secret") != ""
	client := clientAddr(r)
	if checks {
		if wait := s.limits.CaptureWait(client); wait > 0 {
			s.metrics.throttled(limitCapture)
			w.Header().Set("Cache-Control", "no-store")
			setRetryAfter(w.Header(), wait)
			http.Error(w, msgTooMany, http.StatusTooManyRequests)
			return
		}
	}
	rw := &statusWriter{ResponseWriter: w}
	id := r.PathValue("id")
	if _, ok := capture.StandardForm(capture.FormType(id)); ok {
		s.deployment.Capture.ServeStandardFormPage(rw, r, capture.FormType(id), s.capturePath)
	} else {
		s.deployment.Capture.ServeFormPage(rw, r, id, s.capturePath)
	}
	if checks && rw.status == http.StatusGone {
		s.limits.CaptureFailed(client)
	}
}

// # Requests and replies

// readBody reads a request body of at most max bytes whose Content-Type
// is one a JSON body may come with on this API: none, application/json,
// application/*+json, or text/plain — what the hosted vault's own examples
// send (Python's requests with data= sends none; a browser's fetch with a
// string body sends text/plain). Anything else is a 415, unless the body is
// empty; a larger body is a 413, answered before reading when the
// Content-Length says so. Both are answered here.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, bool) {
	if r.ContentLength > max {
		// Refused before a byte of it is read, rather than after waiting
		// for a body that may never come.
		writeError(w, http.StatusRequestEntityTooLarge, "the body is over "+strconv.FormatInt(max, 10)+" bytes")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		s.writeVaultError(w, r, err) // a body over max is vaultStatus's 413
		return nil, false
	}
	if len(body) == 0 {
		return body, true // no body: its type does not matter (curl -d '' says form-urlencoded)
	}
	mt, ok := mediaType(r)
	if !ok || !(mt == "" || mt == "application/json" || mt == "text/plain" ||
		strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		writeError(w, http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
		return nil, false
	}
	return body, true
}

// limitParam reads a list's limit, 1 to 1000, def when left out.
func limitParam(w http.ResponseWriter, q url.Values, def int) (int, bool) {
	l := q.Get("limit")
	if l == "" {
		return def, true
	}
	n, err := strconv.Atoi(l)
	if err != nil || n < 1 || n > maxPage {
		writeError(w, http.StatusBadRequest, "limit must be a number from 1 to 1000")
		return 0, false
	}
	return n, true
}

// pageParams reads limit (1-1000, default 1000) and the cursor of a list,
// from the query parameter next_token or the X-PCIVault-Next-Token header.
func pageParams(w http.ResponseWriter, r *http.Request) (limit int, after string, ok bool) {
	q := r.URL.Query()
	if limit, ok = limitParam(w, q, maxPage); !ok {
		return 0, "", false
	}
	token := q.Get("next_token")
	if token == "" {
		token = r.Header.Get(headerNextToken)
	}
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid next token")
			return 0, "", false
		}
		after = string(raw)
	}
	return limit, after, true
}

func setNextToken(w http.ResponseWriter, after string) {
	w.Header().Set(headerNextToken, base64.RawURLEncoding.EncodeToString([]byte(after)))
}

func boolParam(w http.ResponseWriter, v, name string) (bool, bool) {
	if v == "" {
		return false, true
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		writeError(w, http.StatusBadRequest, name+" must be true or false")
		return false, false
	}
	return b, true
}

// writeJSON writes v as the JSON answer of either API with status.
func writeJSON(w http.ResponseWriter, status int, v any) { writeBody(w, status, "application/json", v) }

// writeBody is the one JSON writer: every answer of both APIs, problems
// included, goes through it (a stored item, written as it is stored,
// has its headers).
func writeBody(w http.ResponseWriter, status int, contentType string, v any) {
	setAnswerHeaders(w.Header(), contentType)
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// setAnswerHeaders sets the headers every answer of both APIs has: its
// type, never cached (they carry passphrases, secrets and card data),
// never sniffed.
func setAnswerHeaders(h http.Header, contentType string) {
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// writeError writes the vault/capture API's error shape, {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// vaultStatus maps an error of the library to the status and message of
// the vault/capture API. The library's messages name fields and limits,
// never values, so they are passed on; errors of no known kind are not.
func vaultStatus(err error) (int, string) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, "the body is over " + strconv.FormatInt(tooLarge.Limit, 10) + " bytes"
	case errors.Is(err, store.ErrInvalid):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, store.ErrCommitUnknown):
		return http.StatusServiceUnavailable, "the service lost its storage while committing: whether the request took effect is unknown; try again"
	case store.Unavailable(err):
		return http.StatusServiceUnavailable, "the service cannot answer right now; try again"
	}
	if a, ok := answerFor(err); ok {
		return a.status, err.Error()
	}
	return http.StatusInternalServerError, "internal error"
}

// writeVaultError writes err in the vault/capture API's shape, logging
// the errors it does not pass on.
func (s *Server) writeVaultError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := vaultStatus(err)
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", "route", r.Pattern, "err", err)
	}
	writeError(w, status, msg)
}
