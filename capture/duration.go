package capture

import (
	"fmt"
	"strconv"
	"time"

	"github.com/cardvault/cardvault"
)

// maxDurationLen bounds the input ParseDuration looks at.
const maxDurationLen = 64

// ParseDuration parses a grant's time to live: an ISO 8601 duration of
// weeks, days, hours, minutes and seconds ("PT10M", "PT1H30M", "P1D",
// "P1W", "PT0.5S"; fractions only on seconds). A zero duration — "P0T",
// "PT0S", "P0D" or "0" — means the grant never expires, which
// ParseDuration reports as (0, nil).
//
// Years and months are refused: their length depends on the calendar, and a
// grant's lifetime should not. So are negative durations, empty ones ("P",
// "PT"), and anything over 100 years. Errors wrap ErrInvalidTTL.
func ParseDuration(s string) (time.Duration, error) {
	if len(s) > maxDurationLen {
		return 0, fmt.Errorf("%w: longer than %d characters", ErrInvalidTTL, maxDurationLen)
	}
	if s == "0" || s == "P0T" {
		return 0, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: %s (want an ISO 8601 duration like PT10M, PT1H30M or P1D)", ErrInvalidTTL, why)
	}
	if s == "" {
		return 0, bad("empty")
	}
	if s[0] == '-' {
		return 0, bad("negative")
	}
	if s[0] != 'P' {
		return 0, bad("does not start with P")
	}
	var total time.Duration
	inTime := false
	elements := 0
	lastUnit := -1 // W D, then H M S: each at most once, in this order
	for i := 1; i < len(s); {
		if s[i] == 'T' {
			if inTime {
				return 0, bad("T twice")
			}
			inTime = true
			if i++; i == len(s) {
				return 0, bad("T without a time element")
			}
			continue
		}
		e, next, why := durationElement(s, i, inTime)
		if why != "" {
			return 0, bad(why)
		}
		i = next
		if e.rank <= lastUnit {
			return 0, bad("units out of order or repeated")
		}
		lastUnit = e.rank
		if e.frac != "" && (e.per != time.Second || i != len(s)) {
			return 0, bad("a fraction is allowed only on seconds, the last element")
		}
		d, ok := e.value()
		if !ok || total+d > maxTTL {
			return 0, bad("longer than 100 years")
		}
		total += d
		elements++
	}
	if elements == 0 {
		return 0, bad("no elements")
	}
	return total, nil
}

// maxTTL is the longest duration ParseDuration takes.
const maxTTL = 100 * 365 * 24 * time.Hour

// element is one number-and-unit of a duration.
type element struct {
	whole, frac string
	per         time.Duration // the unit
	rank        int           // the unit's place in W D H M S
}

// durationElement reads the element at s[i:], in the date part or (inTime)
// the time part, and returns it and where the next begins, or why it is
// not one.
func durationElement(s string, i int, inTime bool) (element, int, string) {
	var e element
	digits := func() string {
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return s[start:i]
	}
	start := i
	e.whole = digits()
	if i < len(s) && (s[i] == '.' || s[i] == ',') {
		i++
		if e.frac = digits(); e.frac == "" {
			return e, i, "a decimal separator needs digits after it"
		}
	}
	if e.whole == "" {
		return e, i, fmt.Sprintf("expected a number at position %d", start)
	}
	if i == len(s) {
		return e, i, "a number without a unit"
	}
	unit := s[i]
	switch {
	case unit == 'Y' || (unit == 'M' && !inTime):
		return e, i, "years and months have no fixed length; use weeks or days"
	case unit == 'W' && !inTime:
		e.per, e.rank = 7*24*time.Hour, 0
	case unit == 'D' && !inTime:
		e.per, e.rank = 24*time.Hour, 1
	case unit == 'H' && inTime:
		e.per, e.rank = time.Hour, 2
	case unit == 'M' && inTime:
		e.per, e.rank = time.Minute, 3
	case unit == 'S' && inTime:
		e.per, e.rank = time.Second, 4
	default:
		return e, i, fmt.Sprintf("unit %q is not valid there", unit)
	}
	return e, i + 1, ""
}

// value is the element's length; ok is false past maxTTL.
func (e element) value() (time.Duration, bool) {
	n, err := strconv.ParseUint(e.whole, 10, 64)
	if err != nil || n > uint64(maxTTL/e.per) {
		return 0, false
	}
	d := time.Duration(n) * e.per
	if e.frac != "" {
		frac := e.frac
		if len(frac) > 9 {
			frac = frac[:9] // below a nanosecond
		}
		ns, _ := strconv.Atoi(frac + "000000000"[len(frac):])
		d += time.Duration(ns)
	}
	return d, true
}

// The lifetime of a capture endpoint made for a processing terminal (a
// single-use-token grant of the secure-token API): DefaultTerminalTTL
// unless its creator asks for another, from a second to MaxTerminalTTL.
const (
	DefaultTerminalTTL = "PT30M"
	MaxTerminalTTL     = 24 * time.Hour
)

// TerminalTTL checks the time to live asked for a processing terminal's
// capture endpoint and returns the one to put in its GrantRequest:
// DefaultTerminalTTL for "". Its error is a *cardvault.InvalidError naming
// "/ttl".
func TerminalTTL(ttl string) (string, error) {
	if ttl == "" {
		return DefaultTerminalTTL, nil
	}
	if d, err := ParseDuration(ttl); err != nil || d < time.Second || d > MaxTerminalTTL {
		bad := &cardvault.InvalidError{}
		bad.Add("/ttl", "invalid value", "must be an ISO 8601 duration from PT1S to P1D")
		return "", bad
	}
	return ttl, nil
}
