package capture

import (
	"fmt"
	"strconv"
	"time"
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
	const limit = 100 * 365 * 24 * time.Hour
	var total time.Duration
	inTime := false
	elements := 0
	lastUnit := -1 // W D, then H M S: each at most once, in this order
	i := 1
	for i < len(s) {
		if s[i] == 'T' {
			if inTime {
				return 0, bad("T twice")
			}
			inTime = true
			i++
			if i == len(s) {
				return 0, bad("T without a time element")
			}
			continue
		}
		start := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		whole := s[start:i]
		frac := ""
		if i < len(s) && (s[i] == '.' || s[i] == ',') {
			i++
			fs := i
			for i < len(s) && s[i] >= '0' && s[i] <= '9' {
				i++
			}
			frac = s[fs:i]
			if frac == "" {
				return 0, bad("a decimal separator needs digits after it")
			}
		}
		if whole == "" {
			return 0, bad(fmt.Sprintf("expected a number at position %d", start))
		}
		if i == len(s) {
			return 0, bad("a number without a unit")
		}
		unit := s[i]
		i++
		var per time.Duration
		var rank int
		switch {
		case unit == 'Y' || (unit == 'M' && !inTime):
			return 0, bad("years and months have no fixed length; use weeks or days")
		case unit == 'W' && !inTime:
			per, rank = 7*24*time.Hour, 0
		case unit == 'D' && !inTime:
			per, rank = 24*time.Hour, 1
		case unit == 'H' && inTime:
			per, rank = time.Hour, 2
		case unit == 'M' && inTime:
			per, rank = time.Minute, 3
		case unit == 'S' && inTime:
			per, rank = time.Second, 4
		default:
			return 0, bad(fmt.Sprintf("unit %q is not valid there", unit))
		}
		if rank <= lastUnit {
			return 0, bad("units out of order or repeated")
		}
		lastUnit = rank
		if frac != "" && (unit != 'S' || i != len(s)) {
			return 0, bad("a fraction is allowed only on seconds, the last element")
		}
		n, err := strconv.ParseUint(whole, 10, 64)
		if err != nil || n > uint64(limit/per) {
			return 0, bad("longer than 100 years")
		}
		total += time.Duration(n) * per
		if frac != "" {
			if len(frac) > 9 {
				frac = frac[:9] // below a nanosecond
			}
			ns, _ := strconv.Atoi(frac + "000000000"[len(frac):])
			total += time.Duration(ns)
		}
		if total > limit {
			return 0, bad("longer than 100 years")
		}
		elements++
	}
	if elements == 0 {
		return 0, bad("no elements")
	}
	return total, nil
}
