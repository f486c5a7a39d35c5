package patch

import (
	"strconv"
	"strings"

	"github.com/cardvault/cardvault"
)

// The sentinel errors of this package. Each wraps exactly one kind of
// [github.com/cardvault/cardvault], so both errors.Is(err, ErrPathNotFound)
// and errors.Is(err, cardvault.ErrInvalid) hold. Their messages are short
// ("path not found") because they end an [OpError]'s message.
var (
	// ErrInvalidPatch: the patch is not a JSON Patch document — not strict
	// JSON, not an array of objects, an operation without "op", "path",
	// "from" or "value" where its op needs one, a member of the wrong type,
	// an unknown op, a move into the moved value's own child — or a merge
	// patch is not strict JSON.
	ErrInvalidPatch error = &kindError{"invalid patch", cardvault.ErrInvalid}
	// ErrInvalidPointer: a "path", a "from" or a policy pattern is not an
	// RFC 6901 JSON Pointer (it must be "" or start with "/", and "~" must
	// be followed by "0" or "1").
	ErrInvalidPointer error = &kindError{"invalid JSON Pointer", cardvault.ErrInvalid}
	// ErrInvalidDocument: the document to patch is not strict JSON.
	ErrInvalidDocument error = &kindError{"invalid document", cardvault.ErrInvalid}
	// ErrPathNotFound: a pointer names no value of the document, or (for
	// add) no existing container: a missing member, an array index out of
	// range or not an index ("01", "1e0", "-" where the RFC does not allow
	// it), a step into a string or number. Callers may use [ParsePointer] on
	// the op's Path or From to suggest the nearest path that exists.
	ErrPathNotFound error = &kindError{"path not found", cardvault.ErrInvalid}
	// ErrTestFailed: a "test" op found a value that differs from its own.
	// Its kind is ErrConflict: the resource is not in the state the patch
	// expects (RFC 5789 section 2.2).
	ErrTestFailed error = &kindError{"test failed", cardvault.ErrConflict}
	// ErrPathNotAllowed: a pointer an operation names — its path or its
	// from, of any op including test — is refused by the [Policy].
	ErrPathNotAllowed error = &kindError{"path not allowed", cardvault.ErrInvalid}
	// ErrTooLarge: the patch, the document or the result is over one of the
	// [Limits].
	ErrTooLarge error = &kindError{"too large", cardvault.ErrTooLarge}
)

// kindError is a sentinel with a short message that wraps one kind.
type kindError struct {
	msg  string
	kind error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// OpError is the error of one operation: it names the operation and its
// pointers and wraps the cause, which wraps one of the sentinels. Its
// message reads
//
//	op 2 (replace /customer/x): path not found: no member "x" in /customer
//
// and never holds a value of the document or the patch, only ops and
// pointers (values are card data).
type OpError struct {
	// Index is the operation's position in the patch, from 0; -1 for a
	// merge patch.
	Index int
	// Op is the operation's "op" ("add", ...; "merge" for a merge patch),
	// or "" when the operation has no readable op.
	Op string
	// Path and From are the operation's pointers as written in the patch
	// (From is "" unless the op is move or copy). For a merge patch Path is
	// the member at fault.
	Path, From string
	// Err is the cause. It wraps one of the sentinels of this package.
	Err error
}

// maxPointerInMessage bounds how much of a pointer an error message
// repeats, so that a hostile patch cannot make log lines huge.
const maxPointerInMessage = 200

// Error formats "op INDEX (OP PATH [from FROM]): CAUSE".
func (e *OpError) Error() string {
	var b strings.Builder
	if e.Index < 0 {
		b.WriteString("merge patch")
	} else {
		b.WriteString("op ")
		b.WriteString(strconv.Itoa(e.Index))
	}
	if e.Op != "" {
		b.WriteString(" (")
		if e.Index >= 0 {
			b.WriteString(e.Op)
			b.WriteByte(' ')
		}
		b.WriteString(quotePointer(e.Path))
		if e.Op == "move" || e.Op == "copy" {
			b.WriteString(" from ")
			b.WriteString(quotePointer(e.From))
		}
		b.WriteByte(')')
	}
	b.WriteString(": ")
	if e.Err != nil {
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// quotePointer shows a pointer in a message: the root as `""`, anything
// else as it is, cut short if long.
func quotePointer(p string) string {
	if p == "" {
		return `""`
	}
	if len(p) > maxPointerInMessage {
		cut := maxPointerInMessage
		for cut > 0 && p[cut]&0xc0 == 0x80 { // stay on a rune boundary
			cut--
		}
		return p[:cut] + "…"
	}
	return p
}
