package securetoken

import (
	"strconv"

	"github.com/tidwall/gjson"
)

// The readers below map JSON objects onto the model, one per schema object
// of the contract. Each reads the members its schema lists and nothing else.

func (d *decoder) customer(o *object) *Customer {
	c := &Customer{
		FirstName:            o.str("firstName"),
		LastName:             o.str("lastName"),
		DateOfBirth:          o.str("dateOfBirth"),
		ReferenceNumber:      o.str("referenceNumber"),
		NotificationLanguage: Language(o.str("notificationLanguage")),
	}
	if a, ok := o.obj("billingAddress"); ok {
		c.BillingAddress = d.address(a)
	}
	if s, ok := o.obj("shippingAddress"); ok {
		c.ShippingAddress = &ShippingAddress{RecipientName: s.str("recipientName")}
		if a, ok := s.obj("address"); ok {
			c.ShippingAddress.Address = d.address(a)
		}
		s.close()
	}
	if items, p, ok := o.array("contactMethods"); ok {
		c.ContactMethods = make([]ContactMethod, len(items))
		for i, it := range items {
			// A misshapen element stays as a zero placeholder so that the
			// validator's indices match the document's.
			if m, ok := d.object(index(p, i), it); ok {
				c.ContactMethods[i] = ContactMethod{Type: ContactType(m.str("type")), Value: m.str("value")}
				m.close()
			} else if it.Type == gjson.Null {
				d.fault(index(p, i), "wrong type", "must be a JSON object")
			}
		}
	}
	o.close()
	return c
}

func (d *decoder) address(o *object) *Address {
	a := &Address{
		Address1:   o.str("address1"),
		Address2:   o.str("address2"),
		Address3:   o.str("address3"),
		City:       o.str("city"),
		State:      o.str("state"),
		Country:    o.str("country"),
		PostalCode: o.str("postalCode"),
	}
	o.close()
	return a
}

func (d *decoder) customFields(o *object) []CustomField {
	items, p, ok := o.array("customFields")
	if !ok {
		return nil
	}
	out := make([]CustomField, len(items))
	for i, it := range items {
		if f, ok := d.object(index(p, i), it); ok {
			out[i] = CustomField{Name: f.str("name"), Value: f.str("value")}
			f.close()
		} else if it.Type == gjson.Null {
			d.fault(index(p, i), "wrong type", "must be a JSON object")
		}
	}
	return out
}

func (d *decoder) ipAddress(o *object) *IPAddress {
	a, ok := o.obj("ipAddress")
	if !ok {
		return nil
	}
	ip := &IPAddress{Type: IPVersion(a.str("type")), Value: a.str("value")}
	a.close()
	return ip
}

// paymentSource reads a request's "source". The variant is read only when
// the discriminator names one.
func (d *decoder) paymentSource(o *object) PaymentSource {
	s, ok := o.obj("source")
	if !ok {
		return PaymentSource{}
	}
	src := PaymentSource{Type: SourceType(s.str("type"))}
	switch src.Type {
	case SourceACH:
		src.ACH = &ACHPayload{
			AccountType:   AccountType(s.str("accountType")),
			SECCode:       SECCode(s.str("secCode")),
			NameOnAccount: s.str("nameOnAccount"),
			AccountNumber: AccountNumber(s.str("accountNumber")),
			RoutingNumber: s.str("routingNumber"),
		}
	case SourcePAD:
		src.PAD = &PADPayload{
			AccountType:       AccountType(s.str("accountType")),
			NameOnAccount:     s.str("nameOnAccount"),
			AccountNumber:     AccountNumber(s.str("accountNumber")),
			TransitNumber:     s.str("transitNumber"),
			InstitutionNumber: s.str("institutionNumber"),
		}
	case SourceCard:
		src.Card = &CardPayload{AccountType: AccountType(s.str("accountType"))}
		if cd, ok := s.obj("cardDetails"); ok {
			src.Card.CardDetails = d.cardDetails(cd)
		}
	case SourceSingleUseToken:
		src.SingleUseToken = &SingleUseTokenPayload{
			Token:       s.str("token"),
			AccountType: AccountType(s.str("accountType")),
			SECCode:     SECCode(s.str("secCode")),
			PINDetails:  d.pinDetails(s),
			EBTDetails:  d.ebtDetails(s),
		}
	}
	s.close()
	return src
}

func (d *decoder) cardDetails(o *object) CardDetails {
	cd := CardDetails{EntryMethod: EntryMethod(o.str("entryMethod"))}
	switch cd.EntryMethod {
	case EntryRaw:
		cd.Raw = &RawCardDetails{
			DowngradeTo:         EntryMethod(o.str("downgradeTo")),
			Device:              d.device(o),
			RawData:             Sensitive(o.str("rawData")),
			CardholderSignature: Sensitive(o.str("cardholderSignature")),
		}
	case EntryICC:
		cd.ICC = &ICCCardDetails{
			DowngradeTo:         EntryMethod(o.str("downgradeTo")),
			Device:              d.device(o),
			ICCData:             Sensitive(o.str("iccData")),
			FirstDigitOfPAN:     o.text("firstDigitOfPan"),
			CardholderSignature: Sensitive(o.str("cardholderSignature")),
			EBTDetails:          d.ebtDetails(o),
		}
	case EntryKeyed:
		k := &KeyedCardDetails{
			CardholderName:      o.text("cardholderName"),
			CardholderSignature: Sensitive(o.str("cardholderSignature")),
			PINDetails:          d.pinDetails(o),
			EBTDetails:          d.ebtDetails(o),
		}
		if kd, ok := o.obj("keyedData"); ok {
			k.KeyedData = d.keyedData(kd)
		}
		cd.Keyed = k
	case EntrySwiped:
		s := &SwipedCardDetails{
			DowngradeTo:         EntryMethod(o.str("downgradeTo")),
			CardholderName:      o.str("cardholderName"),
			CardholderSignature: Sensitive(o.str("cardholderSignature")),
			PINDetails:          d.pinDetails(o),
			EBTDetails:          d.ebtDetails(o),
		}
		if sd, ok := o.obj("swipedData"); ok {
			s.SwipedData = d.swipedData(sd)
		}
		cd.Swiped = s
	}
	o.close()
	return cd
}

