package main

// -verify-audit on the real binary: a server writes a trail, stops, and
// the binary run with -verify-audit (the same data settings) says it is
// intact; then the trail is tampered with from outside — a byte flipped in
// the bbolt file, a row deleted in PostgreSQL — and -verify-audit exits 1
// naming the first bad entry.

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/internal/serverproc"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/store/pgstore"
)

// auditAccount is the Basic account of the test; its name marks its
// entries, in the bbolt file as anywhere.
const (
	auditAccount  = "tampermarkeracct"
	auditPassword = "a-password-for-the-audit-test-9d2f"
	auditAPIKey   = "ak_audit_test_5e6f7a8b9c0d1e2f3a4b"
)

// runTrail starts the server on cfg's data, makes six events — a wrong
// Basic password, a wrong API key, an access token, and the account's three
// reads of its own trail (entries 4 to 6) — and stops it gracefully.
func runTrail(t *testing.T, cfg serverproc.Config) {
	t.Helper()
	cfg.BasicAuth, cfg.APIKeys, cfg.WorkFactor = auditAccount+":"+auditPassword, auditAPIKey+":*", 10
	p, err := serverproc.Start(context.Background(), cfg)
	require.NoError(t, err)
	defer p.Kill()
	do := func(method, path string, set func(*http.Request), want int) {
		t.Helper()
		req, err := http.NewRequest(method, p.URL+path, nil)
		require.NoError(t, err)
		set(req)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, "%s %s", method, path)
	}
	do("GET", "/v1/key", func(r *http.Request) { r.SetBasicAuth(auditAccount, "wrong-password") }, http.StatusUnauthorized)
	do("POST", "/authorize", func(r *http.Request) { r.Header.Set("x-api-key", "wrong-key") }, http.StatusUnauthorized)
	do("POST", "/authorize", func(r *http.Request) { r.Header.Set("x-api-key", auditAPIKey) }, http.StatusOK)
	for range 3 {
		do("GET", "/v1/audit", func(r *http.Request) { r.SetBasicAuth(auditAccount, auditPassword) }, http.StatusOK)
	}
	require.NoError(t, p.Stop(20*time.Second))
}

// verifyAuditBinary runs bin -verify-audit with the data settings of cfg
// and returns its exit code, stdout and stderr.
func verifyAuditBinary(t *testing.T, cfg serverproc.Config) (int, string, string) {
	t.Helper()
	return runBinary(t, cfg, "-verify-audit")
}

func runBinary(t *testing.T, cfg serverproc.Config, args ...string) (int, string, string) {
	t.Helper()
	code, stdout, stderr, err := serverproc.Run(context.Background(), cfg, args...)
	require.NoError(t, err, "%s", stderr)
	return code, stdout, stderr
}

func TestVerifyAuditBinary(t *testing.T) {
	bin, err := serverproc.Build(context.Background(), t.TempDir())
	require.NoError(t, err)

	t.Run("boltstore: a byte flipped in the file", func(t *testing.T) {
		cfg := serverproc.Config{Binary: bin, Data: t.TempDir()}
		runTrail(t, cfg)
		code, out, errOut := verifyAuditBinary(t, cfg)
		require.Equal(t, 0, code, "%s%s", out, errOut)
		require.Contains(t, out, "the audit trail verifies: 6 entries (1 to 6)")
		t.Logf("intact: %s", out)

		// The export: every entry, and the export itself, as JSON lines.
		file := filepath.Join(t.TempDir(), "audit.jsonl")
		code, _, errOut = runBinary(t, cfg, "-export-audit", file)
		require.Equal(t, 0, code, errOut)
		require.Contains(t, errOut, "7 audit entries written to "+file)
		fi, err := os.Stat(file)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		lines, err := os.ReadFile(file)
		require.NoError(t, err)
		require.Equal(t, 7, bytes.Count(lines, []byte("\n")))
		require.Contains(t, string(lines), `"op":"audit.exported"`)
		require.NotContains(t, string(lines), auditPassword)
		require.NotContains(t, string(lines), auditAPIKey)
		code, out, _ = verifyAuditBinary(t, cfg)
		require.Equal(t, 0, code)
		require.Contains(t, out, "7 entries (1 to 7)")

		// Every copy: entries 4 to 6, their index keys, stale pages.
		require.Positive(t, testkit.FlipEvery(t, filepath.Join(cfg.Data, "cardvault.db"), []byte(auditAccount), 3))
		code, out, errOut = verifyAuditBinary(t, cfg)
		require.Equal(t, 1, code, "%s%s", out, errOut)
		require.Contains(t, errOut, "audit: entry 4: it does not authenticate at its place")
		t.Logf("tampered: %s", errOut)
	})

	t.Run("pgstore: a row deleted", func(t *testing.T) {
		url := pgtest.URL(t)
		cfg := serverproc.Config{Binary: bin, Data: t.TempDir(), Postgres: url}
		runTrail(t, cfg)
		code, out, errOut := verifyAuditBinary(t, cfg)
		require.Equal(t, 0, code, "%s%s", out, errOut)
		require.Contains(t, out, "the audit trail verifies: 6 entries (1 to 6)")

		ctx := context.Background()
		conn, err := pgx.Connect(ctx, url)
		require.NoError(t, err)
		defer conn.Close(ctx)
		tag, err := conn.Exec(ctx, "DELETE FROM "+pgstore.KVTable+" WHERE bucket = 'audit.chain' AND key = $1", []byte{0, 0, 0, 0, 0, 0, 0, 2})
		require.NoError(t, err)
		require.Equal(t, int64(1), tag.RowsAffected())
		code, out, errOut = verifyAuditBinary(t, cfg)
		require.Equal(t, 1, code, "%s%s", out, errOut)
		require.Contains(t, errOut, "audit: entry 2: it is missing")
		t.Logf("tampered: %s", errOut)
	})
}

