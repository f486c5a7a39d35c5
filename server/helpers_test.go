package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/memstore"
)

var ctx = context.Background()

// testWorkFactor keeps scrypt cheap in tests.
const testWorkFactor = 10

// Credentials every test server knows. They are registered as secrets.
var (
	aliceBasic = access.Account{Name: "alice", Password: secret("password", "alice-password-4f1c9e")}
	bobBasic   = access.Account{Name: "bob", Password: secret("password", "bob-password-77a0d2")}
	keyAll     = access.APIKey{Key: secret("api key", "ak_all_9c1e5a0b7d3f4e2a8b6c"), Terminals: []string{"*"}}
	keyTwo     = access.APIKey{Key: secret("api key", "ak_two_1b2c3d4e5f60718293a4"), Terminals: []string{"1234001", "1234002"}}
)

// env is a test server over one store.
type env struct {
	t     testing.TB
	srv   *Server
	st    *store.Store
	kr    *crypto.Keyring
	clock *testkit.Clock
}

var serverCount atomic.Int64

// newEnv starts a Server over a new memstore (or st) with the test
// accounts and API keys.
func newEnv(t testing.TB, opts ...func(*Config)) *env {
	t.Helper()
	kr := testkit.Keyring(t)
	c := testkit.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	cfg := Config{
		Store: memstore.New(), Keyring: kr, Accounts: []access.Account{aliceBasic, bobBasic}, APIKeys: []access.APIKey{keyAll, keyTwo},
		WorkFactor: testWorkFactor, SweepEvery: -1, Egress: testEgress(t), Now: c.Now,
		Outbox: outbox.Config{Backoff: 20 * time.Millisecond, Poll: 20 * time.Millisecond},
		// The trail is chained when a test says (flushAudit) and at Close:
		// no commits of its own in the middle of a test that counts them.
		Audit:  audit.Config{FlushEvery: -1},
		Logger: testLogger(serverCount.Add(1)%2 == 0),
	}
	for _, o := range opts {
		o(&cfg)
	}
	srv, err := New(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return &env{t: t, srv: srv, st: cfg.Store, kr: kr, clock: c}
}

// testEgress is the real guard, with http:// and 127.0.0.1 (the tests'
// webhook receivers) allowed explicitly.
func testEgress(t testing.TB) *egress.Guard {
	t.Helper()
	return testkit.Guard(t, egress.Config{AllowHTTP: true}, "127.0.0.1")
}

// withStore runs the server over st and keyring kr (to share them).
func withStore(st *store.Store, kr *crypto.Keyring) func(*Config) {
	return func(c *Config) { c.Store, c.Keyring = st, kr }
}

// reply is a response as the tests look at it.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "a JSON object: %s", r.body)
	return m
}

func (r reply) list(t testing.TB) []map[string]any {
	t.Helper()
	var l []map[string]any
	require.NoError(t, json.Unmarshal(r.body, &l), "a JSON array: %s", r.body)
	return l
}

// errorText returns the {"error": ...} message of a vault/capture reply.
func (r reply) errorText(t testing.TB) string {
	t.Helper()
	require.Equal(t, "application/json", r.header.Get("Content-Type"))
	m := r.json(t)
	require.Len(t, m, 1, "an error reply has only the error member")
	s, ok := m["error"].(string)
	require.True(t, ok, "error is a string")
	return s
}

// req is a request to build.
type req struct {
	method, path string
	query        url.Values
	body         string
	contentType  string // "" means application/json when there is a body; "-" none
	header       map[string]string
	basic        *access.Account
	remote       string // the client's address; "" is httptest's 192.0.2.1:1234
}

// target, bodyReader and setHeader make r's HTTP request by one rule for
// every way the tests send it: in process (do) or to a running server
// (remote.do).

// target is r's path with its query.
func (r req) target() string {
	if r.query != nil {
		return r.path + "?" + r.query.Encode()
	}
	return r.path
}

// bodyReader is r's body, nil for none.
func (r req) bodyReader() io.Reader {
	if r.body == "" {
		return nil
	}
	return strings.NewReader(r.body)
}

// setHeader sets hr's Content-Type and header fields as r says
// (testkit.SetHeader), and its Basic credentials.
func (r req) setHeader(hr *http.Request) {
	testkit.SetHeader(hr, r.body != "", r.contentType, r.header)
	if r.basic != nil {
		hr.SetBasicAuth(r.basic.Name, r.basic.Password)
	}
}

func (e *env) do(r req) reply {
	e.t.Helper()
	hr := httptest.NewRequest(r.method, r.target(), r.bodyReader())
	r.setHeader(hr)
	if r.remote != "" {
		hr.RemoteAddr = r.remote
	}
	rec := httptest.NewRecorder()
	contractValidating(e.t, e.srv).ServeHTTP(rec, hr)
	return reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// alice sends a request as the Basic account alice.
func (e *env) alice(method, path string, q url.Values, body string) reply {
	e.t.Helper()
	return e.do(req{method: method, path: path, query: q, body: body, basic: &aliceBasic})
}

// vaultKey is a vault key's credentials in a test.
type vaultKey struct{ user, passphrase string }

func (k vaultKey) query(more ...string) url.Values {
	q := url.Values{"user": {k.user}, "passphrase": {k.passphrase}}
	for i := 0; i+1 < len(more); i += 2 {
		q.Set(more[i], more[i+1])
	}
	return q
}

// newKey creates a vault key for alice with a registered passphrase.
func (e *env) newKey(user string) vaultKey {
	e.t.Helper()
	k := vaultKey{user: user, passphrase: secret("passphrase", "pass-"+user+"-"+crypto.NewID(8))}
	r := e.alice("POST", "/v1/key", nil, mustJSON(e.t, map[string]string{"user": k.user, "passphrase": k.passphrase}))
	require.Equal(e.t, http.StatusOK, r.status, "%s", r.body)
	return k
}

// seedCard is the card the seed's flows update; its number and CVV are
// registered secrets.
var (
	seedNumber = secret("card number", "4111111111111111")
	seedCVV    = secret("cvv", "123")
	seedCard   = `{"card_number":"` + seedNumber + `","card_holder":"Ada Lovelace","card_expiry":"06-2024","cvv":"` + seedCVV + `"}`
)

// storeCard stores seedCard under k with the reference and returns its token.
func (e *env) storeCard(k vaultKey, reference string) string {
	e.t.Helper()
	r := e.alice("POST", "/v1/vault", k.query("reference", reference), seedCard)
	require.Equal(e.t, http.StatusOK, r.status, "%s", r.body)
	return r.json(e.t)["token"].(string)
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// compactJSON re-encodes a JSON document without insignificant space.
func compactJSON(t testing.TB, s []byte) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, json.Compact(&b, s))
	return b.String()
}
