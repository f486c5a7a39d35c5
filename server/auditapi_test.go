package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/access"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/store/memstore"
)

// flushAudit chains what the server noted, as its background loop would
// within a tenth of a second.
func (e *env) flushAudit() {
	e.t.Helper()
	require.NoError(e.t, e.srv.deployment.Audit.Flush(ctx))
}

// exportAudit returns the whole trail.
func (e *env) exportAudit() []audit.ExportLine {
	e.t.Helper()
	var buf bytes.Buffer
	_, err := e.srv.Audit().Export(ctx, &buf, time.Time{}, time.Time{})
	require.NoError(e.t, err)
	var out []audit.ExportLine
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		if len(line) > 0 {
			var l audit.ExportLine
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.DisallowUnknownFields()
			require.NoError(e.t, dec.Decode(&l), "%s", line)
			out = append(out, l)
		}
	}
	return out
}

func ops(lines []audit.ExportLine) []audit.Op {
	var out []audit.Op
	for _, l := range lines {
		out = append(out, l.Op)
	}
	return out
}

func TestAuditRouteListsTheAccountsOwnEvents(t *testing.T) {
	e := newEnv(t)
	r := e.alice("GET", "/v1/audit", nil, "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, "[]", string(bytes.TrimSpace(r.body)), "nothing yet: reading is chained after")
	for range 4 {
		e.clock.Advance(time.Minute)
		require.Equal(t, http.StatusOK, e.alice("GET", "/v1/audit", nil, "").status)
	}
	require.Equal(t, http.StatusOK, e.do(req{method: "GET", path: "/v1/audit", basic: &bobBasic}).status)
	e.flushAudit()

	// Newest first, alice's only, in pages.
	var seen []map[string]any
	q := url.Values{"limit": {"2"}}
	for {
		r := e.alice("GET", "/v1/audit", q, "")
		require.Equal(t, http.StatusOK, r.status, "%s", r.body)
		seen = append(seen, r.list(t)...)
		next := r.header.Get(headerNextToken)
		if next == "" {
			break
		}
		q.Set("next_token", next)
	}
	require.Len(t, seen, 5)
	for i, ev := range seen {
		require.Equal(t, "alice", ev["account"])
		require.Equal(t, "audit.listed", ev["op"])
		require.Equal(t, "ok", ev["outcome"])
		require.Equal(t, "192.0.2.1", ev["client"], "httptest's remote address, without the port")
		if i > 0 {
			require.Less(t, ev["time"], seen[i-1]["time"])
		}
	}

	// from is inclusive, to exclusive.
	from := e.clock.Now().Add(-3 * time.Minute).Format(time.RFC3339)
	to := e.clock.Now().Add(-time.Minute).Format(time.RFC3339)
	r = e.alice("GET", "/v1/audit", url.Values{"from": {from}, "to": {to}}, "")
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Len(t, r.list(t), 2)

	r = e.do(req{method: "GET", path: "/v1/audit", basic: &bobBasic})
	require.Len(t, r.list(t), 1, "bob sees his own")

	for _, q := range []url.Values{
		{"from": {"yesterday"}},
		{"to": {"2026-13-01T00:00:00Z"}},
		{"limit": {"0"}},
		{"next_token": {"bm90LWEtY3Vyc29y"}},
		{"from": {to}, "to": {from}},
	} {
		r := e.alice("GET", "/v1/audit", q, "")
		require.Equal(t, http.StatusBadRequest, r.status, "%v: %s", q, r.body)
		require.NotEmpty(t, r.errorText(t))
	}
	r = e.do(req{method: "GET", path: "/v1/audit"})
	require.Equal(t, http.StatusUnauthorized, r.status)
}

// The events the server owns: failed credentials of every kind, access
// tokens issued. None keeps what the client sent.
func TestAuditOfCredentials(t *testing.T) {
	e := newEnv(t)
	wrong := access.Account{Name: "alice", Password: secret("password", "not-alices-password-31c5")}
	require.Equal(t, http.StatusUnauthorized, e.do(req{method: "GET", path: "/v1/key", basic: &wrong}).status)
	wrongKey := secret("api key", "ak_wrong_7d1e2f3a4b5c6d7e8f90")
	require.Equal(t, http.StatusUnauthorized, e.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": wrongKey}}).status)
	r := e.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": keyAll.Key}})
	require.Equal(t, http.StatusOK, r.status, "%s", r.body)
	require.Equal(t, http.StatusUnauthorized, e.do(req{method: "GET", path: "/v1/processing-terminals/1234001/secure-tokens",
		header: map[string]string{"Authorization": "Bearer " + secret("access token", "forged.token.value")}}).status)
	e.flushAudit()

	lines := e.exportAudit()
	require.Equal(t, []audit.Op{audit.OpAuthFailed, audit.OpAuthFailed, audit.OpBearerIssued, audit.OpAuthFailed}, ops(lines))
	require.Equal(t, "basic", lines[0].Reason)
	require.Empty(t, lines[0].Account, "a failed login's name is not kept")
	require.Equal(t, "api_key", lines[1].Reason)
	require.Equal(t, audit.OutcomeOK, lines[2].Outcome)
	require.Len(t, lines[2].APIKeyID, 32, "the key's id, a keyed hash")
	require.Equal(t, "bearer", lines[3].Reason)
	for _, l := range lines {
		require.Equal(t, "192.0.2.1", l.Client)
	}

	// Nothing the clients sent is in the trail, raw or exported.
	var raw bytes.Buffer
	memstore.Dump(e.st, func(bucket string, key, value []byte) { raw.Write(key); raw.Write(value) })
	var exported bytes.Buffer
	_, err := e.srv.Audit().Export(ctx, &exported, time.Time{}, time.Time{})
	require.NoError(t, err)
	require.Empty(t, secrets.Found(raw.String()+exported.String()))
	rep, err := audit.Verify(ctx, e.st, e.kr)
	require.NoError(t, err)
	require.Equal(t, uint64(4), rep.Entries)
}

// The server tells the services who acts: the Basic account, the API key
// and its terminal, the capture endpoint, the client's address — and the
// services' events carry it.
func TestAuditEventsCarryTheActor(t *testing.T) {
	e := newEnv(t)
	k := e.newKey("actor")
	tok := e.storeCard(k, "ref")
	g := e.alice("POST", "/v1/capture", k.query("ttl", "PT10M", "token", tok, "reference", "ref"), "").json(t)
	id, gs := g["id"].(string), secret2(g["secret"].(string))
	require.Equal(t, http.StatusOK, e.capturePost(t, id, gs, `{"cvv":"321"}`).status)
	res := e.caller(keyAll).create("1234001", fixture(t, "create-card.json"))
	e.flushAudit()

	lines := e.exportAudit()
	type who struct {
		op                                    audit.Op
		account, user, apiKey, terminal       string
		endpoint, reference, resource, client string
	}
	var got []who
	for _, l := range lines {
		got = append(got, who{l.Op, l.Account, l.User, l.APIKeyID, l.Terminal, l.Endpoint, l.Reference, l.Resource, l.Client})
	}
	keyID := lines[len(lines)-1].APIKeyID
	require.Len(t, keyID, 32)
	const client = "192.0.2.1"
	require.Equal(t, []who{
		{op: audit.OpKeyCreated, account: "alice", user: "actor", client: client},
		{op: audit.OpItemStored, account: "alice", user: "actor", reference: "ref", client: client},
		{op: audit.OpCaptureCreated, account: "alice", user: "actor", endpoint: id, reference: "ref", client: client},
		{op: audit.OpCaptureRedeemed, account: "alice", user: "actor", endpoint: id, reference: "ref", client: client},
		{op: audit.OpItemUpdated, account: "alice", user: "actor", endpoint: id, reference: "ref", client: client},
		{op: audit.OpSecureTokenCreated, apiKey: keyID, terminal: "1234001", resource: res["secureTokenId"].(string), client: client},
		// Noted, so chained after what was recorded in the same flush.
		{op: audit.OpBearerIssued, apiKey: keyID, client: client},
	}, got)
	_, err := audit.Verify(ctx, e.st, e.kr)
	require.NoError(t, err)
}

// With DisableAudit nothing is kept and the route is not served; the
// services work as before.
func TestDisableAudit(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.DisableAudit = true })
	require.Nil(t, e.srv.Audit())
	k := e.newKey("quiet")
	e.storeCard(k, "ref")
	require.Equal(t, http.StatusNotFound, e.alice("GET", "/v1/audit", nil, "").status)
	_, err := e.srv.deployment.RewrapMasterKey(ctx)
	require.NoError(t, err, "a rotation without a trail")
	var n int
	memstore.Dump(e.st, func(bucket string, _, _ []byte) {
		if len(bucket) >= 6 && bucket[:6] == "audit." {
			n++
		}
	})
	require.Zero(t, n, "no audit bucket written")
}
