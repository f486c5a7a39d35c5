package securetoken

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/mask"
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

// clonePtr returns a copy of *p in a new variable, or nil for nil: the copy
// of an optional member, so that a clone shares no memory with what it was
// made from.
func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}

func (s *Surcharging) clone() *Surcharging {
	c := clonePtr(s)
	if c != nil {
		c.Amount, c.Percentage = clonePtr(s.Amount), clonePtr(s.Percentage)
	}
	return c
}

func (c *Customer) clone() *Customer {
	if c == nil {
		return nil
	}
	out := *c
	out.BillingAddress = clonePtr(c.BillingAddress)
	if out.ShippingAddress = clonePtr(c.ShippingAddress); out.ShippingAddress != nil {
		out.ShippingAddress.Address = clonePtr(c.ShippingAddress.Address)
	}
	out.ContactMethods = append([]ContactMethod(nil), c.ContactMethods...)
	return &out
}

// The enumerations of the contract. Each is a string type with one constant
// per allowed value, copied from the publisher's OpenAPI document; the
// validators refuse any other value.

// SourceType is the discriminator of a payment source ("type").
type SourceType string

const (
	SourceCard           SourceType = "card"
	SourceACH            SourceType = "ach"
	SourcePAD            SourceType = "pad"
	SourceSingleUseToken SourceType = "singleUseToken" // requests only
)

// Status is the outcome of the processor's check of the payment details.
type Status string

const (
	StatusNotValidated         Status = "notValidated"
	StatusCVVValidated         Status = "cvvValidated"
	StatusValidationFailed     Status = "validationFailed"
	StatusIssueNumberValidated Status = "issueNumberValidated"
	StatusCardNumberValidated  Status = "cardNumberValidated"
	StatusBankAccountValidated Status = "bankAccountValidated"
)

// MITAgreement says how the merchant may use the saved details
// (merchant-initiated transactions).
type MITAgreement string

const (
	MITUnscheduled MITAgreement = "unscheduled"
	MITRecurring   MITAgreement = "recurring"
	MITInstallment MITAgreement = "installment"
)

// ContactType is the discriminator of a contact method.
type ContactType string

const (
	ContactEmail  ContactType = "email"
	ContactPhone  ContactType = "phone"
	ContactMobile ContactType = "mobile"
	ContactFax    ContactType = "fax"
)

// Language is a customer's notification language (ISO 639-1).
type Language string

const (
	LanguageEnglish Language = "en"
	LanguageFrench  Language = "fr"
)

// IPVersion is the "type" of an IP address.
type IPVersion string

const (
	IPv4 IPVersion = "ipv4"
	IPv6 IPVersion = "ipv6"
)

// AccountType is a bank account's type.
type AccountType string

const (
	AccountChecking AccountType = "checking"
	AccountSavings  AccountType = "savings"
)

// SECCode says how the customer authorized an ACH debit.
type SECCode string

const (
	SECWeb SECCode = "web"
	SECTel SECCode = "tel"
	SECCCD SECCode = "ccd"
	SECPPD SECCode = "ppd"
)

// Channel is how a merchant received the details of a single-use token.
type Channel string

const (
	ChannelPOS  Channel = "pos"
	ChannelWeb  Channel = "web"
	ChannelMOTO Channel = "moto"
)

// EntryMethod is the discriminator of card details ("entryMethod").
type EntryMethod string

const (
	EntryRaw    EntryMethod = "raw"
	EntryICC    EntryMethod = "icc"
	EntryKeyed  EntryMethod = "keyed"
	EntrySwiped EntryMethod = "swiped"
)

// DataFormat is the discriminator of keyed data, swiped data and PIN
// details ("dataFormat").
type DataFormat string

const (
	FormatPlainText          DataFormat = "plainText"
	FormatFullyEncrypted     DataFormat = "fullyEncrypted"     // keyed
	FormatPartiallyEncrypted DataFormat = "partiallyEncrypted" // keyed
	FormatEncrypted          DataFormat = "encrypted"          // swiped
	FormatDUKPT              DataFormat = "dukpt"              // PIN
	FormatRaw                DataFormat = "raw"                // PIN, single-use token only
)

