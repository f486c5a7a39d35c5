package server

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/webhook"
)

// hookReceiver is a merchant's webhook endpoint on 127.0.0.1: it verifies
// every call and records it by delivery id.
type hookReceiver struct {
	*httptest.Server
	secret string
	status atomic.Int32 // what it answers; 0: 204
	mu     sync.Mutex
	calls  map[string]int // delivery id → calls
	bodies map[string][]byte
	got    chan string
}

func newHookReceiver(t *testing.T, secret string) *hookReceiver {
	h := &hookReceiver{secret: secret, calls: map[string]int{}, bodies: map[string][]byte{}, got: make(chan string, 64)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get(webhook.SecretHeader) != h.secret {
			t.Error("a webhook without its secret")
		}
		// The server's clock is the test's; the signature is over its time.
		if err := webhook.Verify(h.secret, r.Header.Get(webhook.SignatureHeader), body, time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC), time.Hour); err != nil {
			t.Errorf("a webhook that does not verify: %v", err)
		}
		id := r.Header.Get(webhook.DeliveryHeader)
		h.mu.Lock()
		h.calls[id]++
		h.bodies[id] = body
		h.mu.Unlock()
		status := int(h.status.Load())
		if status == 0 {
			status = http.StatusNoContent
		}
		w.WriteHeader(status)
		h.got <- id
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookReceiver) wait(t *testing.T) string {
	t.Helper()
	select {
	case id := <-h.got:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("no webhook arrived")
		return ""
	}
}

func (h *hookReceiver) bodyOf(id string) []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bodies[id]
}

func (h *hookReceiver) callsOf(id string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[id]
}

// webhookGrant creates an endpoint for k's card tok with a webhook to url.
func (e *env) webhookGrant(t *testing.T, k vaultKey, tok, url, secret string) (id, grantSecret string) {
	t.Helper()
	r := e.alice("POST", "/v1/capture", k.query("token", tok, "reference", "ref"),
		mustJSON(t, map[string]any{"webhook": map[string]string{"url": url, "secret": secret}}))
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	g := r.json(t)
	return g["id"].(string), secret2(g["secret"].(string))
}

func secret2(s string) string { return secret("capture secret", s) }

func (e *env) capturePost(t *testing.T, id, grantSecret, body string) reply {
	t.Helper()
	return e.do(req{method: "POST", path: "/v1/capture/" + id, body: body,
		header: map[string]string{"X-PCIVault-Capture-Secret": grantSecret}})
}

