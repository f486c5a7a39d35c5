package redact

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/luhn"
)

func TestRedactString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"card 4111111111111111 declined", "card [REDACTED] declined"},
		{"card 4111 1111 1111 1111.", "card [REDACTED]."},
		{"card 4111-1111-1111-1111", "card [REDACTED]"},
		{"qty 1 4111 1111 1111 1111", "qty 1 [REDACTED]"}, // a digit in front once hid the number
		{"amex 378282246310005", "amex [REDACTED]"},
		{"not luhn 4111111111111112 stays", "not luhn 4111111111111112 stays"},
		{"short 12345 and port 8080", "short 12345 and port 8080"},
		{"very long 12345678901234567890123", "very long [REDACTED]"},
		{"GET /v1/vault?user=u&passphrase=hunter2&token=abc", "GET /v1/vault?user=u&passphrase=[REDACTED]&token=[REDACTED]"},
		{"link ?unique_id=x&secret=S2TRYk", "link ?unique_id=x&secret=[REDACTED]"},
		{`{"cvv":"123","card_holder":"Ada"}`, `{"cvv":"[REDACTED]","card_holder":"Ada"}`},
		{`{"cvv": "123"}`, `{"cvv": "[REDACTED]"}`},
		{`{"card number": 4111111111111111}`, `{"card number": "[REDACTED]"}`},
		{`{"passphrase":"with \" quote and space"}`, `{"passphrase":"[REDACTED]"}`},
		{"Cookie: session=abc", "Cookie: [REDACTED]"},
		{"Authorization: Bearer eyJhbGciOi.x.y", "Authorization: [REDACTED] [REDACTED]"},
		{"sent Bearer abc.def", "sent Bearer [REDACTED]"},
		{"basic Basic YWxpY2U6cHc=", "basic Basic [REDACTED]"},
		{"X-PCIVault-Capture-Secret: abcdef", "X-PCIVault-Capture-Secret: [REDACTED]"},
		{"x-api-key=k1", "x-api-key=[REDACTED]"},
		{"id " + strings.Repeat("aB3_-", 9), "id [REDACTED]"},
		{"wrong user or passphrase: unauthorized", "wrong user or passphrase: unauthorized"},
		{"unknown capture endpoint or wrong secret", "unknown capture endpoint or wrong secret"},
		{"route=POST /v1/capture/{id} status=200", "route=POST /v1/capture/{id} status=200"},
		{"", ""},
	}
	for _, c := range cases {
		require.Equal(t, c.want, redactString(c.in), c.in)
	}
}

// luhnRun finds a 12-19 digit run that passes Luhn.
func luhnRun(s string) bool {
	for _, m := range regexp.MustCompile(`[0-9]+`).FindAllString(s, -1) {
		for i := 0; i < len(m); i++ {
			for j := i + 12; j <= len(m) && j-i <= 19; j++ {
				if i == 0 && j == len(m) && luhn.Valid(m[i:j]) {
					return true
				}
			}
		}
	}
	return false
}

func FuzzRedactString(f *testing.F) {
	for _, s := range []string{"4111111111111111", "x 4111 1111 1111 1111 y", "passphrase=a&secret=b", `{"cvv":"1"}`,
		"Bearer a.b.c", "1234-5678-9012-3456-7890", strings.Repeat("9", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := redactString(s)
		require.False(t, luhnRun(out), "a card number survives redaction")
		require.Equal(t, out, redactString(out), "redaction is idempotent")
	})
}

func TestRedactingHandler(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(NewHandler(slog.NewJSONHandler(&buf, nil)))
	require.Same(t, log.Handler(), NewHandler(log.Handler()), "wrapping twice is once")

	u, _ := url.Parse("https://vault/v1/vault?user=u&passphrase=pp-secret-1")
	log.With("api_key", "k-secret-2").WithGroup("req").Info("saw 4111111111111111",
		"passphrase", "pp-secret-3",
		slog.Group("headers", "Authorization", "Bearer tok-secret-4", "X-PCIVault-Capture-Secret", "cs-secret-5", "accept", "json"),
		"url", u,
		"err", errors.New("bad card 5555555555554444"),
		"header", http.Header{"X-Api-Key": {"k-secret-6"}, "Accept": {"json"}},
		"n", int64(4242424242424242),
		"body", []byte(`{"cvv":"cvv-secret-8"}`),
		"any", struct{ Pass string }{"password=pw-secret-7"},
		"token_378282246310005", "v", // a key naming a secret, and holding a card number
	)
	out := buf.String()
	for _, s := range []string{"pp-secret-1", "k-secret-2", "pp-secret-3", "tok-secret-4", "cs-secret-5", "4111111111111111",
		"5555555555554444", "k-secret-6", "4242424242424242", "cvv-secret-8", "pw-secret-7", "378282246310005"} {
		require.NotContains(t, out, s)
	}
	require.Contains(t, out, `"accept":"json"`, "the rest is kept")
	require.Contains(t, out, "bad card [REDACTED]")
	require.Contains(t, out, `"req"`)
}
