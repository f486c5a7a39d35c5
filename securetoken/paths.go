package securetoken

import (
	"strings"
	"unicode/utf8"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/patch"
)

// The resource's schema as a list of JSON Pointers, the data behind the
// PATCH path policy. An array element is written "*" and stands for any
// index (or "-", the end of the array, as RFC 6902 add allows).

// pathSpec is one member of the resource.
type pathSpec struct {
	path      string
	tokens    []string
	sources   []SourceType // nil: every source type
	immutable bool
}

var (
	cardOnly = []SourceType{SourceCard}
	achOnly  = []SourceType{SourceACH}
	padOnly  = []SourceType{SourcePAD}
	bankOnly = []SourceType{SourceACH, SourcePAD}
)

var resourceSchema = buildSchema([]pathSpec{
	{path: "/secureTokenId", immutable: true}, // not in the contract's list; changing it would move the resource
	{path: "/processingTerminalId", immutable: true},
	{path: "/mitAgreement"},
	{path: "/customer"},
	{path: "/customer/firstName"},
	{path: "/customer/lastName"},
	{path: "/customer/dateOfBirth"},
	{path: "/customer/referenceNumber"},
	{path: "/customer/billingAddress"},
	{path: "/customer/billingAddress/address1"},
	{path: "/customer/billingAddress/address2"},
	{path: "/customer/billingAddress/address3"},
	{path: "/customer/billingAddress/city"},
	{path: "/customer/billingAddress/state"},
	{path: "/customer/billingAddress/country"},
	{path: "/customer/billingAddress/postalCode"},
	{path: "/customer/shippingAddress"},
	{path: "/customer/shippingAddress/recipientName"},
	{path: "/customer/shippingAddress/address"},
	{path: "/customer/shippingAddress/address/address1"},
	{path: "/customer/shippingAddress/address/address2"},
	{path: "/customer/shippingAddress/address/address3"},
	{path: "/customer/shippingAddress/address/city"},
	{path: "/customer/shippingAddress/address/state"},
	{path: "/customer/shippingAddress/address/country"},
	{path: "/customer/shippingAddress/address/postalCode"},
	{path: "/customer/contactMethods"},
	{path: "/customer/contactMethods/*"},
	{path: "/customer/contactMethods/*/type"},
	{path: "/customer/contactMethods/*/value"},
	{path: "/customer/notificationLanguage"},
	{path: "/source"},
	{path: "/source/type", immutable: true},
	{path: "/source/cardholderName", sources: cardOnly},
	{path: "/source/cardNumber", sources: cardOnly, immutable: true},
	{path: "/source/expiryDate", sources: cardOnly},
	{path: "/source/cardType", sources: cardOnly, immutable: true},
	{path: "/source/currency", sources: cardOnly, immutable: true},
	{path: "/source/debit", sources: cardOnly, immutable: true},
	{path: "/source/surcharging", sources: cardOnly, immutable: true},
	{path: "/source/surcharging/allowed", sources: cardOnly, immutable: true},
	{path: "/source/surcharging/amount", sources: cardOnly, immutable: true},
	{path: "/source/surcharging/percentage", sources: cardOnly, immutable: true},
	{path: "/source/surcharging/disclosure", sources: cardOnly, immutable: true},
	{path: "/source/nameOnAccount", sources: bankOnly},
	{path: "/source/accountNumber", sources: bankOnly, immutable: true},
	{path: "/source/routingNumber", sources: achOnly, immutable: true},
	{path: "/source/transitNumber", sources: padOnly, immutable: true},
	{path: "/source/institutionNumber", sources: padOnly},
	{path: "/source/accountType", sources: bankOnly},
	{path: "/token", immutable: true},
	{path: "/status", immutable: true},
	{path: "/customFields"},
	{path: "/customFields/*"},
	{path: "/customFields/*/name"},
	{path: "/customFields/*/value"},
})

func buildSchema(specs []pathSpec) []pathSpec {
	for i := range specs {
		specs[i].tokens = strings.Split(specs[i].path[1:], "/")
	}
	return specs
}

func (s pathSpec) appliesTo(t SourceType) bool {
	if s.sources == nil || t == "" {
		return true
	}
	for _, x := range s.sources {
		if x == t {
			return true
		}
	}
	return false
}

// matches reports whether the reference tokens toks name this member.
func (s pathSpec) matches(toks []string) bool {
	if len(toks) != len(s.tokens) {
		return false
	}
	for i, t := range s.tokens {
		if t == "*" {
			if !isArrayIndex(toks[i]) {
				return false
			}
		} else if t != toks[i] {
			return false
		}
	}
	return true
}

// isArrayIndex reports whether tok is an RFC 6901 array index (no leading
// zero) or "-".
func isArrayIndex(tok string) bool {
	if tok == "-" || tok == "0" {
		return true
	}
	return tok != "" && tok[0] != '0' && allDigits(tok) && len(tok) <= 9
}

