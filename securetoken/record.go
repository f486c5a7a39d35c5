package securetoken

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/cardbrand"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/luhn"
	"github.com/tidwall/gjson"
)

// Record is a secure token as the service keeps it, sealed, at rest: the
// resource with whole card and account numbers, plus what the resource never
// shows (issue number, SEC code, operator, IP address).
//
// A Record never holds a card verification code. The CVV of a create
// request is checked (3–4 digits) and dropped: PCI DSS requirement 3.3.1.2
// forbids storing card verification codes after authorization, and a
// secure token is never authorized at all. Nor does it hold PIN data, track
// data, signatures or 3-D Secure results.
//
// Its renderings are safe by default: JSON-encoding a Record gives the
// public resource ([Record.PublicJSON]); fmt prints a redacted summary.
// Only [Record.MarshalBinary] writes the whole numbers, for sealing.
type Record struct {
	SecureTokenID        string
	ProcessingTerminalID string
	Token                string // 12–19 digits, Luhn-valid
	Status               Status
	MITAgreement         MITAgreement
	Customer             *Customer
	Source               Source
	CustomFields         []CustomField
	Operator             string
	IPAddress            *IPAddress
}

// StoredSource returns the payment details a request's source carries, in
// the stored form: the card number read from keyed data or track data, the
// brand derived from it, CVV and everything terminal-specific dropped. ok is
// false for a singleUseToken source, which the service redeems instead (the
// details it holds come from [SingleUseTokenRequest] or a hosted form), and
// for a source that does not validate.
func (p PaymentSource) StoredSource() (src Source, ok bool) {
	switch p.Type {
	case SourceACH:
		if a := p.ACH; a != nil {
			return Source{Type: SourceACH, ACH: &ACHSource{
				NameOnAccount: a.NameOnAccount, AccountNumber: a.AccountNumber, RoutingNumber: a.RoutingNumber,
				AccountType: a.AccountType, SECCode: a.SECCode,
			}}, true
		}
	case SourcePAD:
		if a := p.PAD; a != nil {
			return Source{Type: SourcePAD, PAD: &PADSource{
				NameOnAccount: a.NameOnAccount, AccountNumber: a.AccountNumber, TransitNumber: a.TransitNumber,
				InstitutionNumber: a.InstitutionNumber, AccountType: a.AccountType,
			}}, true
		}
	case SourceCard:
		if p.Card == nil {
			return Source{}, false
		}
		d := p.Card.CardDetails
		switch {
		case d.EntryMethod == EntryKeyed && d.Keyed != nil && d.Keyed.KeyedData.PlainText != nil:
			k := d.Keyed.KeyedData.PlainText
			return cardSource(d.Keyed.CardholderName, k.CardNumber, k.ExpiryDate, k.IssueNumber), true
		case d.EntryMethod == EntrySwiped && d.Swiped != nil && d.Swiped.SwipedData.PlainText != nil:
			t, ok := parseTrack(string(d.Swiped.SwipedData.PlainText.TrackData))
			if !ok {
				return Source{}, false
			}
			name := d.Swiped.CardholderName
			if name == "" {
				name = t.name
			}
			return cardSource(name, CardNumber(t.pan), t.expiry, ""), true
		}
	}
	return Source{}, false
}

func cardSource(name string, number CardNumber, expiry, issue string) Source {
	return Source{Type: SourceCard, Card: &CardSource{
		CardholderName: name,
		CardNumber:     number,
		ExpiryDate:     expiry,
		CardType:       cardbrand.Detect(string(number)).Name,
		IssueNumber:    issue,
	}}
}

// NewRecord makes the record a valid create request saves, with src the
// payment details (req.Source.StoredSource(), or what the redeemed
// single-use token held). Status is notValidated. The service fills in
// ProcessingTerminalID, Token, and SecureTokenID when the request had none,
// then calls [Record.Validate] before sealing it.
//
// A singleUseToken source's accountType and secCode complete the bank
// account details the single-use token held.
func NewRecord(req CreateRequest, src Source) Record {
	src = src.clone()
	if t := req.Source.SingleUseToken; req.Source.Type == SourceSingleUseToken && t != nil {
		if src.ACH != nil {
			src.ACH.AccountType = cmpOr(t.AccountType, src.ACH.AccountType)
			src.ACH.SECCode = cmpOr(t.SECCode, src.ACH.SECCode)
		}
		if src.PAD != nil {
			src.PAD.AccountType = cmpOr(t.AccountType, src.PAD.AccountType)
		}
	}
	r := Record{
		SecureTokenID: req.SecureTokenID,
		Status:        StatusNotValidated,
		MITAgreement:  req.MITAgreement,
		Customer:      req.Customer.clone(),
		Source:        src,
		CustomFields:  append([]CustomField(nil), req.CustomFields...),
		Operator:      req.Operator,
	}
	r.IPAddress = clonePtr(req.IPAddress)
	return r
}

