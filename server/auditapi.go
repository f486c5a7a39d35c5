package server

import (
	"net/http"

	"github.com/cardvault/cardvault/audit"
)

// The audit trail as the server sees it: the route that reads an account's
// own events, and the events the server itself owns — credentials checked
// at its door (a failed Basic login, API key or bearer token; an access
// token issued). The services record the events of their own operations,
// package deployment a master-key rotation.

func (s *Server) registerAuditRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /v1/audit", s.requireBasic(s.listAudit))
}

// Audit returns the server's audit trail, for an embedding program's
// export (Log.Export) and the services it wires itself; nil with
// Config.DisableAudit.
func (s *Server) Audit() *audit.Log { return s.deployment.Audit }

// listAudit answers GET /v1/audit?from=&to=&limit= with the account's own
// events, newest first: [{"seq", "op", "outcome", "time", ...}], and
// X-PCIVault-Next-Token when the page is full, as the API's other lists.
// from and to are RFC 3339 times (from inclusive, to exclusive; either may
// be left out). Reading the trail is itself an event.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	limit, cursor, ok := pageParams(w, r)
	if !ok {
		return
	}
	from, to, err := audit.ParseRange(r.URL.Query().Get("from"), r.URL.Query().Get("to"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	account := accountFrom(r.Context())
	entries, next, err := s.deployment.Audit.List(r.Context(), account, from, to, cursor, limit)
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	s.note(r, audit.Event{Op: audit.OpAuditListed, Outcome: audit.OutcomeOK, Account: account, Count: len(entries)})
	if next != "" {
		setNextToken(w, next)
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	writeJSON(w, http.StatusOK, entries)
}

// note queues an event of r — a read or a refusal — with the client's
// address. An event the trail refuses is a bug of the server's: logged,
// and the request goes on.
func (s *Server) note(r *http.Request, e audit.Event) {
	e.Client = r.RemoteAddr
	if err := s.deployment.Audit.Note(e); err != nil {
		s.log.ErrorContext(r.Context(), "audit: an event was refused", "op", string(e.Op), "err", err)
	}
}

// noteAuthFailure records a request refused at the door: kind is which
// credential failed ("basic", "api_key", "bearer"). What the client sent is
// not kept — a user name typed into the password field is a password.
func (s *Server) noteAuthFailure(r *http.Request, kind string) {
	s.note(r, audit.Event{Op: audit.OpAuthFailed, Outcome: audit.OutcomeRefused, Reason: kind})
}
