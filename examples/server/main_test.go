package main

// The tests of this file run the server in this process (run, as main
// does, with a context for the signal), on 127.0.0.1 and, where the point
// is an address that is not loopback, 0.0.0.0; the clients dial 127.0.0.1
// only. Certificates are made here, per test: no private key is committed.

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/serverproc"
	"github.com/cardvault/cardvault/internal/testkit"
)

func TestMain(m *testing.M) {
	// The tests say what they configure: nothing from the environment.
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); serverproc.ServerReads(name) {
			os.Unsetenv(name)
		}
	}
	os.Exit(m.Run())
}

// testPassword is long enough for any minimum length.
const (
	testAccount    = "alice:alice-password-for-the-tls-tests"
	testPassphrase = "a-passphrase-for-the-tls-tests"
)

// running is a server started by start.
type running struct {
	url    string // the "listening on" URL
	ops    string // the ops endpoints' URL, if any
	stdout *notifyBuffer
	logs   *testkit.Buffer
	stop   func() error // SIGTERM, as it were: run's error
}

// notifyBuffer is stdout: it tells when the "listening" line is written.
type notifyBuffer struct {
	testkit.Buffer
	once      sync.Once
	listening chan struct{}
}

func (b *notifyBuffer) Write(p []byte) (int, error) {
	n, err := b.Buffer.Write(p)
	if strings.Contains(b.String(), "cardvault: listening on ") {
		b.once.Do(func() { close(b.listening) })
	}
	return n, err
}

var (
	listeningLine = regexp.MustCompile(`cardvault: listening on (\S+)`)
	opsLine       = regexp.MustCompile(`cardvault: ops endpoints \(internal\) on (\S+)`)
)

// start runs the server with args and waits until it listens, or returns
// run's error if it stops first (then the *running is nil).
func start(t *testing.T, args ...string) (*running, error) {
	t.Helper()
	o, err := parseFlags(append([]string{"-log-format", "json", "-scrypt-work-factor", "10"}, args...), io.Discard)
	if err != nil {
		return nil, err
	}
	return startOptions(t, o)
}

// startOptions is start with options made by the test.
func startOptions(t *testing.T, o options) (*running, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{stdout: &notifyBuffer{listening: make(chan struct{})}, logs: &testkit.Buffer{}}
	done := make(chan error, 1)
	go func() { done <- serve(ctx, o, r.stdout, r.logs) }()
	select {
	case err := <-done:
		cancel()
		return nil, err
	case <-r.stdout.listening:
	}
	r.url = listeningLine.FindStringSubmatch(r.stdout.String())[1]
	if m := opsLine.FindStringSubmatch(r.stdout.String()); m != nil {
		r.ops = m[1]
	}
	var once sync.Once
	var err error
	r.stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { _ = r.stop() })
	return r, nil
}

// mustStart is start that expects the server to listen.
func mustStart(t *testing.T, args ...string) *running {
	t.Helper()
	r, err := start(t, args...)
	require.NoError(t, err)
	return r
}

