package loadgen

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// RouteStats is one route's figures in a run.
type RouteStats struct {
	Route      Route
	Count      int     // requests answered (or failed)
	PerSecond  float64 // Count over the run's elapsed time
	P50        time.Duration
	P99        time.Duration
	P999       time.Duration
	Intended   int      // error responses the mix asked for
	Unintended int      // any other error, wrong answer or failed exchange
	TryAgain   int      // of the unintended: the server's "try again" (a 503, or the secure-token API's api-error that says so)
	TooMany    int      // 429 answers: a limit on failed attempts held the client back (each is unintended too: the mix never asks for one)
	Failures   []string // a few unintended ones, described
}

// Result is a run's figures.
type Result struct {
	Clients int
	Elapsed time.Duration
	Routes  []RouteStats // the routes that saw requests, in Route order
}

// Route returns the figures of r (zero when it saw no request).
func (r *Result) Route(route Route) RouteStats {
	for _, s := range r.Routes {
		if s.Route == route {
			return s
		}
	}
	return RouteStats{Route: route}
}

// Unintended is the total of unintended errors.
func (r *Result) Unintended() int { return r.total(func(s RouteStats) int { return s.Unintended }) }

// TryAgain is the total of unintended errors that were the server's "try
// again".
func (r *Result) TryAgain() int { return r.total(func(s RouteStats) int { return s.TryAgain }) }

// TooMany is the total of 429 answers.
func (r *Result) TooMany() int { return r.total(func(s RouteStats) int { return s.TooMany }) }

// Total is the number of requests.
func (r *Result) Total() int { return r.total(func(s RouteStats) int { return s.Count }) }

// total sums one figure over the routes.
func (r *Result) total(figure func(RouteStats) int) int {
	n := 0
	for _, s := range r.Routes {
		n += figure(s)
	}
	return n
}

func merge(recs []*recorder, elapsed time.Duration) *Result {
	res := &Result{Elapsed: elapsed}
	for route := range numRoutes {
		var ds []time.Duration
		st := RouteStats{Route: route}
		for _, rec := range recs {
			for _, s := range rec.samples[route] {
				ds = append(ds, s.d)
				switch s.outcome {
				case outcomeIntended:
					st.Intended++
				case outcomeUnintended:
					st.Unintended++
				case outcomeTryAgain:
					st.Unintended++
					st.TryAgain++
				}
			}
			st.Failures = append(st.Failures, rec.failures[route]...)
			st.TooMany += rec.tooMany[route]
		}
		if len(ds) == 0 {
			continue
		}
		if len(st.Failures) > maxFailureNotes {
			st.Failures = st.Failures[:maxFailureNotes]
		}
		slices.Sort(ds)
		st.Count = len(ds)
		st.PerSecond = float64(len(ds)) / elapsed.Seconds()
		st.P50, st.P99, st.P999 = quantile(ds, 0.50), quantile(ds, 0.99), quantile(ds, 0.999)
		res.Routes = append(res.Routes, st)
	}
	return res
}

// quantile is the nearest-rank q-quantile of sorted durations.
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Write prints the result as a table.
func (r *Result) Write(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "route\tcount\treq/s\tp50\tp99\tp999\tintended err\tunintended err\tof which try again\t429\t\n")
	for _, s := range r.Routes {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t\n", s.Route, s.Count, s.PerSecond, ms(s.P50), ms(s.P99), ms(s.P999), s.Intended, s.Unintended, s.TryAgain, s.TooMany)
	}
	fmt.Fprintf(tw, "all\t%d\t%.0f\t\t\t\t\t%d\t%d\t%d\t\n", r.Total(), float64(r.Total())/r.Elapsed.Seconds(), r.Unintended(), r.TryAgain(), r.TooMany())
	tw.Flush()
	for _, s := range r.Routes {
		for _, f := range s.Failures {
			fmt.Fprintf(w, "  unintended: %s: %s\n", s.Route, f)
		}
	}
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// LoadAverage returns /proc/loadavg's three figures ("1.23 0.98 0.87"),
// or "?" where there is none.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// Median is the median of xs (the mean of the middle two for an even
// count).
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// MedianResult combines several runs' results route by route: the median
// of each figure (and the sum of the error counts).
func MedianResult(runs []*Result) *Result {
	if len(runs) == 0 {
		return &Result{}
	}
	out := &Result{Clients: runs[0].Clients}
	var elapsed []float64
	for _, r := range runs {
		elapsed = append(elapsed, float64(r.Elapsed))
	}
	out.Elapsed = time.Duration(Median(elapsed))
	for route := range numRoutes {
		var count, rate, p50, p99, p999 []float64
		st := RouteStats{Route: route}
		for _, r := range runs {
			s := r.Route(route)
			if s.Count == 0 {
				continue
			}
			count = append(count, float64(s.Count))
			rate = append(rate, s.PerSecond)
			p50, p99, p999 = append(p50, float64(s.P50)), append(p99, float64(s.P99)), append(p999, float64(s.P999))
			st.Intended += s.Intended
			st.Unintended += s.Unintended
			st.TryAgain += s.TryAgain
			st.TooMany += s.TooMany
			st.Failures = append(st.Failures, s.Failures...)
		}
		if len(count) == 0 {
			continue
		}
		st.Count, st.PerSecond = int(Median(count)), Median(rate)
		st.P50, st.P99, st.P999 = time.Duration(Median(p50)), time.Duration(Median(p99)), time.Duration(Median(p999))
		if len(st.Failures) > maxFailureNotes {
			st.Failures = st.Failures[:maxFailureNotes]
		}
		out.Routes = append(out.Routes, st)
	}
	return out
}
