package egress

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Limits of [ParseAllowList].
const (
	// MaxAllowListLen is the longest allow-list string accepted, in bytes.
	MaxAllowListLen = 64 << 10
	// MaxAllowEntries is the most entries an allow-list may hold.
	MaxAllowEntries = 256
)

// AllowEntry is one entry of the operator's allow-list: a destination the
// guard lets through although its address is of a refused class. Make
// entries with [ParseAllowList]; the zero AllowEntry is refused by [New].
//
//   - a host, "psp.internal" or "10.0.0.7": that host name (or IP literal)
//     on any port, whatever addresses the name resolves to;
//   - a host and port, "psp.internal:8443" or "[fd00::7]:8443": only on
//     that port;
//   - a CIDR prefix, "10.1.0.0/16", "fd00::/8", "127.0.0.1/32": every
//     address in it, whatever name led there.
//
// Host names are compared with the host of the URL being dialled, lower
// case, whole: "psp.example" does not let "psp.example.evil.test" through.
type AllowEntry struct {
	host   string       // lower-case name or canonical IP (unmapped); "" for a prefix
	port   uint16       // 0: any port
	prefix netip.Prefix // valid for a prefix entry
}

// String returns the entry in the syntax [ParseAllowList] reads.
func (e AllowEntry) String() string {
	if e.prefix.IsValid() {
		return e.prefix.String()
	}
	if e.port == 0 {
		return e.host
	}
	if strings.Contains(e.host, ":") {
		return "[" + e.host + "]:" + strconv.Itoa(int(e.port))
	}
	return e.host + ":" + strconv.Itoa(int(e.port))
}

func (e AllowEntry) valid() bool {
	if e.prefix.IsValid() {
		return e.host == "" && e.port == 0
	}
	_, err := hostKey(e.host)
	return e.host != "" && err == nil
}

// ParseAllowList reads the -egress-allow flag (CARDVAULT_EGRESS_ALLOW):
// comma-separated entries, each a host, a host:port or a CIDR prefix (see
// [AllowEntry]); spaces around an entry are ignored, "" is the empty list.
// It is strict: an empty entry, a malformed name, a port outside 1-65535,
// a prefix with host bits set (10.1.2.3/16), a prefix in IPv4-mapped form,
// a zone, a trailing dot, or a prefix of length 0 (which would let every
// address through) is refused with an error naming the entry; so is a list
// over [MaxAllowListLen] bytes or [MaxAllowEntries] entries. IP literals
// are kept in canonical form, IPv4-mapped IPv6 ones as IPv4.
func ParseAllowList(s string) ([]AllowEntry, error) {
	if len(s) > MaxAllowListLen {
		return nil, fmt.Errorf("%w: allow-list is over %d bytes", ErrInvalidConfig, MaxAllowListLen)
	}
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	parts := strings.Split(s, ",")
	if len(parts) > MaxAllowEntries {
		return nil, fmt.Errorf("%w: allow-list has over %d entries", ErrInvalidConfig, MaxAllowEntries)
	}
	out := make([]AllowEntry, 0, len(parts))
	for i, p := range parts {
		e, err := parseAllowEntry(strings.Trim(p, " \t"))
		if err != nil {
			return nil, fmt.Errorf("%w: allow-list entry %d %s: %s", ErrInvalidConfig, i+1, quoteEntry(p), err)
		}
		out = append(out, e)
	}
	return out, nil
}

// entryError is a reason an entry is refused; ParseAllowList adds the
// entry's position.
type entryError string

func (e entryError) Error() string { return string(e) }

func parseAllowEntry(s string) (AllowEntry, error) {
	switch {
	case s == "":
		return AllowEntry{}, entryError("empty (a stray comma?)")
	case strings.Contains(s, "/"):
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			return AllowEntry{}, entryError("not a CIDR prefix such as 10.1.0.0/16 or fd00::/8")
		case p.Addr().Is4In6():
			return AllowEntry{}, entryError("IPv4-mapped prefix: write it as an IPv4 prefix")
		case p != p.Masked():
			return AllowEntry{}, entryError("host bits set: did you mean " + p.Masked().String() + "?")
		case p.Bits() == 0:
			return AllowEntry{}, entryError("a prefix of length 0 lets every address through")
		}
		return AllowEntry{prefix: p}, nil
	}
	// A bare IPv6 address, with or without brackets: any port.
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil && a.Is6() &&
		(s[0] == '[') == strings.HasSuffix(s, "]") {
		key, err := hostKey(a.String())
		if err != nil {
			return AllowEntry{}, err
		}
		return AllowEntry{host: key}, nil
	}
	host, port := s, ""
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
			host = host[1 : len(host)-1]
			if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
				return AllowEntry{}, entryError("brackets hold something that is not an IPv6 address")
			}
		} else if strings.Contains(host, ":") {
			return AllowEntry{}, entryError("an IPv6 address with a port is written [addr]:port")
		}
	}
	key, err := hostKey(host)
	if err != nil {
		return AllowEntry{}, err
	}
	e := AllowEntry{host: key}
	if port != "" || strings.HasSuffix(s, ":") {
		n, ok := parsePort(port)
		if !ok {
			return AllowEntry{}, entryError("port must be a number 1-65535")
		}
		e.port = n
	}
	return e, nil
}

// parsePort reads a decimal port 1-65535 without sign or leading zeros.
func parsePort(s string) (uint16, bool) {
	if s == "" || len(s) > 5 || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	return uint16(n), err == nil
}

// hostKey is the form in which a host is compared with the allow-list: an
// IP literal in canonical form (IPv4-mapped IPv6 as IPv4), a host name in
// lower case. It refuses what is neither.
func hostKey(h string) (string, error) {
	if a, err := netip.ParseAddr(h); err == nil {
		if a.Zone() != "" {
			return "", entryError("an IPv6 zone is not allowed")
		}
		return a.Unmap().String(), nil
	}
	h = strings.ToLower(h)
	if !validHostname(h) {
		return "", entryError("not a host name (letters, digits, hyphens and dots; IDNs in xn-- form) or IP address")
	}
	return h, nil
}

// ValidHostname reports whether h is a lower-case DNS name of letters,
// digits and hyphens (IDNs in their xn-- form), labels of 1 to 63
// characters neither beginning nor ending with a hyphen, at most 253 in
// all, no trailing dot: the one syntax of a host name, for the guard's
// allow-list and URLs and for whatever else names a host (a hosted form's
// frame ancestors).
func ValidHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// validHostname is ValidHostname for a name the guard resolves: a name
// whose last label is a number ("127.1", "0x7f.1", "2130706433") is
// refused, since resolvers read such names as IPv4 addresses in the old
// inet_aton forms.
func validHostname(h string) bool {
	return ValidHostname(h) && !numericLabel(h[strings.LastIndexByte(h, '.')+1:])
}

// numericLabel reports whether a label reads as a number in the inet_aton
// forms: decimal, octal (leading 0) or hexadecimal (0x...).
func numericLabel(l string) bool {
	if rest, ok := strings.CutPrefix(l, "0x"); ok {
		return strings.Trim(rest, "0123456789abcdef") == ""
	}
	return strings.Trim(l, "0123456789") == ""
}

// quoteEntry shows an operator's entry in a message, cut short if long.
func quoteEntry(s string) string {
	const max = 100
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}
