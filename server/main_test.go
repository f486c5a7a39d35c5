package server

// Every test server of this package logs into one sink, and so do the
// binaries the end-to-end test starts. When all tests have run, TestMain
// scans the sink for every secret the tests used — passphrases, capture
// secrets, passwords, API keys, access tokens, card numbers, CVVs — and
// fails the run if any is there. A failure names the kind and number of the
// secret, never its value.

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
)

// logSink is the captured log output of the whole test run.
var logSink = &syncBuffer{}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

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
var secrets = struct {
	mu   sync.Mutex
	list []usedSecret
}{}

type usedSecret struct{ kind, value string }

// secret registers a value the logs must not contain and returns it.
// Values shorter than 8 bytes (a CVV) are registered in the contexts they
// travel in instead, since three digits occur in logs by chance.
func secret(kind, value string) string {
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	if len(value) < 8 {
		for _, ctx := range []string{`"` + kind + `":"` + value + `"`, kind + "=" + value, kind + `": "` + value + `"`} {
			secrets.list = append(secrets.list, usedSecret{kind, ctx})
		}
		return value
	}
	secrets.list = append(secrets.list, usedSecret{kind, value})
	return value
}

// leaks returns a description of each registered secret found in logs.
func leaks(logs string) []string {
	secrets.mu.Lock()
	defer secrets.mu.Unlock()
	var out []string
	for i, s := range secrets.list {
		if strings.Contains(logs, s.value) {
			out = append(out, fmt.Sprintf("secret #%d (%s) appears in the logs", i, s.kind))
		}
	}
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	logs := logSink.String()
	if found := leaks(logs); len(found) > 0 {
		for _, f := range found {
			fmt.Fprintln(os.Stderr, "LOG LEAK:", f)
		}
		code = 1
	}
	secrets.mu.Lock()
	n := len(secrets.list)
	secrets.mu.Unlock()
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

var _ io.Writer = (*syncBuffer)(nil)
