package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "http://127.0.0.1:8080/", "http://[::1]:80", "http://127.1.2.3:9"} {
		require.NoError(t, CheckLoopback(ok), ok)
	}
	for _, bad := range []string{
		"http://localhost:8080",         // a name resolves anywhere
		"http://10.0.0.1:8080",          // not loopback
		"https://127.0.0.1:8080",        // not plain http
		"http://127.0.0.1",              // no port
		"http://user:pw@127.0.0.1:8080", // credentials
		"http://127.0.0.1:8080/v1",      // a path
		"http://127.0.0.1:8080?x=1",     // a query
		"127.0.0.1:8080",                // not a URL
		"http://0.0.0.0:8080",           // every interface
	} {
		require.Error(t, CheckLoopback(bad), bad)
	}
}

func TestQuantileAndMedian(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 1000; i++ {
		ds = append(ds, time.Duration(i))
	}
	require.Equal(t, time.Duration(500), quantile(ds, 0.5))
	require.Equal(t, time.Duration(990), quantile(ds, 0.99))
	require.Equal(t, time.Duration(999), quantile(ds, 0.999))
	require.Equal(t, time.Duration(1), quantile(ds[:1], 0.999))
	require.Equal(t, 2.0, Median([]float64{3, 1, 2}))
	require.Equal(t, 2.5, Median([]float64{4, 1, 2, 3}))
}

// A run's totals add each figure over its routes.
func TestResultTotals(t *testing.T) {
	res := &Result{Routes: []RouteStats{
		{Route: 0, Count: 10, Unintended: 3, TryAgain: 1, TooMany: 2},
		{Route: 1, Count: 5, Unintended: 4, TryAgain: 2},
	}}
	require.Equal(t, 15, res.Total())
	require.Equal(t, 7, res.Unintended())
	require.Equal(t, 3, res.TryAgain())
	require.Equal(t, 2, res.TooMany())
	require.Zero(t, (&Result{}).Total())
}

// A phase's loop ends well when the run is over, and with the first other
// error.
func TestUntilStop(t *testing.T) {
	steps := 0
	require.NoError(t, untilStop(func() error {
		if steps++; steps == 3 {
			return errStop
		}
		return nil
	}))
	require.Equal(t, 3, steps)
	refused := &StatusError{}
	require.Same(t, refused, untilStop(func() error { return refused }))
}

// A ledger accounts for custom fields: every acknowledged one once, others
// only if they were sent without an answer.
func TestFieldsAccountedFor(t *testing.T) {
	acked, maybe := []string{"created", "a"}, []string{"b"}
	for _, c := range []struct {
		names []string
		want  string
	}{
		{[]string{"created", "a"}, ""},
		{[]string{"created", "a", "b"}, ""}, // a write without an answer may have happened
		{[]string{"created"}, "an acknowledged write lost"},
		{[]string{"created", "a", "a"}, "a patch applied twice"},
		{[]string{"created", "a", "c"}, "a field never sent"},
	} {
		require.Equal(t, c.want, fieldsProblem(c.names, acked, maybe), "%v", c.names)
		require.Equal(t, c.want == "", fieldsAccountedFor(c.names, acked, maybe), "%v", c.names)
	}
	require.Equal(t, "lost: 2, another: 1, twice: 1", tally([]string{"twice", "lost", "another", "lost"}))
}

// A ledger keeps each secure token's history — what was sent when, to
// which server, how it was answered — and lists the tokens a request about
// which went unacknowledged, with no secret in it.
func TestLedgerHistory(t *testing.T) {
	l := NewLedger()
	at := time.Date(2026, 12, 3, 6, 36, 22, 935_000_000, time.UTC)
	calm := secureToken{id: "st-calm", token: "2967530000000001"}
	l.secureTokenCreated("1234001", calm, at, 0)
	l.patchAnswered("1234001", calm.id, "lg-1-1-0", at, 1, nil)
	require.Empty(t, l.Troubled(10), "every request about it was acknowledged")

	hit := secureToken{id: "st-hit", token: "2967530000000002"}
	l.secureTokenCreated("1234001", hit, at, 1)
	l.patchSent("1234001", hit.id, "lg-1-1-1")
	l.patchAnswered("1234001", hit.id, "lg-1-1-1", at, 0, &StatusError{Route: RouteSTPatch, Status: 503, Text: "try again"})
	l.singleUseCreated("1234001", hit, "su-secret", at, 1)
	l.accountUpdated("1234001", hit.id, "su-secret", at, 0, 404)

	got := l.Troubled(10)
	require.Len(t, got, 1)
	for _, want := range []string{"created sent 06:36:22.935 to server 2", "patch lg-1-1-1 sent 06:36:22.935 to server 1, not acknowledged",
		"(status 503)", "update-account sent 06:36:22.935 to server 1 (from a single-use token created sent 06:36:22.935 to server 2", "answered 404"} {
		require.Contains(t, got[0], want)
	}
	for _, secret := range []string{hit.token, "su-secret", calm.token} {
		require.NotContains(t, got[0], secret)
	}
	require.Equal(t, []string{"lg-1-1-1"}, l.tokens[tokenKey("1234001", hit.id)].maybe, "an unanswered patch may have happened")
}

