package idempotency_test

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/idempotency"
)

func TestParseKey(t *testing.T) {
	for in, want := range map[string]string{
		"8e03978e-40d5-43e8-bc93-6894a57f9324": "8e03978e-40d5-43e8-bc93-6894a57f9324",
		"8E03978E-40D5-43E8-BC93-6894A57F9324": "8e03978e-40d5-43e8-bc93-6894a57f9324",
	} {
		got, ok := idempotency.ParseKey(in)
		require.True(t, ok, in)
		require.Equal(t, want, got)
	}
	for _, bad := range []string{
		"", "8e03978e40d543e8bc936894a57f9324", "8e03978e-40d5-13e8-bc93-6894a57f9324", // version 1
		"8e03978e-40d5-43e8-7c93-6894a57f9324", // variant
		"8e03978e-40d5-43e8-bc93-6894a57f932g", "{8e03978e-40d5-43e8-bc93-6894a57f9324}", "8e03978e-40d5-43e8-bc93_6894a57f9324",
	} {
		_, ok := idempotency.ParseKey(bad)
		require.False(t, ok, bad)
	}
}

func FuzzParseKey(f *testing.F) {
	f.Add("8e03978e-40d5-43e8-bc93-6894a57f9324")
	f.Add(strings.ToUpper("0b8a4b5e-8a0e-4c5e-9f3e-2b7c1d6e5f40"))
	f.Add("8e03978e-40d5-13e8-bc93-6894a57f9324")
	f.Add("")
	uuid4 := regexp.MustCompile(`^(?i)[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := idempotency.ParseKey(s)
		require.Equal(t, uuid4.MatchString(s), ok)
		if ok {
			require.Equal(t, strings.ToLower(s), got)
		}
	})
}

// TestResponse: a kept response decodes to what was encoded, and bytes
// Encode did not make are refused.
func TestResponse(t *testing.T) {
	for _, res := range []idempotency.Response{
		{Status: 201, Header: http.Header{"Location": {"/x"}, "Content-Type": {"application/json"}}, Body: []byte(`{"a":1}`)},
		{Status: 204, Header: http.Header{}, Body: []byte{}},
		{Status: 409, Header: http.Header{"X-Two": {"a", "b"}}, Body: []byte("\x00\xff")},
	} {
		got, err := idempotency.DecodeResponse(res.Encode())
		require.NoError(t, err)
		require.Equal(t, res, got)
	}
	got, err := idempotency.DecodeResponse(idempotency.Response{Header: http.Header{}}.Encode())
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, got.Status, "a status of 0 is kept as 200")

	many := http.Header{}
	for range 65 {
		many.Add("X-Many", "v")
	}
	for name, kept := range map[string][]byte{
		"empty":         nil,
		"status 99":     idempotency.Response{Status: 99}.Encode(),
		"status 600":    idempotency.Response{Status: 600}.Encode(),
		"65 headers":    idempotency.Response{Status: 200, Header: many}.Encode(),
		"cut in a name": idempotency.Response{Status: 200, Header: http.Header{"Location": {"/x"}}}.Encode()[:4],
	} {
		_, err := idempotency.DecodeResponse(kept)
		require.ErrorIs(t, err, idempotency.ErrCorruptResponse, name)
	}
}

// TestFingerprint: method, path, query and body each tell requests apart.
func TestFingerprint(t *testing.T) {
	base := idempotency.Fingerprint(httptest.NewRequest("POST", "/a?x=1", nil), []byte("{}"))
	for name, fp := range map[string][]byte{
		"method": idempotency.Fingerprint(httptest.NewRequest("PATCH", "/a?x=1", nil), []byte("{}")),
		"path":   idempotency.Fingerprint(httptest.NewRequest("POST", "/b?x=1", nil), []byte("{}")),
		"query":  idempotency.Fingerprint(httptest.NewRequest("POST", "/a?x=2", nil), []byte("{}")),
		"body":   idempotency.Fingerprint(httptest.NewRequest("POST", "/a?x=1", nil), []byte("[]")),
		"split":  idempotency.Fingerprint(httptest.NewRequest("POST", "/a?x=1{", nil), []byte("}")),
	} {
		require.NotEqual(t, base, fp, name)
	}
	require.Equal(t, base, idempotency.Fingerprint(httptest.NewRequest("POST", "/a?x=1", nil), []byte("{}")))
}

func TestResponseWrite(t *testing.T) {
	kept := idempotency.Response{Status: http.StatusCreated,
		Header: http.Header{"Location": {"/things/1"}, "Content-Type": {"application/json"}}, Body: []byte(`{"id":1}`)}
	for _, tc := range []struct {
		name     string
		res      idempotency.Response
		replayed bool
		status   int
		header   http.Header
	}{
		{"first run", kept, false, http.StatusCreated,
			http.Header{"Location": {"/things/1"}, "Content-Type": {"application/json"}, "Content-Length": {"8"}}},
		{"replay", kept, true, http.StatusCreated,
			http.Header{"Location": {"/things/1"}, "Content-Type": {"application/json"}, "Content-Length": {"8"},
				idempotency.ReplayedHeader: {"true"}}},
		{"no status, no body", idempotency.Response{}, false, http.StatusOK, http.Header{"Content-Length": {"0"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			decoded, err := idempotency.DecodeResponse(tc.res.Encode())
			require.NoError(t, err)
			rec := httptest.NewRecorder()
			decoded.Write(rec, tc.replayed)
			require.Equal(t, tc.status, rec.Code)
			require.Equal(t, tc.header, rec.Header())
			require.Equal(t, string(tc.res.Body), rec.Body.String())
		})
	}
}

// TestRecorder: a Recorder keeps the first status, the header and the
// body, as a real response would have them.
func TestRecorder(t *testing.T) {
	for name, c := range map[string]struct {
		answer func(w http.ResponseWriter)
		want   idempotency.Response
	}{
		"nothing written": {func(http.ResponseWriter) {}, idempotency.Response{}},
		"body only": {func(w http.ResponseWriter) { _, _ = w.Write([]byte("hi")) },
			idempotency.Response{Status: http.StatusOK, Body: []byte("hi")}},
		"first status counts": {func(w http.ResponseWriter) {
			w.Header().Set("Location", "/x")
			w.WriteHeader(http.StatusCreated)
			w.WriteHeader(http.StatusTeapot)
			_, _ = w.Write([]byte("{}"))
		}, idempotency.Response{Status: http.StatusCreated, Header: http.Header{"Location": {"/x"}}, Body: []byte("{}")}},
	} {
		t.Run(name, func(t *testing.T) {
			var rec idempotency.Recorder
			c.answer(&rec)
			got := rec.Response()
			if len(got.Body) == 0 {
				got.Body = nil
			}
			require.Equal(t, c.want, got)
		})
	}
}

// TestKeep: an answer is kept as its encoded response, and a 5xx answer
// is not kept at all.
func TestKeep(t *testing.T) {
	kept, err := idempotency.Keep(func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusConflict)
		_, _ = w.Write([]byte(`{"a":1}`))
	})
	require.NoError(t, err)
	got, err := idempotency.DecodeResponse(kept)
	require.NoError(t, err)
	require.Equal(t, idempotency.Response{Status: http.StatusConflict, Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(`{"a":1}`)}, got)

	for _, status := range []int{http.StatusInternalServerError, http.StatusServiceUnavailable} {
		kept, err := idempotency.Keep(func(w http.ResponseWriter) { w.WriteHeader(status) })
		require.ErrorContains(t, err, "is not kept", status)
		require.Nil(t, kept)
	}
}