// get sends a GET with client and returns the response with its body read.
func get(t *testing.T, c *http.Client, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get(u)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

// port returns the port of a URL.
func port(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	require.NoError(t, err)
	return p.Port()
}

func TestDefaults(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:8080", o.addr, "with no configuration: loopback only")
	require.False(t, o.insecureHTTP)
	require.False(t, o.servesTLS())
	require.Empty(t, o.opsAddr)
	require.Equal(t, "https://acme-v02.api.letsencrypt.org/directory", o.acmeDirectory)
	require.Equal(t, 24*time.Hour, o.maxCaptureTTL, "update endpoints live a day at most")
	require.False(t, o.allowUnexpiringCapture)
	require.Equal(t, 400*24*time.Hour, o.auditRetention, "PCI asks for a year")
	require.True(t, o.audit, "the audit trail is on unless turned off")
	o, err = parseFlags([]string{"-audit=false"}, io.Discard)
	require.NoError(t, err)
	require.False(t, o.audit)
	t.Setenv("CARDVAULT_AUDIT", "false")
	o, err = parseFlags(nil, io.Discard)
	require.NoError(t, err)
	require.False(t, o.audit)
	t.Setenv("CARDVAULT_AUDIT", "off-ish")
	_, err = parseFlags(nil, io.Discard)
	require.ErrorContains(t, err, "CARDVAULT_AUDIT must be true or false")
	os.Unsetenv("CARDVAULT_AUDIT") // t.Setenv restores it at the end

	o, err = parseFlags([]string{"-audit-retention", "P0D"}, io.Discard)
	require.NoError(t, err)
	require.Negative(t, o.auditRetention, "kept for ever")
	t.Setenv("CARDVAULT_AUDIT_RETENTION", "P2W")
	o, err = parseFlags(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 14*24*time.Hour, o.auditRetention)
	require.Empty(t, o.proxyAllowHosts, "any public HTTPS host")
	require.Equal(t, 20*time.Second, o.proxyTimeout)
	require.Equal(t, time.Hour, o.cvvTTL)
}

func TestProxyFlags(t *testing.T) {
	o, err := parseFlags([]string{"-proxy-allow-hosts", "API.Stripe.com,psp.example", "-proxy-timeout", "5s", "-cvv-ttl", "15m"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"api.stripe.com", "psp.example"}, o.proxyAllowHosts)
	require.Equal(t, 5*time.Second, o.proxyTimeout)
	require.Equal(t, 15*time.Minute, o.cvvTTL)
	t.Setenv("CARDVAULT_PROXY_ALLOW_HOSTS", "api.stripe.com")
	t.Setenv("CARDVAULT_CVV_TTL", "30m")
	o, err = parseFlags(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"api.stripe.com"}, o.proxyAllowHosts)
	require.Equal(t, 30*time.Minute, o.cvvTTL)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-proxy-allow-hosts", "psp.example:443"}, "without a port"},
		{[]string{"-proxy-allow-hosts", "10.0.0.0/8"}, "without a port or a CIDR"},
		{[]string{"-proxy-allow-hosts", "psp.example,"}, "-proxy-allow-hosts"},
		{[]string{"-proxy-timeout", "0s"}, "-proxy-timeout must be over 0"},
		{[]string{"-proxy-timeout", "45s"}, "under 30s"},
		{[]string{"-cvv-ttl", "-1m"}, "-cvv-ttl must be over 0"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		require.ErrorContains(t, err, tc.want, "%q", tc.args)
	}
	t.Setenv("CARDVAULT_PROXY_TIMEOUT", "soon")
	_, err = parseFlags(nil, io.Discard)
	require.ErrorContains(t, err, "CARDVAULT_PROXY_TIMEOUT must be a duration")
}

