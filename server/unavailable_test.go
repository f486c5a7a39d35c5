package server

import (
	"context"
	"fmt"
	"net/http"
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
}

func (d *failingDriver) Update(ctx context.Context, fn func(driver.Tx) error) error {
	if err := d.fail.Load(); err != nil {
		return *err
	}
	return d.Driver.Update(ctx, fn)
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

	for _, tt := range []struct {
		name        string
		err         error
		vaultMsg    string
		tokenDetail string
	}{
		{"commit unknown", fmt.Errorf("pgstore: %w: the connection failed during COMMIT: FATAL: terminating connection due to administrator command (SQLSTATE 57P01)", store.ErrCommitUnknown),
			"whether the request took effect is unknown", "whether the request took effect is unknown"},
		{"unavailable", fmt.Errorf("pgstore: %w: gave up after 40 attempts: failed to connect", store.ErrUnavailable),
			"try again", "Service unavailable, try again"},
	} {
		t.Run(tt.name, func(t *testing.T) {
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
	// And once the store is back, the same writes succeed.
	require.Equal(t, http.StatusOK, e.alice("POST", "/v1/vault", k.query("reference", "after"), seedCard).status)
}
