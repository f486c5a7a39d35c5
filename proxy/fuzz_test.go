package proxy_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/proxy"
)

var seedCalls = []string{
	stripeCall,
	`{"request":{"method":"POST","url":"https://psp.example/v2/cards?c={{customer_id}}","headers":[{"Content-Type":"application/json"},{"X-A":"{{customer_id}}"}],"body":"{\"n\":\"{{card_number}}\",\"h\":\"{{card_holder}}\",\"a\":{{amount}},\"t\":\"{{#tags}}{{.}};{{/tags}}\",\"c\":\"{{#cvv}}{{cvv}}{{/cvv}}{{^cvv}}none{{/cvv}}\"}"}}`,
	`{"request":{"method":"PUT","url":"https://127.0.0.1:8443/x","headers":[{"Content-Type":"text/plain"}],"body":"{{card_holder}} {{billing.zip}} {{expiry_year_short}}"},"webhook":{"url":"https://merchant.example/h","secret":"s"}}`,
	`{"request":{"method":"GET","url":"https://{{h}}/"}}`,
	`{"request":{"method":"GET","url":"https://psp.example/{{card_number}}"}}`,
	`{"request":{"method":"POST","url":"https://psp.example/","headers":[{"Host":"x"},{"A":"1\r\n"}],"body":"{{=<% %>=}}"}}`,
	`{"request":{"method":"GET","url":"https://u:p@10.0.0.1/#f"},"webhook":{"secret":"a b"}}`,
}

// FuzzParseRequest: ParseRequest never panics; it refuses with the
// package's kinds; a call it accepts writes JSON that it reads back as the
// same call; and nothing it accepts has a forbidden header, a control
// character in a header or a card field in the URL.
func FuzzParseRequest(f *testing.F) {
	for _, s := range seedCalls {
		f.Add([]byte(s))
	}
	p := policy(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := proxy.ParseRequest(body, p)
		if err != nil {
			var inv *cardvault.InvalidError
			switch {
			case errors.Is(err, proxy.ErrTooLarge), errors.Is(err, proxy.ErrRefused):
			case errors.Is(err, proxy.ErrInvalidCall) && errors.As(err, &inv):
			default:
				t.Fatalf("unexpected kind of error: %v", err)
			}
			return
		}
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := proxy.ParseRequest(b, p)
		if err != nil {
			t.Fatalf("a call's own JSON does not parse: %v", err)
		}
		b2, _ := json.Marshal(c2)
		if string(b) != string(b2) {
			t.Fatalf("the JSON of a call changes when read back: %s vs %s", b, b2)
		}
		req := c.Request()
		for _, h := range req.Headers {
			if strings.ContainsAny(h.Value, "\r\n\x00") || strings.EqualFold(h.Name, "Host") || strings.EqualFold(h.Name, "Content-Length") {
				t.Fatalf("accepted header %q", h.Name)
			}
		}
		for _, f := range proxy.CardFields() {
			if strings.Contains(strings.ToLower(req.URL), "{{"+f+"}}") {
				t.Fatalf("accepted a card field in the URL: %q", req.URL)
			}
		}
	})
}

// FuzzRender: whatever the call and the item, Render never panics, its
// errors never hold the item's values, its URL keeps the call's host, its
// headers hold no CR or LF, and a JSON body template that is itself a JSON
// skeleton with variables inside strings renders to valid JSON.
func FuzzRender(f *testing.F) {
	for _, s := range seedCalls {
		f.Add([]byte(s), []byte(item))
		f.Add([]byte(s), []byte(itemPCIVault))
	}
	f.Add([]byte(seedCalls[1]), []byte(`{"card_number":"4242424242424242","card_holder":"\"\\\n\u2028<>&'","customer_id":"a/b?c#d","amount":"1","tags":[null,{"a":1}],"cvv":" "}`))
	p := policy(f)
	f.Fuzz(func(t *testing.T, callJSON, itemJSON []byte) {
		c, err := proxy.ParseRequest(callJSON, p)
		if err != nil {
			return
		}
		r, err := proxy.Render(c, itemJSON)
		if err != nil {
			switch {
			case errors.Is(err, proxy.ErrMissingKey), errors.Is(err, proxy.ErrRender),
				errors.Is(err, proxy.ErrTooLarge), errors.Is(err, proxy.ErrRefused):
			default:
				t.Fatalf("unexpected kind of error: %v", err)
			}
			for _, v := range testkit.StringsOf(itemJSON, 6) {
				if !strings.Contains(string(callJSON), v) && strings.Contains(err.Error(), v) {
					t.Fatalf("the error %q holds a value of the item", err)
				}
			}
			return
		}
		if r.Host() != c.Host() {
			t.Fatalf("rendered for host %q, the call is for %q", r.Host(), c.Host())
		}
		for _, h := range r.Headers {
			if strings.ContainsAny(h.Value, "\r\n\x00") {
				t.Fatalf("rendered header %q holds CR, LF or NUL", h.Name)
			}
		}
		req := c.Request()
		if isJSONType(req.Headers) && jsonx.Valid([]byte(req.Body)) && !strings.Contains(req.Body, "{{#") && !strings.Contains(req.Body, "{{^") && !json.Valid(r.Body) {
			t.Fatalf("a JSON skeleton rendered to invalid JSON: %q", r.Body)
		}
	})
}

func isJSONType(hs []proxy.Header) bool {
	for _, h := range hs {
		if strings.EqualFold(h.Name, "Content-Type") && strings.HasPrefix(strings.TrimSpace(strings.ToLower(h.Value)), "application/json") {
			return true
		}
	}
	return false
}
