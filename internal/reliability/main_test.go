package reliability

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/loadgen"
	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/internal/serverproc"
	"github.com/cardvault/cardvault/internal/testkit"
)

// The tests that run the real binary build it once, into a directory
// TestMain removes; every process they start logs into procLogs, which
// TestMain scans for the secrets the tests used.

var (
	buildDir  string
	buildOnce sync.Once
	binary    string
	buildErr  error
	procLogs  = &testkit.Buffer{}
)

func TestMain(m *testing.M) {
	var err error
	if buildDir, err = os.MkdirTemp("", "cardvault-reliability-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(buildDir)
	if found := leaks(procLogs.String()); len(found) > 0 {
		fmt.Fprintln(os.Stderr, "LOG LEAK in the server processes' logs:", strings.Join(found, ", "))
		code = 1
	}
	os.Exit(code)
}

// serverBinary builds examples/server once per test run.
func serverBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() { binary, buildErr = serverproc.Build(ctx, buildDir) })
	require.NoError(t, buildErr)
	return binary
}

// deployment is what the server processes of a test share: the binary,
// a master key, credentials, and a store (a data directory for bbolt, or a
// PostgreSQL URL).
type deployment struct {
	t        testing.TB
	bin      string
	keyFile  string
	data     string
	postgres string
	account  loadgen.Account
	apiKey   string
	env      []string // more environment for the servers
}

// onEachBackend runs fn as a subtest on each store a deployment runs on:
// bbolt (pg is "") and PostgreSQL (pg is its URL).
func onEachBackend(t *testing.T, fn func(t *testing.T, pg string)) {
	for _, backend := range []string{"bbolt", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			pg := ""
			if backend == "postgres" {
				pg = pgtest.URL(t)
			}
			fn(t, pg)
		})
	}
}

func newDeployment(t testing.TB, postgres string) *deployment {
	t.Helper()
	d := &deployment{t: t, bin: serverBinary(t), data: t.TempDir(), postgres: postgres,
		account: loadgen.Account{Name: "loadgen", Password: secret("password", "lg-"+crypto.NewID(16))},
		apiKey:  secret("api key", "lgk-"+crypto.NewID(24))}
	d.keyFile = d.data + "/master.key"
	_, err := crypto.CreateKeyringFile(d.keyFile)
	require.NoError(t, err)
	return d
}

// start starts a server process; the test kills it at the end if it still
// runs.
func (d *deployment) start() *serverproc.Proc {
	d.t.Helper()
	p, err := serverproc.Start(ctx, serverproc.Config{
		Binary: d.bin, Data: d.data, Postgres: d.postgres, MasterKeyFile: d.keyFile,
		BasicAuth: d.account.Name + ":" + d.account.Password, APIKeys: d.apiKey + ":*",
		WorkFactor: workFactor, Log: procLogs, Env: d.env,
	})
	require.NoError(d.t, err)
	d.t.Cleanup(p.Kill)
	return p
}

// config is a load generator configuration for the deployment's servers,
// with its vault key made (and registered as a secret).
func (d *deployment) config(clients int, targets ...string) loadgen.Config {
	d.t.Helper()
	cfg, err := loadgen.Setup(ctx, loadgen.Config{Targets: targets, Clients: clients, Account: d.account, APIKey: d.apiKey, Bad: true})
	require.NoError(d.t, err)
	secret("passphrase", cfg.Key.Passphrase)
	return cfg
}

// waitFor polls cond every 20 ms until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// requireNoUnintended fails the test with the run's failures described.
func requireNoUnintended(t testing.TB, res *loadgen.Result) {
	t.Helper()
	if res.Unintended() == 0 {
		return
	}
	var b strings.Builder
	res.Write(&b)
	t.Fatalf("%d unintended errors:\n%s", res.Unintended(), b.String())
}
