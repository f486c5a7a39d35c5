// Package luhn computes and checks Luhn (mod 10) check digits and generates
// random Luhn-valid numbers.
//
// The Luhn algorithm (ISO/IEC 7812-1, annex B) is the check digit scheme of
// payment card numbers. cardvault uses it twice: to refuse a mistyped card
// number before it is stored, and to mint numeric tokens that look like card
// numbers to the systems that carry them (a secure token begins with a
// six-digit prefix and ends with a Luhn check digit).
//
// # Errors
//
// Every error wraps one of the sentinels below and names the position or
// length at fault, never the number itself: the numbers this package sees are
// card numbers, and errors end up in logs.
package luhn

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"iter"
)

// Lengths accepted by [Generate]: the shortest and the longest primary account
// number in ISO/IEC 7812.
const (
	MinLength = 12
	MaxLength = 19
)

var (
	// ErrEmpty is returned for an empty payload.
	ErrEmpty = errors.New("luhn: empty input")
	// ErrNotDigits is returned when the input holds a byte other than 0-9.
	ErrNotDigits = errors.New("luhn: input holds a non-digit")
	// ErrLength is returned when a requested length is outside
	// [MinLength, MaxLength].
	ErrLength = errors.New("luhn: length out of range")
	// ErrPrefix is returned when a prefix leaves no room for the check digit.
	ErrPrefix = errors.New("luhn: prefix too long")
)

// Valid reports whether number is a string of at least two ASCII digits whose
// last digit is the Luhn check digit of the ones before it. It allocates
// nothing and accepts no separators: strip spaces and dashes first.
func Valid(number string) bool {
	if len(number) < 2 {
		return false
	}
	sum, bad := checksum(number, false)
	return bad < 0 && sum%10 == 0
}

// CheckDigit returns the ASCII digit that, appended to payload, makes a
// Luhn-valid number.
func CheckDigit(payload string) (byte, error) {
	if len(payload) == 0 {
		return 0, ErrEmpty
	}
	// The check digit will take the rightmost position, so the rightmost
	// payload digit is the first one doubled.
	sum, bad := checksum(payload, true)
	if bad >= 0 {
		return 0, fmt.Errorf("%w at position %d", ErrNotDigits, bad)
	}
	return byte('0' + (10-sum%10)%10), nil
}

// checksum is the Luhn sum of digits: every second digit from the right
// doubled (its digits added), the rightmost one first when doubleFirst. bad
// is the position of the rightmost byte that is not an ASCII digit, or -1;
// the sum means nothing then.
func checksum(digits string, doubleFirst bool) (sum, bad int) {
	double := doubleFirst
	for i := len(digits) - 1; i >= 0; i-- {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, i
		}
		d := int(c - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum, -1
}

// Generate returns a random Luhn-valid number of length digits that starts
// with prefix. length must be within [MinLength, MaxLength] and prefix must
// be digits leaving room for at least the check digit. Random digits are drawn
// uniformly from rnd, or from crypto/rand when rnd is nil; an error reading
// rnd is returned as is.
func Generate(prefix string, length int, rnd io.Reader) (string, error) {
	if length < MinLength || length > MaxLength {
		return "", fmt.Errorf("%w: %d is not within %d-%d", ErrLength, length, MinLength, MaxLength)
	}
	if len(prefix) > length-1 {
		return "", fmt.Errorf("%w: a %d-digit prefix leaves no room in %d digits", ErrPrefix, len(prefix), length)
	}
	for i := 0; i < len(prefix); i++ {
		if prefix[i] < '0' || prefix[i] > '9' {
			return "", fmt.Errorf("%w: prefix position %d", ErrNotDigits, i)
		}
	}
	if rnd == nil {
		rnd = rand.Reader
	}
	var out [MaxLength]byte
	n := copy(out[:], prefix)
	var buf [32]byte
	for n < length-1 {
		if _, err := io.ReadFull(rnd, buf[:]); err != nil {
			return "", fmt.Errorf("luhn: reading random digits: %w", err)
		}
		for _, b := range buf {
			// 250 is the largest multiple of 10 that fits a byte; rejecting
			// the rest keeps every digit equally likely.
			if b >= 250 {
				continue
			}
			out[n] = '0' + b%10
			n++
			if n == length-1 {
				break
			}
		}
	}
	check, err := CheckDigit(string(out[:n]))
	if err != nil {
		return "", err // unreachable: every byte written is a digit
	}
	out[n] = check
	return string(out[:length]), nil
}

// IsCardNumber reports whether digits (digits only) can be a card number:
// MinLength to MaxLength of them, passing the Luhn check. It is the one
// test; CardNumberRuns applies it to text.
func IsCardNumber(digits string) bool {
	return len(digits) >= MinLength && len(digits) <= MaxLength && Valid(digits)
}

// HasCardNumber reports whether CardNumberRuns yields a run of s. Text
// with fewer than MinLength digits, as nearly every log string and audit
// field is, is answered by counting them, without the scan.
func HasCardNumber(s string) bool {
	if !HasDigits(s, MinLength) {
		return false
	}
	for range CardNumberRuns(s) {
		return true
	}
	return false
}

// HasDigits reports whether s holds at least n ASCII digits in all. Text
// with fewer has no run of n digits, so a scan for one — which allocates
// its iterator — need not start: the log redaction, the audit trail's
// field check and the proxy's masking of every answer ask this first.
func HasDigits(s string, n int) bool {
	if n <= 0 {
		return true
	}
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			if n--; n == 0 {
				return true
			}
		}
	}
	return false
}

