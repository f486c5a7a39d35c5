package securetoken_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/securetoken"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestMaskCardNumber(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"4539858876047062", "453985******7062"},
		{"453985******7062", "453985******7062"}, // idempotent
		{"378282246310005", "378282*****0005"},
		{"123456789012", "123456**9012"},
		{"1234567890123456789", "123456*********6789"},
		{"12345678901", "***********"}, // too short to show anything
		{"", ""},
	} {
		n := securetoken.CardNumber(tc.in)
		require.Equal(t, tc.want, n.Masked())
		require.Equal(t, tc.want, n.String())
	}
	n := securetoken.CardNumber(testPAN)
	require.Equal(t, "453985", n.First6())
	require.Equal(t, "7062", n.Last4())
}

func TestMaskAccountNumber(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"1234567890", "*****7890"},
		{"*****7890", "*****7890"}, // idempotent
		{"12345678", "*****5678"},
		{"1234567", "*****567"}, // under eight digits: at least half hidden
		{"1234", "*****34"},
		{"", ""},
	} {
		require.Equal(t, tc.want, securetoken.AccountNumber(tc.in).Masked())
	}
	// The list filter last4 indexes the digits the mask shows, no more.
	require.Equal(t, "5678", securetoken.AccountNumber("12345678").Last4())
	require.Empty(t, securetoken.AccountNumber("1234567").Last4())
}

// Every default rendering of a sensitive value masks it.
func TestRenderingsMask(t *testing.T) {
	pan := securetoken.CardNumber(testPAN)
	acct := securetoken.AccountNumber(testACHAccount)
	cvv := securetoken.Sensitive("987")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%10s", "%d"} {
		out := fmt.Sprintf(verb+" "+verb+" "+verb, pan, acct, cvv)
		testkit.RequireNoSecret(t, out, testPAN, testACHAccount, "987", "3938", "39 38")
	}
	b, err := json.Marshal(struct {
		P securetoken.CardNumber
		A securetoken.AccountNumber
		C securetoken.Sensitive
	}{pan, acct, cvv})
	require.NoError(t, err)
	require.JSONEq(t, `{"P":"453985******7062","A":"*****7890","C":"[redacted]"}`, string(b))
}

// Printing records and requests with any verb shows no number, no CVV and
// no personal data.
func TestFmtRedactsRecordsAndRequests(t *testing.T) {
	req, err := securetoken.ParseCreateRequest(createCard(t))
	require.NoError(t, err)
	rec := cardRecord(t)
	upd, err := securetoken.ParseAccountUpdateRequest(readFile(t, "contract/accountUpdate.request.accountUpdate.json"))
	require.NoError(t, err)
	secrets := []string{testPAN, "Sarah", "Hopper", "sarah.hopper@example.com", "Chicago", "104.18.24.203", "abcdef1234567890"}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb+"|"+verb+"|"+verb+"|"+verb+"|"+verb+"|"+verb+"|"+verb, rec, &rec, rec.Public(), req, req.Source, *rec.Customer, upd)
		testkit.RequireNoSecret(t, out, secrets...)
		require.Contains(t, out, "453985******7062")
	}
	// The CVV is never even in the parsed request's renderings.
	out := fmt.Sprintf("%+v %#v", req.Source.Card.CardDetails.Keyed.KeyedData.PlainText, req.Source.Card.CardDetails.Keyed.KeyedData.PlainText)
	testkit.RequireNoSecret(t, out, testPAN, `"234"`, " 234 ", ":234")
}

// JSON-encoding a Record gives the public resource, not the sealed form.
func TestRecordMarshalJSONIsPublic(t *testing.T) {
	rec := cardRecord(t)
	b, err := json.Marshal(rec)
	require.NoError(t, err)
	require.Equal(t, string(publicJSON(t, rec)), string(b))
	testkit.RequireNoSecret(t, string(b), testPAN, "104.18.24.203", "Jane")
}

func TestSealedRoundTrip(t *testing.T) {
	for _, rec := range []securetoken.Record{cardRecord(t), achRecord(t), padRecord(t)} {
		b := sealedForm(t, rec)
		var got securetoken.Record
		require.NoError(t, got.UnmarshalBinary(b))
		sameRecord(t, rec, got)
		require.NoError(t, got.Validate())

		sb, err := rec.Source.MarshalBinary()
		require.NoError(t, err)
		var src securetoken.Source
		require.NoError(t, src.UnmarshalBinary(sb))
		require.Equal(t, rec.Source.Masked().Type, src.Type)
		require.True(t, bytes.Equal(b, sealedForm(t, rec.WithSource(src))), "a source survives its own round trip")
	}
	var r securetoken.Record
	for _, bad := range []string{``, `{}`, `{"v":2}`, `{"v":1,"source":{"type":"cash"}}`, `{"v":1,"source":{"type":"card","cardNumber":5}}`, `{"v":1}`, `{"v":"1","source":{"type":"ach"}}`, `{"v":1,"source":{"type":"card"}} {}`} {
		require.ErrorIs(t, r.UnmarshalBinary([]byte(bad)), securetoken.ErrUnreadable, bad)
	}
	var s securetoken.Source
	require.ErrorIs(t, s.UnmarshalBinary([]byte(`{"type":"card"}`)), securetoken.ErrUnreadable, "a source without a version")
	_, err := securetoken.Source{Type: securetoken.SourceCard}.MarshalBinary()
	require.Error(t, err)
}

