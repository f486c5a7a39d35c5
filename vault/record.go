package vault

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault/internal/jsonx"
)

// decodeItemRecord is json.Unmarshal(raw, r) into a zero r, without
// reflection for the records putItem writes: every read of an item decodes
// one, and encoding/json's reflection took a third of a vault read (an
// eighth of a proxy call's vault work). The fast path takes only what
// json.Marshal of an itemRecord writes — strict JSON (jsonx.Check: no
// duplicate member, valid UTF-8), the exact member names, each of its
// type, strings without escapes — and decodes each member as
// encoding/json does (the same base64 decoding, time.Time's UnmarshalJSON,
// strconv.ParseUint, encoding/json itself for the CVV's small object).
// Anything else, a corrupt record included, goes to json.Unmarshal, so the
// result and the error are always its.
func decodeItemRecord(raw []byte, r *itemRecord) error {
	if fastItemRecord(raw, r) {
		return nil
	}
	*r = itemRecord{}
	return json.Unmarshal(raw, r)
}

func fastItemRecord(raw []byte, r *itemRecord) bool {
	if jsonx.Check(raw, jsonx.Limits{MaxDepth: 4}) != nil {
		return false
	}
	root := gjson.ParseBytes(raw)
	if !root.IsObject() {
		return false
	}
	ok := true
	root.ForEach(func(k, v gjson.Result) bool {
		plain := v.Type == gjson.String && !strings.Contains(v.Raw, `\`)
		switch k.Raw {
		case `"version"`:
			n, err := strconv.ParseUint(v.Raw, 10, 64)
			ok = v.Type == gjson.Number && err == nil
			r.Version = n
		case `"wrap"`:
			ok, r.Wrap = plain, v.Str
		case `"dk"`:
			r.WrappedDK, ok = base64Member(v, plain)
		case `"sealed"`:
			r.Sealed, ok = base64Member(v, plain)
		case `"fp"`:
			r.Number, ok = base64Member(v, plain)
		case `"updated"`:
			ok = plain && r.Updated.UnmarshalJSON([]byte(v.Raw)) == nil
		case `"cvv"`:
			c := &cvvRecord{}
			ok = v.IsObject() && json.Unmarshal([]byte(v.Raw), c) == nil
			r.CVV = c
		default:
			ok = false // another name, or one in another case, or escaped
		}
		return ok
	})
	return ok
}

// base64Member decodes a []byte member as encoding/json does: null is
// nil (json.Marshal writes a nil slice so).
func base64Member(v gjson.Result, plain bool) ([]byte, bool) {
	if v.Type == gjson.Null {
		return nil, true
	}
	if !plain {
		return nil, false
	}
	b, err := base64.StdEncoding.DecodeString(v.Str) // Decode into DecodedLen bytes, as encoding/json
	return b, err == nil
}
