package securetoken

import (
	"encoding/json"
	"fmt"
	"time"
)

// Customer is a customer's contact details and addresses. The same type
// serves requests, the stored record and the resource; the contract's
// request schema additionally requires the address lines listed in
// [Address].
type Customer struct {
	FirstName            string           `json:"firstName,omitempty"`       // ≤ 60
	LastName             string           `json:"lastName,omitempty"`        // ≤ 60
	DateOfBirth          string           `json:"dateOfBirth,omitempty"`     // YYYY-MM-DD
	ReferenceNumber      string           `json:"referenceNumber,omitempty"` // ≤ 48
	BillingAddress       *Address         `json:"billingAddress,omitempty"`
	ShippingAddress      *ShippingAddress `json:"shippingAddress,omitempty"`
	ContactMethods       []ContactMethod  `json:"contactMethods,omitempty"` // unique items
	NotificationLanguage Language         `json:"notificationLanguage,omitempty"`
}

// Address is a postal address. In requests address1, city, state, country
// and postalCode are required; in the resource nothing is (the contract's
// response schema drops the list), so a PATCH may remove a line.
type Address struct {
	Address1   string `json:"address1,omitempty"` // ≤ 150
	Address2   string `json:"address2,omitempty"` // ≤ 150
	Address3   string `json:"address3,omitempty"` // ≤ 150
	City       string `json:"city,omitempty"`     // ≤ 50
	State      string `json:"state,omitempty"`    // ≤ 50
	Country    string `json:"country,omitempty"`  // exactly 2 (ISO 3166-1 alpha-2)
	PostalCode string `json:"postalCode,omitempty"`
}

// ShippingAddress is a recipient and their address.
type ShippingAddress struct {
	RecipientName string   `json:"recipientName,omitempty"` // ≤ 50
	Address       *Address `json:"address,omitempty"`
}

// ContactMethod is one way to reach the customer. The contract gives no
// format for the value beyond its length (email ≤ 50, the numbers ≤ 15);
// cardvault checks no more than that.
type ContactMethod struct {
	Type  ContactType `json:"type"`
	Value string      `json:"value"`
}

// CustomField is a merchant-defined name and value.
type CustomField struct {
	Name  string `json:"name"`  // 1–56
	Value string `json:"value"` // 1–100
}

// IPAddress is the address of the device that sent a create request. It is
// write-only in the contract: kept in the [Record], never in the resource.
type IPAddress struct {
	Type  IPVersion `json:"type"`
	Value string    `json:"value"`
}

// Source is saved payment details: exactly one of Card, ACH and PAD, the
// one Type names.
//
// In a [Record] the numbers are whole; in a [Resource] they are masked.
// Either way the number fields are [CardNumber] and [AccountNumber], whose
// renderings mask, so JSON-encoding a Source always yields the public form.
type Source struct {
	Type SourceType
	Card *CardSource
	ACH  *ACHSource
	PAD  *PADSource
}

// CardSource is a saved card.
type CardSource struct {
	CardholderName string     `json:"cardholderName"`       // 1–50
	CardNumber     CardNumber `json:"cardNumber"`           // 12–19 digits, Luhn-valid; masked in the resource
	ExpiryDate     string     `json:"expiryDate,omitempty"` // MMYY
	// CardType is the card's brand ("Visa", "Mastercard", ...), derived from
	// the number's issuer identification range when the card is saved.
	CardType    string       `json:"cardType,omitempty"`
	Currency    string       `json:"currency,omitempty"` // ISO 4217; never set by cardvault itself
	Debit       *bool        `json:"debit,omitempty"`    // never set by cardvault itself
	Surcharging *Surcharging `json:"surcharging,omitempty"`
	// IssueNumber (some UK debit cards) is kept in the record for later
	// transactions; the resource never shows it.
	IssueNumber string `json:"-"`
}

// Surcharging is the surcharge information a gateway attaches to a card.
// cardvault never computes it; it is modelled so that a resource carrying it
// validates, and it is immutable.
type Surcharging struct {
	Allowed    bool     `json:"allowed"`
	Amount     *int64   `json:"amount,omitempty"`     // > 0
	Percentage *float64 `json:"percentage,omitempty"` // (0, 100]
	Disclosure string   `json:"disclosure,omitempty"`
}

// ACHSource is a saved US bank account.
type ACHSource struct {
	NameOnAccount string        `json:"nameOnAccount"`         // 1–50
	AccountNumber AccountNumber `json:"accountNumber"`         // 4–17 digits; masked in the resource
	RoutingNumber string        `json:"routingNumber"`         // 9 digits, ABA check digit
	AccountType   AccountType   `json:"accountType,omitempty"` // see the note on Resource
	// SECCode is kept in the record for later ACH debits; the resource
	// never shows it.
	SECCode SECCode `json:"-"`
}

// PADSource is a saved Canadian bank account (pre-authorized debit).
type PADSource struct {
	NameOnAccount     string        `json:"nameOnAccount"`     // 1–29
	AccountNumber     AccountNumber `json:"accountNumber"`     // 7–12 digits; masked in the resource
	TransitNumber     string        `json:"transitNumber"`     // 5 digits
	InstitutionNumber string        `json:"institutionNumber"` // 3 digits
	AccountType       AccountType   `json:"accountType,omitempty"`
}

