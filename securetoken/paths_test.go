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

func TestNearestPath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// The guide's own example paths.
		{"/shippingAddress/recipientName", "/customer/shippingAddress/recipientName"},
		{"/source/cardDetails/cardholderName", "/source/cardholderName"},
		// Valid paths are their own nearest.
		{"/customer/lastName", "/customer/lastName"},
		{"/customFields/3/value", "/customFields/3/value"},
		{"/customFields/-", "/customFields/-"},
		{"/source/routingNumber", "/source/routingNumber"},
		// Letter case.
		{"/Customer/LastName", "/customer/lastName"},
		{"/customer/contactmethods/2/VALUE", "/customer/contactMethods/2/value"},
		// Trailing tokens, index kept.
		{"/lastName", "/customer/lastName"},
		{"/cardNumber", "/source/cardNumber"},
		{"/billingAddress/city", "/customer/billingAddress/city"},
		{"/shippingAddress/address/city", "/customer/shippingAddress/address/city"},
		{"/customer/shipping/recipientName", "/customer/shippingAddress/recipientName"},
		{"/contactMethods/1/value", "/customer/contactMethods/1/value"},
		{"/customer/contactMethods/value", "/customer/contactMethods/0/value"},
		{"/source/card/expiryDate", "/source/expiryDate"},
		{"/customer/address1", "/customer/billingAddress/address1"},
		// Edit distance.
		{"/customer/lastNme", "/customer/lastName"},
		{"/mitAgrement", "/mitAgreement"},
		{"/customer/billingAddress/postCode", "/customer/billingAddress/postalCode"},
		{"/customFields/0/nme", "/customFields/0/name"},
		// A forgotten leading slash.
		{"customer/lastName", "/customer/lastName"},
		// Nothing close.
		{"/zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz", ""},
		{"", ""},
		{"/" + strings.Repeat("q", 1000), ""},
		{"/~2", ""}, // not a pointer
	} {
		require.Equal(t, tc.want, securetoken.NearestPath(tc.in), "NearestPath(%q)", tc.in)
	}
}

// Within one source type the nearest member is that type's.
func TestPolicyNearest(t *testing.T) {
	card := securetoken.PolicyFor(securetoken.SourceCard)
	ach := securetoken.PolicyFor(securetoken.SourceACH)
	require.Equal(t, "/source/cardholderName", card.Nearest("/source/nameOnAccount"))
	require.Equal(t, "/source/nameOnAccount", ach.Nearest("/source/cardholderName"))
	require.Equal(t, "/source/accountNumber", ach.Nearest("/source/cardNumber"))
	require.False(t, card.Exists("/source/routingNumber"))
	require.True(t, ach.Exists("/source/routingNumber"))
	require.False(t, securetoken.PolicyFor(securetoken.SourcePAD).Exists("/source/routingNumber"))
}

func TestPolicyPaths(t *testing.T) {
	card := securetoken.PolicyFor(securetoken.SourceCard).Paths()
	require.Contains(t, card, "/customer/contactMethods/*/value")
	require.Contains(t, card, "/source/surcharging/amount")
	require.NotContains(t, card, "/source/nameOnAccount")
	require.Len(t, securetoken.PolicyFor("").Paths(), 56)

	require.Equal(t, []string{"/secureTokenId", "/processingTerminalId", "/source/type", "/source/cardNumber",
		"/source/cardType", "/source/currency", "/source/debit", "/source/surcharging", "/token", "/status"},
		securetoken.PolicyFor(securetoken.SourceCard).ImmutablePaths())
	require.Equal(t, []string{"/secureTokenId", "/processingTerminalId", "/source/type", "/source/accountNumber",
		"/source/routingNumber", "/token", "/status"},
		securetoken.PolicyFor(securetoken.SourceACH).ImmutablePaths())
	require.Equal(t, []string{"/secureTokenId", "/processingTerminalId", "/source/type", "/source/accountNumber",
		"/source/transitNumber", "/token", "/status"},
		securetoken.PolicyFor(securetoken.SourcePAD).ImmutablePaths())
}

