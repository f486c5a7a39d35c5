package egress

import "github.com/cardvault/cardvault"

// The sentinel errors of this package. Each wraps exactly one kind of
// [github.com/cardvault/cardvault], so both errors.Is(err, ErrRefused) and
// errors.Is(err, cardvault.ErrForbidden) hold. Messages built on them name
// the reason and the host or address at fault, never a URL's path or query
// (URLs carry secrets: capture ids, tokens, signed parameters).
var (
	// ErrRefused: the guard refuses the destination — an address of a
	// refused class that the allow-list does not let through (at dial
	// time, or an IP literal at [Guard.CheckURL]), http:// while
	// [Config].AllowHTTP is off, a redirect (redirects are never
	// followed), a network other than TCP.
	ErrRefused error = &kindError{"egress: destination refused", cardvault.ErrForbidden}
	// ErrInvalidURL: [Guard.CheckURL] (or a request through the guard)
	// was given something that is not an absolute http(s) URL with a
	// plain host: unparseable, too long, non-ASCII or control bytes,
	// user-info, a fragment, a percent-encoded or malformed host, a bad
	// port, another scheme.
	ErrInvalidURL error = &kindError{"egress: invalid URL", cardvault.ErrInvalid}
	// ErrInvalidConfig: an allow-list entry, a roots file or a [Config]
	// field is not acceptable.
	ErrInvalidConfig error = &kindError{"egress: invalid configuration", cardvault.ErrInvalid}
	// ErrTooLarge: a response body is longer than [Config].MaxResponseBytes.
	// Reading the body returns it after the bytes within the limit.
	ErrTooLarge error = &kindError{"egress: response too large", cardvault.ErrTooLarge}
)

// kindError is a sentinel with a short message that wraps one kind.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }
