package egress_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/testkit"
)

// Every request of these tests carries a planted secret in its path and
// query; no error may repeat either.
var planted testkit.Secrets

var (
	secretPath  = planted.Add("path", "hooks-8c1f2e0b7d")
	secretQuery = planted.Add("query", "secret=q-51d0c9a4e3f2")
	target      = "/" + secretPath + "?" + secretQuery
)

// requireClean fails when err's message holds a planted secret.
func requireClean(t *testing.T, err error) {
	t.Helper()
	require.Error(t, err)
	require.Empty(t, planted.Found(err.Error()), "error repeats a secret: %v", planted.Found(err.Error()))
}

// quiet is the error log of test servers whose handshakes fail on purpose.
var quiet = log.New(io.Discard, "", 0)

func get(t *testing.T, g *egress.Guard, rawURL string) (*http.Response, error) {
	t.Helper()
	// A failsafe, not a timing: should the guard's own timeout be lost, a
	// test fails with context.Canceled rather than hang.
	ctx, cancel := context.WithCancel(context.Background())
	stop := time.AfterFunc(30*time.Second, cancel)
	t.Cleanup(func() { stop.Stop(); cancel() })
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	return g.Do(req)
}

// probe is a listener that proves what connected to it: it serves HTTP,
// counts the connections it accepts and records the paths asked for.
type probe struct {
	srv   *httptest.Server
	conns atomic.Int64
	mu    sync.Mutex
	paths []string
}

// newProbe listens on addr ("127.0.0.1:0", "127.0.0.2:0", "[::1]:0"). It
// returns nil when the address cannot be bound (no IPv6 loopback).
func newProbe(t *testing.T, addr string, tlsToo bool) *probe {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil && !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Logf("cannot listen on %s (%v): the refusal is checked without a listener", addr, err)
		return nil
	}
	require.NoError(t, err)
	p := &probe{}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.paths = append(p.paths, r.URL.Path)
		p.mu.Unlock()
		io.WriteString(w, "probe")
	}))
	p.srv.Listener.Close()
	p.srv.Listener = ln
	p.srv.Config.ErrorLog = quiet // a refused TLS handshake is expected here
	p.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew { // called by the accept loop itself, in order
			p.conns.Add(1)
		}
	}
	if tlsToo {
		p.srv.StartTLS()
	} else {
		p.srv.Start()
	}
	t.Cleanup(p.srv.Close)
	return p
}

func (p *probe) port() string {
	_, port, _ := net.SplitHostPort(p.srv.Listener.Addr().String())
	return port
}

// requireNothingConnected proves that nothing connected to p before now:
// it sends a marker request through a guard that allows p's address and,
// once answered, requires the marker's to be the only connection p ever
// accepted (connections are accepted in the order they arrive).
func (p *probe) requireNothingConnected(t *testing.T) {
	t.Helper()
	host, _, err := net.SplitHostPort(p.srv.Listener.Addr().String())
	require.NoError(t, err)
	marker := testkit.Guard(t, egress.Config{AllowHTTP: true}, host)
	resp, err := get(t, marker, "http://"+net.JoinHostPort(host, p.port())+"/marker")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, int64(1), p.conns.Load(), "a connection other than the marker reached %s", host)
	p.mu.Lock()
	defer p.mu.Unlock()
	require.Equal(t, []string{"/marker"}, p.paths)
}

func TestRefusedDestinationsConnectNothing(t *testing.T) {
	cases := []struct {
		name  string
		allow string
		host  string // dialled as host:port of the probe
		probe string // where the probe listens
		want  string // in the message
	}{
		{"127.0.0.1 without an allow entry", "", "127.0.0.1", "127.0.0.1:0", "127.0.0.1 is a loopback address"},
		{"localhost resolves to loopback", "127.0.0.1", "localhost", "127.0.0.1:0", "localhost resolves to"},
		{"LOCALHOST in capitals", "", "LOCALHOST", "127.0.0.1:0", "localhost resolves to"},
		{"0.0.0.0 reaches this machine", "", "0.0.0.0", "127.0.0.1:0", "0.0.0.0 is an unspecified address"},
		{"127.0.0.2", "127.0.0.1", "127.0.0.2", "127.0.0.2:0", "127.0.0.2 is a loopback address"},
		{"[::1]", "127.0.0.1/32", "::1", "[::1]:0", "::1 is a loopback address"},
		{"[::ffff:127.0.0.1]", "", "::ffff:127.0.0.1", "127.0.0.1:0", "127.0.0.1 is a loopback address"},
		{"a host:port entry on another port", "127.0.0.1:1", "127.0.0.1", "127.0.0.1:0", "loopback"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newProbe(t, c.probe, false)
			port := "9" // nothing listens: the refusal alone is checked
			if p != nil {
				port = p.port()
			}
			g := testkit.Guard(t, egress.Config{AllowHTTP: true}, c.allow)
			hostport := net.JoinHostPort(c.host, port)

			// Through the dialer itself, the address check of every dial.
			conn, err := g.DialContext(context.Background(), "tcp", hostport)
			if conn != nil {
				conn.Close()
			}
			require.ErrorIs(t, err, egress.ErrRefused)
			require.ErrorIs(t, err, cardvault.ErrForbidden)
			require.Contains(t, err.Error(), c.want)

			// Through an HTTP request (an IP literal is refused before the dial).
			resp, err := get(t, g, "http://"+hostport+target)
			require.Nil(t, resp)
			require.ErrorIs(t, err, egress.ErrRefused)
			require.Contains(t, err.Error(), c.want)
			requireClean(t, err)

			if p != nil {
				p.requireNothingConnected(t)
			}
		})
	}
}

