package server

import (
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/crypto"
)

// Finding 2 of the security review: the capture lockout was checked in one
// transaction and counted in another, so 64 concurrent wrong secrets all
// got 403; form-page loads counted; the lock was for ever.
func TestCaptureLockoutHolds(t *testing.T) {
	e := newEnv(t)
	k := e.newKey("lockout")
	tok := e.storeCard(k, "ref")
	g := e.alice("POST", "/v1/capture", k.query("token", tok, "ttl", "PT1H"), "").json(t)
	id, sec := g["id"].(string), secret("capture secret", g["secret"].(string))
	post := func(id, secretValue string) reply {
		return e.do(req{method: "POST", path: "/v1/capture/" + id, body: `{"cvv":"000"}`,
			header: map[string]string{headerCaptureSecret: secretValue}})
	}

	// Loading the form page with a wrong secret, any number of times,
	// counts nothing: the endpoint still opens.
	for range 30 {
		r := e.do(req{method: "GET", path: "/v1/capture/iframe/pcd", query: url.Values{"unique_id": {id}, "secret": {"wrong-secret"}}})
		require.Equal(t, http.StatusGone, r.status, "the page's closed notice")
	}
	page := e.do(req{method: "GET", path: "/v1/capture/iframe/pcd", query: url.Values{"unique_id": {id}, "secret": {sec}}})
	require.Equal(t, http.StatusOK, page.status, "the card form")
	r := post(id, sec)
	require.Equal(t, http.StatusOK, r.status, "the form page loads locked nothing: %s", r.body)

	// 64 concurrent wrong secrets: exactly ten counted (403), the rest find
	// the endpoint locked (423, with when it lifts).
	statuses := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			r := post(id, crypto.NewSecret())
			mu.Lock()
			defer mu.Unlock()
			statuses[r.status]++
			if r.status == http.StatusLocked {
				require.Equal(t, "60", r.header.Get("Retry-After"))
			}
		})
	}
	wg.Wait()
	require.Equal(t, map[int]int{http.StatusForbidden: 10, http.StatusLocked: 54}, statuses)
	r = post(id, sec)
	require.Equal(t, http.StatusLocked, r.status, "the right secret is locked out too")
	require.Contains(t, r.errorText(t), "locked")

	// The lock lifts after a minute; ten more wrong secrets lock it for two.
	e.clock.Advance(time.Minute)
	require.Equal(t, http.StatusOK, post(id, sec).status, "lifted")
	for range 10 {
		require.Equal(t, http.StatusForbidden, post(id, "guess").status)
	}
	r = post(id, sec)
	require.Equal(t, http.StatusLocked, r.status)
	require.Equal(t, "120", r.header.Get("Retry-After"), "each lock twice the one before")
}

// Failed capture posts are limited per client, in memory: a flood of
// wrong secrets and random ids from one address gets 429 before anything
// is checked, while other addresses, and successes, go on.
func TestCaptureClientLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FailureLimits.ClientCaptures = access.FailureLimit{Failures: 20, Per: time.Minute} })
	k := e.newKey("flood")
	tok := e.storeCard(k, "ref")
	g := e.alice("POST", "/v1/capture", k.query("token", tok), "").json(t)
	id, sec := g["id"].(string), secret("capture secret", g["secret"].(string))
	post := func(remote, id, secretValue string) reply {
		return e.do(req{method: "POST", path: "/v1/capture/" + id, body: `{"cvv":"000"}`, remote: remote,
			header: map[string]string{headerCaptureSecret: secretValue}})
	}
	const attacker, other = "198.51.100.7:40000", "198.51.100.8:40000"

	// Successes are never counted: a client at full speed is not held back.
	for range 100 {
		require.Equal(t, http.StatusOK, post(attacker, id, sec).status)
	}
	for i := range 20 {
		require.Equal(t, http.StatusForbidden, post(attacker, crypto.NewID(16), crypto.NewSecret()).status, "failure %d", i+1)
	}
	r := post(attacker, crypto.NewID(16), crypto.NewSecret())
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "3", r.header.Get("Retry-After"), "one more every Per/Failures")
	require.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"), "a browser can read the answer")
	require.Equal(t, msgTooMany, r.errorText(t))
	require.Equal(t, http.StatusTooManyRequests, post(attacker, id, sec).status, "unchecked, the right secret too")
	require.Equal(t, http.StatusOK, post(other, id, sec).status, "another client is not held back")
	require.Equal(t, http.StatusOK, post("[2001:db8::1]:1", id, sec).status)

	e.clock.Advance(3 * time.Second)
	require.Equal(t, http.StatusOK, post(attacker, id, sec).status, "drained: one attempt again")

	m := e.do(req{method: "GET", path: "/metrics"})
	require.Equal(t, 2.0, sample(t, string(m.body), `cardvault_throttled_total{limit="capture"}`))
	require.Equal(t, 2.0, sample(t, string(m.body), `cardvault_capture_redemptions_total{outcome="throttled"}`))

	// A form page that checks a secret and finds the endpoint closed counts
	// against the client too (never against the endpoint): the page is no
	// way around the limit.
	page := func(remote, secretValue string) reply {
		return e.do(req{method: "GET", path: "/v1/capture/iframe/pcd", remote: remote,
			query: url.Values{"unique_id": {id}, "secret": {secretValue}}})
	}
	const prober = "198.51.100.9:1"
	for range 20 {
		require.Equal(t, http.StatusOK, page(prober, sec).status, "an open endpoint's page is no failure")
	}
	for range 20 {
		require.Equal(t, http.StatusGone, page(prober, crypto.NewSecret()).status)
	}
	r = page(prober, sec)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "3", r.header.Get("Retry-After"))
	require.Equal(t, http.StatusOK, page(other, sec).status)
	require.Equal(t, http.StatusOK, post(other, id, sec).status, "the endpoint itself was never locked")
}

