package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/loadgen"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/server"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/memstore"
)

// The in-process server of the hostile-input, fuzz and security tests: a
// server.Server over a memstore, with a settable clock, its log captured,
// behind a real listener for requests net/http itself must parse.

const (
	terminalOne   = "1234001" // keyAll and keyTwo
	terminalThree = "1234003" // keyAll only
	workFactor    = 10        // scrypt, for tests
)

var (
	aliceBasic = access.Account{Name: "alice", Password: secret("password", "alice-password-reliability-5c1d")}
	bobBasic   = access.Account{Name: "bob", Password: secret("password", "bob-password-reliability-9e7a")}
	keyAll     = access.APIKey{Key: secret("api key", "ak_rel_all_3f9a0c1d2e4b5a6978"), Terminals: []string{"*"}}
	keyTwo     = access.APIKey{Key: secret("api key", "ak_rel_two_7b6a5948372615a0b1"), Terminals: []string{terminalOne, "1234002"}}
)

// secrets are values that must never show in a log, an error or a metric.
var secrets testkit.Secrets

// secret registers value and returns it.
func secret(kind, value string) string { return secrets.Add(kind, value) }

// leaks describes each registered secret found in text: by kind and
// number, never by value.
func leaks(text string) []string { return secrets.Found(text) }

// env is a test server with fixtures: alice's vault key holding one card,
// a capture endpoint locked to it, and a secure token on terminal 1234001.
type env struct {
	t     testing.TB
	srv   *server.Server
	st    *store.Store
	clock *testkit.Clock
	logs  *testkit.Buffer
	base  string // the listener's URL
	hc    *http.Client

	key        loadgen.VaultKey
	itemToken  string
	grantID    string
	grantSec   string
	bearerAll  string
	bearerTwo  string
	secureTok  string // its secureTokenId, on terminalOne
	secureTok3 string // one on terminalThree
}

// newEnv starts a server; opts change its configuration.
func newEnv(t testing.TB, opts ...func(*server.Config)) *env {
	t.Helper()
	kr := testkit.Keyring(t)
	e := &env{t: t, st: memstore.New(), clock: testkit.NewClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)), logs: &testkit.Buffer{}}
	cfg := server.Config{
		Store: e.st, Keyring: kr, Accounts: []access.Account{aliceBasic, bobBasic}, APIKeys: []access.APIKey{keyAll, keyTwo},
		WorkFactor: workFactor, SweepEvery: -1, Now: e.clock.Now,
		// The audit trail is chained at Close only: its background
		// commits would change the store between a test's snapshots.
		Audit:  audit.Config{FlushEvery: -1},
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&cfg)
	}
	var err error
	e.srv, err = server.New(cfg)
	require.NoError(t, err)
	hs := httptest.NewServer(e.srv)
	e.base = hs.URL
	e.hc = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}
	t.Cleanup(func() {
		hs.Close()
		require.NoError(t, e.srv.Close())
		// Whatever the test did, its server logged no secret.
		if found := leaks(e.logs.String()); len(found) > 0 {
			t.Errorf("the server's log holds %s", strings.Join(found, ", "))
		}
	})
	e.fixtures()
	return e
}

func (e *env) fixtures() {
	t := e.t
	e.key = loadgen.VaultKey{User: "rel-user", Passphrase: secret("passphrase", "rel-passphrase-"+crypto.NewID(8))}
	r := e.do(req{method: "POST", path: "/v1/key", basic: &aliceBasic, body: mustJSON(t, map[string]string{"user": e.key.User, "passphrase": e.key.Passphrase})})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	r = e.do(req{method: "POST", path: "/v1/vault", query: e.vaultQuery("reference", "ref"), basic: &aliceBasic, body: cardDoc})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	e.itemToken = r.str(t, "token")
	r = e.do(req{method: "POST", path: "/v1/capture", query: e.vaultQuery("token", e.itemToken, "reference", "ref", "ttl", "PT10M", "unique_id", "rel-grant"), basic: &aliceBasic})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	e.grantID, e.grantSec = r.str(t, "id"), secret("capture secret", r.str(t, "secret"))
	e.bearerAll, e.bearerTwo = e.authorize(keyAll.Key), e.authorize(keyTwo.Key)
	e.secureTok = e.createSecureToken(terminalOne, "rel-token-1")
	e.secureTok3 = e.createSecureToken(terminalThree, "rel-token-3")
}

// The card every fixture stores; its number and CVV are secrets.
var (
	cardNumber = secret("card number", "4111111111111111")
	cardDoc    = `{"card_number":"` + cardNumber + `","card_holder":"Ada Lovelace","card_expiry":"06-2031","cvv":"` + secret("cvv", "9271") + `"}`
	// tokenCardNumber is the card of the fixtures' secure tokens.
	tokenCardNumber = secret("card number", "4539858876047062")
)

func (e *env) authorize(key string) string {
	r := e.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": key}})
	require.Equal(e.t, http.StatusOK, r.status, "%s", r.body)
	return secret("bearer token", r.str(e.t, "access_token"))
}

