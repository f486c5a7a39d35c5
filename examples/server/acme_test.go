package main

// -acme-domains against a real ACME server on this machine: Let's
// Encrypt's pebble (its packages, in this process), which validates the
// challenges for real and issues from a root of its own. Its validation
// authority resolves the test's name through a DNS server of the test
// that answers 127.0.0.1, so it dials this machine only; nothing leaves
// it. (autocert wants a name with a dot, so not "localhost".)

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/acme"
)

// pebble is an ACME CA for one test.
type pebble struct {
	directory string
	client    *http.Client // trusts the directory's TLS certificate
	ca        *ca.CAImpl
}

// acmeName is the name the tests get certificates for: under .test, which
// never resolves on the internet (RFC 2606).
const acmeName = "vault.cardvault.test"

// startDNS serves DNS over TCP on 127.0.0.1: every A query is answered
// 127.0.0.1, every other query with no record. It returns its address.
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &dns.Server{Listener: ln, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// startPebble starts pebble's ACME server; its validation authority dials
// acmeName (127.0.0.1) on tlsPort for TLS-ALPN-01 and on httpPort for
// HTTP-01.
func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")      // no random wait before validating
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0") // no bad nonces on purpose
	logger := log.New(io.Discard, "", 0)
	if testing.Verbose() {
		logger = log.New(os.Stderr, "pebble ", log.Lmicroseconds)
	}
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "test"}})
	validator := va.New(logger, httpPort, tlsPort, false, startDNS(t), store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 1, 1)
	ts := httptest.NewTLSServer(front.Handler())
	t.Cleanup(ts.Close)
	return &pebble{directory: ts.URL + wfe.DirectoryPath, client: ts.Client(), ca: authority}
}

// roots is a pool with pebble's root.
func (p *pebble) roots() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.GetRootCert(0).Cert)
	return pool
}

// freePort returns a port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startACME starts the server with -acme-domains acmeName against p.
func startACME(t *testing.T, p *pebble, data string, args ...string) *running {
	t.Helper()
	o, err := parseFlags(append([]string{"-log-format", "json", "-data", data, "-acme-domains", acmeName,
		"-acme-directory", p.directory, "-acme-email", "ops@cardvault.example"}, args...), io.Discard)
	require.NoError(t, err)
	o.acmeHTTPClient = p.client
	r, err := startOptions(t, o)
	require.NoError(t, err)
	return r
}

// acmeClient is a client of the server that trusts pebble's root and
// sends SNI acmeName (to 127.0.0.1).
func acmeClient(p *pebble) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: p.roots(), ServerName: acmeName},
		DisableKeepAlives: true,
	}}
}

func TestACMETLSALPN(t *testing.T) {
	apiPort := freePort(t)
	// HTTP-01 would need a listener on httpPort; there is none, so only
	// TLS-ALPN-01 on the API listener itself can succeed.
	p := startPebble(t, freePort(t), apiPort)
	data := filepath.Join(t.TempDir(), "data")
	r := startACME(t, p, data, "-addr", "127.0.0.1:"+strconv.Itoa(apiPort))
	require.Equal(t, "https://127.0.0.1:"+strconv.Itoa(apiPort), r.url)

	// The first handshake for acmeName gets the certificate: an order,
	// the TLS-ALPN-01 challenge answered on this listener, issuance.
	resp, _ := get(t, acmeClient(p), r.url+"/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "max-age=63072000; includeSubDomains", resp.Header.Get("Strict-Transport-Security"))
	leaf := resp.TLS.PeerCertificates[0]
	require.Equal(t, []string{acmeName}, leaf.DNSNames)
	require.Equal(t, p.ca.GetIntermediateCert(0).Cert.Subject.String(), leaf.Issuer.String(), "issued by pebble")
	require.GreaterOrEqual(t, resp.TLS.Version, uint16(tls.VersionTLS12))

	// Cached under <data>/acme, 0700: a restart reuses it.
	info, err := os.Stat(filepath.Join(data, "acme"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o700), info.Mode().Perm())
	cached, err := os.ReadDir(filepath.Join(data, "acme"))
	require.NoError(t, err)
	names := make([]string, 0, len(cached))
	for _, e := range cached {
		names = append(names, e.Name())
	}
	require.Contains(t, names, acmeName, "the certificate and its key")
	require.Contains(t, names, "acme_account+key", "the account key")

	// A name outside -acme-domains gets no certificate (and no order).
	_, err = (&http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots(), ServerName: "other.example"}}}).Get(r.url + "/healthz")
	require.ErrorContains(t, err, "tls: internal error")
	require.NoError(t, r.stop())

	// Restarted: the cached certificate, no new issuance needed.
	r = startACME(t, p, data, "-addr", "127.0.0.1:"+strconv.Itoa(apiPort))
	resp, _ = get(t, acmeClient(p), r.url+"/healthz")
	require.True(t, resp.TLS.PeerCertificates[0].Equal(leaf), "the cached certificate")
	require.NoError(t, r.stop())
}

func TestACMEHTTP01(t *testing.T) {
	httpPort := freePort(t)
	// TLS-ALPN-01 is tried first and fails — pebble dials a port where
	// nothing listens — so autocert falls back to HTTP-01, answered on
	// -acme-http-addr.
	p := startPebble(t, httpPort, freePort(t))
	data := filepath.Join(t.TempDir(), "data")
	r := startACME(t, p, data, "-addr", "127.0.0.1:0", "-acme-http-addr", "127.0.0.1:"+strconv.Itoa(httpPort))
	require.Contains(t, r.stdout.String(), "cardvault: ACME HTTP-01 challenges on http://127.0.0.1:"+strconv.Itoa(httpPort))

	// Everything else on the HTTP-01 listener is redirected to https.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ := get(t, noRedirect, "http://127.0.0.1:"+strconv.Itoa(httpPort)+"/v1/key")
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, "https://127.0.0.1:443/v1/key", resp.Header.Get("Location"))

	resp, _ = get(t, acmeClient(p), r.url+"/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, p.ca.GetIntermediateCert(0).Cert.Subject.String(), resp.TLS.PeerCertificates[0].Issuer.String())
	require.NoError(t, r.stop())
}

func TestACMEWiring(t *testing.T) {
	o, err := parseFlags([]string{"-acme-domains", "vault.example", "-data", "/nonexistent/data"}, io.Discard)
	require.NoError(t, err)
	st, err := newServerTLS(o, nil)
	require.NoError(t, err)
	require.Equal(t, uint16(tls.VersionTLS12), st.config.MinVersion)
	require.Contains(t, st.config.NextProtos, acme.ALPNProto, "TLS-ALPN-01 on the API listener")
	require.Contains(t, st.config.NextProtos, "h2")
	require.Equal(t, "https://acme-v02.api.letsencrypt.org/directory", st.acme.Client.DirectoryURL)
	require.EqualValues(t, "/nonexistent/data/acme", st.acme.Cache)
	require.NoDirExists(t, "/nonexistent/data", "nothing written before a certificate is needed")

	_, err = st.config.GetCertificate(&tls.ClientHelloInfo{ServerName: "other.example"})
	require.ErrorContains(t, err, "not configured in HostWhitelist", "only the names given")
}
