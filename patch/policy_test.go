package patch_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/patch"
)

// tokenPolicy is the policy the secure-token package applies.
func tokenPolicy(t testing.TB) *patch.Policy {
	t.Helper()
	p, err := patch.NewPolicy(
		[]string{"/customer", "/customFields/*", "/mitAgreement", "/source/cardholderName", "/source/expiryDate"},
		[]string{"/source/cardNumber", "/token", "/processingTerminalId", "/status", "/source/type", "/secureTokenId"},
	)
	require.NoError(t, err)
	return p
}

func TestPolicy(t *testing.T) {
	token := readToken(t)
	pol := tokenPolicy(t)
	tests := []struct {
		name, ops string
		allowed   bool
	}{
		{"guide's update", tokenOps, true},
		{"customer subtree", `[{"op":"replace","path":"/customer/billingAddress/city","value":"Springfield"}]`, true},
		{"whole customer", `[{"op":"remove","path":"/customer"}]`, true},
		{"custom field element", `[{"op":"replace","path":"/customFields/0/value","value":"x"}]`, true},
		{"custom field append", `[{"op":"add","path":"/customFields/-","value":{"name":"n","value":"v"}}]`, true},
		{"move within customer", `[{"op":"move","from":"/customer/firstName","path":"/customer/lastName"}]`, true},
		{"test allowed path", `[{"op":"test","path":"/mitAgreement","value":"unscheduled"}]`, true},

		{"replace card number", `[{"op":"replace","path":"/source/cardNumber","value":"4111111111111111"}]`, false},
		{"add under card number", `[{"op":"add","path":"/source/cardNumber/x","value":1}]`, false},
		{"replace source", `[{"op":"replace","path":"/source","value":{}}]`, false},
		{"remove root", `[{"op":"replace","path":"","value":{}}]`, false},
		{"token", `[{"op":"replace","path":"/token","value":"296753999999"}]`, false},
		{"status", `[{"op":"replace","path":"/status","value":"active"}]`, false},
		{"source type", `[{"op":"replace","path":"/source/type","value":"ach"}]`, false},
		{"test denied path", `[{"op":"test","path":"/source/cardNumber","value":"x"}]`, false},
		{"test ancestor of denied path", `[{"op":"test","path":"/source","value":{}}]`, false},
		{"copy from denied path", `[{"op":"copy","from":"/source/cardNumber","path":"/customer/referenceNumber"}]`, false},
		{"move from denied path", `[{"op":"move","from":"/token","path":"/customer/x"}]`, false},
		{"copy from secureTokenId", `[{"op":"copy","from":"/secureTokenId","path":"/customer/x"}]`, false},
		{"outside allow list", `[{"op":"add","path":"/extra","value":1}]`, false},
		{"parent of allowed", `[{"op":"replace","path":"/customFields","value":[]}]`, false},
		{"denied after allowed ops", `[{"op":"add","path":"/customer/x","value":1},{"op":"remove","path":"/processingTerminalId"}]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := patch.DecodeWith([]byte(tt.ops), patch.Options{Policy: pol})
			if !tt.allowed {
				require.ErrorIs(t, err, patch.ErrPathNotAllowed)
				require.ErrorIs(t, err, cardvault.ErrInvalid)
				require.Contains(t, err.Error(), "path not allowed")
				return
			}
			require.NoError(t, err)
			_, err = p.Apply(token)
			require.NoError(t, err)
		})
	}
}

func TestPolicyMessages(t *testing.T) {
	pol := tokenPolicy(t)
	_, err := patch.DecodeWith([]byte(`[{"op":"copy","from":"/source/cardNumber","path":"/customer/x"}]`), patch.Options{Policy: pol})
	require.EqualError(t, err, `op 0 (copy /customer/x from /source/cardNumber): from: path not allowed`)
	_, err = patch.DecodeWith([]byte(`[{"op":"test","path":"/customer","value":{}},{"op":"replace","path":"/token","value":"1"}]`), patch.Options{Policy: pol})
	require.EqualError(t, err, `op 1 (replace /token): path not allowed`)
}

func TestPolicyWildcards(t *testing.T) {
	pol, err := patch.NewPolicy(nil, []string{"/items/*/secret"})
	require.NoError(t, err)
	doc := []byte(`{"items":[{"secret":1,"name":"a"}],"*":0}`)
	for ops, allowed := range map[string]bool{
		`[{"op":"replace","path":"/items/0/name","value":"b"}]`:   true,
		`[{"op":"replace","path":"/items/0/secret","value":2}]`:   false,
		`[{"op":"add","path":"/items/-","value":{}}]`:             false, // "-" overlaps "*"
		`[{"op":"remove","path":"/items/0"}]`:                     false,
		`[{"op":"remove","path":"/items"}]`:                       false,
		`[{"op":"test","path":"/items/0","value":{}}]`:            false,
		`[{"op":"replace","path":"/*","value":1}]`:                true,
		`[{"op":"copy","from":"/items/0/name","path":"/items2"}]`: true,
	} {
		p, err := patch.DecodeWith([]byte(ops), patch.Options{Policy: pol})
		if !allowed {
			require.ErrorIs(t, err, patch.ErrPathNotAllowed, ops)
			continue
		}
		require.NoError(t, err, ops)
		_, err = p.Apply(doc)
		require.NoError(t, err, ops)
	}
	_, err = patch.NewPolicy([]string{"customer"}, nil)
	require.ErrorIs(t, err, patch.ErrInvalidPointer)
	_, err = patch.NewPolicy(nil, []string{"/a~"})
	require.ErrorIs(t, err, patch.ErrInvalidPointer)
}

func TestMergePolicy(t *testing.T) {
	token := readToken(t)
	pol := tokenPolicy(t)
	tests := []struct {
		name, patch string
		allowed     bool
		path        string
	}{
		{"customer fields", `{"customer":{"firstName":"S","billingAddress":{"address3":null}},"mitAgreement":"recurring"}`, true, ""},
		{"new custom field list member", `{"customFields":{"0":{"name":"x"}}}`, false, "/customFields"},
		{"card number", `{"source":{"cardNumber":"4111111111111111"}}`, false, "/source/cardNumber"},
		{"remove token", `{"token":null}`, false, "/token"},
		{"remove denied member", `{"source":{"type":null,"cardholderName":"x"}}`, false, "/source/type"},
		{"replace whole document", `"x"`, false, ""},
		{"escaped key", `{"\u0074oken":"1"}`, false, "/token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := patch.MergeWith(token, []byte(tt.patch), patch.Options{Policy: pol})
			if tt.allowed {
				require.NoError(t, err)
				require.NotNil(t, out)
				return
			}
			require.Nil(t, out)
			require.ErrorIs(t, err, patch.ErrPathNotAllowed)
			var oe *patch.OpError
			require.ErrorAs(t, err, &oe)
			require.Equal(t, -1, oe.Index)
			require.Equal(t, "merge", oe.Op)
			require.Equal(t, tt.path, oe.Path)
		})
	}
	_, err := patch.MergeWith(token, []byte(`{"token":"1"}`), patch.Options{Policy: pol})
	require.EqualError(t, err, `merge patch (/token): path not allowed`)
}

func TestLimits(t *testing.T) {
	token := readToken(t)

	// Twenty copies that each double the document would build ~1.3 GB.
	var b strings.Builder
	b.WriteString(`[{"op":"add","path":"/d","value":[]}`)
	for range 20 {
		b.WriteString(`,{"op":"copy","from":"","path":"/d/-"}`)
	}
	b.WriteString(`]`)
	out, err := patch.Apply(token, []byte(b.String()))
	require.ErrorIs(t, err, patch.ErrTooLarge)
	require.ErrorIs(t, err, cardvault.ErrTooLarge)
	require.Nil(t, out)
	require.Contains(t, err.Error(), "copies add up to more than 1048576 bytes")
	// It stopped at the copy that crossed 1 MiB (op 10, the 10th doubling of
	// 1.3 KB), long before the 20th would have built 1.3 GB.
	var oe *patch.OpError
	require.ErrorAs(t, err, &oe)
	require.Equal(t, 10, oe.Index)

	// Without the copy limit, the document size limit still stops it.
	_, err = patch.DecodeWith([]byte(b.String()), patch.Options{Limits: patch.Limits{MaxCopyBytes: -1}})
	require.NoError(t, err)
	p, _ := patch.DecodeWith([]byte(b.String()), patch.Options{Limits: patch.Limits{MaxCopyBytes: -1}})
	_, err = p.Apply(token)
	require.ErrorIs(t, err, patch.ErrTooLarge)
	require.Contains(t, err.Error(), "the result would be larger than 16777216 bytes")

	tests := []struct {
		name   string
		limits patch.Limits
		doc    string
		ops    string
	}{
		{"patch bytes", patch.Limits{MaxPatchBytes: 10}, `{}`, `[{"op":"add","path":"/a","value":1}]`},
		{"op count", patch.Limits{MaxOps: 2}, `{}`, `[{"op":"test","path":"","value":{}},{"op":"test","path":"","value":{}},{"op":"test","path":"","value":{}}]`},
		{"document bytes", patch.Limits{MaxDocumentBytes: 5}, `{"a":1}`, `[]`},
		{"result bytes", patch.Limits{MaxDocumentBytes: 12}, `{"a":1}`, `[{"op":"add","path":"/b","value":12345}]`},
		{"document depth", patch.Limits{MaxDepth: 2}, `[[[]]]`, `[]`},
		{"value depth", patch.Limits{MaxDepth: 2}, `{}`, `[{"op":"add","path":"/a","value":[[]]}]`},
		{"result depth by add", patch.Limits{MaxDepth: 3}, `{"a":{"b":{}}}`, `[{"op":"add","path":"/a/b/c","value":[]}]`},
		{"result depth by copy", patch.Limits{MaxDepth: 3}, `{"a":{"b":{}}}`, `[{"op":"copy","from":"/a","path":"/a/b/c"}]`},
		{"result depth by move", patch.Limits{MaxDepth: 4}, `{"a":{"b":{}},"c":{"d":{}}}`, `[{"op":"move","from":"/a","path":"/c/d/e"}]`},
		{"copy bytes", patch.Limits{MaxCopyBytes: 10}, `{"a":"0123456789"}`, `[{"op":"copy","from":"/a","path":"/b"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := func() ([]byte, error) {
				p, err := patch.DecodeWith([]byte(tt.ops), patch.Options{Limits: tt.limits})
				if err != nil {
					return nil, err
				}
				return p.Apply([]byte(tt.doc))
			}()
			require.ErrorIs(t, err, patch.ErrTooLarge)
			require.Nil(t, out)
			// The same patch passes with the limit off (or at default).
			off := patch.Limits{MaxPatchBytes: -1, MaxOps: -1, MaxDocumentBytes: -1, MaxCopyBytes: -1}
			p, err := patch.DecodeWith([]byte(tt.ops), patch.Options{Limits: off})
			require.NoError(t, err)
			_, err = p.Apply([]byte(tt.doc))
			require.NoError(t, err)
		})
	}
}

// TestDepthCountsOnlyTheValue pins that members an op does not use do not
// count towards the depth of its value.
func TestDepthCountsOnlyTheValue(t *testing.T) {
	p, err := patch.DecodeWith([]byte(`[{"op":"add","path":"/a","value":1,"x":[[[[]]]]}]`), patch.Options{Limits: patch.Limits{MaxDepth: 4}})
	require.NoError(t, err)
	_, err = p.Apply([]byte(`{}`))
	require.NoError(t, err)
}
