package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/access"
)

func TestKeys(t *testing.T) {
	e := newEnv(t)

	t.Run("create with a passphrase", func(t *testing.T) {
		pass := secret("passphrase", "ALongAndVerySecretPassphraseThatIsSuperSecure")
		r := e.alice("POST", "/v1/key", nil, `{"user":"test-user","passphrase":"`+pass+`"}`)
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, map[string]any{"user": "test-user", "passphrase": pass}, r.json(t))
		require.Equal(t, "no-store", r.header.Get("Cache-Control"))

		r = e.alice("POST", "/v1/key", nil, `{"user":"test-user","passphrase":"`+pass+`"}`)
		require.Equal(t, http.StatusConflict, r.status)
		require.Contains(t, r.errorText(t), "key exists")
	})

	t.Run("create with a generated passphrase", func(t *testing.T) {
		r := e.alice("POST", "/v1/key", nil, `{"user":"generated"}`)
		require.Equal(t, http.StatusOK, r.status)
		pass := secret("passphrase", r.json(t)["passphrase"].(string))
		require.Len(t, pass, 64)
		// It opens the key.
		r = e.alice("POST", "/v1/vault", vaultKey{"generated", pass}.query(), `{"number":"`+seedNumber+`"}`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	})

	t.Run("create from query parameters", func(t *testing.T) {
		pass := secret("passphrase", "query-passphrase-0f9e")
		r := e.do(req{method: "POST", path: "/v1/key", query: url.Values{"user": {"from-query"}, "passphrase": {pass}}, basic: &aliceBasic})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, "from-query", r.json(t)["user"])
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, c := range []struct{ body, want string }{
			{`{"user":""}`, "user is required"},
			{`{"usr":"x"}`, `unknown field "usr"`},
			{`{"user":"a","user":"b"}`, "duplicate"},
			{`{"user":1}`, "user has the wrong type"},
			{`["user"]`, "must be a JSON object"},
			{`{"user":"x","new_passphrase":"y"}`, "new_passphrase belongs to PUT"},
		} {
			r := e.alice("POST", "/v1/key", nil, c.body)
			require.Equal(t, http.StatusBadRequest, r.status, c.body)
			require.Contains(t, r.errorText(t), c.want, c.body)
		}
		// An empty body's type does not matter (curl -d ''); the query is read.
		r := e.do(req{method: "POST", path: "/v1/key", query: url.Values{"user": {"empty-form"}}, contentType: "application/x-www-form-urlencoded", basic: &aliceBasic})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		secret("passphrase", r.json(t)["passphrase"].(string))
		r = e.do(req{method: "POST", path: "/v1/key", body: `user=x`, contentType: "application/x-www-form-urlencoded", basic: &aliceBasic})
		require.Equal(t, http.StatusUnsupportedMediaType, r.status)
		require.Contains(t, r.errorText(t), "Content-Type: application/json")
		r = e.do(req{method: "POST", path: "/v1/key", body: `{"user":"` + strings.Repeat("x", 20<<10) + `"}`, basic: &aliceBasic})
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status)
	})

	t.Run("list pages with X-PCIVault-Next-Token", func(t *testing.T) {
		e := newEnv(t)
		for _, u := range []string{"u1", "u2", "u3"} {
			e.newKey(u)
		}
		var users []string
		next := ""
		for page := 0; page < 5; page++ {
			h := map[string]string{}
			if next != "" {
				h[headerNextToken] = next
			}
			r := e.do(req{method: "GET", path: "/v1/key", query: url.Values{"limit": {"2"}}, header: h, basic: &aliceBasic})
			require.Equal(t, http.StatusOK, r.status)
			for _, k := range r.list(t) {
				users = append(users, k["user"].(string))
				_, err := time.Parse(time.RFC3339, k["created_at"].(string))
				require.NoError(t, err)
			}
			next = r.header.Get(headerNextToken)
			if next == "" {
				break
			}
		}
		require.Equal(t, []string{"u1", "u2", "u3"}, users)
		// The cursor also works as a query parameter.
		r := e.alice("GET", "/v1/key", url.Values{"limit": {"1"}, "next_token": {base64.RawURLEncoding.EncodeToString([]byte("u1"))}}, "")
		require.Equal(t, "u2", r.list(t)[0]["user"])
		for _, bad := range []string{"0", "1001", "x"} {
			require.Equal(t, http.StatusBadRequest, e.alice("GET", "/v1/key", url.Values{"limit": {bad}}, "").status)
		}
		require.Equal(t, http.StatusBadRequest, e.alice("GET", "/v1/key", url.Values{"next_token": {"!!"}}, "").status)
	})

	t.Run("change passphrase", func(t *testing.T) {
		k := e.newKey("rotating")
		tok := e.storeCard(k, "r1")
		newPass := secret("passphrase", "the-new-passphrase-3c2b")
		r := e.alice("PUT", "/v1/key", nil, mustJSON(t, map[string]string{"user": k.user, "passphrase": k.passphrase, "new_passphrase": newPass}))
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, map[string]any{"user": k.user, "passphrase": newPass}, r.json(t))

		r = e.alice("GET", "/v1/vault", k.query("token", tok, "reference", "r1"), "")
		require.Equal(t, http.StatusUnauthorized, r.status, "the old passphrase stops working")
		require.Empty(t, r.header.Get("WWW-Authenticate"), "a wrong vault key is not a Basic auth failure")
		r = e.alice("GET", "/v1/vault", vaultKey{k.user, newPass}.query("token", tok, "reference", "r1"), "")
		require.Equal(t, http.StatusOK, r.status)

		r = e.alice("PUT", "/v1/key", nil, mustJSON(t, map[string]string{"user": k.user, "passphrase": "wrong"}))
		require.Equal(t, http.StatusUnauthorized, r.status)
		require.Equal(t, "vault: wrong user or passphrase: unauthorized", r.errorText(t))
	})

	t.Run("delete", func(t *testing.T) {
		k := e.newKey("doomed")
		e.storeCard(k, "d1")
		r := e.alice("DELETE", "/v1/key", url.Values{"user": {k.user}, "safe": {"true"}}, "")
		require.Equal(t, http.StatusConflict, r.status, "a safe delete keeps a key that holds data")
		require.Equal(t, http.StatusBadRequest, e.alice("DELETE", "/v1/key", url.Values{"user": {k.user}, "safe": {"maybe"}}, "").status)
		r = e.alice("DELETE", "/v1/key", url.Values{"user": {k.user}}, "")
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, map[string]any{"user": k.user}, r.json(t))
		require.Equal(t, http.StatusNotFound, e.alice("DELETE", "/v1/key", url.Values{"user": {k.user}}, "").status)
		require.Equal(t, http.StatusUnauthorized, e.alice("POST", "/v1/vault", k.query(), seedCard).status)
	})
}

