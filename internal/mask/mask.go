// Package mask is cardvault's one rule for showing part of a card or bank
// account number: the secure-token API's resources, the rules engine's mask
// operation and the proxy's masking of a payment service provider's answers
// all show a number the same way.
//
//   - A card number keeps its first six digits (the issuer identification
//     number) and its last four, with one '*' for each digit between:
//     "453985******7062". That is what PCI DSS allows to be displayed.
//   - A bank account number shows "*****" and its last four digits:
//     "*****5929".
//
// Both are idempotent: masking a masked number returns it unchanged. The
// digits a mask shows are the only ones anything else may show or index:
// [CardFirst6], [CardLast4] and [AccountLast4] return exactly those.
package mask

import "strings"

// Card returns number with every character but the first six and the last
// four replaced by '*'. A value shorter than 12 characters — never a valid
// card number, and too short to hide anything between six and four — is all
// stars, one per byte, so that a CVV or a typo is hidden whole.
func Card(number string) string {
	if len(number) < 12 {
		return strings.Repeat("*", len(number))
	}
	return number[:6] + strings.Repeat("*", len(number)-10) + number[len(number)-4:]
}

// CardFirst6 returns the first six characters of a card number of 12 or
// more, the ones Card shows, or "".
func CardFirst6(number string) string {
	if len(number) < 12 {
		return ""
	}
	return number[:6]
}

// CardLast4 returns the last four characters of a card number of 12 or
// more, the ones Card shows, or "".
func CardLast4(number string) string {
	if len(number) < 12 {
		return ""
	}
	return number[len(number)-4:]
}

// AccountLast4 returns the last four characters of an account number of 8
// or more, the ones Account shows, or "" (a shorter one shows fewer).
func AccountLast4(number string) string {
	if len(number) < 8 {
		return ""
	}
	return number[len(number)-4:]
}

// Account returns "*****" followed by the last four characters of number.
// A number shorter than eight shows only half of itself (rounded down), so
// that at least half stays hidden: ACH allows four-digit account numbers,
// which "last four" would show whole. A value that already starts with
// "*****" is returned unchanged, and "" stays "".
func Account(number string) string {
	if number == "" || strings.HasPrefix(number, "*****") {
		return number
	}
	shown := 4
	if len(number) < 8 {
		shown = len(number) / 2
	}
	return "*****" + number[len(number)-shown:]
}
