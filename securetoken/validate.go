package securetoken

import (
	"fmt"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/luhn"
	"github.com/cardvault/cardvault/patch"
)

// Validate checks r against the contract's request schema and cardvault's
// own rules, and returns nil or a *cardvault.InvalidError naming every bad
// field by JSON Pointer. [ParseCreateRequest] calls it; call it yourself on
// a request built in Go.
func (r CreateRequest) Validate() error {
	var c checker
	c.text(at("", "secureTokenId"), r.SecureTokenID, 1, 200, false)
	c.text(at("", "operator"), r.Operator, 1, 50, false)
	checkEnum(&c, at("", "mitAgreement"), r.MITAgreement, mitAgreements, false)
	if r.Customer != nil {
		c.customer("/customer", r.Customer, true)
	}
	if r.IPAddress != nil {
		c.ip("/ipAddress", r.IPAddress)
	}
	c.paymentSource("/source", r.Source, sourceTypes)
	if r.ThreeDSecure != nil {
		c.threeDSecure("/threeDSecure", r.ThreeDSecure)
	}
	c.customFields("/customFields", r.CustomFields)
	return c.err()
}

// Validate checks r against the contract's request schema for a
// single-use token (every source type but singleUseToken).
func (r SingleUseTokenRequest) Validate() error {
	var c checker
	checkEnum(&c, at("", "channel"), r.Channel, channels, true)
	c.text(at("", "operator"), r.Operator, 1, 50, false)
	c.paymentSource("/source", r.Source, resourceSources)
	return c.err()
}

// Validate checks r: type singleUseToken and a 128-character token.
func (r AccountUpdateRequest) Validate() error {
	var c checker
	checkEnum(&c, at("", "type"), r.Type, enum[SourceType]{SourceSingleUseToken}, true)
	c.text(at("", "token"), r.Token, 128, 128, true)
	return c.err()
}

// customer checks a customer; request says which schema: the request's
// (address lines required) or the resource's (nothing required).
func (c *checker) customer(path string, cu *Customer, request bool) {
	c.text(at(path, "firstName"), cu.FirstName, 0, 60, false)
	c.text(at(path, "lastName"), cu.LastName, 0, 60, false)
	c.date(at(path, "dateOfBirth"), cu.DateOfBirth)
	c.text(at(path, "referenceNumber"), cu.ReferenceNumber, 0, 48, false)
	if cu.BillingAddress != nil {
		c.address(path+"/billingAddress", cu.BillingAddress, request)
	}
	if s := cu.ShippingAddress; s != nil {
		c.text(at(path+"/shippingAddress", "recipientName"), s.RecipientName, 0, 50, false)
		if s.Address != nil {
			c.address(path+"/shippingAddress/address", s.Address, request)
		}
	}
	// uniqueItems: the first index of each contact method.
	first := make(map[ContactMethod]int, len(cu.ContactMethods))
	for i, m := range cu.ContactMethods {
		p := path + "/contactMethods/" + strconv.Itoa(i)
		if checkEnum(c, at(p, "type"), m.Type, contactTypes, true) {
			max := 15
			if m.Type == ContactEmail {
				max = 50
			}
			// The contract has no minLength for the value, but requires it;
			// an empty value reaches nobody and counts as missing.
			c.text(at(p, "value"), m.Value, 0, max, true)
		} else if m.Value == "" {
			c.required(at(p, "value"))
		}
		if j, dup := first[m]; dup {
			c.fault(whole(p), "duplicate", fmt.Sprintf("must be unique; equals item %d", j))
		} else {
			first[m] = i
		}
	}
	checkEnum(c, at(path, "notificationLanguage"), cu.NotificationLanguage, languages, false)
}

