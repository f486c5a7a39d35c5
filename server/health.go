package server

import (
	"context"
	"net/http"
	"time"
)

// readyTimeout bounds the store ping of /readyz.
const readyTimeout = 2 * time.Second

// healthz answers GET /healthz: the process is up and serving.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers GET /readyz: 200 when the store answers a ping (when it
// can be pinged), 503 otherwise, so that a load balancer stops sending
// requests to a server whose database is gone.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		s.log.WarnContext(ctx, "readiness check: the store does not answer", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
