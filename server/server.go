package server

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/deployment"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/proxy"
	"github.com/cardvault/cardvault/redact"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/store"
)

// Defaults for zero fields of Config.
const (
	DefaultRequestTimeout = 30 * time.Second
	DefaultBearerTTL      = access.DefaultBearerTTL
	DefaultSweepEvery     = time.Minute
	// DefaultIdempotencyTTL is how long a response is kept for
	// Idempotency-Key replays.
	DefaultIdempotencyTTL = idempotency.DefaultTTL
	// DefaultMaxCaptureTTL is the longest a capture endpoint for existing
	// data may live unless Config.MaxCaptureTTL says otherwise: the hosted
	// vault's advice for update endpoints.
	DefaultMaxCaptureTTL = 24 * time.Hour
)

// hstsValue is the Strict-Transport-Security of every response served over
// TLS: two years, subdomains included (a card form on a subdomain is as
// sensitive as the API).
const hstsValue = "max-age=63072000; includeSubDomains"

// Config configures a Server. Store and Keyring are required; everything
// else has a default.
type Config struct {
	// Store keeps everything: vault keys and items, capture grants and
	// forms, the server's key and idempotency records. Several servers may
	// share one (pgstore). The server does not close it.
	Store *store.Store
	// Keyring is the master key. Servers that share a store need the same.
	Keyring *crypto.Keyring

	// Accounts are the HTTP Basic accounts of the vault/capture API.
	// Each account owns the vault keys it creates. The server keeps only
	// keyed hashes of their names and passwords.
	Accounts []access.Account
	// APIKeys are the keys of the secure-token API. The server keeps only
	// keyed hashes of them.
	APIKeys []access.APIKey

	// PublicURL is where clients reach the server ("https://vault.example"
	// or, behind a proxy that adds a prefix, "https://example.com/vault"):
	// hosted-form links and problem instances are made from it. Empty
	// means the request's Host.
	PublicURL string
	// ErrorsBaseURL is the base of the secure-token API's problem types;
	// empty means DefaultErrorsBaseURL.
	ErrorsBaseURL string

	// WorkFactor is the scrypt work factor of new vault keys' passphrase
	// locks; 0 means crypto.DefaultWorkFactor. Tests lower it.
	WorkFactor int
	// RequestTimeout bounds the context of each request (0 means
	// DefaultRequestTimeout). The http.Server's own timeouts bound reading
	// and writing; see examples/server.
	RequestTimeout time.Duration
	// BearerTTL is the lifetime of the access tokens POST /authorize
	// issues (0 means DefaultBearerTTL).
	BearerTTL time.Duration
	// IdempotencyTTL is how long a response is kept for Idempotency-Key
	// replays: 0 means DefaultIdempotencyTTL (24 h), the least the API
	// promises; less is refused.
	IdempotencyTTL time.Duration
	// SweepEvery is how often expired capture grants, single-use tokens and
	// idempotency records are swept (0 means DefaultSweepEvery; negative:
	// never, for tests that sweep by hand).
	SweepEvery time.Duration
	// MaxCaptureTTL is the longest a capture endpoint that stands for
	// existing data may live — one locked to a card (an update endpoint),
	// or a single-use-token endpoint; 0 means DefaultMaxCaptureTTL, less
	// than 0 no maximum. AllowUnexpiringCapture lets an endpoint never
	// expire (ttl=P0T): an open one always, a locked one only with no
	// maximum. Without it, P0T is a 400.
	MaxCaptureTTL          time.Duration
	AllowUnexpiringCapture bool
	// FailureLimits bound failed attempts — Basic passwords, API keys,
	// vault passphrases, capture secrets — per client and per account
	// (see access.FailureLimits); zero fields take their defaults.
	FailureLimits access.FailureLimits
	// Egress is the guard every outbound connection goes through (capture
	// webhooks): nil means a guard with no allow-list, HTTPS only — or
	// http:// too with AllowHTTPWebhooks.
	Egress *egress.Guard
	// AllowHTTPWebhooks lets capture webhooks use http:// URLs (tests,
	// private networks) when Egress is nil; otherwise they must be https://.
	AllowHTTPWebhooks bool
	// ProxyEgress is the guard of the proxy's requests to payment
	// providers (POST /v1/proxy/post and /get, a secure token's /proxy):
	// HTTPS only, whatever AllowHTTPWebhooks says. Nil means a guard with
	// no allow-list and ProxyTimeout as its request timeout.
	ProxyEgress *egress.Guard
	// ProxyAllowHosts, when not empty, are the only hosts proxy calls may
	// go to (-proxy-allow-hosts); empty means any public HTTPS host.
	ProxyAllowHosts []string
	// ProxyTimeout bounds a synchronous proxy call, every try included
	// (0 means proxy.DefaultTimeout, 20 s); it must be under
	// RequestTimeout.
	ProxyTimeout time.Duration
	// CVVTTL is how long a vault item keeps a CVV (-cvv-ttl; 0 means
	// vault.DefaultCVVTTL, an hour).
	CVVTTL time.Duration
	// Outbox configures the durable queue of webhooks; its Store, Keyring
	// and Logger are the server's. Its clock is its own (time.Now unless
	// set): its waits — backoff, leases — are real ones.
	Outbox outbox.Config
	// Audit configures the audit trail (retention, how often it is
	// chained); its Store, Keyring, Logger and Now are the server's.
	Audit audit.Config
	// DisableAudit keeps no audit trail (examples/server's -audit=false):
	// no service records or notes anything, and GET /v1/audit is not
	// served. For an embedder with a trail of its own, and for measuring
	// what the trail costs; a deployment that holds card data keeps one.
	DisableAudit bool
	// SeparateOps leaves GET /healthz, GET /readyz and GET /metrics off the
	// Server's own handler: they are served only by OpsHandler, on an
	// internal listener of their own (examples/server's -ops-addr).
	// Otherwise both serve them.
	SeparateOps bool

	// Logger receives the access log and errors, through
	// redact.NewHandler. Nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// The services (securetoken's among them) are opened by package
	// deployment, from Store and Keyring and the fields above.
}

