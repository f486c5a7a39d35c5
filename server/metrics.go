package server

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

// The metrics are collected and written by client_golang, on a registry of
// the Server's own (never prometheus.DefaultRegisterer: two Servers in one
// process, as in the tests, must not share or collide), with the Go runtime
// and process collectors beside the server's own. No label ever carries a
// value from a request: routes are the mux's patterns ("POST
// /v1/capture/{id}", never the raw path, so that the number of series is
// bounded and no id or secret is a label), codes are status codes and
// outcomes one of the constants below.

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
	outcomeThrottled = "throttled"
	routeUnmatched   = "unmatched"
	metricsNamespace = "cardvault"
)

// outcomes are every outcome, each exported from the start (at 0) so that
// a rate over it exists before the first such post.
var outcomes = []string{outcomeOK, outcomeRefused, outcomeClosed, outcomeLocked, outcomeInvalid, outcomeTooLarge, outcomeFailed, outcomeThrottled}

// Limits on failed attempts, the label of cardvault_throttled_total.
const (
	limitCredentials = "credentials" // Basic passwords and API keys
	limitPassphrase  = "passphrase"
	limitCapture     = "capture"
)

var limitNames = []string{limitCredentials, limitPassphrase, limitCapture}

type metrics struct {
	registry    *prometheus.Registry
	requests    *prometheus.CounterVec
	durations   *prometheus.HistogramVec
	redemptions *prometheus.CounterVec
	throttledN  *prometheus.CounterVec
	replays     prometheus.Counter
	handler     http.Handler
}

func newMetrics(vaultStats func() vault.Stats, storeStats func() store.Stats) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		durations: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: metricsNamespace, Name: "http_request_duration_seconds",
			Help: "HTTP request latency by route pattern and status code.", Buckets: latencyBuckets,
		}, []string{"route", "code"}),
		redemptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "capture_redemptions_total",
			Help: "Posts to capture endpoints by outcome.",
		}, []string{"outcome"}),
		throttledN: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "throttled_total",
			Help: "Requests refused with 429, unchecked, by the limit on failed attempts they were over.",
		}, []string{"limit"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: metricsNamespace, Name: "idempotency_replays_total",
			Help: "Responses replayed for a repeated Idempotency-Key.",
		}),
	}
	for _, o := range outcomes {
		m.redemptions.WithLabelValues(o)
	}
	for _, l := range limitNames {
		m.throttledN.WithLabelValues(l)
	}
	m.registry.MustRegister(m.requests, m.durations, m.redemptions, m.throttledN, m.replays,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.registry.MustRegister(
		counterOf("vault_unlocks_total", "Vault key unlocks that ran scrypt, successful or not.",
			func() uint64 { return vaultStats().Unlocks }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Namespace: metricsNamespace, Name: "vault_cached_keys",
			Help: "Unlocked vault keys held in memory.",
		}, func() float64 { return float64(vaultStats().CachedKeys) }),
		counterOf("store_commits_total", "Store transactions that committed and were acknowledged.",
			func() uint64 { return storeStats().Commits }),
		counterOf("store_commits_unknown_total", `Store commits whose outcome could not be learnt (a failover during COMMIT, or no standby confirmed them): "try again".`,
			func() uint64 { return storeStats().CommitsUnknown }),
	)
	m.handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		// A collector that fails (the process collector without /proc)
		// costs its own series, not the whole scrape.
		ErrorHandling: promhttp.ContinueOnError,
	})
	return m
}

// counterOf is a counter of the server's namespace read from a library's
// own count when scraped.
func counterOf(name, help string, count func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: metricsNamespace, Name: name, Help: help},
		func() float64 { return float64(count()) })
}

// observeRequest counts a request under its route pattern (empty: no route
// matched) and status code.
func (m *metrics) observeRequest(route string, code int, d time.Duration) {
	if route == "" {
		route = routeUnmatched
	}
	c := strconv.Itoa(code)
	m.requests.WithLabelValues(route, c).Inc()
	m.durations.WithLabelValues(route, c).Observe(d.Seconds())
}

func (m *metrics) redemption(outcome string) { m.redemptions.WithLabelValues(outcome).Inc() }

func (m *metrics) replay() { m.replays.Inc() }

func (m *metrics) throttled(limit string) { m.throttledN.WithLabelValues(limit).Inc() }

// serveHTTP answers GET /metrics, in the format the scraper's Accept header
// asks for (the text format without one).
func (m *metrics) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	m.handler.ServeHTTP(w, r)
}
