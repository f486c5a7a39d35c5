package vault_test

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/vault"
)

func TestParseKeyRequest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		query   url.Values
		withNew bool
		want    vault.KeyRequest
		err     string
	}{
		{"body", `{"user":"u","passphrase":"p"}`, nil, false,
			vault.KeyRequest{User: "u", Passphrase: "p"}, ""},
		{"body over the query", `{"user":"u"}`, url.Values{"user": {"q"}}, false,
			vault.KeyRequest{User: "u"}, ""},
		{"query when the body is blank", " \n", url.Values{"user": {"q"}, "passphrase": {"p"}, "new_passphrase": {"n"}}, true,
			vault.KeyRequest{User: "q", Passphrase: "p", NewPassphrase: "n"}, ""},
		{"new passphrase", `{"user":"u","passphrase":"p","new_passphrase":"n"}`, nil, true,
			vault.KeyRequest{User: "u", Passphrase: "p", NewPassphrase: "n"}, ""},
		{"new passphrase where it does not belong", `{"user":"u","new_passphrase":"n"}`, nil, false,
			vault.KeyRequest{}, "new_passphrase belongs to PUT /v1/key"},
		{"in the query too", "", url.Values{"new_passphrase": {"n"}}, false,
			vault.KeyRequest{}, "new_passphrase belongs to PUT /v1/key"},
		{"the owner is never the client's", `{"user":"u","owner":"o"}`, nil, false,
			vault.KeyRequest{}, `invalid body: unknown field "owner"`},
		{"wrong type", `{"user":1}`, nil, false, vault.KeyRequest{}, "invalid body: user has the wrong type"},
		{"not an object", `"u"`, nil, false, vault.KeyRequest{}, "invalid body: must be a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := vault.ParseKeyRequest([]byte(tc.body), tc.query, tc.withNew)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestWireJSON(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want string
	}{
		{"a request's credentials", vault.KeyRequest{User: "u", Passphrase: "p", NewPassphrase: "n"}.Credentials("o"),
			`{"user":"u","passphrase":"p"}`},
		{"credentials, never the owner", vault.Credentials{Owner: "o", User: "u", Passphrase: "p"}, `{"user":"u","passphrase":"p"}`},
		{"key info", vault.KeyInfo{User: "u", Created: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}, `{"user":"u","created_at":"2030-01-02T03:04:05Z"}`},
		{"item", vault.ItemRef{Token: "t", Reference: "r"}.Of("u"), `{"token":"t","user":"u","reference":"r"}`},
		{"listing", vault.Listing("u", []vault.ItemRef{{Token: "t1", Reference: "r1"}, {Token: "t2", Reference: "r2"}}),
			`{"u":[{"token":"t1","reference":"r1"},{"token":"t2","reference":"r2"}]}`},
		{"empty listing", vault.Listing("u", nil), `{"u":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.v)
			require.NoError(t, err)
			require.Equal(t, tc.want, string(b))
		})
	}
}

func TestCursor(t *testing.T) {
	for _, tc := range []struct {
		name, cursor string
		ref          vault.ItemRef
		ok           bool
	}{
		{"an item", vault.ItemRef{Token: "t", Reference: "r"}.Cursor(), vault.ItemRef{Token: "t", Reference: "r"}, true},
		{"an empty reference", vault.ItemRef{Token: "t"}.Cursor(), vault.ItemRef{Token: "t"}, true},
		{"not a cursor", "t", vault.ItemRef{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, ok := vault.ParseCursor(tc.cursor)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.ref, ref)
		})
	}
}
