package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/mask"
	"github.com/cardvault/cardvault/luhn"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

// userAgent is the User-Agent of a request whose call sets none.
const userAgent = "cardvault-proxy/1"

// prepared is a call ready to send: its rendered request and what its
// answer is masked with. It holds card data.
type prepared struct {
	kind   string // JobSend or JobReceive
	tenant string // whose job it is (outbox.Job.Tenant)
	req    Rendered
	hook   *Webhook
	tries  int
	mask   masker
	// names of the source in the webhook.
	token, reference string
	// A sending call: the source, and the CVV its request carries (the
	// zero CVV: none), which goes once the provider accepts the call.
	owner, user string
	ref         vault.ItemRef
	cvv         vault.CVV
	// A receiving call: where the answer goes.
	recipient string
}

func (p *prepared) wipe() {
	clear(p.req.Body)
	p.mask.wipe()
}

// forgetsCVV reports whether an answer of status makes the call's CVV go:
// a 2xx, the provider's acceptance of the request that carried it.
func (p *prepared) forgetsCVV(status int) bool {
	return p.cvv.ID != "" && status >= 200 && status <= 299
}

func (p *prepared) forgetCVV(tx store.Tx, v *vault.Vault) error {
	return v.ForgetCVV(tx, p.owner, p.user, p.ref, p.cvv.ID)
}

// prepare reads a sending call's source, runs the rules, renders the
// request and checks Debug.
func (p *Proxy) prepare(ctx context.Context, src Source, c Call, opts Options) (*prepared, error) {
	var doc []byte
	var cvv vault.CVV
	var err error
	if src.isToken() {
		doc, err = p.cfg.Tokens.ProxyItem(ctx, src.terminal, src.tokenID)
	} else {
		doc, cvv, err = p.cfg.Vault.RetrieveWithCVV(ctx, src.creds, src.ref)
	}
	if err != nil {
		return nil, err
	}
	defer clear(doc)
	out := doc
	names := c.names()
	if len(opts.Rules) > 0 {
		rs, err := p.cfg.Rules.Load(ctx, src.creds.Owner, opts.Rules)
		if err != nil {
			return nil, err
		}
		if out, err = p.cfg.Rules.Engine().Apply(src.creds.Owner, doc, rs...); err != nil {
			return nil, err
		}
		defer clear(out)
		for _, r := range rs {
			for _, op := range r.Operations() {
				names = append(names, op.Input)
			}
		}
	}
	r, err := Render(c, out)
	if err != nil {
		return nil, err
	}
	prep := &prepared{kind: JobSend, tenant: src.tenant(), req: r, tries: opts.Tries, owner: src.creds.Owner, user: src.creds.User, ref: src.ref}
	if h, ok := c.Webhook(); ok {
		prep.hook = &h
	}
	prep.token, prep.reference = src.names(doc)
	cvvs := cvvValues(doc)
	if cvv.ID != "" && (slices.ContainsFunc(names, vault.IsCVVField) || r.holdsAny(cvvs)) {
		prep.cvv = cvv
	} else {
		clear(cvvs)
		cvvs = nil // not sent: the provider cannot echo it
	}
	prep.mask = masker{numbers: itemNumbers(doc), cvvs: cvvs}
	if opts.Debug && !testData(doc, r) {
		prep.wipe()
		return nil, ErrDebugRefused
	}
	prep.req.addDefaults(pspKey(opts.Idempotency))
	return prep, nil
}

// prepareReceive renders a receiving call, which has no item: its
// templates may hold no variable.
func (p *Proxy) prepareReceive(ctx context.Context, c vault.Credentials, reference string, call Call, opts Options) (*prepared, error) {
	if names := call.names(); len(names) > 0 {
		return nil, fmt.Errorf("%w: a receiving call has no item to fill its templates, and the request names %q", ErrRender, names[0])
	}
	// The key's public recipient, which a queued call stores the answer
	// with: checking the passphrase now, not when the answer comes.
	g, err := p.cfg.Vault.GrantFor(ctx, c, nil)
	if err != nil {
		return nil, err
	}
	r, err := Render(call, []byte(`{}`))
	if err != nil {
		return nil, err
	}
	prep := &prepared{kind: JobReceive, tenant: VaultItem(c, vault.ItemRef{}).tenant(), req: r, tries: opts.Tries, owner: c.Owner, user: c.User,
		ref: vault.ItemRef{Reference: reference}, reference: reference, recipient: g.Recipient}
	if h, ok := call.Webhook(); ok {
		prep.hook = &h
	}
	prep.req.addDefaults(pspKey(nil))
	return prep, nil
}

