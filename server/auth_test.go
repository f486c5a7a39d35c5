package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/internal/teststores"
)

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
	revoked := newEnv(t, withStore(a.st, a.kr), func(c *Config) { c.APIKeys = []access.APIKey{keyAll} })
	revoked.dummyTokenRoutes()

	tok := a.authorize(keyTwo.Key)
	h := map[string]string{"Authorization": "Bearer " + tok}
	require.Equal(t, http.StatusOK, b.do(req{method: "GET", path: "/test/bearer/1234001/thing", header: h}).status)
	require.Equal(t, http.StatusUnauthorized, other.do(req{method: "GET", path: "/test/bearer/1234001/thing", header: h}).status)
	require.Equal(t, http.StatusUnauthorized, revoked.do(req{method: "GET", path: "/test/bearer/1234001/thing", header: h}).status)
	// The server key in the store is wrapped, not in clear.
	raw := string(teststores.Memstore.Raw(t, a.st))
	require.Contains(t, raw, "server.keys", "the bucket of the deployment's key")
}