// Server serves the vault/capture API and the secure-token API. It is an
// http.Handler; Shutdown (or Close) stops its background work.
type Server struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	accounts *access.Accounts // the vault/capture API's Basic accounts
	keys     *access.Keys     // the secure-token API's keys and bearer tokens
	limits   *access.Limits
	// deployment holds the services the handlers call (its Idempotency
	// refuses, under the request's key, what fails before the library's
	// work); Shutdown closes it.
	deployment  *deployment.Deployment
	metrics     *metrics
	mux         *http.ServeMux
	ops         *http.ServeMux
	publicURL   *url.URL // nil: the request's Host
	capturePath string   // [prefix]/v1/capture/
	errorsBase  string
	timeout     time.Duration

	closeOnce sync.Once
	closed    chan struct{} // closed when the deployment is closed
	closeErr  error
}

var _ http.Handler = (*Server)(nil)

// New returns a Server over cfg.Store. It opens the deployment's services
// (package deployment: it loads or, on the first start of a deployment,
// creates the deployment's key), and starts their background work:
// sweeping expired grants, single-use tokens and idempotency records,
// delivering the outbox's jobs.
func New(cfg Config) (*Server, error) {
	cfg, err := withDefaults(cfg)
	if err != nil {
		return nil, err
	}
	s := &Server{
		log: slog.New(redact.NewHandler(cfg.Logger.Handler())), now: cfg.Now,
		mux: http.NewServeMux(), capturePath: capture.DefaultCapturePath,
		errorsBase: strings.TrimSuffix(cfg.ErrorsBaseURL, "#"), timeout: cfg.RequestTimeout,
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, errors.New("server: PublicURL must be an http(s) URL with a host and no query")
		}
		s.publicURL = u
		s.capturePath = strings.TrimSuffix(u.Path, "/") + capture.DefaultCapturePath
	}

	if s.accounts, err = access.NewAccounts(cfg.Accounts); err != nil {
		return nil, err
	}
	if s.limits, err = access.NewLimits(cfg.FailureLimits, cfg.Now); err != nil {
		return nil, err
	}
	maxCaptureTTL := cfg.MaxCaptureTTL
	switch {
	case maxCaptureTTL == 0:
		maxCaptureTTL = DefaultMaxCaptureTTL
	case maxCaptureTTL < 0:
		maxCaptureTTL = 0 // capture's "no maximum"
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := deployment.Open(ctx, deployment.Config{
		Store: cfg.Store, Keyring: cfg.Keyring, WorkFactor: cfg.WorkFactor, CVVTTL: cfg.CVVTTL,
		MaxLockedTTL: maxCaptureTTL, AllowUnexpiring: cfg.AllowUnexpiringCapture, IdempotencyTTL: cfg.IdempotencyTTL,
		Egress: cfg.Egress, AllowHTTPWebhooks: cfg.AllowHTTPWebhooks,
		ProxyEgress: cfg.ProxyEgress, ProxyAllowHosts: cfg.ProxyAllowHosts, ProxyTimeout: cfg.ProxyTimeout,
		Outbox: cfg.Outbox, Audit: cfg.Audit, DisableAudit: cfg.DisableAudit, Logger: s.log, Now: cfg.Now,
	})
	if err != nil {
		return nil, err
	}
	if s.keys, err = access.NewKeys(cfg.APIKeys, d.Hasher, cfg.BearerTTL, cfg.Now); err != nil {
		d.Close()
		return nil, err
	}
	// The configuration's passwords and keys are not kept.
	cfg.Accounts, cfg.APIKeys = nil, nil
	s.cfg, s.deployment = cfg, d
	s.metrics = newMetrics(s.deployment.Vault.Stats, cfg.Store.Stats)
	s.metrics.registry.MustRegister(outboxCollectors(s.deployment.Outbox)...)

	s.ops = http.NewServeMux()
	s.registerOpsRoutes(s.ops)
	if !cfg.SeparateOps {
		s.registerOpsRoutes(s.mux)
	}
	s.registerVaultRoutes(s.mux)
	s.registerOutboxRoutes(s.mux)
	if !cfg.DisableAudit {
		s.registerAuditRoutes(s.mux)
	}
	s.mux.HandleFunc("POST /authorize", s.authorize)
	s.registerTokenRoutes(s.mux)
	s.registerProxyRoutes(s.mux)
	s.registerRuleRoutes(s.mux)
	d.Start(cfg.SweepEvery)
	return s, nil
}

