package server

// Tests of the secure-token API's routes (tokenapi.go) through the whole
// handler: every route's successes and errors, authentication, content
// negotiation, limits and Idempotency-Key. Every response they get is also
// validated against the publisher's contract (contract_test.go).

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/internal/loadgen"
	"github.com/cardvault/cardvault/luhn"
	"github.com/cardvault/cardvault/securetoken"
)

// Processing terminals of the tests: keyTwo may act for termA and termB,
// keyAll for every one.
const (
	termA = "1234001"
	termB = "1234002"
	termX = "9999001"
)

// The numbers of the fixtures in testdata/tokenapi, registered as secrets.
var (
	fixtureCard       = secret("card number", "4539858876047062")
	fixtureNewCard    = secret("card number", "5555555555554444")
	_                 = secret("cvv", "234")
	_                 = secret("cvv", "987")
	fixtureACHAccount = secret("account number", "1234567890")
	fixturePADAccount = secret("account number", "87654321")
)

// fixture reads testdata/tokenapi/name.
func fixture(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "tokenapi", name))
	require.NoError(t, err)
	return string(b)
}

// set returns the JSON document doc with path (gjson/sjson syntax) set to
// v, or deleted when v is nil.
func set(t testing.TB, doc, path string, v any) string {
	t.Helper()
	var out string
	var err error
	if v == nil {
		out, err = sjson.Delete(doc, path)
	} else {
		out, err = sjson.Set(doc, path, v)
	}
	require.NoError(t, err)
	return out
}