func TestVault(t *testing.T) {
	e := newEnv(t)
	k := e.newKey("test-user")

	t.Run("tokenize and retrieve", func(t *testing.T) {
		r := e.alice("POST", "/v1/vault", k.query("reference", "my-reference"), seedCard)
		require.Equal(t, http.StatusOK, r.status)
		m := r.json(t)
		require.Regexp(t, `^[0-9a-f]{64}$`, m["token"])
		require.Equal(t, "test-user", m["user"])
		require.Equal(t, "my-reference", m["reference"])

		r = e.alice("GET", "/v1/vault", k.query("token", m["token"].(string), "reference", "my-reference"), "")
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, "application/json", r.header.Get("Content-Type"))
		require.Equal(t, "no-store", r.header.Get("Cache-Control"), "card data is never cached")
		require.JSONEq(t, seedCard, string(r.body))

		// The same number gives the same token; the reference is optional
		// on reads while the token has one item.
		r = e.alice("GET", "/v1/vault", k.query("token", m["token"].(string)), "")
		require.Equal(t, http.StatusOK, r.status)
		r2 := e.alice("POST", "/v1/vault", k.query("reference", "second"), seedCard)
		require.Equal(t, m["token"], r2.json(t)["token"])
		r = e.alice("GET", "/v1/vault", k.query("token", m["token"].(string)), "")
		require.Equal(t, http.StatusBadRequest, r.status)
		require.Contains(t, r.errorText(t), "name the reference")
	})

	t.Run("algorithms and the number parameter", func(t *testing.T) {
		number := secret("card number", "5555555555554444")
		r := e.alice("POST", "/v1/vault", k.query("algorithm", "luhn"), `{"n":"`+number+`"}`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Regexp(t, `^[0-9]{16}$`, r.json(t)["token"])
		require.NotEmpty(t, r.json(t)["reference"], "a reference is generated")

		r = e.alice("POST", "/v1/vault", k.query("number", number), `{"holder":"x"}`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, http.StatusBadRequest, e.alice("POST", "/v1/vault", k.query("algorithm", "sha1"), seedCard).status)
	})

	t.Run("list", func(t *testing.T) {
		k := e.newKey("lister")
		e.storeCard(k, "a")
		e.storeCard(k, "b")
		r := e.alice("GET", "/v1/vault", url.Values{"user": {"lister"}}, "")
		require.Equal(t, http.StatusOK, r.status)
		var got map[string][]map[string]string
		require.NoError(t, json.Unmarshal(r.body, &got))
		require.Len(t, got["lister"], 2)
		require.Equal(t, "a", got["lister"][0]["reference"])
		require.Equal(t, "b", got["lister"][1]["reference"])

		r = e.alice("GET", "/v1/vault", url.Values{"user": {"lister"}, "limit": {"1"}}, "")
		require.NotEmpty(t, r.header.Get(headerNextToken))
		r = e.do(req{method: "GET", path: "/v1/vault", query: url.Values{"user": {"lister"}, "limit": {"1"}},
			header: map[string]string{headerNextToken: r.header.Get(headerNextToken)}, basic: &aliceBasic})
		require.NoError(t, json.Unmarshal(r.body, &got))
		require.Equal(t, "b", got["lister"][0]["reference"])
		require.Equal(t, http.StatusNotFound, e.alice("GET", "/v1/vault", url.Values{"user": {"nobody"}}, "").status)
	})

	t.Run("delete", func(t *testing.T) {
		k := e.newKey("deleter")
		tok := e.storeCard(k, "gone")
		r := e.alice("DELETE", "/v1/vault", url.Values{"user": {k.user}, "token": {tok}, "reference": {"gone"}}, "")
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, map[string]any{"user": k.user, "token": tok, "reference": "gone"}, r.json(t))
		require.Equal(t, http.StatusNotFound, e.alice("GET", "/v1/vault", k.query("token", tok, "reference", "gone"), "").status)
		require.Equal(t, http.StatusNotFound, e.alice("DELETE", "/v1/vault", url.Values{"user": {k.user}, "token": {tok}, "reference": {"gone"}}, "").status)
	})

	t.Run("errors", func(t *testing.T) {
		cases := []struct {
			name   string
			q      url.Values
			body   string
			status int
			want   string
		}{
			{"no number", k.query(), `{"card_holder":"x"}`, 400, "no number to tokenize"},
			{"not an object", k.query(), `[1,2]`, 400, "object"},
			{"invalid JSON", k.query(), `{"number":`, 400, "vault"},
			{"wrong passphrase", vaultKey{k.user, "nope"}.query(), seedCard, 401, "wrong user or passphrase"},
			{"unknown user", vaultKey{"ghost", "nope"}.query(), seedCard, 401, "wrong user or passphrase"},
		}
		for _, c := range cases {
			r := e.alice("POST", "/v1/vault", c.q, c.body)
			require.Equal(t, c.status, r.status, c.name)
			require.Contains(t, r.errorText(t), c.want, c.name)
		}
		r := e.alice("GET", "/v1/vault", k.query("token", strings.Repeat("0", 64), "reference", "x"), "")
		require.Equal(t, http.StatusNotFound, r.status)
	})

	t.Run("256 KB body cap", func(t *testing.T) {
		pad := func(n int) string {
			head := `{"number":"` + seedNumber + `","pad":"`
			return head + strings.Repeat("x", n-len(head)-2) + `"}`
		}
		r := e.alice("POST", "/v1/vault", k.query("reference", "big"), pad(MaxVaultBody))
		require.Equal(t, http.StatusOK, r.status, "exactly 256 KiB is stored")
		r = e.alice("POST", "/v1/vault", k.query("reference", "bigger"), pad(MaxVaultBody+1))
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status)
		require.Contains(t, r.errorText(t), "262144")
	})

	t.Run("content types", func(t *testing.T) {
		for ct, status := range map[string]int{
			"-": 200, "application/json; charset=utf-8": 200, "text/plain;charset=UTF-8": 200,
			"application/merge-patch+json": 200, "application/x-www-form-urlencoded": 415,
			"multipart/form-data; boundary=x": 415, "text/html": 415, "application/json; x": 415,
		} {
			r := e.do(req{method: "POST", path: "/v1/vault", query: k.query("reference", "ct"), body: seedCard, contentType: ct, basic: &aliceBasic})
			require.Equal(t, status, r.status, ct)
		}
	})
}

