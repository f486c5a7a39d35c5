package server

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/loadgen"
	"github.com/cardvault/cardvault/internal/testkit"
)

// psp is a payment provider on 127.0.0.1 over TLS, answering as answer
// says and recording what it got.
type psp struct {
	*httptest.Server
	bodies testkit.List[string]
}

func newPSP(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, body string)) *psp {
	p := &psp{}
	p.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		p.bodies.Add(string(b))
		answer(w, r, string(b))
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *psp) got() []string {
	return p.bodies.All()
}

// echoPSP answers 200 with the body it got.
func echoPSP(w http.ResponseWriter, _ *http.Request, body string) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, body)
}

// withPSPs lets the proxy reach the tests' providers on 127.0.0.1 (their
// certificate a root, their address allowed).
func withPSPs(t testing.TB, more ...func(*Config)) func(*Config) {
	g := testkit.Guard(t, egress.Config{ExtraRoots: []*x509.Certificate{testkit.HTTPTestCert()}, Timeout: 5 * time.Second}, "127.0.0.1")
	return func(c *Config) {
		c.ProxyEgress = g
		for _, m := range more {
			m(c)
		}
	}
}

const formBody = "type=card&card[number]={{card_number}}&card[exp_month]={{expiry_month}}&card[exp_year]={{expiry_year}}&card[cvc]={{cvv}}"

func proxyCall(t testing.TB, url, body string, hook *hookReceiver) string {
	m := map[string]any{"request": map[string]any{"method": "POST", "url": url, "body": body,
		"headers": []map[string]string{{"Content-Type": "application/x-www-form-urlencoded"}, {"Authorization": "Bearer " + secret("api key", "sk_test_proxy_9c0d")}}}}
	if hook != nil {
		m["webhook"] = map[string]string{"url": hook.URL + "/hook", "secret": hook.secret}
	}
	return mustJSON(t, m)
}

func TestProxyPost(t *testing.T) {
	e := newEnv(t, withPSPs(t))
	k := e.newKey("proxy")
	tok := e.storeCard(k, "ref-1")
	p := newPSP(t, echoPSP)

	// Synchronous: the provider's answer, masked, in the envelope.
	r := e.alice("POST", "/v1/proxy/post", k.query("token", tok, "synchronous", "true"), proxyCall(t, p.URL+"/v1/payment_methods", formBody, nil))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	m := r.json(t)
	require.Equal(t, float64(200), m["status"])
	require.Equal(t, "type=card&card[number]=411111******1111&card[exp_month]=06&card[exp_year]=2024&card[cvc]=***", m["body"])
	require.Equal(t, "text/plain", m["headers"].(map[string]any)["Content-Type"])
	require.NotContains(t, m, "populated_template")
	require.Equal(t, []string{"type=card&card[number]=" + seedNumber + "&card[exp_month]=06&card[exp_year]=2024&card[cvc]=" + seedCVV}, p.got())

	// The CVV went with the accepted call: the next one naming it is a 400.
	r = e.alice("GET", "/v1/vault", k.query("token", tok, "reference", "ref-1"), "")
	require.Equal(t, http.StatusOK, r.status)
	require.NotContains(t, r.json(t), "cvv")
	r = e.alice("POST", "/v1/proxy/post", k.query("token", tok, "synchronous", "true"), proxyCall(t, p.URL, formBody, nil))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, r.errorText(t), `the item has no key "cvv"`)

	// Debug, for a test card: the rendered request too.
	noCVV := "type=card&card[number]={{card_number}}"
	r = e.alice("POST", "/v1/proxy/post", k.query("token", tok, "reference", "ref-1", "synchronous", "true", "debug", "true"), proxyCall(t, p.URL, noCVV, nil))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	pt := r.json(t)["populated_template"].(map[string]any)
	require.Equal(t, "type=card&card[number]="+seedNumber, pt["body"])
	require.Equal(t, p.URL, pt["url"])

	// For any other card, debug is refused and nothing is sent.
	live := e.alice("POST", "/v1/vault", k.query("reference", "live"), `{"card_number":"`+secret("card number", "4539858876047062")+`"}`)
	require.Equal(t, http.StatusOK, live.status)
	sent := len(p.got())
	r = e.alice("POST", "/v1/proxy/post", k.query("token", live.json(t)["token"].(string), "synchronous", "true", "debug", "true"), proxyCall(t, p.URL, noCVV, nil))
	require.Equal(t, http.StatusForbidden, r.status)
	require.Contains(t, r.errorText(t), "test cards")
	require.Len(t, p.got(), sent)

	// Asynchronous: 202 with the call's id, then the webhook.
	hook := newHookReceiver(t, secret("webhook secret", "whsec-proxy-5d1e"))
	r = e.alice("POST", "/v1/proxy/post", k.query("token", tok, "reference", "ref-1", "tries", "2"), proxyCall(t, p.URL, noCVV, hook))
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	q := r.json(t)
	require.Equal(t, "queued", q["status"])
	id := hook.wait(t)
	require.Equal(t, q["id"], id)
	var delivered map[string]any
	require.NoError(t, json.Unmarshal(hook.bodyOf(id), &delivered))
	require.Equal(t, id, delivered["id"])
	require.Equal(t, tok, delivered["token"])
	require.Equal(t, "ref-1", delivered["reference"])
	require.Equal(t, float64(1), delivered["tries"])
	require.Equal(t, "type=card&card[number]=411111******1111", delivered["response"].(map[string]any)["body"])
}

