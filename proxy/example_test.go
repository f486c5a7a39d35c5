package proxy_test

import (
	"fmt"

	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/proxy"
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
