package patch

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cardvault/cardvault/internal/jsonx"
)

// Default limits, used for a zero field of [Limits].
const (
	DefaultMaxPatchBytes    = 1 << 20  // 1 MiB
	DefaultMaxOps           = 1000     // operations in one patch
	DefaultMaxDepth         = 64       // nesting of arrays and objects
	DefaultMaxDocumentBytes = 16 << 20 // 16 MiB, the document and the result
	DefaultMaxCopyBytes     = 1 << 20  // 1 MiB copied by all copy ops together
)

// Limits bound the work a patch can cause. A zero field means its default;
// a negative field means no limit, except MaxDepth, which is always
// enforced (a negative MaxDepth means the default). Exceeding a limit is
// an error wrapping [ErrTooLarge], and nothing is built past it: a patch
// of twenty copies that each double the document fails at the copy that
// crosses MaxCopyBytes.
type Limits struct {
	// MaxPatchBytes bounds the patch (JSON Patch or merge patch) in bytes.
	MaxPatchBytes int
	// MaxOps bounds the number of operations of a JSON Patch.
	MaxOps int
	// MaxDepth bounds how deeply arrays and objects nest, in the document,
	// in each value of the patch, and in the result after every operation.
	MaxDepth int
	// MaxDocumentBytes bounds the document and the result after every
	// operation.
	MaxDocumentBytes int
	// MaxCopyBytes bounds the bytes that copy operations duplicate, summed
	// over one application of a patch. (Other operations cannot make a
	// document grow by more than the patch's own size.)
	MaxCopyBytes int
}

// withDefaults resolves zero fields to defaults and negative ones to "no
// limit" (represented by 0 from here on, except for MaxDepth).
func (l Limits) withDefaults() Limits {
	resolve := func(v, def int) int {
		switch {
		case v == 0:
			return def
		case v < 0:
			return 0
		}
		return v
	}
	l.MaxPatchBytes = resolve(l.MaxPatchBytes, DefaultMaxPatchBytes)
	l.MaxOps = resolve(l.MaxOps, DefaultMaxOps)
	l.MaxDocumentBytes = resolve(l.MaxDocumentBytes, DefaultMaxDocumentBytes)
	l.MaxCopyBytes = resolve(l.MaxCopyBytes, DefaultMaxCopyBytes)
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	return l
}

// Options configure [DecodeWith] and [MergeWith]. The zero Options are the
// default limits and no policy.
type Options struct {
	Limits Limits
	// Policy, when not nil, restricts the pointers a patch may name.
	Policy *Policy
}

// The operations of RFC 6902.
type opKind uint8

const (
	opAdd opKind = iota + 1
	opRemove
	opReplace
	opMove
	opCopy
	opTest
)

var opNames = [...]string{opAdd: "add", opRemove: "remove", opReplace: "replace", opMove: "move", opCopy: "copy", opTest: "test"}

func (k opKind) String() string { return opNames[k] }

// operation is one decoded operation.
type operation struct {
	kind       opKind
	path, from Pointer
	// pathRaw and fromRaw are the pointers as written, for messages.
	pathRaw, fromRaw string
	// value is the raw JSON of "value" (add, replace, test); valueDepth
	// its nesting depth.
	value      string
	valueDepth int
}

// Patch is a decoded RFC 6902 JSON Patch, ready to apply to any number of
// documents; it is safe for concurrent use. The zero Patch changes
// nothing.
type Patch struct {
	ops    []operation
	limits Limits
	// growth is how much the patch's own values can add to a document,
	// used to size the result once.
	growth int
}

// Apply decodes ops as a JSON Patch with the default limits and no policy
// and applies it to doc. It is Decode followed by [Patch.Apply].
func Apply(doc, ops []byte) ([]byte, error) {
	p, err := DecodeWith(ops, Options{})
	if err != nil {
		return nil, err
	}
	return p.Apply(doc)
}

// Decode decodes a JSON Patch with the default limits and no policy; see
// [DecodeWith].
func Decode(ops []byte) (Patch, error) { return DecodeWith(ops, Options{}) }

