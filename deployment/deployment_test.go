package deployment_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/deployment"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/vault"
)

var quiet = slog.New(slog.DiscardHandler)

// TestRewrapMasterKey: after a rotation and RewrapMasterKey, a deployment
// holding only the new identity opens what the old one wrote, the
// deployment's key included (the same Hasher), with or without a trail.
func TestRewrapMasterKey(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		noAudit bool
		want    int // wrapped keys moved
	}{
		{"with the trail", false, 5}, // vault hash key, secure-token index key, deployment key, outbox key, audit key
		{"without", true, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "master.key")
			kr, err := crypto.CreateKeyringFile(path)
			require.NoError(t, err)
			st := memstore.New()
			open := func(kr *crypto.Keyring) *deployment.Deployment {
				d, err := deployment.Open(ctx, deployment.Config{Store: st, Keyring: kr, WorkFactor: 10, DisableAudit: tc.noAudit, Logger: quiet})
				require.NoError(t, err)
				return d
			}
			d := open(kr)
			require.Equal(t, tc.noAudit, d.Audit == nil)
			c, err := d.Vault.CreateKey(ctx, vault.Credentials{Owner: "o", User: "u"})
			require.NoError(t, err)
			ref, err := d.Vault.Tokenize(ctx, c, []byte(`{"number":"4111111111111111"}`), vault.TokenizeOptions{})
			require.NoError(t, err)
			sum := d.Hasher.Sum("test", []byte("x"))
			require.NoError(t, d.Close())

			rotated, err := crypto.RotateKeyringFile(path)
			require.NoError(t, err)
			d = open(rotated)
			n, err := d.RewrapMasterKey(ctx)
			require.NoError(t, err)
			require.Equal(t, tc.want, n)
			n, err = d.RewrapMasterKey(ctx)
			require.NoError(t, err)
			require.Zero(t, n, "a second re-wrap has nothing to move")
			require.NoError(t, d.Close())

			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			first := strings.SplitN(string(raw), "AGE-SECRET-KEY-", 3)[1]
			onlyNew, err := crypto.ParseKeyring(strings.NewReader("AGE-SECRET-KEY-" + strings.TrimSpace(first)))
			require.NoError(t, err)
			d = open(onlyNew)
			defer d.Close()
			doc, err := d.Vault.Retrieve(ctx, c, ref)
			require.NoError(t, err)
			require.JSONEq(t, `{"number":"4111111111111111"}`, string(doc))
			require.Equal(t, sum, d.Hasher.Sum("test", []byte("x")), "the deployment's key moved, not changed")
			if d.Audit != nil {
				require.NoError(t, d.Audit.Flush(ctx))
				rep, err := audit.Verify(ctx, st, onlyNew)
				require.NoError(t, err)
				require.Zero(t, rep.Pending)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	ctx := context.Background()
	kr, other := testkit.Keyring(t), testkit.Keyring(t)
	st := memstore.New()
	d, err := deployment.Open(ctx, deployment.Config{Store: st, Keyring: kr, Logger: quiet})
	require.NoError(t, err)
	d.Start(0)
	require.NoError(t, d.Close())
	for name, cfg := range map[string]deployment.Config{
		"no store":           {Keyring: kr},
		"no keyring":         {Store: memstore.New()},
		"another master key": {Store: st, Keyring: other, Logger: quiet},
	} {
		_, err := deployment.Open(ctx, cfg)
		require.Error(t, err, name)
	}
	_, err = deployment.Open(ctx, deployment.Config{Store: st, Keyring: other, Logger: quiet})
	require.ErrorContains(t, err, "does not open with this master key")
}

// TestAllowHTTPWebhooks: with no Egress of the caller's, capture webhooks
// go to https:// only, unless AllowHTTPWebhooks.
func TestAllowHTTPWebhooks(t *testing.T) {
	ctx := context.Background()
	kr := testkit.Keyring(t)
	for _, allow := range []bool{false, true} {
		d, err := deployment.Open(ctx, deployment.Config{Store: memstore.New(), Keyring: kr, WorkFactor: 10, AllowHTTPWebhooks: allow, DisableAudit: true, Logger: quiet})
		require.NoError(t, err)
		c, err := d.Vault.CreateKey(ctx, vault.Credentials{Owner: "o", User: "u"})
		require.NoError(t, err)
		_, err = d.Capture.CreateGrant(ctx, capture.GrantRequest{Credentials: c, Webhook: &capture.Webhook{URL: "http://hooks.example/capture", Secret: "whsec-test"}})
		if allow {
			require.NoError(t, err)
		} else {
			require.ErrorIs(t, err, cardvault.ErrInvalid)
		}
		require.NoError(t, d.Close())
	}
}
