package pgstore

import (
	"context"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/testkit"
)

// The store's connection settings: its defaults, and the connection
// string's parameters, which override them and are not sent to the server.
func TestConnectionSettings(t *testing.T) {
	defaults := netSettings{readTimeout: DefaultReadTimeout, keepalive: true, keepaliveIdle: DefaultKeepaliveIdle,
		keepaliveInterval: DefaultKeepaliveInterval, keepaliveCount: DefaultKeepaliveCount, tcpUserTimeout: DefaultTCPUserTimeout}
	tests := []struct {
		name, conn     string
		ns             netSettings
		connectTimeout time.Duration
		params         map[string]string
	}{
		{"defaults", "postgres://u@127.0.0.1:5432/db", defaults, DefaultConnectTimeout,
			map[string]string{"statement_timeout": DefaultStatementTimeout, "idle_in_transaction_session_timeout": DefaultIdleInTransactionTimeout}},
		{"overridden in a URL",
			"postgres://u@127.0.0.1:5432,127.0.0.1:5433/db?target_session_attrs=read-write&connect_timeout=7&cardvault_read_timeout=1500ms" +
				"&keepalives_idle=9&keepalives_interval=2&keepalives_count=4&tcp_user_timeout=2500&statement_timeout=1min" +
				"&idle_in_transaction_session_timeout=0&application_name=vault",
			netSettings{readTimeout: 1500 * time.Millisecond, keepalive: true, keepaliveIdle: 9 * time.Second,
				keepaliveInterval: 2 * time.Second, keepaliveCount: 4, tcpUserTimeout: 2500 * time.Millisecond},
			7 * time.Second,
			map[string]string{"statement_timeout": "1min", "idle_in_transaction_session_timeout": "0", "application_name": "vault"}},
		{"turned off in a key=value string", "host=127.0.0.1 dbname=db cardvault_read_timeout=0 keepalives=0 tcp_user_timeout=0",
			netSettings{keepaliveIdle: DefaultKeepaliveIdle, keepaliveInterval: DefaultKeepaliveInterval, keepaliveCount: DefaultKeepaliveCount},
			DefaultConnectTimeout,
			map[string]string{"statement_timeout": DefaultStatementTimeout, "idle_in_transaction_session_timeout": DefaultIdleInTransactionTimeout}},
		{"server settings not sent", "postgres://u@127.0.0.1/db?statement_timeout=&idle_in_transaction_session_timeout=",
			defaults, DefaultConnectTimeout, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := pgxpool.ParseConfig(tc.conn)
			require.NoError(t, err)
			st, err := configure(&cfg.ConnConfig.Config)
			require.NoError(t, err)
			require.Equal(t, tc.ns, st.net)
			require.Equal(t, tc.connectTimeout, cfg.ConnConfig.ConnectTimeout)
			require.Equal(t, tc.params, cfg.ConnConfig.RuntimeParams, "only PostgreSQL's own parameters go to the server")
		})
	}
}

// A parameter of the store's that does not parse is refused, by name,
// without quoting the connection string (which may hold a password).
func TestConnectionSettingsRefused(t *testing.T) {
	for _, bad := range []string{"cardvault_read_timeout=soon", "cardvault_read_timeout=-1s", "keepalives=2",
		"keepalives_idle=1.5", "keepalives_count=-1", "tcp_user_timeout=5s", "cardvault_min_standbys=-1",
		"cardvault_min_standbys=two", "cardvault_min_standbys=65", "cardvault_standby_timeout=0s", "cardvault_standby_timeout=soon"} {
		_, err := Open(context.Background(), "postgres://u:hunter2-secret@127.0.0.1:1/db?"+bad, nil)
		require.Error(t, err, bad)
		name, _, _ := strings.Cut(bad, "=")
		require.Contains(t, err.Error(), "invalid "+name+" ", bad)
		require.NotContains(t, err.Error(), "hunter2")
	}
}

