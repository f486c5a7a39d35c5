package vault

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/store/memstore"
)

func newTestVault(t *testing.T, size int, ttl time.Duration) (*Vault, *testkit.Clock) {
	kr := testkit.Keyring(t)
	clock := testkit.NewClock(time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC))
	v, err := Open(context.Background(), Config{Store: memstore.New(), Keyring: kr, WorkFactor: 10,
		CacheSize: size, CacheTTL: ttl, Now: clock.Now})
	require.NoError(t, err)
	t.Cleanup(func() { v.Close() })
	return v, clock
}

func TestCachePaysScryptOnce(t *testing.T) {
	ctx := context.Background()
	v, clock := newTestVault(t, 8, time.Minute)
	c, err := v.CreateKey(ctx, Credentials{User: "alice"})
	require.NoError(t, err)
	ref, err := v.Tokenize(ctx, c, []byte(`{"number":"4242424242424242"}`), TokenizeOptions{})
	require.NoError(t, err)
	require.Equal(t, uint64(1), v.Stats().Unlocks)

	// Many concurrent calls with warm and cold caches: one scrypt each time.
	v.cache.clear()
	testkit.Concurrently(t, 16, func(int) error {
		_, err := v.Retrieve(ctx, c, ref)
		return err
	})
	require.Equal(t, uint64(2), v.Stats().Unlocks, "concurrent unlocks of one key must share a scrypt")
	for range 10 {
		_, err := v.Retrieve(ctx, c, ref)
		require.NoError(t, err)
	}
	require.Equal(t, uint64(2), v.Stats().Unlocks)

	// A wrong passphrase is never cached: each try pays.
	for range 2 {
		_, err := v.Retrieve(ctx, Credentials{User: "alice", Passphrase: "wrong"}, ref)
		require.ErrorIs(t, err, ErrWrongKey)
	}
	require.Equal(t, uint64(4), v.Stats().Unlocks)
	require.Equal(t, 1, v.Stats().CachedKeys)
	// So does an unknown user (the decoy), which keeps the timing alike.
	_, err = v.Retrieve(ctx, Credentials{User: "nobody", Passphrase: "wrong"}, ref)
	require.ErrorIs(t, err, ErrWrongKey)
	require.Equal(t, uint64(5), v.Stats().Unlocks)

	// The lifetime ends: the next call unlocks again.
	clock.Advance(time.Minute)
	_, err = v.Retrieve(ctx, c, ref)
	require.NoError(t, err)
	require.Equal(t, uint64(6), v.Stats().Unlocks)
}

func TestCacheBoundAndWipe(t *testing.T) {
	ctx := context.Background()
	v, _ := newTestVault(t, 2, time.Hour)
	var creds []Credentials
	for _, u := range []string{"a", "b", "c"} {
		c, err := v.CreateKey(ctx, Credentials{User: u})
		require.NoError(t, err)
		creds = append(creds, c)
		_, err = v.Tokenize(ctx, c, []byte(`{"number":"1"}`), TokenizeOptions{Reference: "r"})
		require.NoError(t, err)
	}
	require.Equal(t, 2, v.Stats().CachedKeys)

	// Hold a key, evict it while held: it is wiped only when let go.
	uk, err := v.unlock(ctx, creds[2])
	require.NoError(t, err)
	kek := uk.kek
	sealed := kek.Seal([]byte("x"), nil)
	v.cache.clear()
	require.Equal(t, 0, v.Stats().CachedKeys)
	_, err = kek.Open(sealed, nil)
	require.NoError(t, err, "a key in use must not be wiped under its user")
	v.cache.release(uk)
	_, err = kek.Open(sealed, nil)
	require.ErrorIs(t, err, crypto.ErrOpen, "an evicted key must be wiped once released")

	require.NoError(t, v.Close())
	require.Equal(t, 0, v.Stats().CachedKeys)
}