// The client counts what it was told to: a success, an intended error, an
// unintended one (a wrong status or a wrong answer).
func TestClientCounts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(`{"token":"t"}`))
		case "/gone":
			w.WriteHeader(http.StatusGone)
			_, _ = w.Write([]byte(`{"error":"gone"}`))
		case "/throttled":
			w.Header().Set("Retry-After", "60")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"error":"too many failed attempts: try again later (see Retry-After)"}`))
		}
	}))
	defer srv.Close()
	rec := &recorder{}
	c := &client{hc: srv.Client(), rec: rec, ctx: context.Background(), stop: func() bool { return false }, budget: newBudget(6).take}
	_, err := c.do(call{route: RouteTokenize, method: "GET", url: srv.URL + "/ok", want: 200, check: func(b []byte) error { return expectMembers(b, "token") }})
	require.NoError(t, err)
	_, err = c.do(call{route: RouteTokenize, method: "GET", url: srv.URL + "/gone", want: 200, intended: []int{410}})
	require.NoError(t, err)
	_, err = c.do(call{route: RouteTokenize, method: "GET", url: srv.URL + "/gone", want: 200})
	require.Error(t, err)
	_, err = c.do(call{route: RouteTokenize, method: "GET", url: srv.URL + "/ok", want: 200, check: func(b []byte) error { return expectMembers(b, "secret") }})
	require.ErrorIs(t, err, errWrongAnswer)
	// A 429 is unintended, and counted as such per route.
	_, err = c.do(call{route: RouteTokenize, method: "GET", url: srv.URL + "/throttled", want: 200})
	require.Error(t, err)
	_, err = c.do(call{route: RouteRedeem, method: "GET", url: srv.URL + "/throttled", want: 200})
	require.Error(t, err)
	_, err = c.do(call{route: RouteTokenize, method: "GET", url: srv.URL + "/ok", want: 200})
	require.ErrorIs(t, err, errStop, "the budget of six requests is spent")

	res := merge([]*recorder{rec}, time.Second)
	st := res.Route(RouteTokenize)
	require.Equal(t, 5, st.Count)
	require.Equal(t, 1, st.Intended)
	require.Equal(t, 3, st.Unintended)
	require.Equal(t, 1, st.TooMany)
	require.Len(t, st.Failures, 3)
	require.Contains(t, st.Failures[0], "410")
	require.Contains(t, st.Failures[2], "429")
	require.Equal(t, 1, res.Route(RouteRedeem).TooMany)
	require.Equal(t, 2, res.TooMany())
	require.Equal(t, 2, MedianResult([]*Result{res, res}).Route(RouteTokenize).TooMany, "runs' 429s add up")
	var table strings.Builder
	res.Write(&table)
	require.Regexp(t, `of which try again +429 *\n`, table.String(), "the table has the column")
	require.Regexp(t, `\n +all .* 2 *\n`, table.String(), "and the total")
}

func TestPacer(t *testing.T) {
	p := newPacer(time.Hour)
	require.True(t, p.take(), "the first may go")
	for range 10 {
		require.False(t, p.take(), "then none until the interval has passed")
	}
}

// A 503, and the secure-token API's api-error that says "try again", count
// as unintended and as try-again; another 500 only as unintended. Each
// acknowledged write is timed in the ledger.
func TestClientTryAgainAndWriteTimes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(`{}`))
		case "/503":
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"the service cannot answer right now; try again"}`))
		case "/api-error-try-again":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"type":"https://docs.payroc.com/api/errors#api-error","errors":[{"message":"Service unavailable, try again"}]}`))
		case "/api-error":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"type":"https://docs.payroc.com/api/errors#api-error"}`))
		}
	}))
	defer srv.Close()
	rec := &recorder{}
	l := NewLedger()
	c := &client{hc: srv.Client(), rec: rec, ctx: context.Background(), stop: func() bool { return false }, budget: newBudget(0).take, ledger: l}
	before := time.Now()
	for _, path := range []string{"/503", "/api-error-try-again", "/api-error"} {
		_, err := c.do(call{route: RouteSTCreate, method: "POST", url: srv.URL + path, want: 200})
		require.Error(t, err, path)
	}
	_, _, ok := l.FirstWriteAfter(before)
	require.False(t, ok, "no write acknowledged yet")
	_, err := c.do(call{route: RouteSTList, method: "GET", url: srv.URL + "/ok", want: 200})
	require.NoError(t, err)
	_, _, ok = l.FirstWriteAfter(before)
	require.False(t, ok, "a read is not a write")
	_, err = c.do(call{route: RouteSTCreate, method: "POST", url: srv.URL + "/ok", want: 200})
	require.NoError(t, err)
	d, n, ok := l.FirstWriteAfter(before)
	require.True(t, ok)
	require.Equal(t, 1, n)
	require.Positive(t, d)
	_, n, _ = l.FirstWriteAfter(time.Now())
	require.Zero(t, n, "sent before")
	after := time.Now()
	require.Equal(t, time.Duration(0), l.LongestWriteGap(after, after))
	gap := l.LongestWriteGap(before, after)
	require.Positive(t, gap)
	require.LessOrEqual(t, gap, after.Sub(before))
	require.Equal(t, 10*time.Second, l.LongestWriteGap(after.Add(time.Second), after.Add(11*time.Second)), "no write in the window")

	res := merge([]*recorder{rec}, time.Second)
	st := res.Route(RouteSTCreate)
	require.Equal(t, 3, st.Unintended)
	require.Equal(t, 2, st.TryAgain)
	require.Equal(t, 2, res.TryAgain())
}

