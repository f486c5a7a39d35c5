package securetoken

import (
	"fmt"

	"github.com/cardvault/cardvault"
)

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
			}
			if b := s.boolean("allowed"); b != nil {
				c.Surcharging.Allowed = *b
			} else if !s.has("allowed") {
				d.fault(s.path+"/allowed", "required", "is required")
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
	if s == "" {
		c.required(path)
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
