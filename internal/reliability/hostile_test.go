package reliability

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/cardvault/cardvault/expiry"
	"github.com/stretchr/testify/require"
)

// Buckets that a refused request may still write, by design.
const (
	// bucketFailures counts wrong capture secrets and unknown capture ids,
	// so that ten of them lock the id (the brute-force lockout).
	bucketFailures = "capture.failures"
	// The secure-token API keeps a request's answer under its
	// Idempotency-Key — 4xx answers included — so that a retry gets the
	// same answer; a refused POST or PATCH with a valid key writes that
	// record and nothing else.
	bucketIdem       = "idempotency"
	bucketIdemExpiry = expiry.Bucket
)

// failureBuckets are what counting a failure writes: the counter, and its
// entry in the expiry index.
var failureBuckets = []string{bucketFailures, bucketIdemExpiry}

// hostile is one hostile request and what the server must answer.
type hostile struct {
	name string
	req  req
	raw  string // a raw request, sent as bytes instead of req
	// status is the right answer; message, a part of the error message
	// that says what is wrong (the vault/capture API's "error", or the
	// problem's detail, title or an errors[] entry).
	status  int
	message string
	// writes are the buckets the request may change, by design.
	writes []string
}

func deep(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }

func TestHostileInput(t *testing.T) {
	e := newEnv(t)
	vq := e.vaultQuery
	alice := &aliceBasic
	token := func(path string) string { return "/v1/processing-terminals/" + terminalOne + path }
	stPath := token("/secure-tokens/" + e.secureTok)
	tok := func(extra ...string) map[string]string {
		h := e.tokenHeader(e.bearerAll)
		for i := 0; i+1 < len(extra); i += 2 {
			h[extra[i]] = extra[i+1]
		}
		return h
	}
	capture := func(id string) map[string]string { return map[string]string{"X-PCIVault-Capture-Secret": e.grantSec} }
	idem := []string{bucketIdem, bucketIdemExpiry}
	big := func(n int) string { return `{"card_number":"` + cardNumber + `","x":"` + strings.Repeat("x", n) + `"}` }
	grantPath := "/v1/capture/" + e.grantID

	cases := []hostile{
		// The vault/capture API: bodies of POST /v1/vault.
		{name: "vault body oversized", req: req{method: "POST", path: "/v1/vault", query: vq(), basic: alice, body: big(300 << 10)}, status: 413, message: "over 262144 bytes"},
		{name: "vault body deeply nested", req: req{method: "POST", path: "/v1/vault", query: vq(), basic: alice, body: `{"card_number":"` + cardNumber + `","x":` + deep(10000) + `}`}, status: 400, message: "deep"},
		{name: "vault body invalid UTF-8", req: req{method: "POST", path: "/v1/vault", query: vq(), basic: alice, body: `{"card_number":"` + cardNumber + `","x":"` + "\xff\xfe" + `"}`}, status: 400, message: "UTF-8"},
		{name: "vault body duplicate keys", req: req{method: "POST", path: "/v1/vault", query: vq(), basic: alice, body: `{"card_number":"` + cardNumber + `","card_number":"4242424242424242"}`}, status: 400, message: "duplicate"},
		{name: "vault body not an object", req: req{method: "POST", path: "/v1/vault", query: vq(), basic: alice, body: `["card_number"]`}, status: 400, message: "object"},
		{name: "vault body not JSON", req: req{method: "POST", path: "/v1/vault", query: vq(), basic: alice, body: `{"card_number":`}, status: 400, message: "JSON"},
		{name: "vault number of the wrong type", req: req{method: "POST", path: "/v1/vault", query: vq(), basic: alice, body: `{"card_number":{"n":1}}`}, status: 400, message: "card_number"},
		{name: "vault huge number as the card number", req: req{method: "POST", path: "/v1/vault", query: vq(), basic: alice, body: `{"card_number":1` + strings.Repeat("0", 400) + `}`}, status: 400, message: "card_number"},
		{name: "vault fractional number as the card number", req: req{method: "POST", path: "/v1/vault", query: vq(), basic: alice, body: `{"card_number":4.111e15}`}, status: 400, message: "card_number"},
		{name: "vault no number", req: req{method: "POST", path: "/v1/vault", query: vq(), basic: alice, body: `{"cvv":"123"}`}, status: 400, message: "number"},
		{name: "vault form encoded", req: req{method: "POST", path: "/v1/vault", query: vq(), basic: alice, body: "card_number=" + cardNumber, contentType: "application/x-www-form-urlencoded"}, status: 415, message: "JSON"},
		{name: "vault bad algorithm", req: req{method: "POST", path: "/v1/vault", query: vq("algorithm", "../../etc"), basic: alice, body: cardDoc}, status: 400, message: "algorithm"},
		{name: "vault reference too long", req: req{method: "POST", path: "/v1/vault", query: vq("reference", strings.Repeat("r", 5000)), basic: alice, body: cardDoc}, status: 400, message: "reference"},
		{name: "vault reference with NUL", req: req{method: "POST", path: "/v1/vault", query: vq("reference", "a\x00b"), basic: alice, body: cardDoc}, status: 400, message: "reference"},
		{name: "vault wrong passphrase", req: req{method: "POST", path: "/v1/vault", query: url.Values{"user": {e.key.User}, "passphrase": {"wrong-passphrase"}}, basic: alice, body: cardDoc}, status: 401, message: "passphrase"},
		{name: "vault no credentials", req: req{method: "POST", path: "/v1/vault", query: vq(), body: cardDoc}, status: 401, message: "basic auth"},
		{name: "vault malformed Basic", req: req{method: "POST", path: "/v1/vault", query: vq(), body: cardDoc, header: map[string]string{"Authorization": "Basic %%%not-base64"}}, status: 401, message: "basic auth"},
		{name: "vault oversized Basic", req: req{method: "POST", path: "/v1/vault", query: vq(), body: cardDoc, header: map[string]string{"Authorization": "Basic " + strings.Repeat("QUFB", 3000)}}, status: 401, message: "basic auth"},

		// Query strings of the vault/capture API.
		{name: "list limit not a number", req: req{method: "GET", path: "/v1/vault", query: url.Values{"user": {e.key.User}, "limit": {"ten"}}, basic: alice}, status: 400, message: "limit"},
		{name: "list limit huge", req: req{method: "GET", path: "/v1/vault", query: url.Values{"user": {e.key.User}, "limit": {"99999999999999999999999"}}, basic: alice}, status: 400, message: "limit"},
		{name: "list limit zero", req: req{method: "GET", path: "/v1/key", query: url.Values{"limit": {"0"}}, basic: alice}, status: 400, message: "limit"},
		{name: "list next token not base64", req: req{method: "GET", path: "/v1/key", query: url.Values{"next_token": {"%%%"}}, basic: alice}, status: 400, message: "next token"},
		{name: "list next token in a header, not base64", req: req{method: "GET", path: "/v1/vault", query: url.Values{"user": {e.key.User}}, basic: alice, header: map[string]string{"X-PCIVault-Next-Token": "!!"}}, status: 400, message: "next token"},
		{name: "delete key safe not a bool", req: req{method: "DELETE", path: "/v1/key", query: url.Values{"user": {e.key.User}, "safe": {"maybe"}}, basic: alice}, status: 400, message: "safe"},
		{name: "retrieve unknown token", req: req{method: "GET", path: "/v1/vault", query: vq("token", strings.Repeat("0", 64), "reference", "ref"), basic: alice}, status: 404, message: "not found"},
		{name: "retrieve token with traversal", req: req{method: "GET", path: "/v1/vault", query: vq("token", "../../"+e.itemToken, "reference", "ref"), basic: alice}, status: 404, message: "not found"},

		// POST /v1/key bodies.
		{name: "key body unknown member", req: req{method: "POST", path: "/v1/key", basic: alice, body: `{"user":"u2","passphrase":"p2-long-enough","admin":true}`}, status: 400, message: "admin"},
		{name: "key body wrong type", req: req{method: "POST", path: "/v1/key", basic: alice, body: `{"user":["u2"]}`}, status: 400, message: "user"},
		{name: "key body oversized", req: req{method: "POST", path: "/v1/key", basic: alice, body: `{"user":"` + strings.Repeat("u", 20<<10) + `"}`}, status: 413, message: "over"},

		// POST /v1/capture: durations, ids, option bodies.
		{name: "ttl in years", req: req{method: "POST", path: "/v1/capture", query: vq("ttl", "P1Y"), basic: alice}, status: 400, message: "ttl"},
		{name: "ttl negative", req: req{method: "POST", path: "/v1/capture", query: vq("ttl", "-PT10M"), basic: alice}, status: 400, message: "negative"},
		{name: "ttl huge number", req: req{method: "POST", path: "/v1/capture", query: vq("ttl", "PT99999999999999999999999S"), basic: alice}, status: 400, message: "ttl"},
		{name: "ttl over 100 years", req: req{method: "POST", path: "/v1/capture", query: vq("ttl", "P99999W"), basic: alice}, status: 400, message: "ttl"},
		{name: "ttl fraction of minutes", req: req{method: "POST", path: "/v1/capture", query: vq("ttl", "PT1.5M"), basic: alice}, status: 400, message: "ttl"},
		{name: "ttl empty time part", req: req{method: "POST", path: "/v1/capture", query: vq("ttl", "PT"), basic: alice}, status: 400, message: "ttl"},
		{name: "ttl with NUL", req: req{method: "POST", path: "/v1/capture", query: vq("ttl", "PT1\x00M"), basic: alice}, status: 400, message: "ttl"},
		{name: "ttl overlong", req: req{method: "POST", path: "/v1/capture", query: vq("ttl", "P"+strings.Repeat("1", 500)+"D"), basic: alice}, status: 400, message: "ttl"},
		{name: "unique_id traversal", req: req{method: "POST", path: "/v1/capture", query: vq("unique_id", "../grants"), basic: alice}, status: 400, message: "unique_id"},
		{name: "unique_id reserved", req: req{method: "POST", path: "/v1/capture", query: vq("unique_id", "iframe"), basic: alice}, status: 400, message: "reserved"},
		{name: "unique_id taken", req: req{method: "POST", path: "/v1/capture", query: vq("unique_id", e.grantID), basic: alice}, status: 409, message: "exists"},
		{name: "grant body unknown member", req: req{method: "POST", path: "/v1/capture", query: vq(), basic: alice, body: `{"single_use":true,"owner":"bob"}`}, status: 400, message: "owner"},
		{name: "grant body wrong type", req: req{method: "POST", path: "/v1/capture", query: vq(), basic: alice, body: `{"allowed_fields":"cvv"}`}, status: 400, message: "allowed_fields"},
		{name: "grant body deeply nested", req: req{method: "POST", path: "/v1/capture", query: vq(), basic: alice, body: `{"webhook":` + deep(50) + `}`}, status: 400, message: "deep"},
		{name: "grant body duplicate keys", req: req{method: "POST", path: "/v1/capture", query: vq(), basic: alice, body: `{"single_use":false,"single_use":true}`}, status: 400, message: "duplicate"},
		{name: "grant webhook not https", req: req{method: "POST", path: "/v1/capture", query: vq(), basic: alice, body: `{"webhook":{"url":"javascript:alert(1)","secret":"s"}}`}, status: 400, message: "webhook"},
		{name: "grant reference without token", req: req{method: "POST", path: "/v1/capture", query: vq("reference", "ref"), basic: alice}, status: 400, message: "token"},

		// POST /v1/capture/{id}: bodies with the right secret.
		{name: "capture body oversized", req: req{method: "POST", path: grantPath, header: capture(""), body: big(300 << 10)}, status: 413, message: "over"},
		{name: "capture body deeply nested", req: req{method: "POST", path: grantPath, header: capture(""), body: `{"x":` + deep(10000) + `}`}, status: 400, message: "deep"},
		{name: "capture body invalid UTF-8", req: req{method: "POST", path: grantPath, header: capture(""), body: "{\"cvv\":\"\xc3\x28\"}"}, status: 400, message: "UTF-8"},
		{name: "capture body duplicate keys", req: req{method: "POST", path: grantPath, header: capture(""), body: `{"cvv":"111","cvv":"222"}`}, status: 400, message: "duplicate"},
		{name: "capture body not an object", req: req{method: "POST", path: grantPath, header: capture(""), body: `"cvv"`}, status: 400, message: "object"},
		{name: "capture changes the card number", req: req{method: "POST", path: grantPath, header: capture(""), body: `{"card_number":"4242424242424242"}`}, status: 400, message: "number cannot change"},
		{name: "capture multipart", req: req{method: "POST", path: grantPath, header: capture(""), body: "--x\r\n", contentType: "multipart/form-data; boundary=x"}, status: 415, message: "JSON"},

		// Ids with traversal, encoded or not: never a grant.
		{name: "capture id dot-dot", req: req{method: "POST", path: "/v1/capture/..", header: capture(""), body: `{}`}, status: 404, message: "not found"},
		{name: "capture id encoded dot-dot", req: req{method: "POST", path: "/v1/capture/%2e%2e", header: capture(""), body: `{}`}, status: 403, message: "unknown capture endpoint or wrong secret"},
		{name: "capture id encoded slash", req: req{method: "POST", path: "/v1/capture/..%2f" + e.grantID, header: capture(""), body: `{}`}, status: 403, message: "unknown capture endpoint or wrong secret"},
		{name: "capture id NUL", req: req{method: "POST", path: "/v1/capture/a%00b", header: capture(""), body: `{}`}, status: 403, message: "unknown capture endpoint or wrong secret"},
		{name: "capture id overlong", req: req{method: "POST", path: "/v1/capture/" + strings.Repeat("a", 300), header: capture(""), body: `{}`}, status: 403, message: "unknown capture endpoint or wrong secret"},
		{name: "delete grant encoded traversal", req: req{method: "DELETE", path: "/v1/capture/..%2f..%2f" + e.grantID, basic: alice}, status: 404, message: "not found"},
		{name: "capture wrong secret counts a failure", req: req{method: "POST", path: grantPath, header: map[string]string{"X-PCIVault-Capture-Secret": "wrong"}, body: `{"cvv":"000"}`},
			status: 403, message: "unknown capture endpoint or wrong secret", writes: failureBuckets},
		{name: "capture secret oversized", req: req{method: "POST", path: "/v1/capture/other-id", header: map[string]string{"X-PCIVault-Capture-Secret": strings.Repeat("s", 60<<10)}, body: `{}`},
			status: 403, message: "unknown capture endpoint or wrong secret", writes: failureBuckets},
		{name: "form page unknown id traversal", req: req{method: "GET", path: "/v1/capture/iframe/..%2f..%2fpcd", rawQuery: "unique_id=x&secret=y"}, status: 404, message: "no such form"},
		{name: "form type unknown", req: req{method: "POST", path: "/v1/capture/iframe", query: url.Values{"form_type": {"../../x"}}, basic: alice, body: `{}`}, status: 400, message: "form_type"},
		{name: "form callback not base64", req: req{method: "POST", path: "/v1/capture/iframe", query: url.Values{"form_type": {"pcd"}}, basic: alice, body: `{"success_callback":"<script>"}`}, status: 400, message: "success_callback"},

		// The secure-token API: create bodies.
		{name: "token create oversized", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: `{"operator":"` + strings.Repeat("o", 70<<10) + `"}`}, status: 413, message: "payload-too-large"},
		{name: "token create deeply nested", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: `{"customer":` + deep(1000) + `}`}, status: 400, message: "deep", writes: idem},
		{name: "token create invalid UTF-8", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: "{\"operator\":\"\xff\"}"}, status: 400, message: "UTF-8", writes: idem},
		{name: "token create duplicate keys", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: `{"operator":"a","operator":"b"}`}, status: 400, message: "duplicate", writes: idem},
		{name: "token create wrong types", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: `{"source":"card","customer":[1],"customFields":{"a":1}}`}, status: 400, message: "/source", writes: idem},
		{name: "token create card number as a huge number", req: req{method: "POST", path: token("/secure-tokens"), header: tok(),
			body: `{"source":{"type":"card","cardDetails":{"entryMethod":"keyed","keyedData":{"dataFormat":"plainText","cardNumber":4111111111111111e9999,"expiryDate":"1230"}}}}`}, status: 400, message: "cardNumber", writes: idem},
		{name: "token create card number not Luhn", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: secureTokenBody("rel-x", "4111111111111112")}, status: 400, message: "cardNumber", writes: idem},
		{name: "token create id with traversal", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: secureTokenBody("../rel-token-1", tokenCardNumber)}, status: 400, message: "secureTokenId", writes: idem},
		{name: "token create id with CR LF", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: secureTokenBody(`a\r\nLocation: https://evil.example`, tokenCardNumber)}, status: 400, message: "secureTokenId", writes: idem},
		{name: "token create existing id", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: secureTokenBody(e.secureTok, tokenCardNumber)}, status: 409, message: "resource-already-exists", writes: idem},
		{name: "token create unknown enum", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: `{"mitAgreement":"forever","source":{"type":"bitcoin"}}`}, status: 400, message: "/mitAgreement", writes: idem},
		{name: "token create empty body", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: ` `}, status: 400, message: "invalid JSON", writes: idem},
		{name: "token create XML", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: `<a/>`, contentType: "application/xml"}, status: 415, message: "unsupported-media-type"},
		{name: "token create malformed content type", req: req{method: "POST", path: token("/secure-tokens"), header: tok(), body: `{}`, contentType: "application/json;;;=="}, status: 415, message: "unsupported-media-type"},
		{name: "token create asks for HTML", req: req{method: "POST", path: token("/secure-tokens"), header: tok("Accept", "text/html"), body: `{}`}, status: 406, message: "not-acceptable"},
		{name: "token create no Idempotency-Key", req: req{method: "POST", path: token("/secure-tokens"), header: map[string]string{"Authorization": "Bearer " + e.bearerAll}, body: secureTokenBody("rel-n", tokenCardNumber)}, status: 400, message: "idempotency-key-missing"},
		{name: "token create Idempotency-Key not a UUID v4", req: req{method: "POST", path: token("/secure-tokens"), header: tok("Idempotency-Key", "8e03978e-40d5-13e8-bc93-6894a57f9324"), body: secureTokenBody("rel-n", tokenCardNumber)}, status: 400, message: "UUID v4"},
		{name: "token create Idempotency-Key overlong", req: req{method: "POST", path: token("/secure-tokens"), header: tok("Idempotency-Key", strings.Repeat("8e03978e-40d5-43e8-bc93-6894a57f9324", 100)), body: secureTokenBody("rel-n", tokenCardNumber)}, status: 400, message: "UUID v4"},

		// Bearer tokens.
		{name: "bearer forged", req: req{method: "GET", path: token("/secure-tokens"), header: map[string]string{"Authorization": "Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0."}}, status: 401, message: "not-authorized"},
		{name: "bearer oversized", req: req{method: "GET", path: token("/secure-tokens"), header: map[string]string{"Authorization": "Bearer " + strings.Repeat("a", 100<<10)}}, status: 401, message: "not-authorized"},
		{name: "bearer tampered", req: req{method: "GET", path: token("/secure-tokens"), header: map[string]string{"Authorization": "Bearer " + e.bearerAll + "x"}}, status: 401, message: "not-authorized"},
		{name: "bearer is a Basic credential", req: req{method: "GET", path: token("/secure-tokens"), basic: alice}, status: 401, message: "not-authorized"},
		{name: "api key wrong", req: req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": "ak_wrong"}}, status: 401, message: "not-authorized"},
		{name: "api key oversized", req: req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": strings.Repeat("k", 60<<10)}}, status: 401, message: "not-authorized"},

		// JSON Patch.
		{name: "patch not an array", req: req{method: "PATCH", path: stPath, header: tok(), body: `{"op":"add"}`}, status: 400, message: "array", writes: idem},
		{name: "patch unknown op", req: req{method: "PATCH", path: stPath, header: tok(), body: `[{"op":"merge","path":"/operator","value":"x"}]`}, status: 400, message: "op", writes: idem},
		{name: "patch path without slash", req: req{method: "PATCH", path: stPath, header: tok(), body: `[{"op":"add","path":"operator","value":"x"}]`}, status: 400, message: "path", writes: idem},
		{name: "patch bad escape", req: req{method: "PATCH", path: stPath, header: tok(), body: `[{"op":"add","path":"/customer/first~2Name","value":"x"}]`}, status: 400, message: "path", writes: idem},
		{name: "patch immutable token", req: req{method: "PATCH", path: stPath, header: tok(), body: `[{"op":"replace","path":"/token","value":"2967530000000000"}]`}, status: 409, message: "cannot-be-modified", writes: idem},
		{name: "patch immutable card number", req: req{method: "PATCH", path: stPath, header: tok(), body: `[{"op":"replace","path":"/source/cardNumber","value":"4242424242424242"}]`}, status: 409, message: "cannot-be-modified", writes: idem},
		{name: "patch failing test", req: req{method: "PATCH", path: stPath, header: tok(), body: `[{"op":"test","path":"/customer/firstName","value":"Mallory"},{"op":"remove","path":"/customer"}]`}, status: 409, message: "test failed", writes: idem},
		{name: "patch huge index", req: req{method: "PATCH", path: stPath, header: tok(), body: `[{"op":"add","path":"/customFields/99999999999999999999999","value":{"name":"a","value":"b"}}]`}, status: 400, message: "customFields", writes: idem},
		{name: "patch move without from", req: req{method: "PATCH", path: stPath, header: tok(), body: `[{"op":"move","path":"/operator"}]`}, status: 400, message: "from", writes: idem},
		{name: "patch value of the wrong type", req: req{method: "PATCH", path: stPath, header: tok(), body: `[{"op":"replace","path":"/customer/firstName","value":{"a":[1]}}]`}, status: 400, message: "firstName", writes: idem},
		{name: "patch op duplicate keys", req: req{method: "PATCH", path: stPath, header: tok(), body: `[{"op":"add","op":"remove","path":"/operator"}]`}, status: 400, message: "duplicate", writes: idem},
		{name: "patch deeply nested value", req: req{method: "PATCH", path: stPath, header: tok(), body: `[{"op":"add","path":"/operator","value":` + deep(1000) + `}]`}, status: 400, message: "deep", writes: idem},
		{name: "patch as merge patch media type", req: req{method: "PATCH", path: stPath, header: tok(), body: `{"operator":"x"}`, contentType: "application/merge-patch+json"}, status: 415, message: "unsupported-media-type"},
		{name: "patch id traversal", req: req{method: "PATCH", path: token("/secure-tokens/..%2frel-token-1"), header: tok(), body: `[]`}, status: 404, message: "not-found", writes: idem},
		{name: "patch id NUL", req: req{method: "PATCH", path: token("/secure-tokens/a%00b"), header: tok(), body: `[]`}, status: 404, message: "not-found", writes: idem},

		// Secure-token query strings.
		{name: "token list limit zero", req: req{method: "GET", path: token("/secure-tokens"), rawQuery: "limit=0", header: tok()}, status: 400, message: "limit"},
		{name: "token list limit huge", req: req{method: "GET", path: token("/secure-tokens"), rawQuery: "limit=1e400", header: tok()}, status: 400, message: "limit"},
		{name: "token list before and after", req: req{method: "GET", path: token("/secure-tokens"), rawQuery: "before=a&after=b", header: tok()}, status: 400, message: "before"},
		{name: "token list first6 not digits", req: req{method: "GET", path: token("/secure-tokens"), rawQuery: "first6=41111x", header: tok()}, status: 400, message: "first6"},
		{name: "token list repeated parameter", req: req{method: "GET", path: token("/secure-tokens"), rawQuery: "limit=1&limit=2", header: tok()}, status: 400, message: "limit"},
		{name: "token list invalid escape", req: req{method: "GET", path: token("/secure-tokens"), rawQuery: "email=%zz", header: tok()}, status: 400, message: "malformed"},
		{name: "vault query with a semicolon", req: req{method: "GET", path: "/v1/vault", rawQuery: "user=" + e.key.User + ";limit=1", basic: alice}, status: 400, message: "malformed"},
		{name: "token list unknown terminal traversal", req: req{method: "GET", path: "/v1/processing-terminals/..%2f" + terminalOne + "/secure-tokens", header: map[string]string{"Authorization": "Bearer " + e.bearerTwo}}, status: 403, message: "forbidden"},

		// update-account and single-use tokens.
		{name: "update-account token too short", req: req{method: "POST", path: stPath + "/update-account", header: tok(), body: `{"type":"singleUseToken","token":"abc"}`}, status: 400, message: "/token", writes: idem},
		{name: "update-account wrong type", req: req{method: "POST", path: stPath + "/update-account", header: tok(), body: `{"type":"card","token":"` + strings.Repeat("a", 128) + `"}`}, status: 400, message: "/type", writes: idem},
		{name: "update-account unknown single-use token", req: req{method: "POST", path: stPath + "/update-account", header: tok(), body: `{"type":"singleUseToken","token":"` + strings.Repeat("a", 128) + `"}`}, status: 404, message: "not-found", writes: idem},
		{name: "single-use no channel", req: req{method: "POST", path: token("/single-use-tokens"), header: tok(), body: `{"source":{"type":"card"}}`}, status: 400, message: "/channel", writes: idem},

		// Raw requests that net/http itself refuses, before any handler.
		{name: "header value with a bare CR", raw: "POST " + grantPath + " HTTP/1.1\r\nHost: x\r\nX-PCIVault-Capture-Secret: a\rInjected: 1\r\nContent-Length: 2\r\n\r\n{}", status: 400},
		{name: "header name with a space", raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nX A: 1\r\n\r\n", status: 400},
		{name: "NUL in the request line", raw: "POST /v1/capture/a\x00b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", status: 400},
		{name: "absurd Content-Length", raw: "POST /v1/vault HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n{}", status: 400},
		{name: "negative Content-Length", raw: "POST /v1/vault HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{}", status: 400},
		{name: "two Content-Lengths", raw: "POST /v1/vault HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", status: 400},
		{name: "declared body over the cap, never sent", raw: "POST " + grantPath + " HTTP/1.1\r\nHost: x\r\nX-PCIVault-Capture-Secret: " + e.grantSec + "\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{}",
			status: 413, message: "over"},
		{name: "token body declared over the cap, never sent", raw: "POST " + token("/secure-tokens") + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + e.bearerAll + "\r\nIdempotency-Key: " + tok()["Idempotency-Key"] + "\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{}",
			status: 413, message: "payload-too-large"},
		{name: "request line over the header limit", raw: "GET /v1/vault?user=" + strings.Repeat("u", 2<<20) + " HTTP/1.1\r\nHost: x\r\n\r\n", status: 431},
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := e.snapshot()
			var r reply
			if c.raw != "" {
				r = e.raw(c.raw)
			} else {
				r = e.send(c.req)
			}
			require.Equal(t, c.status, r.status, "status; body: %.300s", r.body)
			if c.raw == "" || c.message != "" {
				msg := errorMessage(t, r)
				t.Logf("%d: %.300s", r.status, msg)
				require.NotEmpty(t, msg, "an error message")
				require.Contains(t, msg, c.message, "the message says what is wrong")
			}
			changed := changedBuckets(before, e.snapshot())
			for _, b := range changed {
				require.Contains(t, c.writes, b, "the refused request changed bucket %s", b)
			}
		})
	}
	require.Empty(t, leaks(e.logs.String()), "no secret in the logs")
}

