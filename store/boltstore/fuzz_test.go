package boltstore_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/boltstore"
	"github.com/cardvault/cardvault/store/memstore"
)

// FuzzScanMatchesMemstore puts the same keys into boltstore and memstore and
// checks that a Scan of the same Range visits the same keys in both: bbolt's
// cursor seeking against the plain sorted slice of the reference backend.
//
// The input is keys separated by 0xfe; the last two pieces are the range's
// Start and End ("-" for none), and the first byte holds Reverse and Limit.
func FuzzScanMatchesMemstore(f *testing.F) {
	f.Add([]byte("\x00a\xfeb\xfec\xfe\x00\xfe-\xfe-"))
	f.Add([]byte("\x03a\xfeab\xfeb\xfeba\xfea\xfeb"))
	f.Add([]byte("\x05\x00\xfe\x00\x00\xfe\xff\xfe\xff\xff\xfe\x00\xfe\xff\xff"))
	f.Add([]byte("\x01k1\xfek2\xfek3\xfek\xfe-"))
	f.Add([]byte("\x02z\xfey\xfex\xfe-\xfey"))

	bolt, err := boltstore.Open(filepath.Join(f.TempDir(), "fuzz.db"), nil)
	require.NoError(f, err)
	f.Cleanup(func() { _ = bolt.Close() })
	mem := memstore.New()
	var n atomic.Uint64

	f.Fuzz(func(t *testing.T, data []byte) {
		r, keys, ok := fuzzRange(data)
		if !ok {
			return
		}
		bucket := fmt.Sprintf("f%d", n.Add(1)) // a fresh bucket per input
		ctx := context.Background()
		got := make([][]string, 2)
		for i, s := range []*store.Store{bolt, mem} {
			err := s.Update(ctx, func(tx store.Tx) error {
				for _, k := range keys {
					if store.CheckKey(k) != nil {
						continue
					}
					if err := tx.Put(bucket, k, k); err != nil {
						return err
					}
				}
				return nil
			})
			require.NoError(t, err)
			got[i] = scanKeys(t, s, bucket, r)
		}
		require.Equal(t, got[1], got[0], "boltstore (first) and memstore (second) scanned differently")
	})
}

// scanKeys returns the keys a scan of r over bucket in s meets, in order.
// The fuzz targets store every key as its own value, which it checks.
func scanKeys(t *testing.T, s *store.Store, bucket string, r store.Range) []string {
	t.Helper()
	var keys []string
	err := s.View(context.Background(), func(tx store.Tx) error {
		keys = nil // the transaction may run again
		return tx.Scan(bucket, r, func(k, v []byte) error {
			if !bytes.Equal(k, v) {
				return fmt.Errorf("value of %x is %x", k, v)
			}
			keys = append(keys, string(k))
			return nil
		})
	})
	require.NoError(t, err)
	return keys
}

// fuzzRange reads the fuzz targets' input: the first byte holds Reverse and
// Limit, then pieces separated by 0xfe, of which the last two are the
// range's Start and End ("-" for none) and the others are returned.
func fuzzRange(data []byte) (store.Range, [][]byte, bool) {
	if len(data) < 1 {
		return store.Range{}, nil, false
	}
	flags, pieces := data[0], bytes.Split(data[1:], []byte{0xfe})
	if len(pieces) < 2 || len(pieces) > 64 {
		return store.Range{}, nil, false
	}
	bound := func(p []byte) []byte {
		if string(p) == "-" {
			return nil
		}
		return p
	}
	return store.Range{
		Start:   bound(pieces[len(pieces)-2]),
		End:     bound(pieces[len(pieces)-1]),
		Reverse: flags&1 != 0,
		Limit:   int(flags>>1) % 8,
	}, pieces[:len(pieces)-2], true
}