// TestAccountIsolation: the Basic account is the owner of its vault keys;
// nothing of alice's is reachable as bob.
func TestAccountIsolation(t *testing.T) {
	e := newEnv(t)
	k := e.newKey("shared-name")
	tok := e.storeCard(k, "mine")
	g := e.alice("POST", "/v1/capture", k.query("ttl", "PT10M"), "").json(t)
	f := e.alice("POST", "/v1/capture/iframe", url.Values{"form_type": {"pcd"}}, "").json(t)
	bob := func(method, path string, q url.Values, body string) reply {
		return e.do(req{method: method, path: path, query: q, body: body, basic: &bobBasic})
	}

	r := bob("GET", "/v1/key", nil, "")
	require.Equal(t, http.StatusOK, r.status)
	require.Empty(t, r.list(t), "bob sees none of alice's keys")
	require.Equal(t, http.StatusUnauthorized, bob("GET", "/v1/vault", k.query("token", tok, "reference", "mine"), "").status)
	require.Equal(t, http.StatusNotFound, bob("GET", "/v1/vault", url.Values{"user": {k.user}}, "").status)
	require.Equal(t, http.StatusUnauthorized, bob("POST", "/v1/vault", k.query(), seedCard).status)
	require.Equal(t, http.StatusNotFound, bob("DELETE", "/v1/vault", url.Values{"user": {k.user}, "token": {tok}, "reference": {"mine"}}, "").status)
	require.Equal(t, http.StatusUnauthorized, bob("POST", "/v1/capture", k.query(), "").status)
	r = bob("GET", "/v1/capture", url.Values{"user": {k.user}}, "")
	require.Equal(t, http.StatusOK, r.status)
	require.Empty(t, r.list(t), "bob sees none of alice's endpoints")
	require.Equal(t, http.StatusNotFound, bob("DELETE", "/v1/capture/"+g["id"].(string), nil, "").status)
	require.Equal(t, http.StatusNotFound, bob("DELETE", "/v1/capture/iframe/"+f["id"].(string), nil, "").status)
	require.Equal(t, http.StatusNotFound, bob("DELETE", "/v1/key", url.Values{"user": {k.user}}, "").status)

	// bob may have a key of the same name, which is his own.
	r = bob("POST", "/v1/key", nil, `{"user":"shared-name","passphrase":"`+secret("passphrase", "bobs-own-passphrase-55")+`"}`)
	require.Equal(t, http.StatusOK, r.status)
	r = bob("GET", "/v1/vault", url.Values{"user": {"shared-name"}}, "")
	require.JSONEq(t, `{"shared-name":[]}`, string(r.body))
	// alice's data is intact.
	require.Equal(t, http.StatusOK, e.alice("GET", "/v1/vault", k.query("token", tok, "reference", "mine"), "").status)

	// Basic auth itself.
	for name, a := range map[string]*access.Account{
		"none": nil, "wrong password": {Name: "alice", Password: "bob-password-77a0d2"},
		"unknown": {Name: "carol", Password: "alice-password-4f1c9e"}, "empty": {},
	} {
		r := e.do(req{method: "GET", path: "/v1/key", basic: a})
		require.Equal(t, http.StatusUnauthorized, r.status, name)
		require.Equal(t, `Basic realm="cardvault", charset="UTF-8"`, r.header.Get("WWW-Authenticate"), name)
		require.Equal(t, "missing or wrong basic auth credentials", r.errorText(t))
	}
}