func cmpOr[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

// WithSource returns r with its payment details replaced by src, for
// update-account: customer, mitAgreement and custom fields stay. The status
// goes back to notValidated, since it described the old details.
func (r Record) WithSource(src Source) Record {
	out := r.clone()
	out.Source = src.clone()
	out.Status = StatusNotValidated
	return out
}

// Public returns the resource: numbers masked, stored-only members left
// out. It shares nothing with r.
func (r Record) Public() Resource {
	res := r.view()
	res.Customer = r.Customer.clone()
	res.CustomFields = append([]CustomField(nil), r.CustomFields...)
	return res
}

// view is Public sharing r's customer and custom fields: for reading only.
func (r Record) view() Resource {
	return Resource{
		SecureTokenID:        r.SecureTokenID,
		ProcessingTerminalID: r.ProcessingTerminalID,
		MITAgreement:         r.MITAgreement,
		Customer:             r.Customer,
		Source:               r.Source.Masked(),
		Token:                r.Token,
		Status:               r.Status,
		CustomFields:         r.CustomFields,
	}
}

// PublicJSON returns the resource as JSON: the body of a response, and the
// document a JSON Patch is applied to.
func (r Record) PublicJSON() ([]byte, error) { return r.view().MarshalJSON() }

// MarshalJSON writes the public resource, so that encoding a Record by
// mistake reveals nothing a response does not.
func (r Record) MarshalJSON() ([]byte, error) { return r.PublicJSON() }

// MarshalJSON writes the resource with the members in the contract's order
// and without HTML escaping (so "<" stays "<").
func (r Resource) MarshalJSON() ([]byte, error) {
	type plain Resource // without this method
	return jsonx.Marshal(plain(r))
}

// Validate checks a record before it is sealed: the resource's schema with
// whole numbers (card numbers Luhn-valid, routing numbers with a valid ABA
// check digit), a Luhn-valid token, and the stored-only members.
func (r Record) Validate() error {
	var c checker
	res := r.view()
	res.Source = r.Source
	c.resource(res, true)
	if r.Token != "" && allDigits(r.Token) && !luhn.Valid(r.Token) {
		c.fault(at("", "token"), "invalid token", "must end in a valid Luhn check digit")
	}
	c.text(at("", "operator"), r.Operator, 1, 50, false)
	if r.IPAddress != nil {
		c.ip("/ipAddress", r.IPAddress)
	}
	if r.Source.Card != nil {
		c.digitPattern(at("/source", "issueNumber"), r.Source.Card.IssueNumber, 1, 2)
	}
	if r.Source.ACH != nil {
		checkEnum(&c, at("/source", "secCode"), r.Source.ACH.SECCode, secCodes, false)
	}
	return c.err()
}

// ApplyPublic turns a patched public document back into a record: the
// service applies an RFC 6902 patch to old.PublicJSON() — the masked
// representation, so that no test, copy or move can read a whole number —
// and hands the result here.
//
// The document passes internal/jsonx.Check, then is read strictly (a member the
// resource does not have is a fault naming the nearest valid path) and
// validated against the resource's schema. A change to an immutable member
// (see [PathPolicy.ImmutablePaths]) gives an [*ImmutableError] listing them
// all, checked before anything else: the path policy should have refused
// the patch already, and this is the second lock. Other faults give a
// *cardvault.InvalidError listing every one. Otherwise the result is old
// with the mutable members taken from the document — the whole numbers and
// the stored-only members kept.
func ApplyPublic(old Record, patched []byte) (Record, error) {
	res, decoded, err := decodeResource(patched)
	if err != nil {
		return Record{}, err
	}
	if err := immutableChanges(old.view(), res); err != nil {
		return Record{}, err
	}
	if err := checkResource(res, decoded); err != nil {
		return Record{}, err
	}
	return old.merge(res), nil
}

// immutableChanges compares the immutable members of two resources.
func immutableChanges(was, now Resource) error {
	e := &ImmutableError{}
	if was.SecureTokenID != now.SecureTokenID {
		e.add("/secureTokenId")
	}
	if was.ProcessingTerminalID != now.ProcessingTerminalID {
		e.add("/processingTerminalId")
	}
	if was.Token != now.Token {
		e.add("/token")
	}
	if was.Status != now.Status {
		e.add("/status")
	}
	switch {
	case was.Source.Type != now.Source.Type:
		e.add("/source/type")
	case was.Source.Card != nil && now.Source.Card != nil:
		w, n := was.Source.Card, now.Source.Card
		if w.CardNumber != n.CardNumber {
			e.add("/source/cardNumber")
		}
		if w.CardType != n.CardType {
			e.add("/source/cardType")
		}
		if w.Currency != n.Currency {
			e.add("/source/currency")
		}
		if !reflect.DeepEqual(w.Debit, n.Debit) {
			e.add("/source/debit")
		}
		if !reflect.DeepEqual(w.Surcharging, n.Surcharging) {
			e.add("/source/surcharging")
		}
	case was.Source.ACH != nil && now.Source.ACH != nil:
		if was.Source.ACH.AccountNumber != now.Source.ACH.AccountNumber {
			e.add("/source/accountNumber")
		}
		if was.Source.ACH.RoutingNumber != now.Source.ACH.RoutingNumber {
			e.add("/source/routingNumber")
		}
	case was.Source.PAD != nil && now.Source.PAD != nil:
		if was.Source.PAD.AccountNumber != now.Source.PAD.AccountNumber {
			e.add("/source/accountNumber")
		}
		if was.Source.PAD.TransitNumber != now.Source.PAD.TransitNumber {
			e.add("/source/transitNumber")
		}
	}
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// merge returns r with the mutable members of res, which it takes over
// (res is a freshly decoded document nobody else holds).
func (r Record) merge(res Resource) Record {
	out := r
	out.Source = r.Source.clone()
	out.IPAddress = clonePtr(r.IPAddress)
	out.MITAgreement = res.MITAgreement
	out.Customer = res.Customer
	out.CustomFields = res.CustomFields
	switch {
	case out.Source.Card != nil && res.Source.Card != nil:
		out.Source.Card.CardholderName = res.Source.Card.CardholderName
		out.Source.Card.ExpiryDate = res.Source.Card.ExpiryDate
	case out.Source.ACH != nil && res.Source.ACH != nil:
		out.Source.ACH.NameOnAccount = res.Source.ACH.NameOnAccount
		out.Source.ACH.AccountType = res.Source.ACH.AccountType
	case out.Source.PAD != nil && res.Source.PAD != nil:
		out.Source.PAD.NameOnAccount = res.Source.PAD.NameOnAccount
		out.Source.PAD.InstitutionNumber = res.Source.PAD.InstitutionNumber
		out.Source.PAD.AccountType = res.Source.PAD.AccountType
	}
	return out
}

// ParseResource reads and validates a public resource document (a
// response body, as a client would) strictly: unknown members are faults.
// Numbers are whatever the document holds — masked, for a document
// cardvault wrote.
func ParseResource(body []byte) (Resource, error) {
	res, decoded, err := decodeResource(body)
	if err == nil {
		err = checkResource(res, decoded)
	}
	if err != nil {
		return Resource{}, err
	}
	return res, nil
}

// decodeResource gates and strictly reads a resource document, returning
// the faults of reading it.
func decodeResource(body []byte) (Resource, cardvault.InvalidError, error) {
	d, root, err := open(body, true)
	if err != nil {
		return Resource{}, cardvault.InvalidError{}, err
	}
	var res Resource
	if root != nil {
		res = d.resource(root)
	}
	return res, d.errs, nil
}

// checkResource validates a decoded resource and merges the faults.
func checkResource(res Resource, decoded cardvault.InvalidError) error {
	var c checker
	c.resource(res, false)
	return result(decoded, c.err())
}

func (r Record) clone() Record {
	out := r
	out.Customer = r.Customer.clone()
	out.Source = r.Source.clone()
	out.CustomFields = append([]CustomField(nil), r.CustomFields...)
	out.IPAddress = clonePtr(r.IPAddress)
	return out
}

func (s Source) clone() Source {
	out := Source{Type: s.Type, Card: clonePtr(s.Card), ACH: clonePtr(s.ACH), PAD: clonePtr(s.PAD)}
	if out.Card != nil {
		out.Card.Debit = clonePtr(s.Card.Debit)
		out.Card.Surcharging = s.Card.Surcharging.clone()
	}
	return out
}

// The sealed form: what the service encrypts and stores. It is JSON with a
// version, whole numbers in clear (the AEAD around it is what protects
// them), written through mirror types with plain strings so that the
// masking renderings of CardNumber and AccountNumber do not apply, and read
// back by the package's own reader, which ignores members it does not know
// (a later version adds members; an incompatible one changes "v").

const sealedVersion = 1

// ErrUnreadable is returned by UnmarshalBinary for bytes that are not a
// sealed record or source of a version this package reads. Its message
// says nothing of the content.
var ErrUnreadable = errors.New("securetoken: not a readable sealed record")

type sealedSource struct {
	Version           int          `json:"v,omitempty"` // set when a Source is sealed on its own
	Type              SourceType   `json:"type"`
	CardholderName    string       `json:"cardholderName,omitempty"`
	CardNumber        string       `json:"cardNumber,omitempty"`
	ExpiryDate        string       `json:"expiryDate,omitempty"`
	CardType          string       `json:"cardType,omitempty"`
	Currency          string       `json:"currency,omitempty"`
	Debit             *bool        `json:"debit,omitempty"`
	Surcharging       *Surcharging `json:"surcharging,omitempty"`
	IssueNumber       string       `json:"issueNumber,omitempty"`
	NameOnAccount     string       `json:"nameOnAccount,omitempty"`
	AccountNumber     string       `json:"accountNumber,omitempty"`
	RoutingNumber     string       `json:"routingNumber,omitempty"`
	TransitNumber     string       `json:"transitNumber,omitempty"`
	InstitutionNumber string       `json:"institutionNumber,omitempty"`
	AccountType       AccountType  `json:"accountType,omitempty"`
	SECCode           SECCode      `json:"secCode,omitempty"`
}

type sealedRecord struct {
	Version              int           `json:"v"`
	SecureTokenID        string        `json:"secureTokenId"`
	ProcessingTerminalID string        `json:"processingTerminalId"`
	Token                string        `json:"token"`
	Status               Status        `json:"status"`
	MITAgreement         MITAgreement  `json:"mitAgreement,omitempty"`
	Customer             *Customer     `json:"customer,omitempty"`
	Source               sealedSource  `json:"source"`
	CustomFields         []CustomField `json:"customFields,omitempty"`
	Operator             string        `json:"operator,omitempty"`
	IPAddress            *IPAddress    `json:"ipAddress,omitempty"`
}

func (s Source) sealed() (sealedSource, error) {
	out := sealedSource{Type: s.Type}
	switch {
	case s.Type == SourceCard && s.Card != nil:
		c := s.Card
		out.CardholderName, out.CardNumber, out.ExpiryDate = c.CardholderName, string(c.CardNumber), c.ExpiryDate
		out.CardType, out.Currency, out.Debit, out.Surcharging = c.CardType, c.Currency, c.Debit, c.Surcharging
		out.IssueNumber = c.IssueNumber
	case s.Type == SourceACH && s.ACH != nil:
		a := s.ACH
		out.NameOnAccount, out.AccountNumber, out.RoutingNumber = a.NameOnAccount, string(a.AccountNumber), a.RoutingNumber
		out.AccountType, out.SECCode = a.AccountType, a.SECCode
	case s.Type == SourcePAD && s.PAD != nil:
		p := s.PAD
		out.NameOnAccount, out.AccountNumber = p.NameOnAccount, string(p.AccountNumber)
		out.TransitNumber, out.InstitutionNumber, out.AccountType = p.TransitNumber, p.InstitutionNumber, p.AccountType
	default:
		return sealedSource{}, errors.New("securetoken: source type and details disagree")
	}
	return out, nil
}

// MarshalBinary writes the sealed form of the record — whole numbers
// included — for the service to encrypt. It does not validate; call
// [Record.Validate] first.
func (r Record) MarshalBinary() ([]byte, error) {
	src, err := r.Source.sealed()
	if err != nil {
		return nil, err
	}
	return json.Marshal(sealedRecord{
		Version:              sealedVersion,
		SecureTokenID:        r.SecureTokenID,
		ProcessingTerminalID: r.ProcessingTerminalID,
		Token:                r.Token,
		Status:               r.Status,
		MITAgreement:         r.MITAgreement,
		Customer:             r.Customer,
		Source:               src,
		CustomFields:         r.CustomFields,
		Operator:             r.Operator,
		IPAddress:            r.IPAddress,
	})
}

// UnmarshalBinary reads what MarshalBinary wrote. It returns
// [ErrUnreadable] for anything else; it does not validate. (It reads with
// the package's own gjson reader, several times faster than encoding/json:
// every retrieve pays for it.)
func (r *Record) UnmarshalBinary(data []byte) error {
	d, root, ok := openSealed(data)
	if !ok {
		return ErrUnreadable
	}
	s, ok := root.obj("source")
	if !ok {
		return ErrUnreadable
	}
	rec := Record{
		SecureTokenID:        root.str("secureTokenId"),
		ProcessingTerminalID: root.str("processingTerminalId"),
		Token:                root.str("token"),
		Status:               Status(root.str("status")),
		MITAgreement:         MITAgreement(root.str("mitAgreement")),
		Source:               d.sealedSource(s),
		CustomFields:         d.customFields(root),
		Operator:             root.str("operator"),
		IPAddress:            d.ipAddress(root),
	}
	if c, ok := root.obj("customer"); ok {
		rec.Customer = d.customer(c)
	}
	if len(d.errs.Fields) > 0 || !resourceSources.has(rec.Source.Type) {
		return ErrUnreadable
	}
	*r = rec
	return nil
}

// openSealed checks sealed bytes and opens their root object, version 1.
func openSealed(data []byte) (*decoder, *object, bool) {
	if !gjson.ValidBytes(data) {
		return nil, nil, false
	}
	d := &decoder{}
	v := gjson.ParseBytes(data)
	root, ok := d.object("", v)
	if !ok {
		return nil, nil, false
	}
	if n := root.integer("v"); n == nil || *n != sealedVersion {
		return nil, nil, false
	}
	return d, root, true
}

// sealedSource reads a sealed source: the public members, whole, and the
// stored-only ones.
func (d *decoder) sealedSource(o *object) Source {
	src := d.source(o)
	switch {
	case src.Card != nil:
		src.Card.IssueNumber = o.str("issueNumber")
	case src.ACH != nil:
		src.ACH.SECCode = SECCode(o.str("secCode"))
	}
	return src
}

// MarshalBinary writes the sealed form of a source alone — whole numbers
// included — for the payment details a single-use token holds.
func (s Source) MarshalBinary() ([]byte, error) {
	out, err := s.sealed()
	if err != nil {
		return nil, err
	}
	out.Version = sealedVersion
	return json.Marshal(out)
}

// UnmarshalBinary reads what Source.MarshalBinary wrote, or returns
// [ErrUnreadable].
func (s *Source) UnmarshalBinary(data []byte) error {
	d, root, ok := openSealed(data)
	if !ok {
		return ErrUnreadable
	}
	src := d.sealedSource(root)
	if len(d.errs.Fields) > 0 || !resourceSources.has(src.Type) {
		return ErrUnreadable
	}
	*s = src
	return nil
}

var (
	_ encoding.BinaryMarshaler   = Record{}
	_ encoding.BinaryUnmarshaler = (*Record)(nil)
	_ encoding.BinaryMarshaler   = Source{}
	_ encoding.BinaryUnmarshaler = (*Source)(nil)
	_ json.Marshaler             = Record{}
	_ json.Marshaler             = Resource{}
	_ json.Marshaler             = Source{}
	_ encoding.TextMarshaler     = CardNumber("")
	_ encoding.TextMarshaler     = AccountNumber("")
	_ encoding.TextMarshaler     = Sensitive("")
	_ fmt.Formatter              = Record{}
	_ fmt.Formatter              = CardNumber("")
	_ fmt.Formatter              = Customer{}
)

// fmt renderings. The types that hold personal data or payment details
// print a summary that names no person and no number beyond the public
// mask, whatever the verb, so that logging one by mistake leaks nothing.

// Format prints the token's identifiers and its masked source.
func (r Record) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "securetoken.Record{secureTokenId: %q, processingTerminalId: %q, status: %s, source: %s}",
		r.SecureTokenID, r.ProcessingTerminalID, r.Status, r.Source.summary())
}

