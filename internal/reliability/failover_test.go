package reliability

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/loadgen"
	"github.com/cardvault/cardvault/internal/pgaftest"
	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/internal/testkit"
)

// The ways TestFailover loses the primary.
const (
	faultKill       = "kill"       // SIGKILL: the machine dies
	faultSwitchover = "switchover" // pg_autoctl perform failover: planned
	faultFreeze     = "freeze"     // SIGSTOP: the machine hangs, or is cut off
)

// TestFailover: two server processes on a pg_auto_failover formation
// (internal/pgaftest) under the mix, and the primary lost — killed, switched
// over, frozen — each case on a formation of its own. The servers follow
// the new primary without being restarted: /readyz says 503 while there is
// no primary and 200 after; every error a client got meanwhile is a "try
// again" (a 503, or the secure-token API's api-error that says so), never
// another 500; every acknowledged write reads back from the new primary
// alone (a third server pointed at it), single-use tokens are still
// redeemed exactly once across the servers, and the old primary rejoins as
// one of the new one's synchronous standbys (with the other standbys, which
// follow the new primary). Each case logs its figures
// (RELIABILITY.md): the writes acknowledged, lost, the time from the fault
// to the first acknowledged write sent after it, and how long the old and
// the new primary were wait_primary (acknowledging alone, at most).
func TestFailover(t *testing.T) {
	// The servers run as the README's deployment says: an acknowledged
	// write is on a standby (pgstore's cardvault_min_standbys), so that
	// nothing the HA engine does with synchronous_standby_names — a new
	// primary acknowledging alone until a standby follows it, or
	// pg_auto_failover 2.0's switchover race (its issue 774) — loses an
	// acknowledged write.
	for _, fault := range []string{faultKill, faultSwitchover, faultFreeze} {
		t.Run(fault, func(t *testing.T) { failover(t, fault) })
	}
}

