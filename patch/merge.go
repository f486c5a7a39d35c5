package patch

import (
	"fmt"

	"github.com/cardvault/cardvault/internal/jsonx"
)

// Merge applies an RFC 7396 JSON merge patch to doc with the default
// limits and no policy; see [MergeWith].
func Merge(doc, mergePatch []byte) ([]byte, error) {
	return MergeWith(doc, mergePatch, Options{})
}

// MergeWith applies an RFC 7396 JSON merge patch to doc and returns the
// result in a new slice; doc and mergePatch are never modified. Both must
// be strict JSON (jsonx.Check) within opts.Limits.
//
// The rules are the RFC's: a patch that is not an object replaces the
// document; an object patch merges member by member, recursively, into the
// document (treated as {} if it is not an object); a null member removes
// the member; any other member value is merged into the document's member.
// Objects that a merge creates carry no null members. Arrays are replaced,
// never merged.
//
// Formatting: values the patch does not reach keep their bytes; an object
// the patch merges into is rewritten without whitespace between members.
//
// With opts.Policy set, every member the patch sets or removes must be
// allowed (see [Policy]); a refusal is an [*OpError] with Index -1 and Op
// "merge" whose Path is the member's pointer.
func MergeWith(doc, mergePatch []byte, opts Options) ([]byte, error) {
	lim := opts.Limits.withDefaults()
	if lim.MaxPatchBytes > 0 && len(mergePatch) > lim.MaxPatchBytes {
		return nil, fmt.Errorf("patch: %w: merge patch of %d bytes, limit %d", ErrTooLarge, len(mergePatch), lim.MaxPatchBytes)
	}
	if lim.MaxDocumentBytes > 0 && len(doc) > lim.MaxDocumentBytes {
		return nil, fmt.Errorf("patch: %w: document of %d bytes, limit %d", ErrTooLarge, len(doc), lim.MaxDocumentBytes)
	}
	if err := jsonx.Check(mergePatch, jsonx.Limits{MaxDepth: lim.MaxDepth}); err != nil {
		return nil, checkError("merge patch", ErrInvalidPatch, err)
	}
	if err := jsonx.Check(doc, jsonx.Limits{MaxDepth: lim.MaxDepth}); err != nil {
		return nil, checkError("document", ErrInvalidDocument, err)
	}
	ds := skipSpace(doc, 0)
	ps := skipSpace(mergePatch, 0)
	m := merger{doc: doc, patch: mergePatch, policy: opts.Policy}
	out, err := m.merge(make([]byte, 0, len(doc)+len(mergePatch)), span{ds, trimSpaceEnd(doc)}, true, span{ps, trimSpaceEnd(mergePatch)}, nil)
	if err != nil {
		return nil, err
	}
	// The result nests no deeper than the document or the patch and is no
	// longer than both together, so only the size limit can be crossed.
	if lim.MaxDocumentBytes > 0 && len(out) > lim.MaxDocumentBytes {
		return nil, fmt.Errorf("patch: %w: the result would be larger than %d bytes", ErrTooLarge, lim.MaxDocumentBytes)
	}
	return out, nil
}

// merger holds the inputs of one MergeWith.
type merger struct {
	doc, patch []byte
	policy     *Policy
	// scratch unescapes member names for policy pointers.
	scratch []byte
}

