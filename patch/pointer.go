package patch

import (
	"fmt"
	"strings"

	"github.com/cardvault/cardvault/internal/jsonx"
)

// Pointer is an RFC 6901 JSON Pointer held as its reference tokens,
// unescaped: "/a~1b/0" is Pointer{"a/b", "0"}. The empty Pointer (nil or
// zero length) is the root, the whole document. Whether a token such as
// "0" names an array element or an object member is decided by the value
// it is applied to, as the RFC says.
type Pointer []string

// ParsePointer parses an RFC 6901 pointer: "" or a sequence of "/"-prefixed
// tokens in which "~1" stands for "/" and "~0" for "~". Any other "~" is an
// error wrapping [ErrInvalidPointer]. Tokens without escapes share the
// memory of s.
func ParsePointer(s string) (Pointer, error) {
	if s == "" {
		return Pointer{}, nil
	}
	_, p, err := appendPointer(make(Pointer, 0, strings.Count(s, "/")), s)
	return p, err
}

// appendPointer parses s and appends its tokens to dst, returning dst
// grown and the new tokens alone, p, with no capacity past them (so that
// further appends to dst never show through p). A patch parses all its
// pointers into one dst, one allocation.
func appendPointer(dst Pointer, s string) (all, p Pointer, err error) {
	start := len(dst)
	if s == "" {
		return dst, dst[start:start:start], nil
	}
	if s[0] != '/' {
		return dst, nil, fmt.Errorf("%w: must be empty or start with \"/\"", ErrInvalidPointer)
	}
	rest := s[1:]
	for {
		tok, next, more := strings.Cut(rest, "/")
		t, err := unescapeToken(tok)
		if err != nil {
			return dst, nil, err
		}
		dst = append(dst, t)
		if !more {
			return dst, dst[start:len(dst):len(dst)], nil
		}
		rest = next
	}
}

// unescapeToken decodes ~0 and ~1 in one reference token. ~01 is "~1": the
// RFC decodes ~1 before ~0 would be wrong, so the decoding is one pass.
func unescapeToken(tok string) (string, error) {
	i := strings.IndexByte(tok, '~')
	if i < 0 {
		return tok, nil
	}
	var b strings.Builder
	b.Grow(len(tok))
	b.WriteString(tok[:i])
	for ; i < len(tok); i++ {
		c := tok[i]
		if c != '~' {
			b.WriteByte(c)
			continue
		}
		if i+1 >= len(tok) || (tok[i+1] != '0' && tok[i+1] != '1') {
			return "", fmt.Errorf("%w: \"~\" must be followed by \"0\" or \"1\"", ErrInvalidPointer)
		}
		if tok[i+1] == '0' {
			b.WriteByte('~')
		} else {
			b.WriteByte('/')
		}
		i++
	}
	return b.String(), nil
}

// String returns the pointer in RFC 6901 syntax, escaping "~" as "~0" and
// "/" as "~1"; ParsePointer(p.String()) equals p.
func (p Pointer) String() string {
	n := 0
	for _, t := range p {
		n += 1 + len(t)
	}
	b := make([]byte, 0, n)
	for _, t := range p {
		b = append(b, '/')
		b = jsonx.AppendToken(b, t)
	}
	return string(b)
}

// EscapeToken returns tok escaped as one RFC 6901 reference token: "~" as
// "~0", "/" as "~1". ("/" + EscapeToken(k) names the member k.)
func EscapeToken(tok string) string {
	if !strings.ContainsAny(tok, "~/") {
		return tok
	}
	return string(jsonx.AppendToken(make([]byte, 0, len(tok)+2), tok))
}

// isProperPrefixOf reports whether p names an ancestor of q.
func (p Pointer) isProperPrefixOf(q Pointer) bool {
	if len(p) >= len(q) {
		return false
	}
	for i, t := range p {
		if q[i] != t {
			return false
		}
	}
	return true
}

// equal reports whether p and q name the same location.
func (p Pointer) equal(q Pointer) bool {
	if len(p) != len(q) {
		return false
	}
	for i, t := range p {
		if q[i] != t {
			return false
		}
	}
	return true
}

// arrayIndex parses an RFC 6901 array index: "0" or a digit 1-9 followed by
// digits. It reports false for anything else ("01", "-1", "1e0", "+1",
// "-") and for numbers too large to be an index of any real array.
func arrayIndex(tok string) (int, bool) {
	if tok == "" || len(tok) > 10 || (tok[0] == '0' && len(tok) > 1) {
		return 0, false
	}
	n := 0
	for i := range len(tok) {
		c := tok[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > maxArrayIndex {
		return 0, false
	}
	return n, true
}

// maxArrayIndex is past the length of any array a document within limits
// can hold (each element takes at least two bytes).
const maxArrayIndex = 1<<31 - 1
