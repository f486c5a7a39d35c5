package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
	"github.com/cardvault/cardvault/webhook"
)

// The outbox kinds of the package's jobs.
const (
	// JobSend is an asynchronous sending call: one try per delivery.
	JobSend = "proxy.send"
	// JobReceive is an asynchronous receiving call.
	JobReceive = "proxy.receive"
	// JobResult is the webhook that tells a call's outcome.
	JobResult = "proxy.result"
)

const (
	// bucketDone marks the calls whose outcome is queued (job id → ""),
	// so that a job the outbox runs again — its worker died between
	// queueing the outcome and the outbox's record of it — does not send
	// the request again.
	bucketDone = "proxy.done"
	expiryDone = "proxy.done"
	// doneTTL is how long a mark is kept: far longer than a job can wait
	// for its lease to run out.
	doneTTL = 24 * time.Hour
)

func init() {
	expiry.Handle(expiryDone, func(tx store.Tx, key []byte, _ time.Time) (bool, error) {
		return true, tx.Delete(bucketDone, key)
	})
}

// jobPayload is what a call's job keeps, sealed by the outbox (see the
// package documentation, "Asynchronous calls"): the rendered request —
// card data included — and what the outcome needs.
type jobPayload struct {
	Method  string      `json:"method"`
	URL     string      `json:"url"`
	Headers [][2]string `json:"headers"`
	Body    []byte      `json:"body"`
	Tries   int         `json:"tries"`

	HookURL    string `json:"hook_url"`
	HookSecret string `json:"hook_secret,omitempty"`
	Token      string `json:"token,omitempty"`
	Reference  string `json:"reference"`

	Numbers []string `json:"numbers,omitempty"`
	CVVs    []string `json:"cvvs,omitempty"`

	Owner      string        `json:"owner"`
	User       string        `json:"user"`
	Ref        vault.ItemRef `json:"ref"`
	CVV        string        `json:"cvv,omitempty"`
	CVVExpires time.Time     `json:"cvv_expires,omitzero"`
	Recipient  string        `json:"recipient,omitempty"`
}

func payloadOf(prep *prepared) jobPayload {
	pl := jobPayload{
		Method: prep.req.Method, URL: prep.req.URL, Body: prep.req.Body, Tries: prep.tries,
		Token: prep.token, Reference: prep.reference, Numbers: prep.mask.numbers, CVVs: prep.mask.cvvs,
		Owner: prep.owner, User: prep.user, Ref: prep.ref, CVV: prep.cvv.ID, CVVExpires: prep.cvv.Expires,
		Recipient: prep.recipient,
	}
	for _, h := range prep.req.Headers {
		pl.Headers = append(pl.Headers, [2]string{h.Name, h.Value})
	}
	if prep.hook != nil {
		pl.HookURL, pl.HookSecret = prep.hook.URL, prep.hook.Secret
	}
	return pl
}

func (pl jobPayload) prepared(kind string) *prepared {
	prep := &prepared{
		kind: kind, req: Rendered{Method: pl.Method, URL: pl.URL, Body: pl.Body}, tries: pl.Tries,
		hook: &Webhook{URL: pl.HookURL, Secret: pl.HookSecret}, mask: masker{numbers: pl.Numbers, cvvs: pl.CVVs},
		token: pl.Token, reference: pl.Reference, owner: pl.Owner, user: pl.User, ref: pl.Ref,
		cvv: vault.CVV{ID: pl.CVV, Expires: pl.CVVExpires}, recipient: pl.Recipient,
	}
	for _, h := range pl.Headers {
		prep.req.Headers = append(prep.req.Headers, Header{Name: h[0], Value: h[1]})
	}
	return prep
}

// enqueue queues a prepared call inside tx and returns its id.
func (p *Proxy) enqueue(tx store.Tx, kind string, prep *prepared) (string, error) {
	payload, err := json.Marshal(payloadOf(prep))
	if err != nil {
		return "", err
	}
	defer clear(payload)
	if len(payload) > outbox.MaxPayloadLen {
		return "", fmt.Errorf("%w: the rendered request is too large to queue (%d bytes with what its outcome needs, at most %d): make the call synchronous",
			ErrTooLarge, len(payload), outbox.MaxPayloadLen)
	}
	// One try per delivery, and one more: a process that dies during the
	// last try leaves its outcome unknown, and the extra delivery says
	// so in the webhook instead of leaving the job to the dead letters.
	return p.cfg.Outbox.Enqueue(tx, outbox.Job{Kind: kind, Payload: payload, MaxTries: prep.tries + 1, Tenant: prep.tenant})
}