func failover(t *testing.T, fault string) {
	f := pgaftest.Start(t)
	d := newDeployment(t, f.URL+onAStandby)
	p1, p2 := d.start(), d.start()
	servers := []*serverProc{{name: "server 1", url: p1.URL}, {name: "server 2", url: p2.URL}}
	cfg := d.config(8, p1.URL, p2.URL)
	cfg.Ledger = loadgen.NewLedger()

	nodes := f.WaitNodes(t, time.Minute, "a primary", func(n []pgaftest.Node) bool { _, ok := pgaftest.Primary(n); return ok })
	old, _ := pgaftest.Primary(nodes)
	stopReady := watchReady(servers)
	loadFrom := time.Now()
	var faultAt time.Time
	var replication string // the old primary's, just before the fault
	// When the case fails, what the formation and the ledger say about
	// when things happened — before the formation is torn down.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s just before the fault: %s", old, replication)
			explainFailover(t, f, cfg.Ledger, old, loadFrom, faultAt)
		}
	})
	stop := loadUntil(t, cfg, 10)
	before := cfg.Ledger.Counts()
	// The promise holds for a synchronous formation: wait until every
	// standby is back in sync should the monitor have judged one unhealthy
	// under load (with none left, the primary acknowledges alone, as
	// wait_primary).
	f.WaitNodes(t, time.Minute, "the formation synchronous", func(n []pgaftest.Node) bool { return pgaftest.Settled(n, old) })

	replication = f.Replication(ctx, t, old)
	faultAt = time.Now()
	switchedOver := make(chan struct{})
	var switchErr, refused error
	switch fault {
	case faultKill:
		f.Kill(t, old)
	case faultSwitchover:
		// It returns once the old primary is back as secondary; the test
		// goes on meanwhile.
		go func() {
			defer close(switchedOver)
			switchErr = f.Ctl(old, "autoctl", "perform", "failover")
			if switchErr != nil && !promotedSince(f, old) {
				// Refused before anything happened (seen once: a
				// minute without a failover): try once more; the test
				// says why after.
				refused = switchErr
				time.Sleep(time.Second)
				switchErr = f.Ctl(old, "autoctl", "perform", "failover")
			}
		}()
	case faultFreeze:
		f.Freeze(t, old)
	}
	var primary string
	f.WaitNodes(t, time.Minute, "a new primary", func(n []pgaftest.Node) bool {
		var ok bool
		primary, ok = pgaftest.Primary(n)
		if ok && primary != old {
			return true
		}
		if fault == faultSwitchover {
			select {
			case <-switchedOver:
				require.NoError(t, switchErr, "perform failover (refused before: %v)", refused)
			default:
			}
		}
		return false
	})
	promotedAt := time.Now()
	promoted := promotedAt.Sub(faultAt)
	for _, s := range servers {
		waitFor(t, time.Minute, s.name+"'s /readyz to say 200 on the new primary", func() bool { return status(s.url, "/readyz") == http.StatusOK })
	}
	// Load on the new primary for a while.
	waitFor(t, time.Minute, "writes acknowledged by the new primary", func() bool {
		_, n, _ := cfg.Ledger.FirstWriteAfter(promotedAt)
		return n >= 50
	})
	res := stop()
	readiness := stopReady()
	noWrites := cfg.Ledger.LongestWriteGap(faultAt.Add(-time.Second), time.Now())
	failedOver := time.Since(faultAt)

	// The old primary comes back and rejoins as one of the new one's
	// standbys; Settled also waits for the other standbys to follow the
	// new primary.
	switch fault {
	case faultKill:
		f.StartKeeper(t, old)
	case faultSwitchover:
		<-switchedOver
		if refused != nil {
			t.Logf("perform failover was refused once: %v", refused)
		}
		require.NoError(t, switchErr)
	case faultFreeze:
		f.Thaw(t, old)
	}
	f.WaitNodes(t, 2*time.Minute, "the old primary back as secondary, and every other node", func(n []pgaftest.Node) bool { return pgaftest.Settled(n, primary) })
	t.Logf("%s promoted %v after the fault; 50 writes acknowledged by it %v after the fault; %s rejoined as secondary %v after it",
		primary, promoted.Round(time.Millisecond), failedOver.Round(time.Millisecond), old, time.Since(faultAt).Round(time.Millisecond))
	// How long each primary may have acknowledged commits alone, as
	// wait_primary: the old one from the load on (issue #774 in a
	// switchover), the new one from the fault on (every promotion goes
	// through wait_primary until a standby follows it).
	var aloneOld, aloneNew time.Duration
	if events, err := f.Events(ctx); err != nil {
		t.Logf("the monitor's events: %v", err)
	} else {
		aloneOld, aloneNew = pgaftest.Alone(events, old, loadFrom), pgaftest.Alone(events, primary, faultAt)
	}

	var b testkit.Buffer
	res.Write(&b)
	require.Equal(t, res.Unintended(), res.TryAgain(), "every error during the failover is a 'try again':\n%s", b.String())
	for _, s := range servers {
		select {
		case <-p1.Exited():
			t.Fatal("server 1 exited")
		case <-p2.Exited():
			t.Fatal("server 2 exited")
		default:
		}
		require.True(t, readiness[s.name].downAfter(faultAt), "%s's /readyz said 503 while there was no primary: %v", s.name, readiness[s.name])
		waitFor(t, 10*time.Second, s.name+"'s /readyz to say 200 after", func() bool { return status(s.url, "/readyz") == http.StatusOK })
	}
	registerLedger(cfg.Ledger)
	c := cfg.Ledger.Counts()
	t.Logf("%s of %s: %d requests, %d 'try again' answers; acknowledged before the fault %+v, in all %+v\n%s",
		fault, old, res.Total(), res.TryAgain(), before, c, b.String())

	// Everything acknowledged, read from the new primary alone.
	alone := *d
	alone.postgres = f.NodeURL(t, primary, "cardvault")
	pv := alone.start()
	problems, err := cfg.Ledger.Verify(ctx, pv.URL, cfg)
	require.NoError(t, err)
	// The line scripts/failover-figures.sh sums up over runs.
	t.Logf("figures: fault=%s acknowledged=%d problems=%d no-write-service=%.2fs wait-primary-old=%.2fs wait-primary-new=%.2fs", fault,
		c.Items+c.Grants+c.SecureTokens+c.Patches, len(problems), noWrites.Seconds(), aloneOld.Seconds(), aloneNew.Seconds())
	require.Empty(t, problems, "every acknowledged write reads back from the new primary")

	// Single-use tokens: exactly once across the servers, on the new
	// primary with its standby back.
	cross, err := loadgen.CrossProcess(ctx, cfg, 4, 8, 32)
	require.NoError(t, err)
	b = testkit.Buffer{}
	cross.Write(&b)
	require.Empty(t, cross.Failures(), "%s", b.String())
	require.Equal(t, 4, cross.Redeemed)
}