// DecodeWith decodes a JSON Patch (RFC 6902): a JSON array of operation
// objects. The patch must be strict JSON (jsonx.Check: no duplicate
// members, so no operation with two "op"s, valid UTF-8) within
// opts.Limits. Members other than op, path, from and value are ignored, as
// the RFC requires. Every pointer is parsed, and checked against
// opts.Policy, here: a patch that decodes can fail later only because of
// the document it meets.
//
// Errors about one operation are [*OpError]s; errors about the whole patch
// wrap [ErrInvalidPatch] or [ErrTooLarge].
func DecodeWith(ops []byte, opts Options) (Patch, error) {
	lim := opts.Limits.withDefaults()
	if lim.MaxPatchBytes > 0 && len(ops) > lim.MaxPatchBytes {
		return Patch{}, fmt.Errorf("patch: %w: patch of %d bytes, limit %d", ErrTooLarge, len(ops), lim.MaxPatchBytes)
	}
	// The patch nests two levels (array, operation) above its values.
	if err := jsonx.Check(ops, jsonx.Limits{MaxDepth: lim.MaxDepth + 2}); err != nil {
		return Patch{}, checkError("patch", ErrInvalidPatch, err)
	}
	// One copy of the patch: every value, raw pointer and unescaped
	// pointer token below is a substring of it, so the Patch owns its
	// memory and the caller may reuse ops.
	src := string(ops)
	i := skipSpace(ops, 0)
	if ops[i] != '[' {
		return Patch{}, fmt.Errorf("patch: %w: not a JSON array", ErrInvalidPatch)
	}
	var elems []span
	var buf [16]span
	elems = buf[:0]
	for i = skipSpace(ops, i+1); i < len(ops) && ops[i] != ']'; {
		e := skipValue(ops, i)
		elems = append(elems, span{i, e})
		if lim.MaxOps > 0 && len(elems) > lim.MaxOps {
			return Patch{}, fmt.Errorf("patch: %w: more than %d operations", ErrTooLarge, lim.MaxOps)
		}
		i = skipSpace(ops, e)
		if i < len(ops) && ops[i] == ',' {
			i = skipSpace(ops, i+1)
		}
	}
	p := Patch{ops: make([]operation, len(elems)), limits: lim}
	// All pointers' tokens in one slice, sized by the slashes of the
	// patch (values may hold many: at most 8 per op up front) and grown
	// by appendPointer if that is short.
	tokens := make(Pointer, 0, min(bytes.Count(ops, []byte{'/'}), 8*len(elems)))
	for k, e := range elems {
		op := &p.ops[k]
		if err := decodeOp(op, ops, src, e, &tokens, opts.Policy); err != nil {
			return Patch{}, op.errorAt(k, err)
		}
		p.growth += len(op.value) + len(op.pathRaw) + 4
	}
	return p, nil
}

// checkError turns a jsonx.Check error into one of ours: over a limit is
// ErrTooLarge, anything else is invalid (kind).
func checkError(what string, invalid error, err error) error {
	if errors.Is(err, jsonx.ErrTooLarge) || errors.Is(err, jsonx.ErrTooDeep) {
		return fmt.Errorf("patch: %s: %w: %w", what, ErrTooLarge, err)
	}
	return fmt.Errorf("patch: %w: %w", invalid, err)
}

// memberString returns the JSON string at v in ops as a Go string: a
// substring of src (the same bytes as ops) unless it holds escapes.
func memberString(ops []byte, src string, v span) string {
	raw := ops[v.start+1 : v.end-1]
	for _, c := range raw {
		if c == '\\' {
			return string(jsonx.AppendUnescaped(nil, raw))
		}
	}
	return src[v.start+1 : v.end-1]
}

// decodeOp decodes the operation object ops[e.start:e.end] into op: its
// members in one pass, then its kind, the members that kind uses and its
// pointers. The error is about this operation; the caller names it
// ([operation.errorAt]).
func decodeOp(op *operation, ops []byte, src string, e span, tokens *Pointer, policy *Policy) error {
	if ops[e.start] != '{' {
		return fmt.Errorf("%w: an operation must be a JSON object", ErrInvalidPatch)
	}
	m := readMembers(ops, src, e)
	// Messages name the pointers as written from the first fault on.
	op.pathRaw, op.fromRaw = m.path.s, m.from.s
	if err := op.decodeKind(m.op); err != nil {
		return err
	}
	if err := op.takeOperands(m, ops, src); err != nil {
		return err
	}
	return op.decodePointers(tokens, policy)
}

