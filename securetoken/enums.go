package securetoken

import "strings"

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
