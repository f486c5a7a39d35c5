// Package pgstore is a [store.Store] in PostgreSQL, for any number of
// cardvault processes sharing one database.
//
// # Schema
//
// Open creates and migrates its own schema, in the schema the connection's
// search_path selects (public by default), so the database user needs
// CREATE there the first time and after an upgrade. Two tables:
//
//	cardvault_schema (version integer) -- one row: the schema version
//	cardvault_kv (bucket text, key bytea, value bytea, PRIMARY KEY (bucket, key))
//
// Every key of every bucket is one row of cardvault_kv; values are stored as
// given (the domain packages encrypt what must not be readable). Migrations
// run in one transaction under a PostgreSQL advisory lock, so any number of
// processes may start at once; a process whose code is older than the
// database's schema refuses to open it.
//
// # Transactions
//
// Update runs fn in a SERIALIZABLE transaction and View in a SERIALIZABLE
// READ ONLY one, so the outcome is that of some serial order, also across
// processes. (Update does not say READ WRITE, which would override
// default_transaction_read_only: an HA engine fences a node off from writes
// with it.) When PostgreSQL aborts a transaction for a serialization
// failure (SQLSTATE 40001) or a deadlock (40P01), or a statement times out,
// or the connection fails or the server refuses writes before COMMIT was
// sent (a server restart, a failover), the transaction is run again — fn
// included — after a jittered exponential backoff, up to
// [Options.MaxAttempts] times; a transaction that keeps conflicting returns
// an error wrapping [store.ErrConflict], one that keeps failing to reach a
// primary an error wrapping [store.ErrUnavailable]. A connection lost during
// COMMIT — or the server ending the session then, as a primary being
// switched over does (57P01) — is not retried: the error wraps
// [store.ErrCommitUnknown].
//
// Writes are sent together: Put and Delete queue their statement, and the
// queue goes to the server as one pipelined batch — in the round trip of
// the transaction's next Get or Scan page (which see them), before COMMIT,
// or when it holds 256 writes or 4 MiB. BEGIN goes with the transaction's
// first statements too, and a transaction that sends none sends neither
// BEGIN nor COMMIT. A write's error (a serialization failure, say)
// therefore shows at that read or at commit, and aborts the transaction as
// it would have at the Put. A Get is one round trip, the writes queued
// before it included. Scan reads the range in pages (keyset pagination, fewer rows
// when values are large) and calls fn between pages, so fn may write in the
// same transaction.
//
// # Connections
//
// The store keeps a pgxpool.Pool configured from the connection string,
// which may carry the pool's parameters (pool_max_conns, ...). Dead
// connections — after a PostgreSQL restart — are dropped by the pool and
// replaced on demand, so the store recovers without being reopened;
// [Store.Ping] reports whether the server answers.
//
// # High availability
//
// Give a multi-host string with target_session_attrs=read-write
// (postgres://h1:5432,h2:5432/db?target_session_attrs=read-write) and the
// store follows a failover on its own: a connection goes to the host that
// is primary now (trying first the one the last connection reached), and
// when a transaction fails because its server is gone, hung or fenced from
// writes, the pool drops all its connections, so that the retry and every
// later transaction connect afresh. A transaction also checks what the
// server reports of itself (PostgreSQL 14 and later): on a standby, or a
// primary whose transactions are read-only by default — an old primary
// being fenced off — it does not read the past there but runs again
// elsewhere.
//
// A server that hangs — its machine frozen or cut off — closes no
// connection, so the store bounds every wait itself. Each has a default and
// a parameter of the connection string, with libpq's name where libpq has
// one:
//
//	cardvault_read_timeout  3s   each read from the server (a Go duration; 0: none):
//	                             a query or COMMIT not answered within it fails
//	connect_timeout         2    seconds per host, connect and startup (pgx's)
//	statement_timeout       5s   PostgreSQL's, sent at startup
//	idle_in_transaction_session_timeout  5s  PostgreSQL's, sent at startup
//	keepalives              1    TCP keepalive on (0: off), with
//	keepalives_idle         5    seconds idle before the first probe,
//	keepalives_interval     1    seconds between probes,
//	keepalives_count        3    probes unanswered before the connection is dropped
//	tcp_user_timeout        5000 milliseconds sent data may stay unacknowledged (Linux)
//
// Give statement_timeout= or idle_in_transaction_session_timeout= empty to
// send nothing (a connection pooler such as PgBouncer refuses startup
// parameters it does not know), and the server's own setting holds.
//
// statement_timeout is longer than the read timeout on purpose: the client
// gives up first, and its error says what it knows. It does not bound a
// COMMIT's wait for a synchronous standby (PostgreSQL turns it off before
// it commits); the read timeout does, and the CancelRequest pgx then sends
// ends the wait with the transaction committed on the primary alone —
// answered with [store.ErrCommitUnknown] here, while PostgreSQL itself
// would have called it a success. A frozen primary costs a request about
// the read timeout, and then each new connection the connect timeout to
// it, before the next host is tried.
//
// # Acknowledged means on a standby
//
// Synchronous replication alone does not promise that a committed write
// survives the loss of the primary: an HA engine that finds no healthy
// standby empties synchronous_standby_names so that writes go on
// (pg_auto_failover's wait_primary), and the primary then commits alone
// until a standby is back. If it is lost meanwhile, or demoted and
// rewound — pg_auto_failover 2.0 does this during a planned switchover
// under load, its issue 774 — its commits of that time are gone, after the
// store acknowledged them. With the parameter
//
//	cardvault_min_standbys     0   (off) or N: a write is acknowledged only
//	                               once N standbys streaming from the primary
//	                               have flushed it
//	cardvault_standby_timeout  2s  how long a write waits for that after COMMIT
//
// Update asks the server, on the connection the COMMIT went through, for
// its WAL flush position and then for the standbys in pg_stat_replication
// that report it flushed; a write that is not on N of them within the
// timeout returns an error wrapping [store.ErrCommitUnknown] (it is
// committed on that primary and may be lost with it; the caller tries
// again, as after a failover). So does an Update that wrote nothing: what
// it read, an Idempotency-Key's kept answer for one, may be a commit no
// standby has yet. View does not wait. It costs a round trip per write, and writes
// stop while fewer than N standbys stream: with one standby, losing either
// node stops them until it is back, so give a formation of a primary and
// two standbys. The database user must see pg_stat_replication (a member
// of pg_monitor or pg_read_all_stats; Open refuses one that is not), and
// synchronous_commit must not be off (the store sends on unless the string
// sets it).
//
// # Performance
//
// Against the throwaway server of scripts/with-postgres.sh (PostgreSQL 15 on
// the same 2-core machine, fsync off), pool at its default size (4
// connections here), medians of 6 runs: a single writer commits 14,360 small
// transactions per second (storetest.SmallWrite), 64 concurrent writers
// 13,830 (the 2 cores, shared with the server, are the limit), and a point
// read (View with one Get: then three round trips, BEGIN, SELECT, COMMIT)
// took 48 µs serial, 44 µs per read from 2 goroutines. With fsync on, the
// server's commit fsync bounds the single writer instead.
//
// BEGIN sent with the first statements (2026-12-04, on a machine that takes
// several times those figures; 3 alternating runs of each build): a single
// writer 2,362–2,634 → 3,357–3,831 transactions per second, 64 writers
// 7,508–9,432 → 10,949–11,832, a point read 375–430 → 240–286 µs serial
// and 84–88 → 56–70 µs from 2 goroutines.
//
//	scripts/with-postgres.sh go test -run '^$' -bench . -count 6 ./store/pgstore
package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"

	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/driver"
)

