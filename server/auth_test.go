package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/memstore"
)

func TestParseAccounts(t *testing.T) {
	got, err := ParseAccounts("user:a-long-password-0001,u2:p:with:colons:and:more")
	require.NoError(t, err)
	require.Equal(t, []Account{{"user", "a-long-password-0001"}, {"u2", "p:with:colons:and:more"}}, got)

	pw := "0123456789abcdef"
	for _, bad := range []string{"", "user", "user:", ":" + pw, "a:" + pw + ",a:" + pw + "x", "a b:" + pw, "u:" + pw + ",", ",u:" + pw, strings.Repeat("u", 129) + ":" + pw} {
		_, err := ParseAccounts(bad)
		require.Error(t, err, "%q", bad)
	}
	_, err = ParseAccounts("alice:hunter2-secret-long,alice:other-long-password")
	require.NotContains(t, err.Error(), "hunter2", "errors never repeat a password")

	// A password has 16 characters at least (characters, not bytes); the
	// error says so, and not what it was.
	for _, short := range []string{"u:hunter2", "u:Q", "u:0123456789abcde", "u:" + strings.Repeat("é", 15)} {
		_, err := ParseAccounts(short)
		require.ErrorContains(t, err, "the password must be at least 16 characters", "%q", short)
		require.NotContains(t, err.Error(), short[2:])
	}
	_, err = ParseAccounts("u:" + strings.Repeat("é", 16))
	require.NoError(t, err)
	_, err = newAuthenticator([]Account{{Name: "u", Password: "password"}}, nil, crypto.NewHasherFromKey(crypto.NewDataKey()), time.Hour, time.Now)
	require.ErrorContains(t, err, "at least 16 characters", "a library user's accounts are held to it too")
}

func TestParseAPIKeys(t *testing.T) {
	k1, k2 := "k1-0123456789abcdef", "k2-0123456789abcdef"
	got, err := ParseAPIKeys(k1 + ":1234001,1234002;" + k2 + ":*")
	require.NoError(t, err)
	require.Equal(t, []APIKey{{k1, []string{"1234001", "1234002"}}, {k2, []string{"*"}}}, got)

	for _, bad := range []string{"", k1, k1 + ":", ":1234001", k1 + ":123", k1 + ":*,1234001", k1 + ":1234001;" + k1 + ":1234002",
		k1 + ":12/34001", "k 1-0123456789abcdef:1234001", k1 + ":1234001;"} {
		_, err := ParseAPIKeys(bad)
		require.Error(t, err, "%q", bad)
	}
	_, err = ParseAPIKeys("sekrit-key-value:12")
	require.NotContains(t, err.Error(), "sekrit")

	// A key has 16 characters at least; the error does not repeat it.
	_, err = ParseAPIKeys("an-api-key:1234001")
	require.ErrorContains(t, err, "API key 1 must be at least 16 characters")
	require.NotContains(t, err.Error(), "an-api-key")
	_, err = newAuthenticator(nil, []APIKey{{Key: "short-key", Terminals: []string{"*"}}}, crypto.NewHasherFromKey(crypto.NewDataKey()), time.Hour, time.Now)
	require.ErrorContains(t, err, "at least 16 characters")
}

func FuzzParseAPIKeys(f *testing.F) {
	for _, s := range []string{"k1:1234001,1234002;k2:*", "k:*", ";;", "a:b:c", "k1:1234001;k1:1234001", "k1-0123456789abcdef:1234001,1234002;k2-0123456789abcdef:*"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		keys, err := ParseAPIKeys(s)
		if err != nil {
			return
		}
		// What parses makes an authenticator, and each key authenticates.
		a, err := newAuthenticator(nil, keys, crypto.NewHasherFromKey(crypto.NewDataKey()), time.Hour, time.Now)
		require.NoError(t, err)
		for _, k := range keys {
			c, ok := a.apiKey(k.Key)
			require.True(t, ok)
			for _, term := range k.Terminals {
				require.True(t, c.mayUse(term) || term == "*")
			}
		}
	})
}

