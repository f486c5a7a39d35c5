package securetoken_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/securetoken"
)

const device = `{"model":"paxA920","serialNumber":"1850010868"}`
const encDevice = `{"model":"paxA920","serialNumber":"1850010868","dataKsn":"A1B2C3D4E5F67890ABCD"}`

// Every source variant of the contract: what it saves, or why it cannot.
func TestCreateVariants(t *testing.T) {
	base := del(t, createCard(t), "source")
	withSource := func(src string) []byte { return setRaw(t, base, "source", src) }
	type want struct {
		typ      securetoken.SourceType
		masked   string // the public number
		name     string
		expiry   string
		cardType string
	}
	ok := []struct {
		name string
		body []byte
		want want
	}{
		{"card keyed plainText", createCard(t),
			want{securetoken.SourceCard, "453985******7062", "Sarah Hazel Hopper", "1230", "Visa"}},
		{"card keyed plainText with device and issue number", withSource(`{"type":"card","accountType":"checking","cardDetails":{
			"entryMethod":"keyed","cardholderName":"Sarah Hopper","keyedData":{"dataFormat":"plainText","device":` + device + `,
			"cardNumber":"5555555555554444","expiryDate":"0129","cvv":"1234","issueNumber":"7"}}}`),
			want{securetoken.SourceCard, "555555******4444", "Sarah Hopper", "0129", "Mastercard"}},
		{"card keyed plainText with PIN and EBT", withSource(`{"type":"card","cardDetails":{"entryMethod":"keyed","cardholderName":"S H",
			"keyedData":{"dataFormat":"plainText","cardNumber":"378282246310005"},
			"pinDetails":{"dataFormat":"dukpt","pin":"A1B2C3D4E5F67890","pinKsn":"1234567890ABCDEF1234"},
			"ebtDetails":{"benefitCategory":"foodStamp","withdrawal":false,"voucher":{"approvalCode":"123456","serialNumber":"SN123456789"}}}}`),
			want{securetoken.SourceCard, "378282*****0005", "S H", "", "American Express"}},
		{"card swiped plainText track 1 and 2", withSource(`{"type":"card","cardDetails":{"entryMethod":"swiped","swipedData":{
			"dataFormat":"plainText","device":` + device + `,"fallback":true,"fallbackReason":"technical",
			"trackData":"%B4539858876047062^HOPPER/SARAH H^3012101000000000000?;4539858876047062=30121010000000000?"}}}`),
			want{securetoken.SourceCard, "453985******7062", "SARAH H HOPPER", "1230", "Visa"}},
		{"card swiped plainText track 2 with name", withSource(`{"type":"card","cardDetails":{"entryMethod":"swiped","cardholderName":"Sarah Hopper",
			"swipedData":{"dataFormat":"plainText","device":` + device + `,"trackData":";6011111111111117=27081010000000000?"}}}`),
			want{securetoken.SourceCard, "601111******1117", "Sarah Hopper", "0827", "Discover"}},
		{"ach", withSource(`{"type":"ach","accountType":"checking","secCode":"web","nameOnAccount":"Shara Hazel Hopper",
			"accountNumber":"` + testACHAccount + `","routingNumber":"` + testRouting + `"}`),
			want{typ: securetoken.SourceACH, masked: "*****7890", name: "Shara Hazel Hopper"}},
		{"pad", withSource(`{"type":"pad","accountType":"savings","nameOnAccount":"Sarah Hazel Hopper",
			"accountNumber":"` + testPADAccount + `","transitNumber":"76543","institutionNumber":"543"}`),
			want{typ: securetoken.SourcePAD, masked: "*****567", name: "Sarah Hazel Hopper"}},
	}
	for _, tc := range ok {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecord(t, tc.body)
			rec.ProcessingTerminalID, rec.Token = "1234001", "296753123458"
			rec.SecureTokenID = "id-1"
			require.NoError(t, rec.Validate())
			pub := rec.Public().Source
			require.Equal(t, tc.want.typ, pub.Type)
			switch tc.want.typ {
			case securetoken.SourceCard:
				require.Equal(t, tc.want.masked, string(pub.Card.CardNumber))
				require.Equal(t, tc.want.name, pub.Card.CardholderName)
				require.Equal(t, tc.want.expiry, pub.Card.ExpiryDate)
				require.Equal(t, tc.want.cardType, pub.Card.CardType)
			case securetoken.SourceACH:
				require.Equal(t, tc.want.masked, string(pub.ACH.AccountNumber))
				require.Equal(t, tc.want.name, pub.ACH.NameOnAccount)
				require.Equal(t, securetoken.SECWeb, rec.Source.ACH.SECCode)
			case securetoken.SourcePAD:
				require.Equal(t, tc.want.masked, string(pub.PAD.AccountNumber))
				require.Equal(t, tc.want.name, pub.PAD.NameOnAccount)
				require.Equal(t, securetoken.AccountSavings, pub.PAD.AccountType)
			}
			out := publicJSON(t, rec)
			testkit.RequireNoSecret(t, string(out), testPAN, "5555555555554444", "378282246310005", testACHAccount, testPADAccount, "cvv", "issueNumber", "secCode")
			_, err := securetoken.ParseResource(out)
			require.NoError(t, err)
		})
	}

	// The variants only a terminal's key-management system can read.
	refused := []struct {
		name, src, at string
	}{
		{"card raw", `{"type":"card","cardDetails":{"entryMethod":"raw","device":` + device + `,"rawData":"A1B2C3D4E5F67890"}}`,
			"/source/cardDetails/entryMethod"},
		{"card icc", `{"type":"card","cardDetails":{"entryMethod":"icc","device":` + encDevice + `,"iccData":"5A08476173921001010F","firstDigitOfPan":"4"}}`,
			"/source/cardDetails/entryMethod"},
		{"card keyed fullyEncrypted", `{"type":"card","cardDetails":{"entryMethod":"keyed","cardholderName":"S","keyedData":{
			"dataFormat":"fullyEncrypted","device":` + encDevice + `,"encryptedData":"A1B2C3","firstDigitOfPan":"4"}}}`,
			"/source/cardDetails/keyedData/dataFormat"},
		{"card keyed partiallyEncrypted", `{"type":"card","cardDetails":{"entryMethod":"keyed","cardholderName":"S","keyedData":{
			"dataFormat":"partiallyEncrypted","device":` + encDevice + `,"encryptedPan":"A1B2C3","maskedPan":"453985******7062",
			"expiryDate":"1230","cvv":"234","cvvEncrypted":"ABCD","issueNumber":"78"}}}`,
			"/source/cardDetails/keyedData/dataFormat"},
		{"card swiped encrypted", `{"type":"card","cardDetails":{"entryMethod":"swiped","swipedData":{
			"dataFormat":"encrypted","device":` + encDevice + `,"encryptedData":"A1B2C3","firstDigitOfPan":"4","fallback":false}}}`,
			"/source/cardDetails/swipedData/dataFormat"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := securetoken.ParseCreateRequest(withSource(tc.src))
			require.Equal(t, []string{tc.at}, testkit.InvalidFields(t, err))
			var ie *cardvault.InvalidError
			require.True(t, errors.As(err, &ie))
			require.Equal(t, "not supported", ie.Fields[0].Detail)
		})
	}
}

