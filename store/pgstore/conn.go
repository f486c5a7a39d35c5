package pgstore

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// The connection settings the store gives every connection unless the
// connection string says otherwise. They bound how long a server that
// stops answering — a primary whose machine hung or was cut off, which
// closes no TCP connection — holds up the store: a request is given up on
// after the read timeout, and a new connection tries the next host of a
// multi-host URL after the connect timeout.
const (
	// DefaultReadTimeout bounds each read from the server: a query or
	// COMMIT whose answer does not start within it fails and its
	// connection is closed. URL parameter cardvault_read_timeout (a Go
	// duration, "0" for none).
	DefaultReadTimeout = 3 * time.Second
	// DefaultConnectTimeout bounds a connection attempt to one host,
	// TCP connect and startup: pgx's connect_timeout (whole seconds).
	DefaultConnectTimeout = 2 * time.Second
	// DefaultStatementTimeout is PostgreSQL's statement_timeout: the
	// server cancels a statement that runs longer. It is longer than the
	// read timeout, so that the client has given up first. It does not
	// cover a COMMIT's wait for a synchronous standby, which PostgreSQL
	// runs with the timeout off (TestMinStandbysAndSynchronousReplication).
	DefaultStatementTimeout = "5s"
	// DefaultIdleInTransactionTimeout is PostgreSQL's
	// idle_in_transaction_session_timeout: the server ends the session of
	// a client that went silent inside a transaction, and releases its
	// locks.
	DefaultIdleInTransactionTimeout = "5s"
	// TCP keepalive, as libpq names its parameters keepalives (1 on, 0
	// off), keepalives_idle and keepalives_interval (seconds) and
	// keepalives_count: an idle connection to a machine that is gone is
	// noticed after about idle + interval × count.
	DefaultKeepaliveIdle     = 5 * time.Second
	DefaultKeepaliveInterval = time.Second
	DefaultKeepaliveCount    = 3
	// DefaultTCPUserTimeout is TCP_USER_TIMEOUT (Linux): how long sent
	// data may stay unacknowledged before the kernel drops the
	// connection. libpq's tcp_user_timeout (milliseconds; 0 for the
	// kernel's default).
	DefaultTCPUserTimeout = 5 * time.Second
)

// netSettings are the client side of the connection settings.
type netSettings struct {
	readTimeout       time.Duration
	keepalive         bool
	keepaliveIdle     time.Duration
	keepaliveInterval time.Duration
	keepaliveCount    int
	tcpUserTimeout    time.Duration
}

// errSetting is a connection-string parameter the store reads that does not
// parse; its message names the parameter, never the string.
type errSetting struct{ name string }

func (e errSetting) Error() string { return "pgstore: invalid " + e.name + " in the connection string" }

// settings are the store's own parameters of the connection string.
type settings struct {
	net      netSettings
	standbys standbyGuard
}

// takeParam takes the parameter name out of params (where pgx put it, as
// it does every parameter it does not know, to be sent to the server) and
// parses its value, if it is there; the error names the parameter, never
// its value.
func takeParam(params map[string]string, name string, parse func(string) error) error {
	v, ok := params[name]
	if !ok {
		return nil
	}
	delete(params, name)
	if err := parse(v); err != nil {
		return errSetting{name}
	}
	return nil
}

// count parses a whole number ≥ 0 into n; duration one into d, in unit.
func count(n *int) func(string) error {
	return func(v string) error {
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 {
			return errors.New("not a whole number ≥ 0")
		}
		*n = i
		return nil
	}
}

func duration(d *time.Duration, unit time.Duration) func(string) error {
	return func(v string) error {
		var i int
		if err := count(&i)(v); err != nil {
			return err
		}
		*d = time.Duration(i) * unit
		return nil
	}
}