var (
	sourceTypes       = enum[SourceType]{SourceACH, SourcePAD, SourceCard, SourceSingleUseToken}
	resourceSources   = enum[SourceType]{SourceACH, SourcePAD, SourceCard}
	statuses          = enum[Status]{StatusNotValidated, StatusCVVValidated, StatusValidationFailed, StatusIssueNumberValidated, StatusCardNumberValidated, StatusBankAccountValidated}
	mitAgreements     = enum[MITAgreement]{MITUnscheduled, MITRecurring, MITInstallment}
	contactTypes      = enum[ContactType]{ContactEmail, ContactPhone, ContactMobile, ContactFax}
	languages         = enum[Language]{LanguageEnglish, LanguageFrench}
	ipVersions        = enum[IPVersion]{IPv4, IPv6}
	accountTypes      = enum[AccountType]{AccountChecking, AccountSavings}
	secCodes          = enum[SECCode]{SECWeb, SECTel, SECCCD, SECPPD}
	channels          = enum[Channel]{ChannelPOS, ChannelWeb, ChannelMOTO}
	entryMethods      = enum[EntryMethod]{EntryRaw, EntryICC, EntryKeyed, EntrySwiped}
	keyedFormats      = enum[DataFormat]{FormatFullyEncrypted, FormatPartiallyEncrypted, FormatPlainText}
	swipedFormats     = enum[DataFormat]{FormatEncrypted, FormatPlainText}
	pinFormats        = enum[DataFormat]{FormatDUKPT}
	singleUsePINForms = enum[DataFormat]{FormatDUKPT, FormatRaw}
	downgrades        = enum[EntryMethod]{EntryKeyed, EntrySwiped}
	deviceCategories  = enum[string]{"attended", "unattended"}
	benefitCategories = enum[string]{"cash", "foodStamp"}
	fallbackReasons   = enum[string]{"technical", "repeatFallback", "emptyCandidateList"}
	eciValues         = enum[string]{"fullyAuthenticated", "authAttempted"}
	serviceProviders  = enum[string]{"gateway", "thirdParty"}

	// deviceModels is the "model" enum of a POS device.
	deviceModels = enum[string]{
		"bbposChp", "bbposChp2x", "bbposChp3x", "bbposRambler", "bbposWp", "bbposWp2", "bbposWp3",
		"genericCtlsMsr", "genericMsr",
		"idtechAugusta", "idtechMinismart", "idtechSredkey", "idtechVp3300", "idtechVp5300", "idtechVp6300", "idtechVp6800",
		"ingenicoAxiumDx4000", "ingenicoAxiumDx8000", "ingenicoAxiumEx8000", "ingenicoIct220", "ingenicoIpp320",
		"ingenicoIpp350", "ingenicoIuc285", "ingenicoL3000", "ingenicoL7000", "ingenicoS2000", "ingenicoS3000",
		"ingenicoS4000", "ingenicoS5000", "ingenicoS7000",
		"paxA80", "paxA920", "paxA920Pro", "paxA920Max", "paxE500", "paxE700", "paxE800", "paxIm30",
		"uic680", "uicBezel8",
	}

	// currencies is the "currency" enum of a card source (ISO 4217 as the
	// contract lists it, withdrawn codes such as LTL and VEF included).
	currencies = enum[string](strings.Fields(`AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF
		BMD BND BOB BOV BRL BSD BTN BWP BYR BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUC CUP CVE CZK
		DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS
		INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LTL LVL LYD MAD
		MDL MGA MKD MMK MNT MOP MRO MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK
		PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLL SOS SRD SSP STD STN SVC SYP SZL
		THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN USS UYI UYU UZS VEF VES VND VUV WST XAF XCD XOF
		XPF YER ZAR ZMW ZWL`))
)

// enum is the allowed values of a field, in the contract's order.
type enum[T ~string] []T

func (e enum[T]) has(v T) bool {
	for _, x := range e {
		if x == v {
			return true
		}
	}
	return false
}

// message says what the field must be, for a FieldError: the allowed values
// when there are few, their number when there are many (currencies).
func (e enum[T]) message() string {
	if len(e) > 12 {
		return "must be one of the contract's values (see the API reference)"
	}
	var b strings.Builder
	b.WriteString("must be one of: ")
	for i, v := range e {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(v))
	}
	return b.String()
}

