package securetoken

import (
	"fmt"

	"github.com/cardvault/cardvault/internal/mask"
)

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
