package idempotency

import (
	"bytes"
	"fmt"
	"net/http"
)

// Recorder is an http.ResponseWriter that records a response instead of
// sending it: a handler's answer, to be kept as a Response. The zero
// Recorder is ready to use.
type Recorder struct {
	header http.Header
	status int // 0 until the handler writes
	body   bytes.Buffer
}

// Header returns the header the response will have.
func (r *Recorder) Header() http.Header {
	if r.header == nil {
		r.header = http.Header{}
	}
	return r.header
}

// WriteHeader records status; only the first call counts, as for a real
// response.
func (r *Recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

// Write records body bytes, with the status 200 unless one was written.
func (r *Recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}

// Response returns what was recorded; its Status is 0 if nothing was
// written.
func (r *Recorder) Response() Response {
	return Response{Status: r.status, Header: r.header, Body: r.body.Bytes()}
}

// Keep records the response answer writes and returns it encoded to be
// kept (Response.Encode), as a Call.Encode that answers in HTTP does. A
// response with a 5xx status is not kept: it says the server failed, and
// the client's retry with the same key must run the request again rather
// than get the failure back.
func Keep(answer func(w http.ResponseWriter)) ([]byte, error) {
	var rec Recorder
	answer(&rec)
	if rec.status >= 500 {
		return nil, fmt.Errorf("idempotency: a %d response is not kept", rec.status)
	}
	return rec.Response().Encode(), nil
}