// explainFailover logs what tells a lost write of the vault's from one
// pg_auto_failover acknowledged without a standby: the monitor's events,
// whether the old primary ran without a synchronous standby during the
// load, what every node logged about replication and promotion, and the
// history of the secure tokens whose requests were not acknowledged.
func explainFailover(t *testing.T, f *pgaftest.Formation, l *loadgen.Ledger, old string, loadFrom, faultAt time.Time) {
	t.Logf("the load from %s, the fault at %s", loadFrom.Format("15:04:05.000"), faultAt.Format("15:04:05.000"))
	events, err := f.Events(ctx)
	if err != nil {
		t.Logf("the monitor's events: %v", err)
	}
	for _, e := range events {
		t.Logf("monitor: %s %s reported %s, assigned %s: %s", e.At.Format("15:04:05.000"), e.Node, e.Reported, e.Goal, e.Description)
	}
	if async := pgaftest.Asynchronous(events, old, loadFrom); len(async) > 0 {
		t.Logf("%s was assigned wait_primary %d times after the load began: it acknowledged commits without a synchronous standby then", old, len(async))
	}
	for _, n := range f.Names {
		t.Logf("%s logged:\n%s", n, f.Logs(n))
	}
	for _, h := range l.Troubled(10) {
		t.Logf("a secure token: %s", h)
	}
}

// promotedSince reports whether a node other than old is primary, or is
// being promoted, by the monitor's account.
func promotedSince(f *pgaftest.Formation, old string) bool {
	nodes, err := f.Nodes(ctx)
	if err != nil {
		return false
	}
	for _, n := range nodes {
		if n.Name != old && n.Goal != "secondary" && n.Goal != "catchingup" {
			return true
		}
	}
	return false
}

// serverProc names a server whose readiness is watched.
type serverProc struct{ name, url string }

// readiness is what one server's /readyz answered, in order.
type readiness []readyz

type readyz struct {
	at     time.Time
	status int
}

// downAfter reports whether /readyz said 503 at some time after t.
func (r readiness) downAfter(t time.Time) bool {
	for _, s := range r {
		if s.at.After(t) && s.status == http.StatusServiceUnavailable {
			return true
		}
	}
	return false
}

// watchReady polls each server's /readyz every 20 ms until the returned
// function is called, which returns what each answered.
func watchReady(servers []*serverProc) func() map[string]readiness {
	done := make(chan struct{})
	var wg sync.WaitGroup
	out := make([]readiness, len(servers))
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				out[i] = append(out[i], readyz{time.Now(), status(s.url, "/readyz")})
				select {
				case <-done:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
	}
	return func() map[string]readiness {
		close(done)
		wg.Wait()
		m := map[string]readiness{}
		for i, s := range servers {
			m[s.name] = out[i]
		}
		return m
	}
}

// BenchmarkMixFormationVsPostgres is the price of synchronous replication:
// the mix's request rate (8 clients over two server processes) on a
// pg_auto_failover formation and on a single PostgreSQL (a private server,
// synchronous_commit on and fsync off like the formation's nodes), and of
// the standby guard: the formation's rate with cardvault_min_standbys=1
// against without; in alternating 2 s rounds, one of each per iteration;
// it reports the medians and the medians of the rounds' ratios.
//
//	CARDVAULT_TEST_PGAF=$PWD/scripts/with-pg-auto-failover.sh go test -run '^$' -bench MixFormationVsPostgres -benchtime 10x ./internal/reliability
func BenchmarkMixFormationVsPostgres(b *testing.B) {
	f := pgaftest.Start(b)
	single := pgtest.StartPrivate(b)
	var rates [3][]float64 // formation, formation with the standby guard, single
	var ratios, guardedRatios []float64
	var cfgs [3]loadgen.Config
	onFormation := newDeployment(b, f.URL)
	guarded := *onFormation // the same database: the same master key
	guarded.postgres += onAStandby
	for i, d := range []*deployment{onFormation, &guarded, newDeployment(b, single.CreateDatabase(b, "cardvault_bench"))} {
		p1, p2 := d.start(), d.start()
		cfgs[i] = d.config(8, p1.URL, p2.URL)
		cfgs[i].Duration = 2 * time.Second
	}
	for b.Loop() {
		var round [3]float64
		for i := range cfgs {
			res, err := loadgen.Mix(ctx, cfgs[i])
			require.NoError(b, err)
			require.Zero(b, res.Unintended())
			round[i] = float64(res.Total()) / res.Elapsed.Seconds()
			rates[i] = append(rates[i], round[i])
		}
		ratios = append(ratios, round[0]/round[2])
		guardedRatios = append(guardedRatios, round[1]/round[0])
	}
	b.ReportMetric(loadgen.Median(rates[0]), "formation-req/s")
	b.ReportMetric(loadgen.Median(rates[1]), "guarded-req/s")
	b.ReportMetric(loadgen.Median(rates[2]), "single-req/s")
	b.ReportMetric(loadgen.Median(ratios), "formation/single")
	b.ReportMetric(loadgen.Median(guardedRatios), "guarded/formation")
}

// onAStandby is what the servers on a formation add to its URL: a write is
// acknowledged once a standby has it (pgstore's cardvault_min_standbys).
const onAStandby = "&cardvault_min_standbys=1"