// Format prints the token's identifiers and its masked source.
func (r Resource) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "securetoken.Resource{secureTokenId: %q, processingTerminalId: %q, status: %s, source: %s}",
		r.SecureTokenID, r.ProcessingTerminalID, r.Status, r.Source.summary())
}

// Format prints the source's type and masked number.
func (s Source) Format(f fmt.State, verb rune) { fmt.Fprint(f, s.summary()) }

func (s Source) summary() string {
	switch {
	case s.Card != nil:
		return "card " + s.Card.CardNumber.Masked()
	case s.ACH != nil:
		return "ach " + s.ACH.AccountNumber.Masked()
	case s.PAD != nil:
		return "pad " + s.PAD.AccountNumber.Masked()
	}
	return "none"
}

// Format prints nothing of the customer.
func (c Customer) Format(f fmt.State, verb rune) { fmt.Fprint(f, "securetoken.Customer{"+redacted+"}") }

// Format prints the request's identifier and source type.
func (r CreateRequest) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "securetoken.CreateRequest{secureTokenId: %q, source: %s}", r.SecureTokenID, r.Source.summary())
}

// Format prints the request's channel and source type.
func (r SingleUseTokenRequest) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "securetoken.SingleUseTokenRequest{channel: %s, source: %s}", r.Channel, r.Source.summary())
}

