package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Route names one kind of request the load generator sends; the report has
// a row per route.
type Route int

// The routes, in the order of the report.
const (
	RouteBare Route = iota // the bare net/http handler: the baseline
	RouteTokenize
	RouteRetrieve
	RouteGrant
	RouteRedeem
	RouteAuthorize
	RouteSTCreate
	RouteSTPatch
	RouteSTList
	RouteSTGet
	RouteSingleUse
	RouteUpdateAccount
	RouteKey // POST /v1/key: setup only
	numRoutes
)

var routeNames = [numRoutes]string{
	RouteBare:          "bare net/http handler",
	RouteTokenize:      "POST /v1/vault",
	RouteRetrieve:      "GET /v1/vault",
	RouteGrant:         "POST /v1/capture",
	RouteRedeem:        "POST /v1/capture/{id}",
	RouteAuthorize:     "POST /authorize",
	RouteSTCreate:      "POST .../secure-tokens",
	RouteSTPatch:       "PATCH .../secure-tokens/{id}",
	RouteSTList:        "GET .../secure-tokens",
	RouteSTGet:         "GET .../secure-tokens/{id}",
	RouteSingleUse:     "POST .../single-use-tokens",
	RouteUpdateAccount: "POST .../update-account",
	RouteKey:           "POST /v1/key",
}

func (r Route) String() string { return routeNames[r] }

// CheckLoopback refuses a base URL that is not http:// on a loopback IP
// literal (127.0.0.0/8 or ::1): the load generator only ever drives a
// server on this machine. Host names are refused too, since a name can
// resolve anywhere.
func CheckLoopback(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("loadgen: %q is not a URL", base)
	}
	if u.Scheme != "http" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("loadgen: %q: want http://127.0.0.1:port", base)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() || u.Port() == "" {
		return fmt.Errorf("loadgen: %q: only a loopback IP with a port (http://127.0.0.1:port) may be driven", base)
	}
	return nil
}

