package proxy_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/proxy"
)

func policy(t testing.TB) proxy.Policy {
	t.Helper()
	return proxy.Policy{Guard: testkit.Guard(t, egress.Config{}, "127.0.0.1")}
}

const stripeCall = `{
  "request": {
    "method": "POST",
    "url": "https://api.stripe.com/v1/payment_methods",
    "headers": [{"Content-Type": "application/x-www-form-urlencoded"}, {"Authorization": "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc"}],
    "body": "type=card&card[number]={{card_number}}&card[exp_month]={{expiry_month}}&card[exp_year]={{expiry_year}}&card[cvc]={{cvv}}"
  },
  "webhook": {"url": "https://merchant.example/hooks/psp", "secret": "whsec_abc"}
}`

func TestParseRequest(t *testing.T) {
	c, err := proxy.ParseRequest([]byte(stripeCall), policy(t))
	require.NoError(t, err)
	req := c.Request()
	require.Equal(t, "POST", req.Method)
	require.Equal(t, "https://api.stripe.com/v1/payment_methods", req.URL)
	require.Equal(t, []proxy.Header{{"Content-Type", "application/x-www-form-urlencoded"}, {"Authorization", "Bearer sk_test_4eC39HqLyjWDarjtT1zdp7dc"}}, req.Headers)
	require.Equal(t, "api.stripe.com", c.Host())
	hook, ok := c.Webhook()
	require.True(t, ok)
	require.Equal(t, proxy.Webhook{URL: "https://merchant.example/hooks/psp", Secret: "whsec_abc"}, hook)

	// The JSON round-trips, headers as one-member objects in order.
	b, err := json.Marshal(c)
	require.NoError(t, err)
	require.JSONEq(t, stripeCall, string(b))
	c2, err := proxy.ParseRequest(b, policy(t))
	require.NoError(t, err)
	b2, err := json.Marshal(c2)
	require.NoError(t, err)
	require.Equal(t, string(b), string(b2))

	// Optional parts; a lower-case method; a port; a templated path.
	c, err = proxy.ParseRequest([]byte(`{"request":{"method":"get","url":"https://127.0.0.1:12111/v1/customers/{{customer_id}}?expand={{expand}}","headers":null,"body":null},"webhook":null}`), policy(t))
	require.NoError(t, err)
	require.Equal(t, "GET", c.Request().Method)
	require.Equal(t, "127.0.0.1:12111", c.Host())
	_, ok = c.Webhook()
	require.False(t, ok)
	c, err = proxy.ParseRequest([]byte(`{"request":{"method":"DELETE","url":"https://psp.example/x"},"webhook":{"url":"https://merchant.example/h"}}`), policy(t))
	require.NoError(t, err)
	hook, _ = c.Webhook()
	require.Equal(t, "", hook.Secret)
}

// TestCallSecrets: a Call printed or logged shows no header value and no
// webhook secret.
func TestCallSecrets(t *testing.T) {
	c, err := proxy.ParseRequest([]byte(stripeCall), policy(t))
	require.NoError(t, err)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		s := fmt.Sprintf(verb, c)
		require.NotContains(t, s, "sk_test", verb)
		require.NotContains(t, s, "whsec", verb)
	}
	require.Equal(t, "POST https://api.stripe.com/…", c.String())
	require.Equal(t, "[method=POST host=api.stripe.com]", c.LogValue().String())
}

// call builds a call's JSON around a request's members.
func call(members string) string { return `{"request":{` + members + `}}` }

