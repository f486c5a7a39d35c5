package patch

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"unicode/utf8"

	"github.com/cardvault/cardvault/internal/jsonx"
)

// This file is the byte scanner that finds and splices values. It only ever
// sees JSON that jsonx.Check accepted (or that this package produced from
// such JSON), so it skips over values without validating them again; it
// still never indexes past the end, so that a bug shows up as a wrong
// answer caught by the fuzzers rather than a panic.

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(d []byte, i int) int {
	for i < len(d) {
		switch d[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// trimSpaceEnd returns the index just past the last non-whitespace byte.
func trimSpaceEnd(d []byte) int {
	i := len(d)
	for i > 0 && (d[i-1] == ' ' || d[i-1] == '\n' || d[i-1] == '\t' || d[i-1] == '\r') {
		i--
	}
	return i
}

// skipString returns the index just past the string whose opening quote is
// at i. Strings in JSON documents are short, so a plain loop beats
// bytes.IndexByte's call overhead here.
func skipString(d []byte, i int) int {
	end, _ := scanString(d, i)
	return end
}

// scanString is skipString that also reports whether the string holds an
// escape.
func scanString(d []byte, i int) (end int, escaped bool) {
	i++
	for i+8 <= len(d) {
		w := binary.LittleEndian.Uint64(d[i:])
		q := w ^ (lsb * '"')
		b := w ^ (lsb * '\\')
		m := ((q-lsb)&^q | (b-lsb)&^b) & msb
		if m == 0 {
			i += 8
			continue
		}
		i += bits.TrailingZeros64(m) >> 3 // the lowest flag is exact
		if d[i] == '"' {
			return i + 1, escaped
		}
		escaped = true
		i += 2 // the backslash and the escaped byte
	}
	for ; i < len(d); i++ {
		switch d[i] {
		case '"':
			return i + 1, escaped
		case '\\':
			escaped = true
			i++
		}
	}
	return len(d), escaped
}

const (
	lsb = 0x0101010101010101 // the low bit of each byte of a word
	msb = 0x8080808080808080 // the high bit of each byte of a word
)

// containerByte marks the bytes skipNested must look at inside an array or
// object; everything else is skipped in a tight loop.
var containerByte = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

// skipValue returns the index just past the value that starts at i.
func skipValue(d []byte, i int) int {
	if i >= len(d) {
		return i
	}
	switch d[i] {
	case '"':
		return skipString(d, i)
	case '{', '[':
		end, _ := skipNested(d, i)
		return end
	default: // number, true, false, null
		for i < len(d) {
			switch d[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// valueDepth returns how deeply arrays and objects nest in the value v,
// counted as jsonx.Check counts: 0 for a scalar, 1 for [] or {}.
func valueDepth(v []byte) int {
	_, deepest := skipNested(v, 0)
	return deepest
}

// skipNested walks d from i, where an array or object starts, and returns
// the index just past the bracket that closes it and how deeply arrays and
// objects nest in it. From a scalar it walks to the end of d and finds no
// nesting. It is the one walk over nested values that skipValue and
// valueDepth share: strings are skipped whole, so that a bracket inside one
// does not count.
func skipNested(d []byte, i int) (end, deepest int) {
	depth := 0
	for i < len(d) {
		c := d[i]
		if !containerByte[c] {
			i++
			continue
		}
		switch c {
		case '"':
			i = skipString(d, i)
			continue
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		default: // } ]
			depth--
			if depth == 0 {
				return i + 1, deepest
			}
		}
		i++
	}
	return i, deepest
}

// slot is where a reference token leads inside one container (the
// "parent"), with what add and remove need to splice there.
type slot struct {
	found      bool
	start, end int // the value's span when found
	// cutStart, cutEnd is the span remove deletes: the member or element
	// with one neighbouring comma (and the whitespace around it).
	cutStart, cutEnd int
	// insertAt is where add writes a new member or element; text written
	// there is prefixed with "," when comma is commaBefore and followed by
	// "," when commaAfter.
	insertAt int
	comma    int
}

const (
	commaNone = iota
	commaBefore
	commaAfter
)

// member finds the member named key in the object that starts at o. Unless
// full, a found slot has only its start: finding the end of a value means
// scanning all of it, which a step through the value does not need.
func member(d []byte, o int, key string, full bool) slot {
	i := skipSpace(d, o+1)
	if i < len(d) && d[i] == '}' {
		return slot{insertAt: o + 1}
	}
	prevEnd := -1
	for i < len(d) && d[i] == '"' {
		keyStart := i
		keyEnd, escaped := scanString(d, i)
		vs := skipSpace(d, skipSpace(d, keyEnd)+1) // past ':'
		raw := d[keyStart+1 : keyEnd-1]
		match := escaped && keyEquals(raw, key) || !escaped && string(raw) == key
		if match && !full {
			return slot{found: true, start: vs}
		}
		ve := skipValue(d, vs)
		i = skipSpace(d, ve)
		last := i >= len(d) || d[i] != ','
		if match {
			s := slot{found: true, start: vs, end: ve}
			switch {
			case !last:
				s.cutStart, s.cutEnd = keyStart, skipSpace(d, i+1)
			case prevEnd >= 0:
				s.cutStart, s.cutEnd = prevEnd, ve
			default: // the only member: leave {}
				s.cutStart, s.cutEnd = o+1, i
			}
			return s
		}
		if last {
			return slot{insertAt: ve, comma: commaBefore}
		}
		prevEnd = ve
		i = skipSpace(d, i+1)
	}
	return slot{insertAt: o + 1} // not reached for valid JSON
}

// element finds element n of the array that starts at a. When n is the
// array's length, or n is -1 (the "-" token), the slot is not found but
// insertAt appends. When n is past the length, ok is false. full is as for
// member.
func element(d []byte, a, n int, full bool) (s slot, length int, ok bool) {
	i := skipSpace(d, a+1)
	if i < len(d) && d[i] == ']' {
		return slot{insertAt: a + 1}, 0, n <= 0
	}
	prevEnd := -1
	for k := 0; i < len(d); k++ {
		vs := i
		if k == n && !full {
			return slot{found: true, start: vs}, k + 1, true
		}
		ve := skipValue(d, vs)
		i = skipSpace(d, ve)
		last := i >= len(d) || d[i] != ','
		if k == n {
			s := slot{found: true, start: vs, end: ve, insertAt: vs, comma: commaAfter}
			switch {
			case !last:
				s.cutStart, s.cutEnd = vs, skipSpace(d, i+1)
			case prevEnd >= 0:
				s.cutStart, s.cutEnd = prevEnd, ve
			default:
				s.cutStart, s.cutEnd = a+1, i
			}
			return s, k + 1, true
		}
		if last {
			return slot{insertAt: ve, comma: commaBefore}, k + 1, n < 0 || n == k+1
		}
		prevEnd = ve
		i = skipSpace(d, i+1)
	}
	return slot{}, 0, false // not reached for valid JSON
}

// keyEquals reports whether the JSON string contents raw (between the
// quotes, possibly escaped) decode to key.
func keyEquals(raw []byte, key string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == key
	}
	// An escape makes the raw form at least as long as the decoded one.
	if len(key) > len(raw) {
		return false
	}
	var buf [128]byte
	return string(jsonx.AppendUnescaped(buf[:0], raw)) == key
}

// rawStringsEqual reports whether two JSON string contents (between the
// quotes, possibly escaped) decode to the same string.
func rawStringsEqual(a, b []byte) bool {
	ea, eb := bytes.IndexByte(a, '\\') >= 0, bytes.IndexByte(b, '\\') >= 0
	switch {
	case !ea && !eb:
		return bytes.Equal(a, b)
	case !ea:
		return keyEquals(b, string(a))
	case !eb:
		return keyEquals(a, string(b))
	}
	var bufA, bufB [128]byte
	return bytes.Equal(jsonx.AppendUnescaped(bufA[:0], a), jsonx.AppendUnescaped(bufB[:0], b))
}

// appendQuoted appends s as a JSON string. s comes from a pointer token, so
// it is valid UTF-8 when it came from a patch; invalid bytes are written as
// U+FFFD all the same, so that the output stays valid JSON.
func appendQuoted(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