func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-tls-cert", "c.pem"}, "-tls-cert and -tls-key go together"},
		{[]string{"-tls-key", "k.pem"}, "-tls-cert and -tls-key go together"},
		{[]string{"-tls-cert", "c.pem", "-tls-key", "k.pem", "-acme-domains", "vault.example"}, "not both"},
		{[]string{"-acme-email", "ops@example.com"}, "need -acme-domains"},
		{[]string{"-acme-http-addr", ":80"}, "need -acme-domains"},
		{[]string{"-acme-domains", "vault.example,"}, "an empty name"},
		{[]string{"-acme-domains", "192.0.2.1"}, "not a host name"},
		{[]string{"-acme-domains", "*.example.com"}, "not a host name"},
		{[]string{"-acme-domains", "vault.example:443"}, "not a host name"},
		{[]string{"-acme-domains", "vault.example", "-public-url", "http://vault.example"}, "-public-url must be https://"},
		{[]string{"-tls-cert", "c.pem", "-tls-key", "k.pem", "-public-url", "http://vault.example"}, "-public-url must be https://"},
		{[]string{"-pprof", "0.0.0.0:6060"}, "-pprof must be a loopback address"},
		{[]string{"-max-capture-ttl", "-1h"}, "-max-capture-ttl cannot be negative"},
		{[]string{"-max-capture-ttl", "P1D"}, "invalid value"},
		{[]string{"-audit-retention", "400d"}, "-audit-retention"},
		{[]string{"-audit-retention", "P1Y"}, "-audit-retention"},
		{[]string{"-verify-audit", "-export-audit", "-"}, "each run alone"},
		{[]string{"-verify-audit", "-rotate-master-key"}, "each run alone"},
	} {
		_, err := parseFlags(tc.args, io.Discard)
		require.ErrorContains(t, err, tc.want, "%q", tc.args)
	}
	o, err := parseFlags([]string{"-acme-domains", " Vault.Example , pay.example.com"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, []string{"vault.example", "pay.example.com"}, o.acmeDomains)

	t.Setenv("CARDVAULT_INSECURE_HTTP", "maybe")
	_, err = parseFlags(nil, io.Discard)
	require.ErrorContains(t, err, "CARDVAULT_INSECURE_HTTP must be true or false")
	t.Setenv("CARDVAULT_INSECURE_HTTP", "true")
	o, err = parseFlags(nil, io.Discard)
	require.NoError(t, err)
	require.True(t, o.insecureHTTP)

	for name, bad := range map[string]string{"CARDVAULT_MAX_CAPTURE_TTL": "a day", "CARDVAULT_ALLOW_UNEXPIRING_CAPTURE": "sometimes"} {
		t.Setenv(name, bad)
		_, err = parseFlags(nil, io.Discard)
		require.ErrorContains(t, err, name)
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	t.Setenv("CARDVAULT_MAX_CAPTURE_TTL", "2h")
	t.Setenv("CARDVAULT_ALLOW_UNEXPIRING_CAPTURE", "true")
	o, err = parseFlags(nil, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 2*time.Hour, o.maxCaptureTTL)
	require.True(t, o.allowUnexpiringCapture)
	o, err = parseFlags([]string{"-max-capture-ttl", "30m"}, io.Discard)
	require.NoError(t, err)
	require.Equal(t, 30*time.Minute, o.maxCaptureTTL, "a flag wins")
}

// Finding 5 of issue 15: the binary applies -max-capture-ttl and
// -allow-unexpiring-capture (and their defaults) to the endpoints it makes.
func TestCaptureTTLFlags(t *testing.T) {
	user, password, _ := strings.Cut(testAccount, ":")
	for _, tc := range []struct {
		args     []string
		statuses map[string]int // ttl of an endpoint locked to a card, "open:"+ttl of an open one → status
	}{
		{nil, map[string]int{"P1D": 200, "PT24H1S": 400, "P0T": 400, "open:P0T": 400, "open:P7D": 200}},
		{[]string{"-max-capture-ttl", "1h"}, map[string]int{"PT1H": 200, "PT61M": 400}},
		{[]string{"-allow-unexpiring-capture"}, map[string]int{"P0T": 400, "open:P0T": 200}},
		{[]string{"-allow-unexpiring-capture", "-max-capture-ttl", "0"}, map[string]int{"P0T": 200, "P30D": 200}},
	} {
		srv := mustStart(t, append([]string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-basic-auth", testAccount}, tc.args...)...)
		call := func(method, path string, q url.Values, body string) (int, map[string]any) {
			req, err := http.NewRequest(method, srv.url+path+"?"+q.Encode(), strings.NewReader(body))
			require.NoError(t, err)
			req.SetBasicAuth(user, password)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var m map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
			return resp.StatusCode, m
		}
		key := url.Values{"user": {"ttl-user"}, "passphrase": {testPassphrase}}
		status, _ := call("POST", "/v1/key", nil, `{"user":"ttl-user","passphrase":"`+testPassphrase+`"}`)
		require.Equal(t, http.StatusOK, status)
		k := url.Values{"reference": {"r"}}
		for n, v := range key {
			k[n] = v
		}
		status, item := call("POST", "/v1/vault", k, `{"card_number":"4111111111111111"}`)
		require.Equal(t, http.StatusOK, status)
		for ttl, want := range tc.statuses {
			q := url.Values{"ttl": {strings.TrimPrefix(ttl, "open:")}}
			for n, v := range key {
				q[n] = v
			}
			if !strings.HasPrefix(ttl, "open:") {
				q.Set("token", item["token"].(string))
			}
			status, reply := call("POST", "/v1/capture", q, "")
			require.Equal(t, want, status, "%v: ttl %s: %v", tc.args, ttl, reply)
		}
		require.NoError(t, srv.stop())
	}
}

// Finding 3 of issue 15: the server listened on every interface in plain
// HTTP. Now plain HTTP on an address that is not loopback is refused
// unless -insecure-http says so, and refused before anything is written.
func TestPlainHTTPRefusedOnNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		data := filepath.Join(t.TempDir(), "data")
		r, err := start(t, "-addr", addr, "-data", data)
		if r != nil {
			t.Fatalf("-addr %s: the server listens in plain HTTP on %s", addr, r.url)
		}
		require.ErrorContains(t, err, "refusing to serve plain HTTP on "+addr+", which is not a loopback address")
		require.ErrorContains(t, err, "-insecure-http", "the message names the flag")
		require.NoDirExists(t, data, "a refused start writes nothing")
	}

	// Loopback stays allowed, with no flag: the dev default.
	data := filepath.Join(t.TempDir(), "data")
	r := mustStart(t, "-addr", "127.0.0.1:0", "-data", data)
	require.True(t, strings.HasPrefix(r.url, "http://127.0.0.1:"), r.url)
	resp, _ := get(t, http.DefaultClient, r.url+"/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, resp.Header.Values("Strict-Transport-Security"), "no HSTS over plain HTTP")
	require.NoError(t, r.stop())

	// -insecure-http: plain HTTP on every interface, with a warning.
	r = mustStart(t, "-addr", "0.0.0.0:0", "-insecure-http", "-data", filepath.Join(t.TempDir(), "data"))
	resp, _ = get(t, http.DefaultClient, "http://127.0.0.1:"+port(t, r.url)+"/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Empty(t, resp.Header.Values("Strict-Transport-Security"))
	require.Contains(t, r.logs.String(), "serving plain HTTP on an address that is not loopback")
	require.NoError(t, r.stop())
}

// Finding 6 of issue 15: a start that failed on a busy port still created
// a data directory with a new master key. Now the listeners are bound
// first.
func TestBusyPortCreatesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	for _, args := range [][]string{
		{"-addr", busy.Addr().String()},
		{"-addr", "127.0.0.1:0", "-ops-addr", busy.Addr().String()},
		{"-addr", "127.0.0.1:0", "-pprof", busy.Addr().String()},
	} {
		data := filepath.Join(t.TempDir(), "data")
		r, err := start(t, append(args, "-data", data)...)
		require.Nil(t, r, "%q", args)
		require.ErrorContains(t, err, "address already in use", "%q", args)
		require.NoDirExists(t, data, "%q: no data directory, no master key", args)
	}
	// The same with TLS: the certificate is read, nothing is written.
	cert := newTestCert(t, t.TempDir(), "a")
	data := filepath.Join(t.TempDir(), "data")
	_, err = start(t, "-addr", busy.Addr().String(), "-data", data, "-tls-cert", cert.certFile, "-tls-key", cert.keyFile)
	require.ErrorContains(t, err, "address already in use")
	require.NoDirExists(t, data)
}

// testCert is a self-signed certificate for 127.0.0.1 and localhost, its
// PEM files in a directory of the test.
type testCert struct {
	certFile, keyFile string
	cert              *x509.Certificate
	keyPEM            []byte
}

func newTestCert(t *testing.T, dir, name string) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "cardvault test " + name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	c := testCert{certFile: filepath.Join(dir, name+".crt"), keyFile: filepath.Join(dir, name+".key"), cert: cert,
		keyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})}
	require.NoError(t, os.WriteFile(c.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	require.NoError(t, os.WriteFile(c.keyFile, c.keyPEM, 0o600))
	return c
}

// installAs puts c's files in place of dst's, each by a rename, as a
// certificate renewal does.
func (c testCert) installAs(t *testing.T, dst testCert) {
	t.Helper()
	for _, f := range [][2]string{{c.certFile, dst.certFile}, {c.keyFile, dst.keyFile}} {
		raw, err := os.ReadFile(f[0])
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(f[1]+".new", raw, 0o600))
		require.NoError(t, os.Rename(f[1]+".new", f[1]))
	}
}