// newTransport is the HTTP transport of one run: keep-alive connections,
// enough of them for every client, nothing else.
func newTransport(clients int) *http.Transport {
	return &http.Transport{
		Proxy:               nil, // never through a proxy: loopback only
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * clients,
		MaxIdleConnsPerHost: 2 * clients,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// outcome is how a response counts.
type outcome int

const (
	outcomeOK         outcome = iota
	outcomeIntended           // an error response the mix asked for
	outcomeUnintended         // any other error, a wrong answer, or a failed exchange
	// outcomeTryAgain is an unintended error that is the server's "try
	// again": a 503, or the secure-token API's api-error that says so
	// (its contract has no 503) — what a store that lost its database
	// answers, as during a failover.
	outcomeTryAgain
)

// tryAgainText is how the secure-token API's api-error says "try again".
const tryAgainText = "Service unavailable, try again"

// isTryAgain reports whether an error response is the server's "try
// again".
func isTryAgain(status int, body []byte) bool {
	return status == http.StatusServiceUnavailable ||
		status == http.StatusInternalServerError && bytes.Contains(body, []byte(tryAgainText))
}

// isWrite reports whether a route's success is an acknowledged write.
func isWrite(r Route) bool {
	switch r {
	case RouteTokenize, RouteGrant, RouteRedeem, RouteSTCreate, RouteSTPatch, RouteSingleUse, RouteUpdateAccount:
		return true
	}
	return false
}

// sample is one request's result.
type sample struct {
	d       time.Duration
	outcome outcome
}

// recorder collects one client's samples per route; a run merges them.
type recorder struct {
	samples [numRoutes][]sample
	// failures are descriptions of unintended outcomes (status and error
	// message, never a request or a success body), a few per route.
	failures [numRoutes][]string
	fails    [numRoutes]int
	// tooMany counts the 429 answers (a limit on failed attempts said no),
	// whatever they counted as.
	tooMany [numRoutes]int
}

func (o outcome) unintended() bool { return o == outcomeUnintended || o == outcomeTryAgain }

const maxFailureNotes = 5

func (r *recorder) add(route Route, d time.Duration, o outcome, note string) {
	r.samples[route] = append(r.samples[route], sample{d, o})
	if o.unintended() {
		r.fails[route]++
		if len(r.failures[route]) < maxFailureNotes {
			r.failures[route] = append(r.failures[route], note)
		}
	}
}

// client sends requests for one simulated client and records them.
type client struct {
	hc   *http.Client
	rec  *recorder
	ctx  context.Context
	stop func() bool // true once the run is over: send nothing more
	// budget takes one request from the run's bound; false when spent.
	budget func() bool
	// ledger, when set, gets the time of every acknowledged write.
	ledger *Ledger
	// slot, when set (an open-loop run), gives the time the next request
	// is due; it is sent then, and timed from then.
	slot func() time.Time
}

// errStop ends a client's loop: the run is over (time or request count).
var errStop = errors.New("loadgen: run over")

// call is one request to make.
type call struct {
	route    Route
	method   string
	url      string
	body     []byte
	header   http.Header
	want     int   // the success status
	intended []int // error statuses the mix asked for
	// check, when set, inspects a success body; an error makes the
	// response count as unintended (a wrong answer).
	check func(body []byte) error
}

// reply is what the caller gets back.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (c *client) do(k call) (reply, error) {
	if c.stop() || !c.budget() {
		return reply{}, errStop
	}
	var body io.Reader
	if k.body != nil {
		body = bytes.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(c.ctx, k.method, k.url, body)
	if err != nil {
		return reply{}, err
	}
	for name, v := range k.header {
		req.Header[name] = v
	}
	start := time.Now()
	if c.slot != nil {
		start = c.slot()
		if wait := time.Until(start); wait > 0 {
			select {
			case <-time.After(wait):
			case <-c.ctx.Done():
				return reply{}, errStop
			}
			if c.stop() {
				return reply{}, errStop // the slot came after the end
			}
		}
	}
	resp, err := c.hc.Do(req)
	var raw []byte
	if err == nil {
		raw, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	d := time.Since(start)
	if err != nil {
		if c.ctx.Err() != nil {
			return reply{}, errStop // the run was cancelled: not the server's fault
		}
		c.rec.add(k.route, d, outcomeUnintended, "transport: "+scrubError(err))
		return reply{}, fmt.Errorf("%s: %w", k.route, err)
	}
	rep := reply{status: resp.StatusCode, header: resp.Header, body: raw}
	if resp.StatusCode == http.StatusTooManyRequests {
		c.rec.tooMany[k.route]++
	}
	switch {
	case resp.StatusCode == k.want:
		if k.check != nil {
			if cerr := k.check(raw); cerr != nil {
				c.rec.add(k.route, d, outcomeUnintended, "wrong answer: "+cerr.Error())
				return rep, fmt.Errorf("%s: %w: %v", k.route, errWrongAnswer, cerr)
			}
		}
		c.rec.add(k.route, d, outcomeOK, "")
		if isWrite(k.route) {
			c.ledger.writeAcked(start, start.Add(d))
		}
		return rep, nil
	case slices.Contains(k.intended, resp.StatusCode):
		c.rec.add(k.route, d, outcomeIntended, "")
		return rep, nil
	}
	note := fmt.Sprintf("%d %s", resp.StatusCode, errorText(raw))
	o := outcomeUnintended
	if isTryAgain(resp.StatusCode, raw) {
		o = outcomeTryAgain
	}
	c.rec.add(k.route, d, o, note)
	return rep, &StatusError{Route: k.route, Status: resp.StatusCode, Text: errorText(raw)}
}

// StatusError is an unexpected response.
type StatusError struct {
	Route  Route
	Status int
	Text   string // the error message of the body, never a success body
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s: status %d: %s", e.Route, e.Status, e.Text)
}

// errorText is the message of an error body of either API, cut short: the
// server's error messages name fields and limits, never values.
func errorText(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// scrubError drops what a transport error may carry that is not needed: the
// URL, whose query holds the vault passphrase.
func scrubError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// budget is a run's bound on the number of requests, shared by its
// clients.
type budget struct {
	unbounded bool
	left      atomic.Int64
}

func newBudget(n int) *budget {
	b := &budget{unbounded: n <= 0}
	b.left.Store(int64(n))
	return b
}

func (b *budget) take() bool {
	return b.unbounded || b.left.Add(-1) >= 0
}

// schedule hands out the send times of an open-loop run: one every
// 1/rate seconds from its start, in turn to whichever client asks.
type schedule struct {
	start time.Time
	every time.Duration
	n     atomic.Int64
}

func newSchedule(rate float64) *schedule {
	return &schedule{start: time.Now(), every: time.Duration(float64(time.Second) / rate)}
}

func (s *schedule) take() time.Time {
	return s.start.Add(time.Duration(s.n.Add(1)-1) * s.every)
}

// pacer lets one thing happen at most once per interval, across the
// clients that share it.
type pacer struct {
	every time.Duration
	mu    sync.Mutex
	next  time.Time
}

func newPacer(every time.Duration) *pacer { return &pacer{every: every} }

// take reports whether the thing may happen now, and if so counts it.
func (p *pacer) take() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if now.Before(p.next) {
		return false
	}
	p.next = now.Add(p.every)
	return true
}
