// Command server is cardvault's reference server: the vault/capture API and
// the secure-token API over the embedded store, or over PostgreSQL.
//
//	go run ./examples/server
//
// With no configuration it listens on 127.0.0.1:8080 in plain HTTP and
// keeps everything under ./cardvault-data (created 0700): the bbolt store
// cardvault.db, the master key master.key (generated 0600 on the first
// start) and — because no credentials were configured — dev-credentials.json,
// a generated Basic account and API key that it prints.
//
// Every flag has an environment variable, which the flag overrides:
//
//	-addr                CARDVAULT_ADDR                listen address (127.0.0.1:8080)
//	-data                CARDVAULT_DATA                data directory (./cardvault-data)
//	-postgres            CARDVAULT_POSTGRES_URL        use PostgreSQL instead of the embedded store
//	-public-url          CARDVAULT_PUBLIC_URL          where clients reach the server (form links)
//	-basic-auth          CARDVAULT_BASIC_AUTH          user:password[,user2:password2] (vault/capture API)
//	-api-keys            CARDVAULT_API_KEYS            key:terminal1,terminal2[;key2:*] (secure-token API)
//	-master-key-file     CARDVAULT_MASTER_KEY_FILE     master key file (<data>/master.key)
//	                     CARDVAULT_MASTER_KEY          the master key's identity text itself (no file)
//	-scrypt-work-factor  CARDVAULT_SCRYPT_WORK_FACTOR  scrypt work factor of new vault keys (18)
//	-allow-http-webhooks CARDVAULT_ALLOW_HTTP_WEBHOOKS capture webhooks may use http:// URLs
//	-max-capture-ttl     CARDVAULT_MAX_CAPTURE_TTL     longest life of a capture endpoint locked to a card (24h; 0: none)
//	-allow-unexpiring-capture CARDVAULT_ALLOW_UNEXPIRING_CAPTURE  capture endpoints may never expire (ttl=P0T)
//	-egress-allow        CARDVAULT_EGRESS_ALLOW        private destinations outbound calls may reach: host, host:port or CIDR, comma-separated
//	-egress-ca-file      CARDVAULT_EGRESS_CA_FILE      a PEM file of extra roots for outbound TLS
//	-proxy-allow-hosts   CARDVAULT_PROXY_ALLOW_HOSTS   the only hosts proxy calls may go to, comma-separated (any public HTTPS host)
//	-proxy-timeout       CARDVAULT_PROXY_TIMEOUT       the most a synchronous proxy call waits, every try included (20s)
//	-cvv-ttl             CARDVAULT_CVV_TTL             how long a vault item keeps a CVV (1h)
//	-outbox-lease        CARDVAULT_OUTBOX_LEASE        how long a worker holds a webhook job before another process may take it over (30s)
//	-log-format          CARDVAULT_LOG_FORMAT          text or json
//	-tls-cert            CARDVAULT_TLS_CERT            serve TLS with this certificate chain (PEM)
//	-tls-key             CARDVAULT_TLS_KEY             and this private key (PEM)
//	-acme-domains        CARDVAULT_ACME_DOMAINS        serve TLS with certificates from ACME for these names
//	-acme-email          CARDVAULT_ACME_EMAIL          contact address of the ACME account (optional)
//	-acme-directory      CARDVAULT_ACME_DIRECTORY      ACME directory URL (Let's Encrypt)
//	-acme-http-addr      CARDVAULT_ACME_HTTP_ADDR      answer HTTP-01 challenges here, e.g. :80 (off)
//	-insecure-http       CARDVAULT_INSECURE_HTTP       allow plain HTTP on a non-loopback -addr
//	-ops-addr            CARDVAULT_OPS_ADDR            serve /healthz, /readyz, /metrics here only (off)
//	-audit               CARDVAULT_AUDIT               keep the audit trail (true; false: no trail, GET /v1/audit off)
//	-audit-retention     CARDVAULT_AUDIT_RETENTION     how long audit entries are kept, ISO 8601 (P400D; P0D: for ever)
//	-rotate-master-key                                 a new master identity, every key re-wrapped; then exit
//	-verify-audit                                      check the whole audit trail, print the number of entries; then exit
//	-export-audit        FILE or -                     write the audit trail as JSON lines (for a SIEM); then exit
//	-pprof               CARDVAULT_PPROF_ADDR          serve net/http/pprof on this loopback address (off)
//
// Prefer the environment for credentials: flags show in the process list.
// Account passwords and API keys have 16 characters at least.
//
// # Capture endpoints
//
// An endpoint locked to a card (an update endpoint), and a secure-token
// capture endpoint, lives at most -max-capture-ttl (24h by default, the
// hosted vault's advice; a Go duration such as 30m or 72h, 0 for no
// maximum): a longer ttl is a 400. An endpoint that never expires
// (ttl=P0T) is a 400 unless -allow-unexpiring-capture is given, and then
// only an open one (that stores new cards) unless -max-capture-ttl is 0.
//
// # TLS
//
// Card data and passphrases cross the API, so the server refuses to serve
// plain HTTP on an address that is not loopback: give it a certificate
// (-tls-cert and -tls-key) or ACME names (-acme-domains), or, when a proxy
// in front terminates TLS, say so with -insecure-http. It serves TLS 1.2 and
// 1.3 only, and every response over TLS carries Strict-Transport-Security.
// The certificate files are watched: each handshake stats them, and a
// changed pair is loaded for the next connections (a pair that does not
// load is logged and the previous one kept). With -acme-domains it gets
// and renews certificates from the ACME CA (Let's Encrypt unless
// -acme-directory names another), cached in <data>/acme (0700); it answers
// TLS-ALPN-01 challenges on the API listener, which the CA must reach on
// port 443, and HTTP-01 challenges on -acme-http-addr when given (the CA
// reaches it on port 80; everything else there is redirected to https).
// -public-url must then be https://.
//
// # Ops endpoints
//
// /healthz, /readyz and /metrics are on the API listener unless -ops-addr
// gives them a plain-HTTP listener of their own, which should be internal:
// the load balancer's and the monitoring's. -pprof (e.g. 127.0.0.1:6060) is
// for profiling under load; it is off unless given, and refuses any address
// that is not a loopback IP, since profiles show the process's memory. It
// listens on its own port, or shares the ops listener when both flags name
// the same address.
//
// # Start-up
//
// The listeners are bound first; only then are the data directory, the
// master key and the store created or opened, so that a start that fails
// (a busy port) leaves nothing behind. Several servers share one
// PostgreSQL when each gets the same CARDVAULT_POSTGRES_URL and the same
// master key.
//
// SIGINT or SIGTERM stops it gracefully: requests in flight finish (up to
// 20 s), background work stops, the store closes.
//
// # The audit trail
//
// -verify-audit opens the store and the master key as the server would
// (the same -data, -postgres and master-key settings), binds no listener
// and writes nothing: it checks the whole trail (package audit's Verify),
// prints the number of entries and exits 0 when it is intact; otherwise it
// names the first bad entry and exits 1. -export-audit writes every entry
// as a JSON line to a file (0600) or, with "-", to standard output, and
// records that it did. On the embedded store both need the server stopped:
// bbolt lets one process open the file.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/acme/autocert"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/deployment"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/redact"
	"github.com/cardvault/cardvault/server"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/boltstore"
	"github.com/cardvault/cardvault/store/pgstore"
)

