// Command hosted-form walks the seed's second flow against a running
// cardvault server: a configured hosted form that shows only the CVV field,
// coupled to a capture endpoint locked to one stored card.
//
//	go run ./examples/server &              # in another terminal
//	go run ./examples/hosted-form
//
// It creates a vault key and stores a test card under the reference
// "my-reference", creates a capture endpoint locked to it (ttl=PT10M),
// creates the configured form (form_type=pcd, every field hidden but the
// CVV, a success callback that redirects to -success-url with the
// reference), and prints the URL to load in an iframe or redirect to:
//
//	<scheme>://{link}?unique_id={endpoint id}&secret={endpoint secret}
//
// The link has no scheme, as in the hosted vault's API; the seed prefixes
// https://, which is right for a server behind TLS. This program uses the
// scheme of -url, so that the printed URL also opens against the local dev
// server (http).
//
// Flags: -url (CARDVAULT_URL), -basic-auth (CARDVAULT_BASIC_AUTH),
// -success-url.
package main

import (
	"encoding/base64"
	"flag"
	"fmt"
	"net/url"
	"strconv"

	"github.com/cardvault/cardvault/examples/internal/democlient"
)

func main() {
	client := democlient.Flags()
	successURL := flag.String("success-url", "https://mywebsite.com/update/success", "where the form's success callback sends the visitor")
	democlient.Main("hosted-form", client, func(c *democlient.Client) error { return run(c, *successURL) })
}

func run(c *democlient.Client, successURL string) error {
	key, card, err := c.SeedCard()
	if err != nil {
		return err
	}
	ep, err := c.LockedEndpoint(key, card, "PT10M")
	if err != nil {
		return err
	}

	// The seed's configured form: JavaScript to run on a successful
	// submission, and every field hidden but the CVV.
	callback := "function(responseData, requestData) {\n" +
		"const reference = responseData.reference;\n" +
		"window.location.replace(" + strconv.Quote(successURL) + " + '?reference=' + encodeURIComponent(reference));\n}"
	body := map[string]any{
		"success_callback": base64.StdEncoding.EncodeToString([]byte(callback)),
		"field_options": map[string]any{
			"reference":   map[string]bool{"visible": false},
			"card_holder": map[string]bool{"visible": false},
			"expiry":      map[string]bool{"visible": false},
			"card_number": map[string]bool{"visible": false},
		},
	}
	var form struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Link string `json:"link"`
	}
	err = c.Do(democlient.Request{Method: "POST", Path: "/v1/capture/iframe", Query: url.Values{"form_type": {"pcd"}}, Body: body}, &form)
	if err != nil {
		return err
	}
	fmt.Printf("form: {\"type\": %q, \"id\": %q, \"link\": %q}\n", form.Type, form.ID, form.Link)
	fmt.Printf("iframe URL (the CVV of token %s, reference %s):\n", card.Token, card.Reference)
	fmt.Printf("%s://%s?unique_id=%s&secret=%s\n", c.Base.Scheme, form.Link, url.QueryEscape(ep.ID), url.QueryEscape(ep.Secret))
	return nil
}
