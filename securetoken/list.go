package securetoken

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store"
	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Limits of a list request.
const (
	DefaultListLimit = 10
	MaxListLimit     = 100
)

// ListQuery is a parsed list request: filters (empty means no filter),
// one cursor at most, and a page size.
type ListQuery struct {
	SecureTokenID string
	CustomerName  string
	Phone         string
	Email         string
	Token         string
	First6        string
	Last4         string
	// Before and After are cursors: the secureTokenId of the first item of
	// the page after the wanted one, or of the last item of the page
	// before it. At most one is set.
	Before string
	After  string
	Limit  int // 1–100
}

// listParams are the query parameters of the list operation.
var listParams = []string{"secureTokenId", "customerName", "phone", "email", "token", "first6", "last4", "before", "after", "limit"}

// ParseListQuery parses the query of a list request and returns every bad
// parameter in one *cardvault.InvalidError (each FieldError names the
// parameter). A parameter the contract does not list is refused, unlike an
// unknown member of a request body: a misspelt filter that was ignored would
// silently widen the result to every customer of the terminal. A parameter
// given twice is refused too.
func ParseListQuery(v url.Values) (ListQuery, error) {
	var c checker
	one := func(name string) string {
		vals := v[name]
		switch {
		case len(vals) == 0:
			return ""
		case len(vals) > 1:
			c.fault(param(name), "repeated", "must be given at most once")
			return ""
		case vals[0] == "":
			c.fault(param(name), "too short", "must not be empty")
			return ""
		}
		return vals[0]
	}
	var unknown []string
	for name := range v {
		if !slices.Contains(listParams, name) {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	for _, name := range unknown {
		if len(c.errs.Fields) >= maxFaults {
			break
		}
		c.fault(param(name), "unknown parameter", "is not a parameter of this operation; the parameters are "+strings.Join(listParams, ", "))
	}
	q := ListQuery{
		SecureTokenID: one("secureTokenId"),
		CustomerName:  one("customerName"),
		Phone:         one("phone"),
		Email:         one("email"),
		Token:         one("token"),
		First6:        one("first6"),
		Last4:         one("last4"),
		Before:        one("before"),
		After:         one("after"),
		Limit:         DefaultListLimit,
	}
	if s := one("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxListLimit {
			c.fault(param("limit"), "invalid value", "must be an integer from 1 to 100")
		} else {
			q.Limit = n
		}
	}
	c.listQuery(q)
	if err := c.err(); err != nil {
		return ListQuery{}, err
	}
	return q, nil
}

// Validate checks a ListQuery built in Go as ParseListQuery checks a parsed
// one.
func (q ListQuery) Validate() error {
	var c checker
	if q.Limit < 1 || q.Limit > MaxListLimit {
		c.fault(param("limit"), "invalid value", "must be an integer from 1 to 100")
	}
	c.listQuery(q)
	return c.err()
}

func (c *checker) listQuery(q ListQuery) {
	c.text(param("secureTokenId"), q.SecureTokenID, 1, 200, false)
	c.text(param("customerName"), q.CustomerName, 1, 50, false)
	c.text(param("phone"), q.Phone, 1, 15, false)
	c.text(param("email"), q.Email, 1, 100, false)
	c.digits(param("token"), q.Token, 12, 19, false)
	c.digits(param("first6"), q.First6, 6, 6, false)
	c.digits(param("last4"), q.Last4, 4, 4, false)
	c.text(param("before"), q.Before, 1, 200, false)
	c.text(param("after"), q.After, 1, 200, false)
	if q.Before != "" && q.After != "" {
		c.fault(param("after"), "conflict", "cannot be given with before")
	}
	// A filter that normalizes to nothing ("---" as a phone) would match
	// every record with an empty index term; refuse it instead.
	if q.Phone != "" && NormalizePhone(q.Phone) == "" {
		c.fault(param("phone"), "invalid value", "must contain digits")
	}
	if q.CustomerName != "" && !strings.ContainsFunc(q.CustomerName, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
		c.fault(param("customerName"), "invalid value", "must contain a letter or digit")
	}
	if q.Email != "" && NormalizeEmail(q.Email) == "" {
		c.fault(param("email"), "invalid value", "must not be blank")
	}
}

// NewListResponse is the reply to the list request q whose answer is page.
// href makes a link's URL from its query: q's filters and limit, and the
// page's cursor as "after" (the next link) or "before" (the previous one).
// A zero q.Limit is DefaultListLimit.
func NewListResponse(q ListQuery, page Page, href func(url.Values) string) ListResponse {
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	resp := ListResponse{Limit: q.Limit, Count: len(page.Items), HasMore: page.HasMore, Links: []Link{}, Data: page.Items}
	if resp.Data == nil {
		resp.Data = []Resource{}
	}
	link := func(rel, cursor, value string) {
		v := q.Values()
		v.Set(cursor, value)
		resp.Links = append(resp.Links, Link{Rel: rel, Method: "get", Href: href(v)})
	}
	if page.Next != "" {
		link("next", "after", page.Next)
	}
	if page.Previous != "" {
		link("previous", "before", page.Previous)
	}
	return resp
}

// Values returns the query's filters and limit as URL query parameters,
// cursors left out: the base of the next and previous links.
func (q ListQuery) Values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("secureTokenId", q.SecureTokenID)
	set("customerName", q.CustomerName)
	set("phone", q.Phone)
	set("email", q.Email)
	set("token", q.Token)
	set("first6", q.First6)
	set("last4", q.Last4)
	v.Set("limit", strconv.Itoa(q.Limit))
	return v
}