var _ driver.Store = (*Driver)(nil)

// The tables pgstore keeps.
const (
	SchemaTable = "cardvault_schema"
	KVTable     = "cardvault_kv"
)

// DefaultMaxAttempts is how often Update runs a transaction that keeps
// failing for a retryable reason, unless Options.MaxAttempts says otherwise.
// With the backoff (doubling from 1 ms to at most 250 ms, equal jitter) a
// transaction that cannot reach a primary is given up on after about 10 s
// (7–14 s): longer than a pg_auto_failover formation of three data nodes
// takes to promote a standby (4–9 s in RELIABILITY.md), so that a failover
// is a slow answer rather than an error. It was 40 (about 6 s) for the
// 2–5 s of a formation with one standby.
const DefaultMaxAttempts = 64

// Options configure Open. The zero value is the default.
type Options struct {
	// MaxAttempts bounds how many times a transaction is run when
	// PostgreSQL aborts it for a serialization failure or deadlock, or the
	// connection fails before COMMIT; 0 means DefaultMaxAttempts. The
	// context bounds the time it may take in any case.
	MaxAttempts int
}

// Driver is pgstore's driver.Store: Open wraps it in a *store.Store.
type Driver struct {
	pool        *pgxpool.Pool
	maxAttempts int
	standbys    standbyGuard
}

