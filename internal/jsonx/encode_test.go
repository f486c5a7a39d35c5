package jsonx_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/jsonx"
)

func TestMarshalKeepsHTMLCharacters(t *testing.T) {
	got, err := jsonx.Marshal(map[string]string{"b": "<a href=\"x?y=1&z=2\">"})
	require.NoError(t, err)
	// No \u003c escapes and no newline at the end, as json.Marshal would
	// have the one and json.Encoder the other.
	require.Equal(t, `{"b":"<a href=\"x?y=1&z=2\">"}`, string(got))

	_, err = jsonx.Marshal(func() {})
	require.Error(t, err, "a value JSON cannot hold")
}