func main() {
	// The signal handler is in place before anyone can know the address:
	// a SIGTERM sent right after the "listening" line is a graceful stop,
	// not the default action that kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cardvault:", err)
		os.Exit(1)
	}
}

type options struct {
	addr, data, postgres, publicURL, basicAuth, apiKeys, masterKeyFile, logFormat, pprof  string
	tlsCert, tlsKey, acmeEmail, acmeDirectory, acmeHTTPAddr, opsAddr                      string
	acmeDomains, proxyAllowHosts                                                          []string
	egressAllow                                                                           []egress.AllowEntry
	egressRoots                                                                           []*x509.Certificate
	workFactor                                                                            int
	outboxLease, maxCaptureTTL, auditRetention, proxyTimeout, cvvTTL                      time.Duration
	allowHTTPWebhooks, rotateMasterKey, insecureHTTP, allowUnexpiringCapture, verifyAudit bool
	audit                                                                                 bool
	exportAudit                                                                           string

	// acmeHTTPClient is the ACME client's (nil: http.DefaultClient); the
	// tests set it to trust their own CA.
	acmeHTTPClient *http.Client
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", env("CARDVAULT_ADDR", "127.0.0.1:8080"), "listen address")
	fs.StringVar(&o.data, "data", env("CARDVAULT_DATA", "./cardvault-data"), "data directory")
	fs.StringVar(&o.postgres, "postgres", env("CARDVAULT_POSTGRES_URL", ""), "PostgreSQL URL (instead of the embedded store)")
	fs.StringVar(&o.publicURL, "public-url", env("CARDVAULT_PUBLIC_URL", ""), "where clients reach the server, for form links")
	fs.StringVar(&o.basicAuth, "basic-auth", env("CARDVAULT_BASIC_AUTH", ""), "vault/capture accounts user:password[,...] (prefer the env variable)")
	fs.StringVar(&o.apiKeys, "api-keys", env("CARDVAULT_API_KEYS", ""), "secure-token API keys key:terminal,...[;...] (prefer the env variable)")
	fs.StringVar(&o.masterKeyFile, "master-key-file", env("CARDVAULT_MASTER_KEY_FILE", ""), "master key file (default <data>/master.key)")
	fs.StringVar(&o.logFormat, "log-format", env("CARDVAULT_LOG_FORMAT", "text"), "log format: text or json")
	fs.StringVar(&o.pprof, "pprof", env("CARDVAULT_PPROF_ADDR", ""), "serve net/http/pprof on this loopback address (off when empty)")
	fs.StringVar(&o.tlsCert, "tls-cert", env("CARDVAULT_TLS_CERT", ""), "serve TLS with this certificate chain file (PEM), reloaded when it changes")
	fs.StringVar(&o.tlsKey, "tls-key", env("CARDVAULT_TLS_KEY", ""), "the private key file (PEM) of -tls-cert")
	acmeDomains := fs.String("acme-domains", env("CARDVAULT_ACME_DOMAINS", ""), "serve TLS with certificates from ACME for these host names (comma-separated)")
	fs.StringVar(&o.acmeEmail, "acme-email", env("CARDVAULT_ACME_EMAIL", ""), "contact address of the ACME account (optional)")
	fs.StringVar(&o.acmeDirectory, "acme-directory", env("CARDVAULT_ACME_DIRECTORY", autocert.DefaultACMEDirectory), "ACME directory URL")
	fs.StringVar(&o.acmeHTTPAddr, "acme-http-addr", env("CARDVAULT_ACME_HTTP_ADDR", ""), "answer ACME HTTP-01 challenges on this address, e.g. :80 (off when empty)")
	egressAllow := fs.String("egress-allow", env("CARDVAULT_EGRESS_ALLOW", ""), "private destinations outbound calls may reach: host, host:port or CIDR, comma-separated")
	egressCA := fs.String("egress-ca-file", env("CARDVAULT_EGRESS_CA_FILE", ""), "a PEM file of extra roots for outbound TLS")
	fs.StringVar(&o.opsAddr, "ops-addr", env("CARDVAULT_OPS_ADDR", ""), "serve /healthz, /readyz and /metrics on this internal address only (off: on -addr)")
	wf, err := strconv.Atoi(env("CARDVAULT_SCRYPT_WORK_FACTOR", "0"))
	if err != nil {
		return o, errors.New("CARDVAULT_SCRYPT_WORK_FACTOR must be a number")
	}
	fs.IntVar(&o.workFactor, "scrypt-work-factor", wf, "scrypt work factor of new vault keys (0: the default, 18)")
	lease, err := time.ParseDuration(env("CARDVAULT_OUTBOX_LEASE", "30s"))
	if err != nil {
		return o, errors.New("CARDVAULT_OUTBOX_LEASE must be a duration such as 30s")
	}
	fs.DurationVar(&o.outboxLease, "outbox-lease", lease, "how long a worker holds a webhook job before another process may take it over")
	proxyAllowHosts := fs.String("proxy-allow-hosts", env("CARDVAULT_PROXY_ALLOW_HOSTS", ""), "the only hosts proxy calls may go to, comma-separated (empty: any public HTTPS host)")
	proxyTimeout, err := time.ParseDuration(env("CARDVAULT_PROXY_TIMEOUT", "20s"))
	if err != nil {
		return o, errors.New("CARDVAULT_PROXY_TIMEOUT must be a duration such as 20s")
	}
	fs.DurationVar(&o.proxyTimeout, "proxy-timeout", proxyTimeout, "the most a synchronous proxy call waits for the provider, every try included")
	cvvTTL, err := time.ParseDuration(env("CARDVAULT_CVV_TTL", "1h"))
	if err != nil {
		return o, errors.New("CARDVAULT_CVV_TTL must be a duration such as 1h")
	}
	fs.DurationVar(&o.cvvTTL, "cvv-ttl", cvvTTL, "how long a vault item keeps a card verification code")
	allow, _ := strconv.ParseBool(env("CARDVAULT_ALLOW_HTTP_WEBHOOKS", "false"))
	fs.BoolVar(&o.allowHTTPWebhooks, "allow-http-webhooks", allow, "capture webhooks may use http:// URLs")
	insecure, err := strconv.ParseBool(env("CARDVAULT_INSECURE_HTTP", "false"))
	if err != nil {
		return o, errors.New("CARDVAULT_INSECURE_HTTP must be true or false")
	}
	fs.BoolVar(&o.insecureHTTP, "insecure-http", insecure, "allow plain HTTP on an -addr that is not loopback (TLS terminated in front)")
	maxTTL, err := time.ParseDuration(env("CARDVAULT_MAX_CAPTURE_TTL", server.DefaultMaxCaptureTTL.String()))
	if err != nil {
		return o, errors.New("CARDVAULT_MAX_CAPTURE_TTL must be a duration such as 24h or 30m (0: no maximum)")
	}
	fs.DurationVar(&o.maxCaptureTTL, "max-capture-ttl", maxTTL, "the longest a capture endpoint locked to a card (or for a single-use token) may live, e.g. 24h or 30m (0: no maximum)")
	unexpiring, err := strconv.ParseBool(env("CARDVAULT_ALLOW_UNEXPIRING_CAPTURE", "false"))
	if err != nil {
		return o, errors.New("CARDVAULT_ALLOW_UNEXPIRING_CAPTURE must be true or false")
	}
	fs.BoolVar(&o.allowUnexpiringCapture, "allow-unexpiring-capture", unexpiring, "capture endpoints may never expire (ttl=P0T): open ones; locked ones too with -max-capture-ttl 0")
	fs.BoolVar(&o.rotateMasterKey, "rotate-master-key", false, "add a new master identity to the key file, re-wrap every key under it, and exit")
	keepAudit, err := strconv.ParseBool(env("CARDVAULT_AUDIT", "true"))
	if err != nil {
		return o, errors.New("CARDVAULT_AUDIT must be true or false")
	}
	fs.BoolVar(&o.audit, "audit", keepAudit, "keep the tamper-evident audit trail of every access to card data (false: none, and GET /v1/audit is off)")
	retention := fs.String("audit-retention", env("CARDVAULT_AUDIT_RETENTION", "P400D"), "how long audit entries are kept: an ISO 8601 duration (P0D: for ever)")
	fs.BoolVar(&o.verifyAudit, "verify-audit", false, "check the whole audit trail, print the number of entries, and exit (1 when it does not verify)")
	fs.StringVar(&o.exportAudit, "export-audit", "", "write the audit trail as JSON lines to this file (- for standard output), and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	err = o.finish(fs, unparsedFlags{
		acmeDomains: *acmeDomains, egressAllow: *egressAllow, egressCA: *egressCA,
		proxyAllowHosts: *proxyAllowHosts, auditRetention: *retention,
	})
	return o, err
}