// Open connects to the database that connString (a URL or key=value DSN, as
// pgxpool.ParseConfig takes) names, and creates or migrates the schema.
func Open(ctx context.Context, connString string, opts *Options) (*store.Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	cfg, err := pgxpool.ParseConfig(connString)
	if err != nil {
		// The parse error can quote the connection string, password and
		// all: say only that it did not parse.
		return nil, errors.New("pgstore: the connection string does not parse")
	}
	st, err := configure(&cfg.ConnConfig.Config)
	if err != nil {
		return nil, err
	}
	hosts := newHostOrder(&cfg.ConnConfig.Config, st.net)
	cfg.BeforeConnect = func(_ context.Context, cc *pgx.ConnConfig) error {
		hosts.order(&cc.Config)
		return nil
	}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		hosts.connected(c.PgConn().Conn())
		return nil
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("pgstore: %w", err)
	}
	s := &Driver{pool: pool, maxAttempts: o.MaxAttempts, standbys: st.standbys}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if s.standbys.min > 0 {
		if err := s.pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error { return s.standbys.check(ctx, c.Conn()) }); err != nil {
			pool.Close()
			return nil, err
		}
	}
	return store.New(s), nil
}

// migrationLock is the advisory lock key under which migrations run: the
// bytes of "cardvlt1".
const migrationLock = 0x63617264766c7431

// migrations[v] brings the schema from version v-1 to v.
var migrations = []string{
	1: `CREATE TABLE ` + KVTable + ` (
		bucket text COLLATE "C" NOT NULL,
		key bytea NOT NULL,
		value bytea NOT NULL,
		PRIMARY KEY (bucket, key)
	)`,
}

// SchemaVersion is the schema version this code creates and expects: the
// last entry of migrations.
const SchemaVersion = 1

func (s *Driver) migrate(ctx context.Context) error {
	return s.retry(ctx, func() (error, bool) {
		tx, err := s.pool.Begin(ctx)
		if err != nil {
			return fmt.Errorf("pgstore: migrating the schema: %w", err), transient(ctx, err, true)
		}
		defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
		steps := []string{
			fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", migrationLock),
			`CREATE TABLE IF NOT EXISTS ` + SchemaTable + ` (
				version integer NOT NULL,
				one boolean PRIMARY KEY DEFAULT true CHECK (one)
			)`,
		}
		for _, q := range steps {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("pgstore: migrating the schema: %w", err), transient(ctx, err, true)
			}
		}
		var version int
		err = tx.QueryRow(ctx, "SELECT version FROM "+SchemaTable).Scan(&version)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("pgstore: reading the schema version: %w", err), transient(ctx, err, true)
		}
		if version > SchemaVersion {
			return fmt.Errorf("pgstore: the database has schema version %d, newer than this code's %d: upgrade cardvault", version, SchemaVersion), false
		}
		if version == SchemaVersion {
			return nil, false
		}
		for v := version + 1; v <= SchemaVersion; v++ {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return fmt.Errorf("pgstore: migrating the schema to version %d: %w", v, err), transient(ctx, err, true)
			}
		}
		_, err = tx.Exec(ctx, "INSERT INTO "+SchemaTable+" (version) VALUES ($1) ON CONFLICT (one) DO UPDATE SET version = excluded.version", SchemaVersion)
		if err == nil {
			err = tx.Commit(ctx)
		}
		if err != nil {
			return fmt.Errorf("pgstore: migrating the schema: %w", err), transient(ctx, err, false)
		}
		return nil, false
	})
}

