package vault

import (
	"bytes"
	"errors"
	"net/url"
	"strings"

	"github.com/cardvault/cardvault/internal/jsonx"
)

// The wire model of keys and items on the vault/capture API, beside
// [Credentials] and [KeyInfo], whose JSON is theirs: a server decodes into
// these and encodes them as they are.

// MaxKeyRequest caps the JSON body of a key request.
const MaxKeyRequest = 16 << 10

// KeyRequest is a request of the key routes: {"user", "passphrase"} to
// create a key (the passphrase generated when left out), with
// "new_passphrase" to change it (PUT /v1/key; generated when left out).
type KeyRequest struct {
	User          string `json:"user"`
	Passphrase    string `json:"passphrase"`
	NewPassphrase string `json:"new_passphrase"`
}

// Credentials are the credentials r names in owner's keys.
func (r KeyRequest) Credentials(owner string) Credentials {
	return Credentials{Owner: owner, User: r.User, Passphrase: r.Passphrase}
}

// ParseKeyRequest reads a KeyRequest from body (strict JSON, no other
// member), or from the query parameters of the same names when the body
// is empty. Only withNew, a change of passphrase, may carry
// new_passphrase. Its errors name a member, never a value.
func ParseKeyRequest(body []byte, q url.Values, withNew bool) (KeyRequest, error) {
	var req KeyRequest
	if len(bytes.TrimSpace(body)) == 0 {
		req = KeyRequest{User: q.Get("user"), Passphrase: q.Get("passphrase"), NewPassphrase: q.Get("new_passphrase")}
	} else if err := jsonx.DecodeStrict(body, &req, jsonx.Limits{MaxBytes: MaxKeyRequest, MaxDepth: 8}); err != nil {
		return KeyRequest{}, err
	}
	if !withNew && req.NewPassphrase != "" {
		return KeyRequest{}, errors.New("new_passphrase belongs to PUT /v1/key")
	}
	return req, nil
}

// Item is an item on the wire, as a write answers it: {"token", "user",
// "reference"}.
type Item struct {
	Token     string `json:"token"`
	User      string `json:"user"`
	Reference string `json:"reference"`
}

// Of is the item ref addresses in user's key.
func (ref ItemRef) Of(user string) Item {
	return Item{Token: ref.Token, User: user, Reference: ref.Reference}
}

// Cursor is ref as the cursor of a list of items: the after of the page
// that follows it.
func (ref ItemRef) Cursor() string { return ref.Token + "\x00" + ref.Reference }

// ParseCursor reads what Cursor made; ok is false for anything else.
func ParseCursor(cursor string) (ItemRef, bool) {
	token, reference, ok := strings.Cut(cursor, "\x00")
	if !ok {
		return ItemRef{}, false
	}
	return ItemRef{Token: token, Reference: reference}, true
}

// Listed is an item in a list of a key's items: {"token", "reference"}.
type Listed struct {
	Token     string `json:"token"`
	Reference string `json:"reference"`
}

// Listing is user's items on the wire: {"<user>": [{"token",
// "reference"}, ...]}.
func Listing(user string, items []ItemRef) map[string][]Listed {
	out := make([]Listed, len(items))
	for i, it := range items {
		out[i] = Listed(it)
	}
	return map[string][]Listed{user: out}
}
