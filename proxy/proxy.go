package proxy

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/rules"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

// Defaults and limits of sending.
const (
	// DefaultTries is how many requests a call makes at most unless
	// Options.Tries says otherwise; MaxTries is the most it may say.
	DefaultTries = 8
	MaxTries     = 16
	// DefaultTimeout bounds a synchronous call, every try and wait
	// included (Config.Timeout; the server's -proxy-timeout).
	DefaultTimeout = 20 * time.Second
	// DefaultBackoff is the wait before a synchronous call's second try;
	// it doubles with each try (at most maxSyncBackoff), each wait drawn
	// between half and all of it. Asynchronous calls wait as the outbox's
	// jobs do (outbox.Config.Backoff).
	DefaultBackoff = 250 * time.Millisecond
	maxSyncBackoff = 5 * time.Second
)

// Errors of sending. ErrUnreachable and ErrTimeout are of no kind of the
// root package: they are no fault of the caller, and a call that ended
// with one may be made again.
var (
	// ErrUnreachable: no try reached the destination (the server's 502).
	ErrUnreachable = errors.New("proxy: the destination could not be reached")
	// ErrTimeout: a synchronous call had no answer within its time limit
	// (the server's 504).
	ErrTimeout = errors.New("proxy: no answer within the time limit")
	// ErrBadAnswer: a receiving call's answer cannot be stored: not a 2xx,
	// not a JSON object, no number to tokenize, too large (the server's
	// 502). Nothing was stored.
	ErrBadAnswer = errors.New("proxy: the answer cannot be stored")
	// ErrDebugRefused: Options.Debug for an item that is not a test card
	// (see the package documentation); nothing was sent.
	ErrDebugRefused = fmt.Errorf("proxy: debug returns the rendered request, card number included, and is allowed only for the payment providers' published test cards: %w", cardvault.ErrForbidden)
	// ErrOptions: Options out of range, or asking for what the Proxy is
	// not configured to do (asynchronous calls without an outbox, rules
	// without a rules service, a webhook missing).
	ErrOptions = fmt.Errorf("proxy: %w", cardvault.ErrInvalid)
)

