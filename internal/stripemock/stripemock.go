// Package stripemock gives tests stripe-mock — a payment provider that
// checks requests against Stripe's published OpenAPI — behind TLS that the
// egress guard verifies, for the proxy's tests against a real PSP.
//
// `make test` (scripts/with-stripe-mock.sh) installs the pinned version
// with go install, starts it on 127.0.0.1, and exports its HTTPS address
// and certificate. A test that needs it fails — it does not skip — when
// none was started: a skipped test would report green for code that never
// ran.
//
// # Why a TLS endpoint in front
//
// stripe-mock serves HTTPS with a certificate embedded in its binary: a
// self-signed X.509 v1 certificate for CN=localhost, without a
// subjectAltName. Go has refused to verify a certificate by its Common
// Name since 1.15, and offers no switch for it any more; no host name or
// address makes that certificate verify. Rather than switch verification
// off anywhere, [Start] listens on 127.0.0.1 with a certificate made for
// the run (subjectAltName IP 127.0.0.1), which the test gives the guard as
// an extra root ([Server].Roots, or [Server].CAFile for the server's
// -egress-ca-file) with an allow entry for its address ([Server].Allow),
// and relays each connection's bytes, unchanged, over TLS to stripe-mock's
// HTTPS port — after checking that the port serves exactly stripe-mock's
// embedded certificate. What the guard sends is what stripe-mock reads.
package stripemock

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The variables scripts/with-stripe-mock.sh exports.
const (
	// EnvURL is stripe-mock's HTTPS address, https://127.0.0.1:<port>.
	EnvURL = "CARDVAULT_TEST_STRIPE_MOCK_URL"
	// EnvCert is the file of the certificate it serves.
	EnvCert = "CARDVAULT_TEST_STRIPE_MOCK_CERT"
	// Module is what to install.
	Module = "github.com/stripe/stripe-mock@v0.203.0"
)

// Server is stripe-mock as a test reaches it.
type Server struct {
	// URL is the TLS endpoint in front of it: https://127.0.0.1:<port>.
	URL string
	// Allow is the egress allow entry for URL, "127.0.0.1:<port>".
	Allow string
	// Roots holds the endpoint's certificate, and CAFile is the same as a
	// PEM file: the guard's extra root (-egress-ca-file).
	Roots  []*x509.Certificate
	CAFile string
}

// Start returns stripe-mock behind a TLS endpoint of its own, closed when
// the test ends. It fails the test when stripe-mock was not started.
func Start(t testing.TB) *Server {
	t.Helper()
	raw, certFile := os.Getenv(EnvURL), os.Getenv(EnvCert)
	if raw == "" || certFile == "" {
		t.Fatalf("this test needs stripe-mock (%s): run `make test`, which installs and starts it, or "+
			"`scripts/with-stripe-mock.sh go test ...`, or start it yourself and set %s (its https://127.0.0.1:port) and %s (its certificate)",
			Module, EnvURL, EnvCert)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		t.Fatalf("stripemock: %s is not an https:// URL", EnvURL)
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatalf("stripemock: %v", err)
	}
	f, err := NewFront("127.0.0.1:0", u.Host, cert)
	if err != nil {
		t.Fatalf("stripemock: %v", err)
	}
	t.Cleanup(f.Close)
	caFile := filepath.Join(t.TempDir(), "stripe-mock-front.pem")
	if err := os.WriteFile(caFile, f.CertPEM(), 0o600); err != nil {
		t.Fatalf("stripemock: %v", err)
	}
	return &Server{URL: f.URL, Allow: f.Addr, Roots: []*x509.Certificate{f.Cert}, CAFile: caFile}
}

// Front is a TLS endpoint in front of an HTTPS server whose certificate
// the egress guard cannot verify: it serves a certificate of its own
// (Cert) and relays each connection's bytes to the upstream over TLS,
// pinned to the upstream's certificate. examples/psp-front runs one.
type Front struct {
	// URL is https://<Addr>.
	URL, Addr string
	// Cert is the endpoint's certificate: self-signed, for IP 127.0.0.1.
	Cert *x509.Certificate
	r    *relay
}

// NewFront listens on addr (a 127.0.0.1 address) and relays to upstream
// (host:port), which must present exactly the certificate upstreamCert
// (PEM).
func NewFront(addr, upstream string, upstreamCert []byte) (*Front, error) {
	up, err := upstreamConfig(upstreamCert)
	if err != nil {
		return nil, err
	}
	front, leaf, err := frontConfig()
	if err != nil {
		return nil, err
	}
	ln, err := tls.Listen("tcp", addr, front)
	if err != nil {
		return nil, err
	}
	r := &relay{ln: ln, upstream: upstream, tls: up, conns: map[net.Conn]struct{}{}}
	go r.serve()
	a := ln.Addr().String()
	return &Front{URL: "https://" + a, Addr: a, Cert: leaf, r: r}, nil
}

// CertPEM is Cert as a PEM file's contents: the server's -egress-ca-file.
func (f *Front) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.Cert.Raw})
}

// Close stops the endpoint and closes its connections.
func (f *Front) Close() { f.r.close() }

// upstreamConfig trusts stripe-mock's embedded certificate, and nothing
// else: the certificate it presents must be that one, byte for byte.
func upstreamConfig(pemBytes []byte) (*tls.Config, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("the upstream's certificate is not a PEM certificate")
	}
	want := block.Bytes
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		// The chain cannot verify (see the package documentation); the
		// certificate is pinned instead, which proves the same thing:
		// that the peer holds its private key.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, want) {
				return errors.New("stripemock: the upstream does not serve stripe-mock's certificate")
			}
			return nil
		},
	}, nil
}

// frontConfig makes the TLS endpoint's certificate: self-signed, ECDSA
// P-256, for IP 127.0.0.1, valid for a day.
func frontConfig() (*tls.Config, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "stripe-mock (cardvault tests)"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"}, // stripe-mock's listener speaks HTTP/1.1 to the relay
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}},
	}, leaf, nil
}

// relay copies each connection's bytes to a TLS connection to upstream
// and back.
type relay struct {
	ln       net.Listener
	upstream string
	tls      *tls.Config
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

func (r *relay) serve() {
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		if !r.track(c) {
			c.Close()
			return
		}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			defer r.untrack(c)
			up, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", r.upstream, r.tls)
			if err != nil {
				return
			}
			if !r.track(up) {
				up.Close()
				return
			}
			defer r.untrack(up)
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					_ = cw.CloseWrite()
				}
				done <- struct{}{}
			}
			go pipe(up, c)
			go pipe(c, up)
			<-done
			<-done
		}()
	}
}

func (r *relay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *relay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

func (r *relay) close() {
	r.ln.Close()
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}
