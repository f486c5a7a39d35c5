// Package pgaftest gives a test a pg_auto_failover formation of its own — a
// monitor, a primary and two synchronous secondaries on 127.0.0.1 (one
// secondary with CARDVAULT_PGAF_NODES=2) — to lose its primary in: kill it,
// freeze it, switch it over, and let it rejoin.
//
// Start runs scripts/with-pg-auto-failover.sh, whose path `make test` puts
// in CARDVAULT_TEST_PGAF (scripts/test.sh, which also installs
// pg_auto_failover's packages when it can), with a command that hands the
// formation's settings back and holds it until the test ends: the script
// tears the formation down when the test closes the command's input — also
// when the test binary dies.
//
// A test that calls Start fails when the script cannot start a formation
// (its message names the packages to install). Run outside `make test`,
// without CARDVAULT_TEST_PGAF, it is skipped with a message that says how to
// run it: unlike a plain PostgreSQL (internal/pgtest), a formation needs
// packages most machines do not have.
package pgaftest

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cardvault/cardvault/internal/testkit"
)

// EnvScript names the variable that holds the path of
// scripts/with-pg-auto-failover.sh.
const EnvScript = "CARDVAULT_TEST_PGAF"

// Formation is a running formation.
type Formation struct {
	// URL is the clients' URL: every data node,
	// target_session_attrs=read-write.
	URL string
	// MonitorURL is the monitor's database.
	MonitorURL string
	// Names are the data nodes' names (node1, node2, ...): node1 was the
	// first primary.
	Names []string

	ctl    string // the script's per-node control command
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *testkit.Buffer
	exited chan struct{}
}

// Node is one data node as the monitor sees it.
type Node struct {
	Name     string
	Port     int
	Reported string // the state the node's keeper reported
	Goal     string // the state the monitor assigned
}

// Start starts a formation and waits until it is ready; it is torn down
// when the test ends. A formation that fails to start is tried once more
// (the first failure is logged): on a machine busy with the rest of `make
// test`, a node's PostgreSQL has been seen not to come up in the 10 s that
// pg_autoctl create gives it.
func Start(t testing.TB) *Formation {
	t.Helper()
	script := os.Getenv(EnvScript)
	if script == "" {
		t.Skipf("this test needs a pg_auto_failover formation: run `make test`, or set %s to the path of "+
			"scripts/with-pg-auto-failover.sh (which needs Debian's postgresql-NN-auto-failover and pg-auto-failover-cli)", EnvScript)
	}
	f, err := start(t, script)
	if err != nil {
		t.Logf("pgaftest: %v\nstarting another formation", err)
		if f, err = start(t, script); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// start starts one formation; the test's cleanup tears it down.
func start(t testing.TB, script string) (*Formation, error) {
	// The command prints the formation's settings, then holds it until
	// its input closes.
	const hold = `printf 'URL=%s\nMONITOR=%s\nCTL=%s\nNODES=%s\nready\n' "$CARDVAULT_TEST_PGAF_URL" "$CARDVAULT_TEST_PGAF_MONITOR_URL" "$CARDVAULT_TEST_PGAF_CTL" "$CARDVAULT_TEST_PGAF_NODES"; exec cat >/dev/null`
	started := time.Now()
	f := &Formation{cmd: exec.Command(script, "sh", "-c", hold), stderr: &testkit.Buffer{}, exited: make(chan struct{})}
	f.cmd.Stderr = f.stderr
	var err error
	if f.stdin, err = f.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := f.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := f.cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgaftest: starting %s: %w", script, err)
	}
	go func() {
		_ = f.cmd.Wait()
		close(f.exited)
	}()
	t.Cleanup(f.stop)

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(4 * time.Minute)
	for ready := false; !ready; {
		select {
		case line, ok := <-lines:
			if !ok {
				<-f.exited
				return nil, fmt.Errorf("pgaftest: the formation did not start (%s):\n%s", f.cmd.ProcessState, f.stderr.String())
			}
			k, v, _ := strings.Cut(line, "=")
			switch k {
			case "URL":
				f.URL = v
			case "MONITOR":
				f.MonitorURL = v
			case "CTL":
				f.ctl = v
			case "NODES":
				f.Names = strings.Fields(v)
			case "ready":
				ready = true
			}
		case <-deadline:
			return nil, fmt.Errorf("pgaftest: the formation was not ready within 4 minutes:\n%s", f.stderr.String())
		}
	}
	go func() {
		for range lines { // the script's stdout, drained
		}
	}()
	if len(f.Names) < 2 {
		return nil, fmt.Errorf("pgaftest: the script named no data nodes (%q): is it older than pgaftest?\n%s", f.Names, f.stderr.String())
	}
	t.Logf("pgaftest: a pg_auto_failover formation of %d data nodes ready in %v", len(f.Names), time.Since(started).Round(100*time.Millisecond))
	return f, nil
}

// stop closes the command's input, so that the script tears the formation
// down, and waits for it (interrupting it after a minute).
func (f *Formation) stop() {
	f.stdin.Close()
	select {
	case <-f.exited:
		return
	case <-time.After(time.Minute):
	}
	_ = f.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-f.exited:
	case <-time.After(30 * time.Second):
		_ = f.cmd.Process.Kill()
	}
}

