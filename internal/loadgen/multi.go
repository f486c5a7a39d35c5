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
	var mu sync.Mutex
	var recs []*recorder
	sess := func(id int) *session {
		rec := &recorder{}
		mu.Lock()
		recs = append(recs, rec)
		mu.Unlock()
		s := newSession(ctx, &cfg, id, rec, hc, nil)
		s.ledger = nil
		return s
	}
	start := time.Now()
	main := sess(0)
	if err := main.authorize(); err != nil {
		return CrossResult{}, err
	}
	bearer := main.bearer
	// race runs fn in racers sessions at once, and waits for them.
	race := func(fn func(j int, s *session)) {
		var wg sync.WaitGroup
		for j := range racers {
			s := sess(j)
			s.bearer = bearer
			wg.Add(1)
			go func() {
				defer wg.Done()
				fn(j, s)
			}()
		}
		wg.Wait()
	}
	res := CrossResult{SingleUseTokens: tokens, Racers: racers, ReplayKeys: tokens, ReplayCopies: racers + len(cfg.Targets),
		Patches: patches}

	// Exactly once.
	for range tokens {
		st, err := main.createSecureToken()
		if err != nil {
			return res, err
		}
		su, err := main.singleUse()
		if err != nil {
			return res, err
		}
		statuses := make([]int, racers)
		race(func(j int, s *session) {
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
				res.OtherStatus++
			}
		}
		if wins == 1 {
			res.Redeemed++
		} else {
			res.TwiceOrNever++
		}
	}

	// Idempotent replays: a create, then a PATCH of what it created.
	for i := range tokens {
		id := fmt.Sprintf("lg-replay-%s-%d", randomHex(4), i)
		body, _ := json.Marshal(map[string]any{"secureTokenId": id, "source": cardSource(cardNumber(), "1231", false),
			"customFields": []map[string]string{{"name": "created", "value": "once"}}})
		answers, err := replay(ctx, cfg, hc, bearer, racers, "POST", main.terminalPath("/secure-tokens"), body)
		if err != nil {
			return res, err
		}
		first := judgeReplays(answers, http.StatusCreated, &res)
		if !first {
			continue
		}
		patch := []byte(`[{"op":"add","path":"/customFields/-","value":{"name":"replayed","value":"once"}}]`)
		answers, err = replay(ctx, cfg, hc, bearer, racers, "PATCH", main.terminalPath("/secure-tokens/"+url.PathEscape(id)), patch)
		if err != nil {
			return res, err
		}
		if !judgeReplays(answers, http.StatusOK, &res) {
			continue
		}
		rep, err := main.do(call{route: RouteSTGet, method: "GET", url: main.base() + main.terminalPath("/secure-tokens/"+url.PathEscape(id)),
			header: main.tokenHeader("GET", ""), want: http.StatusOK})
		if err != nil {
			return res, err
		}
		names, err := customFieldNames(rep.body)
		if err != nil || !fieldsAccountedFor(names, []string{"created", "replayed"}, nil) {
			res.RanTwice++
		}
	}

	// No lost update.
	st, err := main.createSecureToken()
	if err != nil {
		return res, err
	}
	acked := make([][]string, racers)
	race(func(j int, s *session) {
		for k := j; k < patches; k += racers {
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
	res.PatchesAcked = len(all) - 1
	res.PatchErrors = patches - res.PatchesAcked
	rep, err := main.do(call{route: RouteSTGet, method: "GET", url: main.base() + main.terminalPath("/secure-tokens/"+url.PathEscape(st.id)),
		header: main.tokenHeader("GET", ""), want: http.StatusOK})
	if err != nil {
		return res, err
	}
	names, err := customFieldNames(rep.body)
	if err != nil {
		return res, err
	}
	count := map[string]int{}
	for _, n := range names {
		count[n]++
	}
	for _, a := range all {
		if count[a] == 0 {
			res.PatchesLost++
		}
	}
	for n, c := range count {
		if c > 1 {
			res.PatchesExtra += c - 1
		}
		if !contains(all, n) {
			res.PatchesExtra++
		}
	}
	res.Latency = merge(recs, time.Since(start))
	return res, nil
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
