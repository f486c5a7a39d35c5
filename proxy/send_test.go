package proxy_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/proxy"
	"github.com/cardvault/cardvault/rules"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/vault"
)

const stripeBody = "type=card&card[number]={{card_number}}&card[exp_month]={{expiry_month}}&card[exp_year]={{expiry_year}}&card[cvc]={{cvv}}"

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A synchronous call: the provider gets the rendered request, the caller
// gets its answer masked, and the CVV goes once the provider accepted it.
func TestSendSynchronous(t *testing.T) {
	e := newEnv(t)
	p := newPSP(t, echo)
	require.NotZero(t, e.cvv(e.ref).ID)

	res, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL+"/v1/payment_methods", stripeBody, nil), proxy.Options{Synchronous: true})
	require.NoError(t, err)
	got := p.requests()
	require.Len(t, got, 1)
	sent := got[0]
	require.Equal(t, "POST", sent.Method)
	require.Equal(t, "/v1/payment_methods", sent.Path)
	require.Equal(t, "type=card&card[number]="+testPAN+"&card[exp_month]=06&card[exp_year]=2030&card[cvc]="+testCVV, sent.Body)
	require.Equal(t, "Bearer sk_test_123", sent.Header.Get("Authorization"))
	require.Equal(t, "cardvault-proxy/1", sent.Header.Get("User-Agent"))
	require.NotEmpty(t, sent.Header.Get("Idempotency-Key"), "a POST gets an Idempotency-Key")

	// The answer, masked: the card number first six and last four, the
	// CVV all stars, in the body and in the headers; no Set-Cookie.
	require.Equal(t, http.StatusOK, res.Response.Status)
	require.Equal(t, 1, res.Tries)
	masked := "type=card&card[number]=424242******4242&card[exp_month]=06&card[exp_year]=2030&card[cvc]=***"
	require.Equal(t, masked, res.Response.Body)
	require.Equal(t, masked, res.Response.Headers["X-Echo"])
	require.Equal(t, "text/plain", res.Response.Headers["Content-Type"])
	require.NotContains(t, res.Response.Headers, "Set-Cookie")
	require.Nil(t, res.Populated)

	// The CVV is gone from the item; the rest stays.
	require.Zero(t, e.cvv(e.ref))
	doc, err := e.vault.Retrieve(ctx, e.creds, e.ref)
	require.NoError(t, err)
	require.JSONEq(t, `{"card_number":"`+testPAN+`","card_holder":"Ada Lovelace","card_expiry":"06-2030"}`, string(doc))

	// The next call that names it is refused before anything is sent.
	_, err = e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL+"/v1/payment_methods", stripeBody, nil), proxy.Options{Synchronous: true})
	require.ErrorIs(t, err, proxy.ErrMissingKey)
	require.ErrorContains(t, err, `"cvv"`)
	require.Len(t, p.requests(), 1)

	// The call's line in the log: method, host, status, tries, duration.
	logs := e.logs.String()
	require.Contains(t, logs, `msg="proxy call" call=proxy.send mode=sync method=POST host=`+strings.TrimPrefix(p.URL, "https://")+` status=200 tries=1 duration=`)
	require.NotContains(t, logs, "/v1/payment_methods")
}

