package proxy_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/stripemock"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/proxy"
)

// stripeEnv is an env whose calls go to stripe-mock through a guard that
// lets exactly its address through and trusts exactly its certificate.
func stripeEnv(t *testing.T) (*env, *stripemock.Server) {
	sm := stripemock.Start(t)
	g := testkit.Guard(t, egress.Config{ExtraRoots: sm.Roots}, sm.Allow)
	e := newEnv(t, func(c *proxy.Config) {
		c.WebhookGuard = c.Guard // the test's webhook receivers
		c.Guard = g
	})
	return e, sm
}

// Create a payment method at stripe-mock with the saved card: the
// form-encoded body names the card number, the derived expiry keys and
// the CVV; stripe-mock validates the request against Stripe's OpenAPI and
// accepts it, and its answer reaches the caller masked.
func TestStripeMockPaymentMethod(t *testing.T) {
	e, sm := stripeEnv(t)
	call := `{"request":{"method":"POST","url":"` + sm.URL + `/v1/payment_methods",
		"headers":[{"Content-Type":"application/x-www-form-urlencoded"},{"Authorization":"Bearer sk_test_123"},{"Idempotency-Key":"order-42-pm"}],
		"body":"type=card&card[number]={{card_number}}&card[exp_month]={{expiry_month}}&card[exp_year]={{expiry_year}}&card[cvc]={{cvv}}"}}`
	c, err := e.px.Parse([]byte(call))
	require.NoError(t, err)
	res, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), c, proxy.Options{Synchronous: true})
	require.NoError(t, err)
	require.Equal(t, 200, res.Response.Status, "%s", res.Response.Body)
	require.Equal(t, "order-42-pm", res.Response.Headers["Idempotency-Key"], "stripe-mock honours the key and echoes it")
	var pm struct {
		Object string `json:"object"`
		Type   string `json:"type"`
		Card   struct {
			Last4    string `json:"last4"`
			ExpMonth int    `json:"exp_month"`
			ExpYear  int    `json:"exp_year"`
			Checks   struct {
				CVCCheck string `json:"cvc_check"`
			} `json:"checks"`
		} `json:"card"`
	}
	require.NoError(t, json.Unmarshal([]byte(res.Response.Body), &pm))
	require.Equal(t, "payment_method", pm.Object)
	require.Equal(t, "card", pm.Type)
	require.Equal(t, 6, pm.Card.ExpMonth, "reflected from the request: {{expiry_month}} from card_expiry")
	require.Equal(t, 2030, pm.Card.ExpYear)
	require.Equal(t, "pass", pm.Card.Checks.CVCCheck)
	require.NotContains(t, res.Response.Body, testPAN)
	require.Zero(t, e.cvv(e.ref), "accepted: the CVV is gone")
}

// A malformed body is stripe-mock's 400, passed through.
func TestStripeMockBadRequest(t *testing.T) {
	e, sm := stripeEnv(t)
	c, err := e.px.Parse(callJSON(t, sm.URL+"/v1/payment_methods",
		"type=card&card[number]={{card_number}}&card[exp_month]=june&card[exp_year]={{expiry_year}}&card[cvc]={{cvv}}", nil))
	require.NoError(t, err)
	res, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), c, proxy.Options{Synchronous: true})
	require.NoError(t, err)
	require.Equal(t, 400, res.Response.Status)
	require.Equal(t, 1, res.Tries, "a 400 is final")
	require.Contains(t, res.Response.Body, "invalid_request_error")
	require.NotZero(t, e.cvv(e.ref), "refused: the CVV stays")
}

// Asynchronously: the webhook gets stripe-mock's answer, signed.
func TestStripeMockAsynchronous(t *testing.T) {
	e, sm := stripeEnv(t)
	rc := newReceiver(t)
	c, err := e.px.Parse(callJSON(t, sm.URL+"/v1/payment_methods", stripeBody, rc))
	require.NoError(t, err)
	res, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), c, proxy.Options{})
	require.NoError(t, err)
	var hook struct {
		ID       string         `json:"id"`
		Tries    int            `json:"tries"`
		Response proxy.Response `json:"response"`
	}
	require.NoError(t, json.Unmarshal(rc.wait(t, 1)[0].Body, &hook))
	require.Equal(t, res.ID, hook.ID)
	require.Equal(t, 1, hook.Tries)
	require.Equal(t, 200, hook.Response.Status)
	require.True(t, strings.Contains(hook.Response.Body, `"object":"payment_method"`), "%s", hook.Response.Body)
	require.Zero(t, e.cvv(e.ref))
}

// The guard reaches stripe-mock only with both: its allow entry, and its
// certificate as a root.
func TestStripeMockNeedsRootAndAllowEntry(t *testing.T) {
	sm := stripemock.Start(t)
	allow, err := egress.ParseAllowList(sm.Allow)
	require.NoError(t, err)
	for name, cfg := range map[string]egress.Config{
		"no allow entry": {ExtraRoots: sm.Roots},
		"no root":        {Allow: allow},
	} {
		t.Run(name, func(t *testing.T) {
			g, err := egress.New(cfg)
			require.NoError(t, err)
			e := newEnv(t, func(c *proxy.Config) { c.Guard = g })
			c, err := proxy.ParseRequest(callJSON(t, sm.URL+"/v1/payment_methods", stripeBody, nil), proxy.Policy{Guard: g})
			if err == nil {
				_, err = e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), c, proxy.Options{Synchronous: true, Tries: 1})
			}
			require.Error(t, err)
			t.Log(err)
		})
	}
}
