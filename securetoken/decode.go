package securetoken

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/patch"
	"github.com/tidwall/gjson"
)

// Limits of every JSON document this package parses.
const (
	// MaxBodyBytes caps a request body and a patched resource. The contract
	// gives no payload limit (it lists a 413 for update-account); 64 KiB is
	// some forty times the largest legitimate document.
	MaxBodyBytes = 64 << 10
	// MaxDepth caps nesting. The deepest member of the contract
	// (/source/cardDetails/keyedData/device/config/quickChip) sits at depth
	// 6; unknown members, which requests may carry, get some room.
	MaxDepth = 16
)

var limits = jsonx.Limits{MaxBytes: MaxBodyBytes, MaxDepth: MaxDepth}

// ErrTooLarge is returned for a document over [MaxBodyBytes].
var ErrTooLarge = fmt.Errorf("securetoken: document over %d bytes: %w", MaxBodyBytes, cardvault.ErrTooLarge)

// gate runs jsonx.Check and turns its verdict into this package's errors:
// ErrTooLarge, or an InvalidError naming where the syntax fault is.
func gate(data []byte) error {
	err := jsonx.Check(data, limits)
	if err == nil {
		return nil
	}
	if errors.Is(err, jsonx.ErrTooLarge) {
		return ErrTooLarge
	}
	var je *jsonx.Error
	field, detail := "", "invalid JSON"
	if errors.As(err, &je) {
		field = safePointer(je.Path)
		switch {
		case errors.Is(err, jsonx.ErrDuplicateKey):
			detail = "duplicate member"
		case errors.Is(err, jsonx.ErrTooDeep):
			detail = "nested too deeply"
		}
	}
	e := &cardvault.InvalidError{}
	// jsonx's own message names offsets and kinds of fault, never a value,
	// but it repeats the pointer and quotes a duplicate member's name:
	// redacted as the field is.
	e.Add(field, detail, safePointer(err.Error()))
	return e
}

// decoder turns a checked JSON document into this package's types, noting a
// fault for every member of the wrong JSON type. Constraints on values are
// the validators' business; the decoder only knows JSON types and, in strict
// mode, which members exist.
type decoder struct {
	errs cardvault.InvalidError
	// strict makes unknown members faults (the resource); otherwise they are
	// ignored (requests).
	strict bool
}

func (d *decoder) fault(path, detail, message string) {
	addFault(&d.errs, path, detail, message)
}

// object is a JSON object being read. The keys read are noted, so that
// close can find the unknown members.
type object struct {
	d     *decoder
	path  string
	raw   gjson.Result
	taken []string
	// all marks every member as read (an object whose discriminator is
	// unknown, whose members then mean nothing).
	all bool
}

func (d *decoder) object(path string, v gjson.Result) (*object, bool) {
	if !v.Exists() || v.Type == gjson.Null {
		return nil, false
	}
	if !v.IsObject() {
		d.fault(path, "wrong type", "must be a JSON object")
		return nil, false
	}
	o := &object{d: d, path: path, raw: v}
	if d.strict {
		o.taken = make([]string, 0, 8)
	}
	return o, true
}

// take returns the member key, marked as read; ok is false when it is
// absent or null — the contract has no nullable member, and null is taken
// as "absent", as the publisher's own deserializer does.
//
// The keys of the contract are letters and digits only, which gjson's path
// syntax takes literally; the document passed jsonx.Check, so a key is
// there once at most.
func (o *object) take(key string) (gjson.Result, bool) {
	if o.d.strict {
		o.taken = append(o.taken, key)
	}
	v := o.raw.Get(key)
	return v, v.Exists() && v.Type != gjson.Null
}

// at returns the pointer of the member key. It is built only when needed:
// for a fault, or as the base of a nested object.
func (o *object) at(key string) string { return o.path + "/" + patch.EscapeToken(key) }

func (o *object) has(key string) bool {
	_, ok := o.take(key)
	return ok
}

func (o *object) str(key string) string {
	v, ok := o.take(key)
	if !ok {
		return ""
	}
	if v.Type != gjson.String {
		o.d.fault(o.at(key), "wrong type", "must be a string")
		return ""
	}
	return v.Str
}

// text is str for a member whose schema has minLength 1: present but empty
// is a fault, where for str it reads as absent.
func (o *object) text(key string) string {
	v, ok := o.take(key)
	if ok && v.Type == gjson.String && v.Str == "" {
		o.d.fault(o.at(key), "too short", "must not be empty")
		return ""
	}
	return o.str(key)
}

func (o *object) boolean(key string) *bool {
	v, ok := o.take(key)
	if !ok {
		return nil
	}
	if v.Type != gjson.True && v.Type != gjson.False {
		o.d.fault(o.at(key), "wrong type", "must be true or false")
		return nil
	}
	b := v.Type == gjson.True
	return &b
}

