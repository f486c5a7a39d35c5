package server

// Every test server of this package logs into one sink, and so do the
// binaries the end-to-end test starts. When all tests have run, TestMain
// scans the sink for every secret the tests used — passphrases, capture
// secrets, passwords, API keys, access tokens, card numbers, CVVs — and
// fails the run if any is there. A failure names the kind and number of the
// secret, never its value.

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/cardvault/cardvault/internal/testkit"
)

// logSink is the captured log output of the whole test run.
var logSink = &testkit.Buffer{}

// testLogger logs into logSink; text and JSON alternate between servers so
// that both encodings are scanned.
func testLogger(json bool) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	if json {
		return slog.New(slog.NewJSONHandler(logSink, opts))
	}
	return slog.New(slog.NewTextHandler(logSink, opts))
}

// secrets are what the tests sent that must never be logged, by kind.
var secrets testkit.Secrets

// secret registers a value the logs must not contain and returns it.
func secret(kind, value string) string { return secrets.Add(kind, value) }

func TestMain(m *testing.M) {
	code := m.Run()
	logs := logSink.String()
	if found := secrets.Found(logs); len(found) > 0 {
		for _, f := range found {
			fmt.Fprintln(os.Stderr, "LOG LEAK:", f, "appears in the logs")
		}
		code = 1
	}
	n := secrets.Len()
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "log scan: %d secrets looked for in %d bytes of logs\n", n, len(logs))
	}
	if code == 0 && (n < 20 || len(logs) < 10_000) {
		// The scan proves something only if the tests ran and logged.
		fmt.Fprintf(os.Stderr, "log scan: only %d secrets registered and %d bytes of logs\n", n, len(logs))
		if !testing.Short() && !onlySomeTests() {
			code = 1
		}
	}
	summary, missing := contractReport()
	if testing.Verbose() {
		fmt.Fprintln(os.Stderr, summary)
	}
	if len(missing) > 0 && !testing.Short() && !onlySomeTests() {
		// The contract was proved only for what the tests provoked.
		fmt.Fprintf(os.Stderr, "contract: no validated response for %s\n", strings.Join(missing, ", "))
		code = 1
	}
	os.Exit(code)
}

// onlySomeTests reports whether -run or -fuzz narrowed the run, in which
// case the scan's minimum sizes do not apply.
func onlySomeTests() bool {
	for _, a := range os.Args {
		if strings.HasPrefix(a, "-test.run") || strings.HasPrefix(a, "-test.fuzz") || strings.HasPrefix(a, "-test.bench") {
			return true
		}
	}
	return false
}