// errorAt is err as the error of the operation at index, naming the
// operation and its pointers as written.
func (op *operation) errorAt(index int, err error) error {
	name := ""
	if op.kind != 0 {
		name = op.kind.String()
	}
	return &OpError{Index: index, Op: name, Path: op.pathRaw, From: op.fromRaw, Err: err}
}

// opMembers are the members of an operation object that RFC 6902 gives a
// meaning to; any other member is ignored.
type opMembers struct {
	op, path, from stringMember
	hasValue       bool
	value          span // the raw JSON of "value", in the patch
}

// stringMember is a member whose value must be a string: s is its
// (unescaped) value if it is one.
type stringMember struct {
	s                  string
	present, notString bool
}

// readMembers reads the members of the operation object ops[e.start:e.end]
// in one pass, without allocating but for a key or string that holds an
// escape.
func readMembers(ops []byte, src string, e span) opMembers {
	var m opMembers
	var buf [8]objectMember
	var keyBuf [8]byte
	for _, om := range appendMembers(buf[:0], ops[e.start:e.end]) {
		key := ops[e.start+om.key.start : e.start+om.key.end]
		if bytes.IndexByte(key, '\\') >= 0 {
			key = jsonx.AppendUnescaped(keyBuf[:0], key)
		}
		v := span{e.start + om.value.start, e.start + om.value.end}
		var sm *stringMember
		switch string(key) {
		case "op":
			sm = &m.op
		case "path":
			sm = &m.path
		case "from":
			sm = &m.from
		case "value":
			m.hasValue, m.value = true, v
			continue
		default:
			continue
		}
		*sm = stringMember{present: true, notString: ops[v.start] != '"'}
		if !sm.notString {
			sm.s = memberString(ops, src, v)
		}
	}
	return m
}

// decodeKind sets op's kind from its "op" member.
func (op *operation) decodeKind(name stringMember) error {
	switch {
	case !name.present:
		return fmt.Errorf(`%w: missing "op"`, ErrInvalidPatch)
	case name.notString:
		return fmt.Errorf(`%w: "op" must be a string`, ErrInvalidPatch)
	}
	for k, n := range opNames {
		if n != "" && n == name.s {
			op.kind = opKind(k)
		}
	}
	if op.kind == 0 {
		return fmt.Errorf(`%w: unknown op (want add, remove, replace, move, copy or test)`, ErrInvalidPatch)
	}
	return nil
}

// takeOperands checks that the members op's kind needs are there and keeps
// them; those it does not use are ignored.
func (op *operation) takeOperands(m opMembers, ops []byte, src string) error {
	switch {
	case !m.path.present:
		return fmt.Errorf(`%w: missing "path"`, ErrInvalidPatch)
	case m.path.notString:
		return fmt.Errorf(`%w: "path" must be a string`, ErrInvalidPatch)
	}
	if !op.needsFrom() {
		op.fromRaw = ""
	}
	switch {
	case op.needsFrom() && !m.from.present:
		return fmt.Errorf(`%w: missing "from"`, ErrInvalidPatch)
	case op.needsFrom() && m.from.notString:
		return fmt.Errorf(`%w: "from" must be a string`, ErrInvalidPatch)
	}
	switch op.kind {
	case opAdd, opReplace, opTest:
		if !m.hasValue {
			return fmt.Errorf(`%w: missing "value"`, ErrInvalidPatch)
		}
		op.value = src[m.value.start:m.value.end]
		op.valueDepth = valueDepth(ops[m.value.start:m.value.end])
	}
	return nil
}

// needsFrom reports whether op's kind reads a "from" pointer.
func (op *operation) needsFrom() bool { return op.kind == opMove || op.kind == opCopy }

// decodePointers parses op's pointers into tokens (the patch's one slice
// of pointer tokens) and checks them against the policy.
func (op *operation) decodePointers(tokens *Pointer, policy *Policy) error {
	var err error
	if *tokens, op.path, err = appendPointer(*tokens, op.pathRaw); err != nil {
		return fmt.Errorf("path: %w", err)
	}
	if op.needsFrom() {
		if *tokens, op.from, err = appendPointer(*tokens, op.fromRaw); err != nil {
			return fmt.Errorf("from: %w", err)
		}
		if op.kind == opMove && op.from.isProperPrefixOf(op.path) {
			return fmt.Errorf("%w: cannot move a value into its own child", ErrInvalidPatch)
		}
	}
	if err := policy.check(op.path); err != nil {
		return err
	}
	if op.needsFrom() {
		if err := policy.check(op.from); err != nil {
			return fmt.Errorf("from: %w", err)
		}
	}
	return nil
}