// CardNumberRuns yields the byte ranges [start, end) of s that may hold a
// card number. A run is a stretch of digits in which single spaces or
// dashes may separate groups, as in "4111 1111 1111 1111". A run of more
// than MaxLength digits is yielded whole (numbers run together, which the
// check cannot tell apart); otherwise a run of MinLength to MaxLength
// digits passing the Luhn check is, and failing that, each stretch of
// whole groups inside it that is one — so that a digit in front ("1
// 4111 1111 1111 1111") hides nothing. Shorter runs, and digits that fail
// the check, are not yielded: an order id or a timestamp is not a card
// number.
//
// It is the one test of "this text looks like it holds a card number" that
// cardvault's redaction uses: the server's log scrubbing and the audit
// trail's refusal to keep one.
func CardNumberRuns(s string) iter.Seq2[int, int] {
	return func(yield func(start, end int) bool) {
		var groups [][2]int // the digit groups of the current run: byte ranges
		for i := 0; i < len(s); {
			if !isDigit(s[i]) {
				i++
				continue
			}
			groups = groups[:0]
			n, j := 0, i
			for {
				g := j
				for j < len(s) && isDigit(s[j]) {
					j++
				}
				groups = append(groups, [2]int{g, j})
				n += j - g
				if j+1 < len(s) && (s[j] == ' ' || s[j] == '-') && isDigit(s[j+1]) {
					j++
					continue
				}
				break
			}
			start, end := i, j
			i = end
			if n < MinLength {
				continue // too short to be a card number: no need to collect it
			}
			if n > MaxLength {
				if !yield(start, end) {
					return
				}
				continue
			}
			// The run's digits, and where each group's begin among them.
			digits := make([]byte, 0, n)
			at := make([]int, len(groups)+1)
			for k, g := range groups {
				at[k] = len(digits)
				digits = append(digits, s[g[0]:g[1]]...)
			}
			at[len(groups)] = len(digits)
			// The longest stretch of whole groups from each group on that
			// is a card number; the whole run is the first tried.
			for a := 0; a < len(groups); {
				found := -1
				for b := len(groups) - 1; b >= a; b-- {
					d := at[b+1] - at[a]
					if d >= MinLength && d <= MaxLength && Valid(string(digits[at[a]:at[b+1]])) {
						found = b
						break
					}
				}
				if found < 0 {
					a++
					continue
				}
				if !yield(groups[a][0], groups[found][1]) {
					return
				}
				a = found + 1
			}
		}
	}
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
