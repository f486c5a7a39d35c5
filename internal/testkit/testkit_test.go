package testkit_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/testkit"
)

func TestClock(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	c := testkit.NewClock(t0)
	require.Equal(t, t0, c.Now())
	c.Advance(time.Minute)
	require.Equal(t, t0.Add(time.Minute), c.Now())
}

func TestSecrets(t *testing.T) {
	var s testkit.Secrets
	require.Equal(t, "a-long-secret-value", s.Add("passphrase", "a-long-secret-value"))
	s.Add("cvv", "123")
	require.Empty(t, s.Found("nothing here, not even 123"), "a short value counts only in context")
	found := s.Found(`user=x passphrase=a-long-secret-value {"cvv":"123"}`)
	require.Equal(t, []string{"secret #0 (passphrase)", "secret #1 (cvv)"}, found)
	require.NotContains(t, found[0], "a-long-secret-value")
	require.Equal(t, 4, s.Len())

	var b testkit.Buffer
	b.Write([]byte("x"))
	require.Equal(t, "x", b.String())
}

func TestSetHeader(t *testing.T) {
	for _, tc := range []struct {
		name        string
		hasBody     bool
		contentType string
		header      map[string]string
		want        http.Header
	}{
		{name: "a body is JSON", hasBody: true, want: http.Header{"Content-Type": {"application/json"}}},
		{name: "no body, no type", want: http.Header{}},
		{name: "a type named", hasBody: true, contentType: "text/plain", want: http.Header{"Content-Type": {"text/plain"}}},
		{name: "none", hasBody: true, contentType: "-", want: http.Header{}},
		{name: "fields win", hasBody: true, header: map[string]string{"Content-Type": "a/b", "X-A": "1"},
			want: http.Header{"Content-Type": {"a/b"}, "X-A": {"1"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hr := httptest.NewRequest("POST", "/", nil)
			testkit.SetHeader(hr, tc.hasBody, tc.contentType, tc.header)
			require.Equal(t, tc.want, hr.Header)
		})
	}
}

// TestListen: a connection reaches handle, and the test's end closes the
// listener and the server's side of every connection.
func TestListen(t *testing.T) {
	var client net.Conn
	t.Run("while the test runs", func(t *testing.T) {
		served := make(chan struct{})
		addr := testkit.Listen(t, func(net.Conn) { close(served) })
		var err error
		client, err = net.Dial("tcp", addr)
		require.NoError(t, err)
		<-served
	})
	defer client.Close()
	require.NoError(t, client.SetReadDeadline(time.Now().Add(10*time.Second)))
	_, err := client.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "the server's side is closed")
}