func TestWebhooks(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Outbox.MaxTries = 2 })
	k := e.newKey("hooks")
	tok := e.storeCard(k, "ref")
	hookSecret := secret("webhook secret", "whsec-0a1b2c3d4e5f")

	t.Run("signed, with a delivery id", func(t *testing.T) {
		h := newHookReceiver(t, hookSecret)
		id, gs := e.webhookGrant(t, k, tok, h.URL+"/hook?merchant=1", hookSecret)
		require.Equal(t, http.StatusOK, e.capturePost(t, id, gs, `{"cvv":"321"}`).status)
		d := h.wait(t)
		require.Regexp(t, `^[0-9a-f]{32}$`, d)
		var body map[string]any
		require.NoError(t, json.Unmarshal(h.bodyOf(d), &body))
		require.Equal(t, id, body["metadata"].(map[string]any)["capture_id"])
		require.NotContains(t, string(h.bodyOf(d)), "321", "no CVV in a webhook")
		require.NotContains(t, string(h.bodyOf(d)), seedNumber)
	})

	t.Run("a URL the guard refuses is refused when the endpoint is created", func(t *testing.T) {
		for _, u := range []string{"https://169.254.169.254/latest/meta-data", "https://10.0.0.1/hook", "http://[::1]:9/hook",
			"https://[::ffff:169.254.169.254]/x", "ftp://hooks.example/x"} {
			r := e.alice("POST", "/v1/capture", k.query("token", tok, "reference", "ref"),
				mustJSON(t, map[string]any{"webhook": map[string]string{"url": u, "secret": hookSecret}}))
			require.Equal(t, http.StatusBadRequest, r.status, u)
			require.Contains(t, r.errorText(t), "webhook url", u)
		}
	})

	t.Run("given up on, listed, retried, delivered once", func(t *testing.T) {
		h := newHookReceiver(t, hookSecret)
		h.status.Store(http.StatusInternalServerError)
		id, gs := e.webhookGrant(t, k, tok, h.URL+"/hook", hookSecret)
		require.Equal(t, http.StatusOK, e.capturePost(t, id, gs, `{"cvv":"654"}`).status)
		d := h.wait(t)
		require.Equal(t, d, h.wait(t), "the second try has the same delivery id")
		var list struct {
			DeadLetters []outbox.DeadLetter `json:"dead_letters"`
		}
		require.Eventually(t, func() bool {
			r := e.alice("GET", "/v1/outbox/dead-letters", nil, "")
			require.Equal(t, http.StatusOK, r.status)
			require.NoError(t, json.Unmarshal(r.body, &list))
			return len(list.DeadLetters) == 1
		}, 10*time.Second, 20*time.Millisecond)
		require.Equal(t, d, list.DeadLetters[0].ID)
		require.Equal(t, 2, list.DeadLetters[0].Tries)
		require.Contains(t, list.DeadLetters[0].Error, "500")
		require.Contains(t, e.metricsText(t), "cardvault_outbox_dead_letters 1")

		// Another account sees none and cannot retry it.
		r := e.do(req{method: "GET", path: "/v1/outbox/dead-letters", basic: &bobBasic})
		require.JSONEq(t, `{"dead_letters":[]}`, string(r.body))
		r = e.do(req{method: "POST", path: "/v1/outbox/dead-letters/" + d + "/retry", basic: &bobBasic})
		require.Equal(t, http.StatusNotFound, r.status)

		h.status.Store(0)
		r = e.alice("POST", "/v1/outbox/dead-letters/"+d+"/retry", nil, "")
		require.Equal(t, http.StatusAccepted, r.status, "%s", r.body)
		require.Equal(t, d, h.wait(t))
		require.Eventually(t, func() bool {
			r := e.alice("GET", "/v1/outbox/dead-letters", nil, "")
			return strings.Contains(string(r.body), `"dead_letters":[]`)
		}, 10*time.Second, 20*time.Millisecond)
		require.Equal(t, 3, h.callsOf(d), "two failed tries, then one delivery")
		require.Contains(t, e.metricsText(t), "cardvault_outbox_dead_letters 0")
	})

	t.Run("one account's dead endpoint does not delay another's", func(t *testing.T) {
		// Bob's endpoint accepts and never answers.
		hang := make(chan struct{})
		var hanging atomic.Int32
		stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hanging.Add(1)
			<-hang
		}))
		defer stuck.Close()
		defer close(hang)
		bk := vaultKey{user: "bob-hooks", passphrase: secret("passphrase", "pass-bob-hooks-0123456789")}
		r := e.do(req{method: "POST", path: "/v1/key", basic: &bobBasic, body: mustJSON(t, map[string]string{"user": bk.user, "passphrase": bk.passphrase})})
		require.Equal(t, http.StatusOK, r.status)
		for i := range 8 {
			r := e.do(req{method: "POST", path: "/v1/capture", basic: &bobBasic, query: bk.query(),
				body: mustJSON(t, map[string]any{"webhook": map[string]string{"url": stuck.URL + "/hook", "secret": hookSecret}})})
			require.Equal(t, http.StatusOK, r.status, "%s", r.body)
			g := r.json(t)
			card := `{"card_number":"4242424242424242","reference":"b` + string(rune('0'+i)) + `"}`
			require.Equal(t, http.StatusOK, e.capturePost(t, g["id"].(string), secret2(g["secret"].(string)), card).status)
		}
		require.Eventually(t, func() bool { return hanging.Load() == outbox.DefaultPerTenant }, 10*time.Second, 5*time.Millisecond)

		h := newHookReceiver(t, hookSecret)
		id, gs := e.webhookGrant(t, k, tok, h.URL+"/hook", hookSecret)
		start := time.Now()
		require.Equal(t, http.StatusOK, e.capturePost(t, id, gs, `{"cvv":"987"}`).status)
		h.wait(t)
		t.Logf("alice's webhook arrived %v after her capture, behind 8 of bob's that hang", time.Since(start).Round(time.Millisecond))
		require.Equal(t, int32(outbox.DefaultPerTenant), hanging.Load(), "bob's endpoint holds only his share of the workers")
	})
}

// metricsText scrapes /metrics.
func (e *env) metricsText(t *testing.T) string {
	t.Helper()
	r := e.do(req{method: "GET", path: "/metrics"})
	require.Equal(t, http.StatusOK, r.status)
	return string(r.body)
}
