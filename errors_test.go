package cardvault_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
)

func TestInvalidError(t *testing.T) {
	var e cardvault.InvalidError
	require.NoError(t, e.Err(), "an InvalidError without fields is no error")

	e.Add("/customer/lastName", "too long", "at most 60 characters")
	e.Add("limit", "invalid value", "")
	err := fmt.Errorf("securetoken: %w", e.Err())

	require.ErrorIs(t, err, cardvault.ErrInvalid)
	require.NotErrorIs(t, err, cardvault.ErrNotFound)
	var ie *cardvault.InvalidError
	require.True(t, errors.As(err, &ie))
	require.Len(t, ie.Fields, 2)
	require.Equal(t, "securetoken: invalid input: /customer/lastName: at most 60 characters; limit: invalid value", err.Error())
}

func TestKindOf(t *testing.T) {
	for _, k := range cardvault.Kinds {
		require.Equal(t, k, cardvault.KindOf(fmt.Errorf("pkg: thing: %w", k)))
	}
	require.Equal(t, cardvault.ErrInvalid, cardvault.KindOf((&cardvault.InvalidError{Fields: []cardvault.FieldError{{Field: "a"}}}).Err()))
	require.Nil(t, cardvault.KindOf(errors.New("the disk is on fire")))
	require.Nil(t, cardvault.KindOf(nil))
}

func TestCheckTerminalID(t *testing.T) {
	for _, ok := range []string{"1234001", "abcd", "T-01_x.y", strings.Repeat("9", 50), "~!@#"} {
		require.NoError(t, cardvault.CheckTerminalID(ok), ok)
	}
	for _, bad := range []string{"", "123", strings.Repeat("9", 51), "ab cd", "café", "12/34", "12,34", "12;34", "1*34", "12:34", "1234\x00", "1234\x7f"} {
		err := cardvault.CheckTerminalID(bad)
		require.ErrorIs(t, err, cardvault.ErrInvalid, "%q", bad)
		var inv *cardvault.InvalidError
		require.ErrorAs(t, err, &inv)
		require.Equal(t, "processingTerminalId", inv.Fields[0].Field)
	}
}