// Ping implements driver.Store: one round trip to the server.
func (s *Driver) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pgstore: %w", err)
	}
	return nil
}

// View implements driver.Store.
func (s *Driver) View(ctx context.Context, fn func(driver.Tx) error) error {
	return s.run(ctx, false, fn)
}

// Update implements driver.Store.
func (s *Driver) Update(ctx context.Context, fn func(driver.Tx) error) error {
	return s.run(ctx, true, fn)
}

// Close implements driver.Store: it closes the pool.
func (s *Driver) Close() error {
	s.pool.Close()
	return nil
}

func (s *Driver) run(ctx context.Context, writable bool, fn func(driver.Tx) error) error {
	return s.retry(ctx, func() (error, bool) { return s.attempt(ctx, writable, fn) })
}

// retry runs attempt until it succeeds, fails for good, or has been tried
// maxAttempts times, sleeping a jittered, growing backoff in between.
func (s *Driver) retry(ctx context.Context, attempt func() (err error, again bool)) error {
	backoff := time.Millisecond
	for n := 1; ; n++ {
		err, again := attempt()
		if err == nil || !again {
			return err
		}
		if n >= s.maxAttempts {
			if isConflict(err) {
				return fmt.Errorf("pgstore: %w: gave up after %d attempts: %v", store.ErrConflict, n, err)
			}
			return fmt.Errorf("pgstore: %w: gave up after %d attempts: %w", store.ErrUnavailable, n, err)
		}
		// Equal jitter: at least half the backoff, so that retries thin
		// out, and a random rest, so that they do not collide again.
		d := backoff/2 + rand.N(backoff/2+1)
		backoff = min(2*backoff, 250*time.Millisecond)
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return fmt.Errorf("pgstore: %w: %w (while retrying after: %v)", store.ErrUnavailable, ctx.Err(), err)
		}
	}
}

// attempt runs fn in one transaction and reports whether a failure is worth
// another attempt.
func (s *Driver) attempt(ctx context.Context, writable bool, fn func(driver.Tx) error) (err error, again bool) {
	// A writable transaction does not say READ WRITE: that would override
	// default_transaction_read_only, which an HA engine sets to fence a
	// node off from writes (pg_auto_failover does on a primary being
	// demoted and on a standby being promoted).
	begin := "BEGIN ISOLATION LEVEL SERIALIZABLE"
	if !writable {
		begin += " READ ONLY"
	}
	// The connection, not only a transaction, so that the standby guard
	// asks the server the commit was made on.
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		s.resetOnLostServer(ctx, err)
		return wrapErr(ctx, err), transient(ctx, err, true)
	}
	defer conn.Release()
	// BEGIN goes with the transaction's first statements, in their round
	// trip (the snapshot is taken at the first of them either way).
	t := &tx{ctx: ctx, conn: conn.Conn(), begin: begin}
	committed := false
	defer func() {
		// Also on panic, which then goes on unwinding.
		if !committed && t.begun {
			// With its own deadline: ctx may be what ended the
			// transaction.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_, _ = t.conn.Exec(rctx, "ROLLBACK")
			cancel()
		}
	}()
	if err := readOnlyServer(conn.Conn().PgConn()); err != nil {
		s.pool.Reset()
		return err, !errors.Is(ctx.Err(), context.Canceled)
	}
	fnErr := fn(t)
	if fnErr == nil {
		_ = t.flush() // the writes still queued; a failure is t.err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("pgstore: %w", ctx.Err()), false
	}
	if errors.Is(t.err, errReadOnlyServer) {
		// Learnt in BEGIN's round trip: the server was fenced off while
		// the connection was idle.
		s.pool.Reset()
		return t.err, true
	}
	if t.err != nil && transient(ctx, t.err, true) {
		// The transaction is aborted whatever fn made of the error.
		s.resetOnLostServer(ctx, t.err)
		return wrapErr(ctx, t.err), true
	}
	if fnErr != nil {
		return fnErr, false
	}
	if t.err != nil {
		return wrapErr(ctx, t.err), false
	}
	err = t.commit()
	committed = true // nothing left to roll back, whatever COMMIT answered
	if err != nil {
		return s.commitFailed(ctx, writable, err)
	}
	// Also a transaction that wrote nothing: what it read may be a commit
	// no standby has yet — an Idempotency-Key's kept answer replayed is
	// one — and its nil would acknowledge that.
	if writable {
		if err := s.standbys.await(ctx, conn.Conn()); err != nil {
			if !errors.Is(err, errStandbyTimeout) {
				s.resetOnLostServer(ctx, err)
			}
			return err, false
		}
	}
	return nil, false
}

