// Command loadgen drives cardvault's reference server on this machine with
// many concurrent clients through a realistic mix of both APIs, and prints
// per route the request rate, p50/p99/p999 latency and the error responses
// (intended ones, which the mix asks for, and unintended ones), and capture
// redemption's request rate as a share of a bare net/http handler's,
// measured in the same run. See README.md beside this file for the figures
// and internal/loadgen for what the mix does.
//
// One command reproduces the figures: -spawn builds examples/server, starts
// it on 127.0.0.1 with a fresh data directory (bbolt, or -postgres URL) and
// generated credentials, and stops it at the end:
//
//	go run ./examples/loadgen -spawn -runs 3
//	go run ./examples/loadgen -spawn -servers 2 -postgres "$URL" -cross
//	go run ./examples/loadgen -spawn -audit-compare -runs 5 -ratio-rounds 0
//
// -audit-compare starts two servers of the one build, the audit trail on
// in one and off (-audit=false) in the other, each on data of its own (with
// -postgres, a database each, created on that server and dropped after:
// its user needs CREATEDB),
// runs the mix against them in turns -runs times, and prints the
// throughput with the trail as a share of the throughput without it, and
// the reads' p99 latencies side by side.
//
// -rate R makes the mix open loop: R requests a second on a fixed
// schedule, each timed from its slot, so that the latencies say what a
// request costs at that load rather than how many clients wait at the most
// the server sustains (with 64 closed-loop clients, p99 is about 64 over
// the throughput, whatever the request does). With -audit-compare it
// measures what the trail adds to a read's latency:
//
//	go run ./examples/loadgen -spawn -audit-compare -rate 1500 -runs 6 -duration 10s -ratio-rounds 0
//
// Or drive a server that runs already (only a loopback IP is accepted):
//
//	CARDVAULT_BASIC_AUTH=user:password LOADGEN_API_KEY=key \
//	  go run ./examples/loadgen -url http://127.0.0.1:8080
//
// The API key must be allowed the terminal -terminal (default 1234001).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/loadgen"
	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/internal/serverproc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type options struct {
	urls, postgres, basicAuth, apiKey, terminal, pprof, binary string
	spawn, bad, cross, verify, auditCompare                    bool
	servers, clients, requests, runs, rounds, workFact         int
	duration, phase                                            time.Duration
	rate                                                       float64
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.urls, "url", "", "the servers' base URLs, comma-separated (http://127.0.0.1:port); not with -spawn")
	fs.BoolVar(&o.spawn, "spawn", false, "build examples/server and start it (-servers of them) on 127.0.0.1 with a temporary data directory")
	fs.IntVar(&o.servers, "servers", 1, "with -spawn: how many server processes (more than one needs -postgres)")
	fs.StringVar(&o.postgres, "postgres", "", "with -spawn: run the servers on this PostgreSQL database instead of bbolt")
	fs.IntVar(&o.workFact, "scrypt-work-factor", 10, "with -spawn: the servers' scrypt work factor for vault keys")
	fs.StringVar(&o.binary, "server-binary", "", "with -spawn: run this server binary instead of building examples/server (to compare builds)")
	fs.StringVar(&o.pprof, "server-pprof", "", "with -spawn: the first server's -pprof address (127.0.0.1:port)")
	fs.StringVar(&o.basicAuth, "basic-auth", os.Getenv("CARDVAULT_BASIC_AUTH"), "without -spawn: name:password of a Basic account (default $CARDVAULT_BASIC_AUTH, first account)")
	fs.StringVar(&o.apiKey, "api-key", os.Getenv("LOADGEN_API_KEY"), "without -spawn: a secure-token API key allowed -terminal (default $LOADGEN_API_KEY)")
	fs.StringVar(&o.terminal, "terminal", "1234001", "processing terminal of the secure-token requests")
	fs.IntVar(&o.clients, "clients", 64, "concurrent clients")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "length of the mix (0 with -requests 0: no mix)")
	fs.IntVar(&o.requests, "requests", 0, "stop the mix after this many requests (0: only -duration)")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: the mix's requests per second, all clients together, each timed from its slot in the schedule (0: closed loop, as fast as the clients go)")
	fs.IntVar(&o.rounds, "ratio-rounds", 10, "rounds of bare handler vs capture redemption (0: skip)")
	fs.DurationVar(&o.phase, "ratio-phase", time.Second, "length of each phase of a ratio round: short phases, many rounds, so that load from elsewhere hits both alike")
	fs.IntVar(&o.runs, "runs", 1, "repeat the measurement this many times and print the medians")
	fs.BoolVar(&o.bad, "bad", true, "add the mix's intended bad requests")
	fs.BoolVar(&o.cross, "cross", false, "with several servers: check exactly-once, idempotent replays and lost updates across them")
	fs.BoolVar(&o.verify, "verify", true, "after the mix, read back everything the servers acknowledged")
	fs.BoolVar(&o.auditCompare, "audit-compare", false, "with -spawn: run the mix -runs times in turns against a server with the audit trail and one without (-audit=false), and compare")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.spawn && o.urls != "":
		return o, errors.New("-url and -spawn exclude each other")
	case !o.spawn && o.urls == "":
		return o, errors.New("give -url of a running server, or -spawn")
	case o.spawn && o.servers > 1 && o.postgres == "":
		return o, errors.New("several servers share one PostgreSQL: give -postgres")
	case o.rate < 0:
		return o, errors.New("-rate must not be negative")
	case o.servers < 1 || o.clients < 1 || o.runs < 1:
		return o, errors.New("-servers, -clients and -runs must be at least 1")
	case o.auditCompare && (!o.spawn || o.servers != 1 || o.cross):
		return o, errors.New("-audit-compare starts its own two servers: give -spawn, and no -servers or -cross")
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	cfg := loadgen.Config{Clients: o.clients, Requests: o.requests, Duration: o.duration, Rate: o.rate, Terminal: o.terminal, Bad: o.bad}
	store, stop, err := targets(ctx, o, &cfg, stderr)
	if err != nil {
		return err
	}
	defer stop()
	for _, t := range cfg.Targets {
		if err := loadgen.CheckLoopback(t); err != nil {
			return err
		}
	}
	if o.auditCompare {
		return compareAudit(ctx, o, cfg, store, stdout)
	}
	cfg, err = loadgen.Setup(ctx, cfg)
	if err != nil {
		return fmt.Errorf("making the run's vault key: %w", err)
	}

	fmt.Fprintf(stdout, "loadgen: %d server(s) on %s, %d clients, GOMAXPROCS %d, %d CPUs, load average %s\n",
		len(cfg.Targets), store, cfg.Clients, runtime.GOMAXPROCS(0), runtime.NumCPU(), loadgen.LoadAverage())
	var mixes []*loadgen.Result
	var ratios, createRatios []float64
	unintended := 0
	for i := range o.runs {
		fmt.Fprintf(stdout, "\n== run %d of %d (load average %s)\n", i+1, o.runs, loadgen.LoadAverage())
		if o.rounds > 0 {
			r, err := loadgen.Ratio(ctx, cfg, o.rounds, o.phase)
			if err != nil {
				return err
			}
			r.Write(stdout)
			ratios, createRatios = append(ratios, r.Median()), append(createRatios, r.CreateMedian())
			unintended += r.Redeem.Unintended() + r.Bare.Unintended() + r.Create.Unintended()
		}
		if o.duration <= 0 && o.requests <= 0 {
			continue
		}
		res, bad, err := mixOnce(ctx, o, cfg, stdout)
		if err != nil {
			return err
		}
		mixes = append(mixes, res)
		unintended += bad
	}
	if o.runs > 1 {
		fmt.Fprintf(stdout, "\n== medians of %d runs (error counts are totals; load average now %s)\n", o.runs, loadgen.LoadAverage())
		if len(ratios) > 0 {
			fmt.Fprintf(stdout, "capture redemption / bare handler: %.1f %% (runs: %s)\n", 100*loadgen.Median(ratios), percents(ratios))
			fmt.Fprintf(stdout, "secure-token create / bare handler: %.1f %% (runs: %s)\n", 100*loadgen.Median(createRatios), percents(createRatios))
		}
		if len(mixes) > 0 {
			loadgen.MedianResult(mixes).Write(stdout)
		}
	}
	if o.cross {
		if err := cross(ctx, cfg, stdout); err != nil {
			return err
		}
	}
	if unintended > 0 {
		return fmt.Errorf("%d unintended errors", unintended)
	}
	return nil
}

