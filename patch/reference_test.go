package patch_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/cardvault/cardvault/internal/jsonx"
)

// This file is a deliberately plain JSON Patch and merge patch: decode into
// any, change maps and slices, following RFC 6902, 6901 and 7396 line by
// line. The fuzzers compare the byte engine against it.

var errRef = errors.New("reference: patch fails")

// decodeAny decodes strict JSON with numbers kept as json.Number.
func decodeAny(data []byte) (any, error) {
	if err := jsonx.Check(data, jsonx.Limits{}); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// refPointer parses an RFC 6901 pointer the way section 4 describes:
// split on "/", then replace "~1" by "/" and then "~0" by "~".
func refPointer(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if !strings.HasPrefix(s, "/") {
		return nil, errRef
	}
	toks := strings.Split(s[1:], "/")
	for i, t := range toks {
		for j := 0; j < len(t); j++ {
			if t[j] == '~' && (j+1 == len(t) || (t[j+1] != '0' && t[j+1] != '1')) {
				return nil, errRef
			}
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

var refIndexSyntax = regexp.MustCompile(`^(0|[1-9][0-9]*)$`)

func refIndex(tok string, length int, allowEnd bool) (int, error) {
	if allowEnd && tok == "-" {
		return length, nil
	}
	if !refIndexSyntax.MatchString(tok) {
		return 0, errRef
	}
	n, err := strconv.Atoi(tok)
	if err != nil || n > length || (n == length && !allowEnd) {
		return 0, errRef
	}
	return n, nil
}

func refGet(doc any, ptr []string) (any, error) {
	cur := doc
	for _, tok := range ptr {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, errRef
			}
			cur = v
		case []any:
			i, err := refIndex(tok, len(c), false)
			if err != nil {
				return nil, err
			}
			cur = c[i]
		default:
			return nil, errRef
		}
	}
	return cur, nil
}

// refUpdate returns doc with the container at ptr[:len-1] replaced by
// fn(container, lastToken).
func refUpdate(doc any, ptr []string, fn func(container any, tok string) (any, error)) (any, error) {
	if len(ptr) == 1 {
		return fn(doc, ptr[0])
	}
	switch c := doc.(type) {
	case map[string]any:
		v, ok := c[ptr[0]]
		if !ok {
			return nil, errRef
		}
		nv, err := refUpdate(v, ptr[1:], fn)
		if err != nil {
			return nil, err
		}
		c[ptr[0]] = nv
		return c, nil
	case []any:
		i, err := refIndex(ptr[0], len(c), false)
		if err != nil {
			return nil, err
		}
		nv, err := refUpdate(c[i], ptr[1:], fn)
		if err != nil {
			return nil, err
		}
		c[i] = nv
		return c, nil
	}
	return nil, errRef
}

func refAdd(doc any, ptr []string, value any) (any, error) {
	if len(ptr) == 0 {
		return value, nil
	}
	return refUpdate(doc, ptr, func(container any, tok string) (any, error) {
		switch c := container.(type) {
		case map[string]any:
			c[tok] = value
			return c, nil
		case []any:
			i, err := refIndex(tok, len(c), true)
			if err != nil {
				return nil, err
			}
			out := make([]any, 0, len(c)+1)
			out = append(out, c[:i]...)
			out = append(out, value)
			return append(out, c[i:]...), nil
		}
		return nil, errRef
	})
}

func refRemove(doc any, ptr []string) (any, error) {
	if len(ptr) == 0 {
		return nil, errRef
	}
	return refUpdate(doc, ptr, func(container any, tok string) (any, error) {
		switch c := container.(type) {
		case map[string]any:
			if _, ok := c[tok]; !ok {
				return nil, errRef
			}
			delete(c, tok)
			return c, nil
		case []any:
			i, err := refIndex(tok, len(c), false)
			if err != nil {
				return nil, err
			}
			return append(c[:i:i], c[i+1:]...), nil
		}
		return nil, errRef
	})
}

func deepCopy(v any) any {
	switch c := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(c))
		for k, e := range c {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(c))
		for i, e := range c {
			s[i] = deepCopy(e)
		}
		return s
	}
	return v
}