// commitFailed says what a failed COMMIT means: whether the transaction
// may run again, and whether its outcome is unknown.
func (s *Driver) commitFailed(ctx context.Context, writable bool, err error) (error, bool) {
	if !writable {
		// A View wrote nothing: whatever became of its COMMIT, it can run
		// again.
		s.resetOnLostServer(ctx, err)
		return wrapErr(ctx, err), transient(ctx, err, true)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("pgstore: %w: %w", store.ErrCommitUnknown, ctx.Err()), false
	}
	if transient(ctx, err, false) {
		return wrapErr(ctx, err), true
	}
	if commitUnknown(err) {
		s.resetOnLostServer(ctx, err)
		return fmt.Errorf("pgstore: %w: the connection failed during COMMIT: %w", store.ErrCommitUnknown, err), false
	}
	return wrapErr(ctx, err), false
}

func wrapErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("pgstore: %w", ctx.Err())
	}
	return fmt.Errorf("pgstore: %w", err)
}

// isConflict reports a serialization failure or deadlock.
func isConflict(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (pgErr.Code == "40001" || pgErr.Code == "40P01")
}

// readOnlyServer returns an error when the server of a connection says,
// in the parameters PostgreSQL 14 and later report at every change, that it
// is a standby or that its transactions are read-only by default: an old
// primary that an HA engine fenced off from writes (pg_auto_failover does
// so while switching over, before the standby is promoted). A connection
// made before is still open to it, and reading there would read the past:
// what the new primary has committed since is not there.
func readOnlyServer(pc *pgconn.PgConn) error {
	if pc.ParameterStatus("in_hot_standby") == "on" || pc.ParameterStatus("default_transaction_read_only") == "on" {
		return errReadOnlyServer
	}
	return nil
}

var errReadOnlyServer = errors.New("pgstore: the server is read-only now (a standby, or a primary fenced off by a failover)")

// commitUnknown reports whether err, the error of a COMMIT, leaves its
// outcome unknown: anything but an error the server answered the COMMIT
// with and went on serving — a connection that failed or timed out, or the
// server ending the session (57P01 terminating connection due to
// administrator command, as a primary being switched over does while a
// COMMIT waits for its synchronous standby: the transaction is committed
// locally then, perhaps not on the standby), or any FATAL or PANIC.
func commitUnknown(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true
	}
	return pgErr.Severity == "FATAL" || pgErr.Severity == "PANIC" ||
		strings.HasPrefix(pgErr.Code, "08") || strings.HasPrefix(pgErr.Code, "57P")
}

// lostServer reports a server error that ends the session or says the
// server is not the one to write to: connection_exception (08), operator
// intervention (57: admin or crash shutdown, cannot connect now) but a
// cancelled statement, system errors (58), too many connections (53300),
// and read_only_sql_transaction (25006: a node fenced from writes, or a
// standby).
func lostServer(pgErr *pgconn.PgError) bool {
	c := pgErr.Code
	return strings.HasPrefix(c, "08") || strings.HasPrefix(c, "57") && c != queryCanceled || strings.HasPrefix(c, "58") ||
		c == "53300" || c == "25006"
}

// queryCanceled is the SQLSTATE of a statement cancelled by the server's
// statement_timeout (the store's own deadlines close the connection
// instead): the transaction was rolled back, the server serves on.
const queryCanceled = "57014"

