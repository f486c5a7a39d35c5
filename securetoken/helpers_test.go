package securetoken_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/sjson"

	"github.com/cardvault/cardvault/securetoken"
)

// Test card and account numbers: the contract's own examples and published
// test numbers, never real ones. Assertions still avoid printing them.
const (
	testPAN        = "4539858876047062" // the contract's example card
	testCVV        = "234"
	testACHAccount = "1234567890"
	testRouting    = "011000015" // a valid ABA routing number (Federal Reserve Bank of Boston)
	testPADAccount = "1234567"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// createCard is the contract's create example (keyed plainText card).
func createCard(t testing.TB) []byte {
	return readFile(t, "contract/createSecureToken.request.createSecureToken.json")
}

// set returns body with the member at path (sjson syntax) set to v.
func set(t testing.TB, body []byte, path string, v any) []byte {
	t.Helper()
	out, err := sjson.SetBytes(body, path, v)
	require.NoError(t, err)
	return out
}

func setRaw(t testing.TB, body []byte, path, raw string) []byte {
	t.Helper()
	out, err := sjson.SetRawBytes(body, path, []byte(raw))
	require.NoError(t, err)
	return out
}

func del(t testing.TB, body []byte, path string) []byte {
	t.Helper()
	out, err := sjson.DeleteBytes(body, path)
	require.NoError(t, err)
	return out
}

// publicJSON is the public resource of r, as JSON.
func publicJSON(t testing.TB, r securetoken.Record) []byte {
	t.Helper()
	b, err := r.PublicJSON()
	require.NoError(t, err)
	return b
}

// sealedForm is the sealed form of r, whole numbers included.
func sealedForm(t testing.TB, r securetoken.Record) []byte {
	t.Helper()
	b, err := r.MarshalBinary()
	require.NoError(t, err)
	return b
}

// sameRecord compares records by their sealed form, without printing them.
func sameRecord(t testing.TB, want, got securetoken.Record) {
	t.Helper()
	require.True(t, bytes.Equal(sealedForm(t, want), sealedForm(t, got)), "records differ")
}

// newRecord is the record a create request makes of body, before it is
// given its ids; body must parse, with a source that is stored.
func newRecord(t testing.TB, body []byte) securetoken.Record {
	t.Helper()
	req, err := securetoken.ParseCreateRequest(body)
	require.NoError(t, err)
	src, ok := req.Source.StoredSource()
	require.True(t, ok)
	return securetoken.NewRecord(req, src)
}

// cardRecord is a valid record made from the contract's create example.
func cardRecord(t testing.TB) securetoken.Record {
	t.Helper()
	r := newRecord(t, createCard(t))
	r.SecureTokenID = "MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa"
	r.ProcessingTerminalID = "1234001"
	r.Token = "296753123458" // Luhn-valid, unlike the contract's example
	require.NoError(t, r.Validate())
	return r
}