// A single-use token source is redeemed by the service; its accountType
// and secCode complete the bank details it held.
func TestCreateFromSingleUseToken(t *testing.T) {
	body := readFile(t, "contract/createSecureToken.request.createSecureTokenSingleUseToken.json")
	body = set(t, body, "source.accountType", "savings")
	body = set(t, body, "source.secCode", "ppd")
	req, err := securetoken.ParseCreateRequest(body)
	require.NoError(t, err)
	_, ok := req.Source.StoredSource()
	require.False(t, ok, "a single-use token must be redeemed, not read")
	require.Len(t, req.Source.SingleUseToken.Token, 128)

	held := securetoken.Source{Type: securetoken.SourceACH, ACH: &securetoken.ACHSource{
		NameOnAccount: "Sarah Hopper", AccountNumber: testACHAccount, RoutingNumber: testRouting,
		AccountType: securetoken.AccountChecking,
	}}
	rec := securetoken.NewRecord(req, held)
	require.Equal(t, securetoken.AccountSavings, rec.Source.ACH.AccountType)
	require.Equal(t, securetoken.SECPPD, rec.Source.ACH.SECCode)
	require.Equal(t, securetoken.AccountChecking, held.ACH.AccountType, "NewRecord must not change its argument")
	require.Equal(t, securetoken.StatusNotValidated, rec.Status)
	require.Equal(t, "Jane", rec.Operator)
	require.Equal(t, "104.18.24.203", rec.IPAddress.Value)
}