func TestCaptureEndpoints(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AllowUnexpiringCapture = true }) // "list and delete" lists one that never expires
	k := e.newKey("test-user")
	tok := e.storeCard(k, "my-reference")
	post := func(id, secretValue, body string) reply {
		return e.do(req{method: "POST", path: "/v1/capture/" + id, body: body, header: map[string]string{headerCaptureSecret: secretValue}})
	}

	t.Run("the seed's locked endpoint", func(t *testing.T) {
		r := e.alice("POST", "/v1/capture", k.query("ttl", "PT10M", "token", tok, "reference", "my-reference"), "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		g := r.json(t)
		id := g["id"].(string)
		require.Equal(t, "/v1/capture/"+id, g["url"])
		require.Regexp(t, `^[A-Za-z0-9_-]{64}$`, g["secret"])
		sec := secret("capture secret", g["secret"].(string))
		require.Equal(t, e.clock.Now().Add(10*time.Minute).Format(time.RFC3339), g["expires_at"])
		require.Equal(t, map[string]any{"token": tok, "reference": "my-reference"}, g["lockdown_info"])

		cvv := secret("cvv", "145")
		r = post(id, sec, `{"card_expiry":"06-2025","cvv":"`+cvv+`"}`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, map[string]any{"user": "test-user", "token": tok, "reference": "my-reference"}, r.json(t))
		require.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))

		r = e.alice("GET", "/v1/vault", k.query("token", tok, "reference", "my-reference"), "")
		var card map[string]string
		require.NoError(t, json.Unmarshal(r.body, &card))
		require.Equal(t, cvv, card["cvv"])
		require.Equal(t, "06-2025", card["card_expiry"])
		require.Equal(t, seedNumber, card["card_number"])

		// The number is immutable through the endpoint too.
		r = post(id, sec, `{"card_number":"`+secret("card number", "4242424242424242")+`"}`)
		require.Equal(t, http.StatusBadRequest, r.status)
		require.Contains(t, r.errorText(t), "cannot change")

		// After ten minutes it is gone.
		e.clock.Advance(11 * time.Minute)
		r = post(id, sec, `{"cvv":"999"}`)
		require.Equal(t, http.StatusGone, r.status)
	})

	t.Run("unknown endpoint and wrong secret look the same", func(t *testing.T) {
		g := e.alice("POST", "/v1/capture", k.query("token", tok), "").json(t)
		wrong := post(g["id"].(string), "not-the-secret", `{"cvv":"111"}`)
		unknown := post("no-such-endpoint", "not-the-secret", `{"cvv":"111"}`)
		missing := post(g["id"].(string), "", `{"cvv":"111"}`)
		for _, r := range []reply{wrong, unknown, missing} {
			require.Equal(t, http.StatusForbidden, r.status)
			require.Equal(t, `{"error":"unknown capture endpoint or wrong secret"}`, compactJSON(t, r.body))
			require.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
		}
	})

	t.Run("locked after too many wrong secrets", func(t *testing.T) {
		g := e.alice("POST", "/v1/capture", k.query("token", tok), "").json(t)
		for range 10 {
			require.Equal(t, http.StatusForbidden, post(g["id"].(string), "guess", `{}`).status)
		}
		r := post(g["id"].(string), secret("capture secret", g["secret"].(string)), `{"cvv":"321"}`)
		require.Equal(t, http.StatusLocked, r.status)
		require.Equal(t, "60", r.header.Get("Retry-After"), "the first lock lifts after a minute")
		// An id with no endpoint locks the same way.
		for range 10 {
			post("never-existed", "guess", `{}`)
		}
		r = post("never-existed", "guess", `{}`)
		require.Equal(t, http.StatusLocked, r.status)
		require.Equal(t, "60", r.header.Get("Retry-After"))
	})

	t.Run("open endpoint stores new cards", func(t *testing.T) {
		g := e.alice("POST", "/v1/capture", k.query("unique_id", "open-endpoint", "ttl", "P1D"), "").json(t)
		require.Equal(t, "open-endpoint", g["id"])
		require.Nil(t, g["lockdown_info"])
		number := secret("card number", "378282246310005")
		r := post("open-endpoint", secret("capture secret", g["secret"].(string)), `{"card_number":"`+number+`","reference":"captured"}`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		m := r.json(t)
		require.Equal(t, "captured", m["reference"])
		r = e.alice("GET", "/v1/vault", k.query("token", m["token"].(string), "reference", "captured"), "")
		require.JSONEq(t, `{"card_number":"`+number+`"}`, string(r.body))

		r = e.alice("POST", "/v1/capture", k.query("unique_id", "open-endpoint"), "")
		require.Equal(t, http.StatusConflict, r.status, "unique ids are unique")
		r = e.alice("POST", "/v1/capture", k.query("unique_id", "iframe"), "")
		require.Equal(t, http.StatusBadRequest, r.status)
		require.Contains(t, r.errorText(t), "reserved")
	})

	t.Run("options in the body: single use, allowed fields, webhook", func(t *testing.T) {
		type hook struct {
			secret string
			body   map[string]any
		}
		hooks := make(chan hook, 4)
		receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var m map[string]any
			_ = json.NewDecoder(r.Body).Decode(&m)
			hooks <- hook{r.Header.Get("X-PCIVault-Webhook-Secret"), m}
		}))
		defer receiver.Close()
		whSecret := secret("webhook secret", "webhook-secret-6d5c4b3a")
		body := mustJSON(t, map[string]any{
			"single_use": true, "allowed_fields": []string{"cvv", "card_expiry"},
			"webhook": map[string]string{"url": receiver.URL + "/hook", "secret": whSecret},
		})
		g := e.alice("POST", "/v1/capture", k.query("token", tok), body).json(t)
		sec := secret("capture secret", g["secret"].(string))
		r := post(g["id"].(string), sec, `{"card_holder":"Mallory"}`)
		require.Equal(t, http.StatusBadRequest, r.status, "a field outside the allow-list")
		require.Contains(t, r.errorText(t), "not allowed")
		r = post(g["id"].(string), sec, `{"cvv":"777"}`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		r = post(g["id"].(string), sec, `{"cvv":"778"}`)
		require.Equal(t, http.StatusGone, r.status, "single use")

		select {
		case h := <-hooks:
			require.True(t, whSecret == h.secret, "the webhook carries its secret")
			info := h.body["token_info"].(map[string]any)
			require.Equal(t, tok, info["token"])
			require.Equal(t, "1111", info["safe_data"].(map[string]any)["last_four"])
			require.NotContains(t, mustJSON(t, h.body), seedNumber)
		case <-time.After(10 * time.Second):
			t.Fatal("the webhook was not called")
		}

		for _, bad := range []string{`{"single_use":"yes"}`, `{"webhook":{"url":"ftp://x","secret":"s"}}`, `{"fields":[]}`} {
			r := e.alice("POST", "/v1/capture", k.query(), bad)
			require.Equal(t, http.StatusBadRequest, r.status, bad)
		}
	})

	t.Run("list and delete", func(t *testing.T) {
		k := e.newKey("grants")
		tok := e.storeCard(k, "ref")
		a := e.alice("POST", "/v1/capture", k.query("unique_id", "g-a", "token", tok), "").json(t)
		e.alice("POST", "/v1/capture", k.query("unique_id", "g-b", "ttl", "P0T"), "")
		r := e.alice("GET", "/v1/capture", url.Values{"user": {"grants"}}, "")
		require.Equal(t, http.StatusOK, r.status)
		l := r.list(t)
		require.Len(t, l, 2)
		require.Equal(t, "g-a", l[0]["id"])
		require.Equal(t, "/v1/capture/g-a", l[0]["url"])
		require.Equal(t, map[string]any{"token": tok, "reference": "ref"}, l[0]["lockdown_info"])
		require.Nil(t, l[1]["expires_at"], "P0T never expires")
		require.NotContains(t, string(r.body), a["secret"].(string), "a list never shows secrets")
		require.NotContains(t, string(r.body), "secret")
		require.Equal(t, http.StatusBadRequest, e.alice("GET", "/v1/capture", nil, "").status)

		r = e.alice("DELETE", "/v1/capture/g-a", nil, "")
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, map[string]any{"id": "g-a"}, r.json(t))
		require.Equal(t, http.StatusNotFound, e.alice("DELETE", "/v1/capture/g-a", nil, "").status)
		require.Equal(t, http.StatusGone, post("g-a", secret("capture secret", a["secret"].(string)), `{"cvv":"1"}`).status,
			"a deleted endpoint with its right secret")
		require.Len(t, e.alice("GET", "/v1/capture", url.Values{"user": {"grants"}}, "").list(t), 1)
	})

	t.Run("bad requests", func(t *testing.T) {
		cases := []struct {
			q      url.Values
			status int
			want   string
		}{
			{k.query("ttl", "P1M"), 400, "invalid ttl"},
			{k.query("ttl", "10 minutes"), 400, "invalid ttl"},
			{k.query("token", "nope"), 404, "no such item"},
			{k.query("reference", "r"), 400, "only with token"},
			{k.query("unique_id", "a/b"), 400, "unique_id"},
			{vaultKey{k.user, "wrong"}.query(), 401, "wrong user or passphrase"},
		}
		for _, c := range cases {
			r := e.alice("POST", "/v1/capture", c.q, "")
			require.Equal(t, c.status, r.status, c.q.Encode())
			require.Contains(t, r.errorText(t), c.want)
		}
		g := e.alice("POST", "/v1/capture", k.query("token", tok), "").json(t)
		sec := secret("capture secret", g["secret"].(string))
		r := e.do(req{method: "POST", path: "/v1/capture/" + g["id"].(string), body: `cvv=1`,
			contentType: "application/x-www-form-urlencoded", header: map[string]string{headerCaptureSecret: sec}})
		require.Equal(t, http.StatusUnsupportedMediaType, r.status)
		require.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
		r = e.do(req{method: "POST", path: "/v1/capture/" + g["id"].(string), body: `{"x":"` + strings.Repeat("y", MaxVaultBody) + `"}`,
			header: map[string]string{headerCaptureSecret: sec}})
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status)
		// The seed's browser code posts a string body: text/plain.
		r = e.do(req{method: "POST", path: "/v1/capture/" + g["id"].(string), body: `{"cvv":"246"}`,
			contentType: "text/plain;charset=UTF-8", header: map[string]string{headerCaptureSecret: sec}})
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	})

	t.Run("CORS preflight", func(t *testing.T) {
		r := e.do(req{method: "OPTIONS", path: "/v1/capture/anything", header: map[string]string{
			"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "content-type,x-pcivault-capture-secret",
		}})
		require.Equal(t, http.StatusNoContent, r.status)
		require.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
		require.Equal(t, "POST, OPTIONS", r.header.Get("Access-Control-Allow-Methods"))
		allowed := strings.ToLower(r.header.Get("Access-Control-Allow-Headers"))
		require.Contains(t, allowed, "content-type")
		require.Contains(t, allowed, "x-pcivault-capture-secret")
		require.Empty(t, r.header.Get("Access-Control-Allow-Credentials"), "no credentials: the secret is the credential")
		// The Basic-auth routes answer no CORS.
		r = e.do(req{method: "OPTIONS", path: "/v1/capture", header: map[string]string{"Origin": "https://shop.example"}})
		require.Equal(t, http.StatusMethodNotAllowed, r.status)
		require.Empty(t, r.header.Get("Access-Control-Allow-Origin"))
	})
}

func TestHostedForms(t *testing.T) {
	seedBody := func(callback string) string {
		return mustJSON(t, map[string]any{
			"success_callback": base64.StdEncoding.EncodeToString([]byte(callback)),
			"field_options": map[string]any{
				"reference": map[string]bool{"visible": false}, "card_holder": map[string]bool{"visible": false},
				"expiry": map[string]bool{"visible": false}, "card_number": map[string]bool{"visible": false},
			},
		})
	}
	callback := "function(responseData, requestData) {\nconst reference = responseData.reference;\n" +
		"window.location.replace(`https://mywebsite.com/update/success?reference=${reference}`);\n}"

	t.Run("create and load, link from the request host", func(t *testing.T) {
		e := newEnv(t)
		k := e.newKey("test-user")
		tok := e.storeCard(k, "my-reference")
		r := e.do(req{method: "POST", path: "/v1/capture/iframe", query: url.Values{"form_type": {"pcd"}},
			body: seedBody(callback), contentType: "-", basic: &aliceBasic}) // Python's data= sends no Content-Type
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		f := r.json(t)
		require.Equal(t, "pcd", f["type"])
		require.Regexp(t, `^[1-9A-HJ-NP-Za-km-z]{22}$`, f["id"])
		require.Equal(t, "example.com/v1/capture/iframe/"+f["id"].(string), f["link"], "httptest's host, no scheme")

		g := e.alice("POST", "/v1/capture", k.query("ttl", "PT10M", "token", tok, "reference", "my-reference"), "").json(t)
		sec := secret("capture secret", g["secret"].(string))
		page := e.do(req{method: "GET", path: "/v1/capture/iframe/" + f["id"].(string),
			query: url.Values{"unique_id": {g["id"].(string)}, "secret": {sec}}})
		require.Equal(t, http.StatusOK, page.status)
		require.Contains(t, string(page.body), `id="cv-cvv"`)
		require.NotContains(t, string(page.body), `id="cv-card-number"`)
		require.NotContains(t, string(page.body), sec)
		require.Contains(t, page.header.Get("Content-Security-Policy"), "default-src 'none'")
		require.Equal(t, "no-referrer", page.header.Get("Referrer-Policy"))

		wrong := e.do(req{method: "GET", path: "/v1/capture/iframe/" + f["id"].(string),
			query: url.Values{"unique_id": {g["id"].(string)}, "secret": {"nope"}}})
		require.Equal(t, http.StatusGone, wrong.status)
		head := e.do(req{method: "HEAD", path: "/v1/capture/iframe/" + f["id"].(string),
			query: url.Values{"unique_id": {g["id"].(string)}, "secret": {sec}}})
		require.Equal(t, http.StatusOK, head.status)
		require.Empty(t, head.body)

		// The standard forms need no configuration.
		for typ, field := range map[string]string{"pcd": "cv-card-number", "ach": "cv-routing-number"} {
			page := e.do(req{method: "GET", path: "/v1/capture/iframe/" + typ, query: url.Values{"unique_id": {g["id"].(string)}, "secret": {sec}}})
			require.Equal(t, http.StatusOK, page.status, typ)
			require.Contains(t, string(page.body), `id="`+field+`"`, typ)
		}
		require.Equal(t, http.StatusNotFound, e.do(req{method: "GET", path: "/v1/capture/iframe/custom"}).status)
		require.Equal(t, http.StatusNotFound, e.do(req{method: "GET", path: "/v1/capture/iframe/1111111111111111111111"}).status)

		r = e.alice("DELETE", "/v1/capture/iframe/"+f["id"].(string), nil, "")
		require.Equal(t, http.StatusOK, r.status)
		require.Equal(t, http.StatusNotFound, e.do(req{method: "GET", path: "/v1/capture/iframe/" + f["id"].(string)}).status)
	})

	t.Run("link from the public URL", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.PublicURL = "https://vault.example.com/cv/" })
		f := e.alice("POST", "/v1/capture/iframe", url.Values{"form_type": {"ach"}}, "").json(t)
		require.Equal(t, "vault.example.com/cv/v1/capture/iframe/"+f["id"].(string), f["link"])
		k := e.newKey("u")
		g := e.alice("POST", "/v1/capture", k.query(), "").json(t)
		require.Equal(t, "/cv/v1/capture/"+g["id"].(string), g["url"])
		page := e.do(req{method: "GET", path: "/v1/capture/iframe/" + f["id"].(string),
			query: url.Values{"unique_id": {g["id"].(string)}, "secret": {secret("capture secret", g["secret"].(string))}}})
		require.Contains(t, string(page.body), `data-capture-url="/cv/v1/capture/`+g["id"].(string)+`"`)
	})

	t.Run("bad requests", func(t *testing.T) {
		e := newEnv(t)
		r := e.alice("POST", "/v1/capture/iframe", url.Values{"form_type": {"paypal"}}, "")
		require.Equal(t, http.StatusBadRequest, r.status)
		require.Contains(t, r.errorText(t), "form_type")
		r = e.alice("POST", "/v1/capture/iframe", url.Values{"form_type": {"pcd"}}, `{"field_option":{}}`)
		require.Equal(t, http.StatusBadRequest, r.status)
		require.Contains(t, r.errorText(t), "/field_option")
		r = e.alice("POST", "/v1/capture/iframe", url.Values{"form_type": {"pcd"}}, `{"embedded_css":"`+strings.Repeat("A", 100<<10)+`"}`)
		require.Equal(t, http.StatusRequestEntityTooLarge, r.status)
		require.Equal(t, http.StatusUnauthorized, e.do(req{method: "POST", path: "/v1/capture/iframe"}).status)
	})
}