// Finding 4: 500 wrong Basic passwords in 0.1 s, no slow-down.
func TestBasicBruteForce(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.FailureLimits.ClientCredentials = access.FailureLimit{Failures: 5, Per: 5 * time.Minute}
		c.FailureLimits.AccountCredentials = access.FailureLimit{Failures: 8, Per: 8 * time.Minute}
	})
	list := func(remote string, acc access.Account) reply {
		return e.do(req{method: "GET", path: "/v1/key", basic: &acc, remote: remote})
	}
	wrong := access.Account{Name: aliceBasic.Name, Password: "not-alices-password"}
	const attacker = "203.0.113.5:5555"

	// Requests without credentials are no guesses.
	for range 20 {
		require.Equal(t, http.StatusUnauthorized, e.do(req{method: "GET", path: "/v1/key", remote: attacker}).status)
	}
	// Successes are never counted.
	for range 50 {
		require.Equal(t, http.StatusOK, list(attacker, aliceBasic).status)
	}
	for i := range 5 {
		r := list(attacker, wrong)
		require.Equal(t, http.StatusUnauthorized, r.status, "guess %d", i+1)
		require.NotEmpty(t, r.header.Get("WWW-Authenticate"))
	}
	r := list(attacker, wrong)
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, "60", r.header.Get("Retry-After"))
	require.Equal(t, msgTooMany, r.errorText(t))
	require.Equal(t, http.StatusTooManyRequests, list(attacker, aliceBasic).status, "held back before checking: the right password too")
	require.Equal(t, http.StatusTooManyRequests, list(attacker, access.Account{Name: "nobody", Password: "x"}).status, "whatever account it names")
	require.Equal(t, http.StatusOK, list("203.0.113.6:1", aliceBasic).status, "another client is not")

	// Guesses at alice from more addresses: the account's limit (8) holds
	// back every client that failed, not those that did not.
	for i := range 2 {
		require.Equal(t, http.StatusUnauthorized, list("203.0.113."+strconv.Itoa(10+i)+":1", wrong).status)
	}
	r = list("203.0.113.20:1", wrong)
	require.Equal(t, http.StatusUnauthorized, r.status, "a first failure is checked")
	r = list("203.0.113.20:1", wrong)
	require.Equal(t, http.StatusTooManyRequests, r.status, "alice's limit: 8 failures counted")
	require.Equal(t, "60", r.header.Get("Retry-After"))
	require.Equal(t, http.StatusOK, list("203.0.113.20:1", bobBasic).status, "bob's account is not alice's")
	require.Equal(t, http.StatusOK, list("203.0.113.99:1", aliceBasic).status, "a client with no failures gets in")

	e.clock.Advance(time.Minute)
	require.Equal(t, http.StatusOK, list(attacker, aliceBasic).status, "one attempt a minute")
}

