// Command server is cardvault's reference server: the vault/capture API and
// the secure-token API over the embedded store, or over PostgreSQL.
//
//	go run ./examples/server
//
// With no configuration it keeps everything under ./cardvault-data (created
// 0700): the bbolt store cardvault.db, the master key master.key (generated
// 0600 on the first start) and — because no credentials were configured —
// dev-credentials.json, a generated Basic account and API key that it prints.
// It listens on :8080.
//
// Every flag has an environment variable, which the flag overrides:
//
//	-addr                CARDVAULT_ADDR                listen address (:8080)
//	-data                CARDVAULT_DATA                data directory (./cardvault-data)
//	-postgres            CARDVAULT_POSTGRES_URL        use PostgreSQL instead of the embedded store
//	-public-url          CARDVAULT_PUBLIC_URL          where clients reach the server (form links)
//	-basic-auth          CARDVAULT_BASIC_AUTH          user:password[,user2:password2] (vault/capture API)
//	-api-keys            CARDVAULT_API_KEYS            key:terminal1,terminal2[;key2:*] (secure-token API)
//	-master-key-file     CARDVAULT_MASTER_KEY_FILE     master key file (<data>/master.key)
//	                     CARDVAULT_MASTER_KEY          the master key's identity text itself (no file)
//	-scrypt-work-factor  CARDVAULT_SCRYPT_WORK_FACTOR  scrypt work factor of new vault keys (18)
//	-allow-http-webhooks CARDVAULT_ALLOW_HTTP_WEBHOOKS capture webhooks may use http:// URLs
//	-log-format          CARDVAULT_LOG_FORMAT          text or json
//	-rotate-master-key                                 a new master identity, every key re-wrapped; then exit
//	-pprof               CARDVAULT_PPROF_ADDR          serve net/http/pprof on this loopback address (off)
//
// Prefer the environment for credentials: flags show in the process list.
// -pprof (e.g. 127.0.0.1:6060) is for profiling under load; it is off unless
// given, listens on its own port and refuses any address that is not a
// loopback IP, since profiles show the process's memory.
// Several servers share one PostgreSQL when each gets the same
// CARDVAULT_POSTGRES_URL and the same master key.
//
// SIGINT or SIGTERM stops it gracefully: requests in flight finish (up to
// 20 s), background work stops, the store closes.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
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

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/server"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/boltstore"
	"github.com/cardvault/cardvault/store/pgstore"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "cardvault:", err)
		os.Exit(1)
	}
}

