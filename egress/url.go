package egress

import (
	"fmt"
	"net/netip"
	"net/url"
	"strings"
)

// MaxURLLength is the longest URL [Guard.CheckURL] accepts, in bytes.
const MaxURLLength = 2048

// CheckURL checks a destination URL without resolving or dialling
// anything, so that a bad one is refused when it is configured (a webhook
// endpoint created, a proxy route saved) rather than only when it is first
// used. raw must be an absolute http or https URL (http only with
// [Config].AllowHTTP), at most [MaxURLLength] bytes of printable ASCII,
// with no user-info and no fragment, and a plain host: a host name
// (letters, digits, hyphens, dots; IDNs in xn-- form), an IPv4 address in
// dotted-decimal form or a bracketed IPv6 address without a zone — no
// percent-encoding, no backslashes, no numeric forms such as "2130706433".
// A port, if given, is 1-65535. An IP-literal host of a refused class is
// refused unless the allow-list lets it through.
//
// Host names are not resolved here: what a name resolves to is checked at
// every dial. A URL CheckURL accepts can still be refused when it is used.
//
// The error wraps [ErrInvalidURL] (a malformed URL) or [ErrRefused] (http
// while AllowHTTP is off, an IP literal the rules refuse). Its message
// names the host when the host is well formed, and never the path, query
// or the URL itself.
func (g *Guard) CheckURL(raw string) error {
	if len(raw) > MaxURLLength {
		return fmt.Errorf("%w: longer than %d bytes", ErrInvalidURL, MaxURLLength)
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] <= ' ' || raw[i] >= 0x7f {
			return fmt.Errorf("%w: holds a space, a control character or a non-ASCII byte (percent-encode it in the path or query)", ErrInvalidURL)
		}
	}
	if strings.Contains(raw, "#") {
		return fmt.Errorf("%w: a fragment (#...) is not allowed", ErrInvalidURL)
	}
	u, err := url.Parse(raw) // its error repeats raw: not passed on
	if err != nil {
		return fmt.Errorf("%w: not a URL of the form https://host/path", ErrInvalidURL)
	}
	// Percent-encoding in a host cannot pass: net/url refuses it for ASCII
	// bytes and decodes the rest, and checkParsed accepts only a decoded
	// host of letters, digits, hyphens and dots or an IP literal — the very
	// name that is then compared with the allow-list and dialled.
	return g.checkParsed(u)
}

// checkParsed holds the rules of CheckURL that a parsed URL can be checked
// against: the guard's transport runs it on every request, whoever built
// the request.
func (g *Guard) checkParsed(u *url.URL) error {
	switch u.Scheme {
	case "https":
	case "http":
		if !g.allowHTTP {
			return fmt.Errorf("%w: http:// is not allowed, the URL must be https", ErrRefused)
		}
	default:
		return fmt.Errorf("%w: the scheme must be https", ErrInvalidURL)
	}
	switch {
	case u.Opaque != "" || u.Host == "":
		return fmt.Errorf("%w: not an absolute URL of the form https://host/path", ErrInvalidURL)
	case u.User != nil:
		return fmt.Errorf("%w: user-info (user:password@) is not allowed", ErrInvalidURL)
	case u.Fragment != "" || u.RawFragment != "":
		return fmt.Errorf("%w: a fragment (#...) is not allowed", ErrInvalidURL)
	}
	host, port, err := splitURLHost(u)
	if err != nil {
		return err
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return g.checkAddr(host, port, a)
	}
	return nil
}

// splitURLHost returns the host of u in the form the allow-list compares
// (see hostKey) and its port, the scheme's default when none is written.
func splitURLHost(u *url.URL) (string, uint16, error) {
	hostport := u.Host
	var host, port string
	if strings.HasPrefix(hostport, "[") {
		end := strings.IndexByte(hostport, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("%w: unclosed [ in the host", ErrInvalidURL)
		}
		host, port = hostport[1:end], hostport[end+1:]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() || a.Zone() != "" {
			return "", 0, fmt.Errorf("%w: brackets in the host must hold an IPv6 address without a zone", ErrInvalidURL)
		}
	} else {
		host, port = hostport, ""
		if i := strings.IndexByte(hostport, ':'); i >= 0 {
			host, port = hostport[:i], hostport[i:]
		}
		if _, err := netip.ParseAddr(host); err != nil && !validHostname(strings.ToLower(host)) {
			return "", 0, fmt.Errorf("%w: the host is not a host name (letters, digits, hyphens, dots; IDNs in xn-- form) or an IP address", ErrInvalidURL)
		}
	}
	n := uint16(443)
	if u.Scheme == "http" {
		n = 80
	}
	if port != "" {
		p, ok := parsePort(strings.TrimPrefix(port, ":"))
		if !ok || port[0] != ':' {
			return "", 0, fmt.Errorf("%w: the port of %s must be a number 1-65535", ErrInvalidURL, host)
		}
		n = p
	}
	key, err := hostKey(host)
	if err != nil {
		return "", 0, fmt.Errorf("%w: %s", ErrInvalidURL, err)
	}
	return key, n, nil
}