// CardNumber is a primary account number. Every default rendering of it —
// fmt verbs, JSON, text — is the mask first six + '*' + last four
// ("453985******7062"); only an explicit string(n) conversion reveals it.
// So a CardNumber that ends up in a log line or a response by mistake shows
// what the public resource shows anyway.
type CardNumber string

// Masked returns the card number as the resource shows it: the first six
// and the last four digits with one '*' for each digit between. Masking a
// masked number returns it unchanged. A number too short to keep ten
// digits (fewer than 12 characters: never a valid one) is all stars.
func (n CardNumber) Masked() string { return mask.Card(string(n)) }

// First6 returns the first six digits (the issuer identification number),
// or "" for a number shorter than 12.
func (n CardNumber) First6() string { return mask.CardFirst6(string(n)) }

// Last4 returns the last four digits, or "" for a number shorter than 12.
func (n CardNumber) Last4() string { return mask.CardLast4(string(n)) }

// String returns the masked number.
func (n CardNumber) String() string { return n.Masked() }

// Format writes the masked number for every verb, so that %v, %s, %q, %x
// and %#v all mask.
func (n CardNumber) Format(f fmt.State, verb rune) { formatMasked(f, verb, n.Masked()) }

// MarshalText returns the masked number: JSON and every text encoding mask.
func (n CardNumber) MarshalText() ([]byte, error) { return []byte(n.Masked()), nil }

// AccountNumber is a bank account number. Like [CardNumber], every default
// rendering masks it, as "*****" + the last four digits ("*****5929"); see
// [AccountNumber.Masked].
type AccountNumber string

// Masked returns "*****" followed by the last four digits ("*****5929").
// A number shorter than eight digits shows fewer, so that at least half of
// it stays hidden (ACH allows four-digit account numbers, which "last four"
// would show whole). A value that already starts with "*****" is returned
// unchanged, so masking is idempotent.
func (n AccountNumber) Masked() string { return mask.Account(string(n)) }

// Last4 returns the last four digits (for the list filter last4): the ones
// Masked shows, so "" for a number shorter than eight — a short account is
// not indexed by digits it never shows.
func (n AccountNumber) Last4() string { return mask.AccountLast4(string(n)) }

// String returns the masked number.
func (n AccountNumber) String() string { return n.Masked() }

// Format writes the masked number for every verb.
func (n AccountNumber) Format(f fmt.State, verb rune) { formatMasked(f, verb, n.Masked()) }

// MarshalText returns the masked number.
func (n AccountNumber) MarshalText() ([]byte, error) { return []byte(n.Masked()), nil }

// Sensitive is a value that must never be shown at all: a card verification
// code, a PIN, magnetic-stripe track data, raw terminal data. Every default
// rendering of it is "[redacted]" (or "" when it is empty).
type Sensitive string

const redacted = "[redacted]"

func (s Sensitive) shown() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String returns "[redacted]".
func (s Sensitive) String() string { return s.shown() }

// Format writes "[redacted]" for every verb.
func (s Sensitive) Format(f fmt.State, verb rune) { formatMasked(f, verb, s.shown()) }

// MarshalText returns "[redacted]".
func (s Sensitive) MarshalText() ([]byte, error) { return []byte(s.shown()), nil }

func formatMasked(f fmt.State, verb rune, shown string) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", shown)
	case 'v':
		if f.Flag('#') {
			fmt.Fprintf(f, "%q", shown)
			return
		}
		fmt.Fprint(f, shown)
	default:
		fmt.Fprint(f, shown)
	}
}

// CreateRequest is the body of a create-secure-token request
// (operationId createSecureToken). Only Source is required.
type CreateRequest struct {
	// SecureTokenID is the merchant's identifier for the token (1–200
	// characters); the service generates one when it is empty.
	SecureTokenID string
	Operator      string // 1–50
	MITAgreement  MITAgreement
	Customer      *Customer
	IPAddress     *IPAddress // stored, never returned (writeOnly)
	Source        PaymentSource
	// ThreeDSecure is validated and then dropped: authentication results
	// belong to a transaction, not to saved details.
	ThreeDSecure *ThreeDSecure
	CustomFields []CustomField
}