// tlsClient trusts the given certificates only, on a new connection for
// every request, with at most maxVersion (0: any).
func tlsClient(maxVersion uint16, certs ...*x509.Certificate) *http.Client {
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return &http.Client{Transport: &http.Transport{
		// MinVersion TLS 1.0: the client offers what it is told to, so
		// that the server is the one refusing.
		TLSClientConfig:   &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion},
		DisableKeepAlives: true,
	}}
}

func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certA := newTestCert(t, dir, "served")
	certB := newTestCert(t, t.TempDir(), "renewed")
	r := mustStart(t, "-addr", "127.0.0.1:0", "-data", filepath.Join(t.TempDir(), "data"),
		"-tls-cert", certA.certFile, "-tls-key", certA.keyFile, "-basic-auth", testAccount)
	require.True(t, strings.HasPrefix(r.url, "https://127.0.0.1:"), r.url)

	requireTLS(t, r, certA)

	// Plain HTTP on the TLS port gets no API.
	resp, body := get(t, http.DefaultClient, "http://127.0.0.1:"+port(t, r.url)+"/healthz")
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Contains(t, string(body), "HTTP request to an HTTPS server")

	// Form links: loaded as https://<link> (the hosted vault's links have
	// no scheme), and served over TLS.
	formLink, captureID, captureSecret := createForm(t, tlsClient(0, certA.cert), r.url)
	require.Equal(t, strings.TrimPrefix(r.url, "https://")+"/v1/capture/iframe/", formLink[:len(formLink)-len(filepath.Base(formLink))])
	resp, body = get(t, tlsClient(0, certA.cert), "https://"+formLink+"?unique_id="+url.QueryEscape(captureID)+"&secret="+url.QueryEscape(captureSecret))
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Contains(t, resp.Header.Get("Content-Type"), "text/html")
	require.Equal(t, "max-age=63072000; includeSubDomains", resp.Header.Get("Strict-Transport-Security"))

	// A renewal: new files, and the next connection sees the new pair.
	requireReload(t, r, certA, certB)

	// A broken renewal: logged, and the pair that works stays in service.
	require.NoError(t, os.WriteFile(certA.certFile, []byte("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n"), 0o644))
	resp, _ = get(t, tlsClient(0, certB.cert), r.url+"/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, resp.TLS.PeerCertificates[0].Equal(certB.cert), "the previous certificate stays")
	logs := r.logs.String()
	require.Contains(t, logs, "do not load; still serving the previous certificate")
	for _, c := range []testCert{certA, certB} {
		block, _ := pem.Decode(c.keyPEM)
		require.NotContains(t, logs, "PRIVATE KEY")
		require.NotContains(t, logs, string(c.keyPEM[28:60]), "no key material in the log")
		require.False(t, bytes.Contains([]byte(logs), block.Bytes[len(block.Bytes)-16:]))
	}
	// And the files fixed again: picked up.
	certB.installAs(t, certA)
	resp, _ = get(t, tlsClient(0, certB.cert), r.url+"/healthz")
	require.True(t, resp.TLS.PeerCertificates[0].Equal(certB.cert))
	require.NoError(t, r.stop())
}

