package egress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"syscall"
	"time"

	"code.dny.dev/ssrf"
)

// The defaults of a zero [Config].
const (
	DefaultConnectTimeout   = 5 * time.Second
	DefaultTimeout          = 10 * time.Second
	DefaultMaxResponseBytes = 1 << 20
)

// maxResponseHeaderBytes bounds a response's headers (net/http's default
// is 1 MiB): a webhook receiver or a payment service has no need of more.
const maxResponseHeaderBytes = 64 << 10

// Config configures a [Guard]. The zero value is the safe default: HTTPS
// only, no allow-list, the system roots, 5 s to connect, 10 s per request,
// 1 MiB per response body.
type Config struct {
	// Allow lets chosen destinations through although their addresses
	// are of a refused class: the operator's -egress-allow list, read by
	// [ParseAllowList].
	Allow []AllowEntry
	// ExtraRoots are trusted for outbound TLS in addition to the system
	// roots: the operator's -egress-ca-file, read by [LoadRoots].
	ExtraRoots []*x509.Certificate
	// AllowHTTP permits http:// URLs (tests, private networks; the
	// server's -allow-http-webhooks). Off, only https:// is accepted.
	AllowHTTP bool
	// ConnectTimeout bounds one dial — name resolution and TCP connect —
	// and the TLS handshake. Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// Timeout bounds a whole request, from dialling to reading the last
	// byte of the response body. Zero means DefaultTimeout.
	Timeout time.Duration
	// MaxResponseBytes bounds a response body: reading past it fails with
	// [ErrTooLarge]. Zero means DefaultMaxResponseBytes.
	MaxResponseBytes int64
}

// Guard is the one door out. Its [Guard.Do] and [Guard.Client] make every
// request through a dialer that checks each address it connects to. A
// Guard is safe for concurrent use; make one per process and share it, so
// its connections are pooled.
type Guard struct {
	allowHTTP      bool
	hosts          []AllowEntry   // host and host:port entries
	prefixes       []netip.Prefix // CIDR entries
	rules          *ssrf.Guardian
	connectTimeout time.Duration
	maxBody        int64
	client         *http.Client
}

// New returns a Guard for cfg. It refuses negative durations and limits,
// and an AllowEntry that was not made by [ParseAllowList].
func New(cfg Config) (*Guard, error) {
	switch {
	case cfg.ConnectTimeout < 0, cfg.Timeout < 0:
		return nil, fmt.Errorf("%w: a timeout is negative", ErrInvalidConfig)
	case cfg.MaxResponseBytes < 0:
		return nil, fmt.Errorf("%w: MaxResponseBytes is negative", ErrInvalidConfig)
	}
	g := &Guard{
		allowHTTP:      cfg.AllowHTTP,
		rules:          ssrf.New(),
		connectTimeout: orDefault(cfg.ConnectTimeout, DefaultConnectTimeout),
		maxBody:        orDefault(cfg.MaxResponseBytes, DefaultMaxResponseBytes),
	}
	for i, e := range cfg.Allow {
		switch {
		case !e.valid():
			return nil, fmt.Errorf("%w: Allow[%d] was not made by ParseAllowList", ErrInvalidConfig, i)
		case e.prefix.IsValid():
			g.prefixes = append(g.prefixes, e.prefix)
		default:
			g.hosts = append(g.hosts, e)
		}
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cfg.ExtraRoots) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			return nil, fmt.Errorf("egress: loading the system roots: %w", err)
		}
		for i, c := range cfg.ExtraRoots {
			if c == nil {
				return nil, fmt.Errorf("%w: ExtraRoots[%d] is nil", ErrInvalidConfig, i)
			}
			pool.AddCert(c)
		}
		tlsConfig.RootCAs = pool
	}
	base := &http.Transport{
		Proxy:               nil, // never HTTP(S)_PROXY: a proxy would dial in our place, unchecked
		DialContext:         g.dial,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: g.connectTimeout,
		ForceAttemptHTTP2:   true, // a custom DialContext turns HTTP/2 off otherwise
		MaxIdleConns:        256,
		// Many workers deliver to one merchant's endpoint or one PSP at
		// once: net/http's default of two idle connections per host made
		// most deliveries dial (and, over TLS, handshake) anew.
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	g.client = &http.Client{
		Transport:     &transport{g: g, base: base},
		CheckRedirect: refuseRedirect,
		Timeout:       orDefault(cfg.Timeout, DefaultTimeout),
	}
	return g, nil
}

func orDefault[T time.Duration | int64](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Do sends req through the guard, as [Guard.Client]().Do would, and
// returns errors without the request's path and query: net/http's
// *url.Error is kept (so errors.As, Timeout() and errors.Is(err,
// context.DeadlineExceeded) work) with its URL cut to scheme://host:port.
// A redirect is an error wrapping [ErrRefused] (see [Guard.Client]); on any
// error the response, if net/http made one, is closed and nil is returned.
func (g *Guard) Do(req *http.Request) (*http.Response, error) {
	resp, err := g.client.Do(req)
	if err != nil {
		if resp != nil && resp.Body != nil {
			resp.Body.Close()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = redactURL(ue.URL)
		}
		return nil, err
	}
	return resp, nil
}

// Client returns an *http.Client whose every connection goes through the
// guard, for code that needs one. It shares the guard's connection pool;
// changing the returned value changes no other caller's. Its dialer checks
// each address it connects to; its transport refuses URLs that
// [Guard.CheckURL]'s rules refuse (http:// without AllowHTTP, user-info,
// IP literals of refused classes) before dialling; it uses no proxy from
// the environment; TLS is 1.2 or later with the system roots and
// [Config].ExtraRoots; response bodies are capped.
//
// Redirects are never followed: a 301, 302, 303, 307 or 308 with a
// Location is an error wrapping [ErrRefused] that names the status and the
// target's host (net/http closes that response). Other 3xx responses (304,
// a 3xx without Location) are returned as responses.
//
// Caveat: net/http wraps every error of Client.Do in a *url.Error that
// holds the whole URL, query included. Use [Guard.Do] wherever an error
// may be logged.
func (g *Guard) Client() *http.Client {
	c := *g.client
	return &c
}

func refuseRedirect(req *http.Request, _ []*http.Request) error {
	status := 0
	if req.Response != nil {
		status = req.Response.StatusCode
	}
	return fmt.Errorf("%w: %d redirect to host %s not followed (redirects are never followed)", ErrRefused, status, quoteHost(req.URL.Host))
}

// redactURL cuts a URL to scheme://host[:port] for error messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(URL not shown)"
	}
	return u.Scheme + "://" + u.Host
}

