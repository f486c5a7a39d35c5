package capture_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/vault"
)

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

// TestReplies pins the JSON of the answers about grants.
func TestReplies(t *testing.T) {
	exp := time.Date(2030, 1, 2, 3, 4, 5, 600, time.FixedZone("x", 3600))
	created := time.Date(2030, 1, 1, 0, 0, 0, 0, time.FixedZone("x", 3600))
	for _, tc := range []struct {
		name  string
		reply any
		want  string
	}{
		{"grant, open, never expires", capture.Grant{ID: "g1", Secret: "s"}.Reply("/p/v1/capture/"),
			`{"id":"g1","url":"/p/v1/capture/g1","secret":"s"}`},
		{"grant, locked, expires (to the second, in UTC)", capture.Grant{ID: "g2", Secret: "s", ExpiresAt: exp,
			Lock: &vault.ItemRef{Token: "tok", Reference: "ref"}}.Reply("/p/v1/capture/"),
			`{"id":"g2","url":"/p/v1/capture/g2","secret":"s","expires_at":"2030-01-02T02:04:05Z",` +
				`"lockdown_info":{"token":"tok","reference":"ref"}}`},
		{"info, bare", capture.Info{ID: "g1", User: "u", CreatedAt: created}.Reply(capture.DefaultCapturePath),
			`{"id":"g1","url":"/v1/capture/g1","user":"u","created_at":"2029-12-31T23:00:00Z"}`},
		{"info, everything, never the secret", capture.Info{ID: "g2", User: "u", CreatedAt: created,
			ExpiresAt: created.Add(90 * time.Minute), Lock: &vault.ItemRef{Token: "t", Reference: "r"},
			AllowedFields: []string{"number"}, SingleUse: true, Used: true, WebhookURL: "https://h.example/"}.Reply(capture.DefaultCapturePath),
			`{"id":"g2","url":"/v1/capture/g2","user":"u","created_at":"2029-12-31T23:00:00Z",` +
				`"expires_at":"2030-01-01T00:30:00Z","lockdown_info":{"token":"t","reference":"r"},` +
				`"allowed_fields":["number"],"single_use":true,"used":true,"webhook_url":"https://h.example/"}`},
		{"terminal endpoint", capture.Grant{ID: "g", Secret: "s", ExpiresAt: time.Date(2030, 1, 1, 1, 0, 0, 0, time.FixedZone("x", 3600))}.
			TerminalEndpoint(capture.DefaultCapturePath, "pt"),
			`{"id":"g","url":"/v1/capture/g","secret":"s","processingTerminalId":"pt","expiresAt":"2030-01-01T00:00:00Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.JSONEq(t, tc.want, marshal(t, tc.reply))
		})
	}
}

func TestParseGrantRequest(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       capture.GrantRequest
		err        string
	}{
		{"options", `{"webhook":{"url":"https://h.example/","secret":"w"},"allowed_fields":["number"],"single_use":true}`,
			capture.GrantRequest{Webhook: &capture.Webhook{URL: "https://h.example/", Secret: "w"},
				AllowedFields: []string{"number"}, SingleUse: true}, ""},
		{"null webhook", `{"webhook":null}`, capture.GrantRequest{}, ""},
		{"no body", " \n", capture.GrantRequest{}, ""},
		{"too large", `{"allowed_fields":["` + strings.Repeat("x", capture.MaxGrantRequest) + `"]}`, capture.GrantRequest{},
			"JSON document too large at offset 16384: 16407 bytes, limit 16384"},
		{"query parameters are not body members", `{"ttl":"PT1M"}`, capture.GrantRequest{}, `invalid body: unknown field "ttl"`},
		{"nor are credentials", `{"Credentials":{}}`, capture.GrantRequest{}, `invalid body: unknown field "Credentials"`},
		{"unknown webhook member", `{"webhook":{"uri":"x"}}`, capture.GrantRequest{}, `invalid body: unknown field "uri"`},
		{"wrong type", `{"single_use":"yes"}`, capture.GrantRequest{}, "invalid body: single_use has the wrong type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := capture.ParseGrantRequest([]byte(tc.body))
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseTerminalRequest(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		ttl        string
		field      string // the bad field, "" for none
	}{
		{"no body", "", capture.DefaultTerminalTTL, ""},
		{"blank body", " \n", capture.DefaultTerminalTTL, ""},
		{"ttl", `{"ttl":"PT5M"}`, "PT5M", ""},
		{"ttl over a day", `{"ttl":"P2D"}`, "", "/ttl"},
		{"unknown member", `{"ttl":"PT5M","x":1}`, "", "body"},
		{"not JSON", `{`, "", "body"},
		{"too large", `{"ttl":"` + strings.Repeat("x", capture.MaxGrantRequest) + `"}`, "", "body"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := capture.ParseTerminalRequest("owner", "pt", []byte(tc.body))
			if tc.field != "" {
				var inv *cardvault.InvalidError
				require.ErrorAs(t, err, &inv)
				require.Len(t, inv.Fields, 1)
				require.Equal(t, tc.field, inv.Fields[0].Field)
				return
			}
			require.NoError(t, err)
			require.Equal(t, capture.GrantRequest{Owner: "owner", Terminal: "pt", TTL: tc.ttl, SingleUse: true}, req)
		})
	}
}

func TestResultReply(t *testing.T) {
	for _, tc := range []struct {
		name string
		res  capture.Result
		want string // byte for byte: the order of the members is the wire's
	}{
		{"a vault grant's item", capture.Result{Owner: "o", User: "u", Item: vault.ItemRef{Token: "t", Reference: "r"}},
			`{"token":"t","user":"u","reference":"r"}`},
		{"a single-use token", capture.Result{SingleUse: &capture.SingleUseToken{Token: "sut", Terminal: "pt",
			ExpiresAt: time.Date(2030, 1, 1, 1, 30, 0, 500, time.FixedZone("x", 3600))}},
			`{"expires_at":"2030-01-01T00:30:00Z","processing_terminal_id":"pt","single_use_token":"sut"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, marshal(t, tc.res.Reply()))
		})
	}
}

func TestFormReply(t *testing.T) {
	f := capture.Form{Type: capture.FormCard, ID: "f1"}
	require.Equal(t, `{"type":"pcd","id":"f1","link":"vault.example/v1/capture/iframe/f1"}`,
		marshal(t, f.Reply("vault.example/v1/capture/iframe/f1")))
}
