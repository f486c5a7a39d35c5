package proxy_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/proxy"
	"github.com/cardvault/cardvault/vault"
)

func TestReply(t *testing.T) {
	rendered := &proxy.Rendered{Method: "POST", URL: "https://psp.example/pay"}
	const populated = `"populated_template":{"method":"POST","url":"https://psp.example/pay","headers":[],"body":""}`
	item := vault.ItemRef{Token: "t", Reference: "r"}
	for _, tc := range []struct {
		name   string
		reply  func() (int, any)
		status int
		want   string
	}{
		{"sent", proxy.Result{Response: &proxy.Response{Status: 402, Headers: map[string]string{}, Body: "no"}, Tries: 2}.Reply,
			http.StatusOK, `{"status":402,"headers":{},"body":"no"}`},
		{"sent, debug", proxy.Result{Response: &proxy.Response{Status: 200, Body: "ok"}, Populated: rendered}.Reply,
			http.StatusOK, `{"status":200,"headers":null,"body":"ok",` + populated + `}`},
		{"queued", proxy.Result{ID: "job"}.Reply, http.StatusAccepted, `{"id":"job","status":"queued"}`},
		{"received", func() (int, any) { return proxy.Received{Item: item, Tries: 1}.Reply("u") },
			http.StatusOK, `{"token":"t","user":"u","reference":"r"}`},
		{"received, debug", func() (int, any) { return proxy.Received{Item: item, Populated: rendered}.Reply("u") },
			http.StatusOK, `{"token":"t","user":"u","reference":"r",` + populated + `}`},
		{"receive queued", func() (int, any) { return proxy.Received{ID: "job"}.Reply("u") },
			http.StatusAccepted, `{"id":"job","status":"queued"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := tc.reply()
			require.Equal(t, tc.status, status)
			b, err := json.Marshal(body)
			require.NoError(t, err)
			require.JSONEq(t, tc.want, string(b))
		})
	}
}