// isPrefix reports whether p is a proper prefix of q.
func isPrefix(p, q []string) bool {
	return len(p) < len(q) && slices.Equal(p, q[:len(p)])
}

// refApply applies a JSON Patch to a copy of doc.
func refApply(docJSON, opsJSON []byte) (any, error) {
	doc, err := decodeAny(docJSON)
	if err != nil {
		return nil, err
	}
	opsAny, err := decodeAny(opsJSON)
	if err != nil {
		return nil, err
	}
	ops, ok := opsAny.([]any)
	if !ok {
		return nil, errRef
	}
	for _, o := range ops {
		op, ok := o.(map[string]any)
		if !ok {
			return nil, errRef
		}
		name, ok := op["op"].(string)
		if !ok {
			return nil, errRef
		}
		pathStr, ok := op["path"].(string)
		if !ok {
			return nil, errRef
		}
		path, err := refPointer(pathStr)
		if err != nil {
			return nil, err
		}
		value, hasValue := op["value"]
		var from []string
		if name == "move" || name == "copy" {
			fromStr, ok := op["from"].(string)
			if !ok {
				return nil, errRef
			}
			if from, err = refPointer(fromStr); err != nil {
				return nil, err
			}
		}
		switch name {
		case "add", "replace", "test":
			if !hasValue {
				return nil, errRef
			}
		}
		switch name {
		case "add":
			doc, err = refAdd(doc, path, deepCopy(value))
		case "remove":
			doc, err = refRemove(doc, path)
		case "replace":
			if _, err = refGet(doc, path); err == nil {
				if len(path) == 0 {
					doc = deepCopy(value)
				} else {
					doc, err = refUpdate(doc, path, func(container any, tok string) (any, error) {
						switch c := container.(type) {
						case map[string]any:
							c[tok] = deepCopy(value)
							return c, nil
						case []any:
							i, err := refIndex(tok, len(c), false)
							if err != nil {
								return nil, err
							}
							c[i] = deepCopy(value)
							return c, nil
						}
						return nil, errRef
					})
				}
			}
		case "move":
			if isPrefix(from, path) {
				return nil, errRef
			}
			var v any
			if v, err = refGet(doc, from); err == nil && !slices.Equal(from, path) {
				if doc, err = refRemove(doc, from); err == nil {
					doc, err = refAdd(doc, path, v)
				}
			}
		case "copy":
			var v any
			if v, err = refGet(doc, from); err == nil {
				doc, err = refAdd(doc, path, deepCopy(v))
			}
		case "test":
			var v any
			if v, err = refGet(doc, path); err == nil && !refEqual(v, value) {
				err = errRef
			}
		default:
			return nil, errRef
		}
		if err != nil {
			return nil, err
		}
	}
	return doc, nil
}

// refMerge is MergePatch of RFC 7396 section 2, as written there.
func refMerge(target, patch any) any {
	p, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	t, ok := target.(map[string]any)
	if !ok {
		t = map[string]any{}
	}
	for name, value := range p {
		if value == nil {
			delete(t, name)
			continue
		}
		t[name] = refMerge(t[name], value)
	}
	return t
}

// refEqual compares decoded JSON values: numbers by exact value.
func refEqual(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		rx, okx := new(big.Rat).SetString(string(x))
		ry, oky := new(big.Rat).SetString(string(y))
		return okx && oky && rx.Cmp(ry) == 0
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !refEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !refEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// hugeExponent matches number exponents too large for big.Rat to expand
// cheaply; inputs holding one are left out of the comparison.
var hugeExponent = regexp.MustCompile(`[eE][+-]?0*[0-9]{4,}`)