// The CVV stays while the provider has not accepted a call that sent it,
// or when the call did not send it.
func TestCVVStaysUnlessSentAndAccepted(t *testing.T) {
	e := newEnv(t)
	declined := newPSP(t, func(_ int, _ seen, w http.ResponseWriter) { w.WriteHeader(http.StatusPaymentRequired) })
	res, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(declined.URL, stripeBody, nil), proxy.Options{Synchronous: true})
	require.NoError(t, err)
	require.Equal(t, http.StatusPaymentRequired, res.Response.Status, "passed through")
	require.NotZero(t, e.cvv(e.ref), "a refused call does not use the CVV up")

	ok := newPSP(t, echo)
	_, err = e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(ok.URL, "type=card&card[number]={{card_number}}", nil), proxy.Options{Synchronous: true})
	require.NoError(t, err)
	require.NotZero(t, e.cvv(e.ref), "a call that did not send the CVV leaves it")

	// A rule that copies the CVV under another name sends it all the same.
	rule, err := rules.Parse([]byte(`[{"input":"cvv","output":"code","operation":"noop"}]`))
	require.NoError(t, err)
	_, err = e.rules.Create(ctx, "acme", "copy-cvv", rule)
	require.NoError(t, err)
	_, err = e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(ok.URL, "n={{card_number}}&c={{code}}", nil), proxy.Options{Synchronous: true, Rules: []string{"copy-cvv"}})
	require.NoError(t, err)
	require.Contains(t, ok.requests()[1].Body, "&c="+testCVV)
	require.Zero(t, e.cvv(e.ref))
}