// One request with many faults reports every one, by pointer, in pointer
// order, each message free of the value.
func TestCreateReportsEveryFault(t *testing.T) {
	body := createCard(t)
	body = set(t, body, "secureTokenId", strings.Repeat("x", 201))
	body = set(t, body, "operator", "")
	body = set(t, body, "mitAgreement", "sometimes")
	body = set(t, body, "customer.firstName", strings.Repeat("é", 61)) // 61 characters, 122 bytes
	body = set(t, body, "customer.lastName", strings.Repeat("é", 60))  // fine: lengths count characters
	body = set(t, body, "customer.dateOfBirth", "1990-02-30")
	body = set(t, body, "customer.referenceNumber", 12)
	body = del(t, body, "customer.billingAddress.city")
	body = set(t, body, "customer.billingAddress.country", "USA")
	body = set(t, body, "customer.shippingAddress.address.postalCode", "12345678901")
	body = setRaw(t, body, "customer.contactMethods", `[{"type":"email","value":"`+strings.Repeat("a", 51)+`"},
		{"type":"pager","value":"1"},{"type":"phone","value":"2025550164"},{"type":"phone","value":"2025550164"},5,null]`)
	body = set(t, body, "customer.notificationLanguage", "de")
	body = setRaw(t, body, "ipAddress", `{"type":"ipv6","value":"104.18.24.203"}`)
	body = set(t, body, "source.cardDetails.keyedData.cardNumber", "4539858876047063") // Luhn fails
	body = set(t, body, "source.cardDetails.keyedData.expiryDate", "1330")
	body = set(t, body, "source.cardDetails.keyedData.cvv", "12a")
	body = set(t, body, "source.cardDetails.keyedData.issueNumber", "123")
	body = setRaw(t, body, "customFields", `[{"name":"","value":"v"},{"name":"n","value":"`+strings.Repeat("v", 101)+`"},{"name":"ok","value":"ok"},{}]`)
	body = setRaw(t, body, "threeDSecure", `{"serviceProvider":"thirdParty","eci":"maybe","xid":5}`)

	_, err := securetoken.ParseCreateRequest(body)
	require.Equal(t, []string{
		"/customFields/0/name",
		"/customFields/1/value",
		"/customFields/3/name",
		"/customFields/3/value",
		"/customer/billingAddress/city",
		"/customer/billingAddress/country",
		"/customer/contactMethods/0/value",
		"/customer/contactMethods/1/type",
		"/customer/contactMethods/3",
		"/customer/contactMethods/4",
		"/customer/contactMethods/5",
		"/customer/dateOfBirth",
		"/customer/firstName",
		"/customer/notificationLanguage",
		"/customer/referenceNumber",
		"/customer/shippingAddress/address/postalCode",
		"/ipAddress/value",
		"/mitAgreement",
		"/operator",
		"/secureTokenId",
		"/source/cardDetails/keyedData/cardNumber",
		"/source/cardDetails/keyedData/cvv",
		"/source/cardDetails/keyedData/expiryDate",
		"/source/cardDetails/keyedData/issueNumber",
		"/threeDSecure/eci",
		"/threeDSecure/xid",
	}, testkit.InvalidFields(t, err))
	testkit.RequireNoSecret(t, err.Error(), "4539858876047063", "12a", "1990-02-30", "éé", "2025550164", "104.18")
}

