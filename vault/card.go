package vault

import (
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

// The card JSON conventions of the vault/capture API, for the packages that
// read an item's fields (capture's webhooks, the secure-token API's
// single-use tokens, the proxy's templates): one reading of each, here.

// ErrNoExpiry: the item has no expiry date ([ItemExpiry]).
var ErrNoExpiry = fmt.Errorf("vault: no expiry date (expiry as MM/YY or card_expiry as MM-YYYY): %w", ErrInvalid)

// Expiry is a card's expiry date as [ItemExpiry] read it.
type Expiry struct {
	Month int // 1 to 12
	Year  int // four digits: 2000 + YY for MM/YY
	// Field is where it was read: "expiry" or "card_expiry".
	Field string
}

// MM returns the month as two digits ("06").
func (e Expiry) MM() string { return fmt.Sprintf("%02d", e.Month) }

// YYYY returns the year as four digits ("2027").
func (e Expiry) YYYY() string { return fmt.Sprintf("%04d", e.Year) }

// YY returns the last two digits of the year ("27").
func (e Expiry) YY() string { return fmt.Sprintf("%02d", e.Year%100) }

// ExpiryError is a malformed expiry field: which one, and the layout it
// must have. It wraps [ErrInvalid] and never holds the value.
type ExpiryError struct {
	Field  string // "expiry" or "card_expiry"
	Layout string // "MM/YY" or "MM-YYYY"
}

func (e *ExpiryError) Error() string {
	return fmt.Sprintf("vault: %s must be %s with a month 01 to 12", e.Field, e.Layout)
}

// Unwrap makes errors.Is(err, ErrInvalid) true.
func (e *ExpiryError) Unwrap() error { return ErrInvalid }

// ItemExpiry reads the expiry date of a card item, a JSON object in the
// vault/capture API's conventions: the member "expiry" as MM/YY (what the
// hosted card form posts), else "card_expiry" as MM-YYYY ("06-2025"). Only
// string members count, trimmed of surrounding spaces; the shape (five
// characters with a '/', seven with a '-') picks the member, which must then
// hold digits and a month 01 to 12.
//
// It returns [ErrNoExpiry] when the item has neither member and an
// [*ExpiryError] naming the member when the one it picked is malformed.
func ItemExpiry(doc []byte) (Expiry, error) {
	str := func(k string) string {
		if r := gjson.GetBytes(doc, k); r.Type == gjson.String {
			return strings.TrimSpace(r.Str)
		}
		return ""
	}
	e, ce := str("expiry"), str("card_expiry")
	var mm, year string
	var out Expiry
	switch {
	case len(e) == 5 && e[2] == '/':
		out.Field, mm, year = "expiry", e[:2], "20"+e[3:]
	case len(ce) == 7 && ce[2] == '-':
		out.Field, mm, year = "card_expiry", ce[:2], ce[3:]
	case ce != "":
		return Expiry{Field: "card_expiry"}, &ExpiryError{Field: "card_expiry", Layout: "MM-YYYY"}
	case e != "":
		return Expiry{Field: "expiry"}, &ExpiryError{Field: "expiry", Layout: "MM/YY"}
	default:
		return Expiry{}, ErrNoExpiry
	}
	m, okM := digits(mm)
	y, okY := digits(year)
	if !okM || !okY || m < 1 || m > 12 {
		layout := "MM/YY"
		if out.Field == "card_expiry" {
			layout = "MM-YYYY"
		}
		return Expiry{Field: out.Field}, &ExpiryError{Field: out.Field, Layout: layout}
	}
	out.Month, out.Year = m, y
	return out, nil
}

// digits parses a short run of ASCII digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, s != ""
}

// ItemNumber returns the number an item's field holds as the vault reads it
// to make a token: a string with the spaces and dashes people type removed,
// or a JSON number as written; 1 to 64 letters or digits. It returns
// [ErrNoNumber] when the field is missing and an error wrapping [ErrInvalid]
// (naming the field, not the value) when it holds something else.
func ItemNumber(doc []byte, field string) (string, error) {
	r := gjson.GetBytes(doc, gjson.Escape(field))
	if !r.Exists() {
		return "", ErrNoNumber
	}
	return numberField(field, r)
}