// MarshalJSON writes the public form of the source: {"type": ..., the
// variant's members}, numbers masked, stored-only members left out.
func (s Source) MarshalJSON() ([]byte, error) {
	var v any
	switch s.Type {
	case SourceCard:
		if s.Card == nil {
			return nil, fmt.Errorf("securetoken: card source without card details")
		}
		v = struct {
			Type SourceType `json:"type"`
			*CardSource
		}{s.Type, s.Card}
	case SourceACH:
		if s.ACH == nil {
			return nil, fmt.Errorf("securetoken: ach source without account details")
		}
		v = struct {
			Type SourceType `json:"type"`
			*ACHSource
		}{s.Type, s.ACH}
	case SourcePAD:
		if s.PAD == nil {
			return nil, fmt.Errorf("securetoken: pad source without account details")
		}
		v = struct {
			Type SourceType `json:"type"`
			*PADSource
		}{s.Type, s.PAD}
	default:
		return nil, fmt.Errorf("securetoken: source of unknown type")
	}
	return json.Marshal(v)
}

// Masked returns a copy of the source as the resource shows it: numbers
// masked, stored-only members (issue number, SEC code) dropped.
func (s Source) Masked() Source {
	out := s.clone()
	if c := out.Card; c != nil {
		c.CardNumber = CardNumber(c.CardNumber.Masked())
		c.IssueNumber = ""
	}
	if a := out.ACH; a != nil {
		a.AccountNumber = AccountNumber(a.AccountNumber.Masked())
		a.SECCode = ""
	}
	if p := out.PAD; p != nil {
		p.AccountNumber = AccountNumber(p.AccountNumber.Masked())
	}
	return out
}

// Resource is the public representation of a secure token: what every
// response carries and what a JSON Patch is applied to. It never holds a
// whole card or account number, a CVV, an issue number, an SEC code, the
// operator or the IP address.
//
// The members are in the order of the contract's response schema (the YAML
// wins over the order in docs/reference/payroc-api.md). The contract's create, update and
// update-account responses list no accountType for ACH and PAD sources while
// its list and retrieve responses do; cardvault always includes it (the
// schemas allow additional members), so one document serves every route.
type Resource struct {
	SecureTokenID        string        `json:"secureTokenId"`
	ProcessingTerminalID string        `json:"processingTerminalId"`
	MITAgreement         MITAgreement  `json:"mitAgreement,omitempty"`
	Customer             *Customer     `json:"customer,omitempty"`
	Source               Source        `json:"source"`
	Token                string        `json:"token"`
	Status               Status        `json:"status"`
	CustomFields         []CustomField `json:"customFields,omitempty"`
}

// ListResponse is the reply to a list request.
type ListResponse struct {
	Limit   int        `json:"limit"`
	Count   int        `json:"count"`
	HasMore bool       `json:"hasMore"`
	Links   []Link     `json:"links"`
	Data    []Resource `json:"data"`
}

// Link is a HATEOAS link of a list response.
type Link struct {
	Rel    string `json:"rel"`    // "next" or "previous"
	Method string `json:"method"` // "get"
	Href   string `json:"href"`
}

// SingleUseTokenResponse is the reply to a create-single-use-token request.
//
// The contract also lists a "paymentMethod" member, but marks it writeOnly
// (it is the card payload of the request, CVV included), so it is never
// returned.
type SingleUseTokenResponse struct {
	ProcessingTerminalID string    `json:"processingTerminalId"`
	Token                string    `json:"token"` // 128 characters
	ExpiresAt            time.Time `json:"expiresAt"`
	Source               Source    `json:"source"` // masked
}

// NewSingleUseTokenResponse builds the reply for a single-use token that
// holds src, masking it.
func NewSingleUseTokenResponse(processingTerminalID, token string, expiresAt time.Time, src Source) SingleUseTokenResponse {
	return SingleUseTokenResponse{
		ProcessingTerminalID: processingTerminalID,
		Token:                token,
		ExpiresAt:            expiresAt.UTC(),
		Source:               src.Masked(),
	}
}

func (a *IPAddress) clone() *IPAddress {
	if a == nil {
		return nil
	}
	c := *a
	return &c
}

func cloneBool(b *bool) *bool {
	if b == nil {
		return nil
	}
	v := *b
	return &v
}

func (s *Surcharging) clone() *Surcharging {
	if s == nil {
		return nil
	}
	c := *s
	if s.Amount != nil {
		a := *s.Amount
		c.Amount = &a
	}
	if s.Percentage != nil {
		p := *s.Percentage
		c.Percentage = &p
	}
	return &c
}

func (c *Customer) clone() *Customer {
	if c == nil {
		return nil
	}
	out := *c
	if c.BillingAddress != nil {
		a := *c.BillingAddress
		out.BillingAddress = &a
	}
	if c.ShippingAddress != nil {
		s := *c.ShippingAddress
		if s.Address != nil {
			a := *s.Address
			s.Address = &a
		}
		out.ShippingAddress = &s
	}
	out.ContactMethods = append([]ContactMethod(nil), c.ContactMethods...)
	return &out
}
