package capture_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http/httptest"

	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/vault"
)

// The seed guide's two ways to update a stored card through a capture
// endpoint locked to it, with the library API: a manual POST carrying
// X-PCIVault-Capture-Secret, and a configured hosted form showing only the
// CVV. (The reference server maps these calls to HTTP one to one.)
func Example_updateACard() {
	ctx := context.Background()
	master, _ := crypto.NewKeyring()
	st := memstore.New()
	v, _ := vault.Open(ctx, vault.Config{Store: st, Keyring: master, WorkFactor: 10})
	defer v.Close()
	svc, _ := capture.New(capture.Config{Store: st, Vault: v})
	defer svc.Close()

	key, _ := v.CreateKey(ctx, vault.Credentials{User: "test-user", Passphrase: "ALongAndVerySecretPassphraseThatIsSuperSecure"})
	card, _ := v.Tokenize(ctx, key, []byte(`{"card_number":"4111111111111111","card_holder":"Ada Lovelace","card_expiry":"06-2024"}`),
		vault.TokenizeOptions{Reference: "my-reference"})

	// The merchant creates an endpoint locked to the card, for 10 minutes
	// (POST /v1/capture?user=&passphrase=&ttl=PT10M&token=&reference=).
	g, _ := svc.CreateGrant(ctx, capture.GrantRequest{Credentials: key, TTL: "PT10M", Lock: &card})

	// 1. The third party POSTs to it with the secret
	// (POST /v1/capture/<id>, X-PCIVault-Capture-Secret: <secret>).
	res, err := svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"card_expiry":"06-2025","cvv":"145"}`))
	fmt.Println(err, res.User, res.Item.Reference)

	// 2. A hosted form that shows only the CVV (POST
	// /v1/capture/iframe?form_type=pcd), loaded at
	// <link>?unique_id=<id>&secret=<secret>; it posts the CVV to the same
	// endpoint.
	callback := base64.StdEncoding.EncodeToString([]byte(`function(responseData, requestData) {
  window.location.replace("https://mywebsite.com/update/success?reference=" + responseData.reference);
}`))
	form, _ := svc.CreateForm(ctx, "", "pcd", []byte(`{"success_callback":"`+callback+`","field_options":{
		"reference":{"visible":false},"card_holder":{"visible":false},"expiry":{"visible":false},"card_number":{"visible":false}}}`))
	fmt.Println(form.VisibleFields())
	page := httptest.NewRecorder()
	svc.ServeFormPage(page, httptest.NewRequest("GET", "/v1/capture/iframe/"+form.ID+"?unique_id="+g.ID+"&secret="+g.Secret, nil), form.ID, "")
	fmt.Println(page.Code, page.Header().Get("Referrer-Policy"))
	// What the page posts when the customer types 737:
	_, err = svc.Redeem(ctx, g.ID, g.Secret, []byte(`{"cvv":"737"}`))
	fmt.Println(err)

	doc, _ := v.Retrieve(ctx, key, card)
	fmt.Println(string(doc))
	// Output:
	// <nil> test-user my-reference
	// [cvv]
	// 200 no-referrer
	// <nil>
	// {"card_number":"4111111111111111","card_holder":"Ada Lovelace","card_expiry":"06-2025","cvv":"737"}
}
