package securetoken_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/deployment"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/store/memstore"
)

// Save a card under a secure token of a terminal, idempotently, and patch
// its customer.
func Example() {
	ctx := context.Background()
	master, err := crypto.NewKeyring() // in memory, like the store; a lasting one is a file (crypto.CreateKeyringFile)
	if err != nil {
		log.Fatal(err)
	}
	st, err := securetoken.Open(ctx, securetoken.Config{Store: memstore.New(), Keyring: master})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	req, err := securetoken.ParseCreateRequest([]byte(`{"customer": {"firstName": "Sarah", "lastName": "Smith"},
	  "source": {"type": "card", "cardDetails": {"entryMethod": "keyed", "cardholderName": "Sarah Smith",
	    "keyedData": {"dataFormat": "plainText", "cardNumber": "4539858876047062", "expiryDate": "1230"}}}}`))
	if err != nil {
		log.Fatal(err) // every fault, by JSON Pointer
	}
	// Every write takes an *idempotency.Call (nil for none): the outcome is kept in
	// the write's own transaction, and the same request again gets it back.
	// Request is the request's fingerprint (idempotency.Fingerprint over HTTP).
	call := &idempotency.Call{Principal: "api-key-1", Key: "a-fake-idempotency-key-1", Request: []byte("create sarah")}
	tok, err := st.Create(ctx, "1234001", req, call)
	if err != nil {
		log.Fatal(err)
	}
	again, err := st.Create(ctx, "1234001", req, call) // a retry: the kept outcome, no second token
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Token[:6], again.SecureTokenID == tok.SecureTokenID, call.Replayed)

	tok, err = st.Patch(ctx, "1234001", tok.SecureTokenID,
		[]byte(`[{"op":"replace","path":"/customer/lastName","value":"Hopper"}]`), nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tok.Customer.LastName, tok.Source.Card.CardNumber)
	// Output:
	// 296753 true true
	// Hopper 453985******7062
}

// The seed guide's two ways to update saved payment details, with the
// library API: a JSON Patch of raw details, and a single-use token from a
// hosted form, then update-account. (The reference server maps these calls
// to the publisher's routes one to one.)
func Example_updateSavedPaymentDetails() {
	ctx := context.Background()
	master, _ := crypto.NewKeyring()
	// The secure tokens, and the capture service whose single-use tokens
	// they take, wired together as one deployment.
	d, _ := deployment.Open(ctx, deployment.Config{Store: memstore.New(), Keyring: master, WorkFactor: 10})
	defer d.Close()

	req, _ := securetoken.ParseCreateRequest([]byte(`{
	  "secureTokenId": "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa",
	  "mitAgreement": "unscheduled",
	  "customer": {"firstName": "Sarah", "lastName": "Hopper",
	    "shippingAddress": {"recipientName": "Sarah Hopper", "address": {"address1": "1 Example Ave.", "city": "Chicago", "state": "Illinois", "country": "US", "postalCode": "60056"}}},
	  "source": {"type": "card", "cardDetails": {"entryMethod": "keyed", "cardholderName": "Sarah Hazel Hopper",
	    "keyedData": {"dataFormat": "plainText", "cardNumber": "4539858876047062", "expiryDate": "1225", "cvv": "123"}}}}`))
	saved, _ := d.Tokens.Create(ctx, "1234001", req, nil)
	id := saved.SecureTokenID

	// 1. PATCH /v1/processing-terminals/1234001/secure-tokens/<id> with raw
	// details. The guide's own example names /shippingAddress/recipientName
	// and /source/cardDetails/cardholderName, which the resource does not
	// have; the error names both, and the paths they meant.
	_, err := d.Tokens.Patch(ctx, "1234001", id, []byte(`[
	  {"op": "add", "path": "/customer/lastName", "value": null},
	  {"op": "add", "path": "/shippingAddress/recipientName", "value": null},
	  {"op": "add", "path": "/source/cardDetails/cardholderName", "value": null}]`), nil)
	fmt.Println(err)
	res, _ := d.Tokens.Patch(ctx, "1234001", id, []byte(`[
	  {"op": "replace", "path": "/customer/lastName", "value": "Hopper-Smith"},
	  {"op": "remove", "path": "/customer/shippingAddress/recipientName"},
	  {"op": "replace", "path": "/source/expiryDate", "value": "1229"}]`), nil)
	fmt.Println(res.Customer.LastName, res.Source.Card.ExpiryDate)

	// 2. A hosted form captures a new card into a single-use token (a
	// capture grant made for the terminal) ...
	g, _ := d.Capture.CreateGrant(ctx, capture.GrantRequest{Owner: "api-key", Terminal: "1234001", SingleUse: true})
	captured, _ := d.Capture.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_number":"5555555555554444","card_holder":"Sarah Hopper","expiry":"12/30","cvv":"737"}`))
	// ... and POST .../secure-tokens/<id>/update-account swaps the payment
	// details in; the customer and the MIT agreement stay.
	res, _ = d.Tokens.UpdateAccount(ctx, "1234001", id, securetoken.AccountUpdateRequest{Type: securetoken.SourceSingleUseToken, Token: captured.SingleUse.Token}, nil)
	out, _ := json.Marshal(res.Source)
	fmt.Println(string(out), res.Customer.LastName, res.MITAgreement, res.Token == saved.Token)
	// Output:
	// invalid input: /shippingAddress/recipientName: op 1 (add), its path: names no member of a secure token; the nearest valid path is /customer/shippingAddress/recipientName; /source/cardDetails/cardholderName: op 2 (add), its path: names no member of a secure token; the nearest valid path is /source/cardholderName
	// Hopper-Smith 1229
	// {"type":"card","cardholderName":"Sarah Hopper","cardNumber":"555555******4444","expiryDate":"1230","cardType":"Mastercard"} Hopper-Smith unscheduled true
}