// requiredBool is boolean for a member the schema requires: absent (or
// null) is a fault. Absent or of the wrong type (a fault of boolean's), it
// reads as false.
func (o *object) requiredBool(key string) bool {
	if b := o.boolean(key); b != nil {
		return *b
	}
	if !o.has(key) {
		o.d.fault(o.at(key), "required", "is required")
	}
	return false
}

func (o *object) obj(key string) (*object, bool) {
	v, ok := o.take(key)
	if !ok {
		return nil, false
	}
	return o.d.object(o.at(key), v)
}

// array returns the elements of the array member key with their paths.
func (o *object) array(key string) ([]gjson.Result, string, bool) {
	v, ok := o.take(key)
	if !ok {
		return nil, "", false
	}
	if !v.IsArray() {
		o.d.fault(o.at(key), "wrong type", "must be a JSON array")
		return nil, "", false
	}
	return v.Array(), o.at(key), true
}

// integer reads a JSON number that is a mathematical integer (JSON Schema
// counts 87.0 as one) within int64.
func (o *object) integer(key string) *int64 {
	v, ok := o.take(key)
	if !ok {
		return nil
	}
	if v.Type == gjson.Number {
		if n, err := strconv.ParseInt(v.Raw, 10, 64); err == nil {
			return &n
		}
		if f, err := strconv.ParseFloat(v.Raw, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			n := int64(f)
			return &n
		}
	}
	o.d.fault(o.at(key), "wrong type", "must be an integer")
	return nil
}

func (o *object) number(key string) *float64 {
	v, ok := o.take(key)
	if !ok {
		return nil
	}
	if v.Type != gjson.Number {
		o.d.fault(o.at(key), "wrong type", "must be a number")
		return nil
	}
	f, err := strconv.ParseFloat(v.Raw, 64)
	if err != nil { // out of float64 range
		o.d.fault(o.at(key), "out of range", "must be a number within double precision")
		return nil
	}
	return &f
}

// maxHints bounds the unknown members that get a nearest-path hint.
const maxHints = 20

// close notes, in strict mode, every member nobody read.
func (o *object) close() {
	if !o.d.strict {
		return
	}
	if o.all {
		return
	}
	o.raw.ForEach(func(k, _ gjson.Result) bool {
		if slices.Contains(o.taken, k.Str) {
			return true
		}
		if len(o.d.errs.Fields) > maxFaults {
			return false
		}
		p := o.at(k.Str)
		msg := "is not a member of a secure token"
		// A hint costs an edit-distance search; a document of thousands of
		// unknown members gets hints for the first ones only.
		if len(o.d.errs.Fields) < maxHints {
			if near := NearestPath(p); near != "" {
				msg += "; the nearest valid path is " + near
			}
		}
		o.d.fault(p, "unknown member", msg)
		return true
	})
}

// safePointer returns a pointer, or a message that repeats one, fit for an
// error message: any run of twelve or more digits in it — a card number a
// client used as a member name — is replaced, since error messages end up
// in logs.
func safePointer(p string) string {
	run, start := 0, -1
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] >= '0' && p[i] <= '9' {
			if run == 0 {
				start = i
			}
			run++
			continue
		}
		if run >= 12 {
			return safePointer(p[:start] + "[redacted]" + p[i:])
		}
		run = 0
	}
	return p
}

// result merges the decoder's faults with the validator's: a fault the
// validator finds at or under a path the decoder already faulted (a member
// of the wrong type reads as empty, so it would also be "required") is
// dropped. The faults come out ordered by pointer.
func result(decoded cardvault.InvalidError, validated error) error {
	out := &cardvault.InvalidError{Fields: decoded.Fields}
	var ve *cardvault.InvalidError
	if errors.As(validated, &ve) {
		for _, f := range ve.Fields {
			if !coveredBy(f.Field, decoded.Fields) {
				out.Fields = append(out.Fields, f)
			}
		}
	}
	sortFaults(out.Fields)
	return out.Err()
}

func coveredBy(p string, faults []cardvault.FieldError) bool {
	for _, f := range faults {
		if p == f.Field || strings.HasPrefix(p, f.Field+"/") {
			return true
		}
	}
	return false
}

// sortFaults orders faults by pointer, the note that faults were cut last.
func sortFaults(fs []cardvault.FieldError) {
	slices.SortStableFunc(fs, func(a, b cardvault.FieldError) int {
		if ca, cb := a.Detail == tooManyFaults, b.Detail == tooManyFaults; ca != cb {
			if ca {
				return 1
			}
			return -1
		}
		return comparePointers(a.Field, b.Field)
	})
}