// 429 and 5xx answers are tried again with a backoff, up to tries; the
// last answer is the caller's. Other answers are final.
func TestSendRetries(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) { c.Backoff = 40 * time.Millisecond })
	failing := newPSP(t, func(_ int, _ seen, w http.ResponseWriter) {
		w.WriteHeader(http.StatusInternalServerError)
		io.WriteString(w, `{"error":"boom"}`)
	})
	res, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(failing.URL, stripeBody, nil), proxy.Options{Synchronous: true, Tries: 3})
	require.NoError(t, err)
	require.Equal(t, http.StatusInternalServerError, res.Response.Status)
	require.Equal(t, `{"error":"boom"}`, res.Response.Body)
	require.Equal(t, 3, res.Tries)
	got := failing.requests()
	require.Len(t, got, 3, "tried tries times")
	// Each wait is at least half the backoff, which doubles: 20 ms, then
	// 40 ms at least.
	require.GreaterOrEqual(t, got[1].At.Sub(got[0].At), 20*time.Millisecond)
	require.GreaterOrEqual(t, got[2].At.Sub(got[1].At), 40*time.Millisecond)
	key := got[0].Header.Get("Idempotency-Key")
	for _, r := range got {
		require.Equal(t, key, r.Header.Get("Idempotency-Key"), "every try of a call carries the same key")
		require.Equal(t, got[0].Body, r.Body)
	}
	require.NotZero(t, e.cvv(e.ref))

	busy := newPSP(t, func(try int, _ seen, w http.ResponseWriter) {
		if try == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	res, err = e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(busy.URL, stripeBody, nil), proxy.Options{Synchronous: true})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, res.Response.Status)
	require.Equal(t, 2, res.Tries)
	require.Zero(t, e.cvv(e.ref), "the retry inside the call still had the CVV; the acceptance used it up")

	// A 400 is final: the provider's answer, passed through.
	bad := newPSP(t, func(_ int, _ seen, w http.ResponseWriter) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"message":"Invalid integer: abc"}}`)
	})
	res, err = e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(bad.URL, "type=card&card[number]={{card_number}}", nil), proxy.Options{Synchronous: true})
	require.NoError(t, err)
	require.Equal(t, http.StatusBadRequest, res.Response.Status)
	require.Equal(t, `{"error":{"message":"Invalid integer: abc"}}`, res.Response.Body)
	require.Len(t, bad.requests(), 1)
}

// A destination that cannot be reached is tried tries times and is
// ErrUnreachable; one that never answers is ErrTimeout when the call's
// time is up.
func TestSendUnreachableAndTimeout(t *testing.T) {
	e := newEnv(t, func(c *proxy.Config) { c.Timeout = 500 * time.Millisecond })
	var accepted atomic.Int32
	addr := testkit.Listen(t, func(c net.Conn) {
		accepted.Add(1)
		c.Close() // hang up before the TLS handshake
	})
	_, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call("https://"+addr+"/charge", stripeBody, nil), proxy.Options{Synchronous: true, Tries: 3})
	require.ErrorIs(t, err, proxy.ErrUnreachable)
	require.ErrorContains(t, err, "after 3 tries")
	require.Equal(t, int32(3), accepted.Load())
	require.Nil(t, cardvault.KindOf(err), "no fault of the caller's")

	hang := make(chan struct{})
	slow := newPSP(t, func(_ int, _ seen, w http.ResponseWriter) { <-hang })
	t.Cleanup(func() { close(hang) }) // before the server's Close, which waits for the handler
	_, err = e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(slow.URL, stripeBody, nil), proxy.Options{Synchronous: true})
	require.ErrorIs(t, err, proxy.ErrTimeout)
	require.Len(t, slow.requests(), 1, "the try that ran out of time is the last")
	require.NotZero(t, e.cvv(e.ref))
	require.Contains(t, e.logs.String(), "outcome=timeout")
}

// A redirect is never followed, nor tried again.
func TestSendRedirectRefused(t *testing.T) {
	e := newEnv(t)
	target := newPSP(t, echo)
	redirect := newPSP(t, func(_ int, _ seen, w http.ResponseWriter) {
		w.Header().Set("Location", target.URL+"/stolen")
		w.WriteHeader(http.StatusTemporaryRedirect)
	})
	_, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(redirect.URL, stripeBody, nil), proxy.Options{Synchronous: true})
	require.ErrorIs(t, err, proxy.ErrRefused)
	require.ErrorIs(t, err, cardvault.ErrForbidden)
	require.ErrorContains(t, err, "redirect")
	require.Len(t, redirect.requests(), 1)
	require.Empty(t, target.requests())
}

// Asynchronous: 202 with an id at once; the job tries again after 5xx
// answers, and the final answer reaches the webhook, signed and masked.
func TestSendAsynchronous(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	p := newPSP(t, func(try int, r seen, w http.ResponseWriter) {
		if try < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header()["Date"] = nil
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, `{"id":"pm_1","card":{"number":"`+testPAN+`","last4":"4242"}}`)
	})
	res, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL+"/v1/payment_methods", stripeBody, rc), proxy.Options{Tries: 4})
	require.NoError(t, err)
	require.NotEmpty(t, res.ID)
	require.Nil(t, res.Response)

	got := rc.wait(t, 1)
	require.Equal(t, res.ID, got[0].ID, "the delivery id is the call's")
	var hook map[string]any
	require.NoError(t, json.Unmarshal(got[0].Body, &hook))
	require.Equal(t, map[string]any{
		"id": res.ID, "token": e.ref.Token, "reference": e.ref.Reference, "tries": float64(3),
		"response": map[string]any{"status": float64(200), "headers": map[string]any{"Content-Type": "application/json", "Content-Length": "65"},
			"body": `{"id":"pm_1","card":{"number":"424242******4242","last4":"4242"}}`},
	}, hook)
	require.Len(t, p.requests(), 3)
	require.Zero(t, e.cvv(e.ref), "accepted: the CVV is gone")
	waitFor(t, "the jobs to be gone", func() bool { return e.jobs() == 0 })
	require.Contains(t, e.logs.String(), "mode=async method=POST")
	time.Sleep(50 * time.Millisecond)
	require.Len(t, rc.deliveries(), 1, "delivered once")
}

// Every try failing: the webhook says why.
func TestSendAsynchronousFails(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	res, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call("https://"+addr+"/charge", stripeBody, rc), proxy.Options{Tries: 2})
	require.NoError(t, err)
	var hook map[string]any
	require.NoError(t, json.Unmarshal(rc.wait(t, 1)[0].Body, &hook))
	require.Equal(t, res.ID, hook["id"])
	require.Equal(t, float64(2), hook["tries"])
	require.Contains(t, hook["error"], "no answer after 2 tries")
	require.NotContains(t, hook, "response")
	require.NotZero(t, e.cvv(e.ref))
	waitFor(t, "the jobs to be gone", func() bool { return e.jobs() == 0 })
}

// A queued call does not send a CVV past its expiry.
func TestSendAsynchronousCVVExpires(t *testing.T) {
	e := newEnv(t)
	rc := newReceiver(t)
	now := e.clock.Now
	rc.now.Store(&now) // the webhook is signed at the proxy's time
	hold := make(chan struct{})
	p := newPSP(t, func(try int, _ seen, w http.ResponseWriter) {
		if try == 1 {
			<-hold
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	_, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, stripeBody, rc), proxy.Options{Tries: 3})
	require.NoError(t, err)
	waitFor(t, "the first try", func() bool { return len(p.requests()) == 1 })
	e.clock.Advance(2 * time.Hour) // past -cvv-ttl
	close(hold)
	defer func() {
		if t.Failed() {
			t.Log(e.logs.String())
		}
	}()
	var hook map[string]any
	require.NoError(t, json.Unmarshal(rc.wait(t, 1)[0].Body, &hook))
	require.Contains(t, hook["error"], "CVV expired")
	require.Equal(t, float64(1), hook["tries"])
	require.Len(t, p.requests(), 1, "not sent again")
}

func TestSendOptions(t *testing.T) {
	e := newEnv(t)
	p := newPSP(t, echo)
	src := proxy.VaultItem(e.creds, e.ref)
	c := e.call(p.URL, stripeBody, nil)
	for _, tc := range []struct {
		opts proxy.Options
		want string
	}{
		{proxy.Options{Tries: 17, Synchronous: true}, "tries must be 1 to 16"},
		{proxy.Options{Tries: -1, Synchronous: true}, "tries must be 1 to 16"},
		{proxy.Options{Rules: []string{"a,b"}, Synchronous: true}, "rule ids"},
		{proxy.Options{Rules: []string{"missing"}, Synchronous: true}, "no such rule"},
		{proxy.Options{}, "needs a webhook"},
	} {
		_, err := e.px.Send(ctx, src, c, tc.opts)
		require.ErrorContains(t, err, tc.want)
	}
	_, err := e.px.Send(ctx, proxy.SecureToken("1234001", "x"), c, proxy.Options{Synchronous: true, Rules: []string{"r"}})
	require.ErrorContains(t, err, "vault items only")
	_, err = e.px.Send(ctx, proxy.VaultItem(vault.Credentials{Owner: "acme", User: "shop", Passphrase: "wrong"}, e.ref), c, proxy.Options{Synchronous: true})
	require.ErrorIs(t, err, vault.ErrWrongKey)
	_, err = e.px.Send(ctx, proxy.VaultItem(e.creds, vault.ItemRef{Token: e.ref.Token, Reference: "nope"}), c, proxy.Options{Synchronous: true})
	require.ErrorIs(t, err, vault.ErrItemNotFound)
	require.Empty(t, p.requests(), "nothing was sent")
}

// Debug returns the rendered request — for test cards only.
func TestSendDebug(t *testing.T) {
	e := newEnv(t)
	p := newPSP(t, echo)
	res, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL+"/v1/payment_methods", stripeBody, nil), proxy.Options{Synchronous: true, Debug: true})
	require.NoError(t, err)
	require.NotNil(t, res.Populated)
	b, err := json.Marshal(res.Populated)
	require.NoError(t, err)
	require.Contains(t, string(b), "card[number]="+testPAN, "the populated template is the rendered request")
	require.Contains(t, string(b), `{"Idempotency-Key":"`+p.requests()[0].Header.Get("Idempotency-Key")+`"}`, "as it was sent")

	live := e.tokenize(`{"card_number":"` + liveish + `","cvv":"123","card_expiry":"01-2031"}`)
	_, err = e.px.Send(ctx, proxy.VaultItem(e.creds, live), e.call(p.URL, stripeBody, nil), proxy.Options{Synchronous: true, Debug: true})
	require.ErrorIs(t, err, proxy.ErrDebugRefused)
	require.ErrorIs(t, err, cardvault.ErrForbidden)
	require.Len(t, p.requests(), 1, "nothing sent")

	// A rule cannot smuggle a live number into a test card's request.
	_, err = e.rules.Create(ctx, "acme", "swap", mustRule(t, `[{"input":"card_number","output":"other","operation":"template","arguments":{"template":"`+liveish+`"}}]`))
	require.NoError(t, err)
	_, err = e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, "n={{other}}", nil), proxy.Options{Synchronous: true, Debug: true, Rules: []string{"swap"}})
	require.ErrorIs(t, err, proxy.ErrDebugRefused)
	require.Len(t, p.requests(), 1)
}

func mustRule(t *testing.T, s string) *rules.Rule {
	t.Helper()
	r, err := rules.Parse([]byte(s))
	require.NoError(t, err)
	return r
}

// Rules run on the outgoing copy; the stored item does not change, and
// another account's rule is not found.
func TestSendRules(t *testing.T) {
	e := newEnv(t)
	p := newPSP(t, echo)
	_, err := e.rules.Create(ctx, "acme", "spaced", mustRule(t, `[{"input":"card_number","output":"spaced","operation":"format","arguments":{"pattern":"#### #### #### ####"}},
		{"input":"card_holder","output":"holder","operation":"replace","arguments":{"substr":" ","new_str":"_"}}]`))
	require.NoError(t, err)
	_, err = e.rules.Create(ctx, "other", "theirs", mustRule(t, `[{"input":"card_number","output":"x","operation":"noop"}]`))
	require.NoError(t, err)
	res, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, "n={{spaced}}&h={{holder}}", nil), proxy.Options{Synchronous: true, Rules: []string{"spaced"}})
	require.NoError(t, err)
	require.Equal(t, "n=4242+4242+4242+4242&h=Ada_Lovelace", p.requests()[0].Body)
	require.Equal(t, "n=4242+42**+****+4242&h=Ada_Lovelace", res.Response.Body, "the item's number, masked however the answer writes it")
	doc, err := e.vault.Retrieve(ctx, e.creds, e.ref)
	require.NoError(t, err)
	require.NotContains(t, string(doc), "spaced")

	_, err = e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, "n={{x}}", nil), proxy.Options{Synchronous: true, Rules: []string{"theirs"}})
	require.ErrorIs(t, err, rules.ErrNotFound)
	require.Len(t, p.requests(), 1)
}

// A secure token fills the same templates.
func TestSendSecureToken(t *testing.T) {
	e := newEnv(t)
	p := newPSP(t, echo)
	req, err := securetoken.ParseCreateRequest([]byte(`{"secureTokenId":"tok-1","source":{"type":"card","cardDetails":{"entryMethod":"keyed","cardholderName":"Sarah Hopper",
		"keyedData":{"dataFormat":"plainText","cardNumber":"` + liveish + `","expiryDate":"1230"}}}}`))
	require.NoError(t, err)
	tok, err := e.tokens.Create(ctx, "1234001", req, nil)
	require.NoError(t, err)
	rc := newReceiver(t)
	body := "type=card&card[number]={{card_number}}&card[exp_month]={{expiry_month}}&card[exp_year]={{expiry_year}}&name={{card_holder}}"
	res, err := e.px.Send(ctx, proxy.SecureToken("1234001", "tok-1"), e.call(p.URL, body, rc), proxy.Options{Synchronous: true})
	require.NoError(t, err)
	require.Equal(t, "type=card&card[number]="+liveish+"&card[exp_month]=12&card[exp_year]=2030&name=Sarah+Hopper", p.requests()[0].Body)
	require.Equal(t, "type=card&card[number]=453985******7062&card[exp_month]=12&card[exp_year]=2030&name=Sarah+Hopper", res.Response.Body)

	async, err := e.px.Send(ctx, proxy.SecureToken("1234001", "tok-1"), e.call(p.URL, body, rc), proxy.Options{})
	require.NoError(t, err)
	var hook map[string]any
	require.NoError(t, json.Unmarshal(rc.wait(t, 1)[0].Body, &hook))
	require.Equal(t, async.ID, hook["id"])
	require.Equal(t, tok.Token, hook["token"])
	require.Equal(t, "tok-1", hook["reference"])

	_, err = e.px.Send(ctx, proxy.SecureToken("9999001", "tok-1"), e.call(p.URL, body, nil), proxy.Options{Synchronous: true})
	require.ErrorIs(t, err, securetoken.ErrNotFound)
}

// Under an Idempotency key a synchronous call is made once: the same call
// again is its first outcome, and nothing is sent.
func TestSendIdempotent(t *testing.T) {
	e := newEnv(t)
	p := newPSP(t, echo)
	call := func() *idempotency.Call {
		return &idempotency.Call{Principal: "client-1", Key: "8e03978e-40d5-43e8-bc93-6894a57f9324", Request: []byte("fingerprint")}
	}
	first, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, stripeBody, nil), proxy.Options{Synchronous: true, Idempotency: call()})
	require.NoError(t, err)
	again, err := e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, stripeBody, nil), proxy.Options{Synchronous: true, Idempotency: call()})
	require.NoError(t, err)
	require.Equal(t, first.Response, again.Response)
	require.Len(t, p.requests(), 1)
	other := call()
	other.Request = []byte("another request")
	_, err = e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), e.call(p.URL, stripeBody, nil), proxy.Options{Synchronous: true, Idempotency: other})
	require.ErrorIs(t, err, idempotency.ErrKeyInUse)

	// The request's Idempotency-Key comes from the caller's, so that a
	// retry after a lost answer is the same request to the provider.
	k := p.requests()[0].Header.Get("Idempotency-Key")
	fresh := call()
	fresh.Key = "9e03978e-40d5-43e8-bc93-6894a57f9324"
	e2 := newEnv(t)
	_, err = e2.px.Send(ctx, proxy.VaultItem(e2.creds, e2.ref), e2.call(p.URL, stripeBody, nil), proxy.Options{Synchronous: true, Idempotency: call()})
	require.NoError(t, err)
	require.Equal(t, k, p.requests()[1].Header.Get("Idempotency-Key"))
	_, err = e2.px.Send(ctx, proxy.VaultItem(e2.creds, e2.ref), e2.call(p.URL, "n={{card_number}}", nil), proxy.Options{Synchronous: true, Idempotency: fresh})
	require.NoError(t, err)
	require.NotEqual(t, k, p.requests()[2].Header.Get("Idempotency-Key"))

	// A merchant's own Idempotency-Key is kept.
	c, err := e.px.Parse([]byte(`{"request":{"method":"POST","url":"` + p.URL + `","headers":[{"Content-Type":"text/plain"},{"Idempotency-Key":"order-42"}],"body":"x"}}`))
	require.NoError(t, err)
	_, err = e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), c, proxy.Options{Synchronous: true})
	require.NoError(t, err)
	require.Equal(t, []string{"order-42"}, p.requests()[3].Header.Values("Idempotency-Key"))
}

// Receive stores the answer as a new item.
func TestReceive(t *testing.T) {
	e := newEnv(t)
	card := `{"card_number":"` + liveish + `","card_expiry":"12-2030","card_holder":"Grace Hopper"}`
	p := newPSP(t, func(_ int, r seen, w http.ResponseWriter) {
		switch r.Path {
		case "/card":
			io.WriteString(w, card)
		case "/nonumber":
			io.WriteString(w, `{"hello":"world"}`)
		case "/array":
			io.WriteString(w, `[1,2]`)
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"number":"`+liveish+`"}`)
		}
	})
	get := func(path string, hook *receiver) proxy.Call {
		c, err := e.px.Parse([]byte(`{"request":{"method":"GET","url":"` + p.URL + path + `","headers":[{"Authorization":"Bearer sk_test_1"}]}` + hookJSON(hook) + `}`))
		require.NoError(t, err)
		return c
	}
	got, err := e.px.Receive(ctx, e.creds, "from-psp", get("/card", nil), proxy.Options{Synchronous: true})
	require.NoError(t, err)
	require.Equal(t, "from-psp", got.Item.Reference)
	doc, err := e.vault.Retrieve(ctx, e.creds, got.Item)
	require.NoError(t, err)
	require.JSONEq(t, card, string(doc), "stored as the third party sent it")

	for path, want := range map[string]string{"/nonumber": "no number", "/array": "object", "/missing": "answered 404"} {
		_, err := e.px.Receive(ctx, e.creds, "", get(path, nil), proxy.Options{Synchronous: true})
		require.ErrorIs(t, err, proxy.ErrBadAnswer, path)
		require.ErrorContains(t, err, want)
		require.NotContains(t, err.Error(), liveish)
	}
	_, err = e.px.Receive(ctx, vault.Credentials{Owner: "acme", User: "shop", Passphrase: "wrong"}, "", get("/card", nil), proxy.Options{Synchronous: true})
	require.ErrorIs(t, err, vault.ErrWrongKey)
	templated, err := e.px.Parse([]byte(`{"request":{"method":"POST","url":"` + p.URL + `/card","headers":[{"Content-Type":"text/plain"}],"body":"{{card_holder}}"}}`))
	require.NoError(t, err)
	_, err = e.px.Receive(ctx, e.creds, "", templated, proxy.Options{Synchronous: true})
	require.ErrorContains(t, err, "no item to fill its templates")

	// Asynchronously, without the passphrase: the webhook tells the token.
	rc := newReceiver(t)
	queued, err := e.px.Receive(ctx, e.creds, "async-ref", get("/card", rc), proxy.Options{})
	require.NoError(t, err)
	var hook map[string]any
	require.NoError(t, json.Unmarshal(rc.wait(t, 1)[0].Body, &hook))
	require.Equal(t, map[string]any{"id": queued.ID, "token": got.Item.Token, "user": "shop", "reference": "async-ref", "tries": float64(1)}, hook)
	doc, err = e.vault.Retrieve(ctx, e.creds, vault.ItemRef{Token: got.Item.Token, Reference: "async-ref"})
	require.NoError(t, err)
	require.JSONEq(t, card, string(doc))

	_, err = e.px.Receive(ctx, e.creds, "async-404", get("/missing", rc), proxy.Options{})
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(rc.wait(t, 2)[1].Body, &hook))
	require.Contains(t, hook["error"], "answered 404")
	require.Equal(t, `{"number":"453985******7062"}`, hook["response"].(map[string]any)["body"], "masked")
}

func hookJSON(rc *receiver) string {
	if rc == nil {
		return ""
	}
	return `,"webhook":{"url":"` + rc.URL + `/hook","secret":"` + rc.secret + `"}`
}

// A destination refused at dial time (a name that resolves to a refused
// address) is the caller's 403, tried once.
func TestSendRefusedAtDial(t *testing.T) {
	e := newEnv(t)
	u, err := url.Parse(newPSP(t, echo).URL)
	require.NoError(t, err)
	c := e.call("https://localhost:"+u.Port()+"/x", stripeBody, nil)
	_, err = e.px.Send(ctx, proxy.VaultItem(e.creds, e.ref), c, proxy.Options{Synchronous: true})
	require.True(t, errors.Is(err, proxy.ErrRefused), "%v", err)
}
