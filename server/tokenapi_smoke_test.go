package server

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTokenAPISmoke(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": keyAll.Key}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	bearer := "Bearer " + r.json(t)["access_token"].(string)
	h := func(extra ...string) map[string]string {
		m := map[string]string{"Authorization": bearer}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	body := `{"secureTokenId":"MREF_1","customer":{"firstName":"Sarah","lastName":"Hopper"},"source":{"type":"card","cardDetails":{"entryMethod":"keyed","cardholderName":"Sarah Hopper","keyedData":{"dataFormat":"plainText","cardNumber":"4539858876047062","expiryDate":"1225"}}}}`
	r = e.do(req{method: "POST", path: "/v1/processing-terminals/1234001/secure-tokens", body: body, header: h("Idempotency-Key", "8e03978e-40d5-43e8-bc93-6894a57f9324")})
	require.Equal(t, http.StatusCreated, r.status, "%s", r.body)
	require.Equal(t, "http://example.com/v1/processing-terminals/1234001/secure-tokens/MREF_1", r.header.Get("Location"))
	r = e.do(req{method: "PATCH", path: "/v1/processing-terminals/1234001/secure-tokens/MREF_1", body: `[{"op":"add","path":"/shippingAddress/recipientName","value":null}]`, header: h("Idempotency-Key", "9e03978e-40d5-43e8-bc93-6894a57f9324")})
	require.Equal(t, http.StatusBadRequest, r.status, "%s", r.body)
	require.Contains(t, string(r.body), "/customer/shippingAddress/recipientName")
	r = e.do(req{method: "GET", path: "/v1/processing-terminals/1234001/secure-tokens", header: h()})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, float64(1), r.json(t)["count"])
	r = e.do(req{method: "GET", path: "/v1/processing-terminals/9999001/secure-tokens/MREF_1", header: h()})
	require.Equal(t, http.StatusNotFound, r.status, "%s", r.body)
}