// parsePointer splits an RFC 6901 pointer into unescaped reference tokens
// (package patch's parser); ok is false for a malformed pointer or one
// that is not UTF-8 ("" is the root: no tokens).
func parsePointer(p string) ([]string, bool) {
	if !utf8.ValidString(p) {
		return nil, false
	}
	toks, err := patch.ParsePointer(p)
	if err != nil {
		return nil, false
	}
	if len(toks) == 0 {
		return nil, true
	}
	return toks, true
}

// PathPolicy is the JSON Patch path policy for a secure token whose source
// has one type: which pointers name a member of the resource, and which
// members a patch may not change. The patch is applied to the public
// representation ([Record.PublicJSON]), so reading any member — test, the
// from of copy — reveals nothing the resource does not show.
type PathPolicy struct {
	source SourceType
}

// PolicyFor returns the policy for a resource whose source is of type t. An
// empty t gives the union of every source type's members.
func PolicyFor(t SourceType) PathPolicy { return PathPolicy{source: t} }

// Paths returns every member of the resource, array elements as "*", in
// schema order.
func (p PathPolicy) Paths() []string {
	var out []string
	for _, s := range resourceSchema {
		if s.appliesTo(p.source) {
			out = append(out, s.path)
		}
	}
	return out
}

// ImmutablePaths returns the members no patch may change: those the
// contract lists (processingTerminalId, token, status, source type; a
// card's cardNumber, cardType, currency, debit, surcharging; an ACH
// account's accountNumber and routingNumber; a PAD account's accountNumber
// and transitNumber) and secureTokenId, which the contract does not list but
// which names the resource. Members under an immutable one are immutable.
func (p PathPolicy) ImmutablePaths() []string {
	var out []string
	for _, s := range resourceSchema {
		if s.immutable && s.appliesTo(p.source) && !strings.HasPrefix(s.path, "/source/surcharging/") {
			out = append(out, s.path)
		}
	}
	return out
}

// Exists reports whether ptr names a member of the resource's schema (any
// array index counts; whether the element is there is the patch's
// business).
func (p PathPolicy) Exists(ptr string) bool {
	toks, ok := parsePointer(ptr)
	if !ok {
		return false
	}
	if len(toks) == 0 {
		return true
	}
	return p.find(toks) != nil
}

func (p PathPolicy) find(toks []string) *pathSpec {
	for i := range resourceSchema {
		s := &resourceSchema[i]
		if s.appliesTo(p.source) && s.matches(toks) {
			return s
		}
	}
	return nil
}

// CheckRead returns nil when a patch may read ptr (the path of test, the
// from of copy), or a *cardvault.InvalidError naming ptr and the nearest
// valid path.
func (p PathPolicy) CheckRead(ptr string) error {
	if p.Exists(ptr) {
		return nil
	}
	return p.unknown(ptr)
}

// CheckWrite returns nil when a patch may change ptr (the path of add,
// remove and replace, both paths of move, the path of copy). It returns a
// *cardvault.InvalidError for a pointer that names no member (with the
// nearest valid path), and an [*ImmutableError] for an immutable member, a
// member under one, or a member that holds one (/source, the root):
// rewriting a whole object must not be a way around the policy.
func (p PathPolicy) CheckWrite(ptr string) error {
	if !p.Exists(ptr) {
		return p.unknown(ptr)
	}
	toks, _ := parsePointer(ptr)
	for _, s := range resourceSchema {
		if !s.immutable || !s.appliesTo(p.source) {
			continue
		}
		if prefixMatch(s.tokens, toks) || prefixMatch(toks, s.tokens) {
			e := &ImmutableError{}
			e.add(ptr)
			return e
		}
	}
	return nil
}

// prefixMatch reports whether pattern's tokens begin toks (pattern may
// hold "*"; toks may hold "*" too, when it is itself a pattern).
func prefixMatch(pattern, toks []string) bool {
	if len(pattern) > len(toks) {
		return false
	}
	for i, t := range pattern {
		if t != toks[i] && !(t == "*" && (isArrayIndex(toks[i]) || toks[i] == "*")) && !(toks[i] == "*" && isArrayIndex(t)) {
			return false
		}
	}
	return true
}

func (p PathPolicy) unknown(ptr string) error {
	e := &cardvault.InvalidError{}
	msg := "names no member of a secure token"
	if _, ok := parsePointer(ptr); !ok {
		msg = "is not a JSON Pointer (RFC 6901)"
	}
	if near := p.Nearest(ptr); near != "" {
		msg += "; the nearest valid path is " + near
	}
	addFault(e, ptr, "unknown path", msg)
	return e
}

// NearestPath returns the member of the resource (any source type) closest
// to ptr: ptr itself when it names one, "" when nothing is close. See
// [PathPolicy.Nearest].
func NearestPath(ptr string) string { return PathPolicy{}.Nearest(ptr) }

// maxNearestInput bounds the pointers Nearest compares by edit distance,
// whose cost grows with the product of the lengths.
const maxNearestInput = 256

