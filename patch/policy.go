package patch

import (
	"fmt"
)

// Policy says which locations of a document a patch may name. Patterns are
// JSON Pointers in which a token "*" matches any one token (any array
// index, "-" included, or any member name). A nil *Policy allows
// everything.
//
// Every pointer an operation names is checked — path and from, for every
// op, test included, because a test lets its caller probe a value, and a
// copy or move from a location reads (and for move removes) it:
//
//   - deny: a pointer is refused when it overlaps a deny pattern, that is
//     when either is a prefix of the other. So denying /source/cardNumber
//     refuses replacing /source/cardNumber, adding /source/cardNumber/x,
//     and replacing, removing, moving, copying or testing /source or the
//     root, all of which would change or reveal the card number.
//   - allow: when there are allow patterns, a pointer must be at or under
//     one of them: allowing /customer permits /customer and
//     /customer/firstName but not the root.
//
// A deny pattern that names one array index (/items/0) is weaker than it
// looks, because adding or removing an earlier element shifts the element
// to another index; deny /items/* or the whole array instead.
//
// For a merge patch ([MergeWith]) the pointers checked are those of the
// members it sets or removes: a member whose value is an object is checked
// member by member when the document already holds an object there, and as
// a whole otherwise.
type Policy struct {
	allow, deny []Pointer
}

// NewPolicy compiles allow and deny patterns (RFC 6901 pointers, "*" as a
// wildcard token). An invalid pattern is an error wrapping
// [ErrInvalidPointer]. Both lists may be empty: an empty allow list allows
// every pointer the deny list does not refuse.
func NewPolicy(allow, deny []string) (*Policy, error) {
	p := &Policy{}
	for _, s := range allow {
		ptr, err := ParsePointer(s)
		if err != nil {
			return nil, fmt.Errorf("policy allow pattern %q: %w", s, err)
		}
		p.allow = append(p.allow, ptr)
	}
	for _, s := range deny {
		ptr, err := ParsePointer(s)
		if err != nil {
			return nil, fmt.Errorf("policy deny pattern %q: %w", s, err)
		}
		p.deny = append(p.deny, ptr)
	}
	return p, nil
}

// check returns nil when the policy lets an operation name ptr, and an
// error wrapping ErrPathNotAllowed otherwise.
func (p *Policy) check(ptr Pointer) error {
	if p == nil {
		return nil
	}
	for _, d := range p.deny {
		if matchPrefix(d, ptr, min(len(d), len(ptr))) {
			return ErrPathNotAllowed
		}
	}
	if len(p.allow) == 0 {
		return nil
	}
	for _, a := range p.allow {
		if len(a) <= len(ptr) && matchPrefix(a, ptr, len(a)) {
			return nil
		}
	}
	return ErrPathNotAllowed
}

// matchPrefix reports whether the first n tokens of pattern match those of
// ptr.
func matchPrefix(pattern, ptr Pointer, n int) bool {
	for i := range n {
		if pattern[i] != "*" && pattern[i] != ptr[i] {
			return false
		}
	}
	return true
}
