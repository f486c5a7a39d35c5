package server

import (
	"net/http"

	"github.com/cardvault/cardvault/rules"
)

// The rules of the vault/capture API (package rules), per Basic account:
//
//	GET    /v1/rule[?id=]        one rule, or all of the account's: [{"id", "operations", "created_at"}]
//	POST   /v1/rule?id=          body: the operations, [{"input", "output", "operation", "arguments"}] → the rule
//	DELETE /v1/rule?id=          {"id"}
//	GET    /v1/rule/operations   the operations and their arguments
//
// The paths with a trailing slash, as the hosted vault writes them, are
// the same routes. A rule is never updated: delete it and create it again.
// Another account's rule is not found.
func (s *Server) registerRuleRoutes(mux *http.ServeMux) {
	for _, path := range []string{"/v1/rule", "/v1/rule/{$}"} {
		mux.HandleFunc("GET "+path, s.requireBasic(s.getRules))
		mux.HandleFunc("POST "+path, s.requireBasic(s.createRule))
		mux.HandleFunc("DELETE "+path, s.requireBasic(s.deleteRule))
	}
	mux.HandleFunc("GET /v1/rule/operations", s.requireBasic(s.ruleOperations))
}

func (s *Server) getRules(w http.ResponseWriter, r *http.Request) {
	owner := accountFrom(r.Context())
	if id, ok := r.URL.Query()["id"]; ok {
		rule, err := s.deployment.Rules.Get(r.Context(), owner, id[0])
		if err != nil {
			s.writeVaultError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, rule)
		return
	}
	all, err := s.deployment.Rules.List(r.Context(), owner)
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, all)
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readBody(w, r, rules.MaxRuleSize)
	if !ok {
		return
	}
	rule, err := rules.Parse(body)
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	stored, err := s.deployment.Rules.Create(r.Context(), accountFrom(r.Context()), r.URL.Query().Get("id"), rule)
	if err != nil {
		s.writeVaultError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, stored)
}

func (s *Server) deleteRule(w http.ResponseWriter, r *http.Request) {
	s.deleteOwned(w, r, r.URL.Query().Get("id"), s.deployment.Rules.Delete)
}

func (s *Server) ruleOperations(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, rules.Operations())
}
