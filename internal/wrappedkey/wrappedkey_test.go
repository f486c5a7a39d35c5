package wrappedkey_test

import (
	"context"
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
	kr, path := testkit.KeyringFile(t)
	st := memstore.New()

	_, err := wrappedkey.Load(ctx, st, kr, "b", []byte("k"), false)
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
	onlyNew := testkit.CurrentOnly(t, path)
	k, err := wrappedkey.Load(ctx, st, onlyNew, "b", []byte("k"), false)
	require.NoError(t, err)
	require.Equal(t, ids[0], k.ID())
}
