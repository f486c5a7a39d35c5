package securetoken

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
