package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// Ledger records what the servers acknowledged during a run — items
// stored, capture updates, grants, secure tokens, patches, single-use
// tokens — and what was sent without an answer, so that after a crash
// Verify can check that every acknowledged write is there, whole, and that
// nothing else is: a write that got no answer may or may not have
// happened, but only as a whole.
//
// A nil *Ledger records nothing.
type Ledger struct {
	mu        sync.Mutex
	items     map[string]*itemEntry // token + "\x00" + reference
	grants    []grantEntry
	tokens    map[string]*tokenEntry // terminal + "/" + secureTokenId
	singleUse map[string]*singleUseEntry
	writes    []writeAck // every acknowledged write's times
}

// record runs f, a change of the ledger, under its lock (the sessions share
// it); a nil Ledger records nothing.
func (l *Ledger) record(f func()) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f()
}

// writeAck is when an acknowledged write was sent and answered.
type writeAck struct{ sent, acked time.Time }

func (l *Ledger) writeAcked(sent, acked time.Time) {
	l.record(func() {
		l.writes = append(l.writes, writeAck{sent, acked})
	})
}

// LongestWriteGap returns the longest time between two successive write
// acknowledgements (or from `from` to the first one, or from the last one to
// `to`) within [from, to]: around a fault, the time without write service.
func (l *Ledger) LongestWriteGap(from, to time.Time) time.Duration {
	l.mu.Lock()
	var acked []time.Time
	for _, w := range l.writes {
		if !w.acked.Before(from) && !w.acked.After(to) {
			acked = append(acked, w.acked)
		}
	}
	l.mu.Unlock()
	slices.SortFunc(acked, time.Time.Compare)
	gap, prev := time.Duration(0), from
	for _, a := range append(acked, to) {
		gap = max(gap, a.Sub(prev))
		prev = a
	}
	return gap
}

// FirstWriteAfter returns how long after t the first write sent at or after
// t was acknowledged, and how many such writes there were: after a fault
// at t, the time without write service. ok is false when none was.
func (l *Ledger) FirstWriteAfter(t time.Time) (d time.Duration, n int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.writes {
		if w.sent.Before(t) {
			continue
		}
		if n++; !ok || w.acked.Sub(t) < d {
			d, ok = w.acked.Sub(t), true
		}
	}
	return d, n, ok
}

type itemEntry struct {
	it item
	// maybe are CVVs sent to the item's capture endpoint without an
	// answer: each may be the one stored.
	maybe []string
}

type grantEntry struct {
	g    grant
	item string // items key
}

type tokenEntry struct {
	terminal string
	st       secureToken
	acked    []string // custom fields whose PATCH got 200
	maybe    []string // custom fields sent without an answer
	// history is what happened to the token, in order, with clock times
	// and the server that answered: for a lost write, what Verify says
	// about it (it holds no secret — field names, times, server ordinals).
	history  []string
	troubled bool // a request about it was not acknowledged
}

// failure says briefly why a request was not acknowledged: the status, or
// that there was no answer.
func failure(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return fmt.Sprintf("status %d", se.Status)
	}
	return "no answer"
}

// Troubled returns the history of every secure token a request about which
// was not acknowledged (at most max): for a test that failed, what
// happened to them when.
func (l *Ledger) Troubled(max int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.tokens {
		if e.troubled && len(out) < max {
			out = append(out, strings.Join(e.history, "; "))
		}
	}
	return out
}

// event formats one line of a token's history.
func event(what string, sent time.Time, target int) string {
	return fmt.Sprintf("%s sent %s to server %d", what, clock(sent), target+1)
}

// clock is t as a history and the monitor's events show it, to the
// millisecond.
func clock(t time.Time) string { return t.Format("15:04:05.000") }

type singleUseEntry struct {
	terminal string
	st       secureToken
	sent     bool   // redeemed, or sent to be
	history  string // when it was made, where
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{items: map[string]*itemEntry{}, tokens: map[string]*tokenEntry{}, singleUse: map[string]*singleUseEntry{}}
}

func itemKey(it item) string { return it.token + "\x00" + it.ref }

