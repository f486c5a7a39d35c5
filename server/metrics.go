package server

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cardvault/cardvault/vault"
)

// The metrics are written in the Prometheus text exposition format (0.0.4)
// by hand: a handful of counters and one histogram do not justify
// client_golang's dependency tree (protobuf, procfs, ...) in a server whose
// job is to hold card data, and the format is a few lines of text.

// latencyBuckets are the upper bounds, in seconds, of the request latency
// histogram: from a cached vault read to an scrypt unlock.
var latencyBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// Outcomes of a capture redemption, the label of
// cardvault_capture_redemptions_total.
const (
	outcomeOK        = "ok"
	outcomeRefused   = "unknown_or_wrong_secret"
	outcomeClosed    = "expired_or_used"
	outcomeLocked    = "locked"
	outcomeInvalid   = "invalid"
	outcomeTooLarge  = "too_large"
	outcomeFailed    = "error"
	routeUnmatched   = "unmatched"
	contentTypeProm  = "text/plain; version=0.0.4; charset=utf-8"
	metricsNamespace = "cardvault_"
)

type metrics struct {
	mu          sync.Mutex
	requests    map[requestKey]*latency
	redemptions map[string]uint64
	replays     uint64
	vaultStats  func() vault.Stats
}

// requestKey labels a request: its route pattern ("POST /v1/vault", never
// the raw path, so that the number of series is bounded) and status.
type requestKey struct {
	route string
	code  int
}

type latency struct {
	count   uint64
	sum     float64
	buckets []uint64 // cumulative counts are computed when written
}

func newMetrics(vaultStats func() vault.Stats) *metrics {
	return &metrics{requests: map[requestKey]*latency{}, redemptions: map[string]uint64{}, vaultStats: vaultStats}
}

func (m *metrics) observeRequest(route string, code int, d time.Duration) {
	if route == "" {
		route = routeUnmatched
	}
	secs := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.requests[requestKey{route, code}]
	if l == nil {
		l = &latency{buckets: make([]uint64, len(latencyBuckets))}
		m.requests[requestKey{route, code}] = l
	}
	l.count++
	l.sum += secs
	for i, le := range latencyBuckets {
		if secs <= le {
			l.buckets[i]++
			break
		}
	}
}

func (m *metrics) redemption(outcome string) {
	m.mu.Lock()
	m.redemptions[outcome]++
	m.mu.Unlock()
}

func (m *metrics) replay() {
	m.mu.Lock()
	m.replays++
	m.mu.Unlock()
}

// serveHTTP answers GET /metrics.
func (m *metrics) serveHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", contentTypeProm)
	w.Header().Set("Cache-Control", "no-store")
	m.write(w)
}

func (m *metrics) write(out io.Writer) {
	var b strings.Builder
	m.mu.Lock()
	keys := make([]requestKey, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b requestKey) int {
		if c := strings.Compare(a.route, b.route); c != 0 {
			return c
		}
		return a.code - b.code
	})

	header(&b, "http_requests_total", "counter", "HTTP requests by route pattern and status code.")
	for _, k := range keys {
		fmt.Fprintf(&b, "%shttp_requests_total{route=%s,code=\"%d\"} %d\n", metricsNamespace, quote(k.route), k.code, m.requests[k].count)
	}
	header(&b, "http_request_duration_seconds", "histogram", "HTTP request latency by route pattern and status code.")
	for _, k := range keys {
		l := m.requests[k]
		labels := fmt.Sprintf("route=%s,code=\"%d\"", quote(k.route), k.code)
		var cum uint64
		for i, le := range latencyBuckets {
			cum += l.buckets[i]
			fmt.Fprintf(&b, "%shttp_request_duration_seconds_bucket{%s,le=\"%s\"} %d\n", metricsNamespace, labels, formatFloat(le), cum)
		}
		fmt.Fprintf(&b, "%shttp_request_duration_seconds_bucket{%s,le=\"+Inf\"} %d\n", metricsNamespace, labels, l.count)
		fmt.Fprintf(&b, "%shttp_request_duration_seconds_sum{%s} %s\n", metricsNamespace, labels, formatFloat(l.sum))
		fmt.Fprintf(&b, "%shttp_request_duration_seconds_count{%s} %d\n", metricsNamespace, labels, l.count)
	}

	header(&b, "capture_redemptions_total", "counter", "Posts to capture endpoints by outcome.")
	outcomes := []string{outcomeOK, outcomeRefused, outcomeClosed, outcomeLocked, outcomeInvalid, outcomeTooLarge, outcomeFailed}
	for _, o := range outcomes {
		fmt.Fprintf(&b, "%scapture_redemptions_total{outcome=%s} %d\n", metricsNamespace, quote(o), m.redemptions[o])
	}
	header(&b, "idempotency_replays_total", "counter", "Responses replayed for a repeated Idempotency-Key.")
	fmt.Fprintf(&b, "%sidempotency_replays_total %d\n", metricsNamespace, m.replays)
	m.mu.Unlock()

	if m.vaultStats != nil {
		st := m.vaultStats()
		header(&b, "vault_unlocks_total", "counter", "Vault key unlocks that ran scrypt, successful or not.")
		fmt.Fprintf(&b, "%svault_unlocks_total %d\n", metricsNamespace, st.Unlocks)
		header(&b, "vault_cached_keys", "gauge", "Unlocked vault keys held in memory.")
		fmt.Fprintf(&b, "%svault_cached_keys %d\n", metricsNamespace, st.CachedKeys)
	}
	_, _ = io.WriteString(out, b.String())
}

func header(b *strings.Builder, name, typ, help string) {
	fmt.Fprintf(b, "# HELP %s%s %s\n# TYPE %s%s %s\n", metricsNamespace, name, help, metricsNamespace, name, typ)
}

// quote writes a label value: backslash, double quote and newline escaped.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