// Op is what one operation of a decoded Patch names: its kind ("add",
// "move", ...) and its pointers as the patch wrote them (From is "" but
// for move and copy).
type Op struct {
	Op, Path, From string
}

// Ops returns the patch's operations in order, so that a caller can check
// what they name without decoding the patch again.
func (p Patch) Ops() []Op {
	out := make([]Op, len(p.ops))
	for i, op := range p.ops {
		out[i] = Op{Op: op.kind.String(), Path: op.pathRaw, From: op.fromRaw}
	}
	return out
}

// Apply applies the patch to doc and returns the result in a new slice;
// doc is never modified. doc must be strict JSON (jsonx.Check) within the
// patch's limits. Operations apply in order, each to the result of the one
// before, and the whole patch is atomic: if one fails, Apply returns a nil
// document and an [*OpError] naming it, and no partial result exists.
//
// The result keeps doc's bytes everywhere the patch does not change them
// (whitespace, member order, the spelling of numbers and strings); values
// from the patch are written as the patch spells them; new members and
// elements are written without whitespace around them.
func (p Patch) Apply(doc []byte) ([]byte, error) {
	lim := p.limits
	if lim.MaxDepth == 0 { // the zero Patch
		lim = lim.withDefaults()
	}
	if lim.MaxDocumentBytes > 0 && len(doc) > lim.MaxDocumentBytes {
		return nil, fmt.Errorf("patch: %w: document of %d bytes, limit %d", ErrTooLarge, len(doc), lim.MaxDocumentBytes)
	}
	if err := jsonx.Check(doc, jsonx.Limits{MaxDepth: lim.MaxDepth}); err != nil {
		return nil, checkError("document", ErrInvalidDocument, err)
	}
	// s.buf is doc itself, read only, until the first change writes the
	// result into memory of its own (one copy instead of two).
	s := applier{limits: lim, useIndex: len(doc) >= indexFrom, buf: doc, growth: p.growth}
	// The document is one value between optional whitespace (Check said
	// so): its span needs no scan.
	s.root = skipSpace(s.buf, 0)
	s.rootEnd = trimSpaceEnd(s.buf)
	for i := range p.ops {
		op := &p.ops[i]
		err := s.apply(op)
		if max := lim.MaxDocumentBytes; err == nil && max > 0 && len(s.buf) > max {
			err = fmt.Errorf("%w: the result would be larger than %d bytes", ErrTooLarge, max)
		}
		if err != nil {
			return nil, &OpError{Index: i, Op: op.kind.String(), Path: op.pathRaw, From: op.fromRaw, Err: err}
		}
	}
	if !s.owned {
		return bytes.Clone(doc), nil // the caller owns the result
	}
	return s.buf, nil
}

// applier holds the document being patched: buf, in which the root value
// spans root to rootEnd.
type applier struct {
	buf           []byte
	root, rootEnd int
	limits        Limits
	copied        int    // bytes duplicated by copy ops so far
	value, text   []byte // scratch: a value taken from buf; text to insert
	indexes       []containerIndex
	evict         int // the index slot reused last
	mem           *indexMemory
	useIndex      bool
	owned         bool // buf is ours, not the caller's doc
	growth        int  // room to reserve when buf becomes ours
	// walked[k] is where the value named by walkedPtr[:k] starts, for
	// k up to walkedN (walked[0], the root, is not used).
	walked    [maxWalked + 1]int
	walkedPtr Pointer
	walkedN   int
}

