package reliability

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/server"
	"github.com/cardvault/cardvault/webhook"
)

// The proxy's tests of this package: hostile calls (nothing sent, nothing
// changed), a fuzz target at the HTTP level, and the real binary killed
// with SIGKILL in the middle of an asynchronous call's retries.

// pspServer is a payment provider on 127.0.0.1 over TLS that counts the
// connections made to it: a refused call must make none.
type pspServer struct {
	*httptest.Server
	conns atomic.Int32
	got   testkit.List[string] // request bodies
}

func newPSPServer(t testing.TB, answer http.HandlerFunc) *pspServer {
	p := &pspServer{}
	p.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.got.Add(string(b))
		answer(w, r)
	}))
	p.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			p.conns.Add(1)
		}
	}
	p.StartTLS()
	t.Cleanup(p.Close)
	return p
}

func (p *pspServer) bodies() []string {
	return p.got.All()
}

// proxyEgress lets the proxy reach exactly the test provider's address,
// trusting its certificate.
func proxyEgress(t testing.TB, p *pspServer) func(*server.Config) {
	u, err := url.Parse(p.URL)
	require.NoError(t, err)
	g := testkit.Guard(t, egress.Config{ExtraRoots: []*x509.Certificate{p.Certificate()}, Timeout: 5 * time.Second}, u.Host)
	return func(c *server.Config) { c.ProxyEgress, c.Egress = g, g }
}

func proxyBody(url, body string, headers ...map[string]string) string {
	if len(headers) == 0 {
		headers = []map[string]string{{"Content-Type": "application/x-www-form-urlencoded"}}
	}
	b, _ := json.Marshal(map[string]any{"request": map[string]any{"method": "POST", "url": url, "headers": headers, "body": body}})
	return string(b)
}

