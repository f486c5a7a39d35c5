package securetoken

import (
	"fmt"
	"strings"

	"github.com/cardvault/cardvault"
)

// ErrImmutable is wrapped by an [*ImmutableError]: a patch tried to change a
// member that cannot be modified. It is a [cardvault.ErrConflict], like the
// publisher's 409 "cannot-be-modified".
var ErrImmutable = fmt.Errorf("securetoken: member cannot be modified: %w", cardvault.ErrConflict)

// ImmutableError lists the immutable members a patch tried to change, as
// fields in the shape of [cardvault.InvalidError], so that a server can
// render them the same way.
type ImmutableError struct {
	Fields []cardvault.FieldError
}

func (e *ImmutableError) add(ptr string) {
	e.Fields = append(e.Fields, cardvault.FieldError{
		Field:   safePointer(ptr),
		Detail:  "cannot be modified",
		Message: "is immutable: a secure token keeps it for life",
	})
}

// Error names the members.
func (e *ImmutableError) Error() string {
	paths := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		paths[i] = f.Field
	}
	return "securetoken: cannot be modified: " + strings.Join(paths, ", ")
}

// Unwrap makes errors.Is(err, ErrImmutable) and errors.Is(err,
// cardvault.ErrConflict) true.
func (e *ImmutableError) Unwrap() error { return ErrImmutable }
