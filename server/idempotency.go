package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/cardvault/cardvault/idempotency"
)

// Idempotency-Key (docs/reference/payroc-api.md): every POST and PATCH of the secure-token
// API carries a UUID v4. The first request with a key runs; its response is
// kept and any later request with the same key, method, path (with query)
// and body gets that response again, byte for byte (status, the headers the
// handler set, body) plus "Idempotent-Replayed: true"; the same key with a
// different request gets 409 idempotency-key-in-use.
//
// The rule lives in package idempotency, and the library's writes keep the
// outcome in the transaction that does the work: a request is one durable
// commit, and a crash can no longer run it twice. This file only reads the
// header (requireIdempotency) and turns the handler's answer into the bytes
// that are kept (writeOnce): the kept outcome is the response itself, so a
// replay is byte-identical by construction. Keys are scoped per API key;
// responses with a 5xx status are not kept, so the client's retry runs
// again. Records are kept Config.IdempotencyTTL (24 h by default) and swept
// by the expiry sweeper.

const replayedHeader = "Idempotent-Replayed"

// parseIdempotencyKey accepts a UUID version 4 (RFC 9562) in any case and
// returns it in lower case.
func parseIdempotencyKey(s string) (string, bool) {
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

// fingerprint identifies a request for its key: method, path, query, body.
func fingerprint(r *http.Request, body []byte) []byte {
	h := sha256.New()
	for _, s := range []string{r.Method, r.URL.EscapedPath(), r.URL.RawQuery} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	h.Write(body)
	return h.Sum(nil)
}

type idemCallKey struct{}

// idemCall returns the call requireIdempotency made for the request, nil
// for a method that takes no Idempotency-Key.
func idemCall(r *http.Request) *idempotency.Call {
	c, _ := r.Context().Value(idemCallKey{}).(*idempotency.Call)
	return c
}

// requireIdempotency wraps a POST or PATCH handler of the secure-token API
// (other methods pass through): a missing or malformed Idempotency-Key is a
// 400 idempotency-key-missing. It must run after requireBearer, whose
// client scopes the keys. It reads the whole body (at most maxBody bytes,
// else 413), hands the handler a copy, and puts the request's
// idempotency.Call in its context for writeOnce.
func (s *Server) requireIdempotency(next http.Handler, maxBody int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPatch {
			next.ServeHTTP(w, r)
			return
		}
		key, ok := parseIdempotencyKey(r.Header.Get("Idempotency-Key"))
		if !ok {
			p := s.newProblem(anchorIdemMissing)
			if r.Header.Get("Idempotency-Key") != "" {
				p.Detail = "The 'Idempotency-Key' must be a UUID v4"
			}
			writeProblem(w, p)
			return
		}
		client, ok := clientFrom(r.Context())
		if !ok {
			s.log.ErrorContext(r.Context(), "requireIdempotency runs without requireBearer", "route", r.Pattern)
			writeProblem(w, s.newProblem(anchorAPIError))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				writeProblem(w, s.newProblem(anchorTooLarge))
				return
			}
			s.writeProblemFor(w, r, err, "")
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		call := &idempotency.Call{Principal: client.ID, Key: key, Request: fingerprint(r, body)}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), idemCallKey{}, call)))
	})
}

// writeOnce answers a write of the secure-token API: do calls the library
// with the request's idempotency.Call (nil when the method takes none), and
// answer writes an outcome — a result, or the error do ended with — as the
// route answers it. Under a key, answer runs inside the library's
// transaction to render the bytes that are kept, and the response is those
// bytes, on the first run as on a replay.
func writeOnce[T any](s *Server, w http.ResponseWriter, r *http.Request,
	do func(call *idempotency.Call) (T, error), answer func(w http.ResponseWriter, res T, err error)) {
	call := idemCall(r)
	if call == nil {
		res, err := do(nil)
		answer(w, res, err)
		return
	}
	call.Encode = func(result any, err error) ([]byte, error) {
		var v T
		if p, ok := result.(*T); ok && p != nil {
			v = *p
		}
		b := &bufferedWriter{header: http.Header{}}
		answer(b, v, err)
		if b.status >= 500 {
			return nil, fmt.Errorf("server: a %d response is not kept", b.status)
		}
		return b.encode(), nil
	}
	res, err := do(call)
	if call.Outcome == nil {
		// Not kept: a failure of the server, or the key in use.
		answer(w, res, err)
		return
	}
	if err := writeKept(w, call.Outcome, call.Replayed); err != nil {
		s.log.ErrorContext(r.Context(), "a kept response does not decode", "err", err)
		writeProblem(w, s.newProblem(anchorAPIError))
		return
	}
	if call.Replayed {
		s.metrics.replay()
	}
}

// bufferedWriter records a response instead of sending it.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}

// encode is the kept form of the response: uvarint status, uvarint number
// of header values, each as uvarint-length-prefixed name and value, then
// the body.
func (b *bufferedWriter) encode() []byte {
	status := b.status
	if status == 0 {
		status = http.StatusOK
	}
	out := binary.AppendUvarint(nil, uint64(status))
	n := 0
	for _, vs := range b.header {
		n += len(vs)
	}
	out = binary.AppendUvarint(out, uint64(n))
	for name, vs := range b.header {
		for _, v := range vs {
			out = binary.AppendUvarint(out, uint64(len(name)))
			out = append(out, name...)
			out = binary.AppendUvarint(out, uint64(len(v)))
			out = append(out, v...)
		}
	}
	return append(out, b.body.Bytes()...)
}

var errKeptCorrupt = errors.New("server: a kept response is corrupt")

// writeKept writes a response encode made, marked as replayed when it is.
func writeKept(w http.ResponseWriter, kept []byte, replayed bool) error {
	next := func() (uint64, error) {
		v, n := binary.Uvarint(kept)
		if n <= 0 {
			return 0, errKeptCorrupt
		}
		kept = kept[n:]
		return v, nil
	}
	str := func() (string, error) {
		l, err := next()
		if err != nil || uint64(len(kept)) < l {
			return "", errKeptCorrupt
		}
		s := string(kept[:l])
		kept = kept[l:]
		return s, nil
	}
	status, err := next()
	if err != nil || status < 100 || status > 599 {
		return errKeptCorrupt
	}
	n, err := next()
	if err != nil || n > 64 {
		return errKeptCorrupt
	}
	h := http.Header{}
	for range n {
		name, err := str()
		if err != nil {
			return err
		}
		v, err := str()
		if err != nil {
			return err
		}
		h[name] = append(h[name], v)
	}
	dst := w.Header()
	for name, vs := range h {
		dst[name] = vs
	}
	if replayed {
		dst.Set(replayedHeader, "true")
	}
	dst.Set("Content-Length", strconv.Itoa(len(kept)))
	w.WriteHeader(int(status))
	_, _ = w.Write(kept)
	return nil
}
