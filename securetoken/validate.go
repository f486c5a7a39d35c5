package securetoken

import (
	"fmt"
	"strconv"
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
		if p.TrackData == "" {
			c.required(at(path, "trackData"))
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
