package proxy_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/internal/audittest"
	"github.com/cardvault/cardvault/proxy"
	"github.com/cardvault/cardvault/securetoken"
)

// TestAuditEvents: every call made with an item's or a secure token's data
// is in the trail, recorded in the call's transaction where it has one
// (forgetting the CVV it sent, keeping its idempotent outcome, queueing
// it, storing its answer) and noted where it has none; a replay adds
// nothing, a call that stores nothing leaves nothing, and no card data or
// provider key reaches the trail.
func TestAuditEvents(t *testing.T) {
	audittest.Each(t, func(t *testing.T, f audittest.Fixture) {
		e := newEnvOn(t, f.Store, func(c *proxy.Config) { c.Audit = f.Log() })
		p := newPSP(t, func(_ int, r seen, w http.ResponseWriter) {
			if r.Path == "/card" {
				io.WriteString(w, `{"card_number":"`+liveish+`","card_expiry":"12-2030","card_holder":"Grace Hopper"}`)
				return
			}
			echo(0, r, w)
		})
		actx := audit.WithActor(ctx, audit.Actor{Account: "acme", Client: "203.0.113.77"})
		secrets := []string{testPAN, liveish, `"` + testCVV + `"`, "Ada Lovelace", "Grace Hopper", "Sarah Hopper", "sk_test_", e.creds.Passphrase}
		item := func(op audit.Op, token, reference string, tries int) audit.Event {
			return audit.Event{Op: op, Outcome: audit.OutcomeOK, Account: "acme", User: "shop", Token: token, Reference: reference, Client: "203.0.113.77", Count: tries}
		}
		sent := func(tries int) audit.Event { return item(audit.OpProxySent, e.ref.Token, e.ref.Reference, tries) }
		idem := func() *idempotency.Call {
			return &idempotency.Call{Principal: "client-1", Key: "3f1c2b9a-audit", Request: []byte("fingerprint")}
		}
		var received proxy.Received
		f.Run(actx, []audittest.Step{
			{Name: "a call that sends the CVV: recorded with its forgetting", Run: func(ctx context.Context) error {
				_, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, stripeBody, nil), proxy.Options{Synchronous: true})
				require.Zero(t, e.cvv(e.ref))
				return err
			}, Want: func() []audit.Event { return []audit.Event{sent(1)} }},
			{Name: "a call that writes nothing: noted", Run: func(ctx context.Context) error {
				_, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, "n={{card_number}}", nil), proxy.Options{Synchronous: true})
				return err
			}, Want: func() []audit.Event { return []audit.Event{sent(1)} }},
			{Name: "an idempotent call: recorded with its kept outcome", Run: func(ctx context.Context) error {
				_, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, "n={{card_number}}", nil), proxy.Options{Synchronous: true, Idempotency: idem()})
				return err
			}, Want: func() []audit.Event { return []audit.Event{sent(1)} }},
			{Name: "its replay adds nothing", Run: func(ctx context.Context) error {
				c := idem()
				_, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, "n={{card_number}}", nil), proxy.Options{Synchronous: true, Idempotency: c})
				require.True(t, c.Replayed)
				return err
			}, Want: func() []audit.Event { return nil }},
			{Name: "a queued call: recorded in the transaction that queues it", Run: func(ctx context.Context) error {
				_, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, "n={{card_number}}", newReceiver(t)), proxy.Options{})
				return err
			}, Want: func() []audit.Event { return []audit.Event{sent(0)} }},
			{Name: "a call refused before it is sent leaves nothing", Run: func(ctx context.Context) error {
				_, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, stripeBody, nil), proxy.Options{Synchronous: true})
				require.ErrorIs(t, err, proxy.ErrMissingKey)
				return nil
			}, Want: func() []audit.Event { return nil }},
			{Name: "a call with a secure token's data", Run: func(ctx context.Context) error {
				req, err := securetoken.ParseCreateRequest([]byte(`{"secureTokenId":"tok-1","source":{"type":"card","cardDetails":{"entryMethod":"keyed","cardholderName":"Sarah Hopper",
					"keyedData":{"dataFormat":"plainText","cardNumber":"` + liveish + `","expiryDate":"1230"}}}}`))
				require.NoError(t, err)
				if _, err := e.tokens.Create(ctx, "1234001", req, nil); err != nil {
					return err
				}
				_, err = e.px.Send(ctx, proxy.SecureToken("1234001", "tok-1"), e.call(p.URL, "n={{card_number}}", nil), proxy.Options{Synchronous: true})
				return err
			}, Want: func() []audit.Event {
				return []audit.Event{{Op: audit.OpProxySent, Outcome: audit.OutcomeOK, Account: "acme", Terminal: "1234001", Resource: "tok-1", Client: "203.0.113.77", Count: 1}}
			}},
			{Name: "a received answer: recorded with the item it becomes", Run: func(ctx context.Context) error {
				c, err := e.px.Parse([]byte(`{"request":{"method":"GET","url":"` + p.URL + `/card"}}`))
				require.NoError(t, err)
				received, err = e.px.Receive(ctx, e.creds, "from-psp", c, proxy.Options{Synchronous: true})
				return err
			}, Want: func() []audit.Event {
				return []audit.Event{item(audit.OpProxyReceived, received.Item.Token, "from-psp", 1)}
			}},
			{Name: "an answer that is not stored leaves nothing", Run: func(ctx context.Context) error {
				c, err := e.px.Parse([]byte(`{"request":{"method":"GET","url":"` + p.URL + `/nothing"}}`))
				require.NoError(t, err)
				_, err = e.px.Receive(ctx, e.creds, "", c, proxy.Options{Synchronous: true})
				require.ErrorIs(t, err, proxy.ErrBadAnswer)
				return nil
			}, Want: func() []audit.Event { return nil }},
		}, &secrets)
	})
}
