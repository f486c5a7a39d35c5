package securetoken_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/securetoken"
)

func TestApplyPublicMergesMutableMembers(t *testing.T) {
	old := cardRecord(t)
	old.Source.Card.IssueNumber = "7"
	doc := publicJSON(t, old)
	doc = set(t, doc, "customer.lastName", "Reed")
	doc = set(t, doc, "customer.shippingAddress.recipientName", "Sarah Reed")
	doc = set(t, doc, "source.cardholderName", "Sarah Reed")
	doc = set(t, doc, "source.expiryDate", "0131")
	doc = set(t, doc, "mitAgreement", "recurring")
	doc = setRaw(t, doc, "customFields.-1", `{"name":"loyaltyTier","value":"gold"}`)
	doc = del(t, doc, "customer.billingAddress.city") // the resource requires no address line
	doc = setRaw(t, doc, "customer.dateOfBirth", "null")

	got, err := securetoken.ApplyPublic(old, doc)
	require.NoError(t, err)
	require.Equal(t, "Reed", got.Customer.LastName)
	require.Equal(t, "Sarah Reed", got.Customer.ShippingAddress.RecipientName)
	require.Equal(t, "Sarah Reed", got.Source.Card.CardholderName)
	require.Equal(t, "0131", got.Source.Card.ExpiryDate)
	require.Equal(t, securetoken.MITRecurring, got.MITAgreement)
	require.Equal(t, []securetoken.CustomField{{Name: "yourCustomField", Value: "abc123"}, {Name: "loyaltyTier", Value: "gold"}}, got.CustomFields)
	require.Empty(t, got.Customer.BillingAddress.City)
	require.Empty(t, got.Customer.DateOfBirth, "null reads as absent")
	// What the resource never shows survives.
	require.True(t, string(got.Source.Card.CardNumber) == testPAN, "the whole number is kept")
	require.Equal(t, "7", got.Source.Card.IssueNumber)
	require.Equal(t, old.Operator, got.Operator)
	require.Equal(t, old.IPAddress, got.IPAddress)
	require.NoError(t, got.Validate())
	// And the old record is untouched.
	require.Equal(t, "Hopper", old.Customer.LastName)
	require.Len(t, old.CustomFields, 1)
	require.Equal(t, "Chicago", old.Customer.BillingAddress.City)
}

func TestApplyPublicBankMembers(t *testing.T) {
	ach := achRecord(t)
	doc := set(t, publicJSON(t, ach), "source.accountType", "savings")
	doc = set(t, doc, "source.nameOnAccount", "S Reed")
	got, err := securetoken.ApplyPublic(ach, doc)
	require.NoError(t, err)
	require.Equal(t, securetoken.AccountSavings, got.Source.ACH.AccountType)
	require.Equal(t, "S Reed", got.Source.ACH.NameOnAccount)
	require.True(t, string(got.Source.ACH.AccountNumber) == testACHAccount)
	require.Equal(t, securetoken.SECWeb, got.Source.ACH.SECCode)

	pad := padRecord(t)
	doc = set(t, publicJSON(t, pad), "source.institutionNumber", "001")
	got, err = securetoken.ApplyPublic(pad, doc)
	require.NoError(t, err)
	require.Equal(t, "001", got.Source.PAD.InstitutionNumber)
	require.Equal(t, "76543", got.Source.PAD.TransitNumber)
}

