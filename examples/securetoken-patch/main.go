// Command securetoken-patch walks the seed's "Update saved payment details"
// flow against a running cardvault server: a secure token updated with raw
// details by an RFC 6902 JSON Patch.
//
//	go run ./examples/server &              # in another terminal
//	go run ./examples/securetoken-patch
//
// It exchanges the API key for a bearer token (POST /authorize), saves the
// guide's secure token (Sarah Hopper's card) on terminal 1234001, and sends
// the guide's own PATCH. That PATCH names /shippingAddress/recipientName
// and /source/cardDetails/cardholderName, which a secure token does not
// have, so the server refuses it as a whole with a 400 that names each path
// and the nearest valid one. It then sends the PATCH on those paths and
// prints the updated token. Every POST and PATCH carries a new
// Idempotency-Key.
//
// Flags: -url (CARDVAULT_URL), -api-key (CARDVAULT_API_KEY), -terminal; by
// default the dev server's address and API key.
package main

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/cardvault/cardvault/examples/internal/democlient"
)

// seedPatch is the guide's PATCH body, as it sends it.
const seedPatch = `[
 {"op": "add", "path": "/customer/lastName", "value": null},
 {"op": "add", "path": "/shippingAddress/recipientName", "value": null},
 {"op": "add", "path": "/source/cardDetails/cardholderName", "value": null}
]`

// correctedPatch is the guide's intent on the paths the server named. A
// saved card keeps a cardholder name, so the third op replaces it rather
// than setting it to null.
const correctedPatch = `[
 {"op": "add", "path": "/customer/lastName", "value": null},
 {"op": "add", "path": "/customer/shippingAddress/recipientName", "value": null},
 {"op": "replace", "path": "/source/cardholderName", "value": "Sarah Hopper"}
]`

func main() { democlient.Main("securetoken-patch", democlient.TokenFlags(), run) }

func run(c *democlient.TokenClient) error {
	expiresIn, scope, err := c.Authorize()
	if err != nil {
		return err
	}
	fmt.Printf("authorized: a bearer token for %d s (scope %q)\n", expiresIn, scope)

	var st democlient.SecureToken
	if err := c.Expect(http.StatusCreated, "POST", "/secure-tokens", democlient.SeedSecureToken(democlient.NewSecureTokenID()), &st); err != nil {
		return err
	}
	path := "/secure-tokens/" + st.SecureTokenID
	fmt.Printf("saved secure token %s on terminal %s: token %s, card %s\n", st.SecureTokenID, st.ProcessingTerminalID, st.Token, st.Source["cardNumber"])

	// The guide's PATCH: refused, nothing changed.
	r, err := c.Call("PATCH", path, []byte(seedPatch))
	if err != nil {
		return err
	}
	if r.Status != http.StatusBadRequest {
		return fmt.Errorf("the guide's PATCH: want a 400, got %s", r.Problem())
	}
	fmt.Printf("the guide's PATCH was refused: %s\n", r.Problem())

	// The same on the paths the server named.
	var got json.RawMessage
	if err := c.Expect(http.StatusOK, "PATCH", path, []byte(correctedPatch), &got); err != nil {
		return err
	}
	var patched democlient.SecureToken
	if err := json.Unmarshal(got, &patched); err != nil {
		return err
	}
	fmt.Printf("the corrected PATCH succeeded: lastName %s, shipping recipientName %s, cardholderName %q, card %s, token %s\n",
		present(patched.Customer["lastName"]), present(member(patched.Customer["shippingAddress"], "recipientName")),
		patched.Source["cardholderName"], patched.Source["cardNumber"], patched.Token)
	fmt.Printf("the secure token now: %s\n", got)
	return nil
}

func member(v any, key string) any {
	if m, ok := v.(map[string]any); ok {
		return m[key]
	}
	return nil
}

func present(v any) string {
	if v == nil {
		return "removed"
	}
	return fmt.Sprintf("%q", v)
}
