package patch

import (
	"bytes"
	"math/big"

	"github.com/cardvault/cardvault/internal/jsonx"
)

// equalJSON reports whether two JSON values (no surrounding whitespace,
// strict JSON) are equal as RFC 6902 section 4.6 defines it: same type;
// strings equal after unescaping; numbers numerically equal (1, 1.0, 1e0
// and 10e-1 are one number, exactly, at any size); arrays equal element by
// element in order; objects with the same members regardless of order;
// literals the same literal.
func equalJSON(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	ka, kb := kindOf(a[0]), kindOf(b[0])
	if ka != kb {
		return false
	}
	switch ka {
	case '"':
		return rawStringsEqual(a[1:len(a)-1], b[1:len(b)-1])
	case '0':
		return equalNumbers(a, b)
	case '[':
		return equalArrays(a, b)
	case '{':
		return equalObjects(a, b)
	default: // true false null
		return bytes.Equal(a, b)
	}
}

// kindOf classifies a value by its first byte.
func kindOf(c byte) byte {
	if c == '-' || c >= '0' && c <= '9' {
		return '0'
	}
	return c
}

func equalArrays(a, b []byte) bool {
	i, j := skipSpace(a, 1), skipSpace(b, 1)
	for {
		endA, endB := i >= len(a) || a[i] == ']', j >= len(b) || b[j] == ']'
		if endA || endB {
			return endA && endB
		}
		ea, eb := skipValue(a, i), skipValue(b, j)
		if !equalJSON(a[i:ea], b[j:eb]) {
			return false
		}
		i, j = skipSpace(a, ea), skipSpace(b, eb)
		if i < len(a) && a[i] == ',' {
			i = skipSpace(a, i+1)
		}
		if j < len(b) && b[j] == ',' {
			j = skipSpace(b, j+1)
		}
	}
}

// span is a part of a byte slice.
type span struct{ start, end int }

// objectMember is one member of an object: its key's contents (between the
// quotes, as written) and its value.
type objectMember struct {
	key   span
	value span
}

// appendMembers appends the members of the object o to ms.
func appendMembers(ms []objectMember, o []byte) []objectMember {
	i := skipSpace(o, 1)
	for i < len(o) && o[i] == '"' {
		ke := skipString(o, i)
		vs := skipSpace(o, skipSpace(o, ke)+1)
		ve := skipValue(o, vs)
		ms = append(ms, objectMember{key: span{i + 1, ke - 1}, value: span{vs, ve}})
		i = skipSpace(o, ve)
		if i < len(o) && o[i] == ',' {
			i = skipSpace(o, i+1)
		}
	}
	return ms
}

// smallObject is how many members an object may have before lookups in it
// go through a map instead of a scan of every member.
const smallObject = 16

func equalObjects(a, b []byte) bool {
	var bufA, bufB [smallObject]objectMember
	ma, mb := appendMembers(bufA[:0], a), appendMembers(bufB[:0], b)
	if len(ma) != len(mb) {
		return false
	}
	// Both objects passed jsonx.Check, so neither repeats a key: same
	// count and every key of a found in b with an equal value is equality.
	if len(mb) > smallObject {
		index := make(map[string]span, len(mb))
		var scratch []byte
		for _, m := range mb {
			scratch = jsonx.AppendUnescaped(scratch[:0], b[m.key.start:m.key.end])
			index[string(scratch)] = m.value
		}
		for _, m := range ma {
			scratch = jsonx.AppendUnescaped(scratch[:0], a[m.key.start:m.key.end])
			v, ok := index[string(scratch)]
			if !ok || !equalJSON(a[m.value.start:m.value.end], b[v.start:v.end]) {
				return false
			}
		}
		return true
	}
	for _, m := range ma {
		found := false
		for _, n := range mb {
			if rawStringsEqual(a[m.key.start:m.key.end], b[n.key.start:n.key.end]) {
				if !equalJSON(a[m.value.start:m.value.end], b[n.value.start:n.value.end]) {
					return false
				}
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// decimal is a JSON number reduced to sign, significant digits and a
// decimal exponent, so that equal values have equal decimals:
// value = 0.DIGITS × 10^exp, DIGITS without leading or trailing zeros.
type decimal struct {
	neg    bool
	digits []byte // empty for zero
	exp    int64
	bigExp *big.Int // set instead of exp when the exponent does not fit
}

// parseDecimal reduces a JSON number (valid per RFC 8259) to a decimal.
// digits is built in buf when the number has a fraction.
func parseDecimal(n []byte, buf []byte) decimal {
	var d decimal
	i := 0
	if i < len(n) && n[i] == '-' {
		d.neg = true
		i++
	}
	intStart := i
	for i < len(n) && n[i] >= '0' && n[i] <= '9' {
		i++
	}
	intPart := n[intStart:i]
	var frac []byte
	if i < len(n) && n[i] == '.' {
		i++
		fs := i
		for i < len(n) && n[i] >= '0' && n[i] <= '9' {
			i++
		}
		frac = n[fs:i]
	}
	var expDigits []byte
	expNeg := false
	if i < len(n) && (n[i] == 'e' || n[i] == 'E') {
		i++
		if i < len(n) && (n[i] == '+' || n[i] == '-') {
			expNeg = n[i] == '-'
			i++
		}
		expDigits = n[i:]
	}
	// The digits of int and frac together, in one slice.
	digits := intPart
	if len(frac) > 0 {
		digits = append(append(buf[:0], intPart...), frac...)
	}
	// Point position: value = 0.digits × 10^(len(intPart) + e).
	lead := 0
	for lead < len(digits) && digits[lead] == '0' {
		lead++
	}
	digits = digits[lead:]
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
	}
	if len(digits) == 0 {
		return decimal{} // zero, and -0 is zero
	}
	d.digits = digits
	shift := int64(len(intPart) - lead)
	for len(expDigits) > 1 && expDigits[0] == '0' {
		expDigits = expDigits[1:]
	}
	if len(expDigits) <= 15 { // fits an int64 with room for shift
		var e int64
		for _, c := range expDigits {
			e = e*10 + int64(c-'0')
		}
		if expNeg {
			e = -e
		}
		d.exp = e + shift
		return d
	}
	e, _ := new(big.Int).SetString(string(expDigits), 10)
	if expNeg {
		e.Neg(e)
	}
	d.bigExp = e.Add(e, big.NewInt(shift))
	return d
}

func equalNumbers(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var bufA, bufB [64]byte
	da, db := parseDecimal(a, bufA[:0]), parseDecimal(b, bufB[:0])
	if da.neg != db.neg || !bytes.Equal(da.digits, db.digits) {
		return false
	}
	switch {
	case da.bigExp == nil && db.bigExp == nil:
		return da.exp == db.exp
	case da.bigExp != nil && db.bigExp != nil:
		return da.bigExp.Cmp(db.bigExp) == 0
	case da.bigExp != nil:
		return da.bigExp.Cmp(big.NewInt(db.exp)) == 0
	default:
		return db.bigExp.Cmp(big.NewInt(da.exp)) == 0
	}
}