// unparsedFlags are the flags read into options only once every flag is
// in: lists, a file and an ISO 8601 duration.
type unparsedFlags struct {
	acmeDomains, egressAllow, egressCA, proxyAllowHosts, auditRetention string
}

// finish reads the unparsed flags into o, fills in the defaults that
// depend on other flags, and checks the flags against each other.
func (o *options) finish(fs *flag.FlagSet, raw unparsedFlags) error {
	var err error
	if o.auditRetention, err = capture.ParseDuration(raw.auditRetention); err != nil {
		return fmt.Errorf("-audit-retention: %w", err)
	}
	if o.auditRetention == 0 {
		o.auditRetention = -1 // audit.Config: kept for ever
	}
	modes := 0
	for _, on := range []bool{o.rotateMasterKey, o.verifyAudit, o.exportAudit != ""} {
		if on {
			modes++
		}
	}
	if modes > 1 {
		return errors.New("-rotate-master-key, -verify-audit and -export-audit each run alone")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.masterKeyFile == "" {
		o.masterKeyFile = filepath.Join(o.data, "master.key")
	}
	if o.maxCaptureTTL < 0 {
		return errors.New("-max-capture-ttl cannot be negative (0: no maximum)")
	}
	if o.pprof != "" && !loopbackAddr(o.pprof) {
		return errors.New("-pprof must be a loopback address such as 127.0.0.1:6060")
	}
	if (o.tlsCert == "") != (o.tlsKey == "") {
		return errors.New("-tls-cert and -tls-key go together")
	}
	if raw.acmeDomains != "" {
		if o.tlsCert != "" {
			return errors.New("-acme-domains or -tls-cert and -tls-key: one source of certificates, not both")
		}
		if o.acmeDomains, err = parseACMEDomains(raw.acmeDomains); err != nil {
			return err
		}
	} else if o.acmeEmail != "" || o.acmeHTTPAddr != "" {
		return errors.New("-acme-email and -acme-http-addr need -acme-domains")
	}
	if o.servesTLS() && o.publicURL != "" && !strings.HasPrefix(strings.ToLower(o.publicURL), "https://") {
		return errors.New("-public-url must be https:// when the server serves TLS")
	}
	if o.egressAllow, err = egress.ParseAllowList(raw.egressAllow); err != nil {
		return fmt.Errorf("-egress-allow: %w", err)
	}
	if o.proxyAllowHosts, err = parseHosts(raw.proxyAllowHosts); err != nil {
		return fmt.Errorf("-proxy-allow-hosts: %w", err)
	}
	if o.proxyTimeout <= 0 || o.proxyTimeout >= server.DefaultRequestTimeout {
		return fmt.Errorf("-proxy-timeout must be over 0 and under %v (a request's deadline)", server.DefaultRequestTimeout)
	}
	if o.cvvTTL <= 0 {
		return errors.New("-cvv-ttl must be over 0")
	}
	if raw.egressCA != "" {
		if o.egressRoots, err = egress.LoadRoots(raw.egressCA); err != nil {
			return fmt.Errorf("-egress-ca-file: %w", err)
		}
	}
	return nil
}

// parseHosts reads -proxy-allow-hosts: comma-separated host names, each
// an allow-list host entry without a port (egress.ParseAllowList's rules).
func parseHosts(s string) ([]string, error) {
	entries, err := egress.ParseAllowList(s)
	if err != nil {
		return nil, err
	}
	var hosts []string
	for i, e := range entries {
		h := e.String()
		if strings.ContainsAny(h, ":/") {
			return nil, fmt.Errorf("entry %d: a host name, without a port or a CIDR prefix", i+1)
		}
		hosts = append(hosts, h)
	}
	return hosts, nil
}

// servesTLS reports whether the API listener serves TLS.
func (o options) servesTLS() bool { return o.tlsCert != "" || len(o.acmeDomains) > 0 }

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// run serves until ctx ends (SIGINT or SIGTERM), then stops gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	return serve(ctx, o, stdout, stderr)
}