func TestUnmatchedRoutes(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "GET", path: "/v2/vault"})
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "not found", r.errorText(t))
	r = e.do(req{method: "PATCH", path: "/v1/key"})
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	require.Equal(t, "method not allowed", r.errorText(t))
	require.Contains(t, r.header.Get("Allow"), "POST")

	r = e.do(req{method: "GET", path: "/v1/processing-terminals/1234001/nothing"})
	require.Equal(t, http.StatusNotFound, r.status)
	require.Equal(t, "application/problem+json", r.header.Get("Content-Type"))
	require.Equal(t, DefaultErrorsBaseURL+"#not-found", r.json(t)["type"])
	r = e.do(req{method: "GET", path: "/authorize"})
	require.Equal(t, http.StatusMethodNotAllowed, r.status)
	require.Equal(t, float64(405), r.json(t)["status"])
}

// TestConcurrentRequests runs the vault routes from many goroutines, for
// the race detector.
func TestConcurrentRequests(t *testing.T) {
	e := newEnv(t)
	k := e.newKey("busy")
	tok := e.storeCard(k, "r")
	g := e.alice("POST", "/v1/capture", k.query("token", tok, "reference", "r"), "").json(t)
	sec := secret("capture secret", g["secret"].(string))
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 5 {
				switch (i + j) % 3 {
				case 0:
					require.Equal(t, http.StatusOK, e.alice("GET", "/v1/vault", k.query("token", tok, "reference", "r"), "").status)
				case 1:
					r := e.do(req{method: "POST", path: "/v1/capture/" + g["id"].(string), body: `{"note":"x"}`, header: map[string]string{headerCaptureSecret: sec}})
					require.Equal(t, http.StatusOK, r.status)
				case 2:
					require.Equal(t, http.StatusOK, e.do(req{method: "GET", path: "/metrics"}).status)
				}
			}
		}()
	}
	wg.Wait()
}
