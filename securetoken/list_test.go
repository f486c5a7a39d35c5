package securetoken_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/securetoken"
)

func TestParseListQuery(t *testing.T) {
	q, err := securetoken.ParseListQuery(url.Values{})
	require.NoError(t, err)
	require.Equal(t, securetoken.ListQuery{Limit: 10}, q)

	v, err := url.ParseQuery("customerName=Sarah%20Hazel%20Hopper&phone=2025550165&email=sarah.hopper@example.com" +
		"&token=296753123456&first6=453985&last4=7062&secureTokenId=MREF_abc&after=8516&limit=25")
	require.NoError(t, err)
	q, err = securetoken.ParseListQuery(v)
	require.NoError(t, err)
	require.Equal(t, securetoken.ListQuery{
		SecureTokenID: "MREF_abc", CustomerName: "Sarah Hazel Hopper", Phone: "2025550165",
		Email: "sarah.hopper@example.com", Token: "296753123456", First6: "453985", Last4: "7062",
		After: "8516", Limit: 25,
	}, q)
	require.NoError(t, q.Validate())
	require.Equal(t, "customerName=Sarah+Hazel+Hopper&email=sarah.hopper%40example.com&first6=453985&last4=7062&limit=25"+
		"&phone=2025550165&secureTokenId=MREF_abc&token=296753123456", q.Values().Encode(), "cursors are left out")

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"limit=0", []string{"limit"}},
		{"limit=101", []string{"limit"}},
		{"limit=ten", []string{"limit"}},
		{"limit=100", nil},
		{"limit=1", nil},
		{"before=a&after=b", []string{"after"}},
		{"first6=45398", []string{"first6"}},
		{"first6=4539851", []string{"first6"}},
		{"first6=45398a", []string{"first6"}},
		{"last4=706", []string{"last4"}},
		{"token=12345678901", []string{"token"}},
		{"token=2967531234561234567890", []string{"token"}},
		{"email=", []string{"email"}},
		{"email=%20%20", []string{"email"}},
		{"phone=---", []string{"phone"}},
		{"phone=1234567890123456", []string{"phone"}},
		{"customerName=" + strings.Repeat("n", 51), []string{"customerName"}},
		{"customerName=%20.%20", []string{"customerName"}},
		{"secureTokenId=" + strings.Repeat("i", 201), []string{"secureTokenId"}},
		{"email=a@b&email=c@d", []string{"email"}},
		{"sort=asc&Email=x", []string{"Email", "sort"}},
		{"limit=0&first6=1&last4=1&bogus=1&before=a&after=b", []string{"after", "bogus", "first6", "last4", "limit"}},
	} {
		v, err := url.ParseQuery(tc.query)
		require.NoError(t, err)
		q, err := securetoken.ParseListQuery(v)
		if tc.want == nil {
			require.NoError(t, err, tc.query)
			continue
		}
		require.Equal(t, tc.want, testkit.InvalidFields(t, err), tc.query)
		require.Zero(t, q)
	}
}

func TestNormalize(t *testing.T) {
	require.Equal(t, "sarah.hopper@example.com", securetoken.NormalizeEmail("  Sarah.Hopper@EXAMPLE.com\t"))
	require.Equal(t, "12025550164", securetoken.NormalizePhone("+1 (202) 555-0164"))
	require.Equal(t, "", securetoken.NormalizePhone("ext."))
	for _, tc := range []struct{ in, want string }{
		{"  Sarah   Hazel\tHOPPER ", "sarah hazel hopper"},
		{"STRAßE", "strasse"},
		{"Ｓａｒａｈ", "sarah"},                    // full-width letters (NFKC)
		{"Zoe\u0308", "zoë"},                  // decomposed and composed agree
		{"Zo\u00eb", "zoë"},                   // …
		{"Sarah\u00a0Hopper", "sarah hopper"}, // no-break space
	} {
		require.Equal(t, tc.want, securetoken.NormalizeName(tc.in), tc.in)
	}
}