func (c *checker) address(path string, a *Address, request bool) {
	c.text(at(path, "address1"), a.Address1, 0, 150, request)
	c.text(at(path, "address2"), a.Address2, 0, 150, false)
	c.text(at(path, "address3"), a.Address3, 0, 150, false)
	c.text(at(path, "city"), a.City, 0, 50, request)
	c.text(at(path, "state"), a.State, 0, 50, request)
	c.text(at(path, "country"), a.Country, 2, 2, request)
	c.text(at(path, "postalCode"), a.PostalCode, 0, 10, request)
}

func (c *checker) customFields(path string, fs []CustomField) {
	for i, f := range fs {
		p := path + "/" + strconv.Itoa(i)
		c.text(at(p, "name"), f.Name, 1, 56, true)
		c.text(at(p, "value"), f.Value, 1, 100, true)
	}
}

// paymentSource checks a request's source; allowed lists the types the
// operation takes.
func (c *checker) paymentSource(path string, s PaymentSource, allowed enum[SourceType]) {
	if !checkEnum(c, at(path, "type"), s.Type, allowed, true) {
		return
	}
	switch s.Type {
	case SourceACH, SourcePAD:
		// The same constraints as the saved account's: one place for them.
		src, ok := s.StoredSource()
		if !ok {
			c.required(at(path, "accountNumber"))
			return
		}
		c.source(path, src, true)
		if s.ACH != nil {
			checkEnum(c, at(path, "secCode"), s.ACH.SECCode, secCodes, false)
		}
	case SourceCard:
		if s.Card == nil {
			c.required(at(path, "cardDetails"))
			return
		}
		checkEnum(c, at(path, "accountType"), s.Card.AccountType, accountTypes, false)
		c.cardDetails(path+"/cardDetails", s.Card.CardDetails)
	case SourceSingleUseToken:
		if s.SingleUseToken == nil {
			c.required(at(path, "token"))
			return
		}
		t := s.SingleUseToken
		c.text(at(path, "token"), t.Token, 128, 128, true)
		checkEnum(c, at(path, "accountType"), t.AccountType, accountTypes, false)
		checkEnum(c, at(path, "secCode"), t.SECCode, secCodes, false)
		if t.PINDetails != nil {
			c.pinDetails(path+"/pinDetails", t.PINDetails, singleUsePINForms)
		}
		if t.EBTDetails != nil {
			c.ebtDetails(path+"/ebtDetails", t.EBTDetails)
		}
	}
}

// unsupported is the fault of a card-details variant cardvault cannot read.
func (c *checker) unsupported(path field, what string) {
	c.fault(path, "not supported",
		what+" cannot be saved: this vault holds no terminal keys and reads only keyed plainText and swiped plainText card details")
}

