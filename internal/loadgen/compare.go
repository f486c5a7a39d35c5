package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// ReadRoutes are the mix's reads: what a setting that adds work to writes
// (the audit trail's entry in the write's transaction) must not slow.
var ReadRoutes = []Route{RouteRetrieve, RouteSTGet, RouteSTList}

// CompareResult is the mix run alternately against two servers that
// differ in one setting: A's runs and B's, pair by pair.
type CompareResult struct {
	NameA, NameB string
	A, B         []*Result
}

// settle is the pause before each run of Compare: what the run before
// left to do (webhooks to deliver, entries to chain, pages to write back)
// is done before the next is timed, rather than charged to it.
const settle = 2 * time.Second

// Compare runs the mix runs times against each of a and b — two servers
// of one build that differ in one setting, each Setup already — in turns,
// A then B, then B then A, so that load from elsewhere on the machine and
// the data the runs leave behind fall on both alike. Each run gets a fresh
// ledger; an unintended error in either is an error.
func Compare(ctx context.Context, a, b Config, runs int, nameA, nameB string) (CompareResult, error) {
	if runs < 1 {
		return CompareResult{}, errors.New("loadgen: Compare needs at least one run")
	}
	out := CompareResult{NameA: nameA, NameB: nameB}
	mix := func(cfg Config) (*Result, error) {
		cfg.Ledger = NewLedger()
		res, err := Mix(ctx, cfg)
		if err == nil && res.Unintended() > 0 {
			err = fmt.Errorf("loadgen: %d unintended errors", res.Unintended())
		}
		return res, err
	}
	for i := range runs {
		order := []bool{true, false}
		if i%2 == 1 {
			order = []bool{false, true}
		}
		for _, isA := range order {
			cfg, name := b, nameB
			if isA {
				cfg, name = a, nameA
			}
			select {
			case <-time.After(settle):
			case <-ctx.Done():
				return out, ctx.Err()
			}
			res, err := mix(cfg)
			if err != nil {
				return out, fmt.Errorf("%s, run %d: %w", name, i+1, err)
			}
			if isA {
				out.A = append(out.A, res)
			} else {
				out.B = append(out.B, res)
			}
		}
	}
	return out, nil
}

// Rate is a run's requests per second, every route together.
func Rate(r *Result) float64 { return float64(r.Total()) / r.Elapsed.Seconds() }

// Ratios are A's throughput over B's, run by run.
func (c CompareResult) Ratios() []float64 {
	var out []float64
	for i := range min(len(c.A), len(c.B)) {
		out = append(out, Rate(c.A[i])/Rate(c.B[i]))
	}
	return out
}

// ReadP99 is the median over runs of route's p99 latency.
func ReadP99(runs []*Result, route Route) time.Duration {
	var ps []float64
	for _, r := range runs {
		if s := r.Route(route); s.Count > 0 {
			ps = append(ps, float64(s.P99))
		}
	}
	return time.Duration(Median(ps))
}

// Write prints each pair of runs, the median of the pairs' throughput
// ratios (and the ratio of the median rates: where which one ran first
// matters, the pairs' ratios alternate high and low, and this one is
// steadier), and the reads' p99 latencies side by side.
func (c CompareResult) Write(w io.Writer) {
	ratios := c.Ratios()
	for i, r := range ratios {
		fmt.Fprintf(w, "  run %d: %s %.0f req/s, %s %.0f req/s: %.1f %%\n", i+1, c.NameA, Rate(c.A[i]), c.NameB, Rate(c.B[i]), 100*r)
	}
	var ra, rb []float64
	for i := range ratios {
		ra, rb = append(ra, Rate(c.A[i])), append(rb, Rate(c.B[i]))
	}
	fmt.Fprintf(w, "throughput %s / %s, median of %d alternating runs: %.1f %% (%s %.0f req/s, %s %.0f req/s: %.1f %%)\n",
		c.NameA, c.NameB, len(ratios), 100*Median(ratios), c.NameA, Median(ra), c.NameB, Median(rb), 100*Median(ra)/Median(rb))
	for _, route := range ReadRoutes {
		pa, pb := ReadP99(c.A, route), ReadP99(c.B, route)
		if pa == 0 && pb == 0 {
			continue // a route the mix did not send
		}
		fmt.Fprintf(w, "p99 %-28s %s %s, %s %s: %+.2f ms\n", route.String()+":", c.NameA, ms(pa), c.NameB, ms(pb), float64(pa-pb)/float64(time.Millisecond))
	}
}
