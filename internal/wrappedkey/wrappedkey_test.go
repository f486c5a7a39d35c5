package wrappedkey_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/internal/wrappedkey"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/memstore"
)

func TestLoadCreatesOnceAndRewraps(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "master.key")
	kr, err := crypto.CreateKeyringFile(path)
	require.NoError(t, err)
	st := memstore.New()

	_, err = wrappedkey.Load(ctx, st, kr, "b", []byte("k"), false)
	require.ErrorIs(t, err, store.ErrNotFound)

	// Racing creators all get the same key.
	ids := make([]crypto.KeyID, 8)
	testkit.Concurrently(t, len(ids), func(i int) error {
		k, err := wrappedkey.Load(ctx, st, kr, "b", []byte("k"), true)
		if err == nil {
			ids[i] = k.ID()
		}
		return err
	})
	for _, id := range ids {
		require.Equal(t, ids[0], id)
	}

	rotated, err := crypto.RotateKeyringFile(path)
	require.NoError(t, err)
	n, err := wrappedkey.RewrapAll(ctx, st, rotated, "b")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = wrappedkey.RewrapAll(ctx, st, rotated, "b")
	require.NoError(t, err)
	require.Zero(t, n)

	// Only the new identity: the key is the same one.
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	first := strings.SplitN(string(raw), "AGE-SECRET-KEY-", 3)[1]
	onlyNew, err := crypto.ParseKeyring(strings.NewReader("AGE-SECRET-KEY-" + strings.TrimSpace(first)))
	require.NoError(t, err)
	k, err := wrappedkey.Load(ctx, st, onlyNew, "b", []byte("k"), false)
	require.NoError(t, err)
	require.Equal(t, ids[0], k.ID())
}
