// Package jsonx is the gate every untrusted JSON document passes before
// anything in cardvault parses it.
//
// encoding/json, gjson and sjson are all lenient in ways a payment vault must
// not be: they accept duplicate object keys (and disagree on which one wins,
// which lets a request mean one thing to a validator and another to the code
// that stores it), they replace invalid UTF-8 silently, and they recurse as
// deep as the input goes. [Check] refuses all of that in one allocation-light
// pass, with an error that says where.
//
// [Marshal] is the other direction: the one encoder of the JSON cardvault
// writes without HTML escaping.
package jsonx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"sync"
	"unicode/utf16"
	"unicode/utf8"
)

// Defaults applied by Check for a zero field of Limits.
const (
	DefaultMaxDepth = 64
)

var (
	// ErrSyntax is wrapped by errors for input that is not JSON (RFC 8259)
	// or is JSON that I-JSON (RFC 7493) forbids: invalid UTF-8, escaped lone
	// surrogates.
	ErrSyntax = errors.New("invalid JSON")
	// ErrDuplicateKey is wrapped when an object holds a key twice (after
	// unescaping: "a" and "\u0061" are the same key).
	ErrDuplicateKey = errors.New("duplicate object key")
	// ErrTooDeep is wrapped when arrays and objects nest deeper than allowed.
	ErrTooDeep = errors.New("JSON nested too deeply")
	// ErrTooLarge is wrapped when the document is longer than allowed.
	ErrTooLarge = errors.New("JSON document too large")
)

// Limits bound what Check accepts. A zero MaxBytes means no size limit; a
// zero MaxDepth means DefaultMaxDepth.
type Limits struct {
	MaxBytes int
	MaxDepth int
}

// Error says what is wrong with a document and where.
type Error struct {
	Offset int    // byte offset of the fault
	Path   string // JSON Pointer (RFC 6901) of the value at fault, "" for the root
	Err    error  // one of the sentinels of this package
	Detail string
}

func (e *Error) Error() string {
	where := fmt.Sprintf("at offset %d", e.Offset)
	if e.Path != "" {
		where = fmt.Sprintf("at %s (offset %d)", e.Path, e.Offset)
	}
	if e.Detail == "" {
		return fmt.Sprintf("%v %s", e.Err, where)
	}
	return fmt.Sprintf("%v %s: %s", e.Err, where, e.Detail)
}

func (e *Error) Unwrap() error { return e.Err }