func TestProxyPostErrors(t *testing.T) {
	e := newEnv(t, withPSPs(t, func(c *Config) { c.ProxyTimeout = 300 * time.Millisecond }))
	k := e.newKey("proxy-errors")
	tok := e.storeCard(k, "ref")
	p := newPSP(t, echoPSP)
	body := proxyCall(t, p.URL, formBody, nil)
	sync := func(more ...string) url.Values {
		return k.query(append([]string{"token", tok, "synchronous", "true"}, more...)...)
	}
	for _, c := range []struct {
		name   string
		query  url.Values
		body   string
		status int
		msg    string
	}{
		{"tries zero", sync("tries", "0"), body, 400, "tries must be a number from 1 to 16"},
		{"tries over 16", sync("tries", "17"), body, 400, "tries must be a number from 1 to 16"},
		{"tries not a number", sync("tries", "many"), body, 400, "tries"},
		{"synchronous not a bool", k.query("token", tok, "synchronous", "maybe"), body, 400, "synchronous must be true or false"},
		{"debug not a bool", sync("debug", "yes please"), body, 400, "debug must be true or false"},
		{"rules empty id", sync("rules", "a,,b"), body, 400, "comma-separated rule ids"},
		{"unknown rule", sync("rules", "nope"), body, 404, "no such rule"},
		{"no token", k.query("synchronous", "true"), body, 400, "token is required"},
		{"unknown token", sync("token", strings.Repeat("0", 64), "reference", "ref"), body, 404, "no such item"},
		{"wrong passphrase", url.Values{"user": {k.user}, "passphrase": {"wrong"}, "token": {tok}, "reference": {"ref"}, "synchronous": {"true"}}, body, 401, "wrong user or passphrase"},
		{"async without webhook", k.query("token", tok), body, 400, "needs a webhook"},
		{"not JSON", sync(), "{", 400, "invalid JSON"},
		{"card field in the URL", sync(), proxyCall(t, p.URL+"/cards/{{card_number}}", "x", nil), 400, "card field"},
		{"http URL", sync(), proxyCall(t, "http://psp.example/", "x", nil), 403, "refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.alice("POST", "/v1/proxy/post", c.query, c.body)
			require.Equal(t, c.status, r.status, "%s", r.body)
			require.Contains(t, r.errorText(t), c.msg)
		})
	}
	require.Empty(t, p.got(), "nothing was sent")

	// 502: nobody listens. 504: nobody answers in time.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	r := e.alice("POST", "/v1/proxy/post", sync("tries", "2"), proxyCall(t, "https://"+addr+"/x", formBody, nil))
	require.Equal(t, http.StatusBadGateway, r.status, "%s", r.body)
	require.Contains(t, r.errorText(t), "could not be reached after 2 tries")
	hang := make(chan struct{})
	slow := newPSP(t, func(http.ResponseWriter, *http.Request, string) { <-hang })
	t.Cleanup(func() { close(hang) })
	r = e.alice("POST", "/v1/proxy/post", sync(), proxyCall(t, slow.URL, formBody, nil))
	require.Equal(t, http.StatusGatewayTimeout, r.status, "%s", r.body)
	require.Contains(t, r.errorText(t), "no answer within the time limit")
}