func TestParseRequestRefuses(t *testing.T) {
	post := func(url, headers, body string) string {
		return call(`"method":"POST","url":` + url + `,"headers":` + headers + `,"body":` + body)
	}
	ct := func(v string) string { return `[{"Content-Type":"` + v + `"}]` }
	longHeaders := "[" + strings.TrimSuffix(strings.Repeat(`{"X-A":"`+strings.Repeat("v", 8000)+`"},`, 5), ",") + "]"
	manyHeaders := "[" + strings.TrimSuffix(strings.Repeat(`{"X-A":"v"},`, proxy.MaxHeaders+1), ",") + "]"
	for _, c := range []struct {
		name, body string
		field      string // the JSON Pointer named; "" for a refusal
		says       string
	}{
		// Strict JSON.
		{"not JSON", `{"request":`, "/request", "invalid JSON"},
		{"duplicate member", `{"request":{"method":"GET","method":"POST","url":"https://psp.example/"}}`, "/request", "duplicate"},
		{"not an object", `[]`, "/", "a call is an object"},
		{"unknown member", `{"request":{"method":"GET","url":"https://psp.example/"},"debug":true}`, "/", "only the members request and webhook"},
		{"unknown request member", call(`"method":"GET","url":"https://psp.example/","query":"x"`), "/request", "only the members method, url, headers and body"},
		{"no request", `{}`, "/request", "required"},
		{"no method", call(`"url":"https://psp.example/"`), "/request/method", "required"},
		{"no url", call(`"method":"GET"`), "/request/url", "required"},
		{"method not a string", call(`"method":1,"url":"https://psp.example/"`), "/request/method", "must be a string"},
		// Method.
		{"method TRACE", call(`"method":"TRACE","url":"https://psp.example/"`), "/request/method", "one of GET, POST, PUT, PATCH, DELETE"},
		{"method CONNECT", call(`"method":"CONNECT","url":"https://psp.example/"`), "/request/method", "one of"},
		{"GET with a body", call(`"method":"GET","url":"https://psp.example/","body":"x"`), "/request/body", "no body"},
		// URL.
		{"url too long", post(`"https://psp.example/`+strings.Repeat("a", 2048)+`"`, "[]", `""`), "/request/url", "at most 2048 bytes"},
		{"http", post(`"http://psp.example/"`, "[]", `""`), "", "https"},
		{"user-info", post(`"https://user:pass@psp.example/"`, "[]", `""`), "/request/url", "user-info"},
		{"encoded # in the host", post(`"https://psp.example%23.evil.test/"`, "[]", `""`), "/request/url", "not a URL"},
		{"encoded ? in the host", post(`"https://psp.example%3F.evil.test/"`, "[]", `""`), "/request/url", "not a URL"},
		{"backslash", post(`"https://psp.example\\@evil.test/"`, "[]", `""`), "/request/url", "not a URL"},
		{"fragment", post(`"https://psp.example/#x"`, "[]", `""`), "/request/url", "fragment"},
		{"IP literal, private", post(`"https://10.0.0.1/"`, "[]", `""`), "", "private"},
		{"IP literal, loopback not allowed", post(`"https://127.0.0.2/"`, "[]", `""`), "", "loopback"},
		{"IP literal, IPv6 loopback", post(`"https://[::1]/"`, "[]", `""`), "", "loopback"},
		{"IP literal, unspecified", post(`"https://0.0.0.0/"`, "[]", `""`), "", "0.0.0.0"},
		{"numeric host", post(`"https://2130706433/"`, "[]", `""`), "/request/url", "host"},
		{"templated host", post(`"https://{{host}}/x"`, "[]", `""`), "/request/url", "scheme and host are literal"},
		{"templated port", post(`"https://psp.example:{{port}}/x"`, "[]", `""`), "/request/url", "scheme and host are literal"},
		{"card number in the URL", post(`"https://psp.example/cards/{{card_number}}"`, "[]", `""`), "/request/url", `card field "card_number"`},
		{"cvv in the query", post(`"https://psp.example/x?cvc={{cvv}}"`, "[]", `""`), "/request/url", `card field "cvv"`},
		{"card field in any case", post(`"https://psp.example/x?n={{Card_Number}}"`, "[]", `""`), "/request/url", "card field"},
		{"card field in a dotted key", post(`"https://psp.example/x?n={{card.number}}"`, "[]", `""`), "/request/url", "card field"},
		{"card field in a section", post(`"https://psp.example/x{{#cvv}}?y{{/cvv}}"`, "[]", `""`), "/request/url", "card field"},
		{"derived card field", post(`"https://psp.example/x?m={{expiry_month}}"`, "[]", `""`), "/request/url", "card field"},
		{"template injection in the URL", post(`"https://psp.example/{{=<% %>=}}<%card_number%>"`, "[]", `""`), "/request/url", "delimiter"},
		// Headers.
		{"headers not a list", post(`"https://psp.example/"`, `{"Content-Type":"text/plain"}`, `""`), "/request/headers", "one-member objects"},
		{"header of two members", post(`"https://psp.example/"`, `[{"A":"1","B":"2"}]`, `""`), "/request/headers/0", "one member"},
		{"header of no member", post(`"https://psp.example/"`, `[{}]`, `""`), "/request/headers/0", "one member"},
		{"header value not a string", post(`"https://psp.example/"`, `[{"A":1}]`, `""`), "/request/headers/0", "must be a string"},
		{"header name with a space", post(`"https://psp.example/"`, `[{"X A":"1"}]`, `""`), "/request/headers/0", "token"},
		{"header name with CR LF", post(`"https://psp.example/"`, `[{"X-A\r\nX-B":"1"}]`, `""`), "/request/headers/0", "token"},
		{"header value with CR LF", post(`"https://psp.example/"`, `[{"X-A":"1\r\nHost: evil.test"}]`, `""`), "/request/headers/0", "CR, LF, NUL"},
		{"header value with LF", post(`"https://psp.example/"`, `[{"X-A":"1\nX"}]`, `""`), "/request/headers/0", "CR, LF, NUL"},
		{"header value with NUL", post(`"https://psp.example/"`, `[{"X-A":"1\u0000"}]`, `""`), "/request/headers/0", "CR, LF, NUL"},
		{"Host", post(`"https://psp.example/"`, `[{"Host":"evil.test"}]`, `""`), "/request/headers/0", "transport sets this header"},
		{"Content-Length", post(`"https://psp.example/"`, `[{"content-length":"0"}]`, `""`), "/request/headers/0", "transport sets"},
		{"Transfer-Encoding", post(`"https://psp.example/"`, `[{"Transfer-Encoding":"chunked"}]`, `""`), "/request/headers/0", "transport sets"},
		{"Connection", post(`"https://psp.example/"`, `[{"Connection":"close"}]`, `""`), "/request/headers/0", "transport sets"},
		{"Proxy-Authorization", post(`"https://psp.example/"`, `[{"Proxy-Authorization":"x"}]`, `""`), "/request/headers/0", "transport sets"},
		{"too many headers", post(`"https://psp.example/"`, manyHeaders, `""`), "/request/headers", "at most 64 headers"},
		{"header value too long", post(`"https://psp.example/"`, `[{"X-A":"`+strings.Repeat("v", proxy.MaxHeaderValueLen+1)+`"}]`, `""`), "/request/headers/0", "at most 8192 bytes"},
		{"headers too large in all", post(`"https://psp.example/"`, longHeaders, `""`), "/request/headers", "at most 32768 bytes in all"},
		{"Content-Type twice", post(`"https://psp.example/"`, `[{"Content-Type":"application/json"},{"content-type":"text/plain"}]`, `""`), "/request/headers/1", "once at most"},
		{"Content-Type templated", post(`"https://psp.example/"`, `[{"Content-Type":"{{type}}"}]`, `""`), "/request/headers/0", "literal"},
		{"card field in a header", post(`"https://psp.example/"`, `[{"X-Card":"{{card_number}}"}]`, `""`), "/request/headers/0", `card field "card_number"`},
		{"partial in a header", post(`"https://psp.example/"`, `[{"X-A":"{{> x}}"}]`, `""`), "/request/headers/0", "partials"},
		// Body.
		{"body too long", post(`"https://psp.example/"`, ct("text/plain"), `"`+strings.Repeat("b", proxy.MaxBodyTemplate+1)+`"`), "/request/body", "at most 65536 bytes"},
		{"delimiter change", post(`"https://psp.example/"`, ct("application/json"), `"{{=<% %>=}}{\"n\":\"<%card_number%>\"}"`), "/request/body", "delimiter changes"},
		{"partial", post(`"https://psp.example/"`, ct("application/json"), `"{{> /etc/passwd}}"`), "/request/body", "partials"},
		{"lambda-shaped", post(`"https://psp.example/"`, ct("application/json"), `"{{#upper}}{{card_holder}}{{/upper}}{{upper()}}"`), "/request/body", "key name"},
		{"nested sections", post(`"https://psp.example/"`, ct("application/json"), `"{{#a}}{{#b}}x{{/b}}{{/a}}"`), "/request/body", "do not nest"},
		{"unescaped", post(`"https://psp.example/"`, ct("application/json"), `"{\"n\":\"{{{card_holder}}}\"}"`), "/request/body", "unescaped"},
		{"unescaped ampersand", post(`"https://psp.example/"`, ct("application/json"), `"{\"n\":\"{{& card_holder}}\"}"`), "/request/body", "unescaped"},
		{"template without Content-Type", post(`"https://psp.example/"`, `[]`, `"n={{card_number}}"`), "/request/body", "needs a Content-Type"},
		{"template with an unknown Content-Type", post(`"https://psp.example/"`, ct("application/xml"), `"<n>{{card_number}}</n>"`), "/request/body", "needs a Content-Type"},
		// Webhook.
		{"webhook without url", `{"request":{"method":"GET","url":"https://psp.example/"},"webhook":{"secret":"s"}}`, "/webhook/url", "required"},
		{"webhook url http", `{"request":{"method":"GET","url":"https://psp.example/"},"webhook":{"url":"http://merchant.example/"}}`, "", "https"},
		{"webhook url user-info", `{"request":{"method":"GET","url":"https://psp.example/"},"webhook":{"url":"https://a:b@merchant.example/"}}`, "/webhook/url", "user-info"},
		{"webhook secret with a space", `{"request":{"method":"GET","url":"https://psp.example/"},"webhook":{"url":"https://merchant.example/","secret":"a b"}}`, "/webhook/secret", "visible ASCII"},
		{"webhook secret with CR LF", `{"request":{"method":"GET","url":"https://psp.example/"},"webhook":{"url":"https://merchant.example/","secret":"a\r\nb"}}`, "/webhook/secret", "visible ASCII"},
		{"webhook secret too long", `{"request":{"method":"GET","url":"https://psp.example/"},"webhook":{"url":"https://merchant.example/","secret":"` + strings.Repeat("s", 257) + `"}}`, "/webhook/secret", "at most 256"},
		{"webhook unknown member", `{"request":{"method":"GET","url":"https://psp.example/"},"webhook":{"url":"https://merchant.example/","headers":[]}}`, "/webhook", "only the members url and secret"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := proxy.ParseRequest([]byte(c.body), policy(t))
			require.Error(t, err)
			require.Contains(t, err.Error(), c.says)
			if c.field == "" {
				require.ErrorIs(t, err, proxy.ErrRefused)
				require.ErrorIs(t, err, cardvault.ErrForbidden)
				return
			}
			require.ErrorIs(t, err, proxy.ErrInvalidCall)
			require.Contains(t, testkit.InvalidFields(t, err), c.field)
			require.NotContains(t, err.Error(), "sk_test")
		})
	}

	_, err := proxy.ParseRequest([]byte(`{"request":{"method":"POST","url":"https://psp.example/","body":"`+strings.Repeat(" ", proxy.MaxCallSize)+`"}}`), policy(t))
	require.ErrorIs(t, err, proxy.ErrTooLarge)
	require.ErrorIs(t, err, cardvault.ErrTooLarge)

	// Every fault is listed.
	_, err = proxy.ParseRequest([]byte(call(`"method":"TRACE","url":"https://psp.example/{{cvv}}","headers":[{"Host":"x"}]`)), policy(t))
	var inv *cardvault.InvalidError
	require.True(t, errors.As(err, &inv))
	require.Len(t, inv.Fields, 3)
}

func TestPolicyAllowHosts(t *testing.T) {
	p := policy(t)
	p.AllowHosts = []string{"api.Stripe.com"}
	_, err := proxy.ParseRequest([]byte(stripeCall), p)
	require.NoError(t, err)
	_, err = proxy.ParseRequest([]byte(call(`"method":"GET","url":"https://API.stripe.com.evil.test/"`)), p)
	require.ErrorIs(t, err, proxy.ErrRefused)
	require.Contains(t, err.Error(), "api.stripe.com.evil.test")
	_, err = proxy.ParseRequest([]byte(call(`"method":"GET","url":"https://API.Stripe.com/v1/x"`)), p)
	require.NoError(t, err, "hosts compare in lower case")
	// Webhooks are not limited by the list.
	_, err = proxy.ParseRequest([]byte(stripeCall), p)
	require.NoError(t, err)
	_, err = proxy.NewCall(proxy.Request{Method: "GET", URL: "https://psp.example/"}, nil, proxy.Policy{})
	require.Error(t, err, "a policy needs a guard")
}
