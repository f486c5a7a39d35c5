package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// serverTLS is how the API listener serves TLS: a certificate pair from
// files, reloaded when they change, or certificates from an ACME CA.
type serverTLS struct {
	config *tls.Config
	// acme is the ACME manager with -acme-domains: its HTTPHandler answers
	// HTTP-01 challenges on -acme-http-addr.
	acme *autocert.Manager
}

// newServerTLS returns the TLS of o, or nil for plain HTTP. It reads the
// certificate files (a pair that does not load is an error here, before
// anything listens) and writes nothing: the ACME cache directory under the
// data directory is made on the first certificate.
func newServerTLS(o options, logger *slog.Logger) (*serverTLS, error) {
	switch {
	case o.tlsCert != "":
		r, err := newCertReloader(o.tlsCert, o.tlsKey, logger)
		if err != nil {
			return nil, err
		}
		return &serverTLS{config: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.getCertificate}}, nil
	case len(o.acmeDomains) > 0:
		m := &autocert.Manager{
			Prompt:     autocert.AcceptTOS,
			Cache:      autocert.DirCache(filepath.Join(o.data, "acme")),
			HostPolicy: hostPolicy(o.acmeDomains),
			Email:      o.acmeEmail,
			Client:     &acme.Client{DirectoryURL: o.acmeDirectory, HTTPClient: o.acmeHTTPClient},
		}
		// TLSConfig offers acme-tls/1 beside h2 and http/1.1: TLS-ALPN-01
		// challenges are answered on the API listener itself.
		c := m.TLSConfig()
		c.MinVersion = tls.VersionTLS12
		return &serverTLS{config: c, acme: m}, nil
	}
	return nil, nil
}

// hostPolicy lets autocert get certificates for domains only. A port in
// the host is ignored: the policy also vets the Host of HTTP-01 challenge
// requests, which carries one when the CA validates on a port other than
// 80 (as test CAs do, pebble among them).
func hostPolicy(domains []string) autocert.HostPolicy {
	allowed := autocert.HostWhitelist(domains...)
	return func(ctx context.Context, host string) error {
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		return allowed(ctx, host)
	}
}

// hostName is a DNS host name in ASCII (an internationalized one in its
// xn-- form).
var hostName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)

// parseACMEDomains parses -acme-domains: host names separated by commas.
// autocert gets certificates for the DNS names clients send as SNI, so IP
// addresses, ports and wildcards are refused (autocert's HostWhitelist
// would drop a name it cannot use without a word).
func parseACMEDomains(s string) ([]string, error) {
	var out []string
	for d := range strings.SplitSeq(s, ",") {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" {
			return nil, errors.New("-acme-domains: an empty name in the list")
		}
		if !hostName.MatchString(d) || len(d) > 253 || net.ParseIP(d) != nil {
			return nil, fmt.Errorf("-acme-domains: %q is not a host name (no IP addresses, ports or wildcards; internationalized names in their xn-- form)", d)
		}
		out = append(out, d)
	}
	return out, nil
}

// certReloader serves a certificate pair from two files and picks up new
// files without a restart (a renewal by certbot, a rotated secret mount).
// Every handshake stats the two files — two syscalls, no read — and the
// pair is read again when either changed (another file, size or mtime).
// A new pair that does not load is logged and the previous one stays in
// service; it is tried again when the files change again.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu   sync.Mutex
	cert *tls.Certificate
	seen [2]os.FileInfo // the stats of the pair last tried, good or not
}

func newCertReloader(certFile, keyFile string, logger *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: logger}
	stats, err := r.stat()
	if err != nil {
		return nil, err
	}
	if r.cert, err = r.load(); err != nil {
		return nil, err
	}
	r.seen = stats
	return r, nil
}

// getCertificate is the tls.Config.GetCertificate of the API listener.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	stats, err := r.stat()
	if err != nil {
		// A file gone for a moment (a rename in progress, an unmounted
		// volume): keep serving what works.
		return r.cert, nil
	}
	if changed(r.seen[0], stats[0]) || changed(r.seen[1], stats[1]) {
		r.seen = stats
		cert, err := r.load()
		if err != nil {
			r.log.Error("the TLS certificate files changed but do not load; still serving the previous certificate",
				"cert", r.certFile, "key", r.keyFile, "err", err)
			return r.cert, nil
		}
		r.cert = cert
		r.log.Info("reloaded the TLS certificate", "cert", r.certFile, "not_after", cert.Leaf.NotAfter)
	}
	return r.cert, nil
}

func (r *certReloader) stat() ([2]os.FileInfo, error) {
	var out [2]os.FileInfo
	for i, name := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return out, fmt.Errorf("TLS certificate: %w", err)
		}
		out[i] = fi
	}
	return out, nil
}

// load reads and parses the pair. Its errors name the files and what is
// wrong, never the key's bytes (tls.X509KeyPair's errors do not quote
// them).
func (r *certReloader) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", r.certFile, r.keyFile, err)
	}
	return &cert, nil
}

// changed reports whether a file is not the one it was: another file (a
// rename over it), or the same one rewritten.
func changed(old, cur os.FileInfo) bool {
	return !os.SameFile(old, cur) || old.Size() != cur.Size() || !old.ModTime().Equal(cur.ModTime())
}

// acmeHTTPHandler answers HTTP-01 challenges on -acme-http-addr and
// redirects everything else to https:// on the same host.
func (t *serverTLS) acmeHTTPHandler() http.Handler { return t.acme.HTTPHandler(nil) }