func TestPolicyCheckWrite(t *testing.T) {
	type verdict int
	const (
		allowed verdict = iota
		immutable
		unknown
	)
	for _, tc := range []struct {
		src  securetoken.SourceType
		path string
		want verdict
	}{
		{securetoken.SourceCard, "/customer/lastName", allowed},
		{securetoken.SourceCard, "/customer", allowed},
		{securetoken.SourceCard, "/customer/contactMethods/-", allowed},
		{securetoken.SourceCard, "/customer/contactMethods/0/value", allowed},
		{securetoken.SourceCard, "/customFields/0", allowed},
		{securetoken.SourceCard, "/customFields", allowed},
		{securetoken.SourceCard, "/mitAgreement", allowed},
		{securetoken.SourceCard, "/source/cardholderName", allowed},
		{securetoken.SourceCard, "/source/expiryDate", allowed},
		{securetoken.SourceACH, "/source/nameOnAccount", allowed},
		{securetoken.SourceACH, "/source/accountType", allowed},
		{securetoken.SourcePAD, "/source/institutionNumber", allowed},
		{securetoken.SourcePAD, "/source/accountType", allowed},
		{securetoken.SourceCard, "/secureTokenId", immutable},
		{securetoken.SourceCard, "/processingTerminalId", immutable},
		{securetoken.SourceCard, "/token", immutable},
		{securetoken.SourceCard, "/status", immutable},
		{securetoken.SourceCard, "/source/type", immutable},
		{securetoken.SourceCard, "/source/cardNumber", immutable},
		{securetoken.SourceCard, "/source/cardType", immutable},
		{securetoken.SourceCard, "/source/currency", immutable},
		{securetoken.SourceCard, "/source/debit", immutable},
		{securetoken.SourceCard, "/source/surcharging", immutable},
		{securetoken.SourceCard, "/source/surcharging/amount", immutable}, // under an immutable member
		{securetoken.SourceCard, "/source", immutable},                    // holds immutable members
		{securetoken.SourceCard, "", immutable},                           // the whole document
		{securetoken.SourceACH, "/source/accountNumber", immutable},
		{securetoken.SourceACH, "/source/routingNumber", immutable},
		{securetoken.SourcePAD, "/source/accountNumber", immutable},
		{securetoken.SourcePAD, "/source/transitNumber", immutable},
		{securetoken.SourceCard, "/shippingAddress/recipientName", unknown},
		{securetoken.SourceCard, "/source/cardDetails/cardholderName", unknown},
		{securetoken.SourceCard, "/source/routingNumber", unknown},
		{securetoken.SourceCard, "/source/cvv", unknown},
		{securetoken.SourceCard, "/customFields/01", unknown}, // leading zero: not an index
		{securetoken.SourceCard, "/customFields/name", unknown},
		{securetoken.SourceCard, "customer", unknown},
		{securetoken.SourceCard, "/customer/bogus/deeper", unknown},
	} {
		err := securetoken.PolicyFor(tc.src).CheckWrite(tc.path)
		switch tc.want {
		case allowed:
			require.NoError(t, err, "%s %q", tc.src, tc.path)
		case immutable:
			require.ErrorIs(t, err, securetoken.ErrImmutable, "%s %q", tc.src, tc.path)
			require.ErrorIs(t, err, cardvault.ErrConflict)
			var ie *securetoken.ImmutableError
			require.True(t, errors.As(err, &ie))
			require.Equal(t, tc.path, ie.Fields[0].Field)
		case unknown:
			require.Equal(t, []string{tc.path}, testkit.InvalidFields(t, err), "%s %q", tc.src, tc.path)
		}
	}
}

func TestPolicyCheckRead(t *testing.T) {
	card := securetoken.PolicyFor(securetoken.SourceCard)
	// Reading is allowed everywhere the resource has a member, immutable or
	// not: the document patched is the masked one.
	for _, p := range []string{"", "/token", "/source/cardNumber", "/source", "/customFields/0/name"} {
		require.NoError(t, card.CheckRead(p), p)
	}
	err := card.CheckRead("/shippingAddress/recipientName")
	require.Equal(t, []string{"/shippingAddress/recipientName"}, testkit.InvalidFields(t, err))
	require.Contains(t, err.Error(), "the nearest valid path is /customer/shippingAddress/recipientName")
	err = card.CheckRead("no slash")
	require.Contains(t, err.Error(), "is not a JSON Pointer")
}

// A pointer holding a card number is not echoed into the error.
func TestPolicyErrorRedactsNumbers(t *testing.T) {
	err := securetoken.PolicyFor(securetoken.SourceCard).CheckWrite("/customer/" + testPAN)
	require.Error(t, err)
	testkit.RequireNoSecret(t, err.Error(), testPAN)
	require.Equal(t, []string{"/customer/[redacted]"}, testkit.InvalidFields(t, err))
}

// A card number used as a member name is not echoed by a fault of the
// JSON itself either: jsonx's message repeats the pointer, and quotes a
// duplicate member's name.
func TestJSONFaultRedactsNumbers(t *testing.T) {
	for name, body := range map[string]string{
		"duplicate member": `{"customer":{"` + testPAN + `":1,"` + testPAN + `":2}}`,
		"bad value":        `{"customer":{"` + testPAN + `":tru}}`,
	} {
		_, err := securetoken.ParseCreateRequest([]byte(body))
		require.ErrorIs(t, err, cardvault.ErrInvalid, name)
		testkit.RequireNoSecret(t, err.Error(), testPAN)
	}
}