func secureTokenBody(id, number string) string {
	return `{"secureTokenId":"` + id + `","customer":{"firstName":"Sarah","lastName":"Hopper"},` +
		`"customFields":[{"name":"created","value":"1"}],` +
		`"source":{"type":"card","cardDetails":{"entryMethod":"keyed","cardholderName":"Sarah Hopper",` +
		`"keyedData":{"dataFormat":"plainText","cardNumber":"` + number + `","expiryDate":"1230"}}}}`
}

func (e *env) createSecureToken(terminal, id string) string {
	r := e.do(req{method: "POST", path: "/v1/processing-terminals/" + terminal + "/secure-tokens", body: secureTokenBody(id, tokenCardNumber),
		header: e.tokenHeader(e.bearerAll)})
	require.Equal(e.t, http.StatusCreated, r.status, "%s", r.body)
	return r.str(e.t, "secureTokenId")
}

func (e *env) vaultQuery(more ...string) url.Values {
	q := url.Values{"user": {e.key.User}, "passphrase": {e.key.Passphrase}}
	for i := 0; i+1 < len(more); i += 2 {
		q.Set(more[i], more[i+1])
	}
	return q
}

// tokenHeader is the headers of a secure-token API POST or PATCH: the
// bearer token and a new Idempotency-Key.
func (e *env) tokenHeader(bearer string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + bearer, "Idempotency-Key": loadgen.NewIdempotencyKey()}
}

// req is a request to make.
type req struct {
	method, path string
	rawQuery     string // used when query is nil
	query        url.Values
	body         string
	contentType  string // "" means application/json when there is a body; "-" none
	header       map[string]string
	basic        *access.Account
}

type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) str(t testing.TB, member string) string {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.body, &m), "a JSON object: %s", r.body)
	s, ok := m[member].(string)
	require.True(t, ok, "member %s is a string", member)
	return s
}

func (r req) target() string {
	target := r.path
	if r.query != nil {
		target += "?" + r.query.Encode()
	} else if r.rawQuery != "" {
		target += "?" + r.rawQuery
	}
	return target
}

func (r req) build(base string) (*http.Request, error) {
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, base+r.target(), body)
	if err != nil {
		return nil, err
	}
	testkit.SetHeader(hr, r.body != "", r.contentType, r.header)
	if r.basic != nil {
		hr.SetBasicAuth(r.basic.Name, r.basic.Password)
	}
	return hr, nil
}

// do serves r in process (no listener).
func (e *env) do(r req) reply {
	e.t.Helper()
	return e.serve(e.t, r)
}

// serve serves r in process, failing t (a fuzz target's) on a harness
// error: the fuzz targets' path.
func (e *env) serve(t testing.TB, r req) reply {
	t.Helper()
	hr, err := r.build("http://cardvault.test")
	require.NoError(t, err)
	if hr.Body == nil {
		hr.Body = http.NoBody // as net/http gives a handler
	}
	hr.RemoteAddr = "192.0.2.1:1234"
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, hr)
	return reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
}

// send sends r over the listener.
func (e *env) send(r req) reply {
	e.t.Helper()
	hr, err := r.build(e.base)
	require.NoError(e.t, err)
	resp, err := e.hc.Do(hr)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return reply{status: resp.StatusCode, header: resp.Header, body: raw}
}

// raw writes a request as bytes on a new connection and reads the
// response; the connection is closed after it. A request the server never
// answers within five seconds fails the test.
func (e *env) raw(request string) reply {
	e.t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.base, "http://"))
	require.NoError(e.t, err)
	defer conn.Close()
	require.NoError(e.t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = io.WriteString(conn, request)
	require.NoError(e.t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(e.t, err, "the server answers")
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: body}
}

// basicHeader is the Authorization value of a Basic account.
func basicHeader(a access.Account) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(a.Name, a.Password)
	return r.Header.Get("Authorization")
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// snapshot is everything a memstore holds: bucket \x00 key → value.
type snapshot map[string]string

func (e *env) snapshot() snapshot {
	s := snapshot{}
	memstore.Dump(e.st, func(bucket string, key, value []byte) {
		s[bucket+"\x00"+string(key)] = string(value)
	})
	return s
}

// restore puts the store back to snap: every key snap does not have is
// deleted, every other is set to snap's value. The fuzz targets restore the
// fixtures after each input, so that every input meets the same store (and
// the store, dumped twice per input, stays small).
func (e *env) restore(t testing.TB, snap snapshot) {
	t.Helper()
	now := e.snapshot()
	err := e.st.Update(ctx, func(tx store.Tx) error {
		for k := range now {
			if _, ok := snap[k]; !ok {
				b, key, _ := strings.Cut(k, "\x00")
				if err := tx.Delete(b, []byte(key)); err != nil {
					return err
				}
			}
		}
		for k, v := range snap {
			if w, ok := now[k]; !ok || w != v {
				b, key, _ := strings.Cut(k, "\x00")
				if err := tx.Put(b, []byte(key), []byte(v)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
}

// changedBuckets lists the buckets in which a and b differ (a key added,
// removed or changed), sorted.
func changedBuckets(a, b snapshot) []string {
	set := map[string]bool{}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			set[strings.SplitN(k, "\x00", 2)[0]] = true
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			set[strings.SplitN(k, "\x00", 2)[0]] = true
		}
	}
	out := make([]string, 0, len(set))
	for b := range set {
		out = append(out, b)
	}
	sort.Strings(out)
	return out
}

var ctx = context.Background()