// targets sets cfg's servers and credentials — servers of its own with
// -spawn, or -url's with -basic-auth and -api-key — and says what they
// store on; stop stops the spawned ones.
func targets(ctx context.Context, o options, cfg *loadgen.Config, stderr io.Writer) (store string, stop func(), err error) {
	if !o.spawn {
		cfg.Targets = strings.Split(o.urls, ",")
		name, password, ok := strings.Cut(strings.Split(o.basicAuth, ",")[0], ":")
		if !ok || o.apiKey == "" {
			return "", nil, errors.New("give -basic-auth name:password and -api-key (or their environment variables)")
		}
		cfg.Account = loadgen.Account{Name: name, Password: password}
		cfg.APIKey = o.apiKey
		return "as configured", func() {}, nil
	}
	store = "bbolt"
	if o.postgres != "" {
		store = "PostgreSQL"
	}
	ts, stop, err := spawn(ctx, o, cfg, stderr)
	if err != nil {
		return "", nil, err
	}
	cfg.Targets = ts
	return store, stop, nil
}

// mixOnce runs the mix once with a ledger of its own, prints it and, with
// -verify, reads back what the servers acknowledged; it returns the run
// and its count of unintended errors and problems.
func mixOnce(ctx context.Context, o options, cfg loadgen.Config, stdout io.Writer) (*loadgen.Result, int, error) {
	ledger := loadgen.NewLedger()
	cfg.Ledger = ledger
	res, err := loadgen.Mix(ctx, cfg)
	if err != nil {
		return nil, 0, err
	}
	fmt.Fprintf(stdout, "mix: %d clients, %.1f s, load average after %s\n", res.Clients, res.Elapsed.Seconds(), loadgen.LoadAverage())
	res.Write(stdout)
	bad := res.Unintended()
	if !o.verify {
		return res, bad, nil
	}
	problems, err := ledger.Verify(ctx, cfg.Targets[len(cfg.Targets)-1], cfg)
	if err != nil {
		return nil, 0, fmt.Errorf("verifying: %w", err)
	}
	c := ledger.Counts()
	fmt.Fprintf(stdout, "read back: %d items, %d capture endpoints, %d secure tokens with %d patches: %d problems\n",
		c.Items, c.Grants, c.SecureTokens, c.Patches, len(problems))
	for _, p := range problems {
		fmt.Fprintln(stdout, "  problem:", p)
	}
	return res, bad + len(problems), nil
}

