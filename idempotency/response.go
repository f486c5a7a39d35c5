package idempotency

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"net/http"
	"strconv"
	"strings"
)

// ParseKey accepts an idempotency key as the secure-token API sends it, a
// UUID version 4 (RFC 9562) in any case, and returns it in lower case.
func ParseKey(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	s = strings.ToLower(s)
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return "", false
			}
		}
	}
	if s[14] != '4' || !strings.ContainsRune("89ab", rune(s[19])) {
		return "", false
	}
	return s, true
}

// Fingerprint identifies an HTTP request for its key, as Call.Request:
// its method, escaped path, raw query and body.
func Fingerprint(r *http.Request, body []byte) []byte {
	h := sha256.New()
	for _, s := range []string{r.Method, r.URL.EscapedPath(), r.URL.RawQuery} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	return h.Sum(nil)
}

// Response is an HTTP response kept as an outcome, so that a replay is
// byte-identical by construction: the reference server's Call.Encode
// renders its answer into one.
type Response struct {
	Status int // 0 means 200
	Header http.Header
	Body   []byte
}

// ReplayedHeader marks a replayed response: "Idempotent-Replayed: true".
const ReplayedHeader = "Idempotent-Replayed"

// Write answers with r: its headers (added to those w has), its
// Content-Length, its status and its body, with ReplayedHeader when the
// response is a replay.
func (r Response) Write(w http.ResponseWriter, replayed bool) {
	dst := w.Header()
	for name, vs := range r.Header {
		dst[name] = vs
	}
	if replayed {
		dst.Set(ReplayedHeader, "true")
	}
	dst.Set("Content-Length", strconv.Itoa(len(r.Body)))
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(r.Body)
}

// maxResponseHeaders bounds the header values DecodeResponse accepts.
const maxResponseHeaders = 64

// ErrCorruptResponse is DecodeResponse's error for bytes Encode did not
// make.
var ErrCorruptResponse = errors.New("idempotency: a kept response is corrupt")

// Encode returns the kept form of the response: uvarint status, uvarint
// number of header values, each as uvarint-length-prefixed name and value,
// then the body.
func (r Response) Encode() []byte {
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	out := binary.AppendUvarint(nil, uint64(status))
	n := 0
	for _, vs := range r.Header {
		n += len(vs)
	}
	out = binary.AppendUvarint(out, uint64(n))
	for name, vs := range r.Header {
		for _, v := range vs {
			out = binary.AppendUvarint(out, uint64(len(name)))
			out = append(out, name...)
			out = binary.AppendUvarint(out, uint64(len(v)))
			out = append(out, v...)
		}
	}
	return append(out, r.Body...)
}

// DecodeResponse decodes what Response.Encode made.
func DecodeResponse(kept []byte) (Response, error) {
	next := func() (uint64, error) {
		v, n := binary.Uvarint(kept)
		if n <= 0 {
			return 0, ErrCorruptResponse
		}
		kept = kept[n:]
		return v, nil
	}
	str := func() (string, error) {
		l, err := next()
		if err != nil || uint64(len(kept)) < l {
			return "", ErrCorruptResponse
		}
		s := string(kept[:l])
		kept = kept[l:]
		return s, nil
	}
	status, err := next()
	if err != nil || status < 100 || status > 599 {
		return Response{}, ErrCorruptResponse
	}
	n, err := next()
	if err != nil || n > maxResponseHeaders {
		return Response{}, ErrCorruptResponse
	}
	h := http.Header{}
	for range n {
		name, err := str()
		if err != nil {
			return Response{}, err
		}
		v, err := str()
		if err != nil {
			return Response{}, err
		}
		h[name] = append(h[name], v)
	}
	return Response{Status: int(status), Header: h, Body: kept}, nil
}