// configure takes the store's own parameters out of cfg.RuntimeParams and
// sets the defaults of the others; cfg is what pgxpool.ParseConfig made. It
// returns the client-side settings; cfg.DialFunc now applies the network
// ones.
func configure(cfg *pgconn.Config) (settings, error) {
	ns := netSettings{readTimeout: DefaultReadTimeout, keepalive: true, keepaliveIdle: DefaultKeepaliveIdle,
		keepaliveInterval: DefaultKeepaliveInterval, keepaliveCount: DefaultKeepaliveCount, tcpUserTimeout: DefaultTCPUserTimeout}
	p := cfg.RuntimeParams
	err := errors.Join(
		takeParam(p, "cardvault_read_timeout", func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return errors.New("not a duration ≥ 0")
			}
			ns.readTimeout = d
			return nil
		}),
		takeParam(p, "keepalives", func(v string) error {
			if v != "0" && v != "1" {
				return errors.New("neither 0 nor 1")
			}
			ns.keepalive = v == "1"
			return nil
		}),
		takeParam(p, "keepalives_idle", duration(&ns.keepaliveIdle, time.Second)),
		takeParam(p, "keepalives_interval", duration(&ns.keepaliveInterval, time.Second)),
		takeParam(p, "keepalives_count", count(&ns.keepaliveCount)),
		takeParam(p, "tcp_user_timeout", duration(&ns.tcpUserTimeout, time.Millisecond)),
	)
	guard, gerr := takeStandbySettings(p)
	if err = errors.Join(err, gerr); err != nil {
		return settings{}, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	for name, def := range map[string]string{
		"statement_timeout":                   DefaultStatementTimeout,
		"idle_in_transaction_session_timeout": DefaultIdleInTransactionTimeout,
	} {
		switch v, ok := cfg.RuntimeParams[name]; {
		case !ok:
			cfg.RuntimeParams[name] = def
		case v == "":
			// Given empty: not sent at all (a connection pooler such
			// as PgBouncer refuses startup parameters it does not
			// know); the server's own setting holds.
			delete(cfg.RuntimeParams, name)
		}
	}
	cfg.DialFunc = ns.dial // every host of a multi-host string too
	return settings{net: ns, standbys: guard}, nil
}

// dial opens a TCP (or Unix socket) connection with the keepalive and user
// timeout settings, wrapped so that every read has the read timeout.
func (ns netSettings) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	return ns.dialHost(ctx, network, addr, "")
}

// dialHost is dial for the host host:port of the connection string (addr
// is its resolved address), which the connection remembers.
func (ns netSettings) dialHost(ctx context.Context, network, addr, host string) (*timeoutConn, error) {
	d := net.Dialer{KeepAlive: -1}
	if ns.keepalive {
		d.KeepAliveConfig = net.KeepAliveConfig{Enable: true, Idle: ns.keepaliveIdle, Interval: ns.keepaliveInterval, Count: ns.keepaliveCount}
		if ns.keepaliveCount == 0 {
			d.KeepAliveConfig.Count = -1 // the kernel's default
		}
	}
	if ns.tcpUserTimeout > 0 && (network == "tcp" || network == "tcp4" || network == "tcp6") {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = setTCPUserTimeout(fd, ns.tcpUserTimeout) }); err != nil {
				return err
			}
			return serr
		}
	}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &timeoutConn{Conn: c, host: host, timeout: ns.readTimeout}, nil
}

// timeoutConn gives every Read a deadline: the read timeout from the moment
// the read starts, or the deadline pgx set, if earlier (pgx sets one when a
// query's context ends). pgx reads only when it waits for an answer, never
// on an idle connection, so the timeout bounds how long an answer may keep
// the store waiting — which is what notices a server that hangs: TCP
// keepalive cannot, since a hung server's kernel still answers the probes.
// It also knows the host of the connection string it is to (see
// hostOrder).
type timeoutConn struct {
	net.Conn
	host    string        // host:port as the connection string names it
	timeout time.Duration // 0: no read timeout

	// Atomic: pgx reads on a goroutine of its own (its background
	// reader), which the first Write does not happen before.
	wrote  atomic.Bool // the first Write is done
	cancel atomic.Bool // the connection carries a CancelRequest

	mu       sync.Mutex
	deadline time.Time // the caller's read deadline; zero: none
}

// cancelRequestCode opens a PostgreSQL CancelRequest message.
const cancelRequestCode = 80877102

// cancelWait bounds how long a connection that carries a CancelRequest waits
// for the server to close it.
const cancelWait = 100 * time.Millisecond

func (c *timeoutConn) Write(b []byte) (int, error) {
	if c.wrote.CompareAndSwap(false, true) {
		// pgx sends a CancelRequest on a connection of its own when it
		// gives up on one (asyncClose), and waits for the server to
		// close it — up to the read timeout when the server hangs, and
		// the pool holds the given-up connection's slot meanwhile,
		// which after a failover keeps new connections from being
		// made. The request is a courtesy to a server about to lose
		// the connection anyway: it gets a short wait.
		c.cancel.Store(len(b) == 16 && binary.BigEndian.Uint32(b[4:8]) == cancelRequestCode)
	}
	return c.Conn.Write(b)
}