func TestCreateFaults(t *testing.T) {
	card := createCard(t)
	cases := []struct {
		name string
		body []byte
		want []string
	}{
		{"not an object", []byte(`[1]`), []string{""}},
		{"null", []byte(`null`), []string{""}},
		{"no source", del(t, card, "source"), []string{"/source/type"}},
		{"source null", setRaw(t, card, "source", "null"), []string{"/source/type"}},
		{"source not an object", set(t, card, "source", "card"), []string{"/source"}},
		{"unknown source type", set(t, card, "source.type", "cash"), []string{"/source/type"}},
		{"no card details", del(t, card, "source.cardDetails"), []string{"/source/cardDetails/entryMethod"}},
		{"unknown entry method", set(t, card, "source.cardDetails.entryMethod", "tapped"), []string{"/source/cardDetails/entryMethod"}},
		{"no keyed data", del(t, card, "source.cardDetails.keyedData"), []string{"/source/cardDetails/keyedData/dataFormat"}},
		{"no card number", del(t, card, "source.cardDetails.keyedData.cardNumber"), []string{"/source/cardDetails/keyedData/cardNumber"}},
		{"card number with spaces", set(t, card, "source.cardDetails.keyedData.cardNumber", "4539 8588 7604 7062"), []string{"/source/cardDetails/keyedData/cardNumber"}},
		{"card number too short", set(t, card, "source.cardDetails.keyedData.cardNumber", "42424242426"), []string{"/source/cardDetails/keyedData/cardNumber"}},
		{"card number as a number", set(t, card, "source.cardDetails.keyedData.cardNumber", 4539858876047062), []string{"/source/cardDetails/keyedData/cardNumber"}},
		{"expiry month 00", set(t, card, "source.cardDetails.keyedData.expiryDate", "0030"), []string{"/source/cardDetails/keyedData/expiryDate"}},
		{"expiry unanchored", set(t, card, "source.cardDetails.keyedData.expiryDate", "x1230"), []string{"/source/cardDetails/keyedData/expiryDate"}},
		{"cvv of 5", set(t, card, "source.cardDetails.keyedData.cvv", "12345"), []string{"/source/cardDetails/keyedData/cvv"}},
		{"no cardholder name", del(t, card, "source.cardDetails.cardholderName"), []string{"/source/cardDetails/cardholderName"}},
		{"empty cardholder name", set(t, card, "source.cardDetails.cardholderName", ""), []string{"/source/cardDetails/cardholderName"}},
		{"empty secureTokenId", set(t, card, "secureTokenId", ""), []string{"/secureTokenId"}},
		{"device without serial", setRaw(t, card, "source.cardDetails.keyedData.device", `{"model":"paxA920","config":{}}`),
			[]string{"/source/cardDetails/keyedData/device/config/quickChip", "/source/cardDetails/keyedData/device/serialNumber"}},
		{"unknown device model", setRaw(t, card, "source.cardDetails.keyedData.device", `{"model":"nokia3310","serialNumber":"1"}`),
			[]string{"/source/cardDetails/keyedData/device/model"}},
		{"PIN not dukpt", setRaw(t, card, "source.cardDetails.pinDetails", `{"dataFormat":"raw","pin":"1234"}`),
			[]string{"/source/cardDetails/pinDetails/dataFormat"}},
		{"bad billing address", setRaw(t, card, "customer.billingAddress", `{"address1":5}`), []string{
			"/customer/billingAddress/address1", "/customer/billingAddress/city", "/customer/billingAddress/country",
			"/customer/billingAddress/postalCode", "/customer/billingAddress/state"}},
		{"ip type missing", setRaw(t, card, "ipAddress", `{"value":"::1"}`), []string{"/ipAddress/type"}},
		{"ip with zone", setRaw(t, card, "ipAddress", `{"type":"ipv6","value":"fe80::1%eth0"}`), []string{"/ipAddress/value"}},
		{"3DS gateway without reference", setRaw(t, card, "threeDSecure", `{"serviceProvider":"gateway","mpiReference":"short"}`),
			[]string{"/threeDSecure/mpiReference"}},
		{"invalid JSON", []byte(`{"source":`), []string{"/source"}},
		{"duplicate member", []byte(`{"source":{"type":"ach"},"source":{"type":"pad"}}`), []string{""}},
		{"escaped duplicate", []byte(`{"source":{"type":"card","typ\u0065":"ach"}}`), []string{"/source"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := securetoken.ParseCreateRequest(tc.body)
			require.Equal(t, tc.want, testkit.InvalidFields(t, err))
			require.Zero(t, req.Source.Type, "a refused request must come back empty")
		})
	}
}