func TestHostileProxyInput(t *testing.T) {
	p := newPSPServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	e := newEnv(t, proxyEgress(t, p))
	alice := &aliceBasic
	post := func(more ...string) url.Values {
		return e.vaultQuery(append([]string{"token", e.itemToken, "reference", "ref", "synchronous", "true"}, more...)...)
	}
	u := p.URL
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	call := func(body string) string { return proxyBody(u+"/v1/payment_methods", body) }
	with := func(h map[string]string) string {
		return proxyBody(u+"/v1/payment_methods", "n={{card_number}}", form, h)
	}
	to := func(url string) string { return proxyBody(url, "n={{card_number}}") }

	// Bob's rule, which alice may not name.
	r := e.do(req{method: "POST", path: "/v1/rule", query: url.Values{"id": {"bobs"}}, basic: &bobBasic, body: `[{"input":"card_number","output":"x","operation":"noop"}]`})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)

	cases := []hostile{
		// Template injection.
		{name: "delimiter change", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: call("{{=<% %>=}}n=<%card_number%>")}, status: 400, message: "delimiter"},
		{name: "partial", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: call("{{> card}}")}, status: 400, message: "partial"},
		{name: "unescaped variable", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: call("n={{{card_number}}}")}, status: 400, message: "unescaped"},
		{name: "nested sections", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: call("{{#cvv}}{{#card_number}}x{{/card_number}}{{/cvv}}")}, status: 400, message: "nest"},
		{name: "lambda-looking key", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: call("n={{card_number()}}")}, status: 400, message: "a key name is"},
		{name: "missing key", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: call("n={{nope}}")}, status: 400, message: `no key "nope"`},
		{name: "template over the limit", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: call(strings.Repeat("x", 70<<10))}, status: 400, message: "at most 65536 bytes"},
		{name: "call over the limit", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: call(strings.Repeat("x", 300<<10))}, status: 413, message: "over 262144 bytes"},
		{name: "body without a content type", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: proxyBody(u, "n={{card_number}}", map[string]string{"X-A": "b"})}, status: 400, message: "Content-Type"},

		// Headers.
		{name: "header value with CR LF", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: with(map[string]string{"X-A": "a\r\nInjected: 1"})}, status: 400, message: "CR, LF"},
		{name: "header name with a space", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: with(map[string]string{"X A": "1"})}, status: 400, message: "header name"},
		{name: "Host header", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: with(map[string]string{"Host": "evil.example"})}, status: 400, message: "the transport sets this header"},
		{name: "card field in a header", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: with(map[string]string{"X-Card": "{{card_number}}"})}, status: 400, message: "card field"},

		// Destinations.
		{name: "user-info in the URL", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: to(strings.Replace(u, "https://", "https://user:pw@", 1))}, status: 400, message: "user"},
		{name: "IP literal outside the allow-list", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: to("https://10.0.0.1/charge")}, status: 403, message: "private"},
		{name: "loopback on another port", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: to("https://127.0.0.1:1/charge")}, status: 403, message: "loopback"},
		{name: "encoded # in the host", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: to("https://psp.example%23.evil.example/charge")}, status: 400, message: "host"},
		{name: "encoded ? in the host", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: to("https://127.0.0.1%3F.evil.example/charge")}, status: 400, message: "host"},
		{name: "plain http", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: to(strings.Replace(u, "https://", "http://", 1))}, status: 403, message: "https"},
		{name: "card field in the URL", req: req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: to(u + "/cards/{{card_number}}")}, status: 400, message: "card field"},
		{name: "webhook to a private address", req: req{method: "POST", path: "/v1/proxy/post", query: e.vaultQuery("token", e.itemToken, "reference", "ref"), basic: alice,
			body: `{"request":{"method":"GET","url":"` + u + `/x"},"webhook":{"url":"https://169.254.169.254/latest"}}`}, status: 403, message: "link-local"},

		// Options and rules.
		{name: "tries out of range", req: req{method: "POST", path: "/v1/proxy/post", query: post("tries", "99"), basic: alice, body: call("n={{card_number}}")}, status: 400, message: "tries"},
		{name: "unknown rule", req: req{method: "POST", path: "/v1/proxy/post", query: post("rules", "nope"), basic: alice, body: call("n={{card_number}}")}, status: 404, message: "no such rule"},
		{name: "another account's rule", req: req{method: "POST", path: "/v1/proxy/post", query: post("rules", "bobs"), basic: alice, body: call("n={{x}}")}, status: 404, message: "no such rule"},
		{name: "another account's rule on the vault", req: req{method: "GET", path: "/v1/vault", query: e.vaultQuery("token", e.itemToken, "reference", "ref", "rules", "bobs"), basic: alice}, status: 404, message: "no such rule"},
		{name: "rule with bad arguments", req: req{method: "POST", path: "/v1/rule", query: url.Values{"id": {"r1"}}, basic: alice, body: `[{"input":"a","output":"b","operation":"substr","arguments":{"start":1.5}}]`}, status: 400, message: "/0/arguments/start"},
		{name: "rule with an unknown operation", req: req{method: "POST", path: "/v1/rule", query: url.Values{"id": {"r1"}}, basic: alice, body: `[{"input":"a","output":"b","operation":"eval"}]`}, status: 400, message: "operation"},
		{name: "rule with a wildcard field", req: req{method: "POST", path: "/v1/rule", query: url.Values{"id": {"r1"}}, basic: alice, body: `[{"input":"a.*","output":"b","operation":"noop"}]`}, status: 400, message: "field"},
		{name: "delete another account's rule", req: req{method: "DELETE", path: "/v1/rule", query: url.Values{"id": {"bobs"}}, basic: alice}, status: 404, message: "no such rule"},

		// The secure-token route: problems; a refused POST keeps its answer.
		{name: "token proxy bad call", req: req{method: "POST", path: "/v1/processing-terminals/" + terminalOne + "/secure-tokens/" + e.secureTok + "/proxy", header: e.tokenHeader(e.bearerAll),
			body: proxyBody(u, "{{=<% %>=}}")}, status: 400, message: "delimiter", writes: []string{bucketIdem, bucketIdemExpiry}},
		{name: "token proxy another terminal", req: req{method: "POST", path: "/v1/processing-terminals/1234002/secure-tokens/" + e.secureTok + "/proxy", rawQuery: "synchronous=true", header: e.tokenHeader(e.bearerAll),
			body: proxyBody(u, "n={{card_number}}")}, status: 404, message: "not-found", writes: []string{bucketIdem, bucketIdemExpiry}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot()
			r := e.send(c.req)
			require.Equal(t, c.status, r.status, "status; body: %.300s", r.body)
			msg := errorMessage(t, r)
			t.Logf("%d: %.300s", r.status, msg)
			require.Contains(t, msg, c.message, "the message says what is wrong")
			for _, b := range changedBuckets(before, e.snapshot()) {
				require.Contains(t, c.writes, b, "the refused request changed bucket %s", b)
			}
		})
	}
	require.Zero(t, p.conns.Load(), "no refused call connected to the provider")

	// The same provider is reached when the call is right: the listener
	// would have seen the refused ones.
	r = e.send(req{method: "POST", path: "/v1/proxy/post", query: post(), basic: alice, body: call("n={{card_number}}")})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, []string{"n=" + cardNumber}, p.bodies())
	require.Empty(t, leaks(e.logs.String()))
}