func (s *applier) apply(op *operation) error {
	switch op.kind {
	case opTest:
		start, end, err := s.find(op.path, true)
		if err != nil {
			return err
		}
		s.value = append(s.value[:0], op.value...)
		if !equalJSON(s.buf[start:end], s.value) {
			return ErrTestFailed
		}
		return nil
	case opRemove:
		return s.remove(op.path)
	case opAdd, opReplace:
		if err := s.fits(op.path, op.valueDepth, len(op.value)); err != nil {
			return err
		}
		if op.kind == opAdd {
			return add(s, op.path, op.value)
		}
		return replace(s, op.path, op.value)
	case opMove, opCopy:
		start, end, err := s.find(op.from, true)
		if err != nil {
			return fmt.Errorf("from: %w", err)
		}
		if op.kind == opMove && op.from.equal(op.path) {
			return nil // RFC 6902 4.4: a no-op once from is known to exist
		}
		s.value = append(s.value[:0], s.buf[start:end]...)
		if op.kind == opCopy {
			s.copied += end - start
			if max := s.limits.MaxCopyBytes; max > 0 && s.copied > max {
				return fmt.Errorf("%w: copies add up to more than %d bytes", ErrTooLarge, max)
			}
			if err := s.fits(op.path, valueDepth(s.value), end-start); err != nil {
				return err
			}
			return add(s, op.path, s.value)
		}
		if err := s.fits(op.path, valueDepth(s.value), 0); err != nil {
			return err
		}
		if err := s.remove(op.from); err != nil {
			return fmt.Errorf("from: %w", err)
		}
		return add(s, op.path, s.value)
	}
	return fmt.Errorf("%w: unknown op", ErrInvalidPatch)
}

// fits checks that writing a value of the given depth at path, growing the
// document by about grow bytes, stays within the limits.
func (s *applier) fits(path Pointer, depth, grow int) error {
	if len(path)+depth > s.limits.MaxDepth {
		return fmt.Errorf("%w: the result would nest deeper than %d", ErrTooLarge, s.limits.MaxDepth)
	}
	if max := s.limits.MaxDocumentBytes; max > 0 && len(s.buf)+grow > max {
		return fmt.Errorf("%w: the result would be larger than %d bytes", ErrTooLarge, max)
	}
	return nil
}

// find returns the span of the value at ptr; its end only when needEnd.
func (s *applier) find(ptr Pointer, needEnd bool) (start, end int, err error) {
	start, end = s.root, s.rootEnd
	last := len(ptr) - 1
	if needEnd {
		last-- // the last token is looked up with child, for the end
	}
	// Resume from the longest prefix shared with the last walk: ops of a
	// patch tend to work under one parent (/customer/...).
	k := 0
	for k < s.walkedN && k <= last && s.walkedPtr[k] == ptr[k] {
		k++
	}
	if k > 0 {
		start = s.walked[k]
	}
	for i := k; i <= last; i++ {
		if start, err = s.step(ptr, i, start); err != nil {
			s.walkedN = 0
			return 0, 0, err
		}
		if i < maxWalked {
			s.walked[i+1] = start
		}
	}
	s.walkedPtr, s.walkedN = ptr, min(last+1, maxWalked)
	if needEnd && len(ptr) > 0 {
		i := len(ptr) - 1
		sl, err := s.child(ptr, i, start, ptr[i], false, true)
		if err != nil {
			return 0, 0, err
		}
		if !sl.found {
			return 0, 0, notFound(ptr, i, s.buf[start])
		}
		start, end = sl.start, sl.end
	}
	return start, end, nil
}

// parent returns the start of the container that holds ptr's last token,
// and the slot that token names in it.
func (s *applier) parent(ptr Pointer, forAdd bool) (container int, sl slot, err error) {
	start, _, err := s.find(ptr[:len(ptr)-1], false)
	if err != nil {
		return 0, slot{}, err
	}
	last := len(ptr) - 1
	sl, err = s.child(ptr, last, start, ptr[last], forAdd, true)
	return start, sl, err
}

// child looks up token i of ptr in the value at start. For an array, "-"
// and the index equal to the length give an unfound slot that appends, but
// only when forAdd; any other non-index token is an error. full is as for
// member.
func (s *applier) child(ptr Pointer, i, start int, tok string, forAdd, full bool) (slot, error) {
	switch s.buf[start] {
	case '{':
		return member(s.buf, start, tok, full), nil
	case '[':
		n := -1
		if tok != "-" || !forAdd || i != len(ptr)-1 {
			var ok bool
			if n, ok = arrayIndex(tok); !ok {
				return slot{}, notAnIndex(ptr, i)
			}
		}
		sl, length, ok := element(s.buf, start, n, full)
		if !ok || (!sl.found && !forAdd) || (!sl.found && i != len(ptr)-1) {
			return slot{}, outOfRange(ptr, i, n, length)
		}
		return sl, nil
	default:
		return slot{}, notContainer(ptr, i)
	}
}

func notAnIndex(ptr Pointer, i int) error {
	return fmt.Errorf("%w: %s: %q is not an array index", ErrPathNotFound, quotePointer(ptr[:i].String()), ptr[i])
}