func FuzzParseAccounts(f *testing.F) {
	for _, s := range []string{"user:password", "a:b,c:d", "a:b:c", ",", "a:b,a:c", "user:a-password-of-16+", "a:0123456789abcdef,b:0123456789abcdef:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		accounts, err := ParseAccounts(s)
		if err != nil {
			return
		}
		a, err := newAuthenticator(accounts, nil, crypto.NewHasherFromKey(crypto.NewDataKey()), time.Hour, time.Now)
		require.NoError(t, err)
		for _, acc := range accounts {
			name, ok := a.basic(acc.Name, acc.Password)
			require.True(t, ok)
			require.Equal(t, acc.Name, name)
			require.Equal(t, acc.Name, a.account(acc.Name))
			name, ok = a.basic(acc.Name, acc.Password+"x")
			require.False(t, ok)
			require.Equal(t, acc.Name, name, "a wrong password names the account it counts against")
		}
	})
}

// authorize gets an access token for an API key.
func (e *env) authorize(key string) string {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": key}})
	require.Equal(e.t, http.StatusOK, r.status, "%s", r.body)
	return secret("bearer token", r.json(e.t)["access_token"].(string))
}

// dummyTokenRoutes registers routes for the bearer middleware alone and for
// the whole secure-token chain, which answer with the client's id.
func (e *env) dummyTokenRoutes() {
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := clientFrom(r.Context())
		require.True(e.t, ok)
		writeJSON(w, http.StatusOK, map[string]string{"client": c.ID, "terminal": r.PathValue(terminalWildcard)})
	})
	e.srv.mux.Handle("GET /test/bearer/{processingTerminalId}/thing", e.srv.requireBearer(echo))
	e.srv.mux.Handle("GET /test/no-terminal", e.srv.requireBearer(echo))
}

func TestAuthorize(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": keyTwo.Key}})
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	m := r.json(t)
	require.Equal(t, float64(3600), m["expires_in"])
	require.Equal(t, "Bearer", m["token_type"])
	require.NotEmpty(t, m["scope"])
	tok := secret("bearer token", m["access_token"].(string))

	// A JWT whose exp is exactly expires_in after its iat, which is now.
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(payload, &claims))
	require.Equal(t, float64(e.clock.Now().Unix()), claims["iat"])
	require.Equal(t, float64(e.clock.Now().Unix()+3600), claims["exp"])
	require.NotContains(t, string(payload), keyTwo.Key)

	for name, key := range map[string]string{"missing": "", "wrong": "ak_two_1b2c3d4e5f60718293a5", "long": strings.Repeat("k", 5000)} {
		r := e.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": key}})
		require.Equal(t, http.StatusUnauthorized, r.status, name)
		require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
		require.Equal(t, map[string]any{"type": "https://docs.payroc.com/api/errors#not-authorized", "title": "Not Authorized",
			"status": float64(401), "detail": "Your identity could not be verified"}, r.json(t))
	}
	r = e.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": keyAll.Key, "Accept": "text/html"}})
	require.Equal(t, http.StatusNotAcceptable, r.status)
	require.Equal(t, "https://docs.payroc.com/api/errors#not-acceptable", r.json(t)["type"])
}