// Format prints the request's type, not its single-use token: whoever holds
// one can redeem it.
func (r AccountUpdateRequest) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "securetoken.AccountUpdateRequest{type: %s, token: %s}", r.Type, Sensitive(r.Token))
}

// Format prints the source's type and, for a card, its entry method.
func (p PaymentSource) Format(f fmt.State, verb rune) { fmt.Fprint(f, p.summary()) }

func (p PaymentSource) summary() string {
	var b strings.Builder
	b.WriteString(string(p.Type))
	if p.Card != nil && p.Card.CardDetails.EntryMethod != "" {
		b.WriteString(" " + string(p.Card.CardDetails.EntryMethod))
	}
	if b.Len() == 0 {
		return "none"
	}
	return b.String()
}

// track is what cardvault keeps of magnetic-stripe data: the card number,
// the expiry date (as MMYY) and, from track 1, the cardholder's name. The
// service code and discretionary data are dropped with the rest of the
// track: PCI DSS forbids storing full track data.
type track struct {
	pan    string
	expiry string // MMYY
	name   string
}

// ISO/IEC 7813 track 1 ("%B" PAN "^" NAME "^" YYMM ...) and track 2
// (";" PAN "=" YYMM ...), sentinels optional, either or both in one string
// (track 2 at the start, or after track 1's end sentinel and check
// character).
var (
	track1 = regexp.MustCompile(`^%?B([0-9]{12,19})\^([^^]{0,26})\^([0-9]{4})`)
	track2 = regexp.MustCompile(`(?:^|\?[^;]?);?([0-9]{12,19})=([0-9]{4})`)
)

// parseTrack reads track data. ok is false when neither track is there, the
// card number fails Luhn, the month is not 01–12, or the two tracks
// disagree.
func parseTrack(s string) (t track, ok bool) {
	m1 := track1.FindStringSubmatch(s)
	m2 := track2.FindStringSubmatch(s)
	switch {
	case m1 != nil:
		t = track{pan: m1[1], expiry: m1[3][2:] + m1[3][:2], name: trackName(m1[2])}
		if m2 != nil && (m2[1] != t.pan || m2[2][2:]+m2[2][:2] != t.expiry) {
			return track{}, false
		}
	case m2 != nil:
		t = track{pan: m2[1], expiry: m2[2][2:] + m2[2][:2]}
	default:
		return track{}, false
	}
	if !luhn.Valid(t.pan) || !validExpiry(t.expiry) {
		return track{}, false
	}
	return t, true
}

// trackName turns track 1's "SURNAME/GIVEN NAMES" into "GIVEN NAMES
// SURNAME", spaces collapsed; "" when the name is blank.
func trackName(raw string) string {
	surname, given, found := strings.Cut(raw, "/")
	name := raw
	if found {
		name = given + " " + surname
	}
	return strings.Join(strings.Fields(name), " ")
}
