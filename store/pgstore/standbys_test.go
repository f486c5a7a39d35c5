package pgstore_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/pgstore"
)

// cardvault_min_standbys: a write is acknowledged only once that many
// standbys streaming from the server report it flushed. The standbys here
// are physical replication connections of the test's own, which speak the
// streaming protocol as pg_receivewal does: one reports what it received
// as flushed, as a standby does; one never reports anything flushed.
func TestMinStandbys(t *testing.T) {
	ctx := context.Background()
	base := pgtest.URL(t)
	with := func(params string) string { return base + "&" + params }
	plain := open(t, base)

	// No standby: the write is committed, and not acknowledged.
	alone := open(t, with("cardvault_min_standbys=1&cardvault_standby_timeout=150ms"))
	err := put(alone, "alone")
	require.ErrorIs(t, err, store.ErrCommitUnknown)
	require.ErrorContains(t, err, "too few standbys confirmed it: 1 within 150ms")
	require.True(t, has(t, plain, "alone"), "committed on the server: the outcome is unknown, not failed")
	require.NoError(t, alone.View(ctx, func(store.Tx) error { return nil }), "reads do not wait for standbys")
	require.ErrorIs(t, alone.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Get("b", []byte("alone"))
		return err
	}), store.ErrCommitUnknown, "an Update that only read may have read a commit no standby has: not acknowledged either")

	// A standby that receives the WAL and never reports it flushed does
	// not count.
	stuck := startStandby(t, base, false)
	require.ErrorIs(t, put(alone, "stuck"), store.ErrCommitUnknown)

	// One that reports what it received: acknowledged, each write.
	echo := startStandby(t, base, true)
	for i := range 20 {
		require.NoError(t, put(alone, fmt.Sprint("echo", i)))
	}
	require.Greater(t, echo.replies.Load(), int64(0))
	// Asking for two, with one that flushes: not acknowledged.
	two := open(t, with("cardvault_min_standbys=2&cardvault_standby_timeout=150ms"))
	require.ErrorIs(t, put(two, "two"), store.ErrCommitUnknown)
	require.Greater(t, stuck.messages.Load(), int64(0), "the stuck standby was sent the WAL")

	// Off (the default): no standby is asked about.
	require.NoError(t, put(open(t, with("cardvault_min_standbys=0")), "off"))
}

// A database user that cannot see the standbys' positions is refused at
// Open, with what to grant.
func TestMinStandbysNeedsAUserThatSeesThem(t *testing.T) {
	ctx := context.Background()
	base := pgtest.URL(t)
	conn := connect(t, base)
	role := fmt.Sprintf("cv_guard_%d", time.Now().UnixNano())
	_, err := conn.Exec(ctx, "CREATE ROLE "+role+" LOGIN")
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = conn.Exec(context.Background(), "DROP OWNED BY "+role+"; DROP ROLE "+role) })
	var db string
	require.NoError(t, conn.QueryRow(ctx, "SELECT current_database()").Scan(&db))
	_, err = conn.Exec(ctx, "GRANT ALL ON DATABASE "+db+" TO "+role+"; GRANT ALL ON SCHEMA public TO "+role)
	require.NoError(t, err)
	u, err := url.Parse(base)
	require.NoError(t, err)
	u.User = url.User(role)

	_, err = pgstore.Open(ctx, u.String()+"&cardvault_min_standbys=1", nil)
	require.ErrorContains(t, err, "GRANT pg_monitor")
	s, err := pgstore.Open(ctx, u.String(), nil)
	require.NoError(t, err, "without the guard the user is fine")
	require.NoError(t, s.Close())
	_, err = conn.Exec(ctx, "GRANT pg_monitor TO "+role)
	require.NoError(t, err)
	s, err = pgstore.Open(ctx, u.String()+"&cardvault_min_standbys=1", nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
}

// standby is a physical replication connection that receives the WAL.
type standby struct {
	messages atomic.Int64 // WAL messages received
	replies  atomic.Int64 // status updates sent with a flush position
}

// reply sends a standby status update: with echo, received as written,
// flushed and applied; without, nothing flushed. It reports whether the
// connection took it.
func (s *standby) reply(conn *pgconn.PgConn, received uint64, echo bool) bool {
	flushed := uint64(0)
	if echo {
		flushed = received
		s.replies.Add(1)
	}
	// Written, flushed, applied, the clock (µs since 2000), reply requested.
	msg := make([]byte, 34)
	msg[0] = 'r'
	binary.BigEndian.PutUint64(msg[1:], flushed)
	binary.BigEndian.PutUint64(msg[9:], flushed)
	binary.BigEndian.PutUint64(msg[17:], flushed)
	binary.BigEndian.PutUint64(msg[25:], uint64(time.Since(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).Microseconds()))
	conn.Frontend().Send(&pgproto3.CopyData{Data: msg})
	return conn.Frontend().Flush() == nil
}