func serve(ctx context.Context, o options, stdout, stderr io.Writer) error {
	handler, err := logHandler(o.logFormat, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(handler)

	switch {
	case o.rotateMasterKey:
		return rotateMasterKey(o, stdout, logger)
	case o.verifyAudit:
		return verifyAudit(o, stdout)
	case o.exportAudit != "":
		return exportAudit(o, stderr, stdout, logger)
	}
	// Every outbound connection — webhooks, the ACME CA — goes through
	// the one egress guard.
	guard, err := egress.New(egress.Config{Allow: o.egressAllow, ExtraRoots: o.egressRoots, AllowHTTP: o.allowHTTPWebhooks})
	if err != nil {
		return err
	}
	// The proxy's door: the same allow-list and roots, HTTPS only, and
	// each request may take as long as a synchronous call does.
	proxyGuard, err := egress.New(egress.Config{Allow: o.egressAllow, ExtraRoots: o.egressRoots, Timeout: o.proxyTimeout})
	if err != nil {
		return err
	}
	if o.acmeHTTPClient == nil {
		o.acmeHTTPClient = guard.Client()
	}
	srvTLS, err := newServerTLS(o, logger)
	if err != nil {
		return err
	}
	// Every listener is bound before anything is written: a start that
	// fails here (a busy port, a refused address) leaves no data
	// directory and no master key behind.
	lns, err := listen(o)
	if err != nil {
		return err
	}
	defer lns.close()
	if !o.servesTLS() && !isLoopback(lns.api.Addr()) {
		if !o.insecureHTTP {
			return fmt.Errorf("refusing to serve plain HTTP on %s, which is not a loopback address: card data and passphrases would cross the network in clear. "+
				"Serve TLS (-tls-cert and -tls-key, or -acme-domains), or, when a proxy in front terminates TLS, pass -insecure-http (CARDVAULT_INSECURE_HTTP=true)", o.addr)
		}
		logger.Warn("serving plain HTTP on an address that is not loopback (-insecure-http): TLS must be terminated in front", "addr", lns.api.Addr().String())
	}

	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return err
	}
	keyring, err := openKeyring(o, logger)
	if err != nil {
		return err
	}
	cfg := serverConfig(o, keyring, guard, proxyGuard, lns.ops != nil, logger)
	dev, err := setCredentials(&cfg, o, logger)
	if err != nil {
		return err
	}
	if cfg.Store, err = openStore(o); err != nil {
		return err
	}
	defer cfg.Store.Close()
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}

	r := startServing(srv, lns, srvTLS, slog.NewLogLogger(handler, slog.LevelWarn))
	writeBanner(stdout, o, lns, dev, srvTLS != nil)
	return r.wait(ctx, srv, logger)
}