func TestCreateBankFaults(t *testing.T) {
	base := del(t, createCard(t), "source")
	cases := []struct {
		name, src string
		want      []string
	}{
		{"ach empty", `{"type":"ach"}`, []string{"/source/accountNumber", "/source/nameOnAccount", "/source/routingNumber"}},
		{"ach routing checksum", `{"type":"ach","nameOnAccount":"A","accountNumber":"1234","routingNumber":"123456789"}`,
			[]string{"/source/routingNumber"}},
		{"ach account too long and letters", `{"type":"ach","nameOnAccount":"` + strings.Repeat("n", 51) + `","accountNumber":"123456789012345678",
			"routingNumber":"01100001","accountType":"current","secCode":"xyz"}`,
			[]string{"/source/accountNumber", "/source/accountType", "/source/nameOnAccount", "/source/routingNumber", "/source/secCode"}},
		{"pad", `{"type":"pad","nameOnAccount":"` + strings.Repeat("n", 30) + `","accountNumber":"123456","transitNumber":"7654",
			"institutionNumber":"54a"}`,
			[]string{"/source/accountNumber", "/source/institutionNumber", "/source/nameOnAccount", "/source/transitNumber"}},
		{"single-use token short", `{"type":"singleUseToken","token":"abc"}`, []string{"/source/token"}},
		{"swiped garbage track", `{"type":"card","cardDetails":{"entryMethod":"swiped","cardholderName":"S","swipedData":{"dataFormat":"plainText",
			"device":` + device + `,"trackData":"not track data at all"}}}`, []string{"/source/cardDetails/swipedData/trackData"}},
		{"swiped track 2 without a name", `{"type":"card","cardDetails":{"entryMethod":"swiped","swipedData":{"dataFormat":"plainText",
			"device":` + device + `,"trackData":";4539858876047062=30121010000000000?"}}}`, []string{"/source/cardDetails/cardholderName"}},
		{"swiped tracks disagree", `{"type":"card","cardDetails":{"entryMethod":"swiped","swipedData":{"dataFormat":"plainText",
			"device":` + device + `,"trackData":"%B4539858876047062^HOPPER/SARAH^3012101?;4539858876047062=31121010000000000?"}}}`,
			[]string{"/source/cardDetails/swipedData/trackData"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := securetoken.ParseCreateRequest(setRaw(t, base, "source", tc.src))
			require.Equal(t, tc.want, testkit.InvalidFields(t, err))
		})
	}
}