// Nearest returns the member of the resource closest to ptr, for the hint
// in an "unknown path" error. ptr itself when it names a member; else, in
// order of preference:
//
//  1. the member equal to ptr but for letter case (/customer/LastName);
//  2. the member sharing the longest run of trailing reference tokens with
//     ptr, ties going to the longest run of leading ones (so
//     /shippingAddress/recipientName gives
//     /customer/shippingAddress/recipientName and
//     /source/cardDetails/cardholderName gives /source/cardholderName);
//  3. the member at the smallest edit distance (/customer/lastNme).
//
// An array index in ptr is kept; "*" becomes "0" when ptr has none. ""
// when ptr is too long or too far from every member.
func (p PathPolicy) Nearest(ptr string) string {
	if p.Exists(ptr) {
		return ptr
	}
	if ptr != "" && ptr[0] != '/' {
		ptr = "/" + ptr // a forgotten leading slash
	}
	toks, ok := parsePointer(ptr)
	if !ok || len(toks) == 0 {
		return ""
	}
	// 1. letter case
	for _, s := range resourceSchema {
		if s.appliesTo(p.source) && len(s.tokens) == len(toks) {
			same := true
			for i, t := range s.tokens {
				if !(t == "*" && isArrayIndex(toks[i])) && !strings.EqualFold(t, toks[i]) {
					same = false
					break
				}
			}
			if same {
				return concrete(s.tokens, toks)
			}
		}
	}
	// 2. shared trailing tokens
	var best *pathSpec
	bestSuffix, bestPrefix := 0, 0
	for i := range resourceSchema {
		s := &resourceSchema[i]
		if !s.appliesTo(p.source) {
			continue
		}
		suf := commonRun(s.tokens, toks, true)
		if suf == 0 {
			continue
		}
		pre := commonRun(s.tokens, toks, false)
		if suf > bestSuffix || suf == bestSuffix && pre > bestPrefix {
			best, bestSuffix, bestPrefix = s, suf, pre
		}
	}
	if best != nil {
		return concrete(best.tokens, toks)
	}
	// 3. edit distance
	if len(ptr) > maxNearestInput {
		return ""
	}
	bestDist := -1
	for i := range resourceSchema {
		s := &resourceSchema[i]
		if !s.appliesTo(p.source) {
			continue
		}
		limit := len(ptr) / 2 // see below
		if bestDist >= 0 {
			limit = bestDist - 1
		}
		d := levenshtein(s.path, ptr, limit)
		if d <= limit && (bestDist < 0 || d < bestDist) {
			best, bestDist = s, d
		}
	}
	// A suggestion that rewrites more than half of the pointer is noise
	// (the limit above keeps it out).
	if best == nil {
		return ""
	}
	return concrete(best.tokens, toks)
}

// commonRun counts the reference tokens a and b share at their ends
// (fromEnd) or starts. "*" matches an index; the account holder's name
// matches across variants (nameOnAccount, cardholderName).
func commonRun(pattern, toks []string, fromEnd bool) int {
	n := 0
	for n < len(pattern) && n < len(toks) {
		i, j := n, n
		if fromEnd {
			i, j = len(pattern)-1-n, len(toks)-1-n
		}
		if !sameToken(pattern[i], toks[j]) {
			break
		}
		n++
	}
	return n
}

func sameToken(pattern, tok string) bool {
	switch {
	case pattern == tok:
		return true
	case pattern == "*":
		return isArrayIndex(tok)
	}
	return holderNames[pattern] && holderNames[tok]
}

var holderNames = map[string]bool{"cardholderName": true, "nameOnAccount": true}

// concrete writes a member's pointer with its "*" replaced by the index ptr
// has at that place (when ptr has one there), else "0".
func concrete(pattern, toks []string) string {
	var b strings.Builder
	// Align the end of the pattern with the end of toks, where a suffix
	// match put it.
	off := len(toks) - len(pattern)
	for i, t := range pattern {
		b.WriteByte('/')
		if t == "*" {
			if j := i + off; j >= 0 && j < len(toks) && isArrayIndex(toks[j]) {
				t = toks[j]
			} else if i < len(toks) && isArrayIndex(toks[i]) {
				t = toks[i]
			} else {
				t = "0"
			}
		}
		b.WriteString(patch.EscapeToken(t))
	}
	return b.String()
}

// levenshtein is the edit distance between a and b in bytes, ASCII letters
// compared without case, or some number over limit as soon as the distance
// must exceed it. b is at most maxNearestInput bytes long (Nearest checks),
// so the two rows live on the stack.
func levenshtein(a, b string, limit int) int {
	var rows [2][maxNearestInput + 2]int
	prev, cur := rows[0][:len(b)+1], rows[1][:len(b)+1]
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		best := i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if lower(a[i-1]) == lower(b[j-1]) {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			best = min(best, cur[j])
		}
		if best > limit {
			// Every later row is at least as far.
			return best
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