// PaymentSource is the "source" of a request: exactly one of Card, ACH, PAD
// and SingleUseToken, the one Type names. A create-single-use-token request
// allows every type but singleUseToken.
type PaymentSource struct {
	Type           SourceType
	Card           *CardPayload
	ACH            *ACHPayload
	PAD            *PADPayload
	SingleUseToken *SingleUseTokenPayload
}

// ACHPayload is a US bank account to save.
type ACHPayload struct {
	AccountType   AccountType
	SECCode       SECCode
	NameOnAccount string        // 1–50
	AccountNumber AccountNumber // 4–17 digits
	RoutingNumber string        // 9 digits with a valid ABA check digit
}

// PADPayload is a Canadian bank account to save.
type PADPayload struct {
	AccountType       AccountType
	NameOnAccount     string        // 1–29
	AccountNumber     AccountNumber // 7–12 digits
	TransitNumber     string        // 5 digits
	InstitutionNumber string        // 3 digits
}

// SingleUseTokenPayload names payment details captured earlier (by a hosted
// form, or by a create-single-use-token request) under a single-use token.
type SingleUseTokenPayload struct {
	Token string // exactly 128 characters
	// AccountType and SECCode complete bank account details the single-use
	// token holds.
	AccountType AccountType
	SECCode     SECCode
	PINDetails  *PINDetails // validated, never stored
	EBTDetails  *EBTDetails // validated, never stored
}

// CardPayload is a card to save. Its details come in one of the contract's
// card-details variants; cardvault can read the card number of two of them
// (keyed plainText and swiped plainText) and refuses the others, whose data
// only the terminal's key-management system can decrypt.
type CardPayload struct {
	AccountType AccountType // allowed by the contract; meaningless for a card and ignored
	CardDetails CardDetails
}

// CardDetails is exactly one of Raw, ICC, Keyed and Swiped, the one
// EntryMethod names.
type CardDetails struct {
	EntryMethod EntryMethod
	Raw         *RawCardDetails
	ICC         *ICCCardDetails
	Keyed       *KeyedCardDetails
	Swiped      *SwipedCardDetails
}

// RawCardDetails is unencrypted data straight from a POS terminal
// (entryMethod raw). Its format is the terminal's own; cardvault refuses it.
type RawCardDetails struct {
	DowngradeTo         EntryMethod
	Device              Device // model and serialNumber required
	RawData             Sensitive
	CardholderSignature Sensitive
}

// ICCCardDetails is chip data (entryMethod icc), encrypted under the
// device's DUKPT key; cardvault refuses it.
type ICCCardDetails struct {
	DowngradeTo         EntryMethod
	Device              Device // dataKsn required as well
	ICCData             Sensitive
	FirstDigitOfPAN     string
	CardholderSignature Sensitive
	EBTDetails          *EBTDetails
}

// KeyedCardDetails is a card entered by hand (entryMethod keyed).
type KeyedCardDetails struct {
	KeyedData           KeyedData
	CardholderName      string // 1–50
	CardholderSignature Sensitive
	PINDetails          *PINDetails
	EBTDetails          *EBTDetails
}

// KeyedData is exactly one of PlainText, FullyEncrypted and
// PartiallyEncrypted, the one DataFormat names.
type KeyedData struct {
	DataFormat         DataFormat
	PlainText          *PlainTextKeyedData
	FullyEncrypted     *FullyEncryptedKeyedData
	PartiallyEncrypted *PartiallyEncryptedKeyedData
}

// PlainTextKeyedData is a card number typed in clear: the variant cardvault
// saves.
type PlainTextKeyedData struct {
	Device      *Device    // optional; model and serialNumber required when present
	CardNumber  CardNumber // 12–19 digits, Luhn-valid
	ExpiryDate  string     // MMYY
	CVV         Sensitive  // 3–4 digits; checked, never stored
	IssueNumber string     // 1–2 digits
}

// FullyEncryptedKeyedData is keyed data encrypted by the device; refused.
type FullyEncryptedKeyedData struct {
	Device          Device // dataKsn required
	EncryptedData   string
	FirstDigitOfPAN string
}

// PartiallyEncryptedKeyedData is keyed data whose number the device
// encrypted; refused.
type PartiallyEncryptedKeyedData struct {
	Device       Device // dataKsn required
	EncryptedPAN string
	MaskedPAN    string // 12–19
	ExpiryDate   string
	CVV          Sensitive
	CVVEncrypted string
	IssueNumber  string
}