// requireTLS checks that r serves TLS with cert: TLS 1.2 at least (a TLS
// 1.1 client is refused), and HSTS.
func requireTLS(t *testing.T, r *running, cert testCert) {
	t.Helper()
	resp, _ := get(t, tlsClient(0, cert.cert), r.url+"/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "max-age=63072000; includeSubDomains", resp.Header.Get("Strict-Transport-Security"))
	require.True(t, resp.TLS.PeerCertificates[0].Equal(cert.cert))
	require.GreaterOrEqual(t, resp.TLS.Version, uint16(tls.VersionTLS12))

	// TLS 1.2 is the minimum.
	_, err := tlsClient(tls.VersionTLS11, cert.cert).Get(r.url + "/healthz")
	require.ErrorContains(t, err, "protocol version")
	resp, _ = get(t, tlsClient(tls.VersionTLS12, cert.cert), r.url+"/healthz")
	require.Equal(t, uint16(tls.VersionTLS12), resp.TLS.Version)
}

// requireReload installs renewed in place of served's files and checks
// that the next connection to r gets the renewed pair.
func requireReload(t *testing.T, r *running, served, renewed testCert) {
	t.Helper()
	renewed.installAs(t, served)
	resp, _ := get(t, tlsClient(0, renewed.cert), r.url+"/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, resp.TLS.PeerCertificates[0].Equal(renewed.cert), "the renewed certificate is served")
	require.Contains(t, r.logs.String(), "reloaded the TLS certificate")
}

// The configuration by environment variables, where the flags' tests do
// not cover it: TLS from CARDVAULT_TLS_CERT and CARDVAULT_TLS_KEY
// (served, and reloaded when the files change), CARDVAULT_INSECURE_HTTP
// and CARDVAULT_OPS_ADDR. No flag names them: the server is started with
// only the variables set.
func TestEnvConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		tls  bool // CARDVAULT_TLS_CERT and CARDVAULT_TLS_KEY name the files of a new test certificate
		// check gets what start returned, and the certificate when tls.
		check func(t *testing.T, r *running, err error, cert testCert)
	}{
		{"TLS from the variables, reloaded", nil, true, func(t *testing.T, r *running, err error, cert testCert) {
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(r.url, "https://127.0.0.1:"), r.url)
			requireTLS(t, r, cert)
			requireReload(t, r, cert, newTestCert(t, t.TempDir(), "renewed"))
		}},
		{"plain HTTP on every interface without CARDVAULT_INSECURE_HTTP: refused", map[string]string{"CARDVAULT_ADDR": "0.0.0.0:0"}, false,
			func(t *testing.T, r *running, err error, _ testCert) {
				require.Nil(t, r)
				require.ErrorContains(t, err, "refusing to serve plain HTTP on 0.0.0.0:0")
				require.NoDirExists(t, os.Getenv("CARDVAULT_DATA"), "a refused start writes nothing")
			}},
		{"CARDVAULT_INSECURE_HTTP and CARDVAULT_OPS_ADDR",
			map[string]string{"CARDVAULT_ADDR": "0.0.0.0:0", "CARDVAULT_INSECURE_HTTP": "true", "CARDVAULT_OPS_ADDR": "127.0.0.1:0"}, false,
			func(t *testing.T, r *running, err error, _ testCert) {
				require.NoError(t, err)
				require.Contains(t, r.logs.String(), "serving plain HTTP on an address that is not loopback")
				api := "http://127.0.0.1:" + port(t, r.url)
				require.NotEmpty(t, r.ops, "the ops listener is up")
				require.NotEqual(t, port(t, r.url), port(t, r.ops))
				for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
					resp, _ := get(t, http.DefaultClient, r.ops+path)
					require.Equal(t, http.StatusOK, resp.StatusCode, path)
					resp, _ = get(t, http.DefaultClient, api+path)
					require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s is not on the API listener", path)
					require.Empty(t, resp.Header.Values("Strict-Transport-Security"), "no HSTS over plain HTTP")
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CARDVAULT_ADDR", "127.0.0.1:0")
			t.Setenv("CARDVAULT_DATA", filepath.Join(t.TempDir(), "data"))
			var cert testCert
			if tc.tls {
				cert = newTestCert(t, t.TempDir(), "served")
				t.Setenv("CARDVAULT_TLS_CERT", cert.certFile)
				t.Setenv("CARDVAULT_TLS_KEY", cert.keyFile)
			}
			for name, value := range tc.env {
				t.Setenv(name, value)
			}
			r, err := start(t)
			tc.check(t, r, err, cert)
		})
	}
}