// terminalURL is the path of a terminal's collection (secure-tokens,
// single-use-tokens, capture-endpoints), and below it.
func terminalURL(pt, collection string, rest ...string) string {
	p := "/v1/processing-terminals/" + pt + "/" + collection
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// tokenCaller calls the secure-token API as one API key, in process
// (env.caller) or over HTTP (remote.caller).
type tokenCaller struct {
	t      testing.TB
	send   func(req) reply
	bearer string
}

func (e *env) caller(key access.APIKey) *tokenCaller {
	return &tokenCaller{t: e.t, send: e.do, bearer: e.authorize(key.Key)}
}

// do sends a request with the bearer token and, for POST and PATCH, a new
// Idempotency-Key; header pairs add or replace headers ("" as a value
// removes one).
func (c *tokenCaller) do(method, path, body string, header ...string) reply {
	c.t.Helper()
	h := map[string]string{"Authorization": "Bearer " + c.bearer}
	if method == http.MethodPost || method == http.MethodPatch {
		h["Idempotency-Key"] = loadgen.NewIdempotencyKey()
	}
	ct := ""
	for i := 0; i+1 < len(header); i += 2 {
		switch {
		case header[i] == "Content-Type":
			ct = header[i+1]
		case header[i+1] == "":
			delete(h, header[i])
		default:
			h[header[i]] = header[i+1]
		}
	}
	r := c.send(req{method: method, path: path, body: body, header: h, contentType: ct})
	// Whatever secret a reply carries is one the logs must not.
	if s := gjson.GetBytes(r.body, "secret"); s.Type == gjson.String {
		secret("capture secret", s.Str)
	}
	if s := gjson.GetBytes(r.body, "token"); s.Type == gjson.String && len(s.Str) == 128 {
		secret("single-use token", s.Str)
	}
	return r
}

// create creates a secure token from body on pt and returns its resource.
func (c *tokenCaller) create(pt, body string) map[string]any {
	c.t.Helper()
	r := c.do("POST", terminalURL(pt, "secure-tokens"), body)
	require.Equal(c.t, http.StatusCreated, r.status, "%s", r.body)
	return r.json(c.t)
}

// get retrieves a secure token, requiring a 200.
func (c *tokenCaller) get(pt, id string) reply {
	c.t.Helper()
	r := c.do("GET", terminalURL(pt, "secure-tokens", url.PathEscape(id)), "")
	require.Equal(c.t, http.StatusOK, r.status, "%s", r.body)
	return r
}

// singleUse creates a single-use token on pt from body and returns it.
func (c *tokenCaller) singleUse(pt, body string) string {
	c.t.Helper()
	r := c.do("POST", terminalURL(pt, "single-use-tokens"), body)
	require.Equal(c.t, http.StatusCreated, r.status, "%s", r.body)
	return secret("single-use token", r.json(c.t)["token"].(string))
}

// problemErrors returns the errors member of a problem as (parameter,
// detail, message) triples.
func problemErrors(t testing.TB, r reply) [][3]string {
	t.Helper()
	var out [][3]string
	for _, e := range gjson.GetBytes(r.body, "errors").Array() {
		out = append(out, [3]string{e.Get("parameter").Str, e.Get("detail").Str, e.Get("message").Str})
	}
	return out
}

func problemParams(t testing.TB, r reply) []string {
	t.Helper()
	var out []string
	for _, e := range problemErrors(t, r) {
		out = append(out, e[0])
	}
	return out
}

var generatedID = regexp.MustCompile(`^MREF_[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSecureTokenCreate(t *testing.T) {
	e := newEnv(t)
	api := e.caller(keyTwo)
	card := fixture(t, "create-card.json")
	collection := terminalURL(termA, "secure-tokens")

	for _, tc := range []struct {
		name, body string
		id         string // "" means generated
		source     map[string]any
	}{
		{"card, given id", card, "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa",
			map[string]any{"type": "card", "cardholderName": "Sarah Hazel Hopper", "cardNumber": "453985******7062", "expiryDate": "1230", "cardType": "Visa"}},
		{"card, generated id", set(t, card, "secureTokenId", nil), "",
			map[string]any{"type": "card", "cardholderName": "Sarah Hazel Hopper", "cardNumber": "453985******7062", "expiryDate": "1230", "cardType": "Visa"}},
		{"card, an id to escape", set(t, card, "secureTokenId", "MREF 1?é"), "MREF 1?é",
			map[string]any{"type": "card", "cardholderName": "Sarah Hazel Hopper", "cardNumber": "453985******7062", "expiryDate": "1230", "cardType": "Visa"}},
		{"ach", fixture(t, "create-ach.json"), "MREF_ach",
			map[string]any{"type": "ach", "nameOnAccount": "Ada Lovelace", "accountNumber": "*****7890", "routingNumber": "011000015", "accountType": "checking"}},
		{"pad", fixture(t, "create-pad.json"), "MREF_pad",
			map[string]any{"type": "pad", "nameOnAccount": "Grace Hopper", "accountNumber": "*****4321", "transitNumber": "12345", "institutionNumber": "001", "accountType": "savings"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := api.do("POST", collection, tc.body)
			require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
			require.Equal(t, "application/json", r.header.Get("Content-Type"))
			require.Equal(t, "no-store", r.header.Get("Cache-Control"))
			m := r.json(t)
			id := m["secureTokenId"].(string)
			if tc.id == "" {
				require.Regexp(t, generatedID, id)
			} else {
				require.Equal(t, tc.id, id)
			}
			require.Equal(t, "http://example.com"+collection+"/"+url.PathEscape(id), r.header.Get("Location"))
			require.Equal(t, termA, m["processingTerminalId"])
			require.Equal(t, tc.source, m["source"])
			require.Equal(t, "notValidated", m["status"])
			tok := m["token"].(string)
			require.True(t, strings.HasPrefix(tok, "296753") && len(tok) >= 12 && len(tok) <= 19 && luhn.Valid(tok), "token %s", tok)
			for _, s := range []string{fixtureCard, fixtureACHAccount, fixturePADAccount, "cvv", "ipAddress", "operator"} {
				require.NotContains(t, string(r.body), s, "the resource never carries a whole number, a CVV or a write-only member")
			}
			// The Location is where the resource is.
			loc, err := url.Parse(r.header.Get("Location"))
			require.NoError(t, err)
			require.JSONEq(t, string(r.body), string(api.get(termA, id).body))
			require.Equal(t, loc.EscapedPath(), collection+"/"+url.PathEscape(id))
		})
	}

	t.Run("the seed's customer", func(t *testing.T) {
		m := api.get(termA, "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa").json(t)
		require.Equal(t, "unscheduled", m["mitAgreement"])
		require.Equal(t, gjson.Get(card, "customer").Value(), m["customer"])
		require.Equal(t, gjson.Get(card, "customFields").Value(), m["customFields"])
	})

	t.Run("duplicate id", func(t *testing.T) {
		before := api.get(termA, "MREF_ach").body
		r := api.do("POST", collection, set(t, card, "secureTokenId", "MREF_ach"))
		p := requireProblem(t, r, http.StatusConflict, "resource-already-exists")
		require.Equal(t, collection+"/MREF_ach", p["instance"], "the problem names the existing resource")
		require.Equal(t, []string{"/secureTokenId"}, problemParams(t, r))
		require.Equal(t, before, api.get(termA, "MREF_ach").body, "nothing changed")
		// Another terminal has its own ids.
		api.create(termB, set(t, card, "secureTokenId", "MREF_ach"))
	})

	t.Run("a deleted id is never reused", func(t *testing.T) {
		api.create(termA, set(t, card, "secureTokenId", "MREF_gone"))
		r := api.do("DELETE", collection+"/MREF_gone", "")
		require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
		for range 2 {
			r = api.do("POST", collection, set(t, card, "secureTokenId", "MREF_gone"))
			requireProblem(t, r, http.StatusConflict, "resource-already-exists")
			require.Equal(t, "retired", problemErrors(t, r)[0][1])
		}
		requireProblem(t, api.do("GET", collection+"/MREF_gone", ""), http.StatusNotFound, "not-found")
	})

	t.Run("invalid bodies", func(t *testing.T) {
		for _, tc := range []struct {
			name, body string
			params     []string
		}{
			{"every fault listed", set(t, set(t, set(t, card, "source.cardDetails.keyedData.cardNumber", "4539858876047063"),
				"customer.lastName", strings.Repeat("x", 61)), "mitAgreement", "sometimes"),
				[]string{"/customer/lastName", "/mitAgreement", "/source/cardDetails/keyedData/cardNumber"}},
			{"no source", set(t, card, "source", nil), []string{"/source/type"}},
			{"bad id", set(t, card, "secureTokenId", "a/b"), []string{"secureTokenId"}},
			{"unknown single-use token", `{"source":{"type":"singleUseToken","token":"` + strings.Repeat("0f", 64) + `"}}`, []string{"/source/token"}},
			{"not JSON", `{"source":`, nil},
			{"not an object", `[]`, nil},
			{"duplicate member", `{"source":{},"source":{}}`, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := api.do("POST", collection, tc.body)
				requireProblem(t, r, http.StatusBadRequest, "bad-request")
				require.NotEmpty(t, problemErrors(t, r))
				if tc.params != nil {
					require.Equal(t, tc.params, problemParams(t, r))
				}
				require.NotContains(t, string(r.body), "4539858876047063", "an error never repeats a value")
			})
		}
		// A terminal id outside the contract's 4–50 characters.
		all := e.caller(keyAll)
		r := all.do("POST", terminalURL("123", "secure-tokens"), card)
		requireProblem(t, r, http.StatusBadRequest, "bad-request")
		require.Equal(t, []string{"processingTerminalId"}, problemParams(t, r))
	})

	// Nothing the refused requests carried was saved.
	r := api.do("GET", collection+"?limit=100", "")
	require.Equal(t, float64(5), r.json(t)["count"], "%s", r.body)
}

func TestSecureTokenRetrieveDelete(t *testing.T) {
	e := newEnv(t)
	api, all := e.caller(keyTwo), e.caller(keyAll)
	created := api.create(termA, fixture(t, "create-card.json"))
	id := created["secureTokenId"].(string)
	path := terminalURL(termA, "secure-tokens", id)

	r := api.get(termA, id)
	require.Equal(t, "no-store", r.header.Get("Cache-Control"))
	require.Equal(t, created, r.json(t))

	for name, c := range map[string]struct {
		api  *tokenCaller
		path string
	}{
		"unknown id":          {api, terminalURL(termA, "secure-tokens", "MREF_nope")},
		"another terminal's":  {api, terminalURL(termB, "secure-tokens", id)},
		"a third terminal's":  {all, terminalURL(termX, "secure-tokens", id)},
		"an id over 200":      {api, terminalURL(termA, "secure-tokens", strings.Repeat("i", 201))},
		"an escaped slash id": {api, terminalURL(termA, "secure-tokens", "a%2Fb")},
	} {
		for _, method := range []string{"GET", "DELETE"} {
			p := requireProblem(t, c.api.do(method, c.path, ""), http.StatusNotFound, "not-found")
			require.Equal(t, "secureToken", p["resource"], name)
		}
	}

	r = api.do("DELETE", path, "")
	require.Equal(t, http.StatusNoContent, r.status, "%s", r.body)
	require.Empty(t, r.body)
	require.Empty(t, r.header.Get("Content-Type"))
	requireProblem(t, api.do("GET", path, ""), http.StatusNotFound, "not-found")
	requireProblem(t, api.do("DELETE", path, ""), http.StatusNotFound, "not-found")
	requireProblem(t, api.do("PATCH", path, `[]`), http.StatusNotFound, "not-found")
	list := api.do("GET", terminalURL(termA, "secure-tokens"), "").json(t)
	require.Equal(t, float64(0), list["count"])
	// Its token is not reused either: the card saved again gets another.
	again := api.create(termA, set(t, fixture(t, "create-card.json"), "secureTokenId", "MREF_again"))
	require.NotEqual(t, created["token"], again["token"])
}

func TestSecureTokenList(t *testing.T) {
	e := newEnv(t)
	api := e.caller(keyTwo)
	card := fixture(t, "create-card.json")
	collection := terminalURL(termA, "secure-tokens")

	// 25 tokens st-00 … st-24. Every fifth is Ada Lovelace's (name, email,
	// phone); st-07 is a Mastercard; the ACH one is st-ach.
	ids := make([]string, 25)
	tokens := map[string]string{}
	for i := range ids {
		ids[i] = fmt.Sprintf("st-%02d", i)
		body := set(t, card, "secureTokenId", ids[i])
		if i%5 == 0 {
			body = set(t, body, "customer.firstName", "Ada")
			body = set(t, body, "customer.lastName", "Lovelace")
			body = set(t, body, "customer.contactMethods.0.value", "Ada.Lovelace@Example.com")
			body = set(t, body, "customer.contactMethods.1.value", "+44 2079460018")
		}
		if i == 7 {
			body = set(t, body, "source.cardDetails.keyedData.cardNumber", fixtureNewCard)
		}
		tokens[ids[i]] = api.create(termA, body)["token"].(string)
	}
	api.create(termA, set(t, fixture(t, "create-ach.json"), "secureTokenId", "st-ach"))
	// Another terminal's tokens are never listed.
	api.create(termB, set(t, card, "secureTokenId", "st-00"))

	page := func(r reply) (data []string, m map[string]any) {
		t.Helper()
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		m = r.json(t)
		for _, d := range m["data"].([]any) {
			data = append(data, d.(map[string]any)["secureTokenId"].(string))
		}
		require.Equal(t, float64(len(data)), m["count"])
		return data, m
	}
	links := func(m map[string]any) map[string]string {
		out := map[string]string{}
		for _, l := range m["links"].([]any) {
			l := l.(map[string]any)
			require.Equal(t, "get", l["method"])
			out[l["rel"].(string)] = l["href"].(string)
		}
		return out
	}
	follow := func(href string) reply {
		t.Helper()
		u, err := url.Parse(href)
		require.NoError(t, err)
		require.Equal(t, "example.com", u.Host)
		return api.do("GET", u.RequestURI(), "")
	}

	t.Run("pages both ways", func(t *testing.T) {
		all := append(slices.Clone(ids), "st-ach")
		data, m := page(api.do("GET", collection, ""))
		require.Equal(t, all[:10], data)
		require.Equal(t, float64(10), m["limit"], "the default limit")
		require.Equal(t, true, m["hasMore"])
		l := links(m)
		require.Equal(t, map[string]string{"next": "http://example.com" + collection + "?after=st-09&limit=10"}, l)

		data, m = page(follow(l["next"]))
		require.Equal(t, all[10:20], data)
		require.Equal(t, true, m["hasMore"])
		l = links(m)
		require.Equal(t, "http://example.com"+collection+"?before=st-10&limit=10", l["previous"])

		data, m = page(follow(l["next"]))
		require.Equal(t, all[20:], data)
		require.Equal(t, false, m["hasMore"])
		l = links(m)
		require.NotContains(t, l, "next")

		// Back from the last page.
		data, m = page(follow(l["previous"]))
		require.Equal(t, all[10:20], data)
		require.Equal(t, true, m["hasMore"], "more before")
		l = links(m)
		data, m = page(follow(l["previous"]))
		require.Equal(t, all[:10], data)
		require.Equal(t, false, m["hasMore"])
		require.NotContains(t, links(m), "previous")

		data, m = page(api.do("GET", collection+"?limit=100", ""))
		require.Equal(t, all, data)
		require.Equal(t, float64(100), m["limit"])
		require.Equal(t, false, m["hasMore"])
		require.Empty(t, m["links"])
		data, _ = page(api.do("GET", collection+"?limit=3&after=st-21", ""))
		require.Equal(t, []string{"st-22", "st-23", "st-24"}, data)
		data, m = page(api.do("GET", collection+"?limit=1&before=st-00", ""))
		require.Empty(t, data)
		require.Equal(t, []any{}, m["data"])
		require.Equal(t, []any{}, m["links"])
	})

	t.Run("filters", func(t *testing.T) {
		ada := []string{"st-00", "st-05", "st-10", "st-15", "st-20"}
		for _, tc := range []struct {
			query url.Values
			want  []string
		}{
			{url.Values{"secureTokenId": {"st-07"}}, []string{"st-07"}},
			{url.Values{"secureTokenId": {"st-99"}}, nil},
			{url.Values{"customerName": {"ada lovelace"}}, append(slices.Clone(ada), "st-ach")}, // the account holder
			// The card holder is a name too (the contract's own example
			// searches "Sarah Hazel Hopper"): every card has that one.
			{url.Values{"customerName": {"Sarah Hazel Hopper"}}, ids[:10]},
			{url.Values{"email": {"ada.lovelace@example.com"}}, ada},
			{url.Values{"phone": {"442079460018"}}, ada},
			{url.Values{"token": {tokens["st-13"]}}, []string{"st-13"}},
			{url.Values{"first6": {"555555"}}, []string{"st-07"}},
			{url.Values{"last4": {"7062"}}, without(ids, "st-07")[:10]},
			{url.Values{"last4": {"7890"}}, []string{"st-ach"}},
			{url.Values{"first6": {"453985"}, "customerName": {"Ada Lovelace"}, "limit": {"2"}}, ada[:2]},
			{url.Values{"email": {"ada.lovelace@example.com"}, "after": {"st-05"}}, ada[2:]},
			{url.Values{"email": {"ada.lovelace@example.com"}, "before": {"st-15"}, "limit": {"2"}}, ada[1:3]},
			{url.Values{"email": {"nobody@example.com"}}, nil},
		} {
			r := api.do("GET", collection+"?"+tc.query.Encode(), "")
			data, m := page(r)
			if tc.want == nil {
				tc.want = []string{}
			}
			if data == nil {
				data = []string{}
			}
			require.Equal(t, tc.want, data, "%v", tc.query)
			if m["hasMore"] == true {
				next := links(m)["next"]
				u, _ := url.Parse(next)
				for k := range tc.query {
					if k != "after" && k != "before" {
						require.Equal(t, tc.query.Get(k), u.Query().Get(k), "the next link keeps the filter %s", k)
					}
				}
			}
		}
	})

	t.Run("bad queries", func(t *testing.T) {
		for q, param := range map[string]string{
			"limit=101":                "limit",
			"limit=0":                  "limit",
			"limit=ten":                "limit",
			"limit=10&limit=20":        "limit",
			"before=st-01&after=st-02": "after",
			"first6=45398":             "first6",
			"last4=70a2":               "last4",
			"token=123":                "token",
			"customerName=" + strings.Repeat("n", 51): "customerName",
			"phone=---":      "phone",
			"colour=red":     "colour",
			"secureTokenId=": "secureTokenId",
		} {
			r := api.do("GET", collection+"?"+q, "")
			requireProblem(t, r, http.StatusBadRequest, "bad-request")
			require.Equal(t, []string{param}, problemParams(t, r), q)
		}
	})

	t.Run("another terminal", func(t *testing.T) {
		data, _ := page(api.do("GET", terminalURL(termB, "secure-tokens"), ""))
		require.Equal(t, []string{"st-00"}, data)
		all := e.caller(keyAll)
		data, m := page(all.do("GET", terminalURL(termX, "secure-tokens"), ""))
		require.Empty(t, data)
		require.Equal(t, false, m["hasMore"])
	})
}

func without(list []string, drop string) []string {
	return slices.DeleteFunc(slices.Clone(list), func(s string) bool { return s == drop })
}

func TestSecureTokenPatch(t *testing.T) {
	e := newEnv(t)
	api := e.caller(keyTwo)
	card := fixture(t, "create-card.json")
	const id = "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa"
	api.create(termA, card)
	path := terminalURL(termA, "secure-tokens", id)
	current := func() string { return string(api.get(termA, id).body) }

	t.Run("the seed's PATCH", func(t *testing.T) {
		before := current()
		r := api.do("PATCH", path, fixture(t, "seed-patch.json"))
		requireProblem(t, r, http.StatusBadRequest, "bad-request")
		errs := problemErrors(t, r)
		require.Len(t, errs, 2, "both paths that do not exist")
		require.Equal(t, "/shippingAddress/recipientName", errs[0][0], "the parameter is the path that does not exist")
		require.Contains(t, errs[0][2], "/customer/shippingAddress/recipientName", "the message names the nearest valid path")
		require.Equal(t, "/source/cardDetails/cardholderName", errs[1][0])
		require.Contains(t, errs[1][2], "the nearest valid path is /source/cardholderName")
		require.Equal(t, before, current(), "nothing changed")
	})

	t.Run("the seed's PATCH, its paths corrected", func(t *testing.T) {
		r := api.do("PATCH", path, `[
			{"op": "add", "path": "/customer/lastName", "value": null},
			{"op": "replace", "path": "/customer/shippingAddress/recipientName", "value": "Grace Hopper"},
			{"op": "replace", "path": "/source/cardholderName", "value": "Grace Hopper"}]`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, "application/json", r.header.Get("Content-Type"))
		m := r.json(t)
		require.NotContains(t, m["customer"], "lastName", "null removes the member")
		require.Equal(t, "Grace Hopper", gjson.GetBytes(r.body, "customer.shippingAddress.recipientName").Str)
		require.Equal(t, "Grace Hopper", gjson.GetBytes(r.body, "source.cardholderName").Str)
		require.Equal(t, "453985******7062", gjson.GetBytes(r.body, "source.cardNumber").Str)
		require.JSONEq(t, string(r.body), current())
	})

	t.Run("all six ops", func(t *testing.T) {
		r := api.do("PATCH", path, `[
			{"op": "test", "path": "/customer/firstName", "value": "Sarah"},
			{"op": "add", "path": "/customFields/-", "value": {"name": "loyalty", "value": "gold"}},
			{"op": "replace", "path": "/mitAgreement", "value": "recurring"},
			{"op": "copy", "from": "/customer/firstName", "path": "/customer/shippingAddress/recipientName"},
			{"op": "move", "from": "/customer/billingAddress/address3", "path": "/customer/billingAddress/address2"},
			{"op": "remove", "path": "/customer/dateOfBirth"},
			{"op": "replace", "path": "/source/expiryDate", "value": "0931"}]`,
			"Content-Type", "application/json-patch+json")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		got := gjson.ParseBytes(r.body)
		require.Equal(t, `[{"name":"yourCustomField","value":"abc123"},{"name":"loyalty","value":"gold"}]`, got.Get("customFields").Raw)
		require.Equal(t, "recurring", got.Get("mitAgreement").Str)
		require.Equal(t, "Sarah", got.Get("customer.shippingAddress.recipientName").Str)
		require.Equal(t, "Example Address Line 3", got.Get("customer.billingAddress.address2").Str)
		require.False(t, got.Get("customer.billingAddress.address3").Exists())
		require.False(t, got.Get("customer.dateOfBirth").Exists())
		require.Equal(t, "0931", got.Get("source.expiryDate").Str)
	})

	t.Run("a failed test changes nothing", func(t *testing.T) {
		before := current()
		r := api.do("PATCH", path, `[
			{"op": "replace", "path": "/mitAgreement", "value": "installment"},
			{"op": "test", "path": "/customer/firstName", "value": "Ada"}]`)
		// The anchor: cannot-be-modified. The resource is not in the state
		// the patch expects (RFC 5789: 409), and of the publisher's 409
		// anchors this is the one that says so.
		requireProblem(t, r, http.StatusConflict, "cannot-be-modified")
		require.Equal(t, [][3]string{{"/customer/firstName", "test failed",
			"the value at this path is not the one the test operation expects; nothing was changed"}}, problemErrors(t, r))
		require.NotContains(t, string(r.body), "Sarah", "the value is not told")
		require.Equal(t, before, current())
		// The same test with the right value passes.
		r = api.do("PATCH", path, `[{"op": "test", "path": "/customer/firstName", "value": "Sarah"},
			{"op": "replace", "path": "/mitAgreement", "value": "installment"}]`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	})

	t.Run("immutable members", func(t *testing.T) {
		ach := api.create(termA, fixture(t, "create-ach.json"))["secureTokenId"].(string)
		pad := api.create(termA, fixture(t, "create-pad.json"))["secureTokenId"].(string)
		for _, tc := range []struct {
			id    string
			paths []string
		}{
			{id, []string{"/secureTokenId", "/processingTerminalId", "/token", "/status", "/source/type", "/source/cardNumber",
				"/source/cardType", "/source/currency", "/source/debit", "/source/surcharging", "/source"}},
			{ach, []string{"/source/accountNumber", "/source/routingNumber", "/source/type", "/token"}},
			{pad, []string{"/source/accountNumber", "/source/transitNumber", "/source/type", "/status"}},
		} {
			p := terminalURL(termA, "secure-tokens", tc.id)
			before := string(api.get(termA, tc.id).body)
			for _, ptr := range tc.paths {
				for _, ops := range []string{
					`[{"op":"replace","path":%q,"value":"1"}]`,
					`[{"op":"remove","path":%q}]`,
					`[{"op":"add","path":%q,"value":"1"}]`,
					`[{"op":"copy","from":"/customer/firstName","path":%q}]`,
				} {
					body := fmt.Sprintf(ops, ptr)
					r := api.do("PATCH", p, body)
					requireProblem(t, r, http.StatusConflict, "cannot-be-modified")
					errs := problemErrors(t, r)
					require.Len(t, errs, 1, body)
					require.Equal(t, ptr, errs[0][0], body)
					require.Equal(t, "cannot be modified", errs[0][1])
				}
			}
			require.Equal(t, before, string(api.get(termA, tc.id).body), "nothing changed")
		}
	})

	t.Run("invalid patches", func(t *testing.T) {
		before := current()
		for _, tc := range []struct {
			name, body string
			param      string
		}{
			{"not an array", `{"op":"add"}`, "body"},
			{"unknown op", `[{"op":"append","path":"/mitAgreement","value":"x"}]`, ""},
			{"missing value", `[{"op":"replace","path":"/mitAgreement"}]`, ""},
			{"not a pointer", `[{"op":"replace","path":"mitAgreement","value":"x"}]`, "/0/path"},
			{"result breaks the contract", `[{"op":"replace","path":"/customer/lastName","value":"` + strings.Repeat("x", 61) + `"}]`, "/customer/lastName"},
			{"a bad enum", `[{"op":"replace","path":"/mitAgreement","value":"sometimes"}]`, "/mitAgreement"},
			{"an index out of range", `[{"op":"remove","path":"/customFields/5"}]`, "/customFields/5"},
			{"a member the resource lacks", `[{"op":"add","path":"/customer/nickname","value":"x"}]`, "/customer/nickname"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := api.do("PATCH", path, tc.body)
				requireProblem(t, r, http.StatusBadRequest, "bad-request")
				errs := problemErrors(t, r)
				require.NotEmpty(t, errs)
				if tc.param != "" {
					require.Equal(t, tc.param, errs[0][0])
				}
			})
		}
		require.Equal(t, before, current())
	})

	t.Run("not found", func(t *testing.T) {
		for _, p := range []string{terminalURL(termA, "secure-tokens", "MREF_nope"), terminalURL(termB, "secure-tokens", id)} {
			m := requireProblem(t, api.do("PATCH", p, `[]`), http.StatusNotFound, "not-found")
			require.Equal(t, "secureToken", m["resource"])
		}
	})
}

func TestUpdateAccount(t *testing.T) {
	e := newEnv(t)
	api := e.caller(keyTwo)
	created := api.create(termA, fixture(t, "create-card.json"))
	id := created["secureTokenId"].(string)
	path := terminalURL(termA, "secure-tokens", id, "update-account")
	// mitAgreement and contact details change by PATCH only, and stay.
	r := api.do("PATCH", terminalURL(termA, "secure-tokens", id), `[{"op":"replace","path":"/mitAgreement","value":"installment"}]`)
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	before := r.json(t)
	update := func(tok string) reply {
		return api.do("POST", path, `{"type":"singleUseToken","token":"`+tok+`"}`)
	}
	requireUpdated := func(r reply, source map[string]any) {
		t.Helper()
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		m := r.json(t)
		require.Equal(t, source, m["source"])
		for _, k := range []string{"secureTokenId", "processingTerminalId", "token", "status", "mitAgreement", "customer", "customFields"} {
			require.Equal(t, before[k], m[k], "%s stays", k)
		}
		require.JSONEq(t, string(r.body), string(api.get(termA, id).body))
	}

	t.Run("a single-use token from the single-use-tokens route", func(t *testing.T) {
		r := api.do("POST", terminalURL(termA, "single-use-tokens"), fixture(t, "single-use-card.json"))
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		require.Equal(t, "http://example.com"+terminalURL(termA, "single-use-tokens"), r.header.Get("Location"))
		m := r.json(t)
		tok := secret("single-use token", m["token"].(string))
		require.Regexp(t, `^[0-9a-f]{128}$`, tok)
		require.Equal(t, termA, m["processingTerminalId"])
		require.Equal(t, e.clock.Now().Add(30*time.Minute).Format(time.RFC3339), m["expiresAt"])
		newCard := map[string]any{"type": "card", "cardholderName": "Sarah Hopper", "cardNumber": "555555******4444", "expiryDate": "0331", "cardType": "Mastercard"}
		require.Equal(t, newCard, m["source"])
		require.NotContains(t, string(r.body), fixtureNewCard)

		requireUpdated(update(tok), newCard)
		r = update(tok)
		requireProblem(t, r, http.StatusBadRequest, "bad-request")
		require.Equal(t, [][3]string{{"/token", "already used", "was used already; a single-use token works once"}}, problemErrors(t, r))
	})

	t.Run("a single-use token from a capture endpoint", func(t *testing.T) {
		r := api.do("POST", terminalURL(termA, "capture-endpoints"), `{"ttl":"PT10M"}`)
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		ep := r.json(t)
		epSecret := secret("capture secret", ep["secret"].(string))
		require.Equal(t, "/v1/capture/"+ep["id"].(string), ep["url"])
		require.Equal(t, "http://example.com"+ep["url"].(string), r.header.Get("Location"))
		require.Equal(t, termA, ep["processingTerminalId"])
		require.Equal(t, e.clock.Now().Add(10*time.Minute).Format(time.RFC3339), ep["expiresAt"])

		capture := func(body string) reply {
			return e.do(req{method: "POST", path: ep["url"].(string), body: body, contentType: "text/plain",
				header: map[string]string{headerCaptureSecret: epSecret}})
		}
		// A refused capture does not use the endpoint up.
		r = capture(`{"card_number":"4111111111111112","card_holder":"Sarah Hopper","expiry":"12/30"}`)
		require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
		r = capture(`{"card_number":"` + secret("card number", "4242424242424242") + `","card_holder":"Sarah Hopper","expiry":"12/30","cvv":"` + secret("cvv", "321") + `"}`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		got := r.json(t)
		require.Equal(t, termA, got["processing_terminal_id"])
		tok := secret("single-use token", got["single_use_token"].(string))
		require.Equal(t, http.StatusGone, capture(`{"card_number":"4242424242424242"}`).status, "one capture per endpoint")

		requireUpdated(update(tok),
			map[string]any{"type": "card", "cardholderName": "Sarah Hopper", "cardNumber": "424242******4242", "expiryDate": "1230", "cardType": "Visa"})
		requireProblem(t, update(tok), http.StatusBadRequest, "bad-request")
	})

	t.Run("a bank account replaces a card", func(t *testing.T) {
		other := api.create(termA, set(t, fixture(t, "create-card.json"), "secureTokenId", "MREF_to_ach"))
		tok := api.singleUse(termA, `{"channel":"web","source":{"type":"ach","nameOnAccount":"Ada Lovelace","accountNumber":"`+fixtureACHAccount+`","routingNumber":"011000015","accountType":"savings"}}`)
		r := api.do("POST", terminalURL(termA, "secure-tokens", "MREF_to_ach", "update-account"), `{"type":"singleUseToken","token":"`+tok+`"}`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		require.Equal(t, map[string]any{"type": "ach", "nameOnAccount": "Ada Lovelace", "accountNumber": "*****7890", "routingNumber": "011000015", "accountType": "savings"},
			r.json(t)["source"])
		require.Equal(t, other["token"], r.json(t)["token"], "the secure token stays")
	})

	t.Run("not found", func(t *testing.T) {
		unchanged := string(api.get(termA, id).body)
		// Another terminal's single-use token, and one that never was:
		// alike, 404 singleUseToken, and the other's stays usable.
		otherTerminal := api.singleUse(termB, fixture(t, "single-use-card.json"))
		for _, tok := range []string{otherTerminal, strings.Repeat("ab", 64)} {
			m := requireProblem(t, update(tok), http.StatusNotFound, "not-found")
			require.Equal(t, "singleUseToken", m["resource"])
		}
		// A secure token of another terminal, or none.
		mine := api.singleUse(termA, fixture(t, "single-use-card.json"))
		for _, p := range []string{terminalURL(termB, "secure-tokens", id, "update-account"), terminalURL(termA, "secure-tokens", "MREF_nope", "update-account")} {
			m := requireProblem(t, api.do("POST", p, `{"type":"singleUseToken","token":"`+mine+`"}`), http.StatusNotFound, "not-found")
			require.Equal(t, "secureToken", m["resource"])
		}
		require.Equal(t, unchanged, string(api.get(termA, id).body), "nothing changed")
		api.create(termB, set(t, fixture(t, "create-card.json"), "secureTokenId", "on-b"))
		r := api.do("POST", terminalURL(termB, "secure-tokens", "on-b", "update-account"), `{"type":"singleUseToken","token":"`+otherTerminal+`"}`)
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	})

	t.Run("expired and invalid", func(t *testing.T) {
		tok := api.singleUse(termA, fixture(t, "single-use-card.json"))
		e.clock.Advance(30 * time.Minute)
		api = e.caller(keyTwo) // a fresh access token at the new time
		r := update(tok)
		requireProblem(t, r, http.StatusBadRequest, "bad-request")
		require.Equal(t, "expired", problemErrors(t, r)[0][1])
		for body, params := range map[string][]string{
			`{"type":"card","token":"` + strings.Repeat("ab", 64) + `"}`: {"/type"},
			`{"type":"singleUseToken","token":"abc"}`:                    {"/token"},
			`{"type":"singleUseToken"}`:                                  {"/token"},
			`{}`:                                                         {"/token", "/type"},
		} {
			r := api.do("POST", path, body)
			requireProblem(t, r, http.StatusBadRequest, "bad-request")
			require.Equal(t, params, problemParams(t, r), body)
		}
	})

	t.Run("capture endpoint options", func(t *testing.T) {
		for body, param := range map[string]string{
			`{"ttl":"P2D"}`:      "/ttl",
			`{"ttl":"P0T"}`:      "/ttl",
			`{"ttl":"tomorrow"}`: "/ttl",
			`{"tll":"PT1M"}`:     "body",
			`[]`:                 "body",
		} {
			r := api.do("POST", terminalURL(termA, "capture-endpoints"), body)
			requireProblem(t, r, http.StatusBadRequest, "bad-request")
			require.Equal(t, []string{param}, problemParams(t, r), body)
		}
		r := api.do("POST", terminalURL(termA, "capture-endpoints"), `{}`)
		require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
		secret("capture secret", r.json(t)["secret"].(string))
		require.Equal(t, e.clock.Now().Add(30*time.Minute).Format(time.RFC3339), r.json(t)["expiresAt"], "30 minutes by default")
		requireProblem(t, api.do("POST", terminalURL(termX, "capture-endpoints"), `{}`), http.StatusForbidden, "forbidden")
	})
}

// guardedRoute is a route of the secure-token API with a request that
// would succeed, for the checks every route shares.
type guardedRoute struct {
	method, path, body string
}

func TestTokenAPIGuards(t *testing.T) {
	e := newEnv(t)
	api := e.caller(keyTwo)
	api.create(termA, fixture(t, "create-card.json"))
	const id = "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa"
	var sut string // made after the 401 test, which moves the clock on
	routes := func(pt string) []guardedRoute {
		return []guardedRoute{
			{"POST", terminalURL(pt, "secure-tokens"), set(t, fixture(t, "create-card.json"), "secureTokenId", "guarded")},
			{"GET", terminalURL(pt, "secure-tokens"), ""},
			{"GET", terminalURL(pt, "secure-tokens", id), ""},
			{"PATCH", terminalURL(pt, "secure-tokens", id), `[{"op":"replace","path":"/mitAgreement","value":"recurring"}]`},
			{"POST", terminalURL(pt, "secure-tokens", id, "update-account"), `{"type":"singleUseToken","token":"` + sut + `"}`},
			{"POST", terminalURL(pt, "single-use-tokens"), fixture(t, "single-use-card.json")},
			{"POST", terminalURL(pt, "capture-endpoints"), `{}`},
			{"DELETE", terminalURL(pt, "secure-tokens", id), ""},
		}
	}
	unchanged := string(api.get(termA, id).body)
	send := func(rt guardedRoute, header map[string]string, contentType string) reply {
		return e.do(req{method: rt.method, path: rt.path, body: rt.body, header: header, contentType: contentType})
	}
	withKey := func(h map[string]string) map[string]string {
		h["Idempotency-Key"] = loadgen.NewIdempotencyKey()
		return h
	}

	t.Run("401", func(t *testing.T) {
		expired := api.bearer
		forged := expired[:strings.LastIndexByte(expired, '.')+1] + strings.Repeat("A", 43)
		e.clock.Advance(time.Hour)
		defer func() { api = e.caller(keyTwo) }()
		for _, rt := range routes(termA) {
			for name, auth := range map[string]string{"missing": "", "expired": "Bearer " + expired, "forged": "Bearer " + forged, "basic": "Basic YTpi"} {
				r := send(rt, withKey(map[string]string{"Authorization": auth}), "")
				requireProblem(t, r, http.StatusUnauthorized, "not-authorized")
				require.Equal(t, `Bearer realm="cardvault"`, r.header.Get("WWW-Authenticate"), "%s %s: %s", rt.method, rt.path, name)
			}
		}
	})
	bearer := map[string]string{"Authorization": "Bearer " + e.authorize(keyTwo.Key)}
	sut = api.singleUse(termA, fixture(t, "single-use-card.json"))
	auth := func() map[string]string { return withKey(map[string]string{"Authorization": bearer["Authorization"]}) }

	t.Run("403 outside the key's terminals", func(t *testing.T) {
		for _, rt := range routes(termX) {
			r := send(rt, auth(), "")
			m := requireProblem(t, r, http.StatusForbidden, "forbidden")
			require.Equal(t, rt.path, m["instance"])
			require.Equal(t, "processingTerminal", m["resource"])
		}
	})

	t.Run("406", func(t *testing.T) {
		for _, rt := range routes(termA) {
			if rt.method == "DELETE" {
				continue // answered below
			}
			for _, accept := range []string{"text/html", "application/xml, text/*;q=0.9", "application/json;q=0"} {
				h := auth()
				h["Accept"] = accept
				requireProblem(t, send(rt, h, ""), http.StatusNotAcceptable, "not-acceptable")
			}
		}
	})

	t.Run("415", func(t *testing.T) {
		for _, rt := range routes(termA) {
			if rt.method == "GET" || rt.method == "DELETE" {
				continue
			}
			for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "-", "application/json; charset", "multipart/form-data; boundary=x"} {
				requireProblem(t, send(rt, auth(), ct), http.StatusUnsupportedMediaType, "unsupported-media-type")
			}
		}
	})

	t.Run("413", func(t *testing.T) {
		for _, rt := range routes(termA) {
			if rt.method == "GET" || rt.method == "DELETE" {
				continue
			}
			big := rt
			pad := strings.Repeat(" ", securetoken.MaxBodyBytes+1-len(rt.body))
			big.body = rt.body + pad
			requireProblem(t, send(big, auth(), ""), http.StatusRequestEntityTooLarge, "payload-too-large")
		}
	})

	t.Run("idempotency key missing", func(t *testing.T) {
		for _, rt := range routes(termA) {
			if rt.method == "GET" || rt.method == "DELETE" {
				continue
			}
			for _, key := range []string{"", "not-a-uuid", "8e03978e-40d5-13e8-bc93-6894a57f9324"} {
				h := map[string]string{"Authorization": bearer["Authorization"]}
				if key != "" {
					h["Idempotency-Key"] = key
				}
				requireProblem(t, send(rt, h, ""), http.StatusBadRequest, "idempotency-key-missing")
			}
		}
	})

	require.Equal(t, unchanged, string(api.get(termA, id).body), "none of the refused requests changed anything")
	r := api.do("GET", terminalURL(termA, "secure-tokens"), "")
	require.Equal(t, float64(1), r.json(t)["count"], "none of the refused creates saved anything")

	// What is just inside the limits passes them.
	for _, rt := range routes(termA) {
		h := auth()
		h["Accept"] = "text/html, application/*;q=0.1"
		if rt.method == "DELETE" {
			h["Accept"] = "text/html" // a DELETE answers without a body
		}
		if rt.body != "" {
			// At the cap exactly, the body is read.
			rt.body += strings.Repeat(" ", securetoken.MaxBodyBytes-len(rt.body))
		}
		r := send(rt, h, "")
		require.Contains(t, []int{200, 201, 204}, r.status, "%s %s: %s", rt.method, rt.path, r.body)
	}
}

func TestTokenAPIIdempotency(t *testing.T) {
	e := newEnv(t)
	api := e.caller(keyTwo)
	card := fixture(t, "create-card.json")
	collection := terminalURL(termA, "secure-tokens")
	withKey := func(key string) []string { return []string{"Idempotency-Key", key} }

	requireReplay := func(first, again reply) {
		t.Helper()
		require.Equal(t, first.status, again.status)
		require.Equal(t, first.body, again.body, "the body, byte for byte")
		require.Equal(t, "true", again.header.Get("Idempotent-Replayed"))
		require.Empty(t, first.header.Get("Idempotent-Replayed"))
		for name := range first.header {
			if name != "X-Request-Id" {
				require.Equal(t, first.header[name], again.header[name], name)
			}
		}
	}

	key := loadgen.NewIdempotencyKey()
	first := api.do("POST", collection, card, withKey(key)...)
	require.Equal(t, http.StatusCreated, first.status, "%s", first.body)
	again := api.do("POST", collection, card, withKey(strings.ToUpper(key))...)
	requireReplay(first, again)
	require.Equal(t, float64(1), api.do("GET", collection, "").json(t)["count"], "created once")

	// The same key with another request.
	for name, r := range map[string]reply{
		"another body":          api.do("POST", collection, set(t, card, "secureTokenId", "other"), withKey(key)...),
		"another path":          api.do("POST", terminalURL(termB, "secure-tokens"), card, withKey(key)...),
		"another method":        api.do("PATCH", collection+"/other", `[]`, withKey(key)...),
		"another route":         api.do("POST", terminalURL(termA, "single-use-tokens"), fixture(t, "single-use-card.json"), withKey(key)...),
		"another body, same id": api.do("POST", collection, strings.Replace(card, `"operator": "Jane",`, "", 1), withKey(key)...),
	} {
		m := requireProblem(t, r, http.StatusConflict, "idempotency-key-in-use")
		require.Equal(t, "'Idempotency-Key' is already in use against a different request", m["detail"], name)
	}
	// Keys are the API key's own: another API key's request with the same
	// key runs (and finds the id taken).
	all := e.caller(keyAll)
	requireProblem(t, all.do("POST", collection, card, withKey(key)...), http.StatusConflict, "resource-already-exists")

	// An error is kept and replayed too.
	badKey := loadgen.NewIdempotencyKey()
	bad := api.do("POST", collection, set(t, card, "mitAgreement", "sometimes"), withKey(badKey)...)
	requireProblem(t, bad, http.StatusBadRequest, "bad-request")
	requireReplay(bad, api.do("POST", collection, set(t, card, "mitAgreement", "sometimes"), withKey(badKey)...))

	// PATCH.
	id := first.json(t)["secureTokenId"].(string)
	patchKey := loadgen.NewIdempotencyKey()
	patchBody := `[{"op":"add","path":"/customFields/-","value":{"name":"n","value":"v"}}]`
	p1 := api.do("PATCH", collection+"/"+id, patchBody, withKey(patchKey)...)
	require.Equal(t, http.StatusOK, p1.status, "%s", p1.body)
	requireReplay(p1, api.do("PATCH", collection+"/"+id, patchBody, withKey(patchKey)...))
	require.Len(t, gjson.GetBytes(api.get(termA, id).body, "customFields").Array(), 2, "applied once")

	// A single-use token and the update-account that uses it: a replay
	// gives the same token, and the first 200, not "already used".
	suKey := loadgen.NewIdempotencyKey()
	s1 := api.do("POST", terminalURL(termA, "single-use-tokens"), fixture(t, "single-use-card.json"), withKey(suKey)...)
	require.Equal(t, http.StatusCreated, s1.status)
	requireReplay(s1, api.do("POST", terminalURL(termA, "single-use-tokens"), fixture(t, "single-use-card.json"), withKey(suKey)...))
	tok := secret("single-use token", s1.json(t)["token"].(string))
	upKey := loadgen.NewIdempotencyKey()
	upBody := `{"type":"singleUseToken","token":"` + tok + `"}`
	u1 := api.do("POST", collection+"/"+id+"/update-account", upBody, withKey(upKey)...)
	require.Equal(t, http.StatusOK, u1.status, "%s", u1.body)
	requireReplay(u1, api.do("POST", collection+"/"+id+"/update-account", upBody, withKey(upKey)...))
	requireProblem(t, api.do("POST", collection+"/"+id+"/update-account", upBody), http.StatusBadRequest, "bad-request")
	requireProblem(t, api.do("POST", collection+"/"+id+"/update-account", `{"type":"singleUseToken","token":"`+strings.Repeat("ab", 64)+`"}`, withKey(upKey)...),
		http.StatusConflict, "idempotency-key-in-use")

	// Kept 24 hours at least.
	e.clock.Advance(24*time.Hour - time.Minute)
	api = e.caller(keyTwo)
	requireReplay(first, api.do("POST", collection, card, withKey(key)...))
}
