package pgstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
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
	// read timeout, so that the client has given up first: a COMMIT
	// waiting for the synchronous standby, cancelled by the server, would
	// be acknowledged without having been replicated.
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

// configure takes the store's own parameters out of cfg.RuntimeParams
// (where pgx put them, as it does every parameter it does not know, to be
// sent to the server) and sets the defaults of the others; cfg is what
// pgxpool.ParseConfig made. It returns the client-side settings, which
// cfg.DialFunc now applies.
func configure(cfg *pgconn.Config) (netSettings, error) {
	ns := netSettings{readTimeout: DefaultReadTimeout, keepalive: true, keepaliveIdle: DefaultKeepaliveIdle,
		keepaliveInterval: DefaultKeepaliveInterval, keepaliveCount: DefaultKeepaliveCount, tcpUserTimeout: DefaultTCPUserTimeout}
	take := func(name string, parse func(string) error) error {
		v, ok := cfg.RuntimeParams[name]
		if !ok {
			return nil
		}
		delete(cfg.RuntimeParams, name)
		if err := parse(v); err != nil {
			return errSetting{name}
		}
		return nil
	}
	seconds := func(d *time.Duration) func(string) error {
		return func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errors.New("bad")
			}
			*d = time.Duration(n) * time.Second
			return nil
		}
	}
	err := errors.Join(
		take("cardvault_read_timeout", func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return errors.New("bad")
			}
			ns.readTimeout = d
			return nil
		}),
		take("keepalives", func(v string) error {
			switch v {
			case "0":
				ns.keepalive = false
			case "1":
				ns.keepalive = true
			default:
				return errors.New("bad")
			}
			return nil
		}),
		take("keepalives_idle", seconds(&ns.keepaliveIdle)),
		take("keepalives_interval", seconds(&ns.keepaliveInterval)),
		take("keepalives_count", func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errors.New("bad")
			}
			ns.keepaliveCount = n
			return nil
		}),
		take("tcp_user_timeout", func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return errors.New("bad")
			}
			ns.tcpUserTimeout = time.Duration(n) * time.Millisecond
			return nil
		}),
	)
	if err != nil {
		return ns, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	for name, def := range map[string]string{
		"statement_timeout":                   DefaultStatementTimeout,
		"idle_in_transaction_session_timeout": DefaultIdleInTransactionTimeout,
	} {
		if _, ok := cfg.RuntimeParams[name]; !ok {
			cfg.RuntimeParams[name] = def
		}
	}
	cfg.DialFunc = ns.dial // every host of a multi-host string too
	return ns, nil
}

// dial opens a TCP (or Unix socket) connection with the keepalive and user
// timeout settings, wrapped so that every read has the read timeout.
func (ns netSettings) dial(ctx context.Context, network, addr string) (net.Conn, error) {
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
	if ns.readTimeout <= 0 {
		return c, nil
	}
	return &readTimeoutConn{Conn: c, timeout: ns.readTimeout}, nil
}

// readTimeoutConn gives every Read a deadline: the read timeout from the
// moment the read starts, or the deadline pgx set, if earlier (pgx sets one
// when a query's context ends). pgx reads only when it waits for an answer,
// never on an idle connection, so the timeout bounds how long an answer may
// keep the store waiting — which is what notices a server that hangs: TCP
// keepalive cannot, since a hung server's kernel still answers the probes.
type readTimeoutConn struct {
	net.Conn
	timeout time.Duration

	mu       sync.Mutex
	deadline time.Time // the caller's read deadline; zero: none
}

func (c *readTimeoutConn) Read(b []byte) (int, error) {
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
			err = fmt.Errorf("pgstore: no answer from the server within the read timeout (%v): %w", c.timeout, err)
		}
	}
	return n, err
}

func (c *readTimeoutConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetDeadline(t)
}

func (c *readTimeoutConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	return c.Conn.SetReadDeadline(t)
}