// cross is -cross: the checks that must hold across several servers.
func cross(ctx context.Context, cfg loadgen.Config, stdout io.Writer) error {
	if len(cfg.Targets) < 2 {
		return errors.New("-cross needs at least two servers")
	}
	res, err := loadgen.CrossProcess(ctx, cfg, 20, 8, 200)
	if err != nil {
		return fmt.Errorf("cross-process checks: %w", err)
	}
	fmt.Fprintf(stdout, "\n== across %d servers\n", len(cfg.Targets))
	res.Write(stdout)
	if f := res.Failures(); len(f) > 0 {
		return fmt.Errorf("cross-process checks failed: %s", strings.Join(f, "; "))
	}
	return nil
}

// compareAudit runs the mix in turns against cfg's two servers, the first
// with the audit trail and the second without, and prints the comparison.
func compareAudit(ctx context.Context, o options, cfg loadgen.Config, store string, stdout io.Writer) error {
	var cfgs [2]loadgen.Config
	for i, target := range cfg.Targets {
		c := cfg
		c.Targets = []string{target}
		var err error
		if cfgs[i], err = loadgen.Setup(ctx, c); err != nil {
			return fmt.Errorf("making the run's vault key: %w", err)
		}
	}
	fmt.Fprintf(stdout, "loadgen: audit on vs off, one server each on %s, %d clients, %v a run, GOMAXPROCS %d, %d CPUs, load average %s\n",
		store, cfg.Clients, o.duration, runtime.GOMAXPROCS(0), runtime.NumCPU(), loadgen.LoadAverage())
	res, err := loadgen.Compare(ctx, cfgs[0], cfgs[1], o.runs, "audit on", "audit off")
	if err != nil {
		return err
	}
	res.Write(stdout)
	fmt.Fprintf(stdout, "load average after: %s\n", loadgen.LoadAverage())
	return nil
}