func TestAllowEntriesReachLoopback(t *testing.T) {
	for _, c := range []struct{ name, allow, host string }{
		{"host entry", "127.0.0.1", "127.0.0.1"},
		{"host:port entry", "127.0.0.1:PORT", "127.0.0.1"},
		{"CIDR /32", "127.0.0.1/32", "127.0.0.1"},
		{"CIDR /8", "127.0.0.0/8", "127.0.0.1"},
		{"CIDR reaches a name that resolves into it", "127.0.0.0/8, ::1/128", "localhost"},
		{"mapped literal, IPv4 entry", "127.0.0.1", "::ffff:127.0.0.1"},
		{"localhost by name", "localhost", "localhost"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newProbe(t, "127.0.0.1:0", false)
			g := testkit.Guard(t, egress.Config{AllowHTTP: true}, strings.ReplaceAll(c.allow, "PORT", p.port()))
			resp, err := get(t, g, "http://"+net.JoinHostPort(c.host, p.port())+"/hello")
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, "probe", string(body))
			require.Equal(t, int64(1), p.conns.Load())
		})
	}
}

func TestRedirectsAreNotFollowed(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			second := newProbe(t, "127.0.0.1:0", false) // allowed too: still not followed
			first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, "http://127.0.0.1:"+second.port()+target, status)
			}))
			defer first.Close()
			g := testkit.Guard(t, egress.Config{AllowHTTP: true}, "127.0.0.1")
			resp, err := get(t, g, first.URL+target)
			require.Nil(t, resp)
			require.ErrorIs(t, err, egress.ErrRefused)
			require.Contains(t, err.Error(), fmt.Sprintf("%d redirect to host \"127.0.0.1:%s\" not followed", status, second.port()))
			requireClean(t, err)
			var ue *url.Error // net/http's error type is kept, its URL cut to the host
			require.ErrorAs(t, err, &ue)
			require.Equal(t, "http://127.0.0.1:"+second.port(), ue.URL)
			second.requireNothingConnected(t)
		})
	}
	t.Run("304 is a response", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotModified)
		}))
		defer srv.Close()
		g := testkit.Guard(t, egress.Config{AllowHTTP: true}, "127.0.0.1")
		resp, err := get(t, g, srv.URL)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNotModified, resp.StatusCode)
	})
}

func TestHTTPOnlyWithAllowHTTP(t *testing.T) {
	p := newProbe(t, "127.0.0.1:0", false)
	u := "http://127.0.0.1:" + p.port() + target

	g := testkit.Guard(t, egress.Config{}, "127.0.0.1")
	require.ErrorIs(t, g.CheckURL(u), egress.ErrRefused)
	resp, err := get(t, g, u)
	require.Nil(t, resp)
	require.ErrorIs(t, err, egress.ErrRefused)
	require.Contains(t, err.Error(), "http:// is not allowed")
	requireClean(t, err)
	p.requireNothingConnected(t) // one connection: the marker

	g = testkit.Guard(t, egress.Config{AllowHTTP: true}, "127.0.0.1")
	require.NoError(t, g.CheckURL(u))
	resp, err = get(t, g, u)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, int64(2), p.conns.Load())
}

func TestTLSRoots(t *testing.T) {
	p := newProbe(t, "127.0.0.1:0", true)
	u := p.srv.URL + target

	g := testkit.Guard(t, egress.Config{ExtraRoots: []*x509.Certificate{p.srv.Certificate()}}, "127.0.0.1")
	resp, err := get(t, g, u)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.GreaterOrEqual(t, resp.TLS.Version, uint16(tls.VersionTLS12))

	g = testkit.Guard(t, egress.Config{}, "127.0.0.1") // system roots only
	resp, err = get(t, g, u)
	require.Nil(t, resp)
	var unknown x509.UnknownAuthorityError
	require.ErrorAs(t, err, &unknown)
	requireClean(t, err)
}

