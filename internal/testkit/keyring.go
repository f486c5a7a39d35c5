package testkit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/crypto"
)

// Keyring returns a new master keyring, in a file of the test's own
// temporary directory.
func Keyring(t testing.TB) *crypto.Keyring {
	t.Helper()
	kr, _ := KeyringFile(t)
	return kr
}

// KeyringFile returns a new master keyring and the path of its file, in
// the test's own temporary directory, for a test that rotates it.
func KeyringFile(t testing.TB) (*crypto.Keyring, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "master.key")
	kr, err := crypto.CreateKeyringFile(path)
	require.NoError(t, err)
	return kr, path
}

// CurrentOnly returns a keyring of the current (first) identity of the
// keyring file at path alone: what a deployment holds once a rotation is
// done and the old identities are removed from the file.
func CurrentOnly(t testing.TB, path string) *crypto.Keyring {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	parts := strings.SplitN(string(raw), "AGE-SECRET-KEY-", 3)
	require.Len(t, parts, 3, "the file holds at least two identities")
	kr, err := crypto.ParseKeyring(strings.NewReader("AGE-SECRET-KEY-" + strings.TrimSpace(parts[1]) + "\n"))
	require.NoError(t, err)
	return kr
}