func (c *checker) cardDetails(path string, d CardDetails) {
	if !checkEnum(c, at(path, "entryMethod"), d.EntryMethod, entryMethods, true) {
		return
	}
	switch d.EntryMethod {
	case EntryRaw:
		if d.Raw == nil {
			c.required(at(path, "rawData"))
			return
		}
		r := d.Raw
		checkEnum(c, at(path, "downgradeTo"), r.DowngradeTo, downgrades, false)
		c.device(path+"/device", &r.Device, false)
		c.hex(at(path, "rawData"), string(r.RawData), 1, 0, true)
		c.unsupported(at(path, "entryMethod"), "raw terminal data")
	case EntryICC:
		if d.ICC == nil {
			c.required(at(path, "iccData"))
			return
		}
		i := d.ICC
		checkEnum(c, at(path, "downgradeTo"), i.DowngradeTo, downgrades, false)
		c.device(path+"/device", &i.Device, true)
		c.hex(at(path, "iccData"), string(i.ICCData), 1, 0, true)
		c.text(at(path, "firstDigitOfPan"), i.FirstDigitOfPAN, 1, 1, false)
		if i.EBTDetails != nil {
			c.ebtDetails(path+"/ebtDetails", i.EBTDetails)
		}
		c.unsupported(at(path, "entryMethod"), "encrypted chip data")
	case EntryKeyed:
		if d.Keyed == nil {
			c.required(at(path, "keyedData"))
			return
		}
		k := d.Keyed
		c.keyedData(path+"/keyedData", k.KeyedData)
		// The request schema leaves cardholderName optional, but the
		// resource requires it: a card saved without one could not be
		// returned as the contract says.
		c.text(at(path, "cardholderName"), k.CardholderName, 1, 50, true)
		if k.PINDetails != nil {
			c.pinDetails(path+"/pinDetails", k.PINDetails, pinFormats)
		}
		if k.EBTDetails != nil {
			c.ebtDetails(path+"/ebtDetails", k.EBTDetails)
		}
	case EntrySwiped:
		if d.Swiped == nil {
			c.required(at(path, "swipedData"))
			return
		}
		s := d.Swiped
		checkEnum(c, at(path, "downgradeTo"), s.DowngradeTo, downgrades, false)
		c.text(at(path, "cardholderName"), s.CardholderName, 0, 50, false)
		track := c.swipedData(path+"/swipedData", s.SwipedData)
		if track != nil && s.CardholderName == "" && track.name == "" {
			c.fault(at(path, "cardholderName"), "required",
				"is required when the track data holds no name: the saved card needs the cardholder's name")
		}
		if s.PINDetails != nil {
			c.pinDetails(path+"/pinDetails", s.PINDetails, pinFormats)
		}
		if s.EBTDetails != nil {
			c.ebtDetails(path+"/ebtDetails", s.EBTDetails)
		}
	}
}

func (c *checker) keyedData(path string, k KeyedData) {
	if !checkEnum(c, at(path, "dataFormat"), k.DataFormat, keyedFormats, true) {
		return
	}
	switch k.DataFormat {
	case FormatPlainText:
		if k.PlainText == nil {
			c.required(at(path, "cardNumber"))
			return
		}
		p := k.PlainText
		if p.Device != nil {
			c.device(path+"/device", p.Device, false)
		}
		c.cardNumber(at(path, "cardNumber"), p.CardNumber)
		c.expiry(at(path, "expiryDate"), p.ExpiryDate, false)
		c.digitPattern(at(path, "cvv"), string(p.CVV), 3, 4)
		c.digitPattern(at(path, "issueNumber"), p.IssueNumber, 1, 2)
	case FormatFullyEncrypted:
		if k.FullyEncrypted == nil {
			c.required(at(path, "encryptedData"))
			return
		}
		f := k.FullyEncrypted
		c.device(path+"/device", &f.Device, true)
		c.hex(at(path, "encryptedData"), f.EncryptedData, 1, 0, true)
		c.text(at(path, "firstDigitOfPan"), f.FirstDigitOfPAN, 1, 1, false)
		c.unsupported(at(path, "dataFormat"), "device-encrypted keyed data")
	case FormatPartiallyEncrypted:
		if k.PartiallyEncrypted == nil {
			c.required(at(path, "encryptedPan"))
			return
		}
		p := k.PartiallyEncrypted
		c.device(path+"/device", &p.Device, true)
		c.hex(at(path, "encryptedPan"), p.EncryptedPAN, 1, 0, true)
		c.text(at(path, "maskedPan"), p.MaskedPAN, 12, 19, true)
		c.expiry(at(path, "expiryDate"), p.ExpiryDate, true)
		c.digitPattern(at(path, "cvv"), string(p.CVV), 3, 4)
		c.hex(at(path, "cvvEncrypted"), p.CVVEncrypted, 0, 0, false)
		c.digitPattern(at(path, "issueNumber"), p.IssueNumber, 1, 2)
		c.unsupported(at(path, "dataFormat"), "device-encrypted keyed data")
	}
}

// digitPattern checks an optional member whose contract pattern is the
// unanchored '[0-9]{min,max}', read anchored: the whole value is min to max
// digits.
func (c *checker) digitPattern(path field, s string, min, max int) {
	c.digits(path, s, min, max, false)
}

