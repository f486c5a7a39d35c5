package server

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/store/memstore"
)

// After a rotation and deployment.Deployment.RewrapMasterKey, a server holding only the new
// identity opens everything the old one wrote: vault keys and items,
// secure tokens, and the access tokens it signed.
func TestRewrapMasterKey(t *testing.T) {
	kr, path := testkit.KeyringFile(t)
	st := memstore.New()
	e := newEnv(t, withStore(st, kr))
	k := e.newKey("rotor")
	tok := e.storeCard(k, "ref")
	r := e.do(req{method: "POST", path: "/authorize", header: map[string]string{"x-api-key": keyAll.Key}})
	require.Equal(t, 200, r.status, "%s", r.body)
	bearer := "Bearer " + r.json(t)["access_token"].(string)
	create := `{"secureTokenId":"rot","source":{"type":"ach","nameOnAccount":"S","accountNumber":"1234567890","routingNumber":"011000015"}}`
	r = e.do(req{method: "POST", path: "/v1/processing-terminals/1234001/secure-tokens", body: create,
		header: map[string]string{"Authorization": bearer, "Idempotency-Key": "6b2d0f4e-8a51-4c1e-9d3a-2f7c5b8e1a90"}})
	require.Equal(t, 201, r.status, "%s", r.body)

	rotated, err := crypto.RotateKeyringFile(path)
	require.NoError(t, err)
	e2 := newEnv(t, withStore(st, rotated))
	n, err := e2.srv.deployment.RewrapMasterKey(ctx)
	require.NoError(t, err)
	require.Equal(t, 6, n, "vault hash key, secure-token index key, one terminal key, server key, outbox key, audit key")
	n, err = e2.srv.deployment.RewrapMasterKey(ctx)
	require.NoError(t, err)
	require.Zero(t, n)

	onlyNew := testkit.CurrentOnly(t, path)
	e3 := newEnv(t, withStore(st, onlyNew))
	r = e3.alice("GET", "/v1/vault", k.query("token", tok, "reference", "ref"), "")
	require.Equal(t, 200, r.status, "%s", r.body)
	r = e3.do(req{method: "GET", path: "/v1/processing-terminals/1234001/secure-tokens/rot", header: map[string]string{"Authorization": bearer}})
	require.Equal(t, 200, r.status, "an access token signed before the rotation still works: %s", r.body)

	// The trail, whose key moved too, verifies with the new identity alone
	// and holds both rotations.
	require.NoError(t, e2.srv.Close())
	rep, err := audit.Verify(ctx, st, onlyNew)
	require.NoError(t, err)
	require.Zero(t, rep.Pending)
	var rotations []int
	for _, l := range e3.exportAudit() {
		if l.Op == audit.OpMasterKeyRotated {
			require.Equal(t, audit.OutcomeOK, l.Outcome)
			rotations = append(rotations, l.Count)
		}
	}
	require.Equal(t, []int{6, 0}, rotations)
}