// resultPayload is a JobResult: the webhook to send, complete.
type resultPayload struct {
	URL      string          `json:"url"`
	Secret   string          `json:"secret,omitempty"`
	Delivery string          `json:"delivery"`
	Body     json.RawMessage `json:"body"`
}

// outcome is the body of a call's webhook:
//
//	{"id", "token", "reference", "tries", "response": {"status", "headers", "body"}}
//	{"id", "token", "reference", "tries", "error": "<why>"}
//
// and for a receiving call {"id", "token", "user", "reference", "tries"}
// (the stored item) or {"id", "user", "reference", "tries", "error"[,
// "response"]}.
type outcome struct {
	ID        string    `json:"id"`
	Token     string    `json:"token,omitempty"`
	User      string    `json:"user,omitempty"`
	Reference string    `json:"reference"`
	Tries     int       `json:"tries"`
	Response  *Response `json:"response,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// decodeJob reads a job's payload.
func decodeJob(d outbox.Delivery, kind string) (*prepared, error) {
	var pl jobPayload
	if err := json.Unmarshal(d.Payload, &pl); err != nil || pl.Tries < 1 {
		return nil, outbox.Permanent(fmt.Errorf("proxy: job %s is corrupt", d.ID))
	}
	return pl.prepared(kind), nil
}

// done reports whether the outcome of job id is queued already.
func (p *Proxy) done(ctx context.Context, id string) (bool, error) {
	found := false
	err := p.cfg.Store.View(ctx, func(tx store.Tx) error {
		_, err := tx.Get(bucketDone, []byte(id))
		found = err == nil
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		return err
	})
	return found, err
}

// errDone: the outcome is queued already.
var errDone = errors.New("proxy: the outcome is queued already")

// finish queues, inside tx, the webhook telling job id's outcome, and marks
// the job done; errDone when it was.
func (p *Proxy) finish(tx store.Tx, d outbox.Delivery, prep *prepared, out outcome) error {
	if _, err := tx.Get(bucketDone, []byte(d.ID)); err == nil {
		return errDone
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if err := tx.Put(bucketDone, []byte(d.ID), nil); err != nil {
		return err
	}
	if err := expiry.Set(tx, expiryDone, []byte(d.ID), p.now().Add(doneTTL)); err != nil {
		return err
	}
	out.ID = d.ID
	body, err := jsonx.Marshal(out)
	if err != nil {
		return err
	}
	payload, err := json.Marshal(resultPayload{URL: prep.hook.URL, Secret: prep.hook.Secret, Delivery: d.ID, Body: body})
	if err != nil {
		return err
	}
	_, err = p.cfg.Outbox.Enqueue(tx, outbox.Job{Kind: JobResult, Tenant: d.Tenant, Payload: payload})
	return err
}

// verdict is how a job's call ended, for the webhook and the log.
type verdict struct {
	tries   int
	why     string // no answer: why (the webhook's "error")
	outcome string // the log's
}

// try is one delivery of a call's job: a try of its request, or the
// verdict when there is nothing more to try. It returns the final answer
// (nil: none) or, for another try later, an error.
func (p *Proxy) try(ctx context.Context, d outbox.Delivery, prep *prepared) (*answer, verdict, error) {
	if d.Try > prep.tries {
		// The extra delivery: the process making the last try died.
		return nil, verdict{prep.tries, fmt.Sprintf("no answer after %d tries: the last one was cut short (the server stopped), and its outcome is unknown", prep.tries), "cut short"}, nil
	}
	if prep.cvv.ID != "" && !p.now().Before(prep.cvv.Expires) {
		return nil, verdict{d.Try - 1, "the item's CVV expired before the request could be sent: it was not sent", "cvv expired"}, nil
	}
	a, terr := p.attempt(ctx, &prep.req)
	switch {
	case a != nil && (!retryable(a.status) || d.Try >= prep.tries):
		return a, verdict{tries: d.Try, outcome: "answered"}, nil
	case a != nil:
		clear(a.body)
		return nil, verdict{}, fmt.Errorf("proxy: try %d of %d: the destination answered %d", d.Try, prep.tries, a.status)
	case terr.retry && d.Try < prep.tries:
		return nil, verdict{}, fmt.Errorf("proxy: try %d of %d: %s", d.Try, prep.tries, terr.msg)
	case terr.retry:
		return nil, verdict{d.Try, fmt.Sprintf("no answer after %d tries: %s", d.Try, terr.msg), "unreachable"}, nil
	}
	return nil, verdict{d.Try, "the destination was refused: " + terr.msg, "refused"}, nil
}

// deliver is what a call's job does first: decode it, skip it when its
// outcome is queued already (prep nil), and make the try.
func (p *Proxy) deliver(ctx context.Context, d outbox.Delivery, kind string) (*prepared, *answer, verdict, error) {
	prep, err := decodeJob(d, kind)
	if err != nil {
		return nil, nil, verdict{}, err
	}
	if done, err := p.done(ctx, d.ID); err != nil || done {
		prep.wipe()
		return nil, nil, verdict{}, err
	}
	a, v, err := p.try(ctx, d, prep)
	if err != nil {
		prep.wipe()
		return nil, nil, verdict{}, err
	}
	return prep, a, v, nil
}

// afterFinish is how a call's job ends once the transaction that queues
// its outcome (finish) returned err: logged when this delivery queued it,
// done without a word when another delivery had (errDone), and err, for
// another try, when the store failed.
func (p *Proxy) afterFinish(ctx context.Context, d outbox.Delivery, prep *prepared, status, tries int, outcome string, err error) error {
	if errors.Is(err, errDone) {
		return nil
	}
	if err == nil {
		p.logCall(ctx, prep, "async", d.ID, status, tries, p.now().Sub(d.Enqueued), outcome)
	}
	return err
}

// runSend is the handler of JobSend.
func (p *Proxy) runSend(ctx context.Context, d outbox.Delivery) error {
	prep, a, v, err := p.deliver(ctx, d, JobSend)
	if prep == nil {
		return err
	}
	defer prep.wipe()
	out := outcome{Token: prep.token, Reference: prep.reference, Tries: v.tries, Error: v.why}
	status := 0
	if a != nil {
		defer clear(a.body)
		out.Response, status = prep.response(a), a.status
	}
	err = p.cfg.Store.Update(ctx, func(tx store.Tx) error {
		if err := p.finish(tx, d, prep, out); err != nil {
			return err
		}
		if a != nil && prep.forgetsCVV(a.status) {
			return prep.forgetCVV(tx, p.cfg.Vault)
		}
		return nil
	})
	return p.afterFinish(ctx, d, prep, status, v.tries, v.outcome, err)
}

// runReceive is the handler of JobReceive: the answer, a 2xx with a JSON
// object, is stored with the vault key's public recipient (no passphrase
// needed) in the transaction that queues the webhook.
func (p *Proxy) runReceive(ctx context.Context, d outbox.Delivery) error {
	prep, a, v, err := p.deliver(ctx, d, JobReceive)
	if prep == nil {
		return err
	}
	defer prep.wipe()
	out := outcome{User: prep.user, Reference: prep.reference, Tries: v.tries, Error: v.why}
	status := 0
	if a != nil {
		defer clear(a.body)
		status = a.status
		doc, refused := storable(a)
		if refused == nil {
			_, err := p.cfg.Vault.StoreForRecipient(ctx, prep.owner, prep.user, prep.recipient, doc, vault.TokenizeOptions{
				Reference: prep.reference,
				Within: func(tx store.Tx, ref vault.ItemRef, _ []byte) error {
					stored := out
					stored.Token = ref.Token
					return p.finish(tx, d, prep, stored)
				},
			})
			switch {
			case err == nil, errors.Is(err, errDone):
				return p.afterFinish(ctx, d, prep, status, v.tries, "stored", err)
			case errors.Is(err, vault.ErrWrongKey), errors.Is(err, vault.ErrKeyNotFound):
				refused = errors.New("the vault key was deleted or made again since the call was queued; nothing was stored")
			case cardvault.KindOf(err) == nil:
				return err // the store failed: the next try stores it
			default:
				refused = badAnswer(err)
			}
		}
		out.Error, out.Response, v.outcome = refused.Error(), prep.response(a), "not stored"
	}
	err = p.cfg.Store.Update(ctx, func(tx store.Tx) error { return p.finish(tx, d, prep, out) })
	return p.afterFinish(ctx, d, prep, status, v.tries, v.outcome, err)
}

// deliverResult is the handler of JobResult: the signed webhook, as
// capture webhooks are sent.
func (p *Proxy) deliverResult(ctx context.Context, d outbox.Delivery) error {
	var pl resultPayload
	if err := json.Unmarshal(d.Payload, &pl); err != nil {
		return outbox.Permanent(fmt.Errorf("proxy: result job %s is corrupt", d.ID))
	}
	return webhook.Deliver(ctx, p.cfg.WebhookGuard, pl.URL, pl.Secret, pl.Delivery, pl.Body, p.now())
}