// Finding 4: 500 wrong API keys at /authorize in 0.1 s. The contract has
// no 429: POST /authorize (which the contract does not describe) answers
// one in the API's problem shape, with Retry-After.
func TestAuthorizeBruteForce(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.FailureLimits.ClientCredentials = access.FailureLimit{Failures: 3, Per: 3 * time.Minute}
	})
	auth := func(remote, key string) reply {
		return e.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": key}, remote: remote})
	}
	const attacker = "203.0.113.5:5555"
	for range 30 {
		require.Equal(t, http.StatusOK, auth(attacker, keyAll.Key).status, "successes are not counted")
	}
	for range 3 {
		require.Equal(t, http.StatusUnauthorized, auth(attacker, "ak_guess_0123456789abcdef").status)
	}
	for _, key := range []string{"ak_guess_0123456789abcdef", keyAll.Key} {
		requireTooManyProblem(t, auth(attacker, key), "60")
	}
	require.Equal(t, http.StatusOK, auth("203.0.113.6:1", keyAll.Key).status, "another client is not held back")
	// The Basic account's failures and the API key's share the client's
	// budget: one client, one count of wrong credentials.
	require.Equal(t, http.StatusTooManyRequests, e.do(req{method: "GET", path: "/v1/key", basic: &aliceBasic, remote: attacker}).status)
}

// requireTooManyProblem checks POST /authorize's answer to a client over a
// limit: 429, Retry-After, the too-many-requests problem.
func requireTooManyProblem(t *testing.T, r reply, retryAfter string) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, r.status)
	require.Equal(t, retryAfter, r.header.Get("Retry-After"))
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	require.Equal(t, map[string]any{"type": "https://docs.payroc.com/api/errors#too-many-requests", "title": "Too many requests",
		"status": 429.0, "detail": "Too many failed attempts; try again after the time the Retry-After header gives"}, r.json(t))
}

// Finding 4, the per-account half for /authorize: wrong API keys from many
// addresses, each under its own client limit, add up. An API key names no
// account before it matches, so /authorize's failures all count against
// one account of their own (authorizeAccount) — never against a Basic
// account. Past that limit every client with failures on record is held
// back (the right key too); a client with none still gets its token, so
// guessing from many addresses cannot lock the integration out; each new
// guessing address gets one guess checked, then is held back too.
func TestAuthorizeAccountLimit(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.FailureLimits.ClientCredentials = access.FailureLimit{Failures: 3, Per: 3 * time.Minute}
		c.FailureLimits.AccountCredentials = access.FailureLimit{Failures: 5, Per: 5 * time.Minute}
	})
	const wrongKey = "ak_guess_0123456789abcdef"
	wrongAlice := access.Account{Name: aliceBasic.Name, Password: "not-alices-password"}
	for i, step := range []struct {
		remote, key string
		basic       *access.Account // GET /v1/key with it instead of POST /authorize
		advance     time.Duration
		want        int
		retryAfter  string // of a 429
		why         string
	}{
		{remote: "203.0.113.1:1", key: keyAll.Key, want: http.StatusOK, why: "successes are not counted"},
		{remote: "203.0.113.1:1", key: wrongKey, want: http.StatusUnauthorized, why: "failure 1 (client .1: 1)"},
		{remote: "203.0.113.1:1", key: wrongKey, want: http.StatusUnauthorized, why: "failure 2 (client .1: 2, under its 3)"},
		{remote: "203.0.113.2:1", key: wrongKey, want: http.StatusUnauthorized, why: "failure 3"},
		{remote: "203.0.113.2:1", key: wrongKey, want: http.StatusUnauthorized, why: "failure 4"},
		{remote: "203.0.113.3:1", key: wrongKey, want: http.StatusUnauthorized, why: "failure 5: the account's burst is spent"},
		{remote: "203.0.113.3:1", key: wrongKey, want: http.StatusTooManyRequests, retryAfter: "60", why: "the account's limit, not the client's (1 of 3)"},
		{remote: "203.0.113.1:1", key: keyAll.Key, want: http.StatusTooManyRequests, retryAfter: "60", why: "a client that failed is held back before checking: the right key too"},
		{remote: "203.0.113.9:1", key: keyAll.Key, want: http.StatusOK, why: "a client with no failures gets its token: others' failures do not lock the key out"},
		{remote: "[2001:db8:1::1]:1", key: keyAll.Key, want: http.StatusOK, why: "nor over IPv6"},
		{remote: "203.0.113.4:1", key: wrongKey, want: http.StatusUnauthorized, why: "a new address: its first guess is checked"},
		{remote: "203.0.113.4:1", key: wrongKey, want: http.StatusTooManyRequests, retryAfter: "120", why: "and then it is held back by the account's limit, one failure further"},
		{remote: "203.0.113.3:1", basic: &aliceBasic, want: http.StatusOK, why: "alice's Basic account is another account: not limited"},
		{remote: "203.0.113.3:1", basic: &wrongAlice, want: http.StatusUnauthorized, why: "a wrong password for alice is checked: her account has no failures"},
		{remote: "203.0.113.3:1", key: keyAll.Key, advance: time.Minute, want: http.StatusTooManyRequests, retryAfter: "60", why: "a minute on: one failure drained of the 6"},
		{remote: "203.0.113.3:1", key: keyAll.Key, advance: time.Minute, want: http.StatusOK, why: "two minutes on: one attempt again (5 per 5 minutes)"},
	} {
		e.clock.Advance(step.advance)
		var r reply
		if step.basic != nil {
			r = e.do(req{method: "GET", path: "/v1/key", basic: step.basic, remote: step.remote})
		} else {
			r = e.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": step.key}, remote: step.remote})
		}
		require.Equal(t, step.want, r.status, "step %d: %s", i+1, step.why)
		if step.want == http.StatusTooManyRequests {
			requireTooManyProblem(t, r, step.retryAfter)
		}
	}
	m := e.do(req{method: "GET", path: "/metrics"})
	require.Equal(t, 4.0, sample(t, string(m.body), `cardvault_throttled_total{limit="credentials"}`))
}