func (d *decoder) keyedData(o *object) KeyedData {
	kd := KeyedData{DataFormat: DataFormat(o.str("dataFormat"))}
	switch kd.DataFormat {
	case FormatPlainText:
		pt := &PlainTextKeyedData{
			CardNumber:  CardNumber(o.str("cardNumber")),
			ExpiryDate:  o.str("expiryDate"),
			CVV:         Sensitive(o.str("cvv")),
			IssueNumber: o.str("issueNumber"),
		}
		if o.has("device") {
			dev := d.device(o)
			pt.Device = &dev
		}
		kd.PlainText = pt
	case FormatFullyEncrypted:
		kd.FullyEncrypted = &FullyEncryptedKeyedData{
			Device:          d.device(o),
			EncryptedData:   o.str("encryptedData"),
			FirstDigitOfPAN: o.text("firstDigitOfPan"),
		}
	case FormatPartiallyEncrypted:
		kd.PartiallyEncrypted = &PartiallyEncryptedKeyedData{
			Device:       d.device(o),
			EncryptedPAN: o.str("encryptedPan"),
			MaskedPAN:    o.str("maskedPan"),
			ExpiryDate:   o.str("expiryDate"),
			CVV:          Sensitive(o.str("cvv")),
			CVVEncrypted: o.str("cvvEncrypted"),
			IssueNumber:  o.str("issueNumber"),
		}
	}
	o.close()
	return kd
}

func (d *decoder) swipedData(o *object) SwipedData {
	sd := SwipedData{DataFormat: DataFormat(o.str("dataFormat"))}
	switch sd.DataFormat {
	case FormatPlainText:
		sd.PlainText = &PlainTextSwipedData{
			Device:         d.device(o),
			TrackData:      Sensitive(o.str("trackData")),
			Fallback:       o.boolean("fallback"),
			FallbackReason: o.str("fallbackReason"),
		}
	case FormatEncrypted:
		sd.Encrypted = &EncryptedSwipedData{
			Device:          d.device(o),
			EncryptedData:   o.str("encryptedData"),
			FirstDigitOfPAN: o.text("firstDigitOfPan"),
			Fallback:        o.boolean("fallback"),
			FallbackReason:  o.str("fallbackReason"),
		}
	}
	o.close()
	return sd
}

// device reads the member "device" of o (zero when absent).
func (d *decoder) device(parent *object) Device {
	o, ok := parent.obj("device")
	if !ok {
		return Device{}
	}
	dev := Device{
		Model:           o.str("model"),
		Category:        o.str("category"),
		SerialNumber:    o.str("serialNumber"),
		FirmwareVersion: o.str("firmwareVersion"),
		DataKSN:         o.str("dataKsn"),
	}
	if c, ok := o.obj("config"); ok {
		dev.Config = &DeviceConfig{}
		if q := c.boolean("quickChip"); q != nil {
			dev.Config.QuickChip = *q
		} else if !c.has("quickChip") {
			d.fault(c.path+"/quickChip", "required", "is required")
		}
		c.close()
	}
	o.close()
	return dev
}

func (d *decoder) pinDetails(parent *object) *PINDetails {
	o, ok := parent.obj("pinDetails")
	if !ok {
		return nil
	}
	p := &PINDetails{
		DataFormat: DataFormat(o.str("dataFormat")),
		PIN:        Sensitive(o.str("pin")),
		PINKSN:     o.str("pinKsn"),
	}
	o.close()
	return p
}

func (d *decoder) ebtDetails(parent *object) *EBTDetails {
	o, ok := parent.obj("ebtDetails")
	if !ok {
		return nil
	}
	e := &EBTDetails{BenefitCategory: o.str("benefitCategory"), Withdrawal: o.boolean("withdrawal")}
	if v, ok := o.obj("voucher"); ok {
		e.Voucher = &EBTVoucher{ApprovalCode: v.str("approvalCode"), SerialNumber: v.str("serialNumber")}
		v.close()
	}
	o.close()
	return e
}

func (d *decoder) threeDSecure(parent *object) *ThreeDSecure {
	o, ok := parent.obj("threeDSecure")
	if !ok {
		return nil
	}
	t := &ThreeDSecure{
		ServiceProvider: o.str("serviceProvider"),
		MPIReference:    o.str("mpiReference"),
		ECI:             o.str("eci"),
		XID:             o.str("xid"),
		CAVV:            Sensitive(o.str("cavv")),
		DSTransactionID: o.str("dsTransactionId"),
	}
	o.close()
	return t
}

func index(path string, i int) string { return path + "/" + strconv.Itoa(i) }