// TestSeedFlowsAudited runs the seed's two flows (examples/capture-update
// and examples/single-use-update) against the binary, stops it, and reads
// the trail with -export-audit and -verify-audit: every write and read of
// the flows is there, with who did it, the chain verifies, and no card
// number, CVV, name, password or API key is in it.
func TestSeedFlowsAudited(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	bin, err := serverproc.Build(ctx, dir)
	require.NoError(t, err)
	examples := map[string]string{}
	for _, name := range []string{"capture-update", "single-use-update"} {
		examples[name] = filepath.Join(dir, name)
		out, err := exec.CommandContext(ctx, "go", "build", "-o", examples[name], "github.com/cardvault/cardvault/examples/"+name).CombinedOutput()
		require.NoError(t, err, "%s", out)
	}
	cfg := serverproc.Config{Binary: bin, Data: t.TempDir(), WorkFactor: 10,
		BasicAuth: auditAccount + ":" + auditPassword, APIKeys: auditAPIKey + ":*"}
	p, err := serverproc.Start(ctx, cfg)
	require.NoError(t, err)
	defer p.Kill()
	for name, args := range map[string][]string{
		"capture-update":    {"-url", p.URL, "-basic-auth", auditAccount + ":" + auditPassword},
		"single-use-update": {"-url", p.URL, "-api-key", auditAPIKey},
	} {
		out, err := exec.CommandContext(ctx, examples[name], args...).CombinedOutput()
		require.NoError(t, err, "%s: %s", name, out)
	}
	require.NoError(t, p.Stop(20*time.Second))

	file := filepath.Join(t.TempDir(), "audit.jsonl")
	code, _, errOut := runBinary(t, cfg, "-export-audit", file)
	require.Equal(t, 0, code, errOut)
	export, err := os.ReadFile(file)
	require.NoError(t, err)
	for _, s := range []string{"4111111111111111", `"123"`, `"145"`, "Ada Lovelace", "4539858876047062", `"234"`, "Sarah Hazel Hopper",
		"5555555555554444", `"987"`, "Sarah Hopper", auditPassword, auditAPIKey} {
		require.NotContains(t, string(export), s, "a planted secret in the export")
	}
	count := map[string]int{}
	for _, line := range bytes.Split(bytes.TrimSpace(export), []byte("\n")) {
		var l struct {
			Op, Account, Terminal string
			APIKeyID              string `json:"api_key_id"`
			Endpoint              string `json:"capture_endpoint"`
		}
		require.NoError(t, json.Unmarshal(line, &l))
		count[l.Op]++
		switch {
		case strings.HasPrefix(l.Op, "key.") || strings.HasPrefix(l.Op, "item."):
			require.Equal(t, auditAccount, l.Account, "%s", line)
		case strings.HasPrefix(l.Op, "securetoken.") || strings.HasPrefix(l.Op, "singleuse."):
			require.NotEmpty(t, l.APIKeyID, "%s", line)
			require.Equal(t, "1234001", l.Terminal, "%s", line)
		case l.Op == "capture.redeemed":
			require.NotEmpty(t, l.Endpoint, "%s", line)
		}
	}
	for op, n := range map[string]int{
		// The first flow: a key, a card, an endpoint locked to it, a
		// capture that updates it, the card read back, the endpoint gone.
		"key.created": 1, "item.stored": 1, "capture.created": 1, "capture.redeemed": 1, "item.updated": 1, "item.read": 1, "capture.deleted": 1,
		// The second: a secure token, a single-use token, the update
		// that uses it up — once: the second try is refused and writes
		// nothing.
		"bearer.issued": 1, "securetoken.created": 1, "singleuse.created": 1, "singleuse.used": 1, "securetoken.updated_from_single_use": 1,
		"audit.exported": 1,
	} {
		require.Equal(t, n, count[op], "%s in %v", op, count)
	}
	code, out, errOut := verifyAuditBinary(t, cfg)
	require.Equal(t, 0, code, "%s%s", out, errOut)
	require.Contains(t, out, "the audit trail verifies")
}