func percents(xs []float64) string {
	var s []string
	for _, x := range xs {
		s = append(s, fmt.Sprintf("%.1f %%", 100*x))
	}
	return strings.Join(s, ", ")
}

// spawn builds the server and starts o.servers of them with generated
// credentials and one master key.
func spawn(ctx context.Context, o options, cfg *loadgen.Config, stderr io.Writer) ([]string, func(), error) {
	dir, err := os.MkdirTemp("", "cardvault-loadgen-")
	if err != nil {
		return nil, nil, err
	}
	var procs []*serverproc.Proc
	var drops []func(context.Context) error
	stop := func() {
		for _, p := range procs {
			if err := p.Stop(30 * time.Second); err != nil {
				fmt.Fprintln(stderr, "loadgen: stopping a server:", err)
			}
		}
		for _, drop := range drops {
			if err := drop(context.Background()); err != nil {
				fmt.Fprintln(stderr, "loadgen:", err)
			}
		}
		os.RemoveAll(dir)
	}
	fail := func(err error) ([]string, func(), error) {
		stop()
		return nil, nil, err
	}
	bin := o.binary
	if bin == "" {
		fmt.Fprintln(stderr, "loadgen: building examples/server")
		if bin, err = serverproc.Build(ctx, dir); err != nil {
			return fail(err)
		}
	}
	keyFile := filepath.Join(dir, "master.key")
	if _, err := crypto.CreateKeyringFile(keyFile); err != nil {
		return fail(err)
	}
	cfg.Account = loadgen.Account{Name: "loadgen", Password: "lg-" + crypto.NewID(16)}
	cfg.APIKey = "lgk-" + crypto.NewID(24)
	var targets []string
	servers := o.servers
	if o.auditCompare {
		servers = 2 // the second without the audit trail
	}
	for i := range servers {
		pg := o.postgres
		if pg != "" && o.auditCompare {
			// Each server a database of its own, as each has a data
			// directory of its own on bbolt: a shared one would make
			// each server's runs slower by the other's growth.
			u, drop, err := pgtest.CreateDatabase(ctx, o.postgres, "cardvault_loadgen_")
			if err != nil {
				return fail(fmt.Errorf("-audit-compare on PostgreSQL: %w", err))
			}
			pg, drops = u, append(drops, drop)
		}
		sc := serverproc.Config{
			Binary: bin, Data: filepath.Join(dir, fmt.Sprintf("data%d", i)), Postgres: pg, MasterKeyFile: keyFile,
			BasicAuth: cfg.Account.Name + ":" + cfg.Account.Password, APIKeys: cfg.APIKey + ":*", WorkFactor: o.workFact,
		}
		if i == 0 {
			sc.Pprof = o.pprof
		}
		if o.auditCompare && i == 1 {
			sc.Env = append(sc.Env, "CARDVAULT_AUDIT=false")
		}
		p, err := serverproc.Start(ctx, sc)
		if err != nil {
			return fail(err)
		}
		procs = append(procs, p)
		targets = append(targets, p.URL)
		fmt.Fprintf(stderr, "loadgen: server %d (pid %d) on %s\n", i+1, p.Pid(), p.URL)
	}
	return targets, stop, nil
}