// quoteHost shows a host that came from outside (a Location header) in a
// message: quoted, cut short.
func quoteHost(h string) string {
	if len(h) > 260 {
		h = h[:260] + "…"
	}
	return fmt.Sprintf("%q", h)
}

// dial is the transport's DialContext: it resolves as net.Dialer does and
// checks, in the dialer's Control hook, every address a connection is
// attempted to — so a name that resolves to a refused address, or that
// changes its answer between two dials, is caught.
func (g *Guard) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("%w: network %q is not TCP", ErrRefused, network)
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read the address to dial", ErrRefused)
	}
	host, err := hostKey(h)
	port, ok := parsePort(p)
	if err != nil || !ok {
		return nil, fmt.Errorf("%w: %s is not a host name or IP address with a port", ErrRefused, quoteHost(addr))
	}
	d := net.Dialer{
		Timeout:   g.connectTimeout,
		KeepAlive: 30 * time.Second,
		Control: func(network, address string, _ syscall.RawConn) error {
			if network != "tcp4" && network != "tcp6" {
				return fmt.Errorf("%w: network %q is not TCP", ErrRefused, network)
			}
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return fmt.Errorf("%w: cannot read the address dialled", ErrRefused)
			}
			return g.checkAddr(host, port, ap.Addr())
		},
	}
	return d.DialContext(ctx, network, addr)
}

// checkAddr is the address rule: may a connection for host (in hostKey
// form) on port go to a? Yes when the allow-list names the host (on any
// port or this one) or holds a prefix with a in it; otherwise when the
// rules of code.dny.dev/ssrf let a through — they refuse the IANA
// special-purpose ranges (loopback, RFC 1918, link-local, CGNAT,
// documentation and benchmarking ranges, multicast, reserved, "this
// network") and every IPv6 address outside global unicast 2000::/3 (so
// ::1, ::, fe80::/10, fc00::/7, ff00::/8, NAT64 and IPv4-compatible
// forms) plus the special ranges within it (Teredo, 6to4, documentation).
// An IPv4-mapped IPv6 address is judged as the IPv4 address it maps.
func (g *Guard) checkAddr(host string, port uint16, a netip.Addr) error {
	for _, e := range g.hosts {
		if e.host == host && (e.port == 0 || e.port == port) {
			return nil
		}
	}
	a = a.Unmap()
	for _, p := range g.prefixes {
		if p.Contains(a.WithZone("")) {
			return nil
		}
	}
	if err := g.rules.SafeAddr(a); err != nil {
		if host == a.String() {
			return fmt.Errorf("%w: %s is %s, not in the egress allow-list", ErrRefused, a, addrClass(a))
		}
		return fmt.Errorf("%w: %s resolves to %s, %s, not in the egress allow-list", ErrRefused, host, a, addrClass(a))
	}
	return nil
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// addrClass names the class of a refused address for messages. It decides
// nothing: the rules are the library's.
func addrClass(a netip.Addr) string {
	switch {
	case a.IsUnspecified():
		return "an unspecified address"
	case a.IsLoopback():
		return "a loopback address"
	case a.IsPrivate() && a.Is4():
		return "a private address (RFC 1918)"
	case a.IsPrivate():
		return "a unique local address (fc00::/7)"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a.IsMulticast():
		return "a multicast address"
	case cgnat.Contains(a):
		return "a shared address (CGNAT, 100.64.0.0/10)"
	default:
		return "a special-purpose address"
	}
}

// transport checks each request's URL before the base transport dials,
// and caps each response body.
type transport struct {
	g    *Guard
	base *http.Transport
}

var _ http.RoundTripper = (*transport)(nil)

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.g.checkParsed(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip must close the body, even on error
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body := &cappedBody{rc: resp.Body, left: t.g.maxBody, max: t.g.maxBody}
	if resp.Body != http.NoBody && resp.ContentLength > t.g.maxBody {
		body.err = body.tooLarge() // fail at once rather than read a body we refuse
	}
	resp.Body = body
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// pool.
func (t *transport) CloseIdleConnections() { t.base.CloseIdleConnections() }

// cappedBody returns the first max bytes of a body and then ErrTooLarge
// if there is more.
type cappedBody struct {
	rc   io.ReadCloser
	left int64 // bytes still allowed
	max  int64
	err  error
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1] // one byte past the limit tells "more" from EOF
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = 0
		b.err = b.tooLarge()
		return n, b.err
	}
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) tooLarge() error {
	return fmt.Errorf("%w: the body is over the %d-byte limit", ErrTooLarge, b.max)
}

func (b *cappedBody) Close() error { return b.rc.Close() }