type options struct {
	addr, data, postgres, publicURL, basicAuth, apiKeys, masterKeyFile, logFormat, pprof string
	workFactor                                                                           int
	allowHTTPWebhooks, rotateMasterKey                                                   bool
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", env("CARDVAULT_ADDR", ":8080"), "listen address")
	fs.StringVar(&o.data, "data", env("CARDVAULT_DATA", "./cardvault-data"), "data directory")
	fs.StringVar(&o.postgres, "postgres", env("CARDVAULT_POSTGRES_URL", ""), "PostgreSQL URL (instead of the embedded store)")
	fs.StringVar(&o.publicURL, "public-url", env("CARDVAULT_PUBLIC_URL", ""), "where clients reach the server, for form links")
	fs.StringVar(&o.basicAuth, "basic-auth", env("CARDVAULT_BASIC_AUTH", ""), "vault/capture accounts user:password[,...] (prefer the env variable)")
	fs.StringVar(&o.apiKeys, "api-keys", env("CARDVAULT_API_KEYS", ""), "secure-token API keys key:terminal,...[;...] (prefer the env variable)")
	fs.StringVar(&o.masterKeyFile, "master-key-file", env("CARDVAULT_MASTER_KEY_FILE", ""), "master key file (default <data>/master.key)")
	fs.StringVar(&o.logFormat, "log-format", env("CARDVAULT_LOG_FORMAT", "text"), "log format: text or json")
	fs.StringVar(&o.pprof, "pprof", env("CARDVAULT_PPROF_ADDR", ""), "serve net/http/pprof on this loopback address (off when empty)")
	wf, err := strconv.Atoi(env("CARDVAULT_SCRYPT_WORK_FACTOR", "0"))
	if err != nil {
		return o, errors.New("CARDVAULT_SCRYPT_WORK_FACTOR must be a number")
	}
	fs.IntVar(&o.workFactor, "scrypt-work-factor", wf, "scrypt work factor of new vault keys (0: the default, 18)")
	allow, _ := strconv.ParseBool(env("CARDVAULT_ALLOW_HTTP_WEBHOOKS", "false"))
	fs.BoolVar(&o.allowHTTPWebhooks, "allow-http-webhooks", allow, "capture webhooks may use http:// URLs")
	fs.BoolVar(&o.rotateMasterKey, "rotate-master-key", false, "add a new master identity to the key file, re-wrap every key under it, and exit")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.masterKeyFile == "" {
		o.masterKeyFile = filepath.Join(o.data, "master.key")
	}
	if o.pprof != "" && !loopbackAddr(o.pprof) {
		return o, errors.New("-pprof must be a loopback address such as 127.0.0.1:6060")
	}
	return o, nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	var handler slog.Handler
	switch o.logFormat {
	case "text":
		handler = slog.NewTextHandler(stderr, nil)
	case "json":
		handler = slog.NewJSONHandler(stderr, nil)
	default:
		return errors.New("-log-format must be text or json")
	}
	handler = server.NewRedactingHandler(handler)
	logger := slog.New(handler)

	if err := os.MkdirAll(o.data, 0o700); err != nil {
		return err
	}
	if o.rotateMasterKey {
		return rotateMasterKey(o, stdout, logger)
	}
	keyring, err := openKeyring(o, logger)
	if err != nil {
		return err
	}

	cfg := server.Config{
		Keyring: keyring, PublicURL: o.publicURL, WorkFactor: o.workFactor,
		AllowHTTPWebhooks: o.allowHTTPWebhooks, Logger: logger,
	}
	var dev *server.DevCredentials
	if o.basicAuth == "" && o.apiKeys == "" {
		dc, created, err := server.LoadOrCreateDevCredentials(filepath.Join(o.data, "dev-credentials.json"))
		if err != nil {
			return err
		}
		if created {
			logger.Info("dev mode: generated credentials", "file", filepath.Join(o.data, "dev-credentials.json"))
		}
		cfg.Accounts, cfg.APIKeys, dev = []server.Account{dc.Account}, []server.APIKey{dc.APIKey}, &dc
	} else {
		if o.basicAuth != "" {
			if cfg.Accounts, err = server.ParseAccounts(o.basicAuth); err != nil {
				return err
			}
		}
		if o.apiKeys != "" {
			if cfg.APIKeys, err = server.ParseAPIKeys(o.apiKeys); err != nil {
				return err
			}
		}
	}

	st, err := openStore(o)
	if err != nil {
		return err
	}
	defer st.Close()
	cfg.Store = st
	srv, err := server.New(cfg)
	if err != nil {
		return err
	}

	if o.pprof != "" {
		stopPprof, err := servePprof(o.pprof, logger)
		if err != nil {
			srv.Close()
			return err
		}
		defer stopPprof()
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		srv.Close()
		return err
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      server.DefaultRequestTimeout + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(handler, slog.LevelWarn),
	}
	// The signal handler is in place before anyone can know the address:
	// a SIGTERM sent right after the "listening" line is a graceful stop,
	// not the default action that kills the process.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// One write, the "listening" line last: whoever waits for it (a
	// script, a test) has the credentials too.
	var banner strings.Builder
	if dev != nil {
		fmt.Fprintf(&banner, "cardvault: dev mode: no credentials were configured, so these were generated (kept in %s):\n",
			filepath.Join(o.data, "dev-credentials.json"))
		fmt.Fprintf(&banner, "  vault/capture API, HTTP Basic:  %s:%s\n", dev.Account.Name, dev.Account.Password)
		fmt.Fprintf(&banner, "  secure-token API, x-api-key:    %s (all terminals)\n", dev.APIKey.Key)
	}
	fmt.Fprintf(&banner, "cardvault: listening on %s\n", listenURL(ln.Addr()))
	io.WriteString(stdout, banner.String())

	serveErr := make(chan error, 1)
	go func() { serveErr <- hs.Serve(ln) }()
	select {
	case err := <-serveErr:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	errHTTP := hs.Shutdown(shutdownCtx)
	errSrv := srv.Shutdown(shutdownCtx)
	if err := errors.Join(errHTTP, errSrv); err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// rotateMasterKey is -rotate-master-key: a new identity first in the key
// file (the old ones stay, so servers still running can read what they
// read), then every key the deployment wraps under the master key is
// re-wrapped for it. Records are not touched.
func rotateMasterKey(o options, stdout io.Writer, logger *slog.Logger) error {
	if os.Getenv("CARDVAULT_MASTER_KEY") != "" {
		return errors.New("-rotate-master-key rotates a key file; the master key comes from CARDVAULT_MASTER_KEY here: rotate the file it came from and set the variable again")
	}
	kr, err := crypto.RotateKeyringFile(o.masterKeyFile)
	if err != nil {
		return err
	}
	st, err := openStore(o)
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := server.New(server.Config{Store: st, Keyring: kr, Logger: logger, SweepEvery: -1})
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	n, err := srv.RewrapMasterKey(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cardvault: a new master identity is first in %s; %d wrapped keys moved to it.\n"+
		"Restart every server with this file. Once all run with it, the identities after the first may be removed.\n",
		o.masterKeyFile, n)
	return nil
}

// openKeyring reads the master key from CARDVAULT_MASTER_KEY, or from its
// file, which is generated (0600) on the first start.
func openKeyring(o options, logger *slog.Logger) (*crypto.Keyring, error) {
	if text := os.Getenv("CARDVAULT_MASTER_KEY"); text != "" {
		return crypto.ParseKeyring(strings.NewReader(text))
	}
	kr, err := crypto.LoadKeyring(o.masterKeyFile)
	if errors.Is(err, os.ErrNotExist) {
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
func listenURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
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

// servePprof serves net/http/pprof's handlers on addr, a loopback address,
// on a listener of its own (never on the API's), and returns what stops it.
func servePprof(addr string, logger *slog.Logger) (func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("-pprof: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	logger.Info("serving pprof", "addr", ln.Addr().String())
	return func() { _ = hs.Close() }, nil
}