func TestBearerMiddleware(t *testing.T) {
	e := newEnv(t)
	e.dummyTokenRoutes()
	two, all := e.authorize(keyTwo.Key), e.authorize(keyAll.Key)
	get := func(path, token string) reply {
		h := map[string]string{}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		return e.do(req{method: "GET", path: path, header: h})
	}

	r := get("/test/bearer/1234001/thing", two)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "1234001", r.json(t)["terminal"])
	require.Equal(t, http.StatusOK, get("/test/bearer/1234002/thing", two).status)
	require.Equal(t, http.StatusOK, get("/test/bearer/9999999/thing", all).status, "* is every terminal")
	require.Equal(t, http.StatusOK, get("/test/no-terminal", two).status, "a route without the wildcard checks no terminal")
	require.Equal(t, http.StatusOK, e.do(req{method: "GET", path: "/test/bearer/1234001/thing",
		header: map[string]string{"Authorization": "bearer " + two}}).status, "the scheme is case-insensitive")

	r = get("/test/bearer/1234003/thing", two)
	require.Equal(t, http.StatusForbidden, r.status)
	require.Equal(t, map[string]any{"type": "https://docs.payroc.com/api/errors#forbidden", "title": "Forbidden", "status": float64(403),
		"detail":   "You do not have the required permissions to perform this action",
		"instance": "/test/bearer/1234003/thing", "resource": "processingTerminal"}, r.json(t))

	// Two API keys, two clients.
	require.NotEqual(t, get("/test/no-terminal", two).json(t)["client"], get("/test/no-terminal", all).json(t)["client"])

	sig := func(tok string) string { return tok[strings.LastIndexByte(tok, '.')+1:] }
	parts := strings.Split(two, ".")
	forged := func(claims string) string {
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(claims)) + "." + sig(two)
	}
	noneHeader := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	for name, tok := range map[string]string{
		"missing":          "",
		"garbage":          "abc",
		"other payload":    forged(`{"iss":"cardvault","sub":"x","iat":1,"exp":99999999999}`),
		"alg none":         noneHeader + "." + parts[1] + ".",
		"swapped sig":      parts[0] + "." + parts[1] + "." + sig(all),
		"truncated":        two[:len(two)-2],
		"extra":            two + ".x",
		"padded signature": two + "=",
	} {
		r := get("/test/bearer/1234001/thing", tok)
		require.Equal(t, http.StatusUnauthorized, r.status, name)
		require.Equal(t, `Bearer realm="cardvault"`, r.header.Get("WWW-Authenticate"))
		require.Equal(t, "https://docs.payroc.com/api/errors#not-authorized", r.json(t)["type"], name)
	}
	require.Equal(t, http.StatusUnauthorized, e.do(req{method: "GET", path: "/test/no-terminal",
		header: map[string]string{"Authorization": "Basic " + two}}).status)

	// Expiry is enforced to the second.
	e.clock.Advance(time.Hour - time.Second)
	require.Equal(t, http.StatusOK, get("/test/no-terminal", two).status)
	e.clock.Advance(time.Second)
	require.Equal(t, http.StatusUnauthorized, get("/test/no-terminal", two).status)
}

// TestBearerAcrossServers: servers that share a store and master key accept
// each other's tokens; a server of another deployment, or one that no
// longer has the API key, does not.
func TestBearerAcrossServers(t *testing.T) {
	a := newEnv(t)
	b := newEnv(t, withStore(a.st, a.kr))
	b.dummyTokenRoutes()
	other := newEnv(t)
	other.dummyTokenRoutes()
	revoked := newEnv(t, withStore(a.st, a.kr), func(c *Config) { c.APIKeys = []APIKey{keyAll} })
	revoked.dummyTokenRoutes()

	tok := a.authorize(keyTwo.Key)
	h := map[string]string{"Authorization": "Bearer " + tok}
	require.Equal(t, http.StatusOK, b.do(req{method: "GET", path: "/test/bearer/1234001/thing", header: h}).status)
	require.Equal(t, http.StatusUnauthorized, other.do(req{method: "GET", path: "/test/bearer/1234001/thing", header: h}).status)
	require.Equal(t, http.StatusUnauthorized, revoked.do(req{method: "GET", path: "/test/bearer/1234001/thing", header: h}).status)
	// The server key in the store is wrapped, not in clear.
	raw := dumpStore(t, a.st)
	require.Contains(t, raw, serverKeyBucket)
}

func FuzzVerifyBearer(f *testing.F) {
	hasher := crypto.NewHasherFromKey(crypto.NewDataKey())
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a, err := newAuthenticator(nil, []APIKey{keyAll}, hasher, time.Hour, func() time.Time { return now })
	require.NoError(f, err)
	c, _ := a.apiKey(keyAll.Key)
	good, _ := a.issue(c)
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add("a.b.c")
	f.Add(bearerHeader + ".e30.")
	f.Fuzz(func(t *testing.T, tok string) {
		got, ok := a.verify(tok)
		if ok {
			// Only the genuine token (or one equal to it) verifies.
			require.Equal(t, good, tok)
			require.Equal(t, c, got)
		}
	})
}

func dumpStore(t testing.TB, s *store.Store) string {
	t.Helper()
	var b strings.Builder
	memstore.Dump(s, func(bucket string, key, value []byte) {
		b.WriteString(bucket)
		b.Write(key)
		b.Write(value)
	})
	return b.String()
}