// Check returns nil if data is exactly one JSON value (surrounded by optional
// whitespace) within the limits, with no duplicate keys and valid UTF-8
// throughout; otherwise an *Error.
func Check(data []byte, l Limits) error {
	if l.MaxBytes > 0 && len(data) > l.MaxBytes {
		return &Error{Offset: l.MaxBytes, Err: ErrTooLarge, Detail: fmt.Sprintf("%d bytes, limit %d", len(data), l.MaxBytes)}
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	// The path's memory comes from a pool, so that a check allocates
	// nothing (it runs on every request body and every patch).
	pp := pathPool.Get().(*[]step)
	c := checker{data: data, maxDepth: l.MaxDepth, path: (*pp)[:0]}
	defer func() {
		// Drop the keys, which alias data (card data, perhaps), before
		// the memory goes back to the pool.
		clear(c.path[:cap(c.path)])
		*pp = c.path[:0]
		pathPool.Put(pp)
	}()
	c.skipSpace()
	if err := c.value(0); err != nil {
		return err
	}
	c.skipSpace()
	if c.pos != len(data) {
		return c.fail(ErrSyntax, "data after the JSON value")
	}
	return nil
}

// Valid is Check with default limits, as a boolean.
func Valid(data []byte) bool { return Check(data, Limits{}) == nil }

// step is one reference token of a path: an object key or an array index.
type step struct {
	key   []byte // unescaped; aliases the input or a key copy, never scratch
	index int    // -1 for a key
}

var pathPool = sync.Pool{New: func() any {
	p := make([]step, 0, 16)
	return &p
}}

type checker struct {
	data     []byte
	pos      int
	maxDepth int
	// path leads from the root to the current value, used only to name
	// the place of a fault.
	path []step
	// scratch is reused to unescape keys.
	scratch []byte
}

func (c *checker) fail(err error, detail string) *Error {
	return &Error{Offset: c.pos, Path: c.pointer(), Err: err, Detail: detail}
}

func (c *checker) pointer() string {
	if len(c.path) == 0 {
		return ""
	}
	var b bytes.Buffer
	for _, st := range c.path {
		b.WriteByte('/')
		if st.index >= 0 {
			b.WriteString(strconv.Itoa(st.index))
			continue
		}
		b.Write(AppendToken(nil, string(st.key)))
	}
	return b.String()
}

// AppendToken appends tok escaped as an RFC 6901 reference token ("~" as
// "~0", "/" as "~1") to dst. It is the one implementation of the escaping;
// package patch exports it as patch.EscapeToken and Pointer.String.
func AppendToken(dst []byte, tok string) []byte {
	for i := range len(tok) {
		switch tok[i] {
		case '~':
			dst = append(dst, '~', '0')
		case '/':
			dst = append(dst, '~', '1')
		default:
			dst = append(dst, tok[i])
		}
	}
	return dst
}

func (c *checker) skipSpace() {
	i, d := c.pos, c.data // locals: indented documents are much whitespace
	for i < len(d) && (d[i] == ' ' || d[i] == '\n' || d[i] == '\t' || d[i] == '\r') {
		i++
		// Indentation is a run of spaces: measure it a word at a time.
		for i+8 <= len(d) {
			x := binary.LittleEndian.Uint64(d[i:]) ^ 0x2020202020202020
			if x != 0 {
				i += bits.TrailingZeros64(x) >> 3
				break
			}
			i += 8
		}
	}
	c.pos = i
}

func (c *checker) value(depth int) error {
	if c.pos >= len(c.data) {
		return c.fail(ErrSyntax, "unexpected end of input")
	}
	switch b := c.data[c.pos]; {
	case b == '{':
		return c.object(depth + 1)
	case b == '[':
		return c.array(depth + 1)
	case b == '"':
		_, _, err := c.str()
		return err
	case b == 't':
		return c.literal("true")
	case b == 'f':
		return c.literal("false")
	case b == 'n':
		return c.literal("null")
	case b == '-' || '0' <= b && b <= '9':
		return c.number()
	default:
		return c.fail(ErrSyntax, fmt.Sprintf("unexpected %s", quoteByte(b)))
	}
}

func quoteByte(b byte) string {
	if b >= 0x20 && b < 0x7f {
		return strconv.QuoteRune(rune(b))
	}
	return fmt.Sprintf("byte 0x%02x", b)
}

func (c *checker) literal(lit string) error {
	if !bytes.HasPrefix(c.data[c.pos:], []byte(lit)) {
		return c.fail(ErrSyntax, "invalid literal")
	}
	c.pos += len(lit)
	return nil
}

// number follows the grammar of RFC 8259 section 6.
func (c *checker) number() error {
	start := c.pos
	d := c.data
	if d[c.pos] == '-' {
		c.pos++
	}
	switch {
	case c.pos < len(d) && d[c.pos] == '0':
		c.pos++
	case c.pos < len(d) && '1' <= d[c.pos] && d[c.pos] <= '9':
		for c.pos < len(d) && '0' <= d[c.pos] && d[c.pos] <= '9' {
			c.pos++
		}
	default:
		c.pos = start
		return c.fail(ErrSyntax, "invalid number")
	}
	if c.pos < len(d) && d[c.pos] == '.' {
		c.pos++
		if c.pos >= len(d) || d[c.pos] < '0' || d[c.pos] > '9' {
			return c.fail(ErrSyntax, "invalid number: no digit after the decimal point")
		}
		for c.pos < len(d) && '0' <= d[c.pos] && d[c.pos] <= '9' {
			c.pos++
		}
	}
	if c.pos < len(d) && (d[c.pos] == 'e' || d[c.pos] == 'E') {
		c.pos++
		if c.pos < len(d) && (d[c.pos] == '+' || d[c.pos] == '-') {
			c.pos++
		}
		if c.pos >= len(d) || d[c.pos] < '0' || d[c.pos] > '9' {
			return c.fail(ErrSyntax, "invalid number: no digit in the exponent")
		}
		for c.pos < len(d) && '0' <= d[c.pos] && d[c.pos] <= '9' {
			c.pos++
		}
	}
	return nil
}

// str checks a string starting at the opening quote and returns its raw
// contents (between the quotes) and whether it holds escapes.
func (c *checker) str() (raw []byte, escaped bool, err error) {
	d := c.data
	c.pos++ // opening quote
	start := c.pos
	for c.pos < len(d) {
		// Printable ASCII is nearly all of a string: skip it in a tight
		// loop before looking at the byte that ended the run.
		i := c.pos
		for i+8 <= len(d) && !special8(binary.LittleEndian.Uint64(d[i:])) {
			i += 8
		}
		for i < len(d) && plainASCII[d[i]] {
			i++
		}
		c.pos = i
		if c.pos >= len(d) {
			break
		}
		b := d[c.pos]
		switch {
		case b == '"':
			raw = d[start:c.pos]
			c.pos++
			return raw, escaped, nil
		case b == '\\':
			escaped = true
			if err := c.escape(); err != nil {
				return nil, false, err
			}
		case b < 0x20:
			return nil, false, c.fail(ErrSyntax, "control character in string")
		case b < utf8.RuneSelf:
			c.pos++
		default:
			r, size := utf8.DecodeRune(d[c.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, c.fail(ErrSyntax, "invalid UTF-8 in string")
			}
			c.pos += size
		}
	}
	return nil, false, c.fail(ErrSyntax, "unterminated string")
}

// plainASCII marks the bytes a string holds as they are: printable ASCII
// other than the quote and the backslash.
var plainASCII = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// special8 reports whether any of eight bytes of a string (as a
// little-endian word) is not plainASCII: a quote, a backslash, a control
// character or a non-ASCII byte. It may report true spuriously after the
// first such byte, never falsely false.
func special8(w uint64) bool {
	const lsb, msb = 0x0101010101010101, 0x8080808080808080
	q := w ^ (lsb * '"')
	b := w ^ (lsb * '\\')
	ctl := (w - lsb*0x20) &^ w // bytes below 0x20
	return ((q-lsb)&^q|(b-lsb)&^b|ctl|w)&msb != 0
}

// shortEscapes maps the byte after the backslash of each two-character
// escape of RFC 8259 section 7 to the byte it stands for; zero for any
// other byte. Check accepts exactly these (and \u), AppendUnescaped decodes
// them.
var shortEscapes = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 'f': '\f', 'n': '\n', 'r': '\r', 't': '\t'}

// escape checks one escape sequence at c.pos (the backslash).
func (c *checker) escape() error {
	d := c.data
	if c.pos+1 >= len(d) {
		return c.fail(ErrSyntax, "unterminated string")
	}
	switch b := d[c.pos+1]; {
	case shortEscapes[b] != 0:
		c.pos += 2
		return nil
	case b == 'u':
		r, ok := hex4(d, c.pos+2)
		if !ok {
			return c.fail(ErrSyntax, `invalid \u escape`)
		}
		c.pos += 6
		if utf16.IsSurrogate(r) {
			// A high surrogate must be followed by an escaped low one.
			if r >= 0xdc00 || c.pos+1 >= len(d) || d[c.pos] != '\\' || d[c.pos+1] != 'u' {
				return c.fail(ErrSyntax, "unpaired surrogate in \\u escape")
			}
			r2, ok := hex4(d, c.pos+2)
			if !ok || r2 < 0xdc00 || r2 > 0xdfff {
				return c.fail(ErrSyntax, "unpaired surrogate in \\u escape")
			}
			c.pos += 6
		}
		return nil
	default:
		return c.fail(ErrSyntax, "invalid escape")
	}
}

func hex4(d []byte, at int) (rune, bool) {
	if at+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, b := range d[at : at+4] {
		r <<= 4
		switch {
		case '0' <= b && b <= '9':
			r |= rune(b - '0')
		case 'a' <= b && b <= 'f':
			r |= rune(b - 'a' + 10)
		case 'A' <= b && b <= 'F':
			r |= rune(b - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// smallObject is how many keys an object holds before duplicate detection
// switches from comparing against each earlier key to a map.
const smallObject = 16

// object checks one object, its members in one pass. It is long on
// purpose: this loop is the hot path of every document cardvault reads, and
// keeping the key decoding, the duplicate check and the recursion in one
// frame is what keeps Check at a few nanoseconds a byte.
func (c *checker) object(depth int) error {
	if depth > c.maxDepth {
		return c.fail(ErrTooDeep, fmt.Sprintf("limit %d", c.maxDepth))
	}
	c.pos++ // {
	c.skipSpace()
	if c.pos < len(c.data) && c.data[c.pos] == '}' {
		c.pos++
		return nil
	}
	// Keys are compared as bytes: an unescaped key aliases the input and
	// costs nothing; only escaped keys and big objects allocate.
	var (
		small [smallObject][]byte
		n     int
		seen  map[string]struct{}
	)
	for {
		if c.pos >= len(c.data) || c.data[c.pos] != '"' {
			return c.fail(ErrSyntax, "expected a string key")
		}
		keyAt := c.pos
		raw, escaped, err := c.str()
		if err != nil {
			return err
		}
		key := raw
		if escaped {
			key = bytes.Clone(c.unescape(raw))
		}
		dup := false
		if seen != nil {
			_, dup = seen[string(key)]
			seen[string(key)] = struct{}{}
		} else {
			for _, k := range small[:n] {
				if bytes.Equal(k, key) {
					dup = true
					break
				}
			}
			if n < smallObject {
				small[n] = key
				n++
			} else {
				seen = make(map[string]struct{}, 2*smallObject)
				for _, k := range small {
					seen[string(k)] = struct{}{}
				}
				seen[string(key)] = struct{}{}
			}
		}
		if dup {
			c.pos = keyAt
			return c.fail(ErrDuplicateKey, strconv.Quote(truncate(string(key), 64)))
		}
		c.skipSpace()
		if c.pos >= len(c.data) || c.data[c.pos] != ':' {
			return c.fail(ErrSyntax, "expected ':' after object key")
		}
		c.pos++
		c.skipSpace()
		c.path = append(c.path, step{key: key, index: -1})
		if err := c.value(depth); err != nil {
			return err
		}
		c.path = c.path[:len(c.path)-1]
		if more, err := c.more('}', "object"); !more {
			return err
		}
	}
}

func (c *checker) array(depth int) error {
	if depth > c.maxDepth {
		return c.fail(ErrTooDeep, fmt.Sprintf("limit %d", c.maxDepth))
	}
	c.pos++ // [
	c.skipSpace()
	if c.pos < len(c.data) && c.data[c.pos] == ']' {
		c.pos++
		return nil
	}
	c.path = append(c.path, step{index: 0})
	for i := 0; ; i++ {
		c.path[len(c.path)-1].index = i
		if err := c.value(depth); err != nil {
			return err
		}
		more, err := c.more(']', "array")
		if err != nil {
			return err
		}
		if !more {
			c.path = c.path[:len(c.path)-1]
			return nil
		}
	}
}

// more reads what follows a member of an object or an element of an
// array: a comma, when another follows (true), or the closing byte. what
// names the container in errors.
func (c *checker) more(closing byte, what string) (bool, error) {
	c.skipSpace()
	if c.pos >= len(c.data) {
		return false, c.fail(ErrSyntax, "unterminated "+what)
	}
	switch c.data[c.pos] {
	case ',':
		c.pos++
		c.skipSpace()
		return true, nil
	case closing:
		c.pos++
		return false, nil
	}
	return false, c.fail(ErrSyntax, fmt.Sprintf("expected ',' or '%c' in %s", closing, what))
}

// unescape decodes the escapes of a string already checked by str.
func (c *checker) unescape(raw []byte) []byte {
	c.scratch = AppendUnescaped(c.scratch[:0], raw)
	return c.scratch
}

// AppendUnescaped appends to dst the decoded form of raw, the bytes between
// the quotes of a JSON string that Check accepted (so every escape is well
// formed and surrogates come in pairs). On other input it does not panic:
// a malformed escape decodes to U+FFFD or is dropped.
func AppendUnescaped(dst, raw []byte) []byte {
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' {
			dst = append(dst, c)
			continue
		}
		i++
		if i >= len(raw) {
			break
		}
		switch b := raw[i]; {
		case shortEscapes[b] != 0:
			dst = append(dst, shortEscapes[b])
		case b == 'u':
			r, ok := hex4(raw, i+1)
			if !ok {
				r = utf8.RuneError
			}
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
				r2, _ := hex4(raw, i+3)
				r = utf16.DecodeRune(r, r2)
				i += 6
			}
			dst = utf8.AppendRune(dst, r)
		default: // malformed: the byte as it is
			dst = append(dst, b)
		}
	}
	return dst
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the message stays valid UTF-8.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