// comparePointers orders pointers token by token, array indices
// numerically, so that /customFields/2 comes before /customFields/10.
func comparePointers(a, b string) int {
	ta, tb := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(ta) && i < len(tb); i++ {
		if ta[i] == tb[i] {
			continue
		}
		na, ea := strconv.Atoi(ta[i])
		nb, eb := strconv.Atoi(tb[i])
		if ea == nil && eb == nil {
			return cmp.Compare(na, nb)
		}
		return strings.Compare(ta[i], tb[i])
	}
	return len(ta) - len(tb)
}

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
	c.ContactMethods = elements(o, "contactMethods", func(m *object) ContactMethod {
		return ContactMethod{Type: ContactType(m.str("type")), Value: m.str("value")}
	})
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
	return elements(o, "customFields", func(f *object) CustomField {
		return CustomField{Name: f.str("name"), Value: f.str("value")}
	})
}

func (d *decoder) ipAddress(o *object) *IPAddress {
	return member(o, "ipAddress", func(a *object) IPAddress {
		return IPAddress{Type: IPVersion(a.str("type")), Value: a.str("value")}
	})
}

// member reads the object member key of parent with read, and closes it:
// nil when the member is absent, null or not an object (a fault then).
func member[T any](parent *object, key string, read func(o *object) T) *T {
	o, ok := parent.obj(key)
	if !ok {
		return nil
	}
	v := read(o)
	o.close()
	return &v
}

// elements reads the array member key of parent, whose elements are
// objects, each with read, and closes them: nil when the member is absent
// or null. An element that is not an object stays a zero placeholder, so
// that the validator's indices match the document's; a null one is a fault
// here, since reading it as absent would leave no fault at all (an element
// of another type has its fault from the decoder already).
func elements[T any](parent *object, key string, read func(o *object) T) []T {
	items, p, ok := parent.array(key)
	if !ok {
		return nil
	}
	out := make([]T, len(items))
	for i, it := range items {
		if o, ok := parent.d.object(index(p, i), it); ok {
			out[i] = read(o)
			o.close()
		} else if it.Type == gjson.Null {
			parent.d.fault(index(p, i), "wrong type", "must be a JSON object")
		}
	}
	return out
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
		dev.Config = &DeviceConfig{QuickChip: c.requiredBool("quickChip")}
		c.close()
	}
	o.close()
	return dev
}

func (d *decoder) pinDetails(parent *object) *PINDetails {
	return member(parent, "pinDetails", func(o *object) PINDetails {
		return PINDetails{
			DataFormat: DataFormat(o.str("dataFormat")),
			PIN:        Sensitive(o.str("pin")),
			PINKSN:     o.str("pinKsn"),
		}
	})
}

func (d *decoder) ebtDetails(parent *object) *EBTDetails {
	return member(parent, "ebtDetails", func(o *object) EBTDetails {
		return EBTDetails{
			BenefitCategory: o.str("benefitCategory"),
			Withdrawal:      o.boolean("withdrawal"),
			Voucher: member(o, "voucher", func(v *object) EBTVoucher {
				return EBTVoucher{ApprovalCode: v.str("approvalCode"), SerialNumber: v.str("serialNumber")}
			}),
		}
	})
}

func (d *decoder) threeDSecure(parent *object) *ThreeDSecure {
	return member(parent, "threeDSecure", func(o *object) ThreeDSecure {
		return ThreeDSecure{
			ServiceProvider: o.str("serviceProvider"),
			MPIReference:    o.str("mpiReference"),
			ECI:             o.str("eci"),
			XID:             o.str("xid"),
			CAVV:            Sensitive(o.str("cavv")),
			DSTransactionID: o.str("dsTransactionId"),
		}
	})
}

func index(path string, i int) string { return path + "/" + strconv.Itoa(i) }

// ParseCreateRequest parses and validates the body of a create-secure-token
// request.
//
// The body first passes internal/jsonx.Check (at most [MaxBodyBytes], [MaxDepth]
// levels, no duplicate member, valid UTF-8); then every member the contract
// lists is read, and every fault — wrong JSON type, broken constraint — is
// reported in one *cardvault.InvalidError. Members the contract does not
// list are ignored, as the publisher's API ignores them. An oversized body
// gives [ErrTooLarge]. On error the request is the zero value.
func ParseCreateRequest(body []byte) (CreateRequest, error) {
	return parseRequest(body, func(d *decoder, root *object) CreateRequest {
		req := CreateRequest{
			SecureTokenID: root.text("secureTokenId"),
			Operator:      root.text("operator"),
			MITAgreement:  MITAgreement(root.str("mitAgreement")),
			IPAddress:     d.ipAddress(root),
			Source:        d.paymentSource(root),
			ThreeDSecure:  d.threeDSecure(root),
			CustomFields:  d.customFields(root),
		}
		if c, ok := root.obj("customer"); ok {
			req.Customer = d.customer(c)
		}
		return req
	})
}