func (l *Ledger) itemStored(it item) {
	l.record(func() {
		it.doc = maps.Clone(it.doc)
		l.items[itemKey(it)] = &itemEntry{it: it}
	})
}

func (l *Ledger) redeemSent(it item, cvv string) {
	l.record(func() {
		if e := l.items[itemKey(it)]; e != nil {
			e.maybe = append(e.maybe, cvv)
		}
	})
}

func (l *Ledger) redeemAcked(it item, cvv string) {
	l.record(func() {
		if e := l.items[itemKey(it)]; e != nil {
			// Acknowledged: this CVV is stored, and every earlier one the
			// session sent was overwritten (a session sends one at a time).
			e.it.doc["cvv"] = cvv
			e.maybe = nil
		}
	})
}

func (l *Ledger) grantCreated(g grant, it item) {
	l.record(func() {
		l.grants = append(l.grants, grantEntry{g, itemKey(it)})
	})
}

func tokenKey(terminal, id string) string { return terminal + "/" + id }

func (l *Ledger) secureTokenCreated(terminal string, st secureToken, sent time.Time, target int) {
	l.record(func() {
		l.tokens[tokenKey(terminal, st.id)] = &tokenEntry{terminal: terminal, st: st, acked: []string{"created"},
			history: []string{event("created", sent, target) + ", acknowledged " + clock(time.Now())}}
	})
}

func (l *Ledger) patchSent(terminal, id, name string) {
	l.record(func() {
		if e := l.tokens[tokenKey(terminal, id)]; e != nil {
			e.maybe = append(e.maybe, name)
		}
	})
}

// patchAnswered records the answer to the PATCH that adds name: err nil is
// an acknowledgement.
func (l *Ledger) patchAnswered(terminal, id, name string, sent time.Time, target int, err error) {
	l.record(func() {
		e := l.tokens[tokenKey(terminal, id)]
		if e == nil {
			return
		}
		what := event("patch "+name, sent, target)
		if err != nil {
			e.troubled = true
			e.history = append(e.history, fmt.Sprintf("%s, not acknowledged at %s (%s)", what, clock(time.Now()), failure(err)))
			return
		}
		e.history = append(e.history, what+", acknowledged "+clock(time.Now()))
		e.acked = append(e.acked, name)
		e.maybe = slices.DeleteFunc(e.maybe, func(s string) bool { return s == name })
	})
}

// accountUpdated records the answer to an update-account of the token.
func (l *Ledger) accountUpdated(terminal, id, su string, sent time.Time, target, status int) {
	l.record(func() {
		if e := l.tokens[tokenKey(terminal, id)]; e != nil {
			e.troubled = e.troubled || status == 0 || status/100 == 5 || status == http.StatusNotFound // 0: no answer
			from := "an unknown single-use token"
			if u := l.singleUse[su]; u != nil {
				from = u.history
			}
			e.history = append(e.history, fmt.Sprintf("%s (from %s), answered %d at %s", event("update-account", sent, target), from, status, clock(time.Now())))
		}
	})
}

func (l *Ledger) singleUseCreated(terminal string, st secureToken, su string, sent time.Time, target int) {
	l.record(func() {
		l.singleUse[su] = &singleUseEntry{terminal: terminal, st: st,
			history: event("a single-use token created", sent, target) + ", acknowledged " + clock(time.Now())}
	})
}

func (l *Ledger) singleUseSent(su string) {
	l.record(func() {
		if e := l.singleUse[su]; e != nil {
			e.sent = true
		}
	})
}

// Counts is how many acknowledged writes of each kind a ledger holds.
type Counts struct {
	Items, Grants, SecureTokens, Patches, SingleUse int
}

// Counts returns the ledger's totals (patches acknowledged; single-use
// tokens not yet sent to be redeemed).
func (l *Ledger) Counts() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := Counts{Items: len(l.items), Grants: len(l.grants), SecureTokens: len(l.tokens)}
	for _, e := range l.tokens {
		c.Patches += len(e.acked) - 1
	}
	for _, e := range l.singleUse {
		if !e.sent {
			c.SingleUse++
		}
	}
	return c
}

