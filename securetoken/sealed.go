package securetoken

import (
	"encoding"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tidwall/gjson"
)

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