// Log is what the script has written on stderr.
func (f *Formation) Log() string { return f.stderr.String() }

// Nodes returns the data nodes, as the monitor has them now.
func (f *Formation) Nodes(ctx context.Context) ([]Node, error) {
	return monitorRows(ctx, f.MonitorURL, "SELECT nodename, nodeport, reportedstate::text, goalstate::text FROM pgautofailover.node ORDER BY nodename",
		func(r pgx.CollectableRow) (Node, error) {
			var n Node
			err := r.Scan(&n.Name, &n.Port, &n.Reported, &n.Goal)
			return n, err
		})
}

// monitorRows runs query on the monitor over a connection of its own.
func monitorRows[T any](ctx context.Context, monitor, query string, scan pgx.RowToFunc[T]) ([]T, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, monitor)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, query)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scan)
}

// Event is one state change the monitor recorded.
type Event struct {
	At          time.Time
	Node        string
	Reported    string // the state the node's keeper reported then
	Goal        string // the state the monitor assigned
	Description string
}

// Events returns the monitor's history of state changes, oldest first:
// what a test that failed over prints to say what the formation did.
func (f *Formation) Events(ctx context.Context) ([]Event, error) {
	return monitorRows(ctx, f.MonitorURL, "SELECT eventtime, nodename, reportedstate::text, goalstate::text, description FROM pgautofailover.event ORDER BY eventid",
		func(r pgx.CollectableRow) (Event, error) {
			var e Event
			err := r.Scan(&e.At, &e.Node, &e.Reported, &e.Goal, &e.Description)
			return e, err
		})
}

// Asynchronous returns the times at which node, as primary, acknowledged
// commits without a synchronous standby: pg_auto_failover's keeper empties
// synchronous_standby_names in wait_primary, and a commit acknowledged then
// may be missing on every standby. The monitor assigns it to a primary none
// of whose standbys in the replication quorum is healthy when
// number_sync_standbys is 0 (in 2.0 also to a draining primary whose only
// standby is being promoted: issue #774), and to every newly promoted
// standby until one of the others is its healthy secondary. It returns each
// event after since in which node was assigned wait_primary.
func Asynchronous(events []Event, node string, since time.Time) []Event {
	var out []Event
	for _, e := range events {
		if e.Node == node && e.At.After(since) && e.Goal == "wait_primary" {
			out = append(out, e)
		}
	}
	return out
}

// Alone returns how long node was wait_primary after since, by the
// monitor's events: from each assignment of wait_primary to the node's next
// report of primary (or to the last event, when there is none), summed. It
// bounds from above how long the node acknowledged commits alone (see
// Asynchronous): the keeper disables synchronous replication some time
// after the assignment, and enables it before it reports primary.
func Alone(events []Event, node string, since time.Time) time.Duration {
	var alone time.Duration
	var from time.Time // zero: not wait_primary
	for _, e := range events {
		if e.Node != node || !e.At.After(since) {
			continue
		}
		switch {
		case from.IsZero() && e.Goal == "wait_primary":
			from = e.At
		case !from.IsZero() && e.Reported == "primary":
			alone += e.At.Sub(from)
			from = time.Time{}
		}
	}
	if !from.IsZero() && len(events) > 0 {
		alone += events[len(events)-1].At.Sub(from)
	}
	return alone
}

// Primary returns the name of the node that is primary — reported and
// assigned primary, or wait_primary (a primary whose standby is not back
// yet) — and false when there is none.
func Primary(nodes []Node) (string, bool) {
	for _, n := range nodes {
		if n.Reported == n.Goal && (n.Reported == "primary" || n.Reported == "wait_primary") {
			return n.Name, true
		}
	}
	return "", false
}

// Settled reports whether primary is primary and every other node — one or
// more — its secondary: replication is synchronous again, to all standbys.
func Settled(nodes []Node, primary string) bool {
	for _, n := range nodes {
		want := "secondary"
		if n.Name == primary {
			want = "primary"
		}
		if n.Reported != want || n.Goal != want {
			return false
		}
	}
	return len(nodes) > 1
}

