package proxy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/proxy"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/render")

const (
	cardNumber = "4242 4242 4242 4242"
	item       = `{"card_number":"` + cardNumber + `","card_holder":"Ada \"The Countess\" Lovelace & Co.","card_expiry":"06-2027","cvv":"737",
		"customer_id":"cus_9s6XKzkNRiz8i3","amount":1250,"billing":{"zip":"9000 Gent","line1":"Rue de l'Église 1"},"tags":["vip","b&b"],"nothing":null}`
	itemPCIVault = `{"card_number":"4111 1111 1111 1111","card_holder":"Grace Hopper","expiry":"02/27","expiry_month":"02","expiry_year":"2027","cvv":"123"}`
)

// TestRenderGolden renders calls and compares the populated template (the
// debug reply's) with testdata/render/<name>.json; -update rewrites them.
func TestRenderGolden(t *testing.T) {
	for _, c := range []struct {
		name, call, item string
	}{
		{"stripe-form", stripeCall, item},
		{"json-body", `{"request":{"method":"POST","url":"https://psp.example/v2/cards",
			"headers":[{"Content-Type":"application/json; charset=utf-8"},{"Idempotency-Key":"order-{{customer_id}}-1"}],
			"body":"{\"card\":{\"number\":\"{{card_number}}\",\"holder\":\"{{card_holder}}\",\"expiry\":\"{{expiry_month}}/{{expiry_year_short}}\"},\"amount\":{{amount}},\"zip\":\"{{billing.zip}}\",\"tags\":[{{#tags}}\"{{.}}\",{{/tags}}\"end\"]}"}}`, item},
		{"text-body", `{"request":{"method":"PUT","url":"https://psp.example/notes","headers":[{"Content-Type":"text/plain"}],
			"body":"{{card_holder}}\n{{billing.line1}}\n{{#cvv}}cvv on file{{/cvv}}{{^cvv}}no cvv{{/cvv}}"}}`, item},
		{"url-and-headers", `{"request":{"method":"GET","url":"https://127.0.0.1:12111/v1/customers/{{customer_id}}/sources?zip={{billing.zip}}&x=1",
			"headers":[{"Authorization":"Bearer sk_test_abc"},{"X-Trace":"{{customer_id}} & {{billing.zip}}"},{"X-Trace":"twice"}]}}`, item},
		{"pcivault-form-item", `{"request":{"method":"POST","url":"https://psp.example/charge","headers":[{"Content-Type":"application/x-www-form-urlencoded"}],
			"body":"pan={{card_number}}&mm={{expiry_month}}&yyyy={{expiry_year}}&yy={{expiry_year_short}}&name={{card_holder}}"}}`, itemPCIVault},
		{"cvv-gone", `{"request":{"method":"POST","url":"https://psp.example/charge","headers":[{"Content-Type":"application/x-www-form-urlencoded"}],
			"body":"pan={{card_number}}{{#cvv}}&cvc={{cvv}}{{/cvv}}"}}`, `{"card_number":"4242424242424242","card_expiry":"06-2027"}`},
		{"static", `{"request":{"method":"DELETE","url":"https://psp.example/v1/cards/card_123","headers":[{"Content-Type":"application/xml"}],"body":"<delete/>"}}`, item},
	} {
		t.Run(c.name, func(t *testing.T) {
			call, err := proxy.ParseRequest([]byte(c.call), policy(t))
			require.NoError(t, err)
			r, err := proxy.Render(call, []byte(c.item))
			require.NoError(t, err)
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			require.NoError(t, enc.Encode(r))
			got := buf.Bytes()
			path := filepath.Join("testdata", "render", c.name+".json")
			if *update {
				require.NoError(t, os.WriteFile(path, got, 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err)
			require.Equal(t, string(want), string(got))
		})
	}
}

// TestRenderEscaping checks by parsing what the golden files show: a JSON
// body is valid JSON that decodes to the item's values, a form body
// decodes to them.
func TestRenderEscaping(t *testing.T) {
	c, err := proxy.ParseRequest([]byte(`{"request":{"method":"POST","url":"https://psp.example/","headers":[{"Content-Type":"application/json"}],
		"body":"{\"holder\":\"{{card_holder}}\",\"line1\":\"{{billing.line1}}\",\"amount\":{{amount}}}"}}`), policy(t))
	require.NoError(t, err)
	r, err := proxy.Render(c, []byte(item))
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(r.Body, &got))
	require.Equal(t, map[string]any{"holder": `Ada "The Countess" Lovelace & Co.`, "line1": "Rue de l'Église 1", "amount": 1250.0}, got)
	require.NotContains(t, string(r.Body), "&amp;", "never HTML escaping")
	require.NotContains(t, string(r.Body), "&#39;")

	c, err = proxy.ParseRequest([]byte(stripeCall), policy(t))
	require.NoError(t, err)
	r, err = proxy.Render(c, []byte(`{"card_number":"4242424242424242","card_expiry":"06-2027","cvv":"7&3=7"}`))
	require.NoError(t, err)
	require.Contains(t, string(r.Body), "card[cvc]=7%263%3D7", "a value cannot add a form field")
}

func TestRenderDerivedKeys(t *testing.T) {
	c, err := proxy.ParseRequest([]byte(`{"request":{"method":"POST","url":"https://psp.example/","headers":[{"Content-Type":"text/plain"}],
		"body":"{{card_number}} {{expiry_month}} {{expiry_year}} {{expiry_year_short}}"}}`), policy(t))
	require.NoError(t, err)
	for _, cs := range []struct{ item, want string }{
		{`{"card_number":"4242 4242-4242 4242","card_expiry":"06-2027"}`, "4242424242424242 06 2027 27"},
		{`{"card_number":4242424242424242,"expiry":"12/30"}`, "4242424242424242 12 2030 30"},
		// The item's own keys win over the derived ones.
		{`{"card_number":"4242424242424242","expiry":"12/30","expiry_month":"1","expiry_year":"31","expiry_year_short":"x"}`, "4242424242424242 1 31 x"},
		// A rule's output (an item key) fills a key the item had no way to derive.
		{`{"card_number":"4242424242424242","expiry_month":"03","expiry_year":"2031","expiry_year_short":"31"}`, "4242424242424242 03 2031 31"},
	} {
		r, err := proxy.Render(c, []byte(cs.item))
		require.NoError(t, err, cs.item)
		require.Equal(t, cs.want, string(r.Body), cs.item)
	}
	// Without an expiry the derived keys are missing, named.
	_, err = proxy.Render(c, []byte(`{"card_number":"4242424242424242","card_expiry":"2027-06"}`))
	require.ErrorIs(t, err, proxy.ErrMissingKey)
	require.Contains(t, err.Error(), `/request/body: the item has no key "expiry_month"`)
}

func TestRenderRefuses(t *testing.T) {
	const values = cardNumber + "|4242424242424242|737|Lovelace|cus_9s6XKzkNRiz8i3|9000 Gent"
	for _, c := range []struct {
		name, call, item string
		kind             error
		says             string
	}{
		{"missing key in the body", stripeCall, `{"card_number":"4242424242424242","card_expiry":"06-2027"}`, proxy.ErrMissingKey, `/request/body: the item has no key "cvv"`},
		{"null is missing", stripeCall, `{"card_number":"4242424242424242","card_expiry":"06-2027","cvv":null}`, proxy.ErrMissingKey, `"cvv"`},
		{"missing key in the URL", `{"request":{"method":"GET","url":"https://psp.example/c/{{customer_id}}"}}`, `{"card_number":"4242424242424242"}`, proxy.ErrMissingKey, `/request/url: the item has no key "customer_id"`},
		{"missing key in a header", `{"request":{"method":"GET","url":"https://psp.example/","headers":[{"X-A":"{{trace}}"}]}}`, item, proxy.ErrMissingKey, `/request/headers/0: the item has no key "trace"`},
		{"object", `{"request":{"method":"POST","url":"https://psp.example/","headers":[{"Content-Type":"application/json"}],"body":"{\"b\":\"{{billing}}\"}"}}`, item, proxy.ErrRender, `key "billing" is an object`},
		{"array", `{"request":{"method":"POST","url":"https://psp.example/","headers":[{"Content-Type":"text/plain"}],"body":"{{tags}}"}}`, item, proxy.ErrRender, `key "tags" is an array`},
		{"CR LF from the item into a header", `{"request":{"method":"GET","url":"https://psp.example/","headers":[{"X-Customer":"{{customer_id}}"}]}}`, `{"customer_id":"cus_1\r\nHost: evil.test"}`, proxy.ErrRender, "/request/headers/0: the rendered value holds CR, LF"},
		{"card number copied into a URL key", `{"request":{"method":"GET","url":"https://psp.example/c/{{customer_id}}"}}`, `{"card_number":"` + cardNumber + `","customer_id":"` + cardNumber + `"}`, proxy.ErrRender, "holds the item's card or account number"},
		{"card number copied into a header key", `{"request":{"method":"GET","url":"https://psp.example/","headers":[{"X-A":"{{ref}}"}]}}`, `{"account_number":"000123456789","ref":"x-000123456789"}`, proxy.ErrRender, "holds the item's card or account number"},
		{"rendered URL too long", `{"request":{"method":"GET","url":"https://psp.example/{{customer_id}}"}}`, `{"customer_id":"` + strings.Repeat("x", 2048) + `"}`, proxy.ErrTooLarge, "/request/url"},
		{"body expands too far", `{"request":{"method":"POST","url":"https://psp.example/","headers":[{"Content-Type":"text/plain"}],"body":"{{#tags}}` + strings.Repeat("{{v}}", 100) + `{{/tags}}"}}`,
			`{"v":"` + strings.Repeat("v", 10_000) + `","tags":[` + strings.TrimSuffix(strings.Repeat(`1,`, 100), ",") + `]}`, proxy.ErrTooLarge, "/request/body"},
		{"item not JSON", stripeCall, `{"card_number":`, proxy.ErrRender, "the item"},
		{"item not an object", stripeCall, `["4242424242424242"]`, proxy.ErrRender, "JSON object"},
		{"item with duplicate keys", stripeCall, `{"cvv":"1","cvv":"2"}`, proxy.ErrRender, "duplicate"},
		{"item too large", stripeCall, `{"x":"` + strings.Repeat("x", proxy.MaxItemSize) + `"}`, proxy.ErrTooLarge, "the item"},
	} {
		t.Run(c.name, func(t *testing.T) {
			call, err := proxy.ParseRequest([]byte(c.call), policy(t))
			require.NoError(t, err)
			_, err = proxy.Render(call, []byte(c.item))
			require.ErrorIs(t, err, c.kind)
			require.Contains(t, err.Error(), c.says)
			for _, v := range strings.Split(values, "|") {
				if !strings.Contains(c.call, v) {
					require.NotContains(t, err.Error(), v, "an error never holds a value of the item")
				}
			}
			if errors.Is(err, proxy.ErrTooLarge) {
				require.ErrorIs(t, err, cardvault.ErrTooLarge)
			} else {
				require.ErrorIs(t, err, cardvault.ErrInvalid)
			}
		})
	}
	_, err := proxy.Render(proxy.Call{}, []byte(item))
	require.Error(t, err, "the zero Call renders nothing")
}

// TestRenderSecrets: a Rendered printed or logged shows no card data and
// no header value.
func TestRenderSecrets(t *testing.T) {
	c, err := proxy.ParseRequest([]byte(stripeCall), policy(t))
	require.NoError(t, err)
	r, err := proxy.Render(c, []byte(item))
	require.NoError(t, err)
	require.Contains(t, string(r.Body), "4242424242424242")
	var log bytes.Buffer
	// Without the time, whose nanoseconds hold any three digits by chance
	// (737 was seen in one run).
	noTime := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	slog.New(slog.NewJSONHandler(&log, &slog.HandlerOptions{ReplaceAttr: noTime})).Info("proxy call", "request", r, "call", c)
	for _, s := range []string{fmt.Sprintf("%v", r), fmt.Sprintf("%+v", r), fmt.Sprintf("%#v", r), fmt.Sprintf("%s", r), fmt.Sprint(r), log.String()} {
		require.NotContains(t, s, "4242")
		require.NotContains(t, s, "737")
		require.NotContains(t, s, "sk_test")
	}
	require.Contains(t, log.String(), `"host":"api.stripe.com"`)
}

// TestRenderConcurrent renders a JSON and a form call from many goroutines
// at once: the escaping of one never leaks into the other (run with -race).
func TestRenderConcurrent(t *testing.T) {
	jsonCall, err := proxy.ParseRequest([]byte(`{"request":{"method":"POST","url":"https://psp.example/","headers":[{"Content-Type":"application/json"}],"body":"{\"h\":\"{{card_holder}}\"}"}}`), policy(t))
	require.NoError(t, err)
	formCall, err := proxy.ParseRequest([]byte(`{"request":{"method":"POST","url":"https://psp.example/","headers":[{"Content-Type":"application/x-www-form-urlencoded"}],"body":"h={{card_holder}}"}}`), policy(t))
	require.NoError(t, err)
	wantJSON := `{"h":"Ada \"The Countess\" Lovelace & Co."}`
	wantForm := "h=Ada+%22The+Countess%22+Lovelace+%26+Co."
	testkit.Concurrently(t, 32, func(i int) error {
		c, want := jsonCall, wantJSON
		if i%2 == 1 {
			c, want = formCall, wantForm
		}
		for range 300 {
			r, err := proxy.Render(c, []byte(item))
			if err != nil || string(r.Body) != want {
				return fmt.Errorf("got %q, %v", r.Body, err)
			}
		}
		return nil
	})
}

// TestRenderLeavesItem: Render reads the item and never writes it.
func TestRenderLeavesItem(t *testing.T) {
	c, err := proxy.ParseRequest([]byte(stripeCall), policy(t))
	require.NoError(t, err)
	doc := []byte(item)
	before := bytes.Clone(doc)
	_, err = proxy.Render(c, doc)
	require.NoError(t, err)
	require.Equal(t, before, doc)
}

// The same call parsed again takes its templates from the cache: each
// rendering still has its own item's data only, in any order and at once,
// and a faulty call gets the same clear error every time.
func TestSameCallManyItems(t *testing.T) {
	const call = `{"request":{"method":"POST","url":"https://psp.example/v1/cards?ref={{customer_id}}",
		"headers":[{"Content-Type":"application/x-www-form-urlencoded"},{"Authorization":"Bearer sk_test_same"},{"X-Customer":"{{customer_id}}"}],
		"body":"number={{card_number}}&name={{card_holder}}&exp={{expiry_month}}%2F{{expiry_year}}"}}`
	items := []struct{ item, url, customer, body string }{
		{`{"card_number":"4242424242424242","card_holder":"Ada","card_expiry":"06-2027","customer_id":"cus_a"}`,
			"https://psp.example/v1/cards?ref=cus_a", "cus_a", "number=4242424242424242&name=Ada&exp=06%2F2027"},
		{`{"card_number":"5555 5555 5555 4444","card_holder":"Grace H","card_expiry":"01-2030","customer_id":"cus_b"}`,
			"https://psp.example/v1/cards?ref=cus_b", "cus_b", "number=5555555555554444&name=Grace+H&exp=01%2F2030"},
	}
	pol := policy(t)
	done := make(chan error, 40)
	for i := range 40 {
		go func() {
			c, err := proxy.ParseRequest([]byte(call), pol)
			if err != nil {
				done <- err
				return
			}
			want := items[i%2]
			r, err := proxy.Render(c, []byte(want.item))
			switch {
			case err != nil:
			case r.URL != want.url || string(r.Body) != want.body || r.Headers[2].Value != want.customer:
				err = fmt.Errorf("item %d rendered %s %s %v", i%2, r.URL, r.Body, r.Headers)
			case r.Headers[1].Value != "Bearer sk_test_same":
				err = fmt.Errorf("static header %q", r.Headers[1].Value)
			}
			done <- err
		}()
	}
	for range 40 {
		require.NoError(t, <-done)
	}

	bad := strings.Replace(call, "{{card_holder}}", "{{> partial}}", 1)
	var first error
	for range 3 {
		_, err := proxy.ParseRequest([]byte(bad), policy(t))
		require.ErrorIs(t, err, proxy.ErrInvalidCall)
		require.ErrorContains(t, err, "/request/body")
		require.ErrorContains(t, err, "partials")
		if first != nil {
			require.Equal(t, first.Error(), err.Error())
		}
		first = err
	}
	// A static header value is not parsed, and is still checked.
	for _, v := range []string{"Bearer a\r\nX-Evil: 1", strings.Repeat("a", proxy.MaxHeaderValueLen+1)} {
		raw, _ := json.Marshal(v)
		_, err := proxy.ParseRequest([]byte(strings.Replace(call, `"Bearer sk_test_same"`, string(raw), 1)), policy(t))
		require.ErrorIs(t, err, proxy.ErrInvalidCall, v)
		require.ErrorContains(t, err, "/request/headers/1")
	}
}