// FuzzProxyPost: POST /v1/proxy/post, synchronous, with a fuzzed call and
// query. A call that passes goes to a provider that answers at once; a
// refused one (4xx) sends nothing and changes nothing.
func FuzzProxyPost(f *testing.F) {
	p := newPSPServer(f, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"pm_1","card":{"last4":"1111"}}`)
	})
	e := newEnv(f, proxyEgress(f, p))
	for _, s := range []struct{ query, body string }{
		{"", proxyBody(p.URL+"/v1/payment_methods", "type=card&card[number]={{card_number}}&card[exp_month]={{expiry_month}}&card[exp_year]={{expiry_year}}&card[cvc]={{cvv}}")},
		{"tries=2&debug=true", `{"request":{"method":"PUT","url":"` + p.URL + `/x?a={{card_holder}}","headers":[{"Content-Type":"application/json"}],"body":"{\"n\":\"{{card_number}}\"}"}}`},
		{"rules=a,b", proxyBody(p.URL, "{{=<% %>=}}")},
		{"tries=0", proxyBody("https://10.0.0.1/", "x")},
		{"", `{"request":{"method":"GET","url":"https://127.0.0.1%23.x/","headers":[{"A\r\nB":"c"}]}}`},
		{"", `{"request":{"method":"POST","url":"` + p.URL + `","headers":[{"Content-Type":"text/plain"}],"body":"{{#cvv}}{{.}}{{/cvv}}{{^cvv}}none{{/cvv}}"},"webhook":null}`},
		{"synchronous=false", `{"request":null}`},
	} {
		f.Add(s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		target := "/v1/proxy/post?" + e.vaultQuery("token", e.itemToken, "reference", "ref").Encode() + "&tries=1&" + query + "&synchronous=true"
		before := p.conns.Load()
		r := e.fuzz(t, fuzzCase{method: "POST", target: target, header: e.basicHeader(), body: body})
		if r.status >= 400 {
			require.Equal(t, before, p.conns.Load(), "a refused call connected to the provider")
		}
	})
}

// The real binary killed with SIGKILL in the middle of an asynchronous
// call's retries, on bbolt and on PostgreSQL: once it runs again, the
// call goes on, and the webhook gets the provider's final answer exactly
// as the provider sent it (masked: here it holds no card data), signed,
// once; the CVV the call sent is gone from the item.
func TestProxyCrashMidRetry(t *testing.T) {
	onEachBackend(t, func(t *testing.T, pg string) {
		const answer = `{"id":"pm_1","object":"payment_method","card":{"last4":"1111"}}`
		hold := make(chan struct{})
		var tries atomic.Int32
		psp := newPSPServer(t, func(w http.ResponseWriter, r *http.Request) {
			switch tries.Add(1) {
			case 1:
				w.WriteHeader(http.StatusServiceUnavailable)
			case 2:
				<-hold // the try the kill cuts short
				w.WriteHeader(http.StatusServiceUnavailable)
			default:
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Request-Id", "req_crash")
				w.Header()["Date"] = nil
				io.WriteString(w, answer)
			}
		})
		t.Cleanup(func() {
			select {
			case <-hold:
			default:
				close(hold)
			}
		})
		hookSecret := secret("webhook secret", "whsec-proxy-"+crypto.NewID(10))
		var deliveries sync.Map // delivery id → *atomic.Int32
		var bodies sync.Map
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if webhook.Verify(hookSecret, r.Header.Get(webhook.SignatureHeader), body, time.Now(), time.Minute) != nil {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			id := r.Header.Get(webhook.DeliveryHeader)
			n, _ := deliveries.LoadOrStore(id, new(atomic.Int32))
			n.(*atomic.Int32).Add(1)
			bodies.Store(id, body)
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(rc.Close)

		caFile := filepath.Join(t.TempDir(), "psp.pem")
		require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: psp.Certificate().Raw}), 0o600))
		d := newDeployment(t, pg)
		d.env = append([]string{"CARDVAULT_OUTBOX_LEASE=4s", "CARDVAULT_EGRESS_CA_FILE=" + caFile}, webhookEnv...)
		p := d.start()
		c := newClient(t, d, p.URL)
		user, pass := "proxy-"+crypto.NewID(6), secret("passphrase", "pass-"+crypto.NewID(16))
		c.call(http.StatusOK, "POST", "/v1/key", c.basic(), map[string]string{"user": user, "passphrase": pass})
		item := c.call(http.StatusOK, "POST", "/v1/vault?user="+user+"&passphrase="+pass+"&reference=crash", c.basic(),
			map[string]string{"card_number": cardNumber, "card_expiry": "06-2031", "cvv": secret("cvv", "4821")})
		tok := item["token"].(string)
		callBody := map[string]any{
			"request": map[string]any{"method": "POST", "url": psp.URL + "/v1/payment_methods",
				"headers": []map[string]string{{"Content-Type": "application/x-www-form-urlencoded"}, {"Idempotency-Key": "crash-order-1"}},
				"body":    "type=card&card[number]={{card_number}}&card[exp_month]={{expiry_month}}&card[exp_year]={{expiry_year}}&card[cvc]={{cvv}}"},
			"webhook": map[string]string{"url": rc.URL + "/hook", "secret": hookSecret},
		}
		queued := c.call(http.StatusAccepted, "POST", "/v1/proxy/post?user="+user+"&passphrase="+pass+"&token="+tok+"&reference=crash&tries=5", c.basic(), callBody)
		id := queued["id"].(string)

		waitFor(t, 30*time.Second, "the second try to be in flight", func() bool { return tries.Load() == 2 })
		p.Kill()
		close(hold)
		p = d.start()
		c.targets = []string{p.URL}
		waitFor(t, 60*time.Second, "the webhook", func() bool { _, ok := bodies.Load(id); return ok })
		time.Sleep(500 * time.Millisecond) // a second delivery would come now

		raw, _ := bodies.Load(id)
		var got struct {
			ID        string `json:"id"`
			Token     string `json:"token"`
			Reference string `json:"reference"`
			Tries     int    `json:"tries"`
			Response  struct {
				Status  int               `json:"status"`
				Headers map[string]string `json:"headers"`
				Body    string            `json:"body"`
			} `json:"response"`
		}
		require.NoError(t, json.Unmarshal(raw.([]byte), &got))
		require.Equal(t, id, got.ID)
		require.Equal(t, tok, got.Token)
		require.Equal(t, "crash", got.Reference)
		require.Equal(t, 3, got.Tries, "the try the kill cut short counts")
		require.Equal(t, http.StatusOK, got.Response.Status)
		require.Equal(t, answer, got.Response.Body, "exactly as the provider sent it")
		require.Equal(t, map[string]string{"Content-Type": "application/json", "Request-Id": "req_crash", "Content-Length": fmt.Sprint(len(answer))}, got.Response.Headers)
		n, _ := deliveries.Load(id)
		require.Equal(t, int32(1), n.(*atomic.Int32).Load(), "delivered once")
		for _, b := range psp.bodies() {
			require.Equal(t, "type=card&card[number]="+cardNumber+"&card[exp_month]=06&card[exp_year]=2031&card[cvc]=4821", b, "every try sent the same request")
		}

		// Accepted: the CVV is gone from the item.
		after := c.call(http.StatusOK, "GET", "/v1/vault?user="+user+"&passphrase="+pass+"&token="+tok+"&reference=crash", c.basic(), nil)
		require.NotContains(t, after, "cvv")
		require.Equal(t, cardNumber, after["card_number"])
	})
}
