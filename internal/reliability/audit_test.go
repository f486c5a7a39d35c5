package reliability

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/loadgen"
	"github.com/cardvault/cardvault/internal/serverproc"
)

// runBinary runs the deployment's binary with args on its data (the
// server must be down: bbolt's file is locked while one runs) and returns
// its exit code and output.
func (d *deployment) runBinary(args ...string) (int, string) {
	d.t.Helper()
	code, stdout, stderr, err := serverproc.Run(context.Background(), serverproc.Config{
		Binary: d.bin, Data: d.data, MasterKeyFile: d.keyFile, Postgres: d.postgres}, args...)
	require.NoError(d.t, err, "%s", stderr)
	return code, stdout + stderr
}

// requireAuditComplete checks the trail a crash left: -verify-audit passes,
// and the export has an entry for every write the ledger says was
// acknowledged (an answered write is committed, and its entry with it),
// and none of the load's secrets.
func (d *deployment) requireAuditComplete(l *loadgen.Ledger) {
	t := d.t
	t.Helper()
	code, out := d.runBinary("-verify-audit")
	require.Equal(t, 0, code, "%s", out)
	require.Contains(t, out, "the audit trail verifies")
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	code, out = d.runBinary("-export-audit", file)
	require.Equal(t, 0, code, "%s", out)
	export, err := os.ReadFile(file)
	require.NoError(t, err)
	for _, s := range l.Secrets() {
		if len(s) >= 8 && bytes.Contains(export, []byte(s)) {
			t.Fatalf("a secret of the load (%d bytes) is in the audit export", len(s))
		}
	}
	type key struct{ op, terminal, id string }
	have, redacted := map[key]int{}, map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(export))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			Op, Terminal, Reference, Resource string
			Redacted                          []string
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e))
		id, field := e.Resource, "resource"
		if strings.HasPrefix(e.Op, "item.") {
			id, field = e.Reference, "reference"
		}
		if slices.Contains(e.Redacted, field) {
			redacted[e.Op]++ // named by a keyed mark: see below
			continue
		}
		have[key{e.Op, e.Terminal, id}]++
	}
	require.NoError(t, sc.Err())
	want := map[key]int{}
	writes := l.AuditedWrites()
	for _, w := range writes {
		want[key{w.Op, w.Terminal, w.ID}]++
	}
	require.NotEmpty(t, want)
	// An id the trail redacted — a secureTokenId is the client's text,
	// and one whose digits (across its dashes) make a Luhn-valid run looks
	// like a card number — is in its entry as a keyed mark, which only
	// the trail's key can compute: such writes are counted against the
	// redacted entries of their operation.
	var missing []string
	unmatched := map[string]int{}
	for k, n := range want {
		if have[k] < n {
			unmatched[k.op] += n - have[k]
		}
	}
	for op, n := range unmatched {
		if redacted[op] < n {
			missing = append(missing, fmt.Sprintf("%s: %d acknowledged writes without an entry (%d entries redacted)", op, n, redacted[op]))
		}
	}
	require.Empty(t, missing, "acknowledged writes missing from the trail (of %d resources)", len(want))
	t.Logf("the trail after the crash: %d entries; every one of the %d acknowledged writes has its entry", bytes.Count(export, []byte("\n")), len(writes))
}