// logHandler is the log handler -log-format names, through
// redact.NewHandler.
func logHandler(format string, stderr io.Writer) (slog.Handler, error) {
	switch format {
	case "text":
		return redact.NewHandler(slog.NewTextHandler(stderr, nil)), nil
	case "json":
		return redact.NewHandler(slog.NewJSONHandler(stderr, nil)), nil
	}
	return nil, errors.New("-log-format must be text or json")
}

// serverConfig is the server's configuration from the flags, without the
// store and the credentials.
func serverConfig(o options, keyring *crypto.Keyring, guard, proxyGuard *egress.Guard, separateOps bool, logger *slog.Logger) server.Config {
	cfg := server.Config{
		Keyring: keyring, PublicURL: o.publicURL, WorkFactor: o.workFactor,
		Egress: guard, Outbox: outbox.Config{Lease: o.outboxLease}, Logger: logger, SeparateOps: separateOps,
		ProxyEgress: proxyGuard, ProxyAllowHosts: o.proxyAllowHosts, ProxyTimeout: o.proxyTimeout, CVVTTL: o.cvvTTL,
		MaxCaptureTTL: o.maxCaptureTTL, AllowUnexpiringCapture: o.allowUnexpiringCapture,
		// bbolt runs one write transaction at a time: entries are chained
		// in the transactions that write them. On PostgreSQL they would
		// all conflict on the chain's head (see package audit).
		Audit:        audit.Config{Retention: o.auditRetention, ChainInTransaction: o.postgres == ""},
		DisableAudit: !o.audit,
	}
	if o.maxCaptureTTL == 0 {
		cfg.MaxCaptureTTL = -1 // the flag's 0: no maximum
	}
	return cfg
}