// swipedData checks swiped data and returns what plain-text track data
// holds (nil when it is not plain text or is unreadable).
func (c *checker) swipedData(path string, s SwipedData) *track {
	if !checkEnum(c, at(path, "dataFormat"), s.DataFormat, swipedFormats, true) {
		return nil
	}
	switch s.DataFormat {
	case FormatPlainText:
		if s.PlainText == nil {
			c.required(at(path, "trackData"))
			return nil
		}
		p := s.PlainText
		c.device(path+"/device", &p.Device, false)
		checkEnum(c, at(path, "fallbackReason"), p.FallbackReason, fallbackReasons, false)
		if c.absent(at(path, "trackData"), string(p.TrackData), true) {
			return nil
		}
		n := len([]rune(string(p.TrackData)))
		if n < 16 || n > 256 {
			c.fault(at(path, "trackData"), "invalid length", "must be 16 to 256 characters")
			return nil
		}
		t, ok := parseTrack(string(p.TrackData))
		if !ok {
			c.fault(at(path, "trackData"), "invalid track data",
				"must be ISO/IEC 7813 track 1 or track 2 data holding a Luhn-valid card number and a valid expiry date")
			return nil
		}
		return &t
	case FormatEncrypted:
		if s.Encrypted == nil {
			c.required(at(path, "encryptedData"))
			return nil
		}
		e := s.Encrypted
		c.device(path+"/device", &e.Device, true)
		c.hex(at(path, "encryptedData"), e.EncryptedData, 1, 0, true)
		c.text(at(path, "firstDigitOfPan"), e.FirstDigitOfPAN, 1, 1, false)
		checkEnum(c, at(path, "fallbackReason"), e.FallbackReason, fallbackReasons, false)
		c.unsupported(at(path, "dataFormat"), "device-encrypted track data")
	}
	return nil
}

// device checks a POS device; encrypting says the data it sent is
// encrypted, which makes its key serial number required.
func (c *checker) device(path string, d *Device, encrypting bool) {
	checkEnum(c, at(path, "model"), d.Model, deviceModels, true)
	checkEnum(c, at(path, "category"), d.Category, deviceCategories, false)
	c.text(at(path, "serialNumber"), d.SerialNumber, 1, 64, true)
	if encrypting || d.DataKSN != "" {
		c.hex(at(path, "dataKsn"), d.DataKSN, 20, 20, encrypting)
	}
}

func (c *checker) pinDetails(path string, p *PINDetails, allowed enum[DataFormat]) {
	if !checkEnum(c, at(path, "dataFormat"), p.DataFormat, allowed, true) {
		return
	}
	switch p.DataFormat {
	case FormatDUKPT:
		c.hex(at(path, "pin"), string(p.PIN), 1, 0, true)
		c.hex(at(path, "pinKsn"), p.PINKSN, 20, 20, true)
	case FormatRaw:
		c.text(at(path, "pin"), string(p.PIN), 1, 1<<31-1, true)
	}
}

func (c *checker) ebtDetails(path string, e *EBTDetails) {
	checkEnum(c, at(path, "benefitCategory"), e.BenefitCategory, benefitCategories, true)
	if v := e.Voucher; v != nil {
		c.text(at(path+"/voucher", "approvalCode"), v.ApprovalCode, 6, 6, true)
		c.text(at(path+"/voucher", "serialNumber"), v.SerialNumber, 7, 15, true)
	}
}

func (c *checker) threeDSecure(path string, t *ThreeDSecure) {
	if !checkEnum(c, at(path, "serviceProvider"), t.ServiceProvider, serviceProviders, true) {
		return
	}
	if t.ServiceProvider == "gateway" {
		c.text(at(path, "mpiReference"), t.MPIReference, 20, 20, true)
		return
	}
	checkEnum(c, at(path, "eci"), t.ECI, eciValues, true)
	c.text(at(path, "xid"), t.XID, 0, 50, false)
	c.text(at(path, "cavv"), string(t.CAVV), 0, 50, false)
	c.text(at(path, "dsTransactionId"), t.DSTransactionID, 0, 36, false)
}