// resetOnLostServer closes every connection of the pool when err says the
// server of a connection is gone, hung or no longer the primary: the other
// connections to it would each cost a read timeout to find out, and new
// ones are made to the host that is primary now (a multi-host URL with
// target_session_attrs=read-write). Connections in use are closed when
// they are released.
func (s *Driver) resetOnLostServer(ctx context.Context, err error) {
	if ctx.Err() != nil || isConflict(err) {
		return
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !lostServer(pgErr) {
		return
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return // the pool's connections may be fine: this one never was
	}
	s.pool.Reset()
}

// transient reports whether err is worth running the transaction again.
// beforeCommit says COMMIT was not sent, so nothing can have been committed
// and a failed connection is safe to retry.
func transient(ctx context.Context, err error, beforeCommit bool) bool {
	if ctx.Err() != nil {
		return false
	}
	var pgErr *pgconn.PgError
	if isConflict(err) || errors.As(err, &pgErr) && pgErr.Code == queryCanceled {
		return true
	}
	if !beforeCommit {
		// Not even pgconn.SafeToRetry: a COMMIT answered with a FATAL
		// (57P01 as the postmaster dies, while the commit record may
		// already be on the synchronous standby) closes the
		// connection, and pgx may then return the "conn closed" of its
		// next read, which says it is safe to retry. Seen: a
		// transaction run twice after a primary was killed.
		return false
	}
	if pgconn.SafeToRetry(err) {
		return true
	}
	if errors.As(err, &pgErr) {
		return lostServer(pgErr)
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	return errors.As(err, &netErr) || errors.As(err, &connectErr) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "conn closed")
}

type tx struct {
	ctx  context.Context
	conn *pgx.Conn
	err  error // the first error from the server: the transaction is aborted
	// begin is the transaction's BEGIN, sent with its first statements;
	// begun says it was.
	begin string
	begun bool
	// queued are the Puts and Deletes not sent yet: they go to the server
	// together, in one round trip, with the next read or before COMMIT (a
	// secure-token create writes about ten keys; the audit trail's
	// chaining hundreds). queuedBytes bounds what they hold.
	queued      []statement
	queuedBytes int
}

type statement struct {
	sql  string
	args []any
}

// Limits of the writes a transaction holds before it sends them.
const (
	maxQueuedWrites = 256
	maxQueuedBytes  = 4 << 20
)

// queue adds a write to those not sent yet, sending them all when they
// reach a limit. Its arguments are the transaction's own: the caller may
// reuse its slices once Put returns.
func (t *tx) queue(n int, sql string, args ...any) error {
	if t.err != nil {
		return wrapErr(t.ctx, t.err) // aborted: nothing more reaches the server
	}
	t.queued = append(t.queued, statement{sql, args})
	t.queuedBytes += n
	if len(t.queued) >= maxQueuedWrites || t.queuedBytes >= maxQueuedBytes {
		return t.send(nil, nil)
	}
	return nil
}

// flush sends the queued writes (and BEGIN, if not sent yet).
func (t *tx) flush() error {
	if len(t.queued) == 0 {
		return nil
	}
	return t.send(nil, nil)
}

// send makes one round trip: BEGIN if it was not sent yet, the queued
// writes, and read's statement if read is set, in one pipelined batch. read
// then reads its statement's answer. The first error aborts the
// transaction.
func (t *tx) send(read *statement, answer func(pgx.BatchResults) error) error {
	if t.err != nil {
		return wrapErr(t.ctx, t.err)
	}
	b := &pgx.Batch{}
	if !t.begun {
		b.Queue(t.begin)
	}
	for _, q := range t.queued {
		b.Queue(q.sql, q.args...)
	}
	execs := b.Len()
	if read != nil {
		b.Queue(read.sql, read.args...)
	}
	t.queued, t.queuedBytes = t.queued[:0], 0
	first := !t.begun
	t.begun = true
	br := t.conn.SendBatch(t.ctx, b)
	var err error
	for range execs {
		if _, e := br.Exec(); e != nil {
			err = e
			break
		}
	}
	if err == nil && read != nil {
		err = answer(br)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err == nil && first {
		// The server reports a change of these settings (a failover
		// fencing it off) in the answer to the first command after it:
		// here, BEGIN. What this batch read may then be stale.
		err = readOnlyServer(t.conn.PgConn())
	}
	if err != nil {
		return t.fail(err)
	}
	return nil
}

// commit sends what is queued and COMMIT. A transaction that sent nothing
// has nothing to commit.
func (t *tx) commit() error {
	if err := t.flush(); err != nil {
		return t.err
	}
	if !t.begun {
		return nil
	}
	tag, err := t.conn.Exec(t.ctx, "COMMIT")
	if err == nil && tag.String() == "ROLLBACK" {
		err = pgx.ErrTxCommitRollback // PostgreSQL ended an aborted transaction instead
	}
	return err
}

// fail records a server error and returns it wrapped.
func (t *tx) fail(err error) error {
	if t.err == nil {
		t.err = err
	}
	return wrapErr(t.ctx, err)
}

func (t *tx) Get(bucket string, key []byte) ([]byte, bool, error) {
	var v []byte
	found := false
	err := t.send(&statement{"SELECT value FROM " + KVTable + " WHERE bucket = $1 AND key = $2", []any{bucket, key}},
		func(br pgx.BatchResults) error {
			err := br.QueryRow().Scan(&v)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			found = err == nil
			return err
		})
	if err != nil {
		return nil, false, err
	}
	return v, found, nil
}

func (t *tx) Put(bucket string, key, value []byte) error {
	// Copies (never nil: nil would be NULL), since the caller may reuse
	// its slices before the write is sent.
	kv := make([]byte, len(key)+len(value))
	copy(kv, key)
	copy(kv[len(key):], value)
	return t.queue(len(kv), "INSERT INTO "+KVTable+" (bucket, key, value) VALUES ($1, $2, $3) "+
		"ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value", bucket, kv[:len(key):len(key)], kv[len(key):])
}

func (t *tx) Delete(bucket string, key []byte) error {
	return t.queue(len(key), "DELETE FROM "+KVTable+" WHERE bucket = $1 AND key = $2", bucket, bytes.Clone(key))
}

// Scan pages: at most scanPageRows rows, fewer when the last page's values
// were large, so that a page holds about scanPageBytes.
const (
	scanPageRows  = 256
	scanPageBytes = 4 << 20
)

func (t *tx) Scan(bucket string, r driver.Range, fn func(key, value []byte) error) error {
	lo, hi := r.Start, r.End // the part of the range still to visit
	if lo == nil {
		lo = []byte{}
	}
	loOp := ">="
	pageRows := scanPageRows
	visited := 0
	type row struct{ k, v []byte }
	var page []row
	for {
		want := pageRows
		if r.Limit > 0 {
			want = min(want, r.Limit-visited)
		}
		q := "SELECT key, value FROM " + KVTable + " WHERE bucket = $1 AND key " + loOp + " $2"
		args := []any{bucket, lo}
		if hi != nil {
			q += " AND key < $3"
			args = append(args, hi)
		}
		if r.Reverse {
			q += " ORDER BY key DESC"
		} else {
			q += " ORDER BY key"
		}
		q += fmt.Sprintf(" LIMIT %d", want)
		// In the page's round trip, what fn wrote while visiting the
		// last page.
		page = page[:0]
		size := 0
		err := t.send(&statement{q, args}, func(br pgx.BatchResults) error {
			rows, err := br.Query()
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var p row
				if err := rows.Scan(&p.k, &p.v); err != nil {
					return err
				}
				size += len(p.k) + len(p.v)
				page = append(page, p)
			}
			return rows.Err()
		})
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		// fn owns the slices it is given: keep our own copy of where
		// the next page starts.
		last := bytes.Clone(page[len(page)-1].k)
		for _, p := range page {
			if err := fn(p.k, p.v); err != nil {
				return err
			}
		}
		visited += len(page)
		if len(page) < want || (r.Limit > 0 && visited >= r.Limit) {
			return nil
		}
		if r.Reverse {
			hi = last
		} else {
			lo, loOp = last, ">"
		}
		if size > scanPageBytes {
			pageRows = max(1, len(page)*scanPageBytes/size)
		} else {
			pageRows = scanPageRows
		}
	}
}