// withDefaults returns cfg with its zero fields set to their defaults, or
// why it cannot serve.
func withDefaults(cfg Config) (Config, error) {
	if cfg.Store == nil || cfg.Keyring == nil {
		return cfg, errors.New("server: Config.Store and Config.Keyring are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.IdempotencyTTL == 0 {
		cfg.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if cfg.IdempotencyTTL < DefaultIdempotencyTTL {
		return cfg, errors.New("server: IdempotencyTTL is under the 24 hours the secure-token API promises")
	}
	if cfg.SweepEvery == 0 {
		cfg.SweepEvery = DefaultSweepEvery
	}
	if cfg.ErrorsBaseURL == "" {
		cfg.ErrorsBaseURL = DefaultErrorsBaseURL
	}
	if cfg.ProxyTimeout == 0 {
		cfg.ProxyTimeout = proxy.DefaultTimeout
	}
	if cfg.ProxyTimeout < 0 || cfg.ProxyTimeout >= cfg.RequestTimeout {
		return cfg, errors.New("server: ProxyTimeout must be positive and under RequestTimeout")
	}
	return cfg, nil
}

// ServeHTTP serves a request: it gives it a request id (X-Request-Id) and a
// deadline (Config.RequestTimeout), adds Strict-Transport-Security when the
// request came over TLS, routes it, recovers a panic into a 500,
// counts it in the metrics by route pattern and status, and logs it — the
// method, route pattern, path, status, size and duration, never a query
// string or a header.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &statusWriter{ResponseWriter: w}
	id := newRequestID()
	rw.Header().Set("X-Request-Id", id)
	if r.TLS != nil {
		// Only over TLS: RFC 6797 section 7.2 forbids it over plain
		// HTTP, where a browser ignores it anyway.
		rw.Header().Set("Strict-Transport-Security", hstsValue)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	info := &requestInfo{}
	ctx = context.WithValue(ctx, requestInfoKey{}, info)
	// Who acts, for the services' audit events: the client's address
	// now, the credentials once a middleware has checked them.
	ctx = audit.WithActor(ctx, audit.Actor{Client: r.RemoteAddr})
	r = r.WithContext(ctx)

	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.ErrorContext(ctx, "panic serving a request", "request_id", id, "route", r.Pattern,
				"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			if !rw.wrote {
				s.writeServerError(rw, r)
			}
		}
		status := rw.status
		if status == 0 {
			status = http.StatusOK
		}
		d := time.Since(start)
		s.metrics.observeRequest(r.Pattern, status, d)
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		s.log.LogAttrs(ctx, level, "request", slog.String("request_id", id), slog.String("method", r.Method),
			slog.String("route", r.Pattern), slog.String("path", r.URL.Path), slog.Int("status", status),
			slog.Int64("bytes", rw.bytes), slog.Duration("duration", d), slog.String("remote", r.RemoteAddr),
			slog.String("account", info.account), slog.String("api_client", info.client))
	}()

	_, pattern := s.mux.Handler(r)
	if pattern == "" {
		s.unmatched(rw, r)
		return
	}
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		r.Pattern = pattern // for the metrics and the log line
		s.malformedQuery(rw, r)
		return
	}
	s.mux.ServeHTTP(rw, r)
}