func (c *timeoutConn) Read(b []byte) (int, error) {
	if c.cancel.Load() {
		_ = c.Conn.SetReadDeadline(time.Now().Add(cancelWait))
		n, err := c.Conn.Read(b)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = io.EOF // as if the server had closed it: done
		}
		return n, err
	}
	if c.timeout <= 0 {
		return c.Conn.Read(b)
	}
	c.mu.Lock()
	d := time.Now().Add(c.timeout)
	if !c.deadline.IsZero() && c.deadline.Before(d) {
		d = c.deadline
	}
	err := c.Conn.SetReadDeadline(d)
	c.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(b)
	var ne net.Error
	if err != nil && errors.As(err, &ne) && ne.Timeout() {
		c.mu.Lock()
		own := c.deadline.IsZero() || d.Before(c.deadline)
		c.mu.Unlock()
		if own {
			// Not a timeout to pgx, which keeps a connection whose read
			// timed out (its own deadlines serve to cancel a query),
			// and would wait out the read timeout again on it: this
			// one is dead.
			c.Conn.Close()
			err = &readTimeoutError{timeout: c.timeout, err: err}
		}
	}
	return n, err
}

// readTimeoutError is a read that got no answer within the read timeout. It
// is a net.Error whose Timeout is false, so that pgx closes the connection;
// it does not unwrap to the deadline error, which pgx would find instead.
type readTimeoutError struct {
	timeout time.Duration
	err     error
}

func (e *readTimeoutError) Error() string {
	return fmt.Sprintf("pgstore: no answer from the server within the read timeout (%v): %v", e.timeout, e.err)
}
func (e *readTimeoutError) Timeout() bool   { return false }
func (e *readTimeoutError) Temporary() bool { return false }

func (c *timeoutConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetDeadline(t)
}

func (c *timeoutConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetReadDeadline(t)
}

// hostOrder puts first, for every new connection, the host of a multi-host
// connection string that the last connection was made to — the one that
// was primary then (target_session_attrs=read-write) — instead of always
// the first one named. When the first host hangs (a frozen primary, whose
// kernel still completes the TCP handshake), every new connection would
// otherwise wait out the connect timeout on it before trying the next, for
// as long as it hangs; now only those made before one reached the new
// primary do.
type hostOrder struct {
	ns    netSettings
	names sync.Map // resolved IP → the host name it was resolved from
	last  atomic.Pointer[string]
}

func newHostOrder(cfg *pgconn.Config, ns netSettings) *hostOrder {
	h := &hostOrder{ns: ns}
	lookup := cfg.LookupFunc
	cfg.LookupFunc = func(ctx context.Context, host string) ([]string, error) {
		addrs, err := lookup(ctx, host)
		for _, a := range addrs {
			h.names.Store(a, host)
		}
		return addrs, err
	}
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host := ""
		if ip, port, err := net.SplitHostPort(addr); err == nil && network != "unix" {
			name := ip
			if n, ok := h.names.Load(ip); ok {
				name = n.(string)
			}
			host = net.JoinHostPort(name, port)
		}
		return h.ns.dialHost(ctx, network, addr, host)
	}
	return h
}

// connected records the host of a connection that passed
// target_session_attrs.
func (h *hostOrder) connected(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if tc, ok := c.(*timeoutConn); ok && tc.host != "" {
		host := tc.host
		h.last.Store(&host)
	}
}

// order moves the host last connected to to the front of cfg's hosts (with
// all its entries: sslmode=prefer gives each host two, TLS and plain),
// the others after it in their order.
func (h *hostOrder) order(cfg *pgconn.Config) {
	last := h.last.Load()
	if last == nil || len(cfg.Fallbacks) == 0 {
		return
	}
	is := func(fb *pgconn.FallbackConfig) bool {
		return net.JoinHostPort(fb.Host, strconv.Itoa(int(fb.Port))) == *last
	}
	all := append([]*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}, cfg.Fallbacks...)
	if is(all[0]) {
		return
	}
	sorted := make([]*pgconn.FallbackConfig, 0, len(all))
	for _, fb := range all {
		if is(fb) {
			sorted = append(sorted, fb)
		}
	}
	if len(sorted) == 0 {
		return
	}
	for _, fb := range all {
		if !is(fb) {
			sorted = append(sorted, fb)
		}
	}
	cfg.Host, cfg.Port, cfg.TLSConfig = sorted[0].Host, sorted[0].Port, sorted[0].TLSConfig
	cfg.Fallbacks = sorted[1:]
}
