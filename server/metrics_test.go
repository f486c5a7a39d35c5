package server

import (
	"bytes"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// sample returns the value of the sample that selector names:
// name{label="value",...} in any order of the labels, or a name alone.
func sample(t testing.TB, body, selector string) float64 {
	t.Helper()
	want := canonicalSample(selector)
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 || canonicalSample(line[:i]) != want {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		return v
	}
	t.Fatalf("no metric %s", selector)
	return 0
}

// sampleLabels matches one label="value" pair, the value escaped as the
// text format escapes it.
var sampleLabels = regexp.MustCompile(`(\w+)="((?:[^"\\]|\\.)*)"`)

// canonicalSample is a sample's name{labels} with its labels sorted.
func canonicalSample(s string) string {
	name, labels, ok := strings.Cut(s, "{")
	if !ok {
		return s
	}
	pairs := sampleLabels.FindAllString(labels, -1)
	slices.Sort(pairs)
	return name + "{" + strings.Join(pairs, ",") + "}"
}

// scrape returns the families of a /metrics body, parsed by the text
// format's own parser: it refuses anything that is not the format.
func scrape(t testing.TB, body []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(body))
	require.NoError(t, err, "the text format")
	return families
}

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	k := e.newKey("metered")
	tok := e.storeCard(k, "r")
	g := e.alice("POST", "/v1/capture", k.query("token", tok), "").json(t)
	id := g["id"].(string)
	sec := secret("capture secret", g["secret"].(string))
	post := func(s string) int {
		return e.do(req{method: "POST", path: "/v1/capture/" + id, body: `{"cvv":"1"}`, header: map[string]string{headerCaptureSecret: s}}).status
	}
	require.Equal(t, 200, post(sec))
	require.Equal(t, 200, post(sec))
	require.Equal(t, 403, post("wrong"))
	e.do(req{method: "GET", path: "/no/such/path"})
	e.alice("GET", "/v1/vault", k.query("token", tok, "reference", "r"), "")

	r := e.do(req{method: "GET", path: "/metrics"})
	require.Equal(t, http.StatusOK, r.status)
	require.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8"), r.header.Get("Content-Type"))
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	body := string(r.body)

	require.Equal(t, 2.0, sample(t, body, `cardvault_http_requests_total{route="POST /v1/capture/{id}",code="200"}`))
	require.Equal(t, 1.0, sample(t, body, `cardvault_http_requests_total{route="POST /v1/capture/{id}",code="403"}`))
	require.Equal(t, 1.0, sample(t, body, `cardvault_http_requests_total{route="unmatched",code="404"}`))
	require.Equal(t, 2.0, sample(t, body, `cardvault_http_request_duration_seconds_count{route="POST /v1/capture/{id}",code="200"}`))
	require.Equal(t, 2.0, sample(t, body, `cardvault_http_request_duration_seconds_bucket{route="POST /v1/capture/{id}",code="200",le="+Inf"}`))
	require.Equal(t, 2.0, sample(t, body, `cardvault_capture_redemptions_total{outcome="ok"}`))
	require.Equal(t, 1.0, sample(t, body, `cardvault_capture_redemptions_total{outcome="unknown_or_wrong_secret"}`))
	require.Equal(t, 0.0, sample(t, body, `cardvault_capture_redemptions_total{outcome="locked"}`), "every outcome from the start")
	require.Equal(t, 0.0, sample(t, body, `cardvault_idempotency_replays_total`))
	require.GreaterOrEqual(t, sample(t, body, `cardvault_vault_unlocks_total`), 1.0)
	require.Equal(t, 1.0, sample(t, body, `cardvault_vault_cached_keys`))
	require.GreaterOrEqual(t, sample(t, body, `cardvault_store_commits_total`), 3.0, "the key, the grant, the captures")
	require.Equal(t, 0.0, sample(t, body, `cardvault_store_commits_unknown_total`))

	families := scrape(t, r.body)
	// The Go runtime and the process, beside the server's own.
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes"} {
		require.Contains(t, families, name)
	}
	h := families["cardvault_http_request_duration_seconds"]
	require.Equal(t, dto.MetricType_HISTOGRAM, h.GetType())
	var buckets []float64
	for _, b := range h.GetMetric()[0].GetHistogram().GetBucket() {
		buckets = append(buckets, b.GetUpperBound())
	}
	require.Equal(t, append(slices.Clone(latencyBuckets), math.Inf(1)), buckets, "the parser adds +Inf")

	// No label carries a value from a request: routes are patterns, never
	// a path, an id or a secret.
	require.NotContains(t, body, "/no/such/path", "raw paths are never labels")
	for _, v := range []string{id, sec, tok, k.passphrase} {
		require.NotContains(t, body, v)
	}
	for name, f := range families {
		if !strings.HasPrefix(name, "cardvault_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "route":
					require.Regexp(t, `^(unmatched|[A-Z]+ /[A-Za-z0-9/{}_.-]*)$`, l.GetValue())
				case "code":
					require.Regexp(t, `^[1-5][0-9][0-9]$`, l.GetValue())
				case "outcome":
					require.Contains(t, outcomes, l.GetValue())
				case "limit":
					require.Contains(t, limitNames, l.GetValue())
				default:
					t.Fatalf("an unexpected label %s on %s", l.GetName(), name)
				}
			}
		}
	}
}

func TestMetricsSampleSelector(t *testing.T) {
	body := "# HELP x_total X.\n# TYPE x_total counter\nx_total{code=\"200\",route=\"GET /a\"} 3\nx_total{code=\"500\",route=\"GET /a\"} 1\ny 2\n"
	require.Equal(t, 3.0, sample(t, body, `x_total{route="GET /a",code="200"}`), "labels in any order")
	require.Equal(t, 1.0, sample(t, body, `x_total{code="500",route="GET /a"}`))
	require.Equal(t, 2.0, sample(t, body, `y`))
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