// malformedQuery answers 400 to a request whose query string does not
// parse (a bad %-escape, a ';'). Request.URL.Query would drop the broken
// pairs without a word, and a request would then run without a parameter
// its client sent: a list filtered by a malformed filter would answer
// unfiltered.
func (s *Server) malformedQuery(w http.ResponseWriter, r *http.Request) {
	const msg = "the query string is malformed: an invalid %-escape or a ';'"
	if tokenAPI(r) {
		p := s.newProblem(securetoken.ProblemBadRequest)
		p.Errors = []securetoken.ProblemError{{Parameter: "query", Detail: "malformed query string", Message: msg}}
		writeProblem(w, p)
		return
	}
	writeError(w, http.StatusBadRequest, msg)
}

// unmatched answers a request no route matches — 404, or 405 with Allow —
// in the shape of the API its path belongs to, instead of net/http's text.
func (s *Server) unmatched(w http.ResponseWriter, r *http.Request) {
	h, _ := s.mux.Handler(r)
	var probe idempotency.Recorder // what the mux would answer, not sent
	h.ServeHTTP(&probe, r)
	got := probe.Response()
	status := got.Status
	if allow := got.Header.Get("Allow"); allow != "" {
		w.Header().Set("Allow", allow)
	}
	if tokenAPI(r) {
		p := s.newProblem(securetoken.ProblemNotFound)
		if status == http.StatusMethodNotAllowed {
			p.Status, p.Title, p.Detail = status, "Method not allowed", "The resource does not support this method"
		}
		writeProblem(w, p)
		return
	}
	msg := "not found"
	if status == http.StatusMethodNotAllowed {
		msg = "method not allowed"
	} else {
		status = http.StatusNotFound
	}
	writeError(w, status, msg)
}

