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
//
// # Numbers in text
//
// [Runs] finds the digit runs of a text — digits with single spaces or
// dashes between them, "4242 4242-4242 4242" — which is how a card number
// stands in a log line or a payment service provider's answer, and
// [luhn.IsCardNumber] tells which of them are card numbers, which [CardRun]
// masks in place; [CardNumbers] masks every card number of a text ([AccountRun] a bank
// account number). The log redaction of the reference server and the
// proxy's masking of a provider's answers both scan text this way.
package mask

import (
	"iter"
	"strings"

	"github.com/cardvault/cardvault/luhn"
)

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

// CardRun masks a digit run as Card masks its digits, keeping the
// separators where they stand: "4242 4242 4242 4242" becomes
// "4242 42** **** 4242", as long as the run was.
func CardRun(run string) string {
	n := 0
	for i := 0; i < len(run); i++ {
		if isDigit(run[i]) {
			n++
		}
	}
	masked := []byte(run)
	k := 0
	for i := range masked {
		if !isDigit(masked[i]) {
			continue
		}
		if n < 12 || k >= 6 && k < n-4 {
			masked[i] = '*'
		}
		k++
	}
	return string(masked)
}

// AccountRun masks a digit run that is a bank account number as Account
// shows one — its last four digits, or half of a number under eight —
// but in place: every other digit a '*', the separators kept, as long as
// the run was.
func AccountRun(run string) string {
	n := 0
	for i := 0; i < len(run); i++ {
		if isDigit(run[i]) {
			n++
		}
	}
	shown := 4
	if n < 8 {
		shown = n / 2
	}
	masked := []byte(run)
	k := 0
	for i := range masked {
		if isDigit(masked[i]) {
			if k < n-shown {
				masked[i] = '*'
			}
			k++
		}
	}
	return string(masked)
}

// CardNumbers returns s with every run of it that may hold a card number
// (luhn.CardNumberRuns: the scan the log redaction and the audit trail use)
// masked in place by CardRun, its separators kept.
func CardNumbers(s string) string {
	if !luhn.HasDigits(s, luhn.MinLength) {
		return s // no run can hold a card number: skip the scan and its allocations
	}
	return Replace(s, luhn.CardNumberRuns(s), CardRun)
}

// Runs returns s with each run of digits replaced by what replace returns
// for it. A run is a longest stretch of ASCII digits with single spaces or
// dashes between them ("4242 4242-4242 4242"; "12  34" is two runs); replace
// gets the run as it stands in s and its digits alone, and returns the run
// to keep it. Runs of fewer than minDigits digits are kept without a call,
// so that a scan for card numbers (minDigits 12) costs no allocation for
// the short numbers every text holds. s is returned as it is when nothing
// is replaced.
func Runs(s string, minDigits int, replace func(run, digits string) string) string {
	return RunsWith(s, " -", minDigits, replace)
}

// RunsWith is Runs with other separators: any single byte of separators
// may stand between two digits of a run. The proxy looks for an item's own
// number with "+" and "." too, as a form encoding or a printout writes it.
func RunsWith(s, separators string, minDigits int, replace func(run, digits string) string) string {
	if !luhn.HasDigits(s, max(minDigits, 1)) {
		return s // no run of minDigits: nothing to call replace for
	}
	return Replace(s, digitRuns(s, separators, minDigits), func(run string) string { return replace(run, digitsOf(run)) })
}

// digitRuns yields the byte ranges of the runs of s (see [RunsWith]) that
// hold at least minDigits digits.
func digitRuns(s, separators string, minDigits int) iter.Seq2[int, int] {
	return func(yield func(start, end int) bool) {
		for i := 0; i < len(s); {
			if !isDigit(s[i]) {
				i++
				continue
			}
			start, end, n := i, i, 0
			for j := i; j < len(s); {
				if isDigit(s[j]) {
					n++
					j++
					end = j
					continue
				}
				if strings.IndexByte(separators, s[j]) >= 0 && j+1 < len(s) && isDigit(s[j+1]) {
					j++
					continue
				}
				break
			}
			i = end
			if n >= minDigits && !yield(start, end) {
				return
			}
		}
	}
}

// Replace returns s with each byte range [start, end) that runs yields (in
// order, none overlapping) replaced by what replace returns for it; a run
// replace returns as it is stays. s is returned as it is when nothing is
// replaced. It is the one way the numbers of a text are masked or redacted
// in place: by [RunsWith] and [CardNumbers], and by the log redaction.
func Replace(s string, runs iter.Seq2[int, int], replace func(run string) string) string {
	var b []byte // allocated at the first run replaced, not before
	replaced := false
	last := 0 // s[last:start] is not written yet
	for start, end := range runs {
		run := s[start:end]
		if out := replace(run); out != run {
			b = append(append(b, s[last:start]...), out...)
			last, replaced = end, true
		}
	}
	if !replaced {
		return s
	}
	return string(append(b, s[last:]...))
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// digitsOf returns the digits of run, without its separators.
func digitsOf(run string) string {
	n := 0
	for i := 0; i < len(run); i++ {
		if isDigit(run[i]) {
			n++
		}
	}
	if n == len(run) {
		return run
	}
	b := make([]byte, 0, n)
	for i := 0; i < len(run); i++ {
		if isDigit(run[i]) {
			b = append(b, run[i])
		}
	}
	return string(b)
}