// Wrong vault passphrases are limited per client and per vault key.
func TestPassphraseBruteForce(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.FailureLimits.ClientPassphrases = access.FailureLimit{Failures: 3, Per: 3 * time.Minute}
		c.FailureLimits.KeyPassphrases = access.FailureLimit{Failures: 5, Per: 5 * time.Minute}
	})
	k := e.newKey("guessed")
	tok := e.storeCard(k, "ref")
	guess := vaultKey{user: k.user, passphrase: "a-guessed-passphrase"}
	get := func(remote string, k vaultKey) reply {
		return e.do(req{method: "GET", path: "/v1/vault", query: k.query("token", tok, "reference", "ref"), basic: &aliceBasic, remote: remote})
	}
	const attacker = "203.0.113.5:5555"
	for range 20 {
		require.Equal(t, http.StatusOK, get(attacker, k).status, "successes are not counted")
	}
	for range 3 {
		require.Equal(t, http.StatusUnauthorized, get(attacker, guess).status)
	}
	r := get(attacker, guess)
	require.Equal(t, http.StatusTooManyRequests, r.status, "the client's limit")
	require.Equal(t, "60", r.header.Get("Retry-After"))
	require.Equal(t, http.StatusTooManyRequests, get(attacker, k).status, "unchecked: the right one too")
	// Every route that opens a key is limited alike.
	for _, rq := range []req{
		{method: "POST", path: "/v1/vault", query: guess.query(), body: seedCard},
		{method: "POST", path: "/v1/capture", query: guess.query("token", tok)},
		{method: "PUT", path: "/v1/key", body: mustJSON(t, map[string]string{"user": guess.user, "passphrase": guess.passphrase, "new_passphrase": "a-new-passphrase-long"})},
		{method: "POST", path: "/v1/proxy/post", query: guess.query("token", tok), body: proxyCall(t, "https://psp.example/v1/charges", formBody, nil)},
		{method: "POST", path: "/v1/proxy/get", query: guess.query("reference", "got"), body: proxyCall(t, "https://psp.example/v1/charges", "{}", nil)},
	} {
		rq.basic, rq.remote = &aliceBasic, attacker
		require.Equal(t, http.StatusTooManyRequests, e.do(rq).status, "%s %s", rq.method, rq.path)
	}
	// The key's limit (5) across clients: two more failing clients.
	require.Equal(t, http.StatusUnauthorized, get("203.0.113.6:1", guess).status)
	require.Equal(t, http.StatusUnauthorized, get("203.0.113.7:1", guess).status)
	require.Equal(t, http.StatusTooManyRequests, get("203.0.113.7:1", guess).status, "the key's limit")
	require.Equal(t, http.StatusOK, get("203.0.113.8:1", k).status, "a client with no failures opens it")
	other := e.newKey("other-key")
	r = e.do(req{method: "POST", path: "/v1/vault", query: other.query(), body: seedCard, basic: &aliceBasic, remote: "203.0.113.7:1"})
	require.Equal(t, http.StatusOK, r.status, "another key of the same client: the key's limit is the key's")
	m := e.do(req{method: "GET", path: "/metrics"})
	require.Equal(t, 8.0, sample(t, string(m.body), `cardvault_throttled_total{limit="passphrase"}`))

	// The proxy's routes count their wrong passphrases too: a fresh
	// client's guesses through them reach its limit. The destination is
	// never reached (the key does not open); it is only data here.
	otherGuess := vaultKey{user: other.user, passphrase: "a-guessed-passphrase"}
	for _, rq := range []req{
		{method: "POST", path: "/v1/proxy/post", query: otherGuess.query("token", tok, "synchronous", "true"), body: proxyCall(t, "https://psp.example/v1/charges", formBody, nil)},
		{method: "POST", path: "/v1/proxy/get", query: otherGuess.query("reference", "got", "synchronous", "true"), body: proxyCall(t, "https://psp.example/v1/charges", "{}", nil)},
		{method: "POST", path: "/v1/proxy/post", query: otherGuess.query("token", tok, "synchronous", "true"), body: proxyCall(t, "https://psp.example/v1/charges", formBody, nil)},
	} {
		rq.basic, rq.remote = &aliceBasic, "203.0.113.9:1"
		r := e.do(rq)
		require.Equal(t, http.StatusUnauthorized, r.status, "%s %s: %s", rq.method, rq.path, r.body)
	}
	require.Equal(t, http.StatusTooManyRequests, get("203.0.113.9:1", k).status, "three proxy failures: the client's limit")
}

