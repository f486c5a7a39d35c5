package securetoken

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/stretchr/testify/require"
)

func TestParseTrack(t *testing.T) {
	for _, tc := range []struct {
		in       string
		ok       bool
		pan, exp string
		name     string
	}{
		{"%B4539858876047062^HOPPER/SARAH H^3012101000000000000?", true, "4539858876047062", "1230", "SARAH H HOPPER"},
		{"B4539858876047062^HOPPER/SARAH^3012", true, "4539858876047062", "1230", "SARAH HOPPER"},
		{"%B4539858876047062^ /^3012101?", true, "4539858876047062", "1230", ""},
		{";4539858876047062=30121010000000000?", true, "4539858876047062", "1230", ""},
		{"4539858876047062=3012101", true, "4539858876047062", "1230", ""},
		{"%B4539858876047062^HOPPER/SARAH^3012101?;4539858876047062=30121010000000000?", true, "4539858876047062", "1230", "SARAH HOPPER"},
		{"%B4539858876047062^HOPPER/SARAH^3012101?;4539858876047063=30121010000000000?", false, "", "", ""}, // tracks disagree
		{";4539858876047063=30121010000000000?", false, "", "", ""},                                         // Luhn
		{";4539858876047062=30131010000000000?", false, "", "", ""},                                         // month 13
		{"%B4539858876047062^HOPPER/SARAH^?", false, "", "", ""},                                            // no expiry
		{"x;4539858876047062=3012", false, "", "", ""},                                                      // track 2 not at a start
		{"", false, "", "", ""},
	} {
		got, ok := parseTrack(tc.in)
		require.Equal(t, tc.ok, ok, tc.in)
		require.Equal(t, track{pan: tc.pan, expiry: tc.exp, name: tc.name}, got, tc.in)
	}
}

func TestRoutingNumber(t *testing.T) {
	for _, s := range []string{"011000015", "021000021", "121000358", "026009593"} {
		require.True(t, validRoutingNumber(s), s)
	}
	for _, s := range []string{"123456789", "011000016", "01100001", "0110000155", "01100001a"} {
		require.False(t, validRoutingNumber(s), s)
	}
}

func TestSafePointer(t *testing.T) {
	require.Equal(t, "/customFields/10/name", safePointer("/customFields/10/name"))
	require.Equal(t, "/a/[redacted]/b", safePointer("/a/4539858876047062/b"))
	require.Equal(t, "/[redacted]x[redacted]", safePointer("/123456789012x4539858876047062"))
	require.Equal(t, "/12345678901", safePointer("/12345678901"))
}

func TestComparePointers(t *testing.T) {
	require.Negative(t, comparePointers("/customFields/2/name", "/customFields/10/name"))
	require.Negative(t, comparePointers("/a", "/a/b"))
	require.Positive(t, comparePointers("/source", "/customer/x"))
	require.Zero(t, comparePointers("/x/1", "/x/1"))
}

func TestParsePointer(t *testing.T) {
	toks, ok := parsePointer("/a~1b/c~0d/~01")
	require.True(t, ok)
	require.Equal(t, []string{"a/b", "c~d", "~1"}, toks)
	for _, bad := range []string{"a", "/~", "/~2", "/a~", "/\xff"} {
		_, ok := parsePointer(bad)
		require.False(t, ok, bad)
	}
	toks, ok = parsePointer("")
	require.True(t, ok)
	require.Empty(t, toks)
}

func TestLevenshtein(t *testing.T) {
	require.Equal(t, 0, levenshtein("abc", "abc", 10))
	require.Equal(t, 3, levenshtein("", "abc", 10))
	require.Equal(t, 1, levenshtein("lastNme", "lastName", 10))
	require.Equal(t, 3, levenshtein("kitten", "sitting", 10))
	require.Equal(t, 0, levenshtein("LastName", "lastname", 0))
	require.Greater(t, levenshtein("kitten", "sitting", 2), 2, "over the limit")
	require.Equal(t, 3, levenshtein("kitten", "sitting", 3))
}