// Compare's figures are pair by pair: A's throughput over B's in the same
// turn, and the median over runs of each read route's p99.
func TestCompareFigures(t *testing.T) {
	run := func(reads int, elapsed time.Duration, p99 time.Duration) *Result {
		return &Result{Elapsed: elapsed, Routes: []RouteStats{{Route: RouteRetrieve, Count: reads, P99: p99}, {Route: RouteTokenize, Count: reads}}}
	}
	c := CompareResult{NameA: "on", NameB: "off",
		A: []*Result{run(90, time.Second, 3*time.Millisecond), run(45, time.Second, 5*time.Millisecond), run(100, 2*time.Second, 4*time.Millisecond)},
		B: []*Result{run(100, time.Second, 2*time.Millisecond), run(50, time.Second, 2*time.Millisecond), run(100, time.Second, 9*time.Millisecond)}}
	require.Equal(t, []float64{0.9, 0.9, 0.5}, c.Ratios())
	require.Equal(t, 4*time.Millisecond, ReadP99(c.A, RouteRetrieve))
	require.Equal(t, 2*time.Millisecond, ReadP99(c.B, RouteRetrieve))
	require.Zero(t, ReadP99(c.B, RouteSTGet))
	var out strings.Builder
	c.Write(&out)
	require.Contains(t, out.String(), "median of 3 alternating runs: 90.0 %")
	require.Contains(t, out.String(), "+2.00 ms")
	require.NotContains(t, out.String(), RouteSTGet.String(), "a route without samples is left out")
}

// An open-loop run's schedule hands out one slot every 1/rate, in order,
// and the run sends no request whose slot is after its end.
func TestOpenLoopSchedule(t *testing.T) {
	s := newSchedule(250)
	for k := range 5 {
		require.Equal(t, s.start.Add(time.Duration(k)*4*time.Millisecond), s.take())
	}

	bare, stop, err := ServeBare()
	require.NoError(t, err)
	defer stop()
	cfg := Config{Targets: []string{bare}, Clients: 8, Duration: 300 * time.Millisecond, Rate: 100}
	require.NoError(t, cfg.defaults())
	res, err := run(context.Background(), cfg, cfg.Clients, func(s *session) error {
		return untilStop(func() error {
			_, err := s.do(call{route: RouteBare, method: "GET", url: bare + "/", want: http.StatusOK})
			return err
		})
	})
	require.NoError(t, err)
	n := res.Route(RouteBare).Count
	require.Positive(t, n)
	require.LessOrEqual(t, n, 31, "100 a second for 0.3 s: slots 0 to 30 at the most")
}