func TestProxyGet(t *testing.T) {
	e := newEnv(t, withPSPs(t))
	k := e.newKey("receive")
	card := `{"card_number":"` + secret("card number", "5555555555554444") + `","card_expiry":"12-2030"}`
	p := newPSP(t, func(w http.ResponseWriter, _ *http.Request, _ string) { io.WriteString(w, card) })
	get := func(hook *hookReceiver) string {
		m := map[string]any{"request": map[string]any{"method": "GET", "url": p.URL + "/card"}}
		if hook != nil {
			m["webhook"] = map[string]string{"url": hook.URL, "secret": hook.secret}
		}
		return mustJSON(t, m)
	}
	r := e.alice("POST", "/v1/proxy/get", k.query("reference", "received", "synchronous", "true"), get(nil))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	m := r.json(t)
	require.Equal(t, "receive", m["user"])
	require.Equal(t, "received", m["reference"])
	r = e.alice("GET", "/v1/vault", k.query("token", m["token"].(string), "reference", "received"), "")
	require.Equal(t, http.StatusOK, r.status)
	require.JSONEq(t, card, string(r.body))

	hook := newHookReceiver(t, secret("webhook secret", "whsec-receive-8f2a"))
	r = e.alice("POST", "/v1/proxy/get", k.query("reference", "later"), get(hook))
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	id := hook.wait(t)
	var delivered map[string]any
	require.NoError(t, json.Unmarshal(hook.bodyOf(id), &delivered))
	require.Equal(t, map[string]any{"id": id, "token": m["token"], "user": "receive", "reference": "later", "tries": float64(1)}, delivered)

	r = e.alice("POST", "/v1/proxy/get", k.query("synchronous", "true", "rules", "x"), get(nil))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, r.errorText(t), "rules")
}

func TestRules(t *testing.T) {
	e := newEnv(t)
	k := e.newKey("rules")
	tok := e.storeCard(k, "ref")
	mask := `[{"input":"card_number","output":"card_number","operation":"mask"},{"input":"cvv","output":"cvv","operation":"mask"}]`
	r := e.alice("POST", "/v1/rule", url.Values{"id": {"masked"}}, mask)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "masked", r.json(t)["id"])

	r = e.alice("GET", "/v1/rule/", url.Values{"id": {"masked"}}, "")
	require.Equal(t, http.StatusOK, r.status)
	require.Len(t, r.json(t)["operations"], 2)
	r = e.alice("GET", "/v1/rule", nil, "")
	require.Equal(t, http.StatusOK, r.status)
	require.Len(t, r.list(t), 1)
	r = e.alice("GET", "/v1/rule/operations", nil, "")
	require.Equal(t, http.StatusOK, r.status)
	require.Contains(t, string(r.body), `"substr"`)

	// The masked view of an item; the item stays as it is.
	r = e.alice("GET", "/v1/vault", k.query("token", tok, "reference", "ref", "rules", "masked"), "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "411111******1111", r.json(t)["card_number"])
	require.Equal(t, "***", r.json(t)["cvv"])
	r = e.alice("GET", "/v1/vault", k.query("token", tok, "reference", "ref"), "")
	require.Equal(t, seedNumber, r.json(t)["card_number"])

	for _, c := range []struct {
		name, method, body string
		q                  url.Values
		status             int
		msg                string
	}{
		{"unknown operation", "POST", `[{"input":"a","output":"b","operation":"encrypt"}]`, url.Values{"id": {"x"}}, 400, "operation"},
		{"bad arguments", "POST", `[{"input":"a","output":"b","operation":"substr","arguments":{"start":"one"}}]`, url.Values{"id": {"x"}}, 400, "/0/arguments/start"},
		{"not a list", "POST", `{"input":"a"}`, url.Values{"id": {"x"}}, 400, "rule"},
		{"bad id", "POST", mask, url.Values{"id": {"a,b"}}, 400, "rule id"},
		{"id taken", "POST", mask, url.Values{"id": {"masked"}}, 409, "exists"},
		{"unknown rule", "GET", "", url.Values{"id": {"nope"}}, 404, "no such rule"},
		{"unknown rule on the vault", "GET", "", k.query("token", tok, "reference", "ref", "rules", "nope"), 404, "no such rule"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := "/v1/rule"
			if strings.Contains(c.name, "vault") {
				path = "/v1/vault"
			}
			r := e.alice(c.method, path, c.q, c.body)
			require.Equal(t, c.status, r.status, "%s", r.body)
			require.Contains(t, r.errorText(t), c.msg)
		})
	}

	// Another account's rule is not found, for reading and for deleting.
	r = e.do(req{method: "GET", path: "/v1/rule", query: url.Values{"id": {"masked"}}, basic: &bobBasic})
	require.Equal(t, http.StatusNotFound, r.status)
	r = e.do(req{method: "DELETE", path: "/v1/rule", query: url.Values{"id": {"masked"}}, basic: &bobBasic})
	require.Equal(t, http.StatusNotFound, r.status)
	r = e.alice("DELETE", "/v1/rule", url.Values{"id": {"masked"}}, "")
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, map[string]any{"id": "masked"}, r.json(t))
}

