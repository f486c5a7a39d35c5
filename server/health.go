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

// registerOpsRoutes adds the ops endpoints to mux.
func (s *Server) registerOpsRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /metrics", s.metrics.serveHTTP)
}

// OpsHandler serves the ops endpoints — GET /healthz, GET /readyz and
// GET /metrics — for an internal listener of their own (see
// Config.SeparateOps). They need no credentials and hold nothing secret, but
// they are for the operator's load balancer and monitoring, not for the
// internet. Its requests are counted in the metrics like the API's, and not
// logged (a health check every few seconds would drown the access log).
func (s *Server) OpsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &statusWriter{ResponseWriter: w}
		s.ops.ServeHTTP(rw, r)
		status := rw.status
		if status == 0 {
			status = http.StatusOK
		}
		// ServeMux set r.Pattern: "" when nothing matched.
		s.metrics.observeRequest(r.Pattern, status, time.Since(start))
	})
}