// AuditedWrite is an acknowledged write as an audit trail names it: the
// operation, and the id its entry carries — an item's reference, a secure
// token's secureTokenId (with its terminal).
type AuditedWrite struct {
	Op, Terminal, ID string
}

// AuditedWrites returns every acknowledged write the ledger holds that the
// audit trail must have an entry for: each item stored, each secure token
// created and each of its acknowledged patches — so that after a crash a
// test can check that no acknowledged write is missing from the trail.
func (l *Ledger) AuditedWrites() []AuditedWrite {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []AuditedWrite
	for _, e := range l.items {
		out = append(out, AuditedWrite{Op: "item.stored", ID: e.it.ref})
	}
	for _, e := range l.tokens {
		out = append(out, AuditedWrite{Op: "securetoken.created", Terminal: e.terminal, ID: e.st.id})
		for range e.acked[1:] { // acked[0] is "created"
			out = append(out, AuditedWrite{Op: "securetoken.patched", Terminal: e.terminal, ID: e.st.id})
		}
	}
	return out
}

// Verify checks, against the server at base, everything the ledger holds:
//
//   - every stored item reads back whole: exactly the document stored,
//     with the CVV of the last acknowledged capture, or of one sent after
//     it without an answer;
//   - every acknowledged grant still takes a capture (Verify posts to it,
//     after the items were checked);
//   - every secure token reads back with its token and every acknowledged
//     custom field, once, and no field that was never sent;
//   - every single-use token not yet sent still updates its secure token's
//     account — once: a second use is refused.
//
// cfg gives the credentials (Account, Key, APIKey). It returns the problems
// found; their messages name kinds and counts, never secrets.
func (l *Ledger) Verify(ctx context.Context, base string, cfg Config) ([]string, error) {
	cfg.Targets = []string{base}
	rec := &recorder{}
	s := &session{client: &client{hc: &http.Client{Transport: newTransport(4)}, rec: rec, ctx: ctx,
		stop: func() bool { return false }, budget: func() bool { return true }}, cfg: &cfg}
	if err := s.authorize(); err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var problems []string
	// In this order: the grants' captures change the items' CVVs after
	// the items are checked, and the single-use tokens are used last.
	for _, check := range []func(*session, string) string{l.verifyItems, l.verifyGrants, l.verifyTokens, l.verifySingleUse} {
		if p := check(s, base); p != "" {
			problems = append(problems, p)
		}
	}
	return problems, nil
}

// verifyItems reads back every acknowledged item, with the CVV of its last
// acknowledged update or one sent without an answer.
func (l *Ledger) verifyItems(s *session, base string) string {
	bad := 0
	for _, e := range l.items {
		rep, err := s.do(call{route: RouteRetrieve, method: "GET",
			url:    base + "/v1/vault?" + s.vaultQuery("token", e.it.token, "reference", e.it.ref),
			header: s.basic(), want: http.StatusOK})
		if err != nil {
			bad++
			continue
		}
		ok := false
		for _, c := range append([]string{e.it.doc["cvv"]}, e.maybe...) {
			want := maps.Clone(e.it.doc)
			want["cvv"] = c
			if sameDoc(rep.body, want) == nil {
				ok = true
				break
			}
		}
		if !ok {
			bad++
		}
	}
	if bad > 0 {
		return fmt.Sprintf("%d of %d acknowledged items are missing or not as acknowledged", bad, len(l.items))
	}
	return ""
}

// verifyGrants posts a capture to every acknowledged capture endpoint.
func (l *Ledger) verifyGrants(s *session, _ string) string {
	bad := 0
	for _, g := range l.grants {
		e := l.items[g.item]
		it := e.it
		it.doc = maps.Clone(it.doc)
		if err := s.redeem(g.g, &it); err != nil {
			bad++
			continue
		}
		e.it.doc["cvv"], e.maybe = it.doc["cvv"], nil
	}
	if bad > 0 {
		return fmt.Sprintf("%d of %d acknowledged capture endpoints no longer take a capture", bad, len(l.grants))
	}
	return ""
}