// maxFaults caps the faults one error lists. A document of 64 KiB can hold
// thousands of bad array elements; a hundred faults tell a client all it
// can act on, and keep the error (and the time to build it) small.
const maxFaults = 100

const tooManyFaults = "too many faults"

// checker collects the faults of one value. Every message says what is
// expected and never repeats the value: the values are card numbers, CVVs,
// account numbers and personal data.
type checker struct {
	errs cardvault.InvalidError
}

func (c *checker) fault(path field, detail, message string) {
	addFault(&c.errs, path.String(), detail, message)
}

// field names where a fault is: a member key under a base pointer, joined
// only when a fault is recorded (validating a valid document then builds no
// strings), or a whole pointer or query-parameter name in base.
type field struct{ base, key string }

// at is the member key under the pointer base.
func at(base, key string) field { return field{base, key} }

// whole is a complete pointer.
func whole(p string) field { return field{base: p} }

// param is a query parameter.
func param(name string) field { return field{base: name} }

func (f field) String() string {
	if f.key == "" {
		return f.base
	}
	return f.base + "/" + patch.EscapeToken(f.key)
}

func addFault(e *cardvault.InvalidError, path, detail, message string) {
	switch n := len(e.Fields); {
	case n < maxFaults:
		e.Add(safePointer(path), detail, message)
	case n == maxFaults:
		e.Add("", tooManyFaults, fmt.Sprintf("more than %d faults; the rest are not listed", maxFaults))
	}
}

// err returns the faults ordered by pointer, or nil.
func (c *checker) err() error {
	sortFaults(c.errs.Fields)
	return c.errs.Err()
}

func (c *checker) required(path field) { c.fault(path, "required", "is required") }

// absent reports whether s, the value of the member at path, is empty,
// noting the fault when the member is required. An empty string is an
// absent member: that is how the decoder reads a missing or null one.
func (c *checker) absent(path field, s string, required bool) bool {
	if s != "" {
		return false
	}
	if required {
		c.required(path)
	}
	return true
}

// text checks a string's length in characters (Unicode code points, as
// JSON Schema counts them). An empty string is absent: a fault only when
// required.
func (c *checker) text(path field, s string, min, max int, required bool) {
	if c.absent(path, s, required) {
		return
	}
	if !utf8.ValidString(s) {
		c.fault(path, "invalid value", "must be valid UTF-8")
		return
	}
	n := utf8.RuneCountInString(s)
	switch {
	case min == max && n != min:
		c.fault(path, "invalid length", fmt.Sprintf("must be exactly %d characters", min))
	case n < min:
		c.fault(path, "too short", fmt.Sprintf("must be at least %d characters", min))
	case n > max:
		c.fault(path, "too long", fmt.Sprintf("must be at most %d characters", max))
	}
}

// digits checks a string of ASCII digits of a length within [min, max].
func (c *checker) digits(path field, s string, min, max int, required bool) bool {
	if c.absent(path, s, required) {
		return false
	}
	if !allDigits(s) || len(s) < min || len(s) > max {
		if min == max {
			c.fault(path, "invalid format", fmt.Sprintf("must be exactly %d digits", min))
		} else {
			c.fault(path, "invalid format", fmt.Sprintf("must be %d to %d digits", min, max))
		}
		return false
	}
	return true
}

