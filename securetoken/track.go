package securetoken

import (
	"regexp"
	"strings"

	"github.com/cardvault/cardvault/luhn"
)

// track is what cardvault keeps of magnetic-stripe data: the card number,
// the expiry date (as MMYY) and, from track 1, the cardholder's name. The
// service code and discretionary data are dropped with the rest of the
// track: PCI DSS forbids storing full track data.
type track struct {
	pan    string
	expiry string // MMYY
	name   string
}

// ISO/IEC 7813 track 1 ("%B" PAN "^" NAME "^" YYMM ...) and track 2
// (";" PAN "=" YYMM ...), sentinels optional, either or both in one string
// (track 2 at the start, or after track 1's end sentinel and check
// character).
var (
	track1 = regexp.MustCompile(`^%?B([0-9]{12,19})\^([^^]{0,26})\^([0-9]{4})`)
	track2 = regexp.MustCompile(`(?:^|\?[^;]?);?([0-9]{12,19})=([0-9]{4})`)
)

// parseTrack reads track data. ok is false when neither track is there, the
// card number fails Luhn, the month is not 01–12, or the two tracks
// disagree.
func parseTrack(s string) (t track, ok bool) {
	m1 := track1.FindStringSubmatch(s)
	m2 := track2.FindStringSubmatch(s)
	switch {
	case m1 != nil:
		t = track{pan: m1[1], expiry: m1[3][2:] + m1[3][:2], name: trackName(m1[2])}
		if m2 != nil && (m2[1] != t.pan || m2[2][2:]+m2[2][:2] != t.expiry) {
			return track{}, false
		}
	case m2 != nil:
		t = track{pan: m2[1], expiry: m2[2][2:] + m2[2][:2]}
	default:
		return track{}, false
	}
	if !luhn.Valid(t.pan) || !validExpiry(t.expiry) {
		return track{}, false
	}
	return t, true
}

// trackName turns track 1's "SURNAME/GIVEN NAMES" into "GIVEN NAMES
// SURNAME", spaces collapsed; "" when the name is blank.
func trackName(raw string) string {
	surname, given, found := strings.Cut(raw, "/")
	name := raw
	if found {
		name = given + " " + surname
	}
	return strings.Join(strings.Fields(name), " ")
}