func TestTLSBelow12Refused(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	srv.TLS = &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}
	srv.Config.ErrorLog = quiet
	srv.StartTLS()
	defer srv.Close()
	g := testkit.Guard(t, egress.Config{ExtraRoots: []*x509.Certificate{srv.Certificate()}}, "127.0.0.1")
	resp, err := get(t, g, srv.URL+target)
	require.Nil(t, resp)
	require.ErrorContains(t, err, "protocol version")
	requireClean(t, err)
}

func TestResponseBodyCap(t *testing.T) {
	const max = 1000
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := len(r.URL.Query().Get("n"))
		if r.URL.Query().Has("chunked") {
			w.(http.Flusher).Flush() // no Content-Length: the cap works while reading
		} else {
			w.Header().Set("Content-Length", fmt.Sprint(n))
		}
		io.WriteString(w, strings.Repeat("x", n))
	}))
	defer srv.Close()
	g := testkit.Guard(t, egress.Config{AllowHTTP: true, MaxResponseBytes: max}, "127.0.0.1")
	for _, c := range []struct {
		name    string
		n       int
		chunked bool
		read    int // bytes read before the error
		tooBig  bool
	}{
		{"at the limit", max, false, max, false},
		{"at the limit, chunked", max, true, max, false},
		{"one over, Content-Length", max + 1, false, 0, true},
		{"one over, chunked", max + 1, true, max, true},
		{"far over, chunked", 50 * max, true, max, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := url.Values{"n": {strings.Repeat("n", c.n)}}
			if c.chunked {
				q.Set("chunked", "1")
			}
			resp, err := get(t, g, srv.URL+"/?"+q.Encode())
			require.NoError(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			require.Len(t, body, c.read)
			if !c.tooBig {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, egress.ErrTooLarge)
			require.ErrorIs(t, err, cardvault.ErrTooLarge)
			require.ErrorContains(t, err, "over the 1000-byte limit")
		})
	}
}

func TestTimeouts(t *testing.T) {
	t.Run("no answer", func(t *testing.T) {
		// A listener that accepts and never answers.
		addr := testkit.Listen(t, func(net.Conn) {})
		g := testkit.Guard(t, egress.Config{AllowHTTP: true, Timeout: 200 * time.Millisecond}, "127.0.0.1")
		resp, err := get(t, g, "http://"+addr+target)
		require.Nil(t, resp)
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		require.True(t, ne.Timeout(), "%v", err)
		require.NotErrorIs(t, err, context.Canceled) // the failsafe did not end it
		requireClean(t, err)
	})
	t.Run("body never ends", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "start")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}))
		defer srv.Close()
		defer close(release)
		g := testkit.Guard(t, egress.Config{AllowHTTP: true, Timeout: 200 * time.Millisecond}, "127.0.0.1")
		resp, err := get(t, g, srv.URL+target)
		require.NoError(t, err) // the headers came in time
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		require.Error(t, err)
		require.True(t, errors.Is(err, context.DeadlineExceeded) || isTimeout(err), "%v", err)
		require.NotErrorIs(t, err, context.Canceled) // the failsafe did not end it
		requireClean(t, err)
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestNoProxyFromEnvironment(t *testing.T) {
	require.False(t, testkit.Guard(t, egress.Config{}, "").UsesProxy())
}

func TestClientIsACopy(t *testing.T) {
	g := testkit.Guard(t, egress.Config{AllowHTTP: true}, "127.0.0.1")
	c := g.Client()
	c.CheckRedirect = nil // a caller's change...
	c.Timeout = time.Hour
	require.NotNil(t, g.Client().CheckRedirect) // ...is not the guard's
	require.Equal(t, egress.DefaultTimeout, g.Client().Timeout)
}

func TestClientRefusesToo(t *testing.T) {
	// The *http.Client refuses what Do refuses: the checks live in its
	// transport and dialer. (Its errors hold the whole URL, as net/http
	// makes them: that is why Do exists.)
	p := newProbe(t, "127.0.0.1:0", false)
	g := testkit.Guard(t, egress.Config{AllowHTTP: true}, "")
	for _, u := range []string{
		"http://127.0.0.1:" + p.port() + "/",
		"http://localhost:" + p.port() + "/",
		"http://user:pw@127.0.0.1:" + p.port() + "/",
	} {
		resp, err := g.Client().Get(u)
		if resp != nil {
			resp.Body.Close()
		}
		require.Error(t, err, u)
	}
	p.requireNothingConnected(t)
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]egress.Config{
		"negative connect timeout": {ConnectTimeout: -1},
		"negative timeout":         {Timeout: -time.Second},
		"negative size":            {MaxResponseBytes: -1},
		"zero AllowEntry":          {Allow: []egress.AllowEntry{{}}},
		"nil root":                 {ExtraRoots: []*x509.Certificate{nil}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := egress.New(cfg)
			require.ErrorIs(t, err, egress.ErrInvalidConfig)
			require.ErrorIs(t, err, cardvault.ErrInvalid)
		})
	}
}
