package securetoken

import (
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/luhn"
	"github.com/cardvault/cardvault/patch"
)

// maxFaults caps the faults one error lists. A document of 64 KiB can hold
// thousands of bad array elements; a hundred faults tell a client all it
// can act on, and keep the error (and the time to build it) small.
const maxFaults = 100

const tooManyFaults = "too many faults"

// checker collects the faults of one value. Every message says what is
// expected and never repeats the value: the values are card numbers, CVVs,
// account numbers and personal data.
type checker struct {
	errs cardvault.InvalidError
}

func (c *checker) fault(path field, detail, message string) {
	addFault(&c.errs, path.String(), detail, message)
}

// field names where a fault is: a member key under a base pointer, joined
// only when a fault is recorded (validating a valid document then builds no
// strings), or a whole pointer or query-parameter name in base.
type field struct{ base, key string }

// at is the member key under the pointer base.
func at(base, key string) field { return field{base, key} }

// whole is a complete pointer.
func whole(p string) field { return field{base: p} }

// param is a query parameter.
func param(name string) field { return field{base: name} }

func (f field) String() string {
	if f.key == "" {
		return f.base
	}
	return f.base + "/" + patch.EscapeToken(f.key)
}

func addFault(e *cardvault.InvalidError, path, detail, message string) {
	switch n := len(e.Fields); {
	case n < maxFaults:
		e.Add(safePointer(path), detail, message)
	case n == maxFaults:
		e.Add("", tooManyFaults, fmt.Sprintf("more than %d faults; the rest are not listed", maxFaults))
	}
}

// err returns the faults ordered by pointer, or nil.
func (c *checker) err() error {
	sortFaults(c.errs.Fields)
	return c.errs.Err()
}

func (c *checker) required(path field) { c.fault(path, "required", "is required") }

// text checks a string's length in characters (Unicode code points, as
// JSON Schema counts them). An empty string is absent: a fault only when
// required.
func (c *checker) text(path field, s string, min, max int, required bool) {
	if s == "" {
		if required {
			c.required(path)
		}
		return
	}
	if !utf8.ValidString(s) {
		c.fault(path, "invalid value", "must be valid UTF-8")
		return
	}
	n := utf8.RuneCountInString(s)
	switch {
	case min == max && n != min:
		c.fault(path, "invalid length", fmt.Sprintf("must be exactly %d characters", min))
	case n < min:
		c.fault(path, "too short", fmt.Sprintf("must be at least %d characters", min))
	case n > max:
		c.fault(path, "too long", fmt.Sprintf("must be at most %d characters", max))
	}
}

// digits checks a string of ASCII digits of a length within [min, max].
func (c *checker) digits(path field, s string, min, max int, required bool) bool {
	if s == "" {
		if required {
			c.required(path)
		}
		return false
	}
	if !allDigits(s) || len(s) < min || len(s) > max {
		if min == max {
			c.fault(path, "invalid format", fmt.Sprintf("must be exactly %d digits", min))
		} else {
			c.fault(path, "invalid format", fmt.Sprintf("must be %d to %d digits", min, max))
		}
		return false
	}
	return true
}

// hex checks a string of hexadecimal digits (the contract's format
// "hexadecimal") of a length within [min, max]; max 0 means no maximum.
func (c *checker) hex(path field, s string, min, max int, required bool) {
	if s == "" {
		if required {
			c.required(path)
		}
		return
	}
	for i := 0; i < len(s); i++ {
		if !isHex(s[i]) {
			c.fault(path, "invalid format", "must be hexadecimal digits")
			return
		}
	}
	switch {
	case min > 0 && min == max && len(s) != min:
		c.fault(path, "invalid length", fmt.Sprintf("must be exactly %d hexadecimal digits", min))
	case len(s) < min:
		c.fault(path, "too short", fmt.Sprintf("must be at least %d hexadecimal digits", min))
	case max > 0 && len(s) > max:
		c.fault(path, "too long", fmt.Sprintf("must be at most %d hexadecimal digits", max))
	}
}

func checkEnum[T ~string](c *checker, path field, v T, allowed enum[T], required bool) bool {
	if v == "" {
		if required {
			c.required(path)
		}
		return false
	}
	if !allowed.has(v) {
		c.fault(path, "invalid value", allowed.message())
		return false
	}
	return true
}

// cardNumber checks a whole card number: 12–19 digits, Luhn-valid.
func (c *checker) cardNumber(path field, n CardNumber) {
	if n == "" {
		c.required(path)
		return
	}
	if !allDigits(string(n)) || len(n) < luhn.MinLength || len(n) > luhn.MaxLength || !luhn.Valid(string(n)) {
		c.fault(path, "invalid card number", "must be 12 to 19 digits ending in a valid Luhn check digit")
	}
}

// expiry checks an expiry date MMYY. The contract's pattern is the
// unanchored '[0-9]{4}'; cardvault reads it as the description says:
// exactly four digits, a month 01–12 then a year.
func (c *checker) expiry(path field, s string, required bool) {
	if s == "" {
		if required {
			c.required(path)
		}
		return
	}
	if !validExpiry(s) {
		c.fault(path, "invalid format", "must be MMYY: four digits, month 01 to 12")
	}
}

func validExpiry(s string) bool {
	if len(s) != 4 || !allDigits(s) {
		return false
	}
	m := (s[0]-'0')*10 + s[1] - '0'
	return m >= 1 && m <= 12
}

// routingNumber checks a US ABA routing number: nine digits whose weighted
// sum 3·(d1+d4+d7) + 7·(d2+d5+d8) + (d3+d6+d9) is a multiple of ten. (The
// contract's example '123456789' fails the check.)
func (c *checker) routingNumber(path field, s string) {
	if !c.digits(path, s, 9, 9, true) {
		return
	}
	if !validRoutingNumber(s) {
		c.fault(path, "invalid routing number", "must be a routing number with a valid ABA check digit")
	}
}

func validRoutingNumber(s string) bool {
	if len(s) != 9 || !allDigits(s) {
		return false
	}
	w := [3]int{3, 7, 1}
	sum := 0
	for i := 0; i < 9; i++ {
		sum += w[i%3] * int(s[i]-'0')
	}
	return sum%10 == 0
}

// date checks an RFC 3339 full-date (the contract's format "date"),
// calendar-valid: 2023-02-29 is refused.
func (c *checker) date(path field, s string) {
	if s == "" {
		return
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil || len(s) != len(time.DateOnly) {
		c.fault(path, "invalid date", "must be a calendar date YYYY-MM-DD")
	}
}

// ip checks that value is an address of the declared version. The contract
// gives no format for the value; an address that contradicts its own "type"
// is refused all the same.
func (c *checker) ip(path string, a *IPAddress) {
	okType := checkEnum(c, at(path, "type"), a.Type, ipVersions, true)
	if a.Value == "" {
		c.required(at(path, "value"))
		return
	}
	addr, err := netip.ParseAddr(a.Value)
	if err != nil || addr.Zone() != "" {
		c.fault(at(path, "value"), "invalid format", "must be an IPv4 or IPv6 address")
		return
	}
	if okType && (a.Type == IPv4) != addr.Is4() {
		c.fault(at(path, "value"), "invalid format", fmt.Sprintf("must be an %s address, as type says", a.Type))
	}
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isHex(b byte) bool {
	return '0' <= b && b <= '9' || 'a' <= b && b <= 'f' || 'A' <= b && b <= 'F'
}