// setCredentials sets the accounts and API keys the flags give, or — when
// they give none — the dev credentials kept in the data directory, which
// it returns.
func setCredentials(cfg *server.Config, o options, logger *slog.Logger) (*access.DevCredentials, error) {
	var err error
	if o.basicAuth == "" && o.apiKeys == "" {
		dc, created, err := access.LoadOrCreateDevCredentials(filepath.Join(o.data, "dev-credentials.json"))
		if err != nil {
			return nil, err
		}
		if created {
			logger.Info("dev mode: generated credentials", "file", filepath.Join(o.data, "dev-credentials.json"))
		}
		cfg.Accounts, cfg.APIKeys = []access.Account{dc.Account}, []access.APIKey{dc.APIKey}
		return &dc, nil
	}
	if o.basicAuth != "" {
		if cfg.Accounts, err = access.ParseAccounts(o.basicAuth); err != nil {
			return nil, err
		}
	}
	if o.apiKeys != "" {
		if cfg.APIKeys, err = access.ParseAPIKeys(o.apiKeys); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// httpServers are the http.Servers serving, and where the first of them
// to stop says why.
type httpServers struct {
	servers []*http.Server
	errs    chan error
}

// startServing serves srv on the API listener (with TLS when srvTLS is
// not nil) and the internal listeners: ops, pprof and ACME challenges.
func startServing(srv *server.Server, lns *listeners, srvTLS *serverTLS, errorLog *log.Logger) *httpServers {
	api := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      server.DefaultRequestTimeout + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errorLog,
	}
	r := &httpServers{servers: []*http.Server{api}, errs: make(chan error, 4)}
	if srvTLS != nil {
		api.TLSConfig = srvTLS.config
		go func() { r.errs <- api.ServeTLS(lns.api, "", "") }()
	} else {
		go func() { r.errs <- api.Serve(lns.api) }()
	}
	// The ops and pprof listeners: internal, plain HTTP, no write timeout
	// (a CPU profile takes 30 s).
	internal := func(ln net.Listener, h http.Handler) {
		hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, MaxHeaderBytes: 64 << 10, ErrorLog: errorLog}
		r.servers = append(r.servers, hs)
		go func() { r.errs <- hs.Serve(ln) }()
	}
	if lns.ops != nil {
		mux := http.NewServeMux()
		mux.Handle("/", srv.OpsHandler())
		if lns.pprofShared {
			registerPprof(mux)
		}
		internal(lns.ops, mux)
	}
	if lns.pprof != nil {
		mux := http.NewServeMux()
		registerPprof(mux)
		internal(lns.pprof, mux)
	}
	if lns.acmeHTTP != nil {
		internal(lns.acmeHTTP, srvTLS.acmeHTTPHandler())
	}
	return r
}