// errorMessage returns everything an error reply says: the vault/capture
// API's "error", or a problem's type, title, detail and errors[]. It fails
// the test when the body is neither.
func errorMessage(t *testing.T, r reply) string {
	t.Helper()
	ct := r.header.Get("Content-Type")
	var m map[string]any
	switch {
	case strings.HasPrefix(ct, "application/problem+json"):
		require.NoError(t, json.Unmarshal(r.body, &m), "a problem document")
		require.Equal(t, float64(r.status), m["status"], "the problem's status is the response's")
		var parts []string
		for _, k := range []string{"type", "title", "detail"} {
			if s, ok := m[k].(string); ok {
				parts = append(parts, s)
			}
		}
		if errs, ok := m["errors"].([]any); ok {
			for _, x := range errs {
				b, _ := json.Marshal(x)
				parts = append(parts, string(b))
			}
		}
		return strings.Join(parts, " | ")
	case strings.HasPrefix(ct, "application/json"):
		require.NoError(t, json.Unmarshal(r.body, &m), "a JSON error")
		s, ok := m["error"].(string)
		require.True(t, ok, "an {\"error\": ...} reply: %.200s", r.body)
		return s
	case strings.HasPrefix(ct, "text/plain"):
		// net/http's own refusals, and the hosted form's.
		return string(r.body)
	case ct == "" && len(r.body) == 0:
		return ""
	}
	t.Fatalf("an error reply of type %q: %.200s", ct, r.body)
	return ""
}