// The path table and the public form agree: every member the public form
// of a record with every member set writes — objects, arrays, elements and
// leaves — is a member the policy for its source type knows.
func TestSchemaCoversResource(t *testing.T) {
	yes, amount, pct := true, int64(87), 3.5
	addr := &Address{Address1: "a", Address2: "b", Address3: "c", City: "d", State: "e", Country: "US", PostalCode: "1"}
	rec := Record{
		SecureTokenID: "id", ProcessingTerminalID: "1234001", Token: "296753123458", Status: StatusNotValidated,
		MITAgreement: MITRecurring,
		Customer: &Customer{FirstName: "f", LastName: "l", DateOfBirth: "1990-07-15", ReferenceNumber: "r",
			BillingAddress: addr, ShippingAddress: &ShippingAddress{RecipientName: "n", Address: addr},
			ContactMethods: []ContactMethod{{ContactEmail, "e@x"}, {ContactPhone, "1"}}, NotificationLanguage: LanguageFrench},
		CustomFields: []CustomField{{"n", "v"}, {"m", "w"}},
	}
	sources := []Source{
		{Type: SourceCard, Card: &CardSource{CardholderName: "c", CardNumber: "4539858876047062", ExpiryDate: "1230",
			CardType: "Visa", Currency: "USD", Debit: &yes,
			Surcharging: &Surcharging{Allowed: true, Amount: &amount, Percentage: &pct, Disclosure: "d"}}},
		{Type: SourceACH, ACH: &ACHSource{NameOnAccount: "n", AccountNumber: "1234567890", RoutingNumber: "011000015", AccountType: AccountSavings}},
		{Type: SourcePAD, PAD: &PADSource{NameOnAccount: "n", AccountNumber: "1234567", TransitNumber: "12345", InstitutionNumber: "123", AccountType: AccountChecking}},
	}
	for _, src := range sources {
		rec.Source = src
		require.NoError(t, rec.Validate())
		sealed, err := rec.MarshalBinary()
		require.NoError(t, err)
		var back Record
		require.NoError(t, back.UnmarshalBinary(sealed))
		again, err := back.MarshalBinary()
		require.NoError(t, err)
		require.True(t, string(sealed) == string(again), "%s: every member survives sealing", src.Type)
		doc, err := rec.PublicJSON()
		require.NoError(t, err)
		pol := PolicyFor(src.Type)
		var seen []string
		var walk func(path string, v gjson.Result)
		walk = func(path string, v gjson.Result) {
			require.True(t, pol.Exists(path), "%s: %s is missing from the path table", src.Type, path)
			seen = append(seen, path)
			if v.IsObject() || v.IsArray() {
				i := 0
				v.ForEach(func(k, e gjson.Result) bool {
					tok := k.String()
					if v.IsArray() {
						tok = strconv.Itoa(i)
						i++
					}
					walk(path+"/"+tok, e)
					return true
				})
			}
		}
		walk("", gjson.ParseBytes(doc))
		// And the other way: every member of the table for this type is
		// written (with "*" as element 0).
		for _, p := range pol.Paths() {
			require.Contains(t, seen, strings.ReplaceAll(p, "*", "0"), "%s: %s is never written", src.Type, p)
		}
	}
}

// A clone of a record shares no memory with it: every optional member is
// copied, however deep.
func TestRecordCloneSharesNothing(t *testing.T) {
	debit, amount, pct := true, int64(250), 2.5
	r := Record{
		Customer: &Customer{
			BillingAddress:  &Address{Address1: "1 Example Ave."},
			ShippingAddress: &ShippingAddress{RecipientName: "S", Address: &Address{City: "Chicago"}},
			ContactMethods:  []ContactMethod{{Type: "email", Value: "s@example.com"}},
		},
		Source: Source{Type: SourceCard,
			Card: &CardSource{Debit: &debit, Surcharging: &Surcharging{Amount: &amount, Percentage: &pct}},
			ACH:  &ACHSource{NameOnAccount: "A"}, PAD: &PADSource{NameOnAccount: "P"}},
		CustomFields: []CustomField{{Name: "n", Value: "v"}},
		IPAddress:    &IPAddress{Type: "ipv4", Value: "192.0.2.1"},
	}
	c := r.clone()
	require.Equal(t, r, c)
	orig := map[uintptr]string{}
	memoryOf(reflect.ValueOf(r), "r", orig)
	require.Len(t, orig, 14, "every optional member of the test record is set")
	cloned := map[uintptr]string{}
	memoryOf(reflect.ValueOf(c), "clone", cloned)
	for addr, path := range cloned {
		_, shared := orig[addr]
		require.False(t, shared, "%s shares memory with the original (%s)", path, orig[addr])
	}
}

// memoryOf notes the address of every pointer's target and slice's array
// reachable from v.
func memoryOf(v reflect.Value, path string, into map[uintptr]string) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			into[v.Pointer()] = path
			memoryOf(v.Elem(), path, into)
		}
	case reflect.Slice:
		if v.Len() > 0 {
			into[v.Pointer()] = path
		}
		for i := range v.Len() {
			memoryOf(v.Index(i), path+"/"+strconv.Itoa(i), into)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			memoryOf(v.Field(i), path+"."+v.Type().Field(i).Name, into)
		}
	}
}