// cardvault_min_standbys and cardvault_standby_timeout: taken out of what
// goes to the server; with a minimum, synchronous_commit on is sent unless
// the string sets it, and off is refused.
func TestStandbySettings(t *testing.T) {
	tests := []struct {
		conn   string
		guard  standbyGuard
		commit string // synchronous_commit sent; "" for none
		err    string
	}{
		{"postgres://u@127.0.0.1/db", standbyGuard{timeout: DefaultStandbyTimeout}, "", ""},
		{"postgres://u@127.0.0.1/db?cardvault_min_standbys=0", standbyGuard{timeout: DefaultStandbyTimeout}, "", ""},
		{"postgres://u@127.0.0.1/db?cardvault_min_standbys=1", standbyGuard{min: 1, timeout: DefaultStandbyTimeout}, "on", ""},
		{"postgres://u@127.0.0.1/db?cardvault_min_standbys=2&cardvault_standby_timeout=500ms&synchronous_commit=remote_apply",
			standbyGuard{min: 2, timeout: 500 * time.Millisecond}, "remote_apply", ""},
		{"postgres://u@127.0.0.1/db?cardvault_min_standbys=1&synchronous_commit=off", standbyGuard{}, "", "needs synchronous_commit other than off"},
	}
	for _, tc := range tests {
		cfg, err := pgxpool.ParseConfig(tc.conn)
		require.NoError(t, err)
		st, err := configure(&cfg.ConnConfig.Config)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.conn)
			continue
		}
		require.NoError(t, err, tc.conn)
		require.Equal(t, tc.guard, st.standbys, tc.conn)
		require.Equal(t, tc.commit, cfg.ConnConfig.RuntimeParams["synchronous_commit"], tc.conn)
		require.NotContains(t, cfg.ConnConfig.RuntimeParams, "cardvault_min_standbys")
		require.NotContains(t, cfg.ConnConfig.RuntimeParams, "cardvault_standby_timeout")
	}
}

// A server that accepts the connection and then never answers — a hung
// primary, whose kernel still completes the TCP handshake — is given up on
// after the read timeout, not left to the connect timeout or the kernel.
func TestReadTimeoutGivesUpOnAHungServer(t *testing.T) {
	addr := testkit.Listen(t, readOnly)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := Open(ctx, "postgres://u@"+addr+"/db?sslmode=disable&connect_timeout=60&cardvault_read_timeout=200ms", &Options{MaxAttempts: 1})
	require.Error(t, err)
	require.ErrorContains(t, err, "no answer from the server within the read timeout (200ms)")
	require.NoError(t, ctx.Err(), "given up on long before the connect timeout")
}

// readOnly is a hung server's side of a connection: it reads, and never
// answers.
func readOnly(c net.Conn) { _, _ = io.Copy(io.Discard, c) }