// The sealed form keeps the numbers and stored-only members, and never a
// CVV.
func TestSealedKeepsNumbersNotCVV(t *testing.T) {
	body := set(t, createCard(t), "source.cardDetails.keyedData.cvv", "9876")
	body = set(t, body, "source.cardDetails.keyedData.issueNumber", "42")
	rec := newRecord(t, body)
	b := sealedForm(t, rec)
	require.True(t, bytes.Contains(b, []byte(testPAN)), "the sealed form holds the whole number")
	require.True(t, bytes.Contains(b, []byte(`"issueNumber":"42"`)))
	testkit.RequireNoSecret(t, string(b), "9876", "cvv")
	testkit.RequireNoSecret(t, string(publicJSON(t, rec)), "issueNumber", "9876")
}

func TestWithSourceKeepsCustomer(t *testing.T) {
	rec := cardRecord(t)
	rec.Status = securetoken.StatusCVVValidated
	next := rec.WithSource(achRecord(t).Source)
	require.Equal(t, securetoken.SourceACH, next.Source.Type)
	require.Equal(t, securetoken.StatusNotValidated, next.Status)
	require.Equal(t, rec.MITAgreement, next.MITAgreement)
	require.Equal(t, rec.Customer.LastName, next.Customer.LastName)
	require.Equal(t, securetoken.SourceCard, rec.Source.Type, "the old record is untouched")
	require.NoError(t, next.Validate())
}

func TestRecordValidate(t *testing.T) {
	rec := cardRecord(t)
	rec.Token = "296753123457" // Luhn fails
	rec.ProcessingTerminalID = "123"
	rec.Status = ""
	rec.Source.Card.CardNumber = "4539858876047063"
	rec.Source.Card.IssueNumber = "123"
	require.Equal(t, []string{"/processingTerminalId", "/source/cardNumber", "/source/issueNumber", "/status", "/token"},
		testkit.InvalidFields(t, rec.Validate()))
}

func TestSingleUseTokenResponse(t *testing.T) {
	src := cardRecord(t).Source
	at := time.Date(2024, 7, 2, 18, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	resp := securetoken.NewSingleUseTokenResponse("1234001", "fa2e", at, src)
	b, err := json.Marshal(resp)
	require.NoError(t, err)
	require.JSONEq(t, `{"processingTerminalId":"1234001","token":"fa2e","expiresAt":"2024-07-02T16:00:00Z",
		"source":{"type":"card","cardholderName":"Sarah Hazel Hopper","cardNumber":"453985******7062","expiryDate":"1230","cardType":"Visa"}}`, string(b))
}

// The public representation of each source type, pinned in golden files.
func TestPublicGolden(t *testing.T) {
	for name, rec := range map[string]securetoken.Record{"card": cardRecord(t), "ach": achRecord(t), "pad": padRecord(t)} {
		t.Run(name, func(t *testing.T) {
			b := publicJSON(t, rec)
			var out bytes.Buffer
			require.NoError(t, json.Indent(&out, b, "", "  "))
			out.WriteByte('\n')
			golden := filepath.Join("testdata", "public_"+name+".golden")
			if *update {
				require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			require.Equal(t, string(want), out.String())
			_, err = securetoken.ParseResource(b)
			require.NoError(t, err, "the public form reads back as a resource")
		})
	}
}

func achRecord(t testing.TB) securetoken.Record {
	t.Helper()
	rec := cardRecord(t)
	rec.Customer.ShippingAddress = nil
	rec.Source = securetoken.Source{Type: securetoken.SourceACH, ACH: &securetoken.ACHSource{
		NameOnAccount: "Sarah Hazel Hopper", AccountNumber: testACHAccount, RoutingNumber: testRouting,
		AccountType: securetoken.AccountChecking, SECCode: securetoken.SECWeb,
	}}
	rec.SecureTokenID = "ach-1"
	require.NoError(t, rec.Validate())
	return rec
}

func padRecord(t testing.TB) securetoken.Record {
	t.Helper()
	rec := cardRecord(t)
	rec.Customer = nil
	rec.CustomFields = nil
	rec.MITAgreement = ""
	rec.Source = securetoken.Source{Type: securetoken.SourcePAD, PAD: &securetoken.PADSource{
		NameOnAccount: "Sarah Hazel Hopper", AccountNumber: "123456789012", TransitNumber: "76543",
		InstitutionNumber: "543", AccountType: securetoken.AccountSavings,
	}}
	rec.SecureTokenID = "pad-1"
	require.NoError(t, rec.Validate())
	return rec
}