func TestSecureTokenProxy(t *testing.T) {
	e := newEnv(t, withPSPs(t))
	c := e.caller(keyAll)
	res := c.create("1234001", fixture(t, "create-card.json"))
	id := res["secureTokenId"].(string)
	p := newPSP(t, echoPSP)
	path := terminalURL("1234001", "secure-tokens", id, "proxy")
	body := proxyCall(t, p.URL, "n={{card_number}}&exp={{expiry_month}}/{{expiry_year}}", nil)

	key := loadgen.NewIdempotencyKey()
	r := c.do("POST", path+"?synchronous=true", body, "Idempotency-Key", key)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	m := r.json(t)
	require.Equal(t, float64(200), m["status"])
	require.Contains(t, m["body"], "n=453985******7062&exp=")
	require.Len(t, p.got(), 1)

	// The same request with the same key: the same bytes, nothing sent.
	again := c.do("POST", path+"?synchronous=true", body, "Idempotency-Key", key)
	require.Equal(t, r.status, again.status)
	require.Equal(t, r.body, again.body)
	require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
	require.Len(t, p.got(), 1)

	// Asynchronous, queued once.
	hook := newHookReceiver(t, secret("webhook secret", "whsec-token-proxy-3c"))
	async := proxyCall(t, p.URL, "n={{card_number}}", hook)
	key = loadgen.NewIdempotencyKey()
	r = c.do("POST", path, async, "Idempotency-Key", key)
	require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
	again = c.do("POST", path, async, "Idempotency-Key", key)
	require.Equal(t, r.body, again.body)
	got := hook.wait(t)
	require.Equal(t, r.json(t)["id"], got)
	var delivered map[string]any
	require.NoError(t, json.Unmarshal(hook.bodyOf(got), &delivered))
	require.Equal(t, res["token"], delivered["token"])
	require.Equal(t, id, delivered["reference"])

	// Problems: a bad body, rules, another terminal's token, no key.
	for _, tc := range []struct {
		path, body string
		status     int
		msg        string
	}{
		{path + "?synchronous=true", `{"request":{}}`, 400, "/request/method"},
		{path + "?synchronous=true&rules=a", body, 400, "rules"},
		{terminalURL("1234002", "secure-tokens", id, "proxy") + "?synchronous=true", body, 404, "not-found"},
	} {
		r := c.do("POST", tc.path, tc.body)
		require.Equal(t, tc.status, r.status, "%s", r.body)
		require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
		require.Contains(t, string(r.body), tc.msg)
	}
	r = c.do("POST", path, body, "Idempotency-Key", "")
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, string(r.body), "idempotency-key-missing")
}