// Every immutable member, changed or removed, is refused, naming it.
func TestApplyPublicRefusesImmutableChanges(t *testing.T) {
	card, ach, pad := cardRecord(t), achRecord(t), padRecord(t)
	cases := []struct {
		rec  securetoken.Record
		edit func([]byte) []byte
		want []string
	}{
		{card, func(b []byte) []byte { return set(t, b, "secureTokenId", "other") }, []string{"/secureTokenId"}},
		{card, func(b []byte) []byte { return set(t, b, "processingTerminalId", "9999001") }, []string{"/processingTerminalId"}},
		{card, func(b []byte) []byte { return set(t, b, "token", "296753000003") }, []string{"/token"}},
		{card, func(b []byte) []byte { return del(t, b, "token") }, []string{"/token"}},
		{card, func(b []byte) []byte { return set(t, b, "status", "cvvValidated") }, []string{"/status"}},
		{card, func(b []byte) []byte { return set(t, b, "source.type", "ach") }, []string{"/source/type"}},
		{card, func(b []byte) []byte { return set(t, b, "source.cardNumber", "453985******7063") }, []string{"/source/cardNumber"}},
		{card, func(b []byte) []byte { return set(t, b, "source.cardType", "Mastercard") }, []string{"/source/cardType"}},
		{card, func(b []byte) []byte { return del(t, b, "source.cardType") }, []string{"/source/cardType"}},
		{card, func(b []byte) []byte { return set(t, b, "source.currency", "USD") }, []string{"/source/currency"}},
		{card, func(b []byte) []byte { return set(t, b, "source.debit", false) }, []string{"/source/debit"}},
		{card, func(b []byte) []byte { return setRaw(t, b, "source.surcharging", `{"allowed":true}`) }, []string{"/source/surcharging"}},
		{ach, func(b []byte) []byte { return set(t, b, "source.accountNumber", "*****7891") }, []string{"/source/accountNumber"}},
		{ach, func(b []byte) []byte { return set(t, b, "source.routingNumber", "021000021") }, []string{"/source/routingNumber"}},
		{pad, func(b []byte) []byte { return set(t, b, "source.accountNumber", "*****9013") }, []string{"/source/accountNumber"}},
		{pad, func(b []byte) []byte { return set(t, b, "source.transitNumber", "76544") }, []string{"/source/transitNumber"}},
		{card, func(b []byte) []byte {
			return set(t, set(t, set(t, b, "token", 5), "status", "validationFailed"), "customer.lastName", strings.Repeat("x", 99))
		}, []string{"/token", "/status"}},
		{card, func([]byte) []byte { return []byte(`[]`) }, []string{"/secureTokenId", "/processingTerminalId", "/token", "/status", "/source/type"}},
	}
	for _, tc := range cases {
		doc := tc.edit(publicJSON(t, tc.rec))
		got, err := securetoken.ApplyPublic(tc.rec, doc)
		require.ErrorIs(t, err, securetoken.ErrImmutable, "%v", tc.want)
		require.ErrorIs(t, err, cardvault.ErrConflict)
		var ie *securetoken.ImmutableError
		require.True(t, errors.As(err, &ie))
		paths := make([]string, len(ie.Fields))
		for i, f := range ie.Fields {
			paths[i] = f.Field
		}
		require.Equal(t, tc.want, paths)
		require.Zero(t, got.SecureTokenID, "nothing comes back on error")
	}
}

func TestApplyPublicReportsEveryFault(t *testing.T) {
	old := cardRecord(t)
	doc := publicJSON(t, old)
	doc = set(t, doc, "customer.lastName", strings.Repeat("x", 61))
	doc = set(t, doc, "customer.dateOfBirth", "15/07/1990")
	doc = set(t, doc, "customer.contactMethods.0.type", "pager")
	doc = set(t, doc, "customer.firstName", 5)
	doc = setRaw(t, doc, "customFields.0", `{"value":"v"}`)
	doc = set(t, doc, "source.expiryDate", "1330")
	doc = del(t, doc, "source.cardholderName")
	doc = set(t, doc, "mitAgreement", "always")
	doc = set(t, doc, "shippingAddress", map[string]string{"recipientName": "x"})
	doc = set(t, doc, "customer.shippingAddress.recipient", "x")
	doc = setRaw(t, doc, "customFields.1", `{"name":"n","value":"v","extra":true}`)

	_, err := securetoken.ApplyPublic(old, doc)
	require.Equal(t, []string{
		"/customFields/0/name",
		"/customFields/1/extra",
		"/customer/contactMethods/0/type",
		"/customer/dateOfBirth",
		"/customer/firstName",
		"/customer/lastName",
		"/customer/shippingAddress/recipient",
		"/mitAgreement",
		"/shippingAddress",
		"/source/cardholderName",
		"/source/expiryDate",
	}, testkit.InvalidFields(t, err))
	msg := err.Error()
	require.Contains(t, msg, "/shippingAddress: is not a member of a secure token; the nearest valid path is /customer/shippingAddress")
	require.Contains(t, msg, "/customer/shippingAddress/recipient: is not a member of a secure token; the nearest valid path is /customer/shippingAddress/recipientName")
}

func TestApplyPublicGate(t *testing.T) {
	old := cardRecord(t)
	_, err := securetoken.ApplyPublic(old, []byte(`{"a":1,"a":2}`))
	require.Equal(t, "duplicate member", firstDetail(t, err))
	_, err = securetoken.ApplyPublic(old, []byte(strings.Repeat(" ", securetoken.MaxBodyBytes+1)))
	require.ErrorIs(t, err, securetoken.ErrTooLarge)
	_, err = securetoken.ApplyPublic(old, []byte("{\"customer\":{\"lastName\":\"\xff\"}}"))
	require.ErrorIs(t, err, cardvault.ErrInvalid)
}

// The unchanged document applies to the same record.
func TestApplyPublicIdentity(t *testing.T) {
	for _, rec := range []securetoken.Record{cardRecord(t), achRecord(t), padRecord(t)} {
		got, err := securetoken.ApplyPublic(rec, publicJSON(t, rec))
		require.NoError(t, err)
		sameRecord(t, rec, got)
	}
}
