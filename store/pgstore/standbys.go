package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cardvault/cardvault/store"
)

// DefaultStandbyTimeout is how long a write waits, after its COMMIT, for
// the standbys that cardvault_min_standbys asks for to have it; URL
// parameter cardvault_standby_timeout (a Go duration).
const DefaultStandbyTimeout = 2 * time.Second

// standbyGuard is the rule of cardvault_min_standbys: a write is
// acknowledged only once min standbys streaming from the primary have
// flushed it (see the package documentation, "Acknowledged means on a
// standby"). The zero value acknowledges every commit the server did.
type standbyGuard struct {
	min     int
	timeout time.Duration
}

// takeStandbySettings takes cardvault_min_standbys and
// cardvault_standby_timeout out of params. With a minimum, it sends
// synchronous_commit=on unless the string sets it, and refuses off: the
// WAL position the guard waits for is the server's flush position, which
// is past the commit only when the commit waited for its own flush.
func takeStandbySettings(params map[string]string) (standbyGuard, error) {
	g := standbyGuard{timeout: DefaultStandbyTimeout}
	err := errors.Join(
		takeParam(params, "cardvault_min_standbys", func(v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > maxStandbys {
				return errors.New("not a whole number from 0 to 64")
			}
			g.min = n
			return nil
		}),
		takeParam(params, "cardvault_standby_timeout", func(v string) error {
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return errors.New("not a duration > 0")
			}
			g.timeout = d
			return nil
		}),
	)
	if err != nil || g.min == 0 {
		return g, err
	}
	switch v, ok := params["synchronous_commit"]; {
	case !ok:
		params["synchronous_commit"] = "on"
	case v == "off":
		return g, errors.New("pgstore: cardvault_min_standbys needs synchronous_commit other than off")
	}
	return g, nil
}

// maxStandbys bounds cardvault_min_standbys: no formation runs more
// standbys (PostgreSQL's default max_wal_senders is 10), so a larger number
// is surely a typing error.
const maxStandbys = 64

// check refuses, at Open and with a minimum, a database user that cannot see the standbys'
// positions: pg_stat_replication shows them only to superusers and members
// of pg_read_all_stats (pg_monitor includes it), and every write would
// otherwise wait out the timeout and fail.
func (g standbyGuard) check(ctx context.Context, c *pgx.Conn) error {
	var ok bool
	if err := c.QueryRow(ctx, "SELECT pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')").Scan(&ok); err != nil {
		return fmt.Errorf("pgstore: checking that the database user can see the standbys: %w", err)
	}
	if !ok {
		return errors.New("pgstore: cardvault_min_standbys needs a database user that sees pg_stat_replication: " +
			"GRANT pg_monitor (or pg_read_all_stats) to it")
	}
	return nil
}

// The guard's queries. The target is the server's WAL flush position read
// after the COMMIT on the same connection: at or past the end of the
// commit record, and WAL the server has flushed, so that its walsenders
// can send it. A standby counts when it streams from this server and
// reports that position flushed (its reply comes after each flush, so a
// synchronous standby has usually answered before the question is asked);
// a logical replication client, which also appears in
// pg_stat_replication, does not: it holds no copy a failover could
// promote.
const (
	standbysCounted = `SELECT count(*) FROM pg_stat_replication r
		WHERE r.state = 'streaming' AND r.flush_lsn >= %s AND NOT EXISTS (
			SELECT 1 FROM pg_replication_slots s WHERE s.active_pid = r.pid AND s.slot_type = 'logical')`
)

var (
	standbysFirst = `SELECT t.lsn::text, (` + fmt.Sprintf(standbysCounted, "t.lsn") + `) FROM (SELECT pg_current_wal_flush_lsn() AS lsn) t`
	standbysAgain = fmt.Sprintf(standbysCounted, "$1::pg_lsn")
)

// await returns nil once g.min standbys have flushed what c's server had
// flushed when it was called — the commit just made on c — and otherwise,
// after g.timeout or when ctx ends, an error wrapping
// store.ErrCommitUnknown: the commit took effect on this server, and may be
// lost with it if a standby is promoted.
//
// c must be the connection the write committed on, so that the positions
// compared are its server's: after a failover another connection may reach
// another server.
func (g standbyGuard) await(ctx context.Context, c *pgx.Conn) error {
	if g.min == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeoutCause(ctx, g.timeout, errStandbyTimeout)
	defer cancel()
	var target string
	var n int
	err := c.QueryRow(ctx, standbysFirst).Scan(&target, &n)
	// Replies come within a round trip to the standby: poll often at
	// first, then back off.
	wait := 250 * time.Microsecond
	for err == nil && n < g.min {
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			err = ctx.Err()
			continue
		}
		wait = min(2*wait, 20*time.Millisecond)
		err = c.QueryRow(ctx, standbysAgain, target).Scan(&n)
	}
	if err == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errStandbyTimeout) {
		return fmt.Errorf("pgstore: %w: committed on the server, but %w: %d within %v", store.ErrCommitUnknown, errStandbyTimeout, g.min, g.timeout)
	}
	return fmt.Errorf("pgstore: %w: committed, and then asking whether %d standby(s) have it failed: %w", store.ErrCommitUnknown, g.min, err)
}

// errStandbyTimeout is the cause of await's own deadline: too few standbys
// have the commit, which says nothing about the connection.
var errStandbyTimeout = errors.New("too few standbys confirmed it")