func TestTLSStartErrors(t *testing.T) {
	dir := t.TempDir()
	a := newTestCert(t, dir, "a")
	b := newTestCert(t, dir, "b")
	for _, tc := range []struct {
		cert, key, want string
	}{
		{filepath.Join(dir, "missing.crt"), a.keyFile, "no such file"},
		{a.certFile, b.keyFile, "private key does not match public key"},
		{a.keyFile, a.certFile, "TLS certificate"},
	} {
		data := filepath.Join(t.TempDir(), "data")
		_, err := start(t, "-addr", "127.0.0.1:0", "-data", data, "-tls-cert", tc.cert, "-tls-key", tc.key)
		require.ErrorContains(t, err, tc.want)
		require.NotContains(t, err.Error(), string(a.keyPEM[28:60]), "no key material in the error")
		require.NoDirExists(t, data)
	}
}

// createForm makes a vault key, an open capture endpoint and a hosted form
// on the server at base, and returns the form's link and the endpoint.
func createForm(t *testing.T, c *http.Client, base string) (link, id, secret string) {
	t.Helper()
	user, password, _ := strings.Cut(testAccount, ":")
	call := func(method, path string, q url.Values, body string) map[string]any {
		req, err := http.NewRequest(method, base+path+"?"+q.Encode(), strings.NewReader(body))
		require.NoError(t, err)
		req.SetBasicAuth(user, password)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s %s: %s", method, path, raw)
		return testkit.Object(t, raw)
	}
	call("POST", "/v1/key", nil, `{"user":"tls-user","passphrase":"`+testPassphrase+`"}`)
	g := call("POST", "/v1/capture", url.Values{"user": {"tls-user"}, "passphrase": {testPassphrase}, "ttl": {"PT10M"}}, "")
	f := call("POST", "/v1/capture/iframe", url.Values{"form_type": {"pcd"}}, `{}`)
	return f["link"].(string), g["id"].(string), g["secret"].(string)
}

