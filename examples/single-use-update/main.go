// Command single-use-update walks the seed's "Update saved payment details
// with a single-use token" flow against a running cardvault server.
//
//	go run ./examples/server &              # in another terminal
//	go run ./examples/single-use-update
//
// It exchanges the API key for a bearer token (POST /authorize), saves a
// secure token (Sarah Hopper's card) on terminal 1234001, then creates a
// single-use token holding new card details (POST .../single-use-tokens —
// what a hosted form does in the browser; the token lives 30 minutes and
// works once), and sends it to update-account: the secure token keeps its
// token, customer and MIT agreement, and now stands for the new card. A
// second update-account with the same single-use token is refused.
//
// Flags: -url (CARDVAULT_URL), -api-key (CARDVAULT_API_KEY), -terminal; by
// default the dev server's address and API key.
package main

import (
	"fmt"
	"net/http"

	"github.com/cardvault/cardvault/examples/internal/democlient"
)

func main() { democlient.Main("single-use-update", democlient.TokenFlags(), run) }

func run(c *democlient.TokenClient) error {
	if _, _, err := c.Authorize(); err != nil {
		return err
	}
	var saved democlient.SecureToken
	if err := c.Expect(http.StatusCreated, "POST", "/secure-tokens", democlient.SeedSecureToken(democlient.NewSecureTokenID()), &saved); err != nil {
		return err
	}
	fmt.Printf("saved secure token %s: token %s, card %s, expiry %s\n", saved.SecureTokenID, saved.Token, saved.Source["cardNumber"], saved.Source["expiryDate"])

	// New card details, under a single-use token.
	var su struct {
		Token     string         `json:"token"`
		ExpiresAt string         `json:"expiresAt"`
		Source    map[string]any `json:"source"`
	}
	err := c.Expect(http.StatusCreated, "POST", "/single-use-tokens", map[string]any{
		"channel": "web",
		"source": map[string]any{"type": "card", "cardDetails": map[string]any{
			"entryMethod": "keyed", "cardholderName": "Sarah Hopper",
			"keyedData": map[string]any{"dataFormat": "plainText", "cardNumber": "5555555555554444", "expiryDate": "0331", "cvv": "987"},
		}},
	}, &su)
	if err != nil {
		return err
	}
	fmt.Printf("single-use token for card %s, expires at %s (%d characters)\n", su.Source["cardNumber"], su.ExpiresAt, len(su.Token))

	// update-account swaps the payment details in.
	update := map[string]string{"type": "singleUseToken", "token": su.Token}
	var updated democlient.SecureToken
	if err := c.Expect(http.StatusOK, "POST", "/secure-tokens/"+saved.SecureTokenID+"/update-account", update, &updated); err != nil {
		return err
	}
	fmt.Printf("updated secure token %s: token %s (unchanged: %t), card %s, expiry %s, customer %s %s, mitAgreement %s\n",
		updated.SecureTokenID, updated.Token, updated.Token == saved.Token, updated.Source["cardNumber"], updated.Source["expiryDate"],
		updated.Customer["firstName"], updated.Customer["lastName"], updated.MITAgreement)

	// A single-use token works once.
	r, err := c.Call("POST", "/secure-tokens/"+saved.SecureTokenID+"/update-account", update)
	if err != nil {
		return err
	}
	if r.Status != http.StatusBadRequest {
		return fmt.Errorf("a second update-account with the same single-use token: want a 400, got %s", r.Problem())
	}
	fmt.Printf("the same single-use token again: %s\n", r.Problem())
	return nil
}