// writeBanner writes, in one write and the "listening" line last, what
// whoever waits for it (a script, a test) needs: the dev credentials and
// every address.
func writeBanner(stdout io.Writer, o options, lns *listeners, dev *access.DevCredentials, servesTLS bool) {
	var banner strings.Builder
	if dev != nil {
		fmt.Fprintf(&banner, "cardvault: dev mode: no credentials were configured, so these were generated (kept in %s):\n",
			filepath.Join(o.data, "dev-credentials.json"))
		fmt.Fprintf(&banner, "  vault/capture API, HTTP Basic:  %s:%s\n", dev.Account.Name, dev.Account.Password)
		fmt.Fprintf(&banner, "  secure-token API, x-api-key:    %s (all terminals)\n", dev.APIKey.Key)
	}
	if lns.ops != nil {
		fmt.Fprintf(&banner, "cardvault: ops endpoints (internal) on %s\n", listenURL("http", lns.ops.Addr()))
	}
	if lns.pprof != nil || lns.pprofShared {
		fmt.Fprintf(&banner, "cardvault: pprof on %s/debug/pprof/\n", listenURL("http", lns.pprofAddr()))
	}
	if lns.acmeHTTP != nil {
		fmt.Fprintf(&banner, "cardvault: ACME HTTP-01 challenges on %s\n", listenURL("http", lns.acmeHTTP.Addr()))
	}
	scheme := "http"
	if servesTLS {
		scheme = "https"
	}
	fmt.Fprintf(&banner, "cardvault: listening on %s\n", listenURL(scheme, lns.api.Addr()))
	io.WriteString(stdout, banner.String())
}

