package patch

// This file keeps, while one patch applies, where the members or elements
// of the containers it walked through start. The ops of a patch tend to
// share prefixes (/customer/..., /data/37/...), and without this each op
// would scan the document from the root again: for an element deep in a
// big array that is most of the document, per op. Splices keep the
// recorded positions right (shifting them) or drop what they can no longer
// vouch for.

// maxIndexes bounds how many containers are remembered at once.
const maxIndexes = 8

// indexMemory is allocated once per application, on the first step into a
// container: the indexes and first windows of kids for them.
type indexMemory struct {
	indexes [maxIndexes]containerIndex
	kids    [2 * kidWindow]kid
	used    int // kids handed out
}

// kidWindow is how many kids an index holds before its slice grows on its
// own.
const kidWindow = 16

// kidSlice returns an empty slice with room for kidWindow kids, from mem
// while it lasts.
func (mem *indexMemory) kidSlice() []kid {
	if mem.used+kidWindow > len(mem.kids) {
		return make([]kid, 0, kidWindow)
	}
	k := mem.kids[mem.used : mem.used : mem.used+kidWindow]
	mem.used += kidWindow
	return k
}

// kid is one member or element of an indexed container.
type kid struct {
	keyStart, keyEnd int // a member's name, between its quotes
	escaped          bool
	value            int // where the value starts
}

// containerIndex is what is known of one container: its first kids in
// order, and where scanning for the next one resumes.
type containerIndex struct {
	start  int // the '{' or '['
	object bool
	kids   []kid
	resume int  // the next unrecorded kid, or the closing bracket
	done   bool // every kid is recorded
	// pending: resume is not known yet; it is past the last kid's value,
	// which is skipped only when a kid after it is wanted (the kid a step
	// stops at is often most of the document).
	pending bool
}

// indexFor returns the index of the container at start, making it if new.
func (s *applier) indexFor(start int) *containerIndex {
	for i := range s.indexes {
		if s.indexes[i].start == start {
			return &s.indexes[i]
		}
	}
	if s.mem == nil {
		s.mem = new(indexMemory)
		s.indexes = s.mem.indexes[:0]
	}
	x := containerIndex{start: start, object: s.buf[start] == '{', resume: skipSpace(s.buf, start+1)}
	if len(s.indexes) < maxIndexes {
		x.kids = s.mem.kidSlice()
		s.indexes = append(s.indexes, x)
		return &s.indexes[len(s.indexes)-1]
	}
	// Full: reuse the oldest slot (and its kids' memory).
	s.evict = (s.evict + 1) % maxIndexes
	old := &s.indexes[s.evict]
	x.kids = old.kids[:0]
	*old = x
	return old
}

// next records the kid at x.resume; it reports false at the end.
func (s *applier) next(x *containerIndex) bool {
	if x.done {
		return false
	}
	d := s.buf
	if x.pending {
		x.pending = false
		i := skipSpace(d, skipValue(d, x.kids[len(x.kids)-1].value))
		if i >= len(d) || d[i] != ',' {
			x.resume, x.done = i, true
			return false
		}
		x.resume = skipSpace(d, i+1)
	}
	r := x.resume
	if r >= len(d) || d[r] == '}' || d[r] == ']' {
		x.done = true
		return false
	}
	k := kid{value: r}
	if x.object {
		end, escaped := scanString(d, r)
		k = kid{keyStart: r + 1, keyEnd: end - 1, escaped: escaped, value: skipSpace(d, skipSpace(d, end)+1)}
	}
	x.kids = append(x.kids, k)
	x.pending = true
	return true
}

// indexFrom is the document size from which an application keeps
// indexes: below it, scanning a container again costs less than keeping
// its index.
var indexFrom = 8 << 10

// step returns where the value named by token i of ptr starts inside the
// container at start, for a step through it (no end, no "-").
func (s *applier) step(ptr Pointer, i, start int) (int, error) {
	tok := ptr[i]
	if !s.useIndex {
		sl, err := s.child(ptr, i, start, tok, false, false)
		if err == nil && !sl.found {
			err = notFound(ptr, i, s.buf[start])
		}
		return sl.start, err
	}
	switch s.buf[start] {
	case '{':
		x := s.indexFor(start)
		for _, k := range x.kids {
			if s.keyIs(k, tok) {
				return k.value, nil
			}
		}
		for s.next(x) {
			if k := x.kids[len(x.kids)-1]; s.keyIs(k, tok) {
				return k.value, nil
			}
		}
		return 0, notFound(ptr, i, '{')
	case '[':
		n, ok := arrayIndex(tok)
		if !ok {
			return 0, notAnIndex(ptr, i)
		}
		x := s.indexFor(start)
		for len(x.kids) <= n && s.next(x) {
		}
		if n < len(x.kids) {
			return x.kids[n].value, nil
		}
		return 0, outOfRange(ptr, i, n, len(x.kids))
	default:
		return 0, notContainer(ptr, i)
	}
}

func (s *applier) keyIs(k kid, tok string) bool {
	raw := s.buf[k.keyStart:k.keyEnd]
	if k.escaped {
		return keyEquals(raw, tok)
	}
	return string(raw) == tok
}

// reindex updates the indexes for a splice that replaced buf[start:end]
// and moved everything after it by delta. changed is the container whose
// members or elements the splice added or removed, or -1 when the splice
// replaced one value.
func (s *applier) reindex(start, end, delta, changed int) {
	shift := func(p *int) bool { // false: p was inside the replaced bytes
		switch {
		case *p >= end:
			*p += delta
		case *p > start || (*p == start && changed >= 0):
			return false
		}
		return true
	}
	kept := s.indexes[:0]
	for _, x := range s.indexes {
		ok := x.start != changed && (x.start < start || x.start >= end)
		if ok {
			ok = shift(&x.start) && (x.pending || shift(&x.resume))
		}
		for i := 0; ok && i < len(x.kids); i++ {
			k := &x.kids[i]
			ok = shift(&k.value) && (!x.object || shift(&k.keyStart) && shift(&k.keyEnd))
		}
		if ok {
			kept = append(kept, x)
		}
	}
	s.indexes = kept
	s.evict = 0
}