func TestOpsAddr(t *testing.T) {
	// Without -ops-addr the ops endpoints are on the API listener.
	r := mustStart(t, "-addr", "127.0.0.1:0", "-data", filepath.Join(t.TempDir(), "data"))
	require.Empty(t, r.ops)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, _ := get(t, http.DefaultClient, r.url+path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	require.NoError(t, r.stop())

	// With it, they are there only; -pprof on the same address joins them.
	r = mustStart(t, "-addr", "127.0.0.1:0", "-data", filepath.Join(t.TempDir(), "data"), "-ops-addr", "127.0.0.1:0")
	require.NotEmpty(t, r.ops)
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, _ := get(t, http.DefaultClient, r.ops+path)
		require.Equal(t, http.StatusOK, resp.StatusCode, path)
		resp, _ = get(t, http.DefaultClient, r.url+path)
		require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s is not on the API listener", path)
	}
	resp, _ := get(t, http.DefaultClient, r.ops+"/v1/key")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "the API is not on the ops listener")
	resp, _ = get(t, http.DefaultClient, r.ops+"/debug/pprof/")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "no pprof unless asked")
	_, body := get(t, http.DefaultClient, r.ops+"/metrics")
	require.Contains(t, string(body), `cardvault_http_requests_total{code="404",route="unmatched"}`, "the API's 404s, counted")
	require.Contains(t, string(body), "go_goroutines")
	require.NoError(t, r.stop())

	// -pprof = -ops-addr: one listener for both.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	opsAddr := ln.Addr().String()
	require.NoError(t, ln.Close())
	r = mustStart(t, "-addr", "127.0.0.1:0", "-data", filepath.Join(t.TempDir(), "data"), "-ops-addr", opsAddr, "-pprof", opsAddr)
	require.Equal(t, "http://"+opsAddr, r.ops)
	require.Contains(t, r.stdout.String(), "cardvault: pprof on http://"+opsAddr+"/debug/pprof/")
	resp, _ = get(t, http.DefaultClient, r.ops+"/debug/pprof/")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = get(t, http.DefaultClient, r.ops+"/healthz")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, r.stop())

	// -pprof alone: its own listener, as before.
	r = mustStart(t, "-addr", "127.0.0.1:0", "-data", filepath.Join(t.TempDir(), "data"), "-pprof", "127.0.0.1:0")
	m := regexp.MustCompile(`cardvault: pprof on (\S+)`).FindStringSubmatch(r.stdout.String())
	require.NotNil(t, m)
	resp, _ = get(t, http.DefaultClient, m[1])
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = get(t, http.DefaultClient, r.url+"/debug/pprof/")
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "never on the API listener")
	require.NoError(t, r.stop())
}

func TestIsLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}, true},
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 8080}, true},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 8080}, true},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 8080}, false},
		{&net.TCPAddr{IP: net.IPv6unspecified, Port: 8080}, false},
		{&net.TCPAddr{IP: net.IPv4(192, 0, 2, 10), Port: 8080}, false},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8::1"), Port: 8080}, false},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, false},
	} {
		require.Equal(t, tc.want, isLoopback(tc.addr), "%v", tc.addr)
	}
}

func FuzzParseACMEDomains(f *testing.F) {
	for _, s := range []string{"vault.example", "a.example, B.example", "", ",", "1.2.3.4", "*.example", "x:443",
		"xn--bcher-kva.example", "-a.example", "a..b", strings.Repeat("a.", 130) + "a", "vault.example,vault.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		domains, err := parseACMEDomains(s)
		if err != nil {
			require.Nil(t, domains)
			return
		}
		require.NotEmpty(t, domains)
		for _, d := range domains {
			require.Regexp(t, hostName, d)
			require.LessOrEqual(t, len(d), 253)
			require.Nil(t, net.ParseIP(d), "never an IP address")
			require.Equal(t, strings.ToLower(d), d)
		}
	})
}