// A new connection tries first the host the last one was made to (the
// primary then), the others after it in their order.
func TestHostOrderPrefersTheLastPrimary(t *testing.T) {
	cfg, err := pgxpool.ParseConfig("postgres://u@10.0.0.1:5432,10.0.0.2:5433,10.0.0.3:5434/db?target_session_attrs=read-write&sslmode=disable")
	require.NoError(t, err)
	st, err := configure(&cfg.ConnConfig.Config)
	require.NoError(t, err)
	ns := st.net
	h := newHostOrder(&cfg.ConnConfig.Config, ns)
	hosts := func() []string {
		c := cfg.ConnConfig.Copy()
		h.order(&c.Config)
		out := []string{net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))}
		for _, fb := range c.Fallbacks {
			out = append(out, net.JoinHostPort(fb.Host, strconv.Itoa(int(fb.Port))))
		}
		return out
	}
	require.Equal(t, []string{"10.0.0.1:5432", "10.0.0.2:5433", "10.0.0.3:5434"}, hosts(), "nothing connected yet")
	h.connected(&timeoutConn{host: "10.0.0.3:5434"})
	require.Equal(t, []string{"10.0.0.3:5434", "10.0.0.1:5432", "10.0.0.2:5433"}, hosts())
	h.connected(&timeoutConn{host: "10.0.0.1:5432"})
	require.Equal(t, []string{"10.0.0.1:5432", "10.0.0.2:5433", "10.0.0.3:5434"}, hosts())
	require.Equal(t, "10.0.0.1", cfg.ConnConfig.Host, "the pool's own configuration is left alone")

	// With sslmode=prefer each host is there twice, TLS first.
	cfg, err = pgxpool.ParseConfig("postgres://u@10.0.0.1:5432,10.0.0.2:5433/db")
	require.NoError(t, err)
	h = newHostOrder(&cfg.ConnConfig.Config, ns)
	h.connected(&timeoutConn{host: "10.0.0.2:5433"})
	c := cfg.ConnConfig.Copy()
	h.order(&c.Config)
	require.Equal(t, "10.0.0.2", c.Host)
	require.NotNil(t, c.TLSConfig, "TLS first")
	require.Len(t, c.Fallbacks, 3)
	require.Equal(t, "10.0.0.2", c.Fallbacks[0].Host)
	require.Nil(t, c.Fallbacks[0].TLSConfig)
	require.Equal(t, "10.0.0.1", c.Fallbacks[1].Host)
	require.NotNil(t, c.Fallbacks[1].TLSConfig)
}

// A connection that carries a CancelRequest — which pgx sends when it gives
// up on a connection — ends as if the server had closed it when a hung
// server does not, rather than holding on for the read timeout.
func TestCancelRequestDoesNotWaitForAHungServer(t *testing.T) {
	addr := testkit.Listen(t, readOnly)
	ns := netSettings{readTimeout: time.Hour}
	c, err := ns.dial(context.Background(), "tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	msg := []byte{0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0, 1, 0, 0, 0, 2} // CancelRequest, pid 1, key 2
	_, err = c.Write(msg)
	require.NoError(t, err)
	_, err = c.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF)
}

// FuzzConnectionSettings: whatever the values of the store's parameters,
// configure either refuses them by name or takes them out of what goes to
// the server, and never quotes them.
func FuzzConnectionSettings(f *testing.F) {
	for _, seed := range [][2]string{
		{"cardvault_read_timeout", "3s"}, {"cardvault_read_timeout", "-1ns"}, {"cardvault_read_timeout", "9999999h"},
		{"keepalives", "1"}, {"keepalives", "yes"}, {"keepalives_idle", "5"}, {"keepalives_idle", "99999999999999999999"},
		{"keepalives_interval", "0"}, {"keepalives_count", "-3"}, {"tcp_user_timeout", "5000"}, {"tcp_user_timeout", "1e3"},
		{"statement_timeout", ""}, {"idle_in_transaction_session_timeout", "5s"},
		{"cardvault_min_standbys", "1"}, {"cardvault_min_standbys", "-0"}, {"cardvault_standby_timeout", "1h"},
		{"cardvault_standby_timeout", "-5s"},
	} {
		f.Add(seed[0], seed[1])
	}
	names := []string{"cardvault_read_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
		"cardvault_min_standbys", "cardvault_standby_timeout"}
	f.Fuzz(func(t *testing.T, name, value string) {
		if len(value) > 64 {
			return // a connection string's values are short; pgx has its own limits
		}
		cfg, err := pgxpool.ParseConfig("postgres://u@127.0.0.1:5432/db")
		require.NoError(t, err)
		cfg.ConnConfig.RuntimeParams[name] = value
		_, err = configure(&cfg.ConnConfig.Config)
		if err != nil {
			require.Contains(t, err.Error(), "invalid "+name+" ")
			if value != "" && !strings.Contains(errSetting{name}.Error(), value) {
				require.NotContains(t, err.Error(), value)
			}
			return
		}
		for _, n := range names {
			_, sent := cfg.ConnConfig.RuntimeParams[n]
			require.False(t, sent, "%s is the store's, not the server's", n)
		}
	})
}
