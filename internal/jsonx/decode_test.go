package jsonx

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDecodeStrict(t *testing.T) {
	type opts struct {
		TTL  string `json:"ttl"`
		Deep struct {
			N int `json:"n"`
		} `json:"deep"`
	}
	for _, tc := range []struct {
		name, body, want string // want: "" for success, else the error
		is               error  // Check's sentinel, for its refusals
	}{
		{"ok", `{"ttl":"PT1M","deep":{"n":1}}`, "", nil},
		{"unknown member", `{"ttl":"PT1M","other":1}`, `invalid body: unknown field "other"`, nil},
		{"wrong type", `{"ttl":1}`, "invalid body: ttl has the wrong type", nil},
		{"nested wrong type", `{"deep":{"n":"x"}}`, "invalid body: deep.n has the wrong type", nil},
		{"not an object", `[1]`, "invalid body: must be a JSON object", nil},
		{"duplicate", `{"ttl":"a","ttl":"b"}`, "", ErrDuplicateKey},
		{"too deep", `{"deep":{"n":[[1]]}}`, "", ErrTooDeep},
		{"too large", `{"ttl":"` + strings.Repeat("x", 40) + `"}`, "", ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var v opts
			err := DecodeStrict([]byte(tc.body), &v, Limits{MaxBytes: 40, MaxDepth: 3})
			if tc.is != nil {
				require.ErrorIs(t, err, tc.is)
				return
			}
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.EqualError(t, err, tc.want)
		})
	}
}
