package server

import "net/http"

// registerTokenRoutes registers the secure-token API's routes
// (/v1/processing-terminals/{processingTerminalId}/secure-tokens...,
// /single-use-tokens) on mux. New calls it after the vault/capture routes
// and POST /authorize.
//
// PLACEHOLDER: the secure-token API is wired here by the lead (tokenapi.go
// replaces this file). What it has to work with:
//
//   - s.cfg.Store, s.cfg.Keyring, s.capture (for single-use tokens), s.now,
//     s.log; append the service's Close to s.closers;
//   - s.secureTokenRoute(h) wraps every route with bearer authentication
//     and the terminal check, content negotiation, the body cap and
//     Idempotency-Key (see its doc);
//   - clientFrom(r.Context()) is the authenticated API client;
//   - s.writeProblemFor(w, r, err, resource) and writeProblem(w,
//     s.newProblem(anchor)) write RFC 7807 problems.
func (s *Server) registerTokenRoutes(mux *http.ServeMux) error {
	return nil
}