// merge appends MergePatch(target, p) of RFC 7396 section 2 to out.
// hasTarget is false where the document has no value; ptr is the location,
// tracked only when a policy needs it.
func (m *merger) merge(out []byte, target span, hasTarget bool, p span, ptr Pointer) ([]byte, error) {
	pv := m.patch[p.start:p.end]
	targetIsObject := hasTarget && m.doc[target.start] == '{'
	if pv[0] != '{' || !targetIsObject {
		// The patch replaces the value here as a whole (with nulls
		// stripped from an object patch).
		if err := m.check(ptr); err != nil {
			return nil, err
		}
		if pv[0] != '{' {
			return append(out, pv...), nil
		}
		return m.stripNulls(out, pv), nil
	}
	var tBuf, pBuf [smallObject]objectMember
	tm := appendMembers(tBuf[:0], m.doc[target.start:target.end])
	pm := appendMembers(pBuf[:0], pv)
	used := make([]bool, len(pm))
	find := m.finder(pm, p.start)

	out = append(out, '{')
	first := true
	sep := func() {
		if !first {
			out = append(out, ',')
		}
		first = false
	}
	for _, t := range tm {
		key := m.doc[target.start+t.key.start : target.start+t.key.end]
		k := find(key)
		if k < 0 { // untouched: copy the member as it is
			sep()
			out = append(out, m.doc[target.start+t.key.start-1:target.start+t.value.end]...)
			continue
		}
		used[k] = true
		val := pm[k].value
		child := m.childPtr(ptr, key)
		if pv[val.start] == 'n' { // null removes
			if err := m.check(child); err != nil {
				return nil, err
			}
			continue
		}
		sep()
		out = append(out, m.doc[target.start+t.key.start-1:target.start+t.key.end+1]...)
		out = append(out, ':')
		var err error
		out, err = m.merge(out, span{target.start + t.value.start, target.start + t.value.end}, true,
			span{p.start + val.start, p.start + val.end}, child)
		if err != nil {
			return nil, err
		}
	}
	for k, pmk := range pm {
		if used[k] {
			continue
		}
		key := pv[pmk.key.start:pmk.key.end]
		child := m.childPtr(ptr, key)
		if pv[pmk.value.start] == 'n' { // removing what is not there
			if err := m.check(child); err != nil {
				return nil, err
			}
			continue
		}
		sep()
		out = append(out, pv[pmk.key.start-1:pmk.key.end+1]...)
		out = append(out, ':')
		var err error
		out, err = m.merge(out, span{}, false, span{p.start + pmk.value.start, p.start + pmk.value.end}, child)
		if err != nil {
			return nil, err
		}
	}
	return append(out, '}'), nil
}

// finder returns a function that gives the index of the patch member whose
// name equals a raw (escaped) document key, or -1.
func (m *merger) finder(pm []objectMember, base int) func(key []byte) int {
	if len(pm) <= smallObject {
		return func(key []byte) int {
			for k, member := range pm {
				if rawStringsEqual(key, m.patch[base+member.key.start:base+member.key.end]) {
					return k
				}
			}
			return -1
		}
	}
	index := make(map[string]int, len(pm))
	for k, member := range pm {
		index[string(jsonx.AppendUnescaped(nil, m.patch[base+member.key.start:base+member.key.end]))] = k
	}
	return func(key []byte) int {
		m.scratch = jsonx.AppendUnescaped(m.scratch[:0], key)
		if k, ok := index[string(m.scratch)]; ok {
			return k
		}
		return -1
	}
}

// stripNulls appends the object patch o with its null members removed,
// recursively: what MergePatch({}, o) is.
func (m *merger) stripNulls(out, o []byte) []byte {
	var buf [smallObject]objectMember
	out = append(out, '{')
	first := true
	for _, member := range appendMembers(buf[:0], o) {
		v := o[member.value.start:member.value.end]
		if v[0] == 'n' {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(out, o[member.key.start-1:member.key.end+1]...)
		out = append(out, ':')
		if v[0] == '{' {
			out = m.stripNulls(out, v)
		} else {
			out = append(out, v...)
		}
	}
	return append(out, '}')
}

// childPtr extends ptr by a raw member name, when a policy needs pointers.
func (m *merger) childPtr(ptr Pointer, rawKey []byte) Pointer {
	if m.policy == nil {
		return nil
	}
	child := make(Pointer, len(ptr)+1)
	copy(child, ptr)
	child[len(ptr)] = string(jsonx.AppendUnescaped(nil, rawKey))
	return child
}

// check applies the policy to one location the merge writes.
func (m *merger) check(ptr Pointer) error {
	if err := m.policy.check(ptr); err != nil {
		return &OpError{Index: -1, Op: "merge", Path: ptr.String(), Err: err}
	}
	return nil
}