// The normalizations below turn a searchable value into the form its blind
// index is computed over, so that a filter and a stored value that a person
// would call equal give the same keyed hash. The service applies the same
// function to the stored value (see IndexTerms) and to the filter.

// NormalizeEmail trims surrounding white space and lowercases (Unicode
// lower case, after NFC). Treating the local part as case-insensitive is
// what every mail provider does in practice.
func NormalizeEmail(s string) string {
	return strings.ToLower(norm.NFC.String(strings.TrimSpace(s)))
}

// NormalizePhone keeps the ASCII digits only: "+1 (202) 555-0164" becomes
// "12025550164". A number stored with a country code does not match one
// searched without it.
func NormalizePhone(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// NormalizeName applies NFKC, Unicode full case folding (so "STRAßE" and
// "strasse" match) and collapses every run of white space to one space,
// trimming the ends.
func NormalizeName(s string) string {
	folded := cases.Fold().String(norm.NFKC.String(s))
	return strings.Join(strings.FieldsFunc(folded, unicode.IsSpace), " ")
}

// IndexTerms are the normalized values a record is found by. The service
// stores a keyed hash of each (never the value) and answers a filter by
// hashing its normalized value the same way.
type IndexTerms struct {
	// Names: the customer's "firstName lastName", the shipping recipient,
	// and the card holder or account holder, normalized, without
	// duplicates. The contract's own example filters by the card holder's
	// name ("Sarah Hazel Hopper"), which is why the holder is a term.
	Names []string
	// Emails: every email contact method.
	Emails []string
	// Phones: every phone, mobile and fax contact method.
	Phones []string
	// Token is the secure token itself (tokens are not secret, but the
	// index is keyed all the same).
	Token string
	// First6 is the card's first six digits; "" for bank accounts.
	First6 string
	// Last4 is the card's or account's last four digits.
	Last4 string
}

// IndexTerms returns the record's index terms.
func (r Record) IndexTerms() IndexTerms {
	var t IndexTerms
	addName := func(s string) {
		if n := NormalizeName(s); n != "" && !slices.Contains(t.Names, n) {
			t.Names = append(t.Names, n)
		}
	}
	if cu := r.Customer; cu != nil {
		addName(cu.FirstName + " " + cu.LastName)
		if cu.ShippingAddress != nil {
			addName(cu.ShippingAddress.RecipientName)
		}
		for _, m := range cu.ContactMethods {
			switch m.Type {
			case ContactEmail:
				if e := NormalizeEmail(m.Value); e != "" && !slices.Contains(t.Emails, e) {
					t.Emails = append(t.Emails, e)
				}
			case ContactPhone, ContactMobile, ContactFax:
				if p := NormalizePhone(m.Value); p != "" && !slices.Contains(t.Phones, p) {
					t.Phones = append(t.Phones, p)
				}
			}
		}
	}
	t.Token = r.Token
	switch {
	case r.Source.Card != nil:
		addName(r.Source.Card.CardholderName)
		t.First6 = r.Source.Card.CardNumber.First6()
		t.Last4 = r.Source.Card.CardNumber.Last4()
	case r.Source.ACH != nil:
		addName(r.Source.ACH.NameOnAccount)
		t.Last4 = r.Source.ACH.AccountNumber.Last4()
	case r.Source.PAD != nil:
		addName(r.Source.PAD.NameOnAccount)
		t.Last4 = r.Source.PAD.AccountNumber.Last4()
	}
	return t
}

// Page is one page of a list of secure tokens, in secureTokenId order.
type Page struct {
	Items []Resource
	// HasMore says more tokens match in the direction the request paged
	// (after its cursor, or before a "before" cursor).
	HasMore bool
	// Next is the cursor of the following page (list with After: Next),
	// Previous that of the preceding one (Before: Previous); "" when no
	// token matches there.
	Next, Previous string
}

// errEnough stops a scan once a page is full.
var errEnough = errors.New("enough")

// List returns a page of terminal's secure tokens that match every filter
// of q. Filters are answered from the keyed blind indexes (a hash of each
// normalized value): a list decrypts only the tokens it returns. Cursors
// are secureTokenIds, so paging is stable while tokens are added or
// deleted: each token is listed once, in id order.
func (s *Service) List(ctx context.Context, terminal string, q ListQuery) (Page, error) {
	if err := checkTerminal(terminal); err != nil {
		return Page{}, err
	}
	if q.Limit == 0 {
		q.Limit = DefaultListLimit
	}
	if err := q.Validate(); err != nil {
		return Page{}, err
	}
	kek, err := s.kek(ctx, terminal, false)
	if errors.Is(err, ErrNotFound) {
		return Page{}, nil // a terminal that never saved a token has none
	}
	if err != nil {
		return Page{}, err
	}
	l := s.listing(terminal, q)
	var page Page
	err = s.st.View(ctx, func(tx store.Tx) error {
		var err error
		page, err = l.page(tx, kek)
		return err
	})
	if err != nil {
		return Page{}, err
	}
	e := tokenEvent(audit.OpSecureTokenListed, terminal, "")
	e.Count = len(page.Items)
	audit.NoteTo(ctx, s.audit, e)
	return page, nil
}

// listing is the plan of one List: every filter is an index prefix; the
// first one drives the scan (bucket, prefix) and the others are point
// lookups. Without filters the records drive.
type listing struct {
	s        *Service
	terminal string
	q        ListQuery
	bucket   string
	prefix   []byte
	filters  [][]byte
}

func (s *Service) listing(terminal string, q ListQuery) listing {
	l := listing{s: s, terminal: terminal, q: q, bucket: bucketRecords, prefix: recordKey(terminal, "")}
	add := func(field, value string) {
		if value != "" {
			l.filters = append(l.filters, s.indexPrefix(terminal, field, value))
		}
	}
	add("name", NormalizeName(q.CustomerName))
	add("email", NormalizeEmail(q.Email))
	add("phone", NormalizePhone(q.Phone))
	add("token", q.Token)
	add("first6", q.First6)
	add("last4", q.Last4)
	if len(l.filters) > 0 {
		l.bucket, l.prefix, l.filters = bucketIndex, l.filters[0], l.filters[1:]
	}
	return l
}

// match reports whether the secure token id passes every filter.
func (l listing) match(tx store.Tx, id string) (bool, error) {
	if l.q.SecureTokenID != "" && id != l.q.SecureTokenID {
		return false, nil
	}
	for _, f := range l.filters {
		if _, err := tx.Get(bucketIndex, append(slices.Clip(f), id...)); errors.Is(err, store.ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
	}
	return true, nil
}

// scan returns up to want matching ids after (forward) or before (reverse)
// the cursor, nearest first.
func (l listing) scan(tx store.Tx, cursor string, reverse bool, want int) ([]string, error) {
	prefix, id := l.prefix, l.q.SecureTokenID
	r := store.Range{Start: prefix, End: store.PrefixEnd(prefix), Reverse: reverse}
	if id != "" {
		// One id at most can match: look at it alone.
		r = store.Range{Start: append(slices.Clip(prefix), id...)}
		r.End = append(slices.Clip(r.Start), 0)
		if cursor != "" && (!reverse && id <= cursor || reverse && id >= cursor) {
			return nil, nil
		}
	} else if cursor != "" {
		if reverse {
			r.End = append(slices.Clip(prefix), cursor...)
		} else {
			r.Start = append(append(slices.Clip(prefix), cursor...), 0)
		}
	}
	var ids []string
	err := tx.Scan(l.bucket, r, func(k, _ []byte) error {
		id := string(k[len(prefix):])
		ok, err := l.match(tx, id)
		if err != nil || !ok {
			return err
		}
		if ids = append(ids, id); len(ids) == want {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) {
		err = nil
	}
	return ids, err
}

// page reads the page the query asks for: its tokens, and the cursors to
// the pages beyond each end when there are matching tokens there.
func (l listing) page(tx store.Tx, kek *crypto.DataKey) (Page, error) {
	var page Page
	reverse := l.q.Before != ""
	cursor := l.q.After
	if reverse {
		cursor = l.q.Before
	}
	ids, err := l.scan(tx, cursor, reverse, l.q.Limit+1)
	if err != nil {
		return page, err
	}
	if page.HasMore = len(ids) > l.q.Limit; page.HasMore {
		ids = ids[:l.q.Limit]
	}
	if reverse {
		slices.Reverse(ids)
	}
	for _, id := range ids {
		rec, _, err := l.s.open(tx, kek, l.terminal, id)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, rec.Public())
	}
	if len(ids) == 0 {
		return page, nil
	}
	first, last := ids[0], ids[len(ids)-1]
	more := func(from string, reverse bool) (bool, error) {
		got, err := l.scan(tx, from, reverse, 1)
		return len(got) > 0, err
	}
	after, before := page.HasMore && !reverse, page.HasMore && reverse
	if reverse {
		if after, err = more(last, false); err != nil {
			return page, err
		}
	} else if l.q.After != "" {
		if before, err = more(first, true); err != nil {
			return page, err
		}
	}
	if after {
		page.Next = last
	}
	if before {
		page.Previous = first
	}
	return page, nil
}
