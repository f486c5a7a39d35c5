package securetoken

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/patch"
)

// Limits of every JSON document this package parses.
const (
	// MaxBodyBytes caps a request body and a patched resource. The contract
	// gives no payload limit (it lists a 413 for update-account); 64 KiB is
	// some forty times the largest legitimate document.
	MaxBodyBytes = 64 << 10
	// MaxDepth caps nesting. The deepest member of the contract
	// (/source/cardDetails/keyedData/device/config/quickChip) sits at depth
	// 6; unknown members, which requests may carry, get some room.
	MaxDepth = 16
)

var limits = jsonx.Limits{MaxBytes: MaxBodyBytes, MaxDepth: MaxDepth}

// ErrTooLarge is returned for a document over [MaxBodyBytes].
var ErrTooLarge = fmt.Errorf("securetoken: document over %d bytes: %w", MaxBodyBytes, cardvault.ErrTooLarge)

// gate runs jsonx.Check and turns its verdict into this package's errors:
// ErrTooLarge, or an InvalidError naming where the syntax fault is.
func gate(data []byte) error {
	err := jsonx.Check(data, limits)
	if err == nil {
		return nil
	}
	if errors.Is(err, jsonx.ErrTooLarge) {
		return ErrTooLarge
	}
	var je *jsonx.Error
	field, detail := "", "invalid JSON"
	if errors.As(err, &je) {
		field = safePointer(je.Path)
		switch {
		case errors.Is(err, jsonx.ErrDuplicateKey):
			detail = "duplicate member"
		case errors.Is(err, jsonx.ErrTooDeep):
			detail = "nested too deeply"
		}
	}
	e := &cardvault.InvalidError{}
	// jsonx's own message names offsets and kinds of fault, never content.
	e.Add(field, detail, err.Error())
	return e
}

// decoder turns a checked JSON document into this package's types, noting a
// fault for every member of the wrong JSON type. Constraints on values are
// the validators' business; the decoder only knows JSON types and, in strict
// mode, which members exist.
type decoder struct {
	errs cardvault.InvalidError
	// strict makes unknown members faults (the resource); otherwise they are
	// ignored (requests).
	strict bool
}

func (d *decoder) fault(path, detail, message string) {
	addFault(&d.errs, path, detail, message)
}

// object is a JSON object being read. The keys read are noted, so that
// close can find the unknown members.
type object struct {
	d     *decoder
	path  string
	raw   gjson.Result
	taken []string
	// all marks every member as read (an object whose discriminator is
	// unknown, whose members then mean nothing).
	all bool
}

func (d *decoder) object(path string, v gjson.Result) (*object, bool) {
	if !v.Exists() || v.Type == gjson.Null {
		return nil, false
	}
	if !v.IsObject() {
		d.fault(path, "wrong type", "must be a JSON object")
		return nil, false
	}
	o := &object{d: d, path: path, raw: v}
	if d.strict {
		o.taken = make([]string, 0, 8)
	}
	return o, true
}

// take returns the member key, marked as read; ok is false when it is
// absent or null — the contract has no nullable member, and null is taken
// as "absent", as the publisher's own deserializer does.
//
// The keys of the contract are letters and digits only, which gjson's path
// syntax takes literally; the document passed jsonx.Check, so a key is
// there once at most.
func (o *object) take(key string) (gjson.Result, bool) {
	if o.d.strict {
		o.taken = append(o.taken, key)
	}
	v := o.raw.Get(key)
	return v, v.Exists() && v.Type != gjson.Null
}

// at returns the pointer of the member key. It is built only when needed:
// for a fault, or as the base of a nested object.
func (o *object) at(key string) string { return o.path + "/" + patch.EscapeToken(key) }

func (o *object) has(key string) bool {
	_, ok := o.take(key)
	return ok
}

func (o *object) str(key string) string {
	v, ok := o.take(key)
	if !ok {
		return ""
	}
	if v.Type != gjson.String {
		o.d.fault(o.at(key), "wrong type", "must be a string")
		return ""
	}
	return v.Str
}

// text is str for a member whose schema has minLength 1: present but empty
// is a fault, where for str it reads as absent.
func (o *object) text(key string) string {
	v, ok := o.take(key)
	if ok && v.Type == gjson.String && v.Str == "" {
		o.d.fault(o.at(key), "too short", "must not be empty")
		return ""
	}
	return o.str(key)
}

func (o *object) boolean(key string) *bool {
	v, ok := o.take(key)
	if !ok {
		return nil
	}
	if v.Type != gjson.True && v.Type != gjson.False {
		o.d.fault(o.at(key), "wrong type", "must be true or false")
		return nil
	}
	b := v.Type == gjson.True
	return &b
}

