package vault_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/vault"
)

func TestItemExpiry(t *testing.T) {
	for _, c := range []struct {
		doc       string
		mm, yyyy  string
		yy, field string
		err       string // "" ok, "none", or the field at fault
	}{
		{doc: `{"expiry":"02/27"}`, mm: "02", yyyy: "2027", yy: "27", field: "expiry"},
		{doc: `{"card_expiry":"06-2025"}`, mm: "06", yyyy: "2025", yy: "25", field: "card_expiry"},
		{doc: `{"card_expiry":" 12-2031 "}`, mm: "12", yyyy: "2031", yy: "31", field: "card_expiry"},
		// expiry wins when both are well formed; a malformed expiry
		// leaves card_expiry to be read.
		{doc: `{"expiry":"01/30","card_expiry":"06-2025"}`, mm: "01", yyyy: "2030", yy: "30", field: "expiry"},
		{doc: `{"expiry":"1/30","card_expiry":"06-2025"}`, mm: "06", yyyy: "2025", yy: "25", field: "card_expiry"},
		{doc: `{}`, err: "none"},
		{doc: `{"expiry":1230}`, err: "none"}, // only strings count
		{doc: `{"expiry":"13/30"}`, err: "expiry"},
		{doc: `{"expiry":"00/30"}`, err: "expiry"},
		{doc: `{"expiry":"ab/cd"}`, err: "expiry"},
		{doc: `{"expiry":"1230"}`, err: "expiry"},
		{doc: `{"card_expiry":"06/2025"}`, err: "card_expiry"},
		{doc: `{"card_expiry":"06-20x5"}`, err: "card_expiry"},
		{doc: `{"card_expiry":"6-2025","expiry":"nope"}`, err: "card_expiry"},
	} {
		e, err := vault.ItemExpiry([]byte(c.doc))
		switch c.err {
		case "":
			require.NoError(t, err, c.doc)
			require.Equal(t, c.mm, e.MM(), c.doc)
			require.Equal(t, c.yyyy, e.YYYY(), c.doc)
			require.Equal(t, c.yy, e.YY(), c.doc)
			require.Equal(t, c.field, e.Field, c.doc)
		case "none":
			require.ErrorIs(t, err, vault.ErrNoExpiry, c.doc)
			require.ErrorIs(t, err, cardvault.ErrInvalid, c.doc)
		default:
			var bad *vault.ExpiryError
			require.True(t, errors.As(err, &bad), c.doc)
			require.Equal(t, c.err, bad.Field, c.doc)
			require.ErrorIs(t, err, cardvault.ErrInvalid, c.doc)
			require.NotContains(t, err.Error(), "20x5", "never the value")
		}
	}
}

func TestItemNumber(t *testing.T) {
	n, err := vault.ItemNumber([]byte(`{"card_number":"4111 1111-1111 1111"}`), "card_number")
	require.NoError(t, err)
	require.Equal(t, "4111111111111111", n)
	n, err = vault.ItemNumber([]byte(`{"card_number":4111111111111111}`), "card_number")
	require.NoError(t, err)
	require.Equal(t, "4111111111111111", n)
	_, err = vault.ItemNumber([]byte(`{"number":"1"}`), "card_number")
	require.ErrorIs(t, err, vault.ErrNoNumber)
	_, err = vault.ItemNumber([]byte(`{"card_number":"4111*1111"}`), "card_number")
	require.ErrorIs(t, err, cardvault.ErrInvalid)
	require.NotContains(t, err.Error(), "4111")
}