func outOfRange(ptr Pointer, i, n, length int) error {
	return fmt.Errorf("%w: %s: index %d out of range (length %d)", ErrPathNotFound, quotePointer(ptr[:i].String()), n, length)
}

func notContainer(ptr Pointer, i int) error {
	return fmt.Errorf("%w: %s is not an array or object", ErrPathNotFound, quotePointer(ptr[:i].String()))
}

// notFound is the error for a member of ptr missing at token i.
func notFound(ptr Pointer, i int, container byte) error {
	if container == '{' {
		return fmt.Errorf("%w: no member %q in %s", ErrPathNotFound, ptr[i], quotePointer(ptr[:i].String()))
	}
	return fmt.Errorf("%w: %s", ErrPathNotFound, quotePointer(ptr[:i+1].String()))
}

// splice replaces s.buf[start:end] with text. changed is the container
// whose members or elements this adds or removes, -1 when it replaces one
// value. (Functions rather than methods, to take the patch's values as
// strings and values taken from the document as bytes, neither copied.)
func splice[T ~string | ~[]byte](s *applier, start, end int, text T, changed int) {
	delta := len(text) - (end - start)
	n := len(s.buf)
	if !s.owned || n+delta > cap(s.buf) {
		// Build the result in new memory, in one copy: the first time
		// with room for what the patch's values can add, after that
		// (copies outgrew it) with room to grow by a quarter.
		room := s.growth
		if s.owned {
			room = max(room, n/4)
		}
		out := make([]byte, n+delta, n+delta+room)
		copy(out, s.buf[:start])
		copy(out[start:], text)
		copy(out[start+len(text):], s.buf[end:])
		s.buf, s.owned = out, true
	} else {
		s.buf = s.buf[:max(n, n+delta)]
		copy(s.buf[end+delta:], s.buf[end:n])
		copy(s.buf[start:], text)
		s.buf = s.buf[:n+delta]
	}
	if end <= s.rootEnd {
		s.rootEnd += delta
	}
	for i := 1; i <= s.walkedN; i++ {
		p := &s.walked[i]
		if s.walked[i-1] == changed && i > 1 || i == 1 && s.root == changed {
			// Members or elements came or went: an index may now name
			// another element.
			s.walkedN = i - 1
			break
		}
		if *p >= end {
			*p += delta
		} else if *p > start || *p == start && changed >= 0 {
			s.walkedN = i - 1
			break
		}
	}
	if len(s.indexes) > 0 {
		s.reindex(start, end, delta, changed)
	}
}

// maxWalked bounds the steps find remembers.
const maxWalked = 16

// replace writes value over the value at ptr, which must exist.
func replace[T ~string | ~[]byte](s *applier, ptr Pointer, value T) error {
	start, end := s.root, s.rootEnd
	if len(ptr) > 0 {
		var err error
		if start, end, err = s.find(ptr, true); err != nil {
			return err
		}
	}
	splice(s, start, end, value, -1)
	return nil
}

// add is RFC 6902's add: replace the root or an object's member, or insert
// a member or an array element.
func add[T ~string | ~[]byte](s *applier, ptr Pointer, value T) error {
	if len(ptr) == 0 {
		splice(s, s.root, s.rootEnd, value, -1)
		return nil
	}
	container, sl, err := s.parent(ptr, true)
	if err != nil {
		return err
	}
	isObject := s.buf[container] == '{'
	if isObject && sl.found {
		splice(s, sl.start, sl.end, value, -1)
		return nil
	}
	t := s.text[:0]
	if sl.comma == commaBefore {
		t = append(t, ',')
	}
	if isObject {
		t = appendQuoted(t, ptr[len(ptr)-1])
		t = append(t, ':')
	}
	t = append(t, value...)
	if sl.comma == commaAfter {
		t = append(t, ',')
	}
	s.text = t
	splice(s, sl.insertAt, sl.insertAt, t, container)
	return nil
}

func (s *applier) remove(ptr Pointer) error {
	if len(ptr) == 0 {
		return fmt.Errorf("%w: cannot remove the whole document", ErrPathNotFound)
	}
	container, sl, err := s.parent(ptr, false)
	if err != nil {
		return err
	}
	if !sl.found {
		return notFound(ptr, len(ptr)-1, s.buf[container])
	}
	splice(s, sl.cutStart, sl.cutEnd, "", container)
	return nil
}
