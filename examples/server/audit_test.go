package main

// -verify-audit on the real binary: a server writes a trail, stops, and
// the binary run with -verify-audit (the same data settings) says it is
// intact; then the trail is tampered with from outside — a byte flipped in
// the bbolt file, a row deleted in PostgreSQL — and -verify-audit exits 1
// naming the first bad entry.

import (
	"bytes"
	"context"
	"errors"
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
	cmd := exec.Command(cfg.Binary, args...)
	cmd.Env = append(cleanTestEnv(), "CARDVAULT_DATA="+cfg.Data)
	if cfg.Postgres != "" {
		cmd.Env = append(cmd.Env, "CARDVAULT_POSTGRES_URL="+cfg.Postgres)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stdout.String(), stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	t.Fatal(err)
	return 0, "", ""
}

func cleanTestEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CARDVAULT_") || strings.HasPrefix(kv, "CARDVAULT_TEST_") {
			out = append(out, kv)
		}
	}
	return out
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

		path := filepath.Join(cfg.Data, "cardvault.db")
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		require.Positive(t, bytes.Count(raw, []byte(auditAccount)))
		for i := 0; ; {
			j := bytes.Index(raw[i:], []byte(auditAccount))
			if j < 0 {
				break
			}
			raw[i+j+3] ^= 0x01 // every copy: entries 4 to 6, their index keys, stale pages
			i += j + 1
		}
		require.NoError(t, os.WriteFile(path, raw, 0o600))
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