// hex checks a string of hexadecimal digits (the contract's format
// "hexadecimal") of a length within [min, max]; max 0 means no maximum.
func (c *checker) hex(path field, s string, min, max int, required bool) {
	if c.absent(path, s, required) {
		return
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			c.fault(path, "invalid format", "must be hexadecimal digits")
			return
		}
	}
	switch {
	case min > 0 && min == max && len(s) != min:
		c.fault(path, "invalid length", fmt.Sprintf("must be exactly %d hexadecimal digits", min))
	case len(s) < min:
		c.fault(path, "too short", fmt.Sprintf("must be at least %d hexadecimal digits", min))
	case max > 0 && len(s) > max:
		c.fault(path, "too long", fmt.Sprintf("must be at most %d hexadecimal digits", max))
	}
}

func checkEnum[T ~string](c *checker, path field, v T, allowed enum[T], required bool) bool {
	if c.absent(path, string(v), required) {
		return false
	}
	if !allowed.has(v) {
		c.fault(path, "invalid value", allowed.message())
		return false
	}
	return true
}

// cardNumber checks a whole card number: 12–19 digits, Luhn-valid.
func (c *checker) cardNumber(path field, n CardNumber) {
	if c.absent(path, string(n), true) {
		return
	}
	if !allDigits(string(n)) || len(n) < luhn.MinLength || len(n) > luhn.MaxLength || !luhn.Valid(string(n)) {
		c.fault(path, "invalid card number", "must be 12 to 19 digits ending in a valid Luhn check digit")
	}
}

// expiry checks an expiry date MMYY. The contract's pattern is the
// unanchored '[0-9]{4}'; cardvault reads it as the description says:
// exactly four digits, a month 01–12 then a year.
func (c *checker) expiry(path field, s string, required bool) {
	if c.absent(path, s, required) {
		return
	}
	if !validExpiry(s) {
		c.fault(path, "invalid format", "must be MMYY: four digits, month 01 to 12")
	}
}

func validExpiry(s string) bool {
	if len(s) != 4 || !allDigits(s) {
		return false
	}
	m := (s[0]-'0')*10 + s[1] - '0'
	return m >= 1 && m <= 12
}

// routingNumber checks a US ABA routing number: nine digits whose weighted
// sum 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) is a multiple of ten. (The
// contract's example '123456789' fails the check.)
func (c *checker) routingNumber(path field, s string) {
	if !c.digits(path, s, 9, 9, true) {
		return
	}
	if !validRoutingNumber(s) {
		c.fault(path, "invalid routing number", "must be a routing number with a valid ABA check digit")
	}
}

func validRoutingNumber(s string) bool {
	if len(s) != 9 || !allDigits(s) {
		return false
	}
	w := [3]int{3, 7, 1}
	sum := 0
	for i := 0; i < 9; i++ {
		sum += w[i%3] * int(s[i]-'0')
	}
	return sum%10 == 0
}