// Config configures a Proxy. Store, Guard and Vault are required.
type Config struct {
	// Store is where asynchronous calls are queued: the Outbox's and the
	// Vault's store.
	Store *store.Store
	// Vault holds the items calls send from and receive into.
	Vault *vault.Vault
	// Tokens holds secure tokens; nil: no call sends from one.
	Tokens *securetoken.Service
	// Rules keeps the accounts' rules; nil: Options.Rules is refused.
	Rules *rules.Service
	// Outbox queues asynchronous calls; nil: only synchronous ones. New
	// registers the package's handlers on it (JobSend, JobReceive,
	// JobResult).
	Outbox *outbox.Outbox
	// Idempotency keeps the outcome of calls made with
	// Options.Idempotency; nil: such calls are refused.
	Idempotency *idempotency.Keeper
	// Guard is the door every request to a payment service provider goes
	// through: HTTPS only — a Guard with AllowHTTP is refused.
	Guard *egress.Guard
	// WebhookGuard delivers the webhooks of asynchronous calls (nil:
	// Guard): the server's, which may allow http:// webhooks.
	WebhookGuard *egress.Guard
	// AllowHosts, when not empty, are the only hosts calls may go to
	// (see Policy).
	AllowHosts []string
	// Timeout bounds a synchronous call (DefaultTimeout).
	Timeout time.Duration
	// Backoff is a synchronous call's first wait between tries
	// (DefaultBackoff).
	Backoff time.Duration
	// Audit receives the calls made: proxy.sent for a call made with an
	// item's or a secure token's data, proxy.received for one whose answer
	// becomes an item. It is recorded in the transaction the call has —
	// the one that queues it, keeps its idempotent outcome, forgets a CVV
	// it used or stores its answer — and noted when it has none (a
	// synchronous call that writes nothing). Nil means no audit.
	Audit audit.Recorder
	// Logger gets a line per call (method, host, status, tries,
	// duration) and never card data; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Proxy sends calls. It is safe for concurrent use.
type Proxy struct {
	cfg    Config
	policy Policy
	log    *slog.Logger
	now    func() time.Time

	mu       sync.Mutex
	inFlight map[string]chan struct{} // idempotent synchronous calls running here
}

// New returns a Proxy, and registers its job handlers on cfg.Outbox.
func New(cfg Config) (*Proxy, error) {
	switch {
	case cfg.Store == nil || cfg.Vault == nil || cfg.Guard == nil:
		return nil, errors.New("proxy: Config.Store, Config.Vault and Config.Guard are required")
	case cfg.Guard.CheckURL("http://psp.example/") == nil:
		return nil, errors.New("proxy: Config.Guard allows http://: requests to payment providers go over HTTPS only")
	case cfg.Timeout < 0 || cfg.Backoff < 0:
		return nil, errors.New("proxy: Config.Timeout and Config.Backoff may not be negative")
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.WebhookGuard == nil {
		cfg.WebhookGuard = cfg.Guard
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	p := &Proxy{
		cfg: cfg, log: cfg.Logger, now: cfg.Now, inFlight: map[string]chan struct{}{},
		policy: Policy{Guard: cfg.Guard, AllowHosts: cfg.AllowHosts, WebhookGuard: cfg.WebhookGuard},
	}
	if cfg.Outbox != nil {
		cfg.Outbox.Handle(JobSend, p.runSend)
		cfg.Outbox.Handle(JobReceive, p.runReceive)
		cfg.Outbox.Handle(JobResult, p.deliverResult)
	}
	return p, nil
}

// Policy returns the policy calls are checked against: Parse's.
func (p *Proxy) Policy() Policy { return p.policy }

// Parse checks a call's JSON body as ParseRequest does, under the Proxy's
// policy.
func (p *Proxy) Parse(body []byte) (Call, error) { return ParseRequest(body, p.policy) }

// ParseCall reads what a proxy route's request carries: its Options from
// the query (ParseOptions, checked first) and its call from the JSON body
// (Parse).
func (p *Proxy) ParseCall(body []byte, q url.Values, withRules bool) (Call, Options, error) {
	opts, err := ParseOptions(q, withRules)
	if err != nil {
		return Call{}, Options{}, err
	}
	call, err := p.Parse(body)
	if err != nil {
		return Call{}, Options{}, err
	}
	return call, opts, nil
}

// Source is what a sending call fills its templates with: a vault item
// or a secure token.
type Source struct {
	creds    vault.Credentials
	ref      vault.ItemRef
	terminal string
	tokenID  string
}

// VaultItem is the item under ref in the vault key c opens.
func VaultItem(c vault.Credentials, ref vault.ItemRef) Source { return Source{creds: c, ref: ref} }

// SecureToken is the secure token id of a processing terminal.
func SecureToken(terminal, id string) Source { return Source{terminal: terminal, tokenID: id} }

func (s Source) isToken() bool { return s.tokenID != "" || s.terminal != "" }

// tenant is whose jobs the source's calls are, for the outbox's fairness
// and dead letters: the vault key's account, as capture webhooks are.
func (s Source) tenant() string {
	if s.isToken() {
		return "terminal:" + s.terminal
	}
	if s.creds.Owner == "" {
		return "vault"
	}
	return s.creds.Owner
}

// token and reference name the source in an asynchronous call's webhook:
// a vault item's token and reference, a secure token's token and
// secureTokenId.
func (s Source) names(item []byte) (token, reference string) {
	if s.isToken() {
		return stringMember(item, "token"), s.tokenID
	}
	return s.ref.Token, s.ref.Reference
}

// Options tune a call.
type Options struct {
	// Tries bounds the requests a call makes: 1 to MaxTries; 0 means
	// DefaultTries. A try that fails to reach the destination, or that
	// gets a 429 or a 5xx answer, is followed by another after a wait,
	// until Tries are made (or a synchronous call's time is up).
	Tries int
	// Rules are ids of the source account's rules (at most
	// rules.MaxRulesPerApply), run in order on the outgoing copy of the
	// item before the templates are filled. Vault items only.
	Rules []string
	// Synchronous waits for the answer; otherwise the call is queued and
	// its answer goes to the call's webhook, which it must have.
	Synchronous bool
	// Debug returns the rendered request (Result.Populated): for test
	// cards only (ErrDebugRefused otherwise).
	Debug bool
	// Idempotency, when not nil, makes the call once under its key: the
	// same call again gets the first outcome (Config.Idempotency keeps
	// it), and the request carries an Idempotency-Key derived from it.
	Idempotency *idempotency.Call
}

// ParseOptions reads Options from a query: tries (1 to MaxTries),
// synchronous and debug (true or false) and — withRules, for a vault item's
// call — rules (rules.ParseIDs). Its error is a *cardvault.InvalidError
// naming every bad parameter.
func ParseOptions(q url.Values, withRules bool) (Options, error) {
	bad := &cardvault.InvalidError{}
	var o Options
	if v := q.Get("tries"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > MaxTries {
			bad.Add("tries", "invalid value", fmt.Sprintf("tries must be a number from 1 to %d", MaxTries))
		}
		o.Tries = n
	}
	for _, b := range []struct {
		name string
		to   *bool
	}{{"synchronous", &o.Synchronous}, {"debug", &o.Debug}} {
		if v := q.Get(b.name); v != "" {
			x, err := strconv.ParseBool(v)
			if err != nil {
				bad.Add(b.name, "invalid value", b.name+" must be true or false")
			}
			*b.to = x
		}
	}
	if v, ok := q["rules"]; ok {
		ids, err := rules.ParseIDs(v[0])
		var inv *cardvault.InvalidError
		switch {
		case !withRules:
			bad.Add("rules", "not allowed", "rules belong to the vault/capture API's accounts; this call takes none")
		case errors.As(err, &inv):
			bad.Fields = append(bad.Fields, inv.Fields...)
		}
		o.Rules = ids
	}
	return o, bad.Err()
}

// Result is the outcome of Send.
type Result struct {
	// ID names an asynchronous call: its outbox job, and the "id" of its
	// webhook. Empty for a synchronous call.
	ID string
	// Response is a synchronous call's answer, masked (see the package
	// documentation).
	Response *Response
	// Tries is how many requests a synchronous call made.
	Tries int
	// Populated is the rendered request, with Options.Debug.
	Populated *Rendered
}

// Received is the outcome of Receive.
type Received struct {
	// ID names an asynchronous call, as Result.ID.
	ID string
	// Item is where a synchronous call stored the answer.
	Item vault.ItemRef
	// Tries is how many requests a synchronous call made.
	Tries int
	// Populated is the rendered request, with Options.Debug.
	Populated *Rendered
}

// Response is a payment service provider's answer: its status, its headers
// (each name once, canonical, with its values joined by ", "; hop-by-hop
// headers and Set-Cookie left out) and its body, masked. Its JSON is
// {"status", "headers", "body"}, the body a string.
type Response struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
}

// String shows the status only.
func (r Response) String() string { return fmt.Sprintf("proxy.Response{%d}", r.Status) }

func (o *Options) check(p *Proxy, src *Source) error {
	switch {
	case o.Tries == 0:
		o.Tries = DefaultTries
	case o.Tries < 1 || o.Tries > MaxTries:
		return fmt.Errorf("%w: tries must be 1 to %d", ErrOptions, MaxTries)
	}
	switch {
	case len(o.Rules) > 0 && p.cfg.Rules == nil:
		return fmt.Errorf("%w: rules are not configured here", ErrOptions)
	case len(o.Rules) > 0 && src != nil && src.isToken():
		return fmt.Errorf("%w: rules belong to the vault/capture API's accounts and run on vault items only", ErrOptions)
	case len(o.Rules) > rules.MaxRulesPerApply:
		return fmt.Errorf("%w: at most %d rules run on a call", ErrOptions, rules.MaxRulesPerApply)
	case !o.Synchronous && p.cfg.Outbox == nil:
		return fmt.Errorf("%w: asynchronous calls are not configured here: make the call synchronous", ErrOptions)
	case o.Idempotency != nil && p.cfg.Idempotency == nil:
		return fmt.Errorf("%w: idempotent calls are not configured here", ErrOptions)
	case src != nil && src.isToken() && p.cfg.Tokens == nil:
		return fmt.Errorf("%w: secure tokens are not configured here", ErrOptions)
	}
	for _, id := range o.Rules {
		if !rules.ValidID(id) {
			return fmt.Errorf("%w: rules must be comma-separated rule ids", ErrOptions)
		}
	}
	return nil
}

// needsWebhook refuses an asynchronous call without a webhook.
func needsWebhook(c Call, o Options) error {
	if _, ok := c.Webhook(); !ok && !o.Synchronous {
		return fmt.Errorf("%w: /webhook: an asynchronous call needs a webhook for its answer (or make it synchronous)", ErrOptions)
	}
	return nil
}

// pspKey is the Idempotency-Key a request gets when its call sets none:
// derived from the caller's key for an idempotent call, so that the
// caller's retry is one request to the provider too; random otherwise,
// and the same on every try of the call.
func pspKey(c *idempotency.Call) string {
	if c == nil {
		return crypto.NewID(16)
	}
	sum := sha256.Sum256([]byte("cardvault proxy idempotency\x00" + c.Principal + "\x00" + c.Key))
	return hex.EncodeToString(sum[:16])
}

// errNotKept ends the lookup of an idempotent synchronous call that has
// no outcome yet.
var errNotKept = errors.New("proxy: no outcome kept yet")

// Send makes a call with the data of src: it reads the item (or secure
// token), runs the rules on a copy, fills the templates, and then sends
// the request and returns the answer (Options.Synchronous) or queues it
// and returns the call's id. See the package documentation for retries,
// masking, the CVV and debug.
func (p *Proxy) Send(ctx context.Context, src Source, c Call, opts Options) (Result, error) {
	var res Result
	if err := opts.check(p, &src); err != nil {
		return res, p.refuse(ctx, opts, &res, err)
	}
	if err := needsWebhook(c, opts); err != nil {
		return res, p.refuse(ctx, opts, &res, err)
	}
	if opts.Synchronous && opts.Idempotency != nil {
		return p.sendOnce(ctx, src, c, opts)
	}
	prep, err := p.prepare(ctx, src, c, opts)
	if err != nil {
		return res, p.refuse(ctx, opts, &res, err)
	}
	defer prep.wipe()
	if opts.Debug {
		res.Populated = prep.req.clone()
	}
	if opts.Synchronous {
		a, tries, err := p.sendNow(ctx, prep)
		if err != nil {
			return res, err
		}
		defer clear(a.body)
		res.Response, res.Tries = prep.response(a), tries
		sent := sourceEvent(audit.OpProxySent, src)
		sent.Count = tries
		if !prep.forgetsCVV(a.status) {
			audit.NoteTo(ctx, p.cfg.Audit, sent)
			return res, nil
		}
		return res, p.cfg.Store.Update(ctx, func(tx store.Tx) error { return p.sentTx(ctx, tx, prep, a, sent) })
	}
	work := func(tx store.Tx) error {
		id, err := p.enqueue(tx, JobSend, prep)
		res.ID = id
		if err != nil {
			return err
		}
		return audit.RecordIn(ctx, p.cfg.Audit, tx, sourceEvent(audit.OpProxySent, src))
	}
	if opts.Idempotency != nil {
		return res, p.cfg.Idempotency.Run(ctx, opts.Idempotency, &res, work)
	}
	return res, p.cfg.Store.Update(ctx, work)
}

// refuse returns err, kept under the call's Idempotency key when it has
// one (package idempotency keeps the client's faults, and replays an
// outcome kept already).
func (p *Proxy) refuse(ctx context.Context, opts Options, res *Result, err error) error {
	if opts.Idempotency == nil || p.cfg.Idempotency == nil {
		return err
	}
	return p.cfg.Idempotency.Refuse(ctx, opts.Idempotency, res, err)
}

// sendOnce is a synchronous call under an Idempotency key: an outcome kept
// for it is the answer; otherwise the call is made — once at a time in
// this process — and its outcome kept. A failure to reach the provider is
// not kept, so that the caller may try again; the request then carries
// the same Idempotency-Key, and a provider that honours it answers the
// retry without doing the work twice.
func (p *Proxy) sendOnce(ctx context.Context, src Source, c Call, opts Options) (Result, error) {
	var res Result
	call := opts.Idempotency
	slot := hex.EncodeToString([]byte(call.Principal + "\x00" + call.Key))
	for {
		err := p.cfg.Idempotency.Run(ctx, call, &res, func(store.Tx) error { return errNotKept })
		if !errors.Is(err, errNotKept) {
			return res, err // kept (a replay), or the key in use for another request
		}
		p.mu.Lock()
		wait, busy := p.inFlight[slot]
		if !busy {
			p.inFlight[slot] = make(chan struct{})
		}
		p.mu.Unlock()
		if !busy {
			break
		}
		select {
		case <-wait: // look again: its outcome may be kept now
		case <-ctx.Done():
			return res, ctx.Err()
		}
	}
	defer func() {
		p.mu.Lock()
		close(p.inFlight[slot])
		delete(p.inFlight, slot)
		p.mu.Unlock()
	}()
	prep, err := p.prepare(ctx, src, c, opts)
	if err != nil {
		return res, p.refuse(ctx, opts, &res, err)
	}
	defer prep.wipe()
	a, tries, err := p.sendNow(ctx, prep)
	if err != nil {
		// A destination refused is the caller's fault, kept; no answer
		// (ErrUnreachable, ErrTimeout) is not.
		return res, p.refuse(ctx, opts, &res, err)
	}
	defer clear(a.body)
	res.Response, res.Tries = prep.response(a), tries
	if opts.Debug {
		res.Populated = prep.req.clone()
	}
	sent := sourceEvent(audit.OpProxySent, src)
	sent.Count = tries
	return res, p.cfg.Idempotency.Run(ctx, call, &res, func(tx store.Tx) error { return p.sentTx(ctx, tx, prep, a, sent) })
}

// sentTx is the write a synchronous call that got answer a makes: it
// forgets the CVV the call used if the answer says so, and records the
// call, sent, in the same transaction.
func (p *Proxy) sentTx(ctx context.Context, tx store.Tx, prep *prepared, a *answer, sent audit.Event) error {
	if prep.forgetsCVV(a.status) {
		if err := prep.forgetCVV(tx, p.cfg.Vault); err != nil {
			return err
		}
	}
	return audit.RecordIn(ctx, p.cfg.Audit, tx, sent)
}

// sourceEvent is an event about a call made with src's data, naming it by
// ids only: a vault item by its key's user, token and reference, a secure
// token by its terminal and secureTokenId.
func sourceEvent(op audit.Op, src Source) audit.Event {
	if src.isToken() {
		return audit.Event{Op: op, Outcome: audit.OutcomeOK, Terminal: src.terminal, Resource: src.tokenID}
	}
	return audit.Event{Op: op, Outcome: audit.OutcomeOK, Account: src.creds.Owner, User: src.creds.User, Token: src.ref.Token, Reference: src.ref.Reference}
}

// Receive makes a call whose answer, a JSON object, becomes a new item of
// the vault key c opens, under reference (generated when empty), its token
// made from its number fields as Tokenize makes it. The call's templates
// have no item to fill them: they may hold no variable. Synchronously it
// returns the item's address; otherwise it queues the call, whose webhook
// gets {"id", "token", "user", "reference", "tries"} — or an "error" — and
// returns its id. Options.Rules and Options.Idempotency are refused.
func (p *Proxy) Receive(ctx context.Context, c vault.Credentials, reference string, call Call, opts Options) (Received, error) {
	var out Received
	if err := opts.check(p, nil); err != nil {
		return out, err
	}
	switch {
	case len(opts.Rules) > 0:
		return out, fmt.Errorf("%w: rules run on an item that is sent; a receiving call sends none", ErrOptions)
	case opts.Idempotency != nil:
		return out, fmt.Errorf("%w: a receiving call takes no idempotency key", ErrOptions)
	}
	if err := needsWebhook(call, opts); err != nil {
		return out, err
	}
	if reference == "" {
		reference = crypto.NewID(16)
	}
	prep, err := p.prepareReceive(ctx, c, reference, call, opts)
	if err != nil {
		return out, err
	}
	defer prep.wipe()
	if opts.Debug {
		out.Populated = prep.req.clone()
	}
	received := sourceEvent(audit.OpProxyReceived, VaultItem(c, vault.ItemRef{Reference: reference}))
	if !opts.Synchronous {
		err := p.cfg.Store.Update(ctx, func(tx store.Tx) error {
			id, err := p.enqueue(tx, JobReceive, prep)
			out.ID = id
			if err != nil {
				return err
			}
			return audit.RecordIn(ctx, p.cfg.Audit, tx, received)
		})
		return out, err
	}
	a, tries, err := p.sendNow(ctx, prep)
	if err != nil {
		return out, err
	}
	defer clear(a.body)
	out.Tries = tries
	doc, err := storable(a)
	if err != nil {
		return out, err
	}
	received.Count = tries
	ref, err := p.cfg.Vault.Tokenize(ctx, c, doc, vault.TokenizeOptions{Reference: reference, Within: func(tx store.Tx, ref vault.ItemRef, _ []byte) error {
		received.Token = ref.Token
		return audit.RecordIn(ctx, p.cfg.Audit, tx, received)
	}})
	if err != nil {
		return out, badAnswer(err)
	}
	out.Item = ref
	return out, nil
}

// badAnswer is an answer the vault refused to store.
func badAnswer(err error) error {
	switch {
	case errors.Is(err, vault.ErrWrongKey), errors.Is(err, vault.ErrKeyNotFound):
		return err
	case errors.Is(err, cardvault.ErrInvalid), errors.Is(err, cardvault.ErrTooLarge):
		// The vault's message names the field or limit, never a value.
		return fmt.Errorf("%w: %s", ErrBadAnswer, strings.TrimPrefix(err.Error(), "vault: "))
	}
	return err
}

// storable returns a receiving call's answer as the item to store, or why
// it cannot be one. The answer is the third party's data as sent, not
// masked: it is what the vault is there to keep (Tokenize checks it is a
// JSON object with a number).
func storable(a *answer) ([]byte, error) {
	if a.status < 200 || a.status > 299 {
		return nil, fmt.Errorf("%w: the destination answered %d %s; nothing was stored", ErrBadAnswer, a.status, http.StatusText(a.status))
	}
	return a.body, nil
}
