package testkit

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// Object decodes doc, which must be JSON, into a map, failing the test
// otherwise.
func Object(t testing.TB, doc []byte) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(doc, &m))
	return m
}