// date checks an RFC 3339 full-date (the contract's format "date"),
// calendar-valid: 2023-02-29 is refused.
func (c *checker) date(path field, s string) {
	if s == "" {
		return
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil || len(s) != len(time.DateOnly) {
		c.fault(path, "invalid date", "must be a calendar date YYYY-MM-DD")
	}
}

// ip checks that value is an address of the declared version. The contract
// gives no format for the value; an address that contradicts its own "type"
// is refused all the same.
func (c *checker) ip(path string, a *IPAddress) {
	okType := checkEnum(c, at(path, "type"), a.Type, ipVersions, true)
	if c.absent(at(path, "value"), a.Value, true) {
		return
	}
	addr, err := netip.ParseAddr(a.Value)
	if err != nil || addr.Zone() != "" {
		c.fault(at(path, "value"), "invalid format", "must be an IPv4 or IPv6 address")
		return
	}
	if okType && (a.Type == IPv4) != addr.Is4() {
		c.fault(at(path, "value"), "invalid format", fmt.Sprintf("must be an %s address, as type says", a.Type))
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}

// resource checks a resource against the contract's response schema; full
// says its numbers are whole (a record's) rather than masked.
func (c *checker) resource(r Resource, full bool) {
	// The contract allows an empty secureTokenId in responses; cardvault
	// never makes one.
	c.text(at("", "secureTokenId"), r.SecureTokenID, 1, 200, true)
	c.text(at("", "processingTerminalId"), r.ProcessingTerminalID, 4, 50, true)
	checkEnum(c, at("", "mitAgreement"), r.MITAgreement, mitAgreements, false)
	if r.Customer != nil {
		c.customer("/customer", r.Customer, false)
	}
	c.source("/source", r.Source, full)
	c.digits(at("", "token"), r.Token, 12, 19, true)
	checkEnum(c, at("", "status"), r.Status, statuses, true)
	c.customFields("/customFields", r.CustomFields)
}

func (c *checker) source(path string, s Source, full bool) {
	if !checkEnum(c, at(path, "type"), s.Type, resourceSources, true) {
		return
	}
	switch s.Type {
	case SourceCard:
		if s.Card == nil {
			c.required(at(path, "cardNumber"))
			return
		}
		k := s.Card
		c.text(at(path, "cardholderName"), k.CardholderName, 1, 50, true)
		if full {
			c.cardNumber(at(path, "cardNumber"), k.CardNumber)
		} else {
			c.masked(at(path, "cardNumber"), string(k.CardNumber), 12, 19)
		}
		c.expiry(at(path, "expiryDate"), k.ExpiryDate, false)
		checkEnum(c, at(path, "currency"), k.Currency, currencies, false)
		if sc := k.Surcharging; sc != nil {
			if sc.Amount != nil && *sc.Amount <= 0 {
				c.fault(at(path+"/surcharging", "amount"), "out of range", "must be greater than 0")
			}
			if p := sc.Percentage; p != nil && (*p <= 0 || *p > 100) {
				c.fault(at(path+"/surcharging", "percentage"), "out of range", "must be greater than 0 and at most 100")
			}
		}
	case SourceACH:
		if s.ACH == nil {
			c.required(at(path, "accountNumber"))
			return
		}
		a := s.ACH
		c.text(at(path, "nameOnAccount"), a.NameOnAccount, 1, 50, true)
		c.account(at(path, "accountNumber"), a.AccountNumber, 4, 17, full)
		c.routingNumber(at(path, "routingNumber"), a.RoutingNumber)
		checkEnum(c, at(path, "accountType"), a.AccountType, accountTypes, false)
	case SourcePAD:
		if s.PAD == nil {
			c.required(at(path, "accountNumber"))
			return
		}
		p := s.PAD
		c.text(at(path, "nameOnAccount"), p.NameOnAccount, 1, 29, true)
		c.account(at(path, "accountNumber"), p.AccountNumber, 7, 12, full)
		c.digits(at(path, "transitNumber"), p.TransitNumber, 5, 5, true)
		c.digits(at(path, "institutionNumber"), p.InstitutionNumber, 3, 3, true)
		checkEnum(c, at(path, "accountType"), p.AccountType, accountTypes, false)
	}
}

// account checks a bank account number, whole or masked. (The contract's
// response schema gives the masked number the pattern ^[0-9]*$, which its
// own "*****5929" breaks; a masked number is checked for the mask's shape
// instead.)
func (c *checker) account(path field, n AccountNumber, min, max int, full bool) {
	if full {
		c.digits(path, string(n), min, max, true)
		return
	}
	c.masked(path, string(n), 5, max)
}

// masked checks a masked number: digits and '*', of a length in [min, max].
func (c *checker) masked(path field, s string, min, max int) {
	if c.absent(path, s, true) {
		return
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '*' && (s[i] < '0' || s[i] > '9') {
			c.fault(path, "invalid format", "must be a masked number: digits and '*'")
			return
		}
	}
	if len(s) < min || len(s) > max {
		c.fault(path, "invalid length", fmt.Sprintf("must be %d to %d characters", min, max))
	}
}
