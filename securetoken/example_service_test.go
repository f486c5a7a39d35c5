package securetoken_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/vault"
)

// The seed guide's two ways to update saved payment details, with the
// library API: a JSON Patch of raw details, and a single-use token from a
// hosted form, then update-account. (The reference server maps these calls
// to the publisher's routes one to one.)
func Example_updateSavedPaymentDetails() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cardvault")
	defer os.RemoveAll(dir)
	master, _ := crypto.CreateKeyringFile(filepath.Join(dir, "master.key"))
	st := memstore.New()
	v, _ := vault.Open(ctx, vault.Config{Store: st, Keyring: master, WorkFactor: 10})
	defer v.Close()
	cs, _ := capture.New(capture.Config{Store: st, Vault: v, SingleUseDetails: securetoken.CapturedSource})
	defer cs.Close()
	svc, _ := securetoken.Open(ctx, securetoken.Config{Store: st, Keyring: master, Capture: cs, NumberInUse: v.HoldsNumber})
	defer svc.Close()

	req, _ := securetoken.ParseCreateRequest([]byte(`{
	  "secureTokenId": "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa",
	  "mitAgreement": "unscheduled",
	  "customer": {"firstName": "Sarah", "lastName": "Hopper",
	    "shippingAddress": {"recipientName": "Sarah Hopper", "address": {"address1": "1 Example Ave.", "city": "Chicago", "state": "Illinois", "country": "US", "postalCode": "60056"}}},
	  "source": {"type": "card", "cardDetails": {"entryMethod": "keyed", "cardholderName": "Sarah Hazel Hopper",
	    "keyedData": {"dataFormat": "plainText", "cardNumber": "4539858876047062", "expiryDate": "1225", "cvv": "123"}}}}`))
	saved, _ := svc.Create(ctx, "1234001", req, nil)
	id := saved.SecureTokenID

	// 1. PATCH /v1/processing-terminals/1234001/secure-tokens/<id> with raw
	// details. The guide's own example names /shippingAddress/recipientName
	// and /source/cardDetails/cardholderName, which the resource does not
	// have; the error names both, and the paths they meant.
	_, err := svc.Patch(ctx, "1234001", id, []byte(`[
	  {"op": "add", "path": "/customer/lastName", "value": null},
	  {"op": "add", "path": "/shippingAddress/recipientName", "value": null},
	  {"op": "add", "path": "/source/cardDetails/cardholderName", "value": null}]`), nil)
	fmt.Println(err)
	res, _ := svc.Patch(ctx, "1234001", id, []byte(`[
	  {"op": "replace", "path": "/customer/lastName", "value": "Hopper-Smith"},
	  {"op": "remove", "path": "/customer/shippingAddress/recipientName"},
	  {"op": "replace", "path": "/source/expiryDate", "value": "1229"}]`), nil)
	fmt.Println(res.Customer.LastName, res.Source.Card.ExpiryDate)

	// 2. A hosted form captures a new card into a single-use token (a
	// capture grant made for the terminal) ...
	g, _ := cs.CreateGrant(ctx, capture.GrantRequest{Owner: "api-key", Terminal: "1234001", SingleUse: true})
	captured, _ := cs.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_number":"5555555555554444","card_holder":"Sarah Hopper","expiry":"12/30","cvv":"737"}`))
	// ... and POST .../secure-tokens/<id>/update-account swaps the payment
	// details in; the customer and the MIT agreement stay.
	res, _ = svc.UpdateAccount(ctx, "1234001", id, securetoken.AccountUpdateRequest{Type: securetoken.SourceSingleUseToken, Token: captured.SingleUse.Token}, nil)
	out, _ := json.Marshal(res.Source)
	fmt.Println(string(out), res.Customer.LastName, res.MITAgreement, res.Token == saved.Token)
	// Output:
	// invalid input: /shippingAddress/recipientName: op 1 (add), its path: names no member of a secure token; the nearest valid path is /customer/shippingAddress/recipientName; /source/cardDetails/cardholderName: op 2 (add), its path: names no member of a secure token; the nearest valid path is /source/cardholderName
	// Hopper-Smith 1229
	// {"type":"card","cardholderName":"Sarah Hopper","cardNumber":"555555******4444","expiryDate":"1230","cardType":"Mastercard"} Hopper-Smith unscheduled true
}