// addDefaults gives the request what the call did not set: a User-Agent,
// and for a POST or PATCH an Idempotency-Key, the same on every try.
func (r *Rendered) addDefaults(key string) {
	has := func(name string) bool {
		return slices.ContainsFunc(r.Headers, func(h Header) bool { return strings.EqualFold(h.Name, name) })
	}
	if (r.Method == http.MethodPost || r.Method == http.MethodPatch) && !has("Idempotency-Key") {
		r.Headers = append(r.Headers, Header{Name: "Idempotency-Key", Value: key})
	}
	if !has("User-Agent") {
		r.Headers = append(r.Headers, Header{Name: "User-Agent", Value: userAgent})
	}
}

// holdsAny reports whether the request holds one of values as a digit run
// of its own (a CVV a rule copied under another name, say).
func (r Rendered) holdsAny(values []string) bool {
	if len(values) == 0 {
		return false
	}
	found := false
	r.eachRun(1, func(run, _ string) { found = found || slices.Contains(values, run) })
	return found
}

// eachRun calls f for each digit run of at least minDigits digits of the
// request: its URL, header values and body (see mask.Runs).
func (r Rendered) eachRun(minDigits int, f func(run, digits string)) {
	scan := func(s string) {
		mask.Runs(s, minDigits, func(run, digits string) string {
			f(run, digits)
			return run
		})
	}
	scan(r.URL)
	for _, h := range r.Headers {
		scan(h.Value)
	}
	scan(string(r.Body))
}

// answer is what a destination answered, as it sent it.
type answer struct {
	status int
	header http.Header
	body   []byte
}

// tryError is why one try got no answer. retry says whether another try
// may get one.
type tryError struct {
	msg   string
	retry bool
}

func (e *tryError) Error() string { return e.msg }

// attempt sends the request once through the guard.
func (p *Proxy) attempt(ctx context.Context, r *Rendered) (*answer, *tryError) {
	req, err := http.NewRequestWithContext(ctx, r.Method, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, &tryError{msg: "the request cannot be made"}
	}
	for _, h := range r.Headers {
		req.Header.Add(h.Name, h.Value)
	}
	resp, err := p.cfg.Guard.Do(req)
	if err != nil {
		return nil, classify(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		clear(body)
		if errors.Is(err, egress.ErrTooLarge) {
			return nil, &tryError{msg: "the answer is over the size limit"}
		}
		return nil, classify(err)
	}
	return &answer{status: resp.StatusCode, header: resp.Header, body: body}, nil
}

// classify turns a transport error into a tryError that names the reason,
// never a URL's path or query (egress.Guard.Do keeps them out of its
// errors).
func classify(err error) *tryError {
	var ue *url.Error
	switch {
	case errors.Is(err, egress.ErrRefused) || errors.Is(err, egress.ErrInvalidURL):
		// A refused destination (a redirect among them) is not tried
		// again: the next try would be refused the same way.
		return &tryError{msg: strings.TrimPrefix(err.Error(), "egress: ")}
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ue) && ue.Timeout():
		return &tryError{msg: "no answer in time", retry: true}
	case errors.As(err, &ue):
		msg := ue.Err.Error()
		if len(msg) > 200 {
			msg = msg[:200]
		}
		return &tryError{msg: "could not reach " + ue.URL + ": " + msg, retry: true}
	}
	return &tryError{msg: "could not reach the destination", retry: true}
}

// retryable reports whether an answer is worth another try: 429 Too Many
// Requests and the 5xx.
func retryable(status int) bool { return status == http.StatusTooManyRequests || status >= 500 }

// sendNow makes a synchronous call: tries until an answer that is final,
// the last try, or the time limit. It returns the last answer and how
// many tries were made; with no answer at all, ErrTimeout when the time
// ran out and ErrUnreachable otherwise.
func (p *Proxy) sendNow(ctx context.Context, prep *prepared) (*answer, int, error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	var last *answer
	var lastErr *tryError
	tries := 0
	for tries < prep.tries {
		tries++
		a, terr := p.attempt(ctx, &prep.req)
		if a != nil {
			if last != nil {
				clear(last.body)
			}
			last, lastErr = a, nil
			if !retryable(a.status) {
				break
			}
		} else {
			lastErr = terr
			if !terr.retry {
				break
			}
		}
		if tries == prep.tries || !p.sleep(ctx, tries) {
			break
		}
	}
	status, outcome := 0, "answered"
	var err error
	switch {
	case last != nil:
		status = last.status
	case ctx.Err() != nil && (lastErr == nil || lastErr.retry):
		outcome, err = "timeout", fmt.Errorf("%w (%v) after %d tries", ErrTimeout, p.cfg.Timeout, tries)
	case lastErr.retry:
		outcome, err = "unreachable", fmt.Errorf("%w after %d tries: %s", ErrUnreachable, tries, lastErr.msg)
	default:
		// Refused by the guard (at dial time: a name resolving to a
		// refused address; a redirect): the caller's destination.
		outcome, err = "refused", fmt.Errorf("%w: %s", ErrRefused, lastErr.msg)
	}
	p.logCall(ctx, prep, "sync", "", status, tries, time.Since(start), outcome)
	return last, tries, err
}

