package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/driver"
	"github.com/cardvault/cardvault/store/memstore"
)

// failingDriver is a memstore whose Update fails with a set error: a
// backend that lost its storage, as pgstore does while PostgreSQL fails
// over.
type failingDriver struct {
	*memstore.Driver
	fail atomic.Pointer[error]
	// afterWork: the transaction runs (the work renders its outcome)
	// and is then rolled back, as a COMMIT lost with the connection is.
	afterWork atomic.Bool
}

// errLostCommit rolls back a transaction whose commit failingDriver loses.
var errLostCommit = errors.New("test: the commit is lost")

func (d *failingDriver) Update(ctx context.Context, fn func(driver.Tx) error) error {
	err := d.fail.Load()
	switch {
	case err == nil:
		return d.Driver.Update(ctx, fn)
	case d.afterWork.Load():
		if werr := d.Driver.Update(ctx, func(tx driver.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return errLostCommit
		}); !errors.Is(werr, errLostCommit) {
			return werr
		}
	}
	return *err
}

// A write the store could not finish — its commit's outcome unknown, or
// the storage out of reach — is "try again" on both APIs: 503 on the
// vault/capture API, the secure-token API's api-error that says so (its
// contract has no 503), never an unexplained 500.
func TestStoreFailoverErrorsAreTryAgain(t *testing.T) {
	var md *memstore.Driver
	require.True(t, memstore.New().As(&md))
	d := &failingDriver{Driver: md}
	e := newEnv(t, func(c *Config) { c.Store = store.New(d) })
	k := e.newKey("failover")
	tc := e.caller(keyAll)
	card := fixture(t, "create-card.json")
	// The terminal's key is made by its first write: make it now, so
	// that the writes below reach the secure token's own transaction.
	first := strings.Replace(card, `"MREF_abc1de23`, `"MREF_first123`, 1)
	require.NotEqual(t, card, first)
	require.Equal(t, http.StatusCreated, tc.do("POST", terminalURL(termA, "secure-tokens"), first).status)

	commitUnknown := fmt.Errorf("pgstore: %w: the connection failed during COMMIT: FATAL: terminating connection due to administrator command (SQLSTATE 57P01)", store.ErrCommitUnknown)
	for _, tt := range []struct {
		name        string
		err         error
		afterWork   bool
		vaultMsg    string
		tokenDetail string
	}{
		{"commit unknown", commitUnknown, false, "whether the request took effect is unknown", "whether the request took effect is unknown"},
		// The work ran and rendered the response it would keep; the
		// commit was then lost. Answering that response would
		// acknowledge a write that never was (seen in TestFailover: a
		// patch and a single-use token acknowledged, then not there).
		{"commit unknown after the work", commitUnknown, true, "whether the request took effect is unknown", "whether the request took effect is unknown"},
		{"unavailable", fmt.Errorf("pgstore: %w: gave up after 40 attempts: failed to connect", store.ErrUnavailable), false,
			"try again", "Service unavailable, try again"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d.afterWork.Store(tt.afterWork)
			d.fail.Store(&tt.err)
			defer d.fail.Store(nil)

			r := e.alice("POST", "/v1/vault", k.query("reference", "r-"+tt.name), seedCard)
			require.Equal(t, http.StatusServiceUnavailable, r.status, "%s", r.body)
			require.Contains(t, r.errorText(t), tt.vaultMsg)

			r = tc.do("POST", terminalURL(termA, "secure-tokens"), card) // validated against the contract
			require.Equal(t, http.StatusInternalServerError, r.status, "%s", r.body)
			p := r.json(t)
			require.Equal(t, "https://docs.payroc.com/api/errors#api-error", p["type"])
			msg := p["errors"].([]any)[0].(map[string]any)["message"].(string)
			require.Contains(t, msg, "Service unavailable, try again")
			require.Contains(t, msg, tt.tokenDetail)
		})
	}
	// None of those writes happened; once the store is back, the same
	// writes succeed.
	require.Equal(t, http.StatusNotFound, tc.do("GET", terminalURL(termA, "secure-tokens/MREF_abc1de23-f4a5-6789-bcd0-12e345678901fa"), "").status)
	require.Equal(t, http.StatusOK, e.alice("POST", "/v1/vault", k.query("reference", "after"), seedCard).status)
	require.Equal(t, http.StatusCreated, tc.do("POST", terminalURL(termA, "secure-tokens"), card).status)
}
