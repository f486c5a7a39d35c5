package server

import (
	"bytes"
	"context"
	"io"
	"net/http"

	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/securetoken"
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
// that are kept (writeOnce, idempotency.Keep): the kept outcome is
// the response itself, so a replay is byte-identical by construction. Keys are scoped per API key;
// responses with a 5xx status are not kept (idempotency.Keep), so the
// client's retry runs again. Records are kept Config.IdempotencyTTL (24 h by default) and swept
// by the expiry sweeper.

type idemRequestKey struct{}

// idemRequest is what requireIdempotency read of a request: its body, and
// the call it made for its key.
type idemRequest struct {
	call *idempotency.Call
	body []byte
}

// idemCall returns the call requireIdempotency made for the request, nil
// for a method that takes no Idempotency-Key.
func idemCall(r *http.Request) *idempotency.Call {
	ir, _ := r.Context().Value(idemRequestKey{}).(idemRequest)
	return ir.call
}

// tokenBody returns the body of a POST or PATCH of the secure-token API,
// which requireIdempotency read whole under the route's cap (nil for
// another method).
func tokenBody(r *http.Request) []byte {
	ir, _ := r.Context().Value(idemRequestKey{}).(idemRequest)
	return ir.body
}

// requireIdempotency wraps a POST or PATCH handler of the secure-token API
// (other methods pass through): a missing or malformed Idempotency-Key is a
// 400 idempotency-key-missing. It must run after requireBearer, whose
// client scopes the keys. It reads the whole body (at most maxBody bytes,
// else 413), hands the handler a copy (and tokenBody), and puts the
// request's idempotency.Call in its context for writeOnce.
func (s *Server) requireIdempotency(next http.Handler, maxBody int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPatch {
			next.ServeHTTP(w, r)
			return
		}
		key, ok := idempotency.ParseKey(r.Header.Get("Idempotency-Key"))
		if !ok {
			p := s.newProblem(securetoken.ProblemIdemMissing)
			if r.Header.Get("Idempotency-Key") != "" {
				p.Detail = "The 'Idempotency-Key' must be a UUID v4"
			}
			writeProblem(w, p)
			return
		}
		client, ok := clientFrom(r.Context())
		if !ok {
			s.log.ErrorContext(r.Context(), "requireIdempotency runs without requireBearer", "route", r.Pattern)
			writeProblem(w, s.newProblem(securetoken.ProblemAPIError))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			s.writeProblemFor(w, r, err, "") // a body over maxBody is problemFor's 413
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		call := &idempotency.Call{Principal: client.ID, Key: key, Request: idempotency.Fingerprint(r, body)}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), idemRequestKey{}, idemRequest{call, body})))
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
		return idempotency.Keep(func(w http.ResponseWriter) { answer(w, v, err) })
	}
	res, err := do(call)
	if call.Outcome == nil {
		// Not kept: a failure of the server, or the key in use.
		answer(w, res, err)
		return
	}
	kept, err := idempotency.DecodeResponse(call.Outcome)
	if err != nil {
		s.log.ErrorContext(r.Context(), "a kept response does not decode", "err", err)
		writeProblem(w, s.newProblem(securetoken.ProblemAPIError))
		return
	}
	kept.Write(w, call.Replayed)
	if call.Replayed {
		s.metrics.replay()
	}
}