// verifyTokens reads back every acknowledged secure token with every
// acknowledged patch. The problem names kinds and counts, and the history
// of the first few tokens concerned.
func (l *Ledger) verifyTokens(s *session, base string) string {
	var tokenProblems, histories []string
	story := func(e *tokenEntry, names []string) {
		if len(histories) < 3 {
			histories = append(histories, fmt.Sprintf("a secure token read back with fields %q: %s", names, strings.Join(e.history, "; ")))
		}
	}
	for _, e := range l.tokens {
		s.cfg.Terminal = e.terminal
		rep, err := s.do(call{route: RouteSTGet, method: "GET", url: base + s.terminalPath("/secure-tokens/"+url.PathEscape(e.st.id)),
			header: s.tokenHeader("GET", ""), want: http.StatusOK})
		if err != nil {
			tokenProblems = append(tokenProblems, "not read back")
			continue
		}
		var got struct{ Token string }
		names, err := customFieldNames(rep.body)
		switch {
		case err != nil || json.Unmarshal(rep.body, &got) != nil:
			tokenProblems = append(tokenProblems, "not a secure token")
		case got.Token != e.st.token:
			tokenProblems = append(tokenProblems, "another token")
		default:
			if why := fieldsProblem(names, e.acked, e.maybe); why != "" {
				tokenProblems = append(tokenProblems, why)
				story(e, names)
			}
		}
	}
	if len(tokenProblems) > 0 {
		return fmt.Sprintf("%d of %d acknowledged secure tokens are missing or lost an acknowledged patch (%s)\n%s", len(tokenProblems), len(l.tokens), tally(tokenProblems),
			strings.Join(histories, "\n"))
	}
	return ""
}

// verifySingleUse uses every acknowledged single-use token not sent yet,
// twice: it must work exactly once.
func (l *Ledger) verifySingleUse(s *session, _ string) string {
	bad, n := 0, 0
	for su, e := range l.singleUse {
		if e.sent {
			continue
		}
		n++
		s.cfg.Terminal = e.terminal
		if _, err := s.updateAccount(e.st, su); err != nil {
			bad++
			continue
		}
		if _, err := s.updateAccount(e.st, su, UsedSingleUseStatus); err != nil {
			bad++
		}
		e.sent = true
	}
	if bad > 0 {
		return fmt.Sprintf("%d of %d acknowledged single-use tokens do not work exactly once", bad, n)
	}
	return ""
}

// fieldsAccountedFor reports whether names holds every acknowledged field
// once, and otherwise only fields that were sent without an answer, each
// at most once.
func fieldsAccountedFor(names, acked, maybe []string) bool {
	return fieldsProblem(names, acked, maybe) == ""
}

// fieldsProblem says what is wrong with names (see fieldsAccountedFor):
// "" when nothing is.
func fieldsProblem(names, acked, maybe []string) string {
	seen := map[string]bool{}
	for _, n := range names {
		switch {
		case seen[n]:
			return "a patch applied twice"
		case !slices.Contains(acked, n) && !slices.Contains(maybe, n):
			return "a field never sent"
		}
		seen[n] = true
	}
	for _, a := range acked {
		if !seen[a] {
			return "an acknowledged write lost"
		}
	}
	return ""
}

// tally counts equal strings: "a lost: 2, b: 1", most frequent first.
func tally(kinds []string) string {
	n := map[string]int{}
	for _, k := range kinds {
		n[k]++
	}
	keys := slices.Collect(maps.Keys(n))
	slices.SortFunc(keys, func(a, b string) int {
		if n[a] != n[b] {
			return n[b] - n[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, n[k])
	}
	return strings.Join(parts, ", ")
}

// Secrets returns the secret values the ledger holds — card numbers,
// capture secrets, secure tokens' tokens and single-use tokens — for a test
// that looks for them where they must not be (logs, metrics).
func (l *Ledger) Secrets() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.items {
		out = append(out, e.it.doc["card_number"])
	}
	for _, g := range l.grants {
		out = append(out, g.g.secret)
	}
	for _, e := range l.tokens {
		out = append(out, e.st.token)
	}
	for su := range l.singleUse {
		out = append(out, su)
	}
	return out
}
