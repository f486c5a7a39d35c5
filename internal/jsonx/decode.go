package jsonx

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
)

// DecodeStrict decodes a small JSON request object into v: a document
// [Check] accepts within l, and no member v does not have. Its errors name
// a member (an unknown one, or one of the wrong type), never a value.
func DecodeStrict(data []byte, v any, l Limits) error {
	if err := Check(data, l); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			if typeErr.Field == "" {
				return errors.New("invalid body: must be a JSON object")
			}
			return errors.New("invalid body: " + typeErr.Field + " has the wrong type")
		}
		// encoding/json names an unknown member in its message, never a
		// value.
		return errors.New("invalid body: " + strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}