// tokenAPI reports whether r is for the secure-token API, whose errors are
// problem documents.
func tokenAPI(r *http.Request) bool {
	return r.URL.Path == "/authorize" || strings.HasPrefix(r.URL.Path, "/v1/processing-terminals/")
}

func (s *Server) writeServerError(w http.ResponseWriter, r *http.Request) {
	if tokenAPI(r) {
		writeProblem(w, s.newProblem(securetoken.ProblemAPIError))
		return
	}
	writeError(w, http.StatusInternalServerError, "internal error")
}

// requestInfo is what the authentication middlewares learn about a request
// for its log line: they run deeper than ServeHTTP, which logs.
type requestInfo struct {
	account string // the Basic account
	client  string // the API client's id
}

type requestInfoKey struct{}

func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(requestInfoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// withActor returns ctx with its audit Actor changed by set: what an
// authentication middleware learnt about who sends the request.
func withActor(ctx context.Context, set func(*audit.Actor)) context.Context {
	a := audit.ActorFrom(ctx)
	set(&a)
	return audit.WithActor(ctx, a)
}

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Shutdown stops the background work and closes the services
// (deployment.Deployment.Close: the capture service waits for webhook
// deliveries in flight, the vault wipes unlocked keys), waiting at most
// until ctx ends; the closing goes on after that, and
// a later Shutdown or Close waits for it. It does not close the store, and
// does not stop the http.Server: call that one's Shutdown first, so that no
// request is in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.closed = make(chan struct{})
		go func() {
			s.closeErr = s.deployment.Close()
			close(s.closed)
		}()
	})
	select {
	case <-s.closed:
		return s.closeErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close is Shutdown without a deadline.
func (s *Server) Close() error { return s.Shutdown(context.Background()) }

// secureTokenRoute wraps a handler of the secure-token API with what every
// one of its routes needs, in this order:
//
//  1. requireBearer: 401 not-authorized without a valid access token, 403
//     forbidden for a {processingTerminalId} outside the API key's;
//  2. 406 not-acceptable when the Accept header admits no JSON (except on
//     DELETE, which answers without a body);
//  3. for POST, PUT and PATCH, 415 unsupported-media-type unless the body is
//     application/json (a PATCH may also say application/json-patch+json);
//  4. 413 payload-too-large at once when the Content-Length is over
//     securetoken.MaxBodyBytes;
//  5. for POST and PATCH, requireIdempotency: 400 idempotency-key-missing,
//     409 idempotency-key-in-use, replays; it reads the body, at most
//     securetoken.MaxBodyBytes (413 payload-too-large beyond). Other
//     methods get the same body cap.
//
// The handler finds the API client with clientFrom and writes its errors
// with writeProblemFor.
func (s *Server) secureTokenRoute(h http.Handler) http.Handler {
	inner := s.requireIdempotency(h, securetoken.MaxBodyBytes)
	return s.requireBearer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A DELETE answers 204 without a representation, so its Accept
		// header has nothing to refuse (and the contract declares no 406
		// for it).
		if r.Method != http.MethodDelete && !acceptsJSON(r) {
			writeProblem(w, s.newProblem(securetoken.ProblemNotAcceptable))
			return
		}
		switch r.Method {
		case http.MethodPost, http.MethodPut, http.MethodPatch:
			mt, ok := mediaType(r)
			if !ok || !(mt == "application/json" || r.Method == http.MethodPatch && mt == "application/json-patch+json") {
				writeProblem(w, s.newProblem(securetoken.ProblemMediaType))
				return
			}
		}
		if r.ContentLength > securetoken.MaxBodyBytes {
			// Refused before a byte of it is read: no waiting for a body
			// that would be refused anyway.
			writeProblem(w, s.newProblem(securetoken.ProblemTooLarge))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, securetoken.MaxBodyBytes)
		inner.ServeHTTP(w, r)
	}))
}

// newRequestID returns a random id for a request's log lines and its
// X-Request-Id header.
func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}
