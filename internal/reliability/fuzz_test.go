package reliability

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/internal/loadgen"
	"github.com/cardvault/cardvault/server"
)

// The fuzz targets send one request each to an in-process server (a
// memstore, the fixtures of newEnv) and assert what the hostile-input table
// asserts case by case: never a 5xx (a panic is served as a 500), and a
// refused request (4xx) leaves the store as it was, but for the buckets
// such a request writes by design (an Idempotency-Key's record; a failed
// capture secret's count). Run one for minutes with
//
//	go test -run '^$' -fuzz '^FuzzPatch$' -fuzztime 5m ./internal/reliability

// fuzzCase sends a request built from fuzzed parts and checks the answer.
// A request net/http could not have received (a target that does not parse
// as a request URI) is skipped: it never reaches a handler.
type fuzzCase struct {
	method, target string
	header         http.Header
	body           []byte
	writes         []string // buckets a refused request may change
}

func (e *env) fuzz(t *testing.T, c fuzzCase) reply {
	t.Helper()
	u, err := url.ParseRequestURI(c.target)
	if err != nil || strings.ContainsAny(c.target, " \r\n") {
		t.Skip("not a request URI")
	}
	for _, vs := range c.header {
		for _, v := range vs {
			if !validHeaderValue(v) {
				t.Skip("not a header value net/http would accept")
			}
		}
	}
	hr := httptest.NewRequest(c.method, "http://cardvault.test/", bytes.NewReader(c.body))
	hr.URL, hr.RequestURI = u, c.target
	hr.Header = c.header
	hr.ContentLength = int64(len(c.body))
	before := e.snapshot()
	defer e.restore(t, before)
	rec := httptest.NewRecorder()
	e.srv.ServeHTTP(rec, hr)
	r := reply{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
	require.Less(t, r.status, 500, "never a 5xx: %.300s", r.body)
	if r.status >= 400 {
		require.NotEmpty(t, errorMessage(t, r), "a refusal says why")
		for _, b := range changedBuckets(before, e.snapshot()) {
			require.True(t, slices.Contains(c.writes, b), "a refused request (%d) changed bucket %s", r.status, b)
		}
	}
	return r
}

// validHeaderValue is net/http's rule for a field value on the wire: no
// control characters but tab.
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

func (e *env) basicHeader(extra ...string) http.Header {
	h := http.Header{"Authorization": {basicHeader(aliceBasic)}, "Content-Type": {"application/json"}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

func (e *env) bearerHeader(extra ...string) http.Header {
	h := http.Header{"Authorization": {"Bearer " + e.bearerAll}, "Content-Type": {"application/json"}}
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

var idemBuckets = []string{bucketIdem, bucketIdemExpiry}

// noFailureLimits turns the server's limits on failed attempts off: a fuzz
// target sends every input from one client, and after a few wrong
// credentials or secrets the limits would answer 429 to all the rest,
// unchecked — the paths behind them would go unfuzzed. (The limits have
// tests of their own, in package server.)
func noFailureLimits(c *server.Config) {
	off := access.FailureLimit{Failures: -1}
	c.FailureLimits = access.FailureLimits{ClientCredentials: off, AccountCredentials: off,
		ClientPassphrases: off, KeyPassphrases: off, ClientCaptures: off}
}

// FuzzVaultPost: POST /v1/vault with a fuzzed body and extra query
// parameters (reference, algorithm, number, ...).
func FuzzVaultPost(f *testing.F) {
	e := newEnv(f, noFailureLimits)
	for _, s := range []struct{ query, body string }{
		{"reference=r1", cardDoc},
		{"algorithm=luhn", `{"number":"4242 4242 4242 4242"}`},
		{"number=4111-1111-1111-1111", `{"x":1}`},
		{"", `{"card_number":"` + cardNumber + `","card_number":"1"}`},
		{"reference=%00", `{"n":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`},
		{"algorithm=full&algorithm=luhn", "{\"card_number\":\"\xff\"}"},
		{"", `{"card_number":1e99999}`},
	} {
		f.Add(s.query, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, query string, body []byte) {
		e.fuzz(t, fuzzCase{method: "POST", target: "/v1/vault?" + e.vaultQuery().Encode() + "&" + query, header: e.basicHeader(), body: body})
	})
}

// FuzzCaptureGrant: POST /v1/capture with a fuzzed ttl, unique_id and
// option body, locked to the fixture card.
func FuzzCaptureGrant(f *testing.F) {
	e := newEnv(f, noFailureLimits)
	for _, s := range []struct{ ttl, id, body string }{
		{"PT10M", "", ""},
		{"P1DT2H3M4.5S", "fz-1", `{"allowed_fields":["cvv","card_expiry"],"single_use":true}`},
		{"P1Y", "", `{"webhook":{"url":"https://example.com/h","secret":"s"}}`},
		{"-PT1M", "..", `{"webhook":{"url":"javascript:1","secret":""}}`},
		{"PT99999999999999999999S", "iframe", `{"single_use":"yes"}`},
		{"P0T", "x/y", `{"allowed_fields":[` + strings.Repeat(`"a",`, 50) + `"a"]}`},
	} {
		f.Add(s.ttl, s.id, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ttl, id string, body []byte) {
		q := e.vaultQuery("token", e.itemToken, "reference", "ref", "ttl", ttl)
		if id != "" {
			q.Set("unique_id", id)
		}
		e.fuzz(t, fuzzCase{method: "POST", target: "/v1/capture?" + q.Encode(), header: e.basicHeader(), body: body})
	})
}

// FuzzCapturePost: a capture post with the right secret and a fuzzed body
// and content type.
func FuzzCapturePost(f *testing.F) {
	e := newEnv(f, noFailureLimits)
	for _, s := range []struct{ ctype, body string }{
		{"application/json", `{"cvv":"123"}`},
		{"text/plain;charset=UTF-8", `{"card_expiry":"07-2032","reference":"ref"}`},
		{"", `{"card_number":"4242424242424242"}`},
		{"multipart/form-data", `{}`},
		{"application/json", `{"cvv":"1","cvv":"2"}`},
		{"application/json", "{\"cvv\":\"\xed\xa0\x80\"}"},
		{"application/vnd.x+json", `[{"cvv":"1"}]`},
	} {
		f.Add(s.ctype, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		h := http.Header{"X-Pcivault-Capture-Secret": {e.grantSec}}
		if ctype != "" {
			h.Set("Content-Type", ctype)
		}
		e.fuzz(t, fuzzCase{method: "POST", target: "/v1/capture/" + e.grantID, header: h, body: body})
	})
}

// FuzzCaptureID: a capture post to a fuzzed path with a fuzzed secret; a
// wrong secret is counted against the id (by design), nothing else.
func FuzzCaptureID(f *testing.F) {
	e := newEnv(f, noFailureLimits)
	for _, s := range []struct{ id, secret string }{
		{"rel-grant", "wrong"}, {"..", "x"}, {"%2e%2e", ""}, {"a%2fb", "s"}, {"%00", "s"}, {"iframe", "s"},
		{strings.Repeat("a", 129), "s"}, {"x?y=1", strings.Repeat("s", 300)},
	} {
		f.Add(s.id, s.secret)
	}
	f.Fuzz(func(t *testing.T, id, secret string) {
		if id == e.grantID {
			t.Skip("the fixture grant would lock after ten tries")
		}
		e.fuzz(t, fuzzCase{method: "POST", target: "/v1/capture/" + id, header: http.Header{"X-Pcivault-Capture-Secret": {secret}},
			body: []byte(`{"cvv":"000"}`), writes: failureBuckets})
	})
}

// FuzzSecureTokenCreate: POST .../secure-tokens with a fuzzed body.
func FuzzSecureTokenCreate(f *testing.F) {
	e := newEnv(f, noFailureLimits)
	for _, s := range []string{
		secureTokenBody("fz-1", tokenCardNumber),
		`{"source":{"type":"ach","nameOnAccount":"A","accountNumber":"1234567","routingNumber":"011000015","accountType":"checking","secCode":"web"}}`,
		`{"source":{"type":"pad","nameOnAccount":"A","accountNumber":"1234567","transitNumber":"12345","institutionNumber":"001"}}`,
		`{"source":{"type":"card","cardDetails":{"entryMethod":"swiped","swipedData":{"dataFormat":"plainText","trackData":"%B4111111111111111^DOE/J^3012101?","device":{"model":"bbposChp","serialNumber":"1"}}}}}`,
		`{"customer":{"contactMethods":[{"type":"email","value":"a@b.c"}],"dateOfBirth":"1990-02-30"},"source":{"type":"singleUseToken","token":"x"}}`,
		`{"secureTokenId":"../x","customFields":[{"name":"","value":""}],"ipAddress":{"type":"ipv4","value":"999.1.1.1"}}`,
		`{"operator":null,"mitAgreement":1e400}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e.fuzz(t, fuzzCase{method: "POST", target: "/v1/processing-terminals/" + terminalOne + "/secure-tokens",
			header: e.bearerHeader("Idempotency-Key", newKey()), body: body, writes: idemBuckets})
	})
}

// FuzzPatch: PATCH of the fixture secure token with a fuzzed JSON Patch.
func FuzzPatch(f *testing.F) {
	e := newEnv(f, noFailureLimits)
	for _, s := range []string{
		`[{"op":"add","path":"/customFields/-","value":{"name":"n","value":"v"}}]`,
		`[{"op":"replace","path":"/customer/lastName","value":"X"},{"op":"test","path":"/customer/lastName","value":"X"}]`,
		`[{"op":"move","from":"/customer/firstName","path":"/customer/lastName"}]`,
		`[{"op":"copy","from":"/customer","path":"/customer/shippingAddress"}]`,
		`[{"op":"remove","path":"/source"}]`,
		`[{"op":"add","path":"/shippingAddress/recipientName","value":"x"}]`,
		`[{"op":"replace","path":"/token","value":"1"},{"op":"add","path":"/customer/first~1Name","value":1}]`,
		`{"op":"add"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e.fuzz(t, fuzzCase{method: "PATCH", target: "/v1/processing-terminals/" + terminalOne + "/secure-tokens/" + e.secureTok,
			header: e.bearerHeader("Idempotency-Key", newKey()), body: body, writes: idemBuckets})
	})
}

// FuzzTokenQuery: the query strings of both APIs' lists.
func FuzzTokenQuery(f *testing.F) {
	e := newEnv(f, noFailureLimits)
	for _, s := range []string{
		"limit=5&after=rel-token-1", "before=a&after=b", "email=A%40B.C&phone=%2B1%20555", "first6=411111&last4=1111",
		"customerName=%zz", "limit=1e3", "token=2967531", "secureTokenId=" + strings.Repeat("x", 300), "a=1;b=2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		e.fuzz(t, fuzzCase{method: "GET", target: "/v1/processing-terminals/" + terminalOne + "/secure-tokens?" + query,
			header: http.Header{"Authorization": {"Bearer " + e.bearerAll}}})
		e.fuzz(t, fuzzCase{method: "GET", target: "/v1/vault?user=" + e.key.User + "&" + query, header: e.basicHeader()})
	})
}

// FuzzTokenHeaders: a create with a valid body and fuzzed Idempotency-Key,
// Authorization, Content-Type and Accept headers.
func FuzzTokenHeaders(f *testing.F) {
	e := newEnv(f, noFailureLimits)
	for _, s := range [][4]string{
		{newKey(), "Bearer " + e.bearerAll, "application/json", "application/json"},
		{"8E03978E-40D5-43E8-BC93-6894A57F9324", "bearer " + e.bearerAll, "application/json; charset=utf-8", "*/*;q=0.1"},
		{"8e03978e-40d5-13e8-bc93-6894a57f9324", "Bearer a.b.c", "text/plain", "text/html"},
		{"", "Basic " + e.bearerAll, "application/json;;", "application/json;q=0"},
		{strings.Repeat("a", 1000), "Bearer  " + e.bearerAll + " ", "application/json-patch+json", ""},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	body := []byte(secureTokenBody("fz-headers", tokenCardNumber))
	f.Fuzz(func(t *testing.T, key, auth, ctype, accept string) {
		h := http.Header{}
		for name, v := range map[string]string{"Idempotency-Key": key, "Authorization": auth, "Content-Type": ctype, "Accept": accept} {
			if v != "" {
				h.Set(name, v)
			}
		}
		e.fuzz(t, fuzzCase{method: "POST", target: "/v1/processing-terminals/" + terminalOne + "/secure-tokens",
			header: h, body: body, writes: idemBuckets})
	})
}

func newKey() string { return loadgen.NewIdempotencyKey() }
