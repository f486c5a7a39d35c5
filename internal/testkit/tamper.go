package testkit

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

// FlipEvery tampers with the file at path as someone with the disk would:
// it flips the low bit of the byte at offset in every copy of marker (the
// live entry, its index keys and stale pages alike) and returns how many
// copies it changed; the caller says how many it wants. The file's store
// must be closed, or a process other than the test's must hold it.
func FlipEvery(t testing.TB, path string, marker []byte, offset int) int {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	n := 0
	for i := 0; ; {
		j := bytes.Index(b[i:], marker)
		if j < 0 {
			break
		}
		b[i+j+offset] ^= 0x01
		i += j + 1
		n++
	}
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return n
}