func (o *object) obj(key string) (*object, bool) {
	v, ok := o.take(key)
	if !ok {
		return nil, false
	}
	return o.d.object(o.at(key), v)
}

// array returns the elements of the array member key with their paths.
func (o *object) array(key string) ([]gjson.Result, string, bool) {
	v, ok := o.take(key)
	if !ok {
		return nil, "", false
	}
	if !v.IsArray() {
		o.d.fault(o.at(key), "wrong type", "must be a JSON array")
		return nil, "", false
	}
	return v.Array(), o.at(key), true
}

// integer reads a JSON number that is a mathematical integer (JSON Schema
// counts 87.0 as one) within int64.
func (o *object) integer(key string) *int64 {
	v, ok := o.take(key)
	if !ok {
		return nil
	}
	if v.Type == gjson.Number {
		if n, err := strconv.ParseInt(v.Raw, 10, 64); err == nil {
			return &n
		}
		if f, err := strconv.ParseFloat(v.Raw, 64); err == nil && f == math.Trunc(f) && math.Abs(f) < 1<<63 {
			n := int64(f)
			return &n
		}
	}
	o.d.fault(o.at(key), "wrong type", "must be an integer")
	return nil
}

func (o *object) number(key string) *float64 {
	v, ok := o.take(key)
	if !ok {
		return nil
	}
	if v.Type != gjson.Number {
		o.d.fault(o.at(key), "wrong type", "must be a number")
		return nil
	}
	f, err := strconv.ParseFloat(v.Raw, 64)
	if err != nil { // out of float64 range
		o.d.fault(o.at(key), "out of range", "must be a number within double precision")
		return nil
	}
	return &f
}

// maxHints bounds the unknown members that get a nearest-path hint.
const maxHints = 20

// close notes, in strict mode, every member nobody read.
func (o *object) close() {
	if !o.d.strict {
		return
	}
	if o.all {
		return
	}
	o.raw.ForEach(func(k, _ gjson.Result) bool {
		if slices.Contains(o.taken, k.Str) {
			return true
		}
		if len(o.d.errs.Fields) > maxFaults {
			return false
		}
		p := o.at(k.Str)
		msg := "is not a member of a secure token"
		// A hint costs an edit-distance search; a document of thousands of
		// unknown members gets hints for the first ones only.
		if len(o.d.errs.Fields) < maxHints {
			if near := NearestPath(p); near != "" {
				msg += "; the nearest valid path is " + near
			}
		}
		o.d.fault(p, "unknown member", msg)
		return true
	})
}

// safePointer returns a pointer fit for an error message: any run of twelve
// or more digits in it — a card number a client used as a member name — is
// replaced, since error messages end up in logs.
func safePointer(p string) string {
	run, start := 0, -1
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] >= '0' && p[i] <= '9' {
			if run == 0 {
				start = i
			}
			run++
			continue
		}
		if run >= 12 {
			return safePointer(p[:start] + "[redacted]" + p[i:])
		}
		run = 0
	}
	return p
}

// result merges the decoder's faults with the validator's: a fault the
// validator finds at or under a path the decoder already faulted (a member
// of the wrong type reads as empty, so it would also be "required") is
// dropped. The faults come out ordered by pointer.
func result(decoded cardvault.InvalidError, validated error) error {
	out := &cardvault.InvalidError{Fields: decoded.Fields}
	var ve *cardvault.InvalidError
	if errors.As(validated, &ve) {
		for _, f := range ve.Fields {
			if !coveredBy(f.Field, decoded.Fields) {
				out.Fields = append(out.Fields, f)
			}
		}
	}
	sortFaults(out.Fields)
	return out.Err()
}

func coveredBy(p string, faults []cardvault.FieldError) bool {
	for _, f := range faults {
		if p == f.Field || strings.HasPrefix(p, f.Field+"/") {
			return true
		}
	}
	return false
}

// sortFaults orders faults by pointer, the note that faults were cut last.
func sortFaults(fs []cardvault.FieldError) {
	slices.SortStableFunc(fs, func(a, b cardvault.FieldError) int {
		if ca, cb := a.Detail == tooManyFaults, b.Detail == tooManyFaults; ca != cb {
			if ca {
				return 1
			}
			return -1
		}
		return comparePointers(a.Field, b.Field)
	})
}

// comparePointers orders pointers token by token, array indices
// numerically, so that /customFields/2 comes before /customFields/10.
func comparePointers(a, b string) int {
	ta, tb := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(ta) && i < len(tb); i++ {
		if ta[i] == tb[i] {
			continue
		}
		na, ea := strconv.Atoi(ta[i])
		nb, eb := strconv.Atoi(tb[i])
		if ea == nil && eb == nil {
			return cmp.Compare(na, nb)
		}
		return strings.Compare(ta[i], tb[i])
	}
	return len(ta) - len(tb)
}