func TestIndexTerms(t *testing.T) {
	rec := cardRecord(t)
	rec.Customer.ContactMethods = append(rec.Customer.ContactMethods,
		securetoken.ContactMethod{Type: securetoken.ContactMobile, Value: "844-555-7624"},
		securetoken.ContactMethod{Type: securetoken.ContactEmail, Value: "SARAH.HOPPER@example.com"},
		securetoken.ContactMethod{Type: securetoken.ContactFax, Value: "(202) 555 0110"})
	terms := rec.IndexTerms()
	require.Equal(t, securetoken.IndexTerms{
		Names:  []string{"sarah hopper", "sarah hazel hopper"},
		Emails: []string{"sarah.hopper@example.com"},
		Phones: []string{"8445557624", "2025550110"},
		Token:  "296753123458",
		First6: "453985",
		Last4:  "7062",
	}, terms)

	// A filter normalized the same way finds the record.
	v, _ := url.ParseQuery("customerName=SARAH%20%20Hazel%20Hopper&email=Sarah.Hopper@Example.com&phone=%2B1%20844%20555%207624")
	q, err := securetoken.ParseListQuery(v)
	require.NoError(t, err)
	require.Contains(t, terms.Names, securetoken.NormalizeName(q.CustomerName))
	require.Contains(t, terms.Emails, securetoken.NormalizeEmail(q.Email))
	require.NotContains(t, terms.Phones, securetoken.NormalizePhone(q.Phone), "a country code makes a different number")

	ach := achRecord(t).IndexTerms()
	require.Empty(t, ach.First6)
	require.Equal(t, "7890", ach.Last4)
	// A seven-digit account's mask shows three digits: it is not indexed
	// by four.
	require.Empty(t, padRecord(t).WithSource(securetoken.Source{Type: securetoken.SourcePAD, PAD: &securetoken.PADSource{
		NameOnAccount: "N", AccountNumber: "1234567", TransitNumber: "12345", InstitutionNumber: "123"}}).IndexTerms().Last4)
}

func TestNewListResponse(t *testing.T) {
	href := func(v url.Values) string { return "https://vault.example/list?" + v.Encode() }
	item := securetoken.Resource{SecureTokenID: "a"}
	for _, tc := range []struct {
		name  string
		q     securetoken.ListQuery
		page  securetoken.Page
		limit int
		links []securetoken.Link
	}{
		{name: "empty, zero limit", limit: securetoken.DefaultListLimit, links: []securetoken.Link{}},
		{name: "next", q: securetoken.ListQuery{Limit: 1, Last4: "4242", After: "x"},
			page: securetoken.Page{Items: []securetoken.Resource{item}, HasMore: true, Next: "a"}, limit: 1,
			links: []securetoken.Link{{Rel: "next", Method: "get", Href: "https://vault.example/list?after=a&last4=4242&limit=1"}}},
		{name: "both", q: securetoken.ListQuery{Limit: 5, Before: "z"},
			page: securetoken.Page{Items: []securetoken.Resource{item}, Next: "a", Previous: "a"}, limit: 5,
			links: []securetoken.Link{{Rel: "next", Method: "get", Href: "https://vault.example/list?after=a&limit=5"},
				{Rel: "previous", Method: "get", Href: "https://vault.example/list?before=a&limit=5"}}},
	} {
		resp := securetoken.NewListResponse(tc.q, tc.page, href)
		require.Equal(t, tc.limit, resp.Limit, tc.name)
		require.Equal(t, len(tc.page.Items), resp.Count, tc.name)
		require.Equal(t, tc.page.HasMore, resp.HasMore, tc.name)
		require.Equal(t, tc.links, resp.Links, tc.name)
		require.NotNil(t, resp.Data, "%s: data is [] rather than null", tc.name)
	}
}