// Finding 4: the password "a" and the passphrase "x" were accepted.
func TestMinimumLengths(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"x", "short-passphrase"[:15]} {
		r := e.alice("POST", "/v1/key", nil, mustJSON(t, map[string]string{"user": "short", "passphrase": p}))
		require.Equal(t, http.StatusBadRequest, r.status)
		require.Contains(t, r.errorText(t), "passphrase must be at least 16 characters")
	}
	k := e.newKey("long-enough")
	r := e.alice("PUT", "/v1/key", nil, mustJSON(t, map[string]string{"user": k.user, "passphrase": k.passphrase, "new_passphrase": "x"}))
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, r.errorText(t), "new_passphrase must be at least 16 characters")

	for _, cfg := range []Config{
		{Accounts: []access.Account{{Name: "user", Password: "a"}}},
		{APIKeys: []access.APIKey{{Key: "an-api-key", Terminals: []string{"*"}}}},
	} {
		cfg.Store, cfg.Keyring = e.st, e.kr
		_, err := New(cfg)
		require.ErrorContains(t, err, "at least 16 characters")
	}
}

// Finding 5: ttl=P0T gave an update endpoint with no expiry, and there was
// no maximum.
func TestCaptureTTLLimits(t *testing.T) {
	e := newEnv(t)
	k := e.newKey("ttl")
	tok := e.storeCard(k, "ref")
	create := func(e *env, more ...string) reply {
		return e.alice("POST", "/v1/capture", k.query(more...), "")
	}
	for _, q := range [][]string{
		{"token", tok, "ttl", "P0T"},
		{"token", tok, "ttl", "PT24H1S"},
		{"token", tok, "ttl", "P2D"},
		{"ttl", "P0T"},
		{"ttl", "0"},
	} {
		r := create(e, q...)
		require.Equal(t, http.StatusBadRequest, r.status, "%v", q)
		require.Contains(t, r.errorText(t), "ttl", "%v", q)
	}
	r := create(e, "token", tok, "ttl", "P1D")
	require.Equal(t, http.StatusOK, r.status, "a day is the default maximum")
	require.Equal(t, e.clock.Now().Add(24*time.Hour).Format(time.RFC3339), r.json(t)["expires_at"])
	r = create(e, "ttl", "P7D")
	require.Equal(t, http.StatusOK, r.status, "an open endpoint may live longer")

	// The operator's choices: a shorter maximum; endpoints that never
	// expire (open ones; locked ones only without a maximum).
	st, kr := e.st, e.kr
	strict := newEnv(t, withStore(st, kr), func(c *Config) { c.MaxCaptureTTL = time.Hour })
	r = create(strict, "token", tok, "ttl", "PT2H")
	require.Equal(t, http.StatusBadRequest, r.status)
	require.Contains(t, r.errorText(t), "1h0m0s")
	r = create(strict, "token", tok)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, strict.clock.Now().Add(time.Hour).Format(time.RFC3339), r.json(t)["expires_at"], "the default gives way to the maximum")

	allow := newEnv(t, withStore(st, kr), func(c *Config) { c.AllowUnexpiringCapture = true })
	r = create(allow, "ttl", "P0T")
	require.Equal(t, http.StatusOK, r.status)
	require.Nil(t, r.json(t)["expires_at"])
	require.Equal(t, http.StatusBadRequest, create(allow, "token", tok, "ttl", "P0T").status, "a locked one is still under the maximum")
	none := newEnv(t, withStore(st, kr), func(c *Config) { c.AllowUnexpiringCapture, c.MaxCaptureTTL = true, -1 })
	require.Equal(t, http.StatusOK, create(none, "token", tok, "ttl", "P0T").status)
	require.Equal(t, http.StatusOK, create(none, "token", tok, "ttl", "P30D").status)
}
