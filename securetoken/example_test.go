package securetoken_test

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/cardvault/cardvault/securetoken"
)

// The contract's create request for the customer of the secure-token
// update guide: a keyed card, CVV included.
const createBody = `{
  "operator": "Jane",
  "mitAgreement": "unscheduled",
  "customer": {
    "firstName": "Sarah",
    "lastName": "Hopper",
    "dateOfBirth": "1990-07-15",
    "referenceNumber": "Customer-12",
    "billingAddress": {"address1": "1 Example Ave.", "address2": "Example Address Line 2",
      "address3": "Example Address Line 3", "city": "Chicago", "state": "Illinois",
      "country": "US", "postalCode": "60056"},
    "shippingAddress": {"recipientName": "Sarah Hopper", "address": {"address1": "1 Example Ave.",
      "address2": "Example Address Line 2", "address3": "Example Address Line 3",
      "city": "Chicago", "state": "Illinois", "country": "US", "postalCode": "60056"}},
    "contactMethods": [{"type": "email", "value": "sarah.hopper@example.com"}],
    "notificationLanguage": "en"
  },
  "ipAddress": {"type": "ipv4", "value": "104.18.24.203"},
  "source": {
    "type": "card",
    "cardDetails": {
      "entryMethod": "keyed",
      "cardholderName": "Sarah Hazel Hopper",
      "keyedData": {"dataFormat": "plainText", "cardNumber": "4539858876047062", "expiryDate": "1225", "cvv": "234"}
    }
  },
  "customFields": [{"name": "yourCustomField", "value": "abc123"}]
}`

// Parse a create request, make the record the service seals, and print the
// resource every response carries: the card masked, no CVV, no operator,
// no IP address — the guide's example response.
func ExampleParseCreateRequest() {
	req, err := securetoken.ParseCreateRequest([]byte(createBody))
	if err != nil {
		fmt.Println(err)
		return
	}
	src, _ := req.Source.StoredSource() // false only for a single-use token
	rec := securetoken.NewRecord(req, src)
	// The service's part: the terminal, an identifier, a Luhn-valid token.
	rec.ProcessingTerminalID = "1234001"
	rec.SecureTokenID = "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa"
	rec.Token = "296753123458"
	if err := rec.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	pub, _ := rec.PublicJSON()
	var out bytes.Buffer
	_ = json.Indent(&out, pub, "", "  ")
	fmt.Println(out.String())
	// Output:
	// {
	//   "secureTokenId": "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa",
	//   "processingTerminalId": "1234001",
	//   "mitAgreement": "unscheduled",
	//   "customer": {
	//     "firstName": "Sarah",
	//     "lastName": "Hopper",
	//     "dateOfBirth": "1990-07-15",
	//     "referenceNumber": "Customer-12",
	//     "billingAddress": {
	//       "address1": "1 Example Ave.",
	//       "address2": "Example Address Line 2",
	//       "address3": "Example Address Line 3",
	//       "city": "Chicago",
	//       "state": "Illinois",
	//       "country": "US",
	//       "postalCode": "60056"
	//     },
	//     "shippingAddress": {
	//       "recipientName": "Sarah Hopper",
	//       "address": {
	//         "address1": "1 Example Ave.",
	//         "address2": "Example Address Line 2",
	//         "address3": "Example Address Line 3",
	//         "city": "Chicago",
	//         "state": "Illinois",
	//         "country": "US",
	//         "postalCode": "60056"
	//       }
	//     },
	//     "contactMethods": [
	//       {
	//         "type": "email",
	//         "value": "sarah.hopper@example.com"
	//       }
	//     ],
	//     "notificationLanguage": "en"
	//   },
	//   "source": {
	//     "type": "card",
	//     "cardholderName": "Sarah Hazel Hopper",
	//     "cardNumber": "453985******7062",
	//     "expiryDate": "1225",
	//     "cardType": "Visa"
	//   },
	//   "token": "296753123458",
	//   "status": "notValidated",
	//   "customFields": [
	//     {
	//       "name": "yourCustomField",
	//       "value": "abc123"
	//     }
	//   ]
	// }
}

