// Package audittest is the services' shared harness for their audit
// tests: a Log that chains when told, the events it holds read back from
// its export, and a Recorder that fails the write it records, to show an
// entry rolls back with its work.
package audittest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/teststores"
	"github.com/cardvault/cardvault/store"
)

// Fixture is what an audit test of a service starts from: a fresh store of
// one backend, a master keyring, and the Trail of a Log over them.
type Fixture struct {
	Backend teststores.Backend
	Store   *store.Store
	Keyring *crypto.Keyring
	*Trail
}

// Each runs fn as a subtest on every backend, each with a Fixture of its
// own.
func Each(t *testing.T, fn func(t *testing.T, f Fixture)) {
	teststores.Each(t, func(t *testing.T, b teststores.Backend) {
		st := b.Open(t)
		kr := testkit.Keyring(t)
		fn(t, Fixture{Backend: b, Store: st, Keyring: kr, Trail: New(t, st, kr)})
	})
}

// Open returns a Log over st that chains only on Flush (or Events), so
// that a test reads exactly what it did; it is closed when the test ends.
func Open(t testing.TB, st *store.Store, kr *crypto.Keyring) *audit.Log {
	t.Helper()
	l, err := audit.Open(context.Background(), audit.Config{Store: st, Keyring: kr, FlushEvery: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// Trail reads a Log's events back, and checks them, for a test.
type Trail struct {
	t    testing.TB
	log  *audit.Log
	st   *store.Store
	kr   *crypto.Keyring
	seen int
}

// New returns the Trail of a Log Open returns over st.
func New(t testing.TB, st *store.Store, kr *crypto.Keyring) *Trail {
	t.Helper()
	return &Trail{t: t, log: Open(t, st, kr), st: st, kr: kr}
}

// Log is the trail's Log, to give the service under test.
func (tr *Trail) Log() *audit.Log { return tr.log }

// Events flushes the Log and returns the events chained since the last
// call, oldest first, read from the export, with their times cleared so
// that a test compares them whole. Every call verifies the whole trail,
// and checks that neither the export nor the events hold any of secrets.
func (tr *Trail) Events(secrets ...string) []audit.Event {
	tr.t.Helper()
	var buf bytes.Buffer
	_, err := tr.log.Export(context.Background(), &buf, time.Time{}, time.Time{})
	require.NoError(tr.t, err)
	_, err = audit.Verify(context.Background(), tr.st, tr.kr)
	require.NoError(tr.t, err, "the trail verifies")
	NoSecrets(tr.t, buf.Bytes(), secrets...)
	var all []audit.Event
	sc := bufio.NewScanner(&buf)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line audit.ExportLine
		require.NoError(tr.t, json.Unmarshal(sc.Bytes(), &line))
		e := line.Event
		e.Time = time.Time{}
		all = append(all, e)
	}
	require.NoError(tr.t, sc.Err())
	out := all[tr.seen:]
	tr.seen = len(all)
	if len(out) == 0 {
		return nil
	}
	return out
}

// NoSecrets fails the test if b holds any of secrets, without printing
// the secret.
func NoSecrets(t testing.TB, b []byte, secrets ...string) {
	t.Helper()
	for i, s := range secrets {
		if s != "" && bytes.Contains(b, []byte(s)) {
			t.Fatalf("planted secret #%d found in the audit trail", i)
		}
	}
}

// ErrRefused is what a Failing recorder returns.
var ErrRefused = errors.New("audittest: the recorder fails this write")

// Failing records through Recorder, then fails: a service whose write
// records through it must roll the write back, its entry with it. Ops, if
// not empty, limits the failure to those operations.
type Failing struct {
	audit.Recorder
	Ops []audit.Op
}

// Record records e in tx, then returns ErrRefused for the ops it fails.
func (f Failing) Record(tx store.Tx, e audit.Event) error {
	if err := f.Recorder.Record(tx, e); err != nil {
		return err
	}
	for _, op := range f.Ops {
		if op == e.Op {
			return ErrRefused
		}
	}
	if len(f.Ops) == 0 {
		return ErrRefused
	}
	return nil
}

// Step is one operation of a service's audit test and the events it must
// leave: Want is called after Run, so that it can name the ids Run made.
type Step struct {
	Name string
	Run  func(ctx context.Context) error
	Want func() []audit.Event
}

// Run runs the steps in order with ctx and checks, after each, that the
// trail gained exactly the events it wants, and none of secrets (read when
// each step is done, so that a step may plant more).
func (tr *Trail) Run(ctx context.Context, steps []Step, secrets *[]string) {
	tr.t.Helper()
	for _, s := range steps {
		require.NoError(tr.t, s.Run(ctx), s.Name)
		require.Equal(tr.t, s.Want(), tr.Events(*secrets...), s.Name)
	}
}

// Ops returns the operations of events, in order: what a test compares
// when the ids are checked elsewhere.
func Ops(events []audit.Event) []audit.Op {
	out := make([]audit.Op, len(events))
	for i, e := range events {
		out[i] = e.Op
	}
	return out
}