// wait serves until ctx ends, then shuts the http.Servers and srv down
// gracefully; if a server stops first, it closes everything and returns
// why.
func (r *httpServers) wait(ctx context.Context, srv *server.Server, logger *slog.Logger) error {
	select {
	case err := <-r.errs:
		for _, hs := range r.servers {
			hs.Close()
		}
		srv.Close()
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var errs []error
	for _, hs := range r.servers {
		errs = append(errs, hs.Shutdown(shutdownCtx))
	}
	errs = append(errs, srv.Shutdown(shutdownCtx))
	if err := errors.Join(errs...); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// listeners are the server's bound listeners; nil when not configured.
type listeners struct {
	api, ops, pprof, acmeHTTP net.Listener
	pprofShared               bool // pprof is served on ops (-pprof = -ops-addr)
}

// listen binds every listener o asks for, or none.
func listen(o options) (*listeners, error) {
	lns := &listeners{}
	bind := func(flag, addr string) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			lns.close()
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		return ln, nil
	}
	var err error
	if lns.api, err = bind("-addr", o.addr); err != nil {
		return nil, err
	}
	if o.opsAddr != "" {
		if lns.ops, err = bind("-ops-addr", o.opsAddr); err != nil {
			return nil, err
		}
	}
	switch {
	case o.pprof == "":
	case o.pprof == o.opsAddr:
		lns.pprofShared = true
	default:
		if lns.pprof, err = bind("-pprof", o.pprof); err != nil {
			return nil, err
		}
	}
	if o.acmeHTTPAddr != "" {
		if lns.acmeHTTP, err = bind("-acme-http-addr", o.acmeHTTPAddr); err != nil {
			return nil, err
		}
	}
	return lns, nil
}

func (l *listeners) pprofAddr() net.Addr {
	if l.pprofShared {
		return l.ops.Addr()
	}
	return l.pprof.Addr()
}

// close closes the listeners; http.Server closes those it serves too, and
// a second Close is harmless.
func (l *listeners) close() {
	for _, ln := range []net.Listener{l.api, l.ops, l.pprof, l.acmeHTTP} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

// rotateMasterKey is -rotate-master-key: a new identity first in the key
// file (the old ones stay, so servers still running can read what they
// read), then every key the deployment wraps under the master key is
// re-wrapped for it. Records are not touched.
func rotateMasterKey(o options, stdout io.Writer, logger *slog.Logger) error {
	if os.Getenv("CARDVAULT_MASTER_KEY") != "" {
		return errors.New("-rotate-master-key rotates a key file; the master key comes from CARDVAULT_MASTER_KEY here: rotate the file it came from and set the variable again")
	}
	rotate := func(o options) (*crypto.Keyring, error) { return crypto.RotateKeyringFile(o.masterKeyFile) }
	return storeCommand(o, rotate, 5*time.Minute, func(ctx context.Context, kr *crypto.Keyring, st *store.Store) error {
		// The deployment alone: nothing started, nothing served.
		d, err := deployment.Open(ctx, deployment.Config{Store: st, Keyring: kr, Logger: logger, Audit: audit.Config{Retention: o.auditRetention}})
		if err != nil {
			return err
		}
		defer d.Close()
		n, err := d.RewrapMasterKey(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cardvault: a new master identity is first in %s; %d wrapped keys moved to it.\n"+
			"Restart every server with this file. Once all run with it, the identities after the first may be removed.\n",
			o.masterKeyFile, n)
		return nil
	})
}

// auditTimeout bounds -verify-audit and -export-audit.
const auditTimeout = 30 * time.Minute

// storeCommand runs one of the commands that work on a deployment's store
// instead of serving it: with the master key keyring reads, the store, and
// within timeout.
func storeCommand(o options, keyring func(options) (*crypto.Keyring, error), timeout time.Duration, run func(ctx context.Context, kr *crypto.Keyring, st *store.Store) error) error {
	kr, err := keyring(o)
	if err != nil {
		return err
	}
	st, err := openStore(o)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return run(ctx, kr, st)
}

// auditCommand runs one of the commands that read a deployment's audit
// trail: with its master key (never creating one) and its store, within
// auditTimeout.
func auditCommand(o options, run func(ctx context.Context, kr *crypto.Keyring, st *store.Store) error) error {
	return storeCommand(o, loadKeyring, auditTimeout, run)
}

// verifyAudit is -verify-audit: the whole trail checked, read only.
func verifyAudit(o options, stdout io.Writer) error {
	return auditCommand(o, func(ctx context.Context, kr *crypto.Keyring, st *store.Store) error {
		rep, err := audit.Verify(ctx, st, kr)
		if err != nil {
			return fmt.Errorf("-verify-audit: the audit trail does not verify: %w", err)
		}
		head := rep.Head
		if head == "" {
			head = "none"
		}
		fmt.Fprintf(stdout, "cardvault: the audit trail verifies: %d entries (%d to %d), %d checkpoints, %d recorded and not chained yet, %d removed by retention; head %s, key %s\n",
			rep.Entries, rep.First, rep.Last, rep.Checkpoints, rep.Pending, rep.Removed, head, rep.Key)
		return nil
	})
}

// exportAudit is -export-audit: every entry as a JSON line, to a file or
// to standard output; what it did is said on stderr.
func exportAudit(o options, stderr, stdout io.Writer, logger *slog.Logger) error {
	return auditCommand(o, func(ctx context.Context, kr *crypto.Keyring, st *store.Store) (err error) {
		l, err := audit.Open(ctx, audit.Config{Store: st, Keyring: kr, Retention: o.auditRetention, Logger: logger})
		if err != nil {
			return err
		}
		defer func() {
			if cerr := l.Close(); err == nil {
				err = cerr
			}
		}()
		w, name := stdout, "standard output"
		var f *os.File
		if o.exportAudit != "-" {
			if f, err = os.OpenFile(o.exportAudit, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600); err != nil {
				return fmt.Errorf("-export-audit: %w", err)
			}
			defer f.Close()
			w, name = f, o.exportAudit
		}
		// Reading the trail is an event of the trail; Export flushes it first.
		if err := l.Note(audit.Event{Op: audit.OpAuditExported, Outcome: audit.OutcomeOK}); err != nil {
			return err
		}
		n, err := l.Export(ctx, w, time.Time{}, time.Time{})
		if err != nil {
			return fmt.Errorf("-export-audit: %w", err)
		}
		if f != nil {
			if err := f.Sync(); err != nil {
				return fmt.Errorf("-export-audit: %w", err)
			}
		}
		fmt.Fprintf(stderr, "cardvault: %d audit entries written to %s\n", n, name)
		return nil
	})
}

// loadKeyring reads the master key from CARDVAULT_MASTER_KEY, or from its
// file, and never creates one.
func loadKeyring(o options) (*crypto.Keyring, error) {
	if text := os.Getenv("CARDVAULT_MASTER_KEY"); text != "" {
		return crypto.ParseKeyring(strings.NewReader(text))
	}
	return crypto.LoadKeyring(o.masterKeyFile)
}

// openKeyring reads the master key from CARDVAULT_MASTER_KEY, or from its
// file, which is generated (0600) on the first start.
func openKeyring(o options, logger *slog.Logger) (*crypto.Keyring, error) {
	kr, err := loadKeyring(o)
	if errors.Is(err, os.ErrNotExist) && os.Getenv("CARDVAULT_MASTER_KEY") == "" {
		kr, err = crypto.CreateKeyringFile(o.masterKeyFile)
		if err == nil {
			logger.Info("generated a new master key", "file", o.masterKeyFile)
		}
	}
	return kr, err
}

func openStore(o options) (*store.Store, error) {
	if o.postgres != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return pgstore.Open(ctx, o.postgres, nil)
	}
	return boltstore.Open(filepath.Join(o.data, "cardvault.db"), nil)
}

// listenURL is the URL to print for a listener: localhost for an address
// on every interface.
func listenURL(scheme string, addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + "://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// loopbackAddr reports whether addr is host:port with a loopback IP host.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isLoopback reports whether a bound listener's address is a loopback IP:
// the address it got, not the one asked for (":8080" is every interface,
// "localhost:8080" whatever localhost resolved to).
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// registerPprof adds net/http/pprof's handlers to mux, which must be on a
// listener of its own (never the API's).
func registerPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}
