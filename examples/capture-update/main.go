// Command capture-update walks the seed's first flow against a running
// cardvault server: update a stored card from a third party with a capture
// endpoint locked to it, by a manual POST.
//
//	go run ./examples/server &              # in another terminal
//	go run ./examples/capture-update
//
// It creates a vault key and stores a test card under the reference
// "my-reference", creates a capture endpoint locked to that card that
// expires in ten minutes (ttl=PT10M), posts a new expiry and CVV to it with
// only the endpoint's secret (as a browser or third party would, in the
// X-PCIVault-Capture-Secret header), prints the reply, reads the card back
// to show the merge, and deletes the endpoint.
//
// Flags: -url (CARDVAULT_URL) and -basic-auth (CARDVAULT_BASIC_AUTH); by
// default the dev server's address and credentials.
package main

import (
	"fmt"
	"net/url"

	"github.com/cardvault/cardvault/examples/internal/democlient"
)

func main() { democlient.Main("capture-update", democlient.Flags(), run) }

func run(c *democlient.Client) error {
	key, card, err := c.SeedCard()
	if err != nil {
		return err
	}
	fmt.Printf("stored a card for %s: token %s, reference %s\n", card.User, card.Token, card.Reference)

	// Step 1 (the merchant, with the key): an endpoint locked to the card.
	ep, err := c.LockedEndpoint(key, card, "PT10M")
	if err != nil {
		return err
	}
	fmt.Printf("capture endpoint %s, expires at %s, locked to token %s and reference %s\n",
		ep.URL, ep.ExpiresAt, ep.LockdownInfo.Token, ep.LockdownInfo.Reference)

	// Step 2 (the third party, with only the URL and the secret).
	var reply democlient.Item
	err = c.Do(democlient.Request{Method: "POST", Path: ep.URL, NoAuth: true,
		Header: map[string]string{"X-PCIVault-Capture-Secret": ep.Secret},
		Body:   map[string]string{"card_expiry": "06-2025", "cvv": "145"}}, &reply)
	if err != nil {
		return err
	}
	fmt.Printf("the vault replied: {\"user\": %q, \"token\": %q, \"reference\": %q}\n", reply.User, reply.Token, reply.Reference)

	// The merchant reads the card back: the new data was merged in, the
	// card number kept.
	var got map[string]string
	err = c.Do(democlient.Request{Method: "GET", Path: "/v1/vault", Query: url.Values{
		"user": {key.User}, "passphrase": {key.Passphrase}, "token": {card.Token}, "reference": {card.Reference},
	}}, &got)
	if err != nil {
		return err
	}
	if got["card_expiry"] != "06-2025" || got["cvv"] != "145" || got["card_number"] != "4111111111111111" {
		return fmt.Errorf("the card was not updated as expected")
	}
	fmt.Printf("the card now: card_expiry %s, cvv updated, card number unchanged (last four %s)\n",
		got["card_expiry"], got["card_number"][len(got["card_number"])-4:])

	// Delete the endpoint once used, as the seed advises.
	if err := c.Do(democlient.Request{Method: "DELETE", Path: ep.URL}, nil); err != nil {
		return err
	}
	fmt.Println("deleted the capture endpoint")
	return nil
}