// SwipedCardDetails is a card read from its magnetic stripe (entryMethod
// swiped).
type SwipedCardDetails struct {
	DowngradeTo         EntryMethod
	SwipedData          SwipedData
	CardholderName      string // 0–50
	CardholderSignature Sensitive
	PINDetails          *PINDetails
	EBTDetails          *EBTDetails
}

// SwipedData is exactly one of PlainText and Encrypted, the one DataFormat
// names.
type SwipedData struct {
	DataFormat DataFormat
	PlainText  *PlainTextSwipedData
	Encrypted  *EncryptedSwipedData
}

// PlainTextSwipedData is track data in clear. cardvault reads the card
// number, expiry date and (track 1) name from it and keeps nothing else:
// PCI DSS forbids storing full track data.
type PlainTextSwipedData struct {
	Device         Device    // model and serialNumber required
	TrackData      Sensitive // 16–256 characters: ISO/IEC 7813 track 1 and/or track 2
	Fallback       *bool
	FallbackReason string
}

// EncryptedSwipedData is track data encrypted by the device; refused.
type EncryptedSwipedData struct {
	Device          Device // dataKsn required
	EncryptedData   string
	FirstDigitOfPAN string
	Fallback        *bool
	FallbackReason  string
}

// Device is the POS device that captured card details.
type Device struct {
	Model           string // one of the contract's device models
	Category        string // attended (default) or unattended
	SerialNumber    string // 1–64
	FirmwareVersion string
	Config          *DeviceConfig
	DataKSN         string // 20 hex digits; required where the data is encrypted
}

// DeviceConfig is a POS device's configuration.
type DeviceConfig struct {
	QuickChip bool
}

// PINDetails is a customer's PIN, DUKPT-encrypted (or, in a single-use
// token source only, raw). Validated, never stored.
type PINDetails struct {
	DataFormat DataFormat
	PIN        Sensitive
	PINKSN     string // 20 hex digits, dukpt only
}

// EBTDetails is an Electronic Benefit Transfer's details. Validated, never
// stored.
type EBTDetails struct {
	BenefitCategory string // cash or foodStamp
	Withdrawal      *bool
	Voucher         *EBTVoucher
}

// EBTVoucher is an EBT voucher.
type EBTVoucher struct {
	ApprovalCode string // 6
	SerialNumber string // 7–15
}

// ThreeDSecure is a 3-D Secure result, from the gateway (ServiceProvider
// "gateway", MPIReference required) or a third party ("thirdParty", ECI
// required).
type ThreeDSecure struct {
	ServiceProvider string
	MPIReference    string // 20
	ECI             string
	XID             string // ≤ 50
	CAVV            Sensitive
	DSTransactionID string // ≤ 36
}

// SingleUseTokenRequest is the body of a create-single-use-token request
// (operationId createSingleUseToken).
type SingleUseTokenRequest struct {
	Channel  Channel // required
	Operator string  // 1–50
	Source   PaymentSource
}

// AccountUpdateRequest is the body of an update-account request
// (operationId accountUpdate): {"type":"singleUseToken","token":"<128>"}.
type AccountUpdateRequest struct {
	Type  SourceType // always SourceSingleUseToken
	Token string     // exactly 128 characters
}

// UnmarshalJSON reads the public document MarshalJSON writes, strictly, as
// ParseResource does: so that a Resource kept as JSON — the outcome of an
// idempotent write (package idempotency) — reads back as it was.
func (r *Resource) UnmarshalJSON(b []byte) error {
	res, err := ParseResource(b)
	if err != nil {
		return err
	}
	*r = res
	return nil
}

// UnmarshalJSON reads the public form of a source that MarshalJSON writes
// (numbers masked), for the same reason as Resource's.
func (s *Source) UnmarshalJSON(b []byte) error {
	d, root, err := open(b, true)
	if err != nil {
		return err
	}
	if root == nil {
		return fmt.Errorf("securetoken: a source must be a JSON object: %w", cardvault.ErrInvalid)
	}
	src := d.source(root)
	if err := d.errs.Err(); err != nil {
		return err
	}
	*s = src
	return nil
}