// WaitNodes polls the monitor every 50 ms until cond holds for its nodes,
// and returns them; it fails the test after timeout.
func (f *Formation) WaitNodes(t testing.TB, timeout time.Duration, what string, cond func([]Node) bool) []Node {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last []Node
	var lastErr error
	for {
		nodes, err := f.Nodes(context.Background())
		if err == nil && cond(nodes) {
			return nodes
		}
		if err == nil {
			last = nodes
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("pgaftest: timed out after %v waiting for %s; nodes %+v (last error: %v)\n%s", timeout, what, last, lastErr, f.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// NodeURL is the URL of database db on one node alone.
func (f *Formation) NodeURL(t testing.TB, node, db string) string {
	t.Helper()
	nodes, err := f.Nodes(context.Background())
	if err != nil {
		t.Fatalf("pgaftest: %v", err)
	}
	for _, n := range nodes {
		if n.Name == node {
			u, err := url.Parse(f.URL)
			if err != nil {
				t.Fatalf("pgaftest: %v", err)
			}
			u.Host = "127.0.0.1:" + strconv.Itoa(n.Port)
			u.Path = "/" + db
			u.RawQuery = "sslmode=disable"
			return u.String()
		}
	}
	t.Fatalf("pgaftest: no node %s", node)
	return ""
}

// Replication says how a node replicates now: its synchronous_standby_names
// and, for each standby streaming from it, the standby's name, sync_state
// and how far it has flushed — for a failed test to log what the primary
// was doing just before its fault.
func (f *Formation) Replication(ctx context.Context, t testing.TB, node string) string {
	t.Helper()
	var names, lsn string
	var standbys []string
	err := func() error {
		conn, err := pgx.Connect(ctx, f.NodeURL(t, node, "postgres"))
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		if err := conn.QueryRow(ctx, "SELECT current_setting('synchronous_standby_names'), pg_current_wal_lsn()::text").Scan(&names, &lsn); err != nil {
			return err
		}
		rows, err := conn.Query(ctx, "SELECT application_name || ' ' || sync_state || ' flushed ' || coalesce(flush_lsn::text, '-') FROM pg_stat_replication")
		if err != nil {
			return err
		}
		standbys, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}()
	if err != nil {
		return fmt.Sprintf("pgaftest: %s: %v", node, err)
	}
	return fmt.Sprintf("synchronous_standby_names=%q at %s; standbys %q", names, lsn, standbys)
}

// Kill SIGKILLs the node's keeper and PostgreSQL processes — a machine that
// dies — and returns once they are gone.
func (f *Formation) Kill(t testing.TB, node string) { f.run(t, node, "kill") }

// Freeze SIGSTOPs the node's processes: a machine that hangs, or is cut
// off, as a client sees it — connections stay open and nothing answers.
func (f *Formation) Freeze(t testing.TB, node string) { f.run(t, node, "freeze") }

// Thaw SIGCONTs the node's processes.
func (f *Formation) Thaw(t testing.TB, node string) { f.run(t, node, "thaw") }

// StartKeeper starts the node's keeper again: a killed old primary rewinds
// and rejoins as secondary.
func (f *Formation) StartKeeper(t testing.TB, node string) { f.run(t, node, "start") }

// Logs returns what the node's keeper and PostgreSQL logged about
// replication, promotion and recovery, for a failed test to print.
func (f *Formation) Logs(node string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, f.ctl, node, "logs").CombinedOutput()
	if err != nil {
		return fmt.Sprintf("pgaftest: the logs of %s: %v\n%s", node, err, out)
	}
	return string(out)
}

// Autoctl runs pg_autoctl with args on the node, e.g. "perform",
// "failover": a planned switchover.
func (f *Formation) Autoctl(t testing.TB, node string, args ...string) {
	f.run(t, node, append([]string{"autoctl"}, args...)...)
}

func (f *Formation) run(t testing.TB, node string, args ...string) {
	t.Helper()
	if err := f.Ctl(node, args...); err != nil {
		t.Fatal(err)
	}
}

// Ctl runs one of the script's actions on a node (see
// scripts/with-pg-auto-failover.sh): "kill", "freeze", "thaw", "start",
// "autoctl" and pg_autoctl's arguments. Unlike the methods that call it, it
// may be called from any goroutine.
func (f *Formation) Ctl(node string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, f.ctl, append([]string{node}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgaftest: %s %s: %v\n%s", node, strings.Join(args, " "), err, out)
	}
	return nil
}