// ParseSingleUseTokenRequest parses and validates the body of a
// create-single-use-token request, as [ParseCreateRequest] does.
func ParseSingleUseTokenRequest(body []byte) (SingleUseTokenRequest, error) {
	return parseRequest(body, func(d *decoder, root *object) SingleUseTokenRequest {
		return SingleUseTokenRequest{
			Channel:  Channel(root.str("channel")),
			Operator: root.text("operator"),
			Source:   d.paymentSource(root),
		}
	})
}

// ParseAccountUpdateRequest parses and validates the body of an
// update-account request, as [ParseCreateRequest] does.
func ParseAccountUpdateRequest(body []byte) (AccountUpdateRequest, error) {
	return parseRequest(body, func(_ *decoder, root *object) AccountUpdateRequest {
		return AccountUpdateRequest{Type: SourceType(root.str("type")), Token: root.str("token")}
	})
}

// parseRequest is the one way a request body is parsed: gated, read
// leniently (unknown members ignored) by read, then validated, the
// decoder's faults and the validator's merged. A root that is not an object
// is read as the zero request, so the validator still names what is missing.
// On error the request is the zero value.
func parseRequest[R interface{ Validate() error }](body []byte, read func(d *decoder, root *object) R) (R, error) {
	var zero R
	d, root, err := open(body, false)
	if err != nil {
		return zero, err
	}
	req := zero
	if root != nil {
		req = read(d, root)
	}
	if err := result(d.errs, req.Validate()); err != nil {
		return zero, err
	}
	return req, nil
}

// open gates a document and returns a decoder on its root object. A root
// that is not an object is a fault (root is nil then); a gate failure is
// returned as err.
func open(body []byte, strict bool) (*decoder, *object, error) {
	if err := gate(body); err != nil {
		return nil, nil, err
	}
	d := &decoder{strict: strict}
	v := gjson.ParseBytes(body)
	if !v.IsObject() {
		d.fault("", "wrong type", "the document must be a JSON object")
		return d, nil, nil
	}
	root, _ := d.object("", v)
	return d, root, nil
}

// Reading and checking the public resource: the document ApplyPublic gets
// back from a patch, and the one ParseResource reads.

func (d *decoder) resource(o *object) Resource {
	r := Resource{
		SecureTokenID:        o.str("secureTokenId"),
		ProcessingTerminalID: o.str("processingTerminalId"),
		MITAgreement:         MITAgreement(o.str("mitAgreement")),
		Token:                o.str("token"),
		Status:               Status(o.str("status")),
		CustomFields:         d.customFields(o),
	}
	if c, ok := o.obj("customer"); ok {
		r.Customer = d.customer(c)
	}
	if s, ok := o.obj("source"); ok {
		r.Source = d.source(s)
	}
	o.close()
	return r
}

func (d *decoder) source(o *object) Source {
	src := Source{Type: SourceType(o.str("type"))}
	switch src.Type {
	case SourceCard:
		c := &CardSource{
			CardholderName: o.str("cardholderName"),
			CardNumber:     CardNumber(o.str("cardNumber")),
			ExpiryDate:     o.str("expiryDate"),
			CardType:       o.str("cardType"),
			Currency:       o.str("currency"),
			Debit:          o.boolean("debit"),
		}
		if s, ok := o.obj("surcharging"); ok {
			c.Surcharging = &Surcharging{
				Amount:     s.integer("amount"),
				Percentage: s.number("percentage"),
				Disclosure: s.str("disclosure"),
				Allowed:    s.requiredBool("allowed"),
			}
			s.close()
		}
		src.Card = c
	case SourceACH:
		src.ACH = &ACHSource{
			NameOnAccount: o.str("nameOnAccount"),
			AccountNumber: AccountNumber(o.str("accountNumber")),
			RoutingNumber: o.str("routingNumber"),
			AccountType:   AccountType(o.str("accountType")),
		}
	case SourcePAD:
		src.PAD = &PADSource{
			NameOnAccount:     o.str("nameOnAccount"),
			AccountNumber:     AccountNumber(o.str("accountNumber")),
			TransitNumber:     o.str("transitNumber"),
			InstitutionNumber: o.str("institutionNumber"),
			AccountType:       AccountType(o.str("accountType")),
		}
	default:
		// Without a known type no member is known: the fault on type says
		// all there is to say.
		o.all = true
	}
	o.close()
	return src
}
