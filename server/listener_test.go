package server

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
)

// serve sends a request straight to h: target "https://..." makes it one
// that came over TLS (httptest sets Request.TLS).
func serve(h http.Handler, method, target string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
	return w
}

func TestHSTSOnlyOverTLS(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/healthz", "/v1/vault", "/no/such/path", "/v1/processing-terminals/1234001/secure-tokens"} {
		w := serve(e.srv, "GET", "https://vault.example"+path)
		require.Equal(t, "max-age=63072000; includeSubDomains", w.Header().Get("Strict-Transport-Security"), "%s over TLS, status %d", path, w.Code)
		w = serve(e.srv, "GET", "http://vault.example"+path)
		require.Empty(t, w.Header().Values("Strict-Transport-Security"), "%s over plain HTTP", path)
	}
}

func TestSeparateOps(t *testing.T) {
	for _, separate := range []bool{false, true} {
		e := newEnv(t, func(c *Config) { c.SeparateOps = separate })
		ops := e.srv.OpsHandler()
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			require.Equal(t, http.StatusOK, serve(ops, "GET", "http://ops.internal"+path).Code, "%s on the ops handler", path)
			want := http.StatusOK
			if separate {
				want = http.StatusNotFound
			}
			require.Equal(t, want, serve(e.srv, "GET", "http://vault.example"+path).Code, "%s on the API, SeparateOps %v", path, separate)
		}
		require.Equal(t, http.StatusNotFound, serve(ops, "GET", "http://ops.internal/v1/key").Code, "the ops handler serves no API")
		require.Equal(t, http.StatusMethodNotAllowed, serve(ops, "POST", "http://ops.internal/metrics").Code)

		// Ops requests are counted like the API's, by pattern, in one
		// registry.
		body := serve(ops, "GET", "http://ops.internal/metrics").Body.String()
		healthz, unmatched := 2.0, 1.0 // once on each handler; /v1/key
		if separate {
			healthz, unmatched = 1.0, 4.0 // and the API's three 404s
		}
		require.Equal(t, healthz, sample(t, body, `cardvault_http_requests_total{route="GET /healthz",code="200"}`))
		require.Equal(t, unmatched, sample(t, body, `cardvault_http_requests_total{route="unmatched",code="404"}`))
		require.Equal(t, 1.0, sample(t, body, `cardvault_http_requests_total{route="unmatched",code="405"}`))
	}
}
