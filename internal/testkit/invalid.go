package testkit

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
)

// InvalidFields returns the Field (a name or a JSON Pointer) of every
// fault of the cardvault.InvalidError in err's chain, in order. It fails
// the test unless err is one, of the kind cardvault.ErrInvalid, and every
// fault has a detail and a message.
func InvalidFields(t testing.TB, err error) []string {
	t.Helper()
	var ie *cardvault.InvalidError
	require.True(t, errors.As(err, &ie), "want an InvalidError, got %T", err)
	require.ErrorIs(t, err, cardvault.ErrInvalid)
	out := make([]string, len(ie.Fields))
	for i, f := range ie.Fields {
		out[i] = f.Field
		require.NotEmpty(t, f.Detail, "fault at %s has no detail", f.Field)
		require.NotEmpty(t, f.Message, "fault at %s has no message", f.Field)
	}
	return out
}
