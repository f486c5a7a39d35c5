package proxy_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/proxy"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/vault"
)

// A call that creates a payment method at a PSP from a saved card: the
// form-encoded body names the card's fields and the derived expiry keys.
func ExampleRender() {
	guard, _ := egress.New(egress.Config{})
	call, err := proxy.ParseRequest([]byte(`{
	  "request": {
	    "method": "POST",
	    "url": "https://api.stripe.com/v1/payment_methods",
	    "headers": [{"Content-Type": "application/x-www-form-urlencoded"}, {"Authorization": "Bearer sk_test_123"}],
	    "body": "type=card&card[number]={{card_number}}&card[exp_month]={{expiry_month}}&card[exp_year]={{expiry_year}}{{#cvv}}&card[cvc]={{cvv}}{{/cvv}}&billing_details[name]={{card_holder}}"
	  }
	}`), proxy.Policy{Guard: guard})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(call) // never the API key

	r, err := proxy.Render(call, []byte(`{"card_number": "4242 4242 4242 4242", "card_holder": "Ada Lovelace", "card_expiry": "06-2027", "cvv": "737"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Method, r.URL)
	fmt.Println(string(r.Body))

	// Once the CVV is gone from the item, the section leaves it out; a
	// key the item lacks is an error that names it.
	r, _ = proxy.Render(call, []byte(`{"card_number": "4242424242424242", "card_holder": "Ada Lovelace", "card_expiry": "06-2027"}`))
	fmt.Println(string(r.Body))
	_, err = proxy.Render(call, []byte(`{"card_number": "4242424242424242", "card_expiry": "06-2027"}`))
	fmt.Println(err)
	// Output:
	// POST https://api.stripe.com/…
	// POST https://api.stripe.com/v1/payment_methods
	// type=card&card[number]=4242424242424242&card[exp_month]=06&card[exp_year]=2027&card[cvc]=737&billing_details[name]=Ada+Lovelace
	// type=card&card[number]=4242424242424242&card[exp_month]=06&card[exp_year]=2027&billing_details[name]=Ada+Lovelace
	// proxy: /request/body: the item has no key "card_holder"
}

// Card data may not go in a URL: URLs end up in logs.
func ExampleParseRequest() {
	guard, _ := egress.New(egress.Config{})
	_, err := proxy.ParseRequest([]byte(`{"request": {"method": "GET", "url": "https://psp.example/cards/{{card_number}}"}}`), proxy.Policy{Guard: guard})
	fmt.Println(err)
	// Output:
	// proxy: invalid call: /request/url: names the card field "card_number": card data may not go in a URL, which ends up in logs; put it in the body
}

// Charging a saved card synchronously: the provider gets the card, the
// caller gets the provider's answer with the card number masked, and the
// CVV the request carried is gone from the item once the provider
// accepted it.
func ExampleProxy_Send() {
	// A payment provider on 127.0.0.1 that echoes what it got.
	psp := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/plain")
		w.Write(b)
	}))
	defer psp.Close()

	ctx := context.Background()
	st := memstore.New()
	dir, _ := os.MkdirTemp("", "proxy-example")
	defer os.RemoveAll(dir)
	kr, _ := crypto.CreateKeyringFile(filepath.Join(dir, "master.key"))
	v, _ := vault.Open(ctx, vault.Config{Store: st, Keyring: kr, WorkFactor: 10})
	defer v.Close()
	allow, _ := egress.ParseAllowList("127.0.0.1") // a private destination, allowed on purpose
	guard, _ := egress.New(egress.Config{Allow: allow, ExtraRoots: []*x509.Certificate{psp.Certificate()}})
	px, err := proxy.New(proxy.Config{Store: st, Vault: v, Guard: guard, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		fmt.Println(err)
		return
	}

	key, _ := v.CreateKey(ctx, vault.Credentials{User: "shop"})
	ref, _ := v.Tokenize(ctx, key, []byte(`{"card_number":"4242 4242 4242 4242","card_expiry":"06-2030","cvv":"737"}`), vault.TokenizeOptions{})
	call, err := px.Parse([]byte(`{"request": {"method": "POST", "url": "` + psp.URL + `/v1/payment_methods",
	  "headers": [{"Content-Type": "application/x-www-form-urlencoded"}, {"Idempotency-Key": "order-1"}],
	  "body": "card[number]={{card_number}}&card[exp_month]={{expiry_month}}&card[exp_year]={{expiry_year}}&card[cvc]={{cvv}}"}}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := px.Send(ctx, proxy.VaultItem(key, ref), call, proxy.Options{Synchronous: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Response.Status, res.Response.Body)
	doc, _ := v.Retrieve(ctx, key, ref)
	fmt.Println(string(doc))
	// Output:
	// 200 card[number]=424242******4242&card[exp_month]=06&card[exp_year]=2030&card[cvc]=***
	// {"card_number":"4242 4242 4242 4242","card_expiry":"06-2030"}
}
