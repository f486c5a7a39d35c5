package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// CrossResult is what CrossProcess found. Every count of a failure should
// be zero.
type CrossResult struct {
	// Single-use tokens raced for by concurrent update-account requests
	// spread over the servers.
	SingleUseTokens, Racers int
	Redeemed                int // tokens redeemed exactly once
	TwiceOrNever            int // tokens redeemed more than once, or never
	OtherStatus             int // a losing racer got another status than UsedSingleUseStatus

	// Idempotent requests sent several times with one key, concurrently
	// and then once more on each server.
	ReplayKeys, ReplayCopies int
	ReplaysDifferent         int // keys whose answers were not all byte-identical
	RanTwice                 int // keys whose request ran more than once

	// Concurrent PATCHes of one secure token, each appending a distinct
	// custom field, spread over the servers.
	Patches, PatchesAcked int
	PatchesLost           int // acknowledged, not in the final state
	PatchesExtra          int // in the final state more than once, or never acknowledged
	PatchErrors           int // PATCHes that did not get a 200

	Latency *Result // every request of the checks
}

// Failures returns the result's failures, described.
func (r CrossResult) Failures() []string {
	var out []string
	add := func(n int, what string) {
		if n > 0 {
			out = append(out, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(r.TwiceOrNever, "single-use tokens were not redeemed exactly once")
	add(r.OtherStatus, "losing update-account requests got an unexpected status")
	add(r.ReplaysDifferent, "idempotency keys were answered differently")
	add(r.RanTwice, "idempotent requests ran more than once")
	add(r.PatchesLost, "acknowledged PATCHes were lost")
	add(r.PatchesExtra, "custom fields appear twice or without an acknowledged PATCH")
	add(r.PatchErrors, "PATCHes failed")
	return out
}

// Write prints the result.
func (r CrossResult) Write(w io.Writer) {
	fmt.Fprintf(w, "single-use tokens: %d raced for by %d update-account requests each: %d redeemed exactly once, %d not, %d unexpected statuses\n",
		r.SingleUseTokens, r.Racers, r.Redeemed, r.TwiceOrNever, r.OtherStatus)
	fmt.Fprintf(w, "idempotency: %d keys sent %d times each across the servers: %d answered differently, %d ran more than once\n",
		r.ReplayKeys, r.ReplayCopies, r.ReplaysDifferent, r.RanTwice)
	fmt.Fprintf(w, "lost updates: %d concurrent PATCHes of one secure token: %d acknowledged, %d lost, %d extra, %d failed\n",
		r.Patches, r.PatchesAcked, r.PatchesLost, r.PatchesExtra, r.PatchErrors)
}

// CrossProcess checks, with cfg.Targets being several servers on one
// database, the guarantees that must hold across them:
//
//   - exactly once: each of tokens single-use tokens is raced for by racers
//     concurrent update-account requests (distinct Idempotency-Keys) sent
//     to the servers in turn; exactly one wins, the others get
//     UsedSingleUseStatus;
//   - idempotent replays: for each of tokens keys, a create (with a fixed
//     secureTokenId, so that a second run would answer 409) and a PATCH are
//     each sent racers times at once across the servers, then once more
//     to each server: every answer is byte-identical, and each ran once;
//   - no lost update: patches PATCHes of one secure token, each appending a
//     distinct custom field, racers at a time across the servers: every
//     acknowledged field is in the final state exactly once.
func CrossProcess(ctx context.Context, cfg Config, tokens, racers, patches int) (CrossResult, error) {
	if err := cfg.defaults(); err != nil {
		return CrossResult{}, err
	}
	hc := &http.Client{Transport: newTransport(racers), Timeout: 60 * time.Second}
	defer hc.CloseIdleConnections()
	c := &crossRun{ctx: ctx, cfg: &cfg, hc: hc, racers: racers, res: CrossResult{SingleUseTokens: tokens, Racers: racers,
		ReplayKeys: tokens, ReplayCopies: racers + len(cfg.Targets), Patches: patches}}
	start := time.Now()
	c.main = c.session(0)
	if err := c.main.authorize(); err != nil {
		return CrossResult{}, err
	}
	err := c.exactlyOnce(tokens)
	if err == nil {
		err = c.replays(tokens)
	}
	if err == nil {
		err = c.lostUpdates(patches)
	}
	if err != nil {
		return c.res, err
	}
	c.res.Latency = merge(c.recs, time.Since(start))
	return c.res, nil
}

// crossRun is one CrossProcess: its sessions, all of one bearer, and what
// it found.
type crossRun struct {
	ctx    context.Context
	cfg    *Config
	hc     *http.Client
	racers int
	main   *session
	mu     sync.Mutex
	recs   []*recorder
	res    CrossResult
}

func (c *crossRun) session(id int) *session {
	rec := &recorder{}
	c.mu.Lock()
	c.recs = append(c.recs, rec)
	c.mu.Unlock()
	s := newSession(c.ctx, c.cfg, id, rec, c.hc, nil)
	s.ledger = nil
	return s
}

// race runs fn in c.racers sessions at once, and waits for them.
func (c *crossRun) race(fn func(j int, s *session)) {
	var wg sync.WaitGroup
	for j := range c.racers {
		s := c.session(j)
		s.bearer = c.main.bearer
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(j, s)
		}()
	}
	wg.Wait()
}

// exactlyOnce races for each of tokens single-use tokens.
func (c *crossRun) exactlyOnce(tokens int) error {
	for range tokens {
		st, err := c.main.createSecureToken()
		if err != nil {
			return err
		}
		su, err := c.main.singleUse()
		if err != nil {
			return err
		}
		statuses := make([]int, c.racers)
		c.race(func(j int, s *session) {
			rep, _ := s.updateAccount(st, su, UsedSingleUseStatus)
			statuses[j] = rep.status
		})
		wins := 0
		for _, s := range statuses {
			switch s {
			case http.StatusOK:
				wins++
			case UsedSingleUseStatus:
			default:
				c.res.OtherStatus++
			}
		}
		if wins == 1 {
			c.res.Redeemed++
		} else {
			c.res.TwiceOrNever++
		}
	}
	return nil
}

// replays sends, for each of tokens keys, a create and then a PATCH of
// what it created many times over.
func (c *crossRun) replays(tokens int) error {
	main, bearer := c.main, c.main.bearer
	for i := range tokens {
		id := fmt.Sprintf("lg-replay-%s-%d", randomHex(4), i)
		body, _ := json.Marshal(map[string]any{"secureTokenId": id, "source": cardSource(cardNumber(), "1231", false),
			"customFields": []map[string]string{{"name": "created", "value": "once"}}})
		answers, err := replay(c.ctx, *c.cfg, c.hc, bearer, c.racers, "POST", main.terminalPath("/secure-tokens"), body)
		if err != nil {
			return err
		}
		if !judgeReplays(answers, http.StatusCreated, &c.res) {
			continue
		}
		patch := []byte(`[{"op":"add","path":"/customFields/-","value":{"name":"replayed","value":"once"}}]`)
		answers, err = replay(c.ctx, *c.cfg, c.hc, bearer, c.racers, "PATCH", main.terminalPath("/secure-tokens/"+url.PathEscape(id)), patch)
		if err != nil {
			return err
		}
		if !judgeReplays(answers, http.StatusOK, &c.res) {
			continue
		}
		got, err := c.read(id)
		if err != nil {
			return err
		}
		names, err := customFieldNames(got)
		if err != nil || !fieldsAccountedFor(names, []string{"created", "replayed"}, nil) {
			c.res.RanTwice++
		}
	}
	return nil
}

// lostUpdates PATCHes one secure token patches times, c.racers at a time,
// and counts the acknowledged fields missing from it, or in it twice.
func (c *crossRun) lostUpdates(patches int) error {
	st, err := c.main.createSecureToken()
	if err != nil {
		return err
	}
	acked := make([][]string, c.racers)
	c.race(func(j int, s *session) {
		for k := j; k < patches; k += c.racers {
			name := fmt.Sprintf("p-%d", k)
			if err := s.patch(st, name); err != nil {
				continue
			}
			acked[j] = append(acked[j], name)
		}
	})
	all := []string{"created"}
	for _, a := range acked {
		all = append(all, a...)
	}
	c.res.PatchesAcked = len(all) - 1
	c.res.PatchErrors = patches - c.res.PatchesAcked
	body, err := c.read(st.id)
	if err != nil {
		return err
	}
	names, err := customFieldNames(body)
	if err != nil {
		return err
	}
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	for _, a := range all {
		if count[a] == 0 {
			c.res.PatchesLost++
		}
	}
	for n, k := range count {
		if k > 1 {
			c.res.PatchesExtra += k - 1
		}
		if !contains(all, n) {
			c.res.PatchesExtra++
		}
	}
	return nil
}

// read returns the secure token id as the servers answer it.
func (c *crossRun) read(id string) ([]byte, error) {
	m := c.main
	rep, err := m.do(call{route: RouteSTGet, method: "GET", url: m.base() + m.terminalPath("/secure-tokens/"+url.PathEscape(id)),
		header: m.tokenHeader("GET", ""), want: http.StatusOK})
	return rep.body, err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// replayAnswer is one answer to a request sent with a shared key.
type replayAnswer struct {
	status   int
	body     []byte
	replayed bool
}

// replay sends the same request with one Idempotency-Key copies times at
// once to the targets in turn, then once more to each target.
func replay(ctx context.Context, cfg Config, hc *http.Client, bearer string, copies int, method, path string, body []byte) ([]replayAnswer, error) {
	key := NewIdempotencyKey()
	send := func(target string) (replayAnswer, error) {
		req, err := http.NewRequestWithContext(ctx, method, target+path, bytes.NewReader(body))
		if err != nil {
			return replayAnswer{}, err
		}
		req.Header.Set("Authorization", "Bearer "+bearer)
		req.Header.Set("Idempotency-Key", key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			return replayAnswer{}, errors.New(scrubError(err))
		}
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		return replayAnswer{resp.StatusCode, raw, resp.Header.Get("Idempotent-Replayed") == "true"}, err
	}
	answers := make([]replayAnswer, copies)
	errs := make([]error, copies)
	var wg sync.WaitGroup
	for j := range copies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[j], errs[j] = send(cfg.Targets[j%len(cfg.Targets)])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for _, t := range cfg.Targets {
		a, err := send(t)
		if err != nil {
			return nil, err
		}
		answers = append(answers, a)
	}
	return answers, nil
}

// judgeReplays counts a key whose answers differ, or whose request ran
// other than once (exactly one answer is not a replay), and reports
// whether the first answer had status want.
func judgeReplays(answers []replayAnswer, want int, res *CrossResult) bool {
	fresh := 0
	same := true
	for _, a := range answers {
		if a.status != answers[0].status || !bytes.Equal(a.body, answers[0].body) {
			same = false
		}
		if !a.replayed {
			fresh++
		}
	}
	if !same {
		res.ReplaysDifferent++
	}
	if fresh != 1 {
		res.RanTwice++
	}
	return same && answers[0].status == want
}
