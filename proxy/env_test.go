package proxy_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/proxy"
	"github.com/cardvault/cardvault/rules"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/vault"
	"github.com/cardvault/cardvault/webhook"
)

var ctx = context.Background()

// The card of the tests' item. Every test scans the logs for both.
const (
	testPAN = "4242424242424242"
	testCVV = "737"
	// liveish is a Luhn-valid number that is no provider's test card.
	liveish = "4539858876047062"
)

// env is a Proxy over a memstore with everything configured: a vault key
// with one card, the outbox running, rules, secure tokens, idempotency,
// and the real egress guard letting 127.0.0.1 through with the test
// servers' certificate as a root.
type env struct {
	t      *testing.T
	st     *store.Store
	clock  *testkit.Clock
	vault  *vault.Vault
	tokens *securetoken.Service
	rules  *rules.Service
	ob     *outbox.Outbox
	px     *proxy.Proxy
	logs   *testkit.Buffer
	guard  *egress.Guard
	creds  vault.Credentials
	ref    vault.ItemRef // the card, with a CVV
}

type envOpt func(*proxy.Config)

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	st := memstore.New()
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, st, opts...)
}

// newEnvOn is newEnv on the store st, which the caller closes.
func newEnvOn(t *testing.T, st *store.Store, opts ...envOpt) *env {
	t.Helper()
	kr := testkit.Keyring(t)
	e := &env{t: t, st: st, clock: testkit.NewClock(time.Now().UTC()), logs: &testkit.Buffer{}}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var err error
	e.vault, err = vault.Open(ctx, vault.Config{Store: e.st, Keyring: kr, WorkFactor: 10, Now: e.clock.Now})
	require.NoError(t, err)
	t.Cleanup(func() { e.vault.Close() })
	e.tokens, err = securetoken.Open(ctx, securetoken.Config{Store: e.st, Keyring: kr})
	require.NoError(t, err)
	t.Cleanup(func() { e.tokens.Close() })
	e.rules, err = rules.New(rules.Config{Store: e.st, Hasher: crypto.NewHasherFromKey(crypto.NewDataKey())})
	require.NoError(t, err)
	e.ob, err = outbox.Open(ctx, outbox.Config{Store: e.st, Keyring: kr, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Lease: 5 * time.Second, Poll: 10 * time.Millisecond, Logger: log})
	require.NoError(t, err)

	e.guard = testkit.Guard(t, egress.Config{ExtraRoots: []*x509.Certificate{testkit.HTTPTestCert()}, Timeout: 5 * time.Second}, "127.0.0.1")
	cfg := proxy.Config{
		Store: e.st, Vault: e.vault, Tokens: e.tokens, Rules: e.rules, Outbox: e.ob,
		Idempotency: idempotency.New(e.st, idempotency.Config{}), Guard: e.guard,
		Backoff: 10 * time.Millisecond, Logger: log, Now: e.clock.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	e.px, err = proxy.New(cfg)
	require.NoError(t, err)
	testkit.Background(t, e.ob.Run)

	e.creds, err = e.vault.CreateKey(ctx, vault.Credentials{Owner: "acme", User: "shop"})
	require.NoError(t, err)
	e.ref = e.tokenize(`{"card_number":"` + testPAN + `","card_holder":"Ada Lovelace","card_expiry":"06-2030","cvv":"` + testCVV + `"}`)
	t.Cleanup(func() {
		// Whatever the test did, no card number, CVV or secret reached
		// the log.
		logs := e.logs.String()
		for _, s := range []string{testPAN, liveish, "cvv=" + testCVV, `"` + testCVV + `"`, "sk_test_", "whsec_", e.creds.Passphrase} {
			if strings.Contains(logs, s) {
				t.Errorf("the log holds a secret (%d bytes)", len(s))
			}
		}
	})
	return e
}

func (e *env) tokenize(doc string) vault.ItemRef {
	e.t.Helper()
	ref, err := e.vault.Tokenize(ctx, e.creds, []byte(doc), vault.TokenizeOptions{})
	require.NoError(e.t, err)
	return ref
}

// cvv is the CVV the item holds now (the zero CVV: none).
func (e *env) cvv(ref vault.ItemRef) vault.CVV {
	e.t.Helper()
	_, c, err := e.vault.RetrieveWithCVV(ctx, e.creds, ref)
	require.NoError(e.t, err)
	return c
}

// call parses a call to url, with a form-encoded body.
func (e *env) call(url, body string, hook *receiver) proxy.Call {
	e.t.Helper()
	c, err := e.px.Parse(callJSON(e.t, url, body, hook))
	require.NoError(e.t, err)
	return c
}

func callJSON(t testing.TB, url, body string, hook *receiver) []byte {
	req := map[string]any{"method": "POST", "url": url, "body": body,
		"headers": []map[string]string{{"Content-Type": "application/x-www-form-urlencoded"}, {"Authorization": "Bearer sk_test_123"}}}
	m := map[string]any{"request": req}
	if hook != nil {
		m["webhook"] = map[string]string{"url": hook.URL + "/hook", "secret": hook.secret}
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// seen is a request a test server received.
type seen struct {
	Method, Path string
	Header       http.Header
	Body         string
	At           time.Time
}

// psp is a payment provider on 127.0.0.1 over TLS: it records every
// request and answers as answer says (the try's number, from 1).
type psp struct {
	*httptest.Server
	got    testkit.List[seen]
	answer func(try int, r seen, w http.ResponseWriter)
}

func newPSP(t *testing.T, answer func(try int, r seen, w http.ResponseWriter)) *psp {
	p := &psp{answer: answer}
	p.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s := seen{Method: r.Method, Path: r.URL.RequestURI(), Header: r.Header.Clone(), Body: string(b), At: time.Now()}
		p.answer(p.got.Add(s), s, w)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *psp) requests() []seen {
	return p.got.All()
}

// echo answers 200 with the request's body and a header holding it.
func echo(_ int, r seen, w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Echo", r.Body)
	w.Header().Add("Set-Cookie", "session=1")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, r.Body)
}

// receiver is a merchant's webhook endpoint: it checks the signature and
// keeps each delivery.
type receiver struct {
	*httptest.Server
	secret string
	now    atomic.Pointer[func() time.Time] // the signature's clock: time.Now unless set
	got    testkit.List[delivery]
}

type delivery struct {
	ID   string
	Body []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{secret: "whsec_" + crypto.NewID(8)}
	rc.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		now := time.Now()
		if f := rc.now.Load(); f != nil {
			now = (*f)()
		}
		if r.Header.Get(webhook.SecretHeader) != rc.secret || webhook.Verify(rc.secret, r.Header.Get(webhook.SignatureHeader), b, now, time.Minute) != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		rc.got.Add(delivery{ID: r.Header.Get(webhook.DeliveryHeader), Body: b})
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	return rc.got.All()
}

// wait waits for n deliveries, at most 20 s.
func (rc *receiver) wait(t *testing.T, n int) []delivery {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(rc.deliveries()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d webhooks arrived, want %d", len(rc.deliveries()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return rc.deliveries()
}

// jobs counts the outbox's jobs left in the store.
func (e *env) jobs() int {
	n := 0
	require.NoError(e.t, e.st.View(ctx, func(tx store.Tx) error {
		n = 0
		return tx.Scan("outbox.jobs", store.Range{}, func(_, _ []byte) error { n++; return nil })
	}))
	return n
}