// Every fault of a request at once, each named by JSON Pointer, none
// repeating the value.
func ExampleParseCreateRequest_faults() {
	_, err := securetoken.ParseCreateRequest([]byte(`{
	  "customer": {"lastName": 60, "contactMethods": [{"type": "pager", "value": "x"}]},
	  "source": {"type": "card", "cardDetails": {"entryMethod": "keyed", "cardholderName": "S",
	    "keyedData": {"dataFormat": "plainText", "cardNumber": "4539858876047063", "expiryDate": "1325", "cvv": "23"}}}
	}`))
	fmt.Println(err)
	// Output:
	// invalid input: /customer/contactMethods/0/type: must be one of: email, phone, mobile, fax; /customer/lastName: must be a string; /source/cardDetails/keyedData/cardNumber: must be 12 to 19 digits ending in a valid Luhn check digit; /source/cardDetails/keyedData/cvv: must be 3 to 4 digits; /source/cardDetails/keyedData/expiryDate: must be MMYY: four digits, month 01 to 12
}

// The guide's PATCH uses two paths the resource does not have; the policy
// refuses them and names the nearest valid ones.
func ExamplePathPolicy_CheckWrite() {
	policy := securetoken.PolicyFor(securetoken.SourceCard)
	for _, path := range []string{"/customer/lastName", "/shippingAddress/recipientName", "/source/cardDetails/cardholderName", "/source/cardNumber"} {
		fmt.Printf("%s: %v\n", path, policy.CheckWrite(path))
	}
	// Output:
	// /customer/lastName: <nil>
	// /shippingAddress/recipientName: invalid input: /shippingAddress/recipientName: names no member of a secure token; the nearest valid path is /customer/shippingAddress/recipientName
	// /source/cardDetails/cardholderName: invalid input: /source/cardDetails/cardholderName: names no member of a secure token; the nearest valid path is /source/cardholderName
	// /source/cardNumber: securetoken: cannot be modified: /source/cardNumber
}

func ExampleNearestPath() {
	fmt.Println(securetoken.NearestPath("/shippingAddress/recipientName"))
	fmt.Println(securetoken.NearestPath("/source/cardDetails/cardholderName"))
	fmt.Println(securetoken.NearestPath("/customer/LastNme"))
	// Output:
	// /customer/shippingAddress/recipientName
	// /source/cardholderName
	// /customer/lastName
}

// A PATCH runs on the public document; ApplyPublic takes the result back
// into the record, keeping the whole card number it never showed.
func ExampleApplyPublic() {
	req, _ := securetoken.ParseCreateRequest([]byte(createBody))
	src, _ := req.Source.StoredSource()
	rec := securetoken.NewRecord(req, src)
	rec.ProcessingTerminalID, rec.SecureTokenID, rec.Token = "1234001", "MREF_1", "296753123458"

	doc, _ := rec.PublicJSON()
	// What [{"op":"replace","path":"/customer/lastName","value":"Reed"},
	// {"op":"replace","path":"/source/expiryDate","value":"0128"}] makes of it:
	doc = bytes.Replace(doc, []byte(`"lastName":"Hopper"`), []byte(`"lastName":"Reed"`), 1)
	doc = bytes.Replace(doc, []byte(`"expiryDate":"1225"`), []byte(`"expiryDate":"0128"`), 1)

	updated, err := securetoken.ApplyPublic(rec, doc)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(updated.Customer.LastName, updated.Source.Card.ExpiryDate, updated.Source.Card.CardNumber)
	fmt.Println(string(updated.Source.Card.CardNumber) == "4539858876047062")

	// Changing what cannot change is a conflict, whatever the path policy
	// let through.
	_, err = securetoken.ApplyPublic(rec, bytes.Replace(doc, []byte(`"status":"notValidated"`), []byte(`"status":"cvvValidated"`), 1))
	fmt.Println(err)
	// Output:
	// Reed 0128 453985******7062
	// true
	// securetoken: cannot be modified: /status
}
