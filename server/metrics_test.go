package server

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sample returns the value of the metric line that starts with prefix.
func sample(t testing.TB, body, prefix string) float64 {
	t.Helper()
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, prefix+" ") {
			v, err := strconv.ParseFloat(strings.TrimPrefix(line, prefix+" "), 64)
			require.NoError(t, err, line)
			return v
		}
	}
	t.Fatalf("no metric %s", prefix)
	return 0
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	k := e.newKey("metered")
	tok := e.storeCard(k, "r")
	g := e.alice("POST", "/v1/capture", k.query("token", tok), "").json(t)
	sec := secret("capture secret", g["secret"].(string))
	post := func(s string) int {
		return e.do(req{method: "POST", path: "/v1/capture/" + g["id"].(string), body: `{"cvv":"1"}`, header: map[string]string{headerCaptureSecret: s}}).status
	}
	require.Equal(t, 200, post(sec))
	require.Equal(t, 200, post(sec))
	require.Equal(t, 403, post("wrong"))
	e.do(req{method: "GET", path: "/no/such/path"})
	e.alice("GET", "/v1/vault", k.query("token", tok, "reference", "r"), "")

	r := e.do(req{method: "GET", path: "/metrics"})
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "text/plain; version=0.0.4; charset=utf-8", r.header.Get("Content-Type"))
	body := string(r.body)

	require.Equal(t, 2.0, sample(t, body, `cardvault_http_requests_total{route="POST /v1/capture/{id}",code="200"}`))
	require.Equal(t, 1.0, sample(t, body, `cardvault_http_requests_total{route="POST /v1/capture/{id}",code="403"}`))
	require.Equal(t, 1.0, sample(t, body, `cardvault_http_requests_total{route="unmatched",code="404"}`))
	require.Equal(t, 2.0, sample(t, body, `cardvault_http_request_duration_seconds_count{route="POST /v1/capture/{id}",code="200"}`))
	require.Equal(t, 2.0, sample(t, body, `cardvault_http_request_duration_seconds_bucket{route="POST /v1/capture/{id}",code="200",le="+Inf"}`))
	require.Equal(t, 2.0, sample(t, body, `cardvault_capture_redemptions_total{outcome="ok"}`))
	require.Equal(t, 1.0, sample(t, body, `cardvault_capture_redemptions_total{outcome="unknown_or_wrong_secret"}`))
	require.GreaterOrEqual(t, sample(t, body, `cardvault_vault_unlocks_total`), 1.0)
	require.Equal(t, 1.0, sample(t, body, `cardvault_vault_cached_keys`))
	require.NotContains(t, body, "/no/such/path", "raw paths are never labels")

	// Buckets are cumulative and end at the count.
	var last float64
	re := regexp.MustCompile(`^cardvault_http_request_duration_seconds_bucket\{route="POST /v1/vault",code="200",le="[^"]+"\} (\d+)$`)
	for _, line := range strings.Split(body, "\n") {
		if m := re.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			require.GreaterOrEqual(t, v, last)
			last = v
		}
	}
	require.Equal(t, sample(t, body, `cardvault_http_request_duration_seconds_count{route="POST /v1/vault",code="200"}`), last)

	// Every line is a comment or a sample of the text format.
	line := regexp.MustCompile(`^(# (HELP|TYPE) \S+ .+|[a-z_]+(\{[a-z]+="(?:[^"\\]|\\.)*"(,[a-z]+="(?:[^"\\]|\\.)*")*\})? [0-9.e+-]+)$`)
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		require.Regexp(t, line, l)
	}
	require.Equal(t, `"a\\b\"c\nd"`, quote("a\\b\"c\nd"))
}

func TestHealth(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "GET", path: "/healthz"})
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, `{"status":"ok"}`, string(r.body))
	r = e.do(req{method: "GET", path: "/readyz"})
	require.Equal(t, http.StatusOK, r.status)

	require.NoError(t, e.st.Close())
	r = e.do(req{method: "GET", path: "/readyz"})
	require.Equal(t, http.StatusServiceUnavailable, r.status)
	require.JSONEq(t, `{"status":"unavailable"}`, string(r.body))
	require.Equal(t, http.StatusOK, e.do(req{method: "GET", path: "/healthz"}).status, "the process is still up")
}
