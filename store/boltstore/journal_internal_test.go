package boltstore

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzReadRecord: whatever the bytes, readRecord returns a record or
// errTorn, never panics or allocates past its input, and what appendRecord
// writes reads back as it was.
func FuzzReadRecord(f *testing.F) {
	f.Add(appendRecord(nil, 1, []op{{bucket: "b", key: "k", val: []byte("v")}, {del: true, bucket: "b", key: "gone"}}))
	f.Add(appendRecord(nil, 7, nil))
	f.Add([]byte{0, 0, 0, 4, 1, 2, 3, 4, 0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, ops, n, err := readRecord(b)
		if err != nil {
			require.ErrorIs(t, err, errTorn)
			return
		}
		require.LessOrEqual(t, n, len(b))
		require.Equal(t, b[:n], appendRecord(nil, seq, ops), "a record that reads re-encodes to its bytes")
	})
}