// startStandby connects to the server of url for physical replication from
// its current WAL position and answers its messages until the test ends:
// with echo, reporting everything received as written and flushed;
// without, reporting nothing flushed.
func startStandby(t testing.TB, dbURL string, echo bool) *standby {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	u, err := url.Parse(dbURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set("replication", "true")
	u.RawQuery = q.Encode()
	conn, err := pgconn.Connect(ctx, u.String())
	require.NoError(t, err)
	res, err := conn.Exec(ctx, "IDENTIFY_SYSTEM").ReadAll()
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Len(t, res[0].Rows, 1)
	xlogpos := string(res[0].Rows[0][2]) // systemid, timeline, xlogpos, dbname
	conn.Frontend().Send(&pgproto3.Query{String: "START_REPLICATION PHYSICAL " + xlogpos})
	require.NoError(t, conn.Frontend().Flush())
	for {
		msg, err := conn.ReceiveMessage(ctx)
		require.NoError(t, err)
		if _, ok := msg.(*pgproto3.CopyBothResponse); ok {
			break
		}
		if e, ok := msg.(*pgproto3.ErrorResponse); ok {
			t.Fatalf("START_REPLICATION: %s", e.Message)
		}
	}
	s := &standby{}
	// A standby reports at once where it starts: until it has reported a
	// flush position, PostgreSQL does not count it as synchronous.
	var hi, lo uint64
	_, err = fmt.Sscanf(xlogpos, "%X/%X", &hi, &lo)
	require.NoError(t, err)
	received := hi<<32 | lo
	done := make(chan struct{})
	go func() {
		defer close(done)
		if !s.reply(conn, received, echo) {
			return
		}
		for {
			msg, err := conn.ReceiveMessage(ctx)
			if err != nil {
				return // the test ended
			}
			cd, ok := msg.(*pgproto3.CopyData)
			if !ok || len(cd.Data) == 0 {
				continue
			}
			switch cd.Data[0] {
			case 'w': // XLogData: start, end of WAL on the server, send time, data
				if len(cd.Data) < 25 {
					continue
				}
				s.messages.Add(1)
				received = max(received, binary.BigEndian.Uint64(cd.Data[1:9])+uint64(len(cd.Data)-25))
			case 'k': // keepalive: end of WAL, send time, reply requested
			default:
				continue
			}
			if !s.reply(conn, received, echo) {
				return
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = conn.Close(context.Background())
	})
	return s
}

// PostgreSQL's own caveat of synchronous replication: a COMMIT whose wait
// for the standby is cancelled (pg_cancel_backend here, or the
// CancelRequest a client sends when it gives up) is committed on the
// primary and answered as a success, with a WARNING, though no standby has
// it. The store without the guard acknowledges it; with the guard it is
// ErrCommitUnknown. statement_timeout does not cancel that wait:
// PostgreSQL turns it off before it commits. With a synchronous standby
// that answers, the guard acknowledges each write. A private server, since
// synchronous_standby_names is the whole server's.
func TestMinStandbysAndSynchronousReplication(t *testing.T) {
	ctx := context.Background()
	p := pgtest.StartPrivate(t)
	url := p.CreateDatabase(t, "cardvault_sync")
	// Opened (the schema made) before commits wait for a standby.
	plain := open(t, url)
	guarded := open(t, url+"&cardvault_min_standbys=1&cardvault_standby_timeout=300ms")
	admin := connect(t, p.URL("postgres"))
	_, err := admin.Exec(ctx, "ALTER SYSTEM SET synchronous_standby_names = '*'")
	require.NoError(t, err)
	_, err = admin.Exec(ctx, "SELECT pg_reload_conf()")
	require.NoError(t, err)

	// cancelWait cancels the COMMIT that waits for a standby once there is
	// one and returns the answer of the write done reports on; false when
	// the write ended without waiting.
	cancelWait := func(done <-chan error) (error, bool) {
		for {
			select {
			case <-done:
				return nil, false
			default:
			}
			var cancelled bool
			err := admin.QueryRow(ctx, "SELECT coalesce(bool_or(pg_cancel_backend(pid)), false) FROM pg_stat_activity WHERE wait_event = 'SyncRep'").Scan(&cancelled)
			require.NoError(t, err)
			if cancelled {
				return <-done, true
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// putCancelled writes a key whose COMMIT's wait is cancelled, and
	// returns the key and the store's answer. A write that committed
	// without waiting — pg_reload_conf returns before the setting reaches
	// every process — is tried again under another key.
	putCancelled := func(s *store.Store, key string) (string, error) {
		deadline := time.Now().Add(10 * time.Second)
		for n := 0; time.Now().Before(deadline); n++ {
			k := fmt.Sprint(key, " ", n)
			done := make(chan error, 1)
			go func() { done <- put(s, k) }()
			if err, waited := cancelWait(done); waited {
				return k, err
			}
		}
		t.Fatal("no COMMIT waited for a standby")
		return "", nil
	}
	k, err := putCancelled(plain, "cancelled")
	require.NoError(t, err, "PostgreSQL answers a cancelled wait as committed")
	require.True(t, has(t, plain, k), "and it is: on the primary alone")
	_, err = putCancelled(guarded, "cancelled, guarded")
	require.ErrorIs(t, err, store.ErrCommitUnknown)

	// A standby that reports what it receives is synchronous ('*'): the
	// COMMIT waits for it, and the guard then finds it at once.
	echo := startStandby(t, url, true)
	require.Eventually(t, func() bool {
		var n int
		err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'").Scan(&n)
		return err == nil && n == 1
	}, 10*time.Second, 20*time.Millisecond, "the test's standby is the synchronous one")
	for i := range 20 {
		require.NoError(t, put(guarded, fmt.Sprint("sync", i)))
	}
	require.Greater(t, echo.replies.Load(), int64(0))
}

// put writes key in bucket b of s, in an Update of its own.
func put(s *store.Store, key string) error {
	return s.Update(context.Background(), func(tx store.Tx) error { return tx.Put("b", []byte(key), []byte("v")) })
}

// has reports whether key is in bucket b of s.
func has(t *testing.T, s *store.Store, key string) bool {
	t.Helper()
	found := false
	require.NoError(t, s.View(context.Background(), func(tx store.Tx) error {
		_, err := tx.Get("b", []byte(key))
		found = err == nil
		return nil
	}))
	return found
}

// A server fenced off from writes while the store's connections sat idle
// in the pool (pg_auto_failover sets default_transaction_read_only on a
// primary it demotes, and reloads) is neither written to nor read from:
// the server says so in the answer to BEGIN, which goes with a
// transaction's first statements, and the store tries again on new
// connections until it gives up. Unfenced, it serves again.
func TestFencedServerIsNotUsed(t *testing.T) {
	p := pgtest.StartPrivate(t)
	url := p.CreateDatabase(t, "cardvault_fenced")
	ctx := context.Background()
	s, err := pgstore.Open(ctx, url, &pgstore.Options{MaxAttempts: 3})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, put(s, "before"))
	require.True(t, has(t, s, "before"), "the pool holds connections that saw the server writable")

	admin := connect(t, p.URL("postgres"))
	fence := func(on bool) {
		_, err := admin.Exec(ctx, fmt.Sprintf("ALTER SYSTEM SET default_transaction_read_only = %t", on))
		require.NoError(t, err)
		_, err = admin.Exec(ctx, "SELECT pg_reload_conf()")
		require.NoError(t, err)
		// The reload reaches each session at its next command once the
		// postmaster has signalled it: seen here in one that is not new.
		require.Eventually(t, func() bool {
			var v string
			return admin.QueryRow(ctx, "SHOW default_transaction_read_only").Scan(&v) == nil && v == map[bool]string{true: "on", false: "off"}[on]
		}, 10*time.Second, 5*time.Millisecond)
	}
	fence(true)
	err = s.View(ctx, func(tx store.Tx) error {
		_, err := tx.Get("b", []byte("before"))
		return err
	})
	require.ErrorIs(t, err, store.ErrUnavailable, "a fenced server is not read from")
	require.ErrorContains(t, err, "read-only")
	err = put(s, "fenced")
	require.ErrorIs(t, err, store.ErrUnavailable)

	fence(false)
	require.NoError(t, put(s, "after"))
	require.True(t, has(t, s, "after"))
	require.False(t, has(t, s, "fenced"))
}