// Members the contract does not list are ignored in requests, and never
// reach the record.
func TestCreateIgnoresUnknownMembers(t *testing.T) {
	body := set(t, createCard(t), "loyaltyTier", "gold")
	body = set(t, body, "customer.middleName", "Hazel")
	body = set(t, body, "source.cardDetails.keyedData.pan", "4111111111111111")
	testkit.RequireNoSecret(t, string(sealedForm(t, newRecord(t, body))), "gold", "middleName", "4111111111111111", testCVV)
}

func TestCreateTooLarge(t *testing.T) {
	body := set(t, createCard(t), "customFields.0.value", strings.Repeat("x", securetoken.MaxBodyBytes))
	_, err := securetoken.ParseCreateRequest(body)
	require.ErrorIs(t, err, securetoken.ErrTooLarge)
	require.ErrorIs(t, err, cardvault.ErrTooLarge)

	deep := strings.Repeat(`{"a":`, securetoken.MaxDepth+1) + "1" + strings.Repeat("}", securetoken.MaxDepth+1)
	_, err = securetoken.ParseCreateRequest([]byte(deep))
	require.Equal(t, "nested too deeply", firstDetail(t, err))
}

func firstDetail(t *testing.T, err error) string {
	var ie *cardvault.InvalidError
	require.True(t, errors.As(err, &ie))
	return ie.Fields[0].Detail
}

// Thousands of faults are cut at a hundred and one.
func TestCreateFaultCap(t *testing.T) {
	fields := strings.Repeat(`{},`, 2000)
	body := setRaw(t, createCard(t), "customFields", "["+fields[:len(fields)-1]+"]")
	_, err := securetoken.ParseCreateRequest(body)
	got := testkit.InvalidFields(t, err)
	require.Len(t, got, 101)
}

func TestSingleUseTokenRequest(t *testing.T) {
	body := readFile(t, "contract/createSingleUseToken.request.createSingleUseToken.json")
	_, err := securetoken.ParseSingleUseTokenRequest(set(t, body, "source", map[string]any{"type": "singleUseToken", "token": strings.Repeat("a", 128)}))
	require.Equal(t, []string{"/source/type"}, testkit.InvalidFields(t, err))
	_, err = securetoken.ParseSingleUseTokenRequest(del(t, body, "channel"))
	require.Equal(t, []string{"/channel"}, testkit.InvalidFields(t, err))
	_, err = securetoken.ParseSingleUseTokenRequest(set(t, body, "channel", "fax"))
	require.Equal(t, []string{"/channel"}, testkit.InvalidFields(t, err))
}

func TestAccountUpdateRequest(t *testing.T) {
	body := readFile(t, "contract/accountUpdate.request.accountUpdate.json")
	_, err := securetoken.ParseAccountUpdateRequest(set(t, body, "type", "card"))
	require.Equal(t, []string{"/type"}, testkit.InvalidFields(t, err))
	_, err = securetoken.ParseAccountUpdateRequest(set(t, body, "token", strings.Repeat("é", 127)+"a"))
	require.NoError(t, err, "128 characters, though more bytes")
	_, err = securetoken.ParseAccountUpdateRequest([]byte(`{}`))
	require.Equal(t, []string{"/token", "/type"}, testkit.InvalidFields(t, err))
}

// A member name written with escapes is the same name.
func TestCreateEscapedMemberNames(t *testing.T) {
	body := []byte(`{"source":{"typ\u0065":"ach","nameOnAccount":"A","account\u004eumber":"1234567890","routingNumber":"011000015"}}`)
	req, err := securetoken.ParseCreateRequest(body)
	require.NoError(t, err)
	require.Equal(t, securetoken.SourceACH, req.Source.Type)
	require.True(t, string(req.Source.ACH.AccountNumber) == testACHAccount)

	// In the strict resource reader, too.
	doc := bytes.Replace(publicJSON(t, cardRecord(t)), []byte(`"lastName"`), []byte(`"last\u004eame"`), 1)
	res, err := securetoken.ParseResource(doc)
	require.NoError(t, err)
	require.Equal(t, "Hopper", res.Customer.LastName)
}
