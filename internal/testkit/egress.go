package testkit

import (
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/egress"
)

// Guard returns the real egress guard of cfg with allow (an allow list as
// egress.ParseAllowList reads it, such as "127.0.0.1" for the tests' own
// servers) as its explicit allow entries. Its idle connections are closed
// when the test ends.
func Guard(t testing.TB, cfg egress.Config, allow string) *egress.Guard {
	t.Helper()
	entries, err := egress.ParseAllowList(allow)
	require.NoError(t, err)
	cfg.Allow = entries
	g, err := egress.New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { g.Client().CloseIdleConnections() })
	return g
}

// httptestCert is made once: a throwaway TLS server's certificate.
var httptestCert = sync.OnceValue(func() *x509.Certificate {
	s := httptest.NewTLSServer(http.NotFoundHandler())
	defer s.Close()
	return s.Certificate()
})

// HTTPTestCert returns the certificate every httptest TLS server presents
// (net/http/httptest has one, for 127.0.0.1): the root a guard needs to
// reach a test's TLS servers, made before any of them is started.
func HTTPTestCert() *x509.Certificate { return httptestCert() }