// sleep waits before try+1, as long as the backoff says and the context
// allows; it reports false when the context ends first.
func (p *Proxy) sleep(ctx context.Context, try int) bool {
	d := p.cfg.Backoff
	for i := 1; i < try && d < maxSyncBackoff; i++ {
		d *= 2
	}
	d = min(d, maxSyncBackoff)
	d = d/2 + mrand.N(d/2+1)
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return false // the try after the wait could not finish in time
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// logCall is the one line a call logs: never a URL's path or query, a
// header or a body.
func (p *Proxy) logCall(ctx context.Context, prep *prepared, mode, id string, status, tries int, d time.Duration, outcome string) {
	if !p.log.Enabled(ctx, slog.LevelInfo) {
		return
	}
	// Attrs, not key-value pairs: no boxing of each value into an any, and
	// one slice on the stack.
	attrs := [9]slog.Attr{slog.String("call", prep.kind), slog.String("mode", mode), slog.String("method", prep.req.Method),
		slog.String("host", prep.req.Host()), slog.Int("status", status), slog.Int("tries", tries),
		slog.Duration("duration", d), slog.String("outcome", outcome)}
	n := 8
	if id != "" {
		attrs[n], n = slog.String("id", id), n+1
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, "proxy call", attrs[:n]...)
}

// response is an answer as the caller gets it: masked.
func (p *prepared) response(a *answer) *Response {
	r := &Response{Status: a.status, Headers: map[string]string{}, Body: p.mask.text(string(a.body))}
	for name, vs := range a.header {
		name = http.CanonicalHeaderKey(name)
		if slices.Contains(dropped, name) {
			continue
		}
		r.Headers[name] = p.mask.text(strings.Join(vs, ", "))
	}
	return r
}

// dropped are the answer headers the caller does not get: hop-by-hop ones
// (RFC 9110 section 7.6.1), which describe the vault's connection, and
// cookies the destination set for it.
var dropped = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Set-Cookie"}

// masker masks an answer: every digit run of 12 to 19 digits passing the
// Luhn check, and the item's own numbers wherever they stand, show their
// first six and last four digits (package internal/mask's rule), their
// separators kept, so that the answer keeps its length — an item's bank
// account number (or a run that holds a number within more digits) only
// its last four; the item's CVV, standing as a digit run of its own, is
// all stars. The
// numbers are those of the item's number fields; the CVV only when the
// request carried it.
type masker struct {
	numbers []string // normalized, at least minNumber long
	cvvs    []string
}

func (m masker) text(s string) string {
	if len(m.numbers) > 0 {
		// The item's own numbers first, however the answer writes them:
		// with spaces, dashes, pluses (a form encoding) or dots between
		// the digits.
		least := len(m.numbers[0])
		for _, n := range m.numbers {
			least = min(least, len(n))
		}
		s = mask.RunsWith(s, " -+.", least, func(run, digits string) string {
			switch {
			case !m.holds(digits):
				return run
			case luhn.IsCardNumber(digits):
				return mask.CardRun(run)
			}
			return mask.AccountRun(run) // a bank account, or a card inside a longer run
		})
	}
	s = mask.CardNumbers(s)
	if len(m.cvvs) == 0 {
		return s
	}
	least := len(m.cvvs[0])
	for _, c := range m.cvvs {
		least = min(least, len(c))
	}
	return mask.Runs(s, least, func(run, digits string) string {
		if run == digits && slices.Contains(m.cvvs, digits) {
			return strings.Repeat("*", len(digits))
		}
		return run
	})
}

func (m masker) holds(digits string) bool {
	for _, n := range m.numbers {
		if strings.Contains(digits, n) {
			return true
		}
	}
	return false
}

func (m masker) wipe() {
	clear(m.numbers)
	clear(m.cvvs)
}

// cvvValues are the values of an item's CVV fields that are digits.
func cvvValues(doc []byte) []string {
	var out []string
	for _, f := range vault.CVVFields {
		r := gjson.GetBytes(doc, f)
		v := r.Str
		if r.Type == gjson.Number {
			v = r.Raw
		}
		if v != "" && strings.Trim(v, "0123456789") == "" {
			out = append(out, v)
		}
	}
	return out
}

// stringMember is a top-level string member of a JSON object, or "".
func stringMember(doc []byte, name string) string {
	if r := gjson.GetBytes(doc, name); r.Type == gjson.String {
		return r.Str
	}
	return ""
}
