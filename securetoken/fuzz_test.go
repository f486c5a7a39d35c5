package securetoken_test

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/securetoken"
)

// checkFault fails unless err is ErrTooLarge or an InvalidError whose every
// field has a detail and a message.
func checkFault(t *testing.T, err error) {
	t.Helper()
	if errors.Is(err, securetoken.ErrTooLarge) {
		return
	}
	var ie *cardvault.InvalidError
	if !errors.As(err, &ie) || len(ie.Fields) == 0 || len(ie.Fields) > 101 {
		t.Fatalf("want an InvalidError with 1-101 faults, got %T", err)
	}
	for _, f := range ie.Fields {
		if f.Detail == "" || f.Message == "" {
			t.Fatalf("fault at %q lacks a detail or message", f.Field)
		}
	}
}

// accepted checks what a parser answered: a refusal is a fault
// (checkFault), and v, what it accepted (named by what), re-validates. It
// reports whether the parser accepted.
func accepted(t *testing.T, v interface{ Validate() error }, err error, what string) bool {
	t.Helper()
	if err != nil {
		checkFault(t, err)
		return false
	}
	if err := v.Validate(); err != nil {
		t.Fatalf("%s does not re-validate: %v", what, err)
	}
	return true
}

func addContractSeeds(f *testing.F, glob string) {
	files, err := filepath.Glob(filepath.Join("testdata", "contract", glob))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %s", glob)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// A create request either fails with an InvalidError or ErrTooLarge, or
// parses into a request that re-validates and saves into a valid record
// whose public form shows no whole number.
func FuzzParseCreateRequest(f *testing.F) {
	addContractSeeds(f, "createSecureToken.request.*.json")
	for _, src := range []string{
		`{"type":"ach","nameOnAccount":"A","accountNumber":"1234567890","routingNumber":"011000015","secCode":"web"}`,
		`{"type":"pad","nameOnAccount":"A","accountNumber":"1234567","transitNumber":"12345","institutionNumber":"123"}`,
		`{"type":"card","cardDetails":{"entryMethod":"swiped","swipedData":{"dataFormat":"plainText","device":{"model":"paxA920","serialNumber":"1"},"trackData":"%B4539858876047062^HOPPER/SARAH^3012101?"}}}`,
		`{"type":"card","cardDetails":{"entryMethod":"raw","device":{"model":"paxA920","serialNumber":"1"},"rawData":"AB"}}`,
	} {
		f.Add([]byte(`{"source":` + src + `}`))
	}
	f.Add([]byte(`{"source":{"type":"card","cardDetails":{"entryMethod":"keyed","keyedData":{"dataFormat":"plainText","cardNumber":5}}},"customFields":[{},null,1]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := securetoken.ParseCreateRequest(body)
		if !accepted(t, req, err, "a parsed request") {
			return
		}
		src, ok := req.Source.StoredSource()
		if req.Source.Type == securetoken.SourceSingleUseToken {
			if ok {
				t.Fatal("a single-use token source read as details")
			}
			return
		}
		if !ok {
			t.Fatalf("a valid %s source gives no stored details", req.Source.Type)
		}
		rec := securetoken.NewRecord(req, src)
		rec.ProcessingTerminalID, rec.Token = "1234001", "296753123458"
		if rec.SecureTokenID == "" {
			rec.SecureTokenID = "generated"
		}
		if err := rec.Validate(); err != nil {
			t.Fatalf("a valid request makes an invalid record: %v", err)
		}
		pub := publicJSON(t, rec)
		var whole string
		switch {
		case rec.Source.Card != nil:
			whole = string(rec.Source.Card.CardNumber)
		case rec.Source.ACH != nil:
			whole = string(rec.Source.ACH.AccountNumber)
		case rec.Source.PAD != nil:
			whole = string(rec.Source.PAD.AccountNumber)
		}
		// Only the number's own member is checked: another member may
		// legitimately hold the same digits.
		res, err := securetoken.ParseResource(pub)
		if err != nil {
			t.Fatalf("the public form does not read back: %v", err)
		}
		for _, shown := range []string{string(cardOf(res)), string(accountOf(res))} {
			if shown != "" && shown == whole && len(whole) > 4 {
				t.Fatal("the public form shows the whole number")
			}
		}
	})
}

func cardOf(r securetoken.Resource) securetoken.CardNumber {
	if r.Source.Card != nil {
		return r.Source.Card.CardNumber
	}
	return ""
}

func accountOf(r securetoken.Resource) securetoken.AccountNumber {
	switch {
	case r.Source.ACH != nil:
		return r.Source.ACH.AccountNumber
	case r.Source.PAD != nil:
		return r.Source.PAD.AccountNumber
	}
	return ""
}

// A list query either fails with an InvalidError naming parameters, or
// parses into a query that re-validates.
func FuzzParseListQuery(f *testing.F) {
	for _, s := range []string{
		"", "limit=25", "limit=0", "before=a&after=b", "first6=453985&last4=7062",
		"customerName=Sarah%20Hazel%20Hopper&email=a@b&phone=%2B1%20202", "token=296753123456&secureTokenId=x",
		"limit=1&limit=2", "bogus=1", "phone=---", "%zz",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := securetoken.ParseListQuery(v)
		if !accepted(t, q, err, "a parsed query") {
			return
		}
		if q.Limit < 1 || q.Limit > securetoken.MaxListLimit || q.Before != "" && q.After != "" {
			t.Fatal("limit or cursors out of bounds")
		}
		back, err := securetoken.ParseListQuery(q.Values())
		if err != nil || back.Limit != q.Limit || back.Email != q.Email || back.CustomerName != q.CustomerName {
			t.Fatal("Values does not round-trip")
		}
	})
}

// A patched document either fails (invalid, immutable, too large) or gives
// a valid record with the old immutable members and whole numbers.
func FuzzApplyPublic(f *testing.F) {
	old := fuzzRecord(f)
	pub := publicJSON(f, old)
	f.Add(pub)
	f.Add(bytes.Replace(pub, []byte(`"Hopper"`), []byte(`"Reed"`), 1))
	f.Add(bytes.Replace(pub, []byte(`"1230"`), []byte(`"1330"`), 1))
	f.Add(bytes.Replace(pub, []byte(`"customer"`), []byte(`"shippingAddress"`), 1))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		got, err := securetoken.ApplyPublic(old, doc)
		if errors.Is(err, securetoken.ErrImmutable) {
			return
		}
		if !accepted(t, got, err, "an applied patch's record") {
			return
		}
		if got.Token != old.Token || got.SecureTokenID != old.SecureTokenID || got.Status != old.Status ||
			got.Source.Type != old.Source.Type || got.Source.Card.CardNumber != old.Source.Card.CardNumber {
			t.Fatal("an immutable member changed")
		}
	})
}

func fuzzRecord(f *testing.F) securetoken.Record {
	rec := newRecord(f, createCard(f))
	rec.SecureTokenID, rec.ProcessingTerminalID, rec.Token = "id", "1234001", "296753123458"
	return rec
}

// Nearest never panics and gives "" or an existing member.
func FuzzNearestPath(f *testing.F) {
	for _, s := range []string{"/shippingAddress/recipientName", "/source/cardDetails/cardholderName", "", "/", "~", "/a~1b", "customer"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		for _, pol := range []securetoken.PathPolicy{securetoken.PolicyFor(""), securetoken.PolicyFor(securetoken.SourceACH)} {
			near := pol.Nearest(p)
			if near != "" && !pol.Exists(near) {
				t.Fatalf("Nearest(%q) = %q, which does not exist", p, near)
			}
			if strings.HasPrefix(p, "/") && pol.Exists(p) && near != p {
				t.Fatalf("Nearest(%q) = %q for an existing member", p, near)
			}
		}
	})
}

// UnmarshalBinary never panics on damaged bytes.
func FuzzUnmarshalBinary(f *testing.F) {
	f.Add(sealedForm(f, fuzzRecord(f)))
	f.Add([]byte(`{"v":1,"source":{"type":"ach"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r securetoken.Record
		if err := r.UnmarshalBinary(data); err != nil {
			return
		}
		again, err := r.MarshalBinary()
		if err != nil {
			t.Fatalf("a record read back does not write: %v", err)
		}
		var r2 securetoken.Record
		if err := r2.UnmarshalBinary(again); err != nil {
			t.Fatalf("a written record does not read: %v", err)
		}
	})
}

// FuzzCapturedSource: whatever a browser posts, CapturedSource returns
// either an InvalidError-kind fault or a Source that reads back and is a
// card or a bank account.
func FuzzCapturedSource(f *testing.F) {
	f.Add([]byte(`{"card_number":"4242424242424242","card_holder":"A","expiry":"12/30","cvv":"123"}`))
	f.Add([]byte(`{"card_number":"4242 4242 4242 4242","card_holder":"A","card_expiry":"12-2030"}`))
	f.Add([]byte(`{"account_number":"123456789","routing_number":"011000015","account_holder":"A","account_type":"savings"}`))
	f.Add([]byte(`{"card_number":1}`))
	f.Fuzz(func(t *testing.T, captured []byte) {
		out, err := securetoken.CapturedSource(captured)
		if err != nil {
			if !errors.Is(err, cardvault.ErrInvalid) {
				t.Fatalf("unexpected kind of error: %v", err)
			}
			return
		}
		var src securetoken.Source
		if err := src.UnmarshalBinary(out); err != nil {
			t.Fatalf("the details do not read back: %v", err)
		}
		if src.Card == nil && src.ACH == nil {
			t.Fatal("neither a card nor a bank account")
		}
	})
}
