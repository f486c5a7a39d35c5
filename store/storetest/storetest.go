// Package storetest is the conformance suite every [store.Store] backend
// passes. A backend's test calls [Run] with a function that opens a new,
// empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := mybackend.Open(t.TempDir())
//			require.NoError(t, err)
//			return s
//		})
//	}
//
// The suite checks the contract written in the documentation of package
// store, one subtest per rule: reads and writes, bytewise ordering and cursor
// scans, binary keys, large values, input limits, read-only views,
// atomicity under errors and panics, ownership of returned slices,
// serializability under concurrent read-modify-write, context cancellation,
// and Close.
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/store"
)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called; Run closes every store it opens (open may register its
// own cleanup as well: Close is idempotent).
func Run(t *testing.T, open func(t *testing.T) *store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *store.Store)
	}{
		{"GetPutDelete", testGetPutDelete},
		{"EmptyValue", testEmptyValue},
		{"LargeValues", testLargeValues},
		{"BinaryKeysOrder", testBinaryKeysOrder},
		{"ScanRanges", testScanRanges},
		{"ScanCursorPaging", testScanCursorPaging},
		{"ScanPrefix", testScanPrefix},
		{"ScanStopsOnError", testScanStopsOnError},
		{"ScanWhileWriting", testScanWhileWriting},
		{"BucketsAreIsolated", testBucketsAreIsolated},
		{"InputLimits", testInputLimits},
		{"ReadOnlyView", testReadOnlyView},
		{"ReadYourWrites", testReadYourWrites},
		{"RollbackOnError", testRollbackOnError},
		{"RollbackOnPanic", testRollbackOnPanic},
		{"SlicesBelongToCaller", testSlicesBelongToCaller},
		{"ManyWritesInOneTransaction", testManyWrites},
		{"TxInvalidAfterReturn", testTxInvalidAfterReturn},
		{"ConcurrentIncrements", testConcurrentIncrements},
		{"ConcurrentClaimOnce", testConcurrentClaimOnce},
		{"ConcurrentSequence", testConcurrentSequence},
		{"NoWriteSkew", testNoWriteSkew},
		{"ReadersSeeWholeTransactions", testReadersSeeWholeTransactions},
		{"ContextDoneBefore", testContextDoneBefore},
		{"ContextDoneDuring", testContextDoneDuring},
		{"ContextDoneWhileWaiting", testContextDoneWhileWaiting},
		{"UseAfterClose", testUseAfterClose},
		{"CloseWaitsForTransactions", testCloseWaitsForTransactions},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			require.NotNil(t, s, "open returned a nil store")
			t.Cleanup(func() { _ = s.Close() })
			tc.fn(t, s)
		})
	}
}

const bucket = "test"

// put commits key = value in one transaction.
func put(t *testing.T, s *store.Store, b, key, value string) {
	t.Helper()
	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error {
		return tx.Put(b, []byte(key), []byte(value))
	}))
}

// get reads key in one view.
func get(t *testing.T, s *store.Store, b, key string) (string, error) {
	t.Helper()
	var v []byte
	err := s.View(context.Background(), func(tx store.Tx) error {
		var err error
		v, err = tx.Get(b, []byte(key))
		return err
	})
	return string(v), err
}

// requireValue asserts that key holds want.
func requireValue(t *testing.T, s *store.Store, b, key, want string) {
	t.Helper()
	got, err := get(t, s, b, key)
	require.NoError(t, err, "get %q", key)
	require.Equal(t, want, got, "value of %q", key)
}

// requireMissing asserts that key is not in the bucket.
func requireMissing(t *testing.T, s *store.Store, b, key string) {
	t.Helper()
	_, err := get(t, s, b, key)
	require.ErrorIs(t, err, store.ErrNotFound, "get %q", key)
}

type kv struct{ key, value string }

// scan returns what Scan visits, in order.
func scan(t *testing.T, s *store.Store, b string, r store.Range) []kv {
	t.Helper()
	var out []kv
	require.NoError(t, s.View(context.Background(), func(tx store.Tx) error {
		out = out[:0] // fn may run more than once
		return tx.Scan(b, r, func(k, v []byte) error {
			out = append(out, kv{string(k), string(v)})
			return nil
		})
	}))
	return out
}

func keysOf(kvs []kv) []string {
	out := make([]string, len(kvs))
	for i, p := range kvs {
		out[i] = p.key
	}
	return out
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

// parallel runs fn(i) for i in [0, n) on n goroutines and returns the first
// error. The goroutines must not call t.FailNow, so they report errors.
func parallel(n int, fn func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func u64(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

// readCounter reads a big-endian counter, 0 when absent.
func readCounter(tx store.Tx, b string, key []byte) (uint64, error) {
	v, err := tx.Get(b, key)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("counter is %d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

func testGetPutDelete(t *testing.T, s *store.Store) {
	requireMissing(t, s, bucket, "a")
	put(t, s, bucket, "a", "1")
	requireValue(t, s, bucket, "a", "1")
	put(t, s, bucket, "a", "2")
	requireValue(t, s, bucket, "a", "2")
	put(t, s, bucket, "b", "3")

	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.Delete(bucket, []byte("a")); err != nil {
			return err
		}
		// Deleting a missing key is not an error.
		return tx.Delete(bucket, []byte("never-there"))
	}))
	requireMissing(t, s, bucket, "a")
	requireValue(t, s, bucket, "b", "3")

	// The error says which sentinel it is even when wrapped.
	_, err := get(t, s, bucket, "a")
	require.True(t, errors.Is(err, store.ErrNotFound))
	require.False(t, errors.Is(err, store.ErrConflict))

	// A bucket that was never written reads as empty.
	requireMissing(t, s, "never-written", "a")
	require.Empty(t, scan(t, s, "never-written", store.Range{}))
}

func testEmptyValue(t *testing.T, s *store.Store) {
	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.Put(bucket, []byte("nil"), nil); err != nil {
			return err
		}
		return tx.Put(bucket, []byte("empty"), []byte{})
	}))
	for _, k := range []string{"nil", "empty"} {
		v, err := get(t, s, bucket, k)
		require.NoError(t, err, "an empty value is a value, not a missing key")
		require.Empty(t, v)
	}
	got := scan(t, s, bucket, store.Range{})
	require.Equal(t, []kv{{"empty", ""}, {"nil", ""}}, got)
}

func testLargeValues(t *testing.T, s *store.Store) {
	const mib = 1 << 20
	values := make([][]byte, 4)
	for i := range values {
		values[i] = randomBytes(t, mib+i)
	}
	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error {
		for i, v := range values {
			if err := tx.Put(bucket, []byte{byte('a' + i)}, v); err != nil {
				return err
			}
		}
		return nil
	}))
	for i, v := range values {
		got, err := get(t, s, bucket, string([]byte{byte('a' + i)}))
		require.NoError(t, err)
		require.True(t, bytes.Equal(v, []byte(got)), "1 MiB value %d read back differently", i)
	}
	got := scan(t, s, bucket, store.Range{})
	require.Len(t, got, len(values))
	for i, p := range got {
		require.True(t, bytes.Equal(values[i], []byte(p.value)), "scanned 1 MiB value %d differs", i)
	}

	// Shrink one to a byte and grow it back.
	put(t, s, bucket, "a", "x")
	requireValue(t, s, bucket, "a", "x")
	put(t, s, bucket, "a", string(values[3]))
	requireValue(t, s, bucket, "a", string(values[3]))
}

// binaryKeys are sorted bytewise, the order every backend must keep.
var binaryKeys = [][]byte{
	{0x00},
	{0x00, 0x00},
	{0x00, 0x01},
	{0x00, 0xff},
	{0x01},
	[]byte("a"),
	[]byte("a\x00"),
	[]byte("a\x00\x00"),
	[]byte("a\x01"),
	[]byte("aa"),
	[]byte("ab"),
	[]byte("b"),
	{0x7f},
	{0x80},
	{0x80, 0x00},
	{0xfe, 0xff},
	{0xff},
	{0xff, 0x00},
	{0xff, 0xff},
	{0xff, 0xff, 0xff},
	bytes.Repeat([]byte{0xff}, store.MaxKeySize),
}

func putBinaryKeys(t *testing.T, s *store.Store) {
	t.Helper()
	// Insert in a scrambled order so that the store, not the insertion,
	// has to sort.
	order := []int{7, 3, 19, 0, 12, 5, 20, 9, 1, 16, 14, 2, 18, 11, 4, 8, 15, 13, 6, 17, 10}
	require.Len(t, order, len(binaryKeys))
	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error {
		for _, i := range order {
			if err := tx.Put(bucket, binaryKeys[i], []byte(fmt.Sprint(i))); err != nil {
				return err
			}
		}
		return nil
	}))
}

func indices(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func binaryKeyStrings(idx ...int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = string(binaryKeys[j])
	}
	return out
}

func testBinaryKeysOrder(t *testing.T, s *store.Store) {
	require.True(t, slices.IsSortedFunc(binaryKeys, bytes.Compare), "fixture must be sorted")
	putBinaryKeys(t, s)

	got := scan(t, s, bucket, store.Range{})
	require.Len(t, got, len(binaryKeys))
	for i, p := range got {
		require.Equal(t, string(binaryKeys[i]), p.key, "key %d out of bytewise order", i)
		require.Equal(t, fmt.Sprint(i), p.value)
	}
	for i, k := range binaryKeys {
		requireValue(t, s, bucket, string(k), fmt.Sprint(i))
	}

	rev := scan(t, s, bucket, store.Range{Reverse: true})
	want := keysOf(got)
	slices.Reverse(want)
	require.Equal(t, want, keysOf(rev))
}

func testScanRanges(t *testing.T, s *store.Store) {
	putBinaryKeys(t, s)
	b := func(s string) []byte { return []byte(s) }
	all := indices(len(binaryKeys))
	reversed := func(idx ...int) []int {
		idx = slices.Clone(idx)
		slices.Reverse(idx)
		return idx
	}
	tests := []struct {
		name string
		r    store.Range
		want []int
	}{
		{"all", store.Range{}, all},
		{"start inclusive", store.Range{Start: b("a")}, all[5:]},
		{"start between keys", store.Range{Start: b("a\x00\x01")}, all[8:]},
		{"end exclusive", store.Range{End: b("a")}, all[:5]},
		{"start and end", store.Range{Start: b("a"), End: b("ab")}, all[5:10]},
		{"start equals end", store.Range{Start: b("a"), End: b("a")}, nil},
		{"start after end", store.Range{Start: b("b"), End: b("a")}, nil},
		{"empty start is the first key", store.Range{Start: []byte{}, End: []byte{0x01}}, all[:4]},
		{"start past last", store.Range{Start: bytes.Repeat([]byte{0xff}, store.MaxKeySize+1)}, nil},
		{"end before first", store.Range{End: []byte{0x00}}, nil},
		{"limit", store.Range{Limit: 3}, all[:3]},
		{"limit larger than range", store.Range{Start: b("b"), End: []byte{0x80}, Limit: 10}, all[11:13]},
		{"limit with start", store.Range{Start: b("a"), Limit: 2}, all[5:7]},
		{"reverse", store.Range{Reverse: true}, reversed(all...)},
		{"reverse with bounds", store.Range{Start: b("a"), End: b("ab"), Reverse: true}, reversed(all[5:10]...)},
		{"reverse limit takes the last keys", store.Range{Reverse: true, Limit: 2}, []int{20, 19}},
		{"reverse limit with end", store.Range{End: b("a"), Reverse: true, Limit: 3}, []int{4, 3, 2}},
		{"reverse empty", store.Range{Start: b("b"), End: b("a"), Reverse: true}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := keysOf(scan(t, s, bucket, tc.r))
			want := binaryKeyStrings(tc.want...)
			if len(want) == 0 {
				require.Empty(t, got)
				return
			}
			require.Equal(t, want, got)
		})
	}
}

func testScanCursorPaging(t *testing.T, s *store.Store) {
	// Enough keys to cross any internal page size of a backend.
	const n = 700
	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error {
		for i := range n {
			if err := tx.Put(bucket, fmt.Appendf(nil, "k%04d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
				return err
			}
		}
		return nil
	}))
	full := scan(t, s, bucket, store.Range{})
	require.Len(t, full, n)
	require.Equal(t, "k0000", full[0].key)
	require.Equal(t, "v699", full[n-1].value)

	for _, pageSize := range []int{1, 7, 256, n, n + 1} {
		// Forward: the next page starts just after the last key seen.
		var fwd []kv
		var after []byte
		for pages := 0; ; pages++ {
			require.Less(t, pages, n+2, "paging does not end")
			var r store.Range
			r.Limit = pageSize
			if after != nil {
				r.Start = append(slices.Clone(after), 0)
			}
			page := scan(t, s, bucket, r)
			require.LessOrEqual(t, len(page), pageSize)
			fwd = append(fwd, page...)
			if len(page) < pageSize {
				break
			}
			after = []byte(page[len(page)-1].key)
		}
		require.Equal(t, full, fwd, "forward pages of %d", pageSize)

		// Backward: the next page ends at the last key seen.
		var back []kv
		var before []byte
		for pages := 0; ; pages++ {
			require.Less(t, pages, n+2, "paging does not end")
			r := store.Range{Reverse: true, Limit: pageSize, End: before}
			page := scan(t, s, bucket, r)
			back = append(back, page...)
			if len(page) < pageSize {
				break
			}
			before = []byte(page[len(page)-1].key)
		}
		slices.Reverse(back)
		require.Equal(t, full, back, "backward pages of %d", pageSize)
	}
}

func testScanPrefix(t *testing.T, s *store.Store) {
	putBinaryKeys(t, s)
	tests := []struct {
		prefix []byte
		want   []int
	}{
		{[]byte("a"), []int{5, 6, 7, 8, 9, 10}},
		{[]byte("a\x00"), []int{6, 7}},
		{[]byte{0x00}, []int{0, 1, 2, 3}},
		{[]byte{0xff}, []int{16, 17, 18, 19, 20}},
		{[]byte{0xff, 0xff}, []int{18, 19, 20}},
		{[]byte{0xfe}, []int{15}},
		{[]byte("c"), nil},
	}
	for _, tc := range tests {
		got := keysOf(scan(t, s, bucket, store.Prefix(tc.prefix)))
		want := binaryKeyStrings(tc.want...)
		if len(want) == 0 {
			require.Empty(t, got, "prefix %x", tc.prefix)
			continue
		}
		require.Equal(t, want, got, "prefix %x", tc.prefix)
		r := store.Prefix(tc.prefix)
		r.Reverse = true
		slices.Reverse(want)
		require.Equal(t, want, keysOf(scan(t, s, bucket, r)), "reverse prefix %x", tc.prefix)
	}
	require.Nil(t, store.PrefixEnd(nil))
	require.Nil(t, store.PrefixEnd([]byte{0xff, 0xff}))
	require.Equal(t, []byte{0x02}, store.PrefixEnd([]byte{0x01, 0xff}))
}

func testScanStopsOnError(t *testing.T, s *store.Store) {
	putBinaryKeys(t, s)
	stop := errors.New("stop here")
	for _, reverse := range []bool{false, true} {
		var visited int
		err := s.View(context.Background(), func(tx store.Tx) error {
			visited = 0
			return tx.Scan(bucket, store.Range{Reverse: reverse}, func(k, v []byte) error {
				visited++
				if visited == 3 {
					return fmt.Errorf("wrapped: %w", stop)
				}
				return nil
			})
		})
		require.ErrorIs(t, err, stop)
		require.Equal(t, 3, visited, "Scan went on after fn failed")
	}
}

func testScanWhileWriting(t *testing.T, s *store.Store) {
	putBinaryKeys(t, s)
	// fn may change and delete the key it is visiting; every key is visited
	// once.
	var seen []string
	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error {
		seen = seen[:0]
		return tx.Scan(bucket, store.Range{}, func(k, v []byte) error {
			seen = append(seen, string(k))
			if err := tx.Put(bucket, k, append([]byte("new-"), v...)); err != nil {
				return err
			}
			if len(seen)%2 == 0 {
				return tx.Delete(bucket, k)
			}
			return nil
		})
	}))
	require.Equal(t, binaryKeyStrings(indices(len(binaryKeys))...), seen, "every key visited once")
	got := scan(t, s, bucket, store.Range{})
	require.Len(t, got, (len(binaryKeys)+1)/2)
	for i, p := range got {
		require.Equal(t, string(binaryKeys[2*i]), p.key)
		require.Equal(t, "new-"+fmt.Sprint(2*i), p.value)
	}

	// Deleting every key while scanning in reverse empties the bucket.
	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error {
		return tx.Scan(bucket, store.Range{Reverse: true}, func(k, _ []byte) error {
			return tx.Delete(bucket, k)
		})
	}))
	require.Empty(t, scan(t, s, bucket, store.Range{}))
}

func testBucketsAreIsolated(t *testing.T, s *store.Store) {
	// Names that are prefixes of one another, as a backend that flattens
	// buckets into one key space might confuse them.
	names := []string{"a", "a.b", "ab", "a-", "a_", "b", "0", strings.Repeat("z", store.MaxBucketLen)}
	for i, b := range names {
		put(t, s, b, "k", fmt.Sprint(i))
		put(t, s, b, b, "own")
	}
	for i, b := range names {
		requireValue(t, s, b, "k", fmt.Sprint(i))
		want := []kv{{b, "own"}, {"k", fmt.Sprint(i)}}
		slices.SortFunc(want, func(x, y kv) int { return strings.Compare(x.key, y.key) })
		require.Equal(t, want, scan(t, s, b, store.Range{}), "bucket %q", b)
	}
	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error {
		return tx.Delete("a", []byte("k"))
	}))
	requireMissing(t, s, "a", "k")
	requireValue(t, s, "a.b", "k", "1")
	requireValue(t, s, "ab", "k", "2")
}

func testInputLimits(t *testing.T, s *store.Store) {
	ctx := context.Background()
	put(t, s, bucket, "existing", "v")

	badBuckets := []string{"", "Upper", "a/b", "a b", "é", "a\x00", strings.Repeat("a", store.MaxBucketLen+1)}
	badKeys := [][]byte{nil, {}, bytes.Repeat([]byte{'k'}, store.MaxKeySize+1)}
	tooLarge := make([]byte, store.MaxValueSize+1)

	for _, b := range badBuckets {
		require.ErrorIs(t, store.CheckBucket(b), store.ErrInvalid)
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		for _, b := range badBuckets {
			_, err := tx.Get(b, []byte("k"))
			require.ErrorIs(t, err, store.ErrInvalid, "Get from bucket %q", b)
			require.ErrorIs(t, tx.Put(b, []byte("k"), []byte("v")), store.ErrInvalid, "Put to bucket %q", b)
			require.ErrorIs(t, tx.Delete(b, []byte("k")), store.ErrInvalid, "Delete from bucket %q", b)
			require.ErrorIs(t, tx.Scan(b, store.Range{}, func(_, _ []byte) error { return nil }), store.ErrInvalid, "Scan bucket %q", b)
		}
		for _, k := range badKeys {
			_, err := tx.Get(bucket, k)
			require.ErrorIs(t, err, store.ErrInvalid, "Get key of %d bytes", len(k))
			require.ErrorIs(t, tx.Put(bucket, k, []byte("v")), store.ErrInvalid, "Put key of %d bytes", len(k))
			require.ErrorIs(t, tx.Delete(bucket, k), store.ErrInvalid, "Delete key of %d bytes", len(k))
		}
		require.ErrorIs(t, tx.Put(bucket, []byte("existing"), tooLarge), store.ErrInvalid, "Put of a value over MaxValueSize")
		require.ErrorIs(t, tx.Put(bucket, []byte("new"), tooLarge), store.ErrInvalid, "Put of a value over MaxValueSize")
		// Refused calls change nothing, and the transaction goes on.
		v, err := tx.Get(bucket, []byte("existing"))
		require.NoError(t, err)
		require.Equal(t, "v", string(v))
		return tx.Put(bucket, []byte("after"), []byte("ok"))
	})
	require.NoError(t, err)
	requireValue(t, s, bucket, "existing", "v")
	requireValue(t, s, bucket, "after", "ok")
	requireMissing(t, s, bucket, "new")
	require.Equal(t, []kv{{"after", "ok"}, {"existing", "v"}}, scan(t, s, bucket, store.Range{}))

	// The largest names and keys are accepted.
	longBucket := strings.Repeat("b", store.MaxBucketLen)
	longKey := string(bytes.Repeat([]byte{0x00}, store.MaxKeySize))
	put(t, s, longBucket, longKey, "v")
	requireValue(t, s, longBucket, longKey, "v")
}

func testReadOnlyView(t *testing.T, s *store.Store) {
	put(t, s, bucket, "a", "1")
	err := s.View(context.Background(), func(tx store.Tx) error {
		require.ErrorIs(t, tx.Put(bucket, []byte("a"), []byte("2")), store.ErrReadOnly)
		require.ErrorIs(t, tx.Put(bucket, []byte("b"), []byte("2")), store.ErrReadOnly)
		require.ErrorIs(t, tx.Delete(bucket, []byte("a")), store.ErrReadOnly)
		v, err := tx.Get(bucket, []byte("a"))
		require.NoError(t, err)
		require.Equal(t, "1", string(v))
		return nil
	})
	require.NoError(t, err)
	requireValue(t, s, bucket, "a", "1")
	requireMissing(t, s, bucket, "b")
}

func testReadYourWrites(t *testing.T, s *store.Store) {
	put(t, s, bucket, "a", "1")
	put(t, s, bucket, "c", "3")
	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error {
		if err := tx.Put(bucket, []byte("b"), []byte("2")); err != nil {
			return err
		}
		if err := tx.Put(bucket, []byte("a"), []byte("1'")); err != nil {
			return err
		}
		if err := tx.Delete(bucket, []byte("c")); err != nil {
			return err
		}
		v, err := tx.Get(bucket, []byte("b"))
		require.NoError(t, err)
		require.Equal(t, "2", string(v))
		_, err = tx.Get(bucket, []byte("c"))
		require.ErrorIs(t, err, store.ErrNotFound)
		var got []kv
		require.NoError(t, tx.Scan(bucket, store.Range{}, func(k, v []byte) error {
			got = append(got, kv{string(k), string(v)})
			return nil
		}))
		require.Equal(t, []kv{{"a", "1'"}, {"b", "2"}}, got)
		return nil
	}))
	require.Equal(t, []kv{{"a", "1'"}, {"b", "2"}}, scan(t, s, bucket, store.Range{}))
}

// changeEverything writes, overwrites and deletes in two buckets, including
// one the store has never seen.
func changeEverything(tx store.Tx) error {
	for _, op := range []func() error{
		func() error { return tx.Put(bucket, []byte("a"), []byte("changed")) },
		func() error { return tx.Put(bucket, []byte("new"), []byte("new")) },
		func() error { return tx.Delete(bucket, []byte("b")) },
		func() error { return tx.Put("fresh-bucket", []byte("k"), []byte("v")) },
		func() error { return tx.Put(bucket, []byte("a"), []byte("changed twice")) },
		func() error { return tx.Put(bucket, []byte("big"), make([]byte, 1<<20)) },
	} {
		if err := op(); err != nil {
			return err
		}
	}
	return nil
}

func requireUnchanged(t *testing.T, s *store.Store) {
	t.Helper()
	require.Equal(t, []kv{{"a", "1"}, {"b", "2"}}, scan(t, s, bucket, store.Range{}))
	require.Empty(t, scan(t, s, "fresh-bucket", store.Range{}))
}

func testRollbackOnError(t *testing.T, s *store.Store) {
	put(t, s, bucket, "a", "1")
	put(t, s, bucket, "b", "2")
	boom := errors.New("boom")
	err := s.Update(context.Background(), func(tx store.Tx) error {
		if err := changeEverything(tx); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	requireUnchanged(t, s)

	// The store is usable afterwards, and a failed transaction between
	// successful ones leaves them alone.
	put(t, s, bucket, "c", "3")
	requireValue(t, s, bucket, "c", "3")
	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error {
		return tx.Delete(bucket, []byte("c"))
	}))
	requireUnchanged(t, s)
}

func testRollbackOnPanic(t *testing.T, s *store.Store) {
	put(t, s, bucket, "a", "1")
	put(t, s, bucket, "b", "2")
	type panicValue struct{ msg string }
	want := &panicValue{"boom"}
	var got any
	func() {
		defer func() { got = recover() }()
		_ = s.Update(context.Background(), func(tx store.Tx) error {
			if err := changeEverything(tx); err != nil {
				return err
			}
			panic(want)
		})
	}()
	require.Same(t, want, got, "the panic reaches the caller of Update")
	requireUnchanged(t, s)

	// A panic in View reaches the caller too.
	got = nil
	func() {
		defer func() { got = recover() }()
		_ = s.View(context.Background(), func(tx store.Tx) error { panic(want) })
	}()
	require.Same(t, want, got, "the panic reaches the caller of View")

	// The store is usable afterwards, also by concurrent writers.
	require.NoError(t, parallel(4, func(i int) error {
		return s.Update(context.Background(), func(tx store.Tx) error {
			return tx.Put(bucket, fmt.Appendf(nil, "after%d", i), []byte("ok"))
		})
	}))
	requireValue(t, s, bucket, "after3", "ok")
}

// testManyWrites: a transaction of more writes than a backend may hold
// before sending them (pgstore: 256), overwrites and deletes among them,
// reads of its own writes between them, and one reused buffer for every
// key and value: each lands as the last write of its key says.
func testManyWrites(t *testing.T, s *store.Store) {
	ctx := context.Background()
	const n = 1000
	key, value := make([]byte, 0, 16), make([]byte, 0, 16)
	require.NoError(t, s.Update(ctx, func(tx store.Tx) error {
		for i := range n {
			key, value = fmt.Appendf(key[:0], "m%04d", i), fmt.Appendf(value[:0], "v%d", i)
			if err := tx.Put(bucket, key, value); err != nil {
				return err
			}
			switch {
			case i%7 == 0: // overwritten
				if err := tx.Put(bucket, key, []byte("again")); err != nil {
					return err
				}
			case i%5 == 0: // deleted
				if err := tx.Delete(bucket, key); err != nil {
					return err
				}
			}
			if i%300 == 299 {
				got, err := tx.Get(bucket, fmt.Appendf(nil, "m%04d", i-1))
				if err != nil {
					return err
				}
				if want := fmt.Sprintf("v%d", i-1); (i-1)%7 != 0 && (i-1)%5 != 0 && string(got) != want {
					return fmt.Errorf("read %q of m%04d in its own transaction, want %q", got, i-1, want)
				}
			}
		}
		return nil
	}))
	got := map[string]string{}
	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		return tx.Scan(bucket, store.Range{Start: []byte("m"), End: []byte("n")}, func(k, v []byte) error {
			got[string(k)] = string(v)
			return nil
		})
	}))
	for i := range n {
		k := fmt.Sprintf("m%04d", i)
		switch {
		case i%7 == 0:
			require.Equal(t, "again", got[k], k)
		case i%5 == 0:
			require.NotContains(t, got, k)
		default:
			require.Equal(t, fmt.Sprintf("v%d", i), got[k], k)
		}
	}
}

func testSlicesBelongToCaller(t *testing.T, s *store.Store) {
	ctx := context.Background()
	key := []byte("key")
	value := []byte("value")
	require.NoError(t, s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put(bucket, key, value); err != nil {
			return err
		}
		// The caller may reuse its buffers as soon as Put returns.
		copy(key, "KEY")
		copy(value, "VALUE")
		return nil
	}))
	requireValue(t, s, bucket, "key", "value")
	requireMissing(t, s, bucket, "KEY")

	for i := range 50 {
		put(t, s, bucket, fmt.Sprintf("k%02d", i), fmt.Sprintf("v%02d", i))
	}
	var keptKeys, keptValues [][]byte
	var got []byte
	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		keptKeys, keptValues = nil, nil
		var err error
		if got, err = tx.Get(bucket, []byte("key")); err != nil {
			return err
		}
		return tx.Scan(bucket, store.Range{Start: []byte("k0"), End: []byte("k9")}, func(k, v []byte) error {
			keptKeys = append(keptKeys, k)
			keptValues = append(keptValues, v)
			return nil
		})
	}))
	// Overwrite everything the view read, so that a backend that handed
	// out its own memory would show the change.
	require.NoError(t, s.Update(ctx, func(tx store.Tx) error {
		for i := range 50 {
			if err := tx.Put(bucket, fmt.Appendf(nil, "k%02d", i), []byte("XX")); err != nil {
				return err
			}
		}
		return tx.Put(bucket, []byte("key"), []byte("XXXXX"))
	}))
	require.Equal(t, "value", string(got))
	for i, k := range keptKeys {
		require.Equal(t, fmt.Sprintf("k%02d", i), string(k))
		require.Equal(t, fmt.Sprintf("v%02d", i), string(keptValues[i]))
	}
	// Modifying what was returned does not modify the store.
	copy(got, "XXXXX")
	for _, k := range keptKeys {
		k[0] = 'X'
	}
	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		v, err := tx.Get(bucket, []byte("k00"))
		require.NoError(t, err)
		v[0] = '!'
		v2, err := tx.Get(bucket, []byte("k00"))
		require.NoError(t, err)
		require.Equal(t, "XX", string(v2))
		return tx.Scan(bucket, store.Range{Limit: 1}, func(k, v []byte) error {
			k[0], v[0] = '!', '!'
			return nil
		})
	}))
	requireValue(t, s, bucket, "k00", "XX")
	require.Equal(t, "key", scan(t, s, bucket, store.Range{})[50].key)
	require.Equal(t, "k00", scan(t, s, bucket, store.Range{Limit: 1})[0].key)
}

func testTxInvalidAfterReturn(t *testing.T, s *store.Store) {
	ctx := context.Background()
	put(t, s, bucket, "a", "1")
	var leaked store.Tx
	require.NoError(t, s.Update(ctx, func(tx store.Tx) error {
		leaked = tx
		return nil
	}))
	require.Error(t, leaked.Put(bucket, []byte("a"), []byte("leaked")))
	require.Error(t, leaked.Delete(bucket, []byte("a")))
	_, err := leaked.Get(bucket, []byte("a"))
	require.Error(t, err)
	require.Error(t, leaked.Scan(bucket, store.Range{}, func(_, _ []byte) error { return nil }))

	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		leaked = tx
		return nil
	}))
	_, err = leaked.Get(bucket, []byte("a"))
	require.Error(t, err)
	requireValue(t, s, bucket, "a", "1")
}

func testConcurrentIncrements(t *testing.T, s *store.Store) {
	const goroutines, each = 8, 20
	key := []byte("counter")
	var runs sync.Map // goroutine -> successful commits
	err := parallel(goroutines, func(g int) error {
		for range each {
			err := s.Update(context.Background(), func(tx store.Tx) error {
				n, err := readCounter(tx, bucket, key)
				if err != nil {
					return err
				}
				// A second key written in the same transaction, so that a
				// backend committing half a transaction shows.
				if err := tx.Put(bucket, fmt.Appendf(nil, "last-%d", g), u64(n+1)); err != nil {
					return err
				}
				return tx.Put(bucket, key, u64(n+1))
			})
			if err != nil {
				return fmt.Errorf("goroutine %d: %w", g, err)
			}
			v, _ := runs.LoadOrStore(g, new(int))
			*v.(*int)++
		}
		return nil
	})
	require.NoError(t, err)
	require.NoError(t, s.View(context.Background(), func(tx store.Tx) error {
		n, err := readCounter(tx, bucket, key)
		require.NoError(t, err)
		require.Equal(t, uint64(goroutines*each), n, "increments were lost")
		return nil
	}))
}

func testConcurrentClaimOnce(t *testing.T, s *store.Store) {
	// Create-if-absent — how single-use tokens and idempotency keys are
	// taken: for every key exactly one transaction sees it absent.
	const goroutines, keys = 8, 12
	winners := make([][]int, goroutines)
	err := parallel(goroutines, func(g int) error {
		for k := range keys {
			var won bool
			err := s.Update(context.Background(), func(tx store.Tx) error {
				won = false
				key := fmt.Appendf(nil, "claim-%d", k)
				_, err := tx.Get(bucket, key)
				if err == nil {
					return nil
				}
				if !errors.Is(err, store.ErrNotFound) {
					return err
				}
				won = true
				return tx.Put(bucket, key, fmt.Append(nil, g))
			})
			if err != nil {
				return err
			}
			if won {
				winners[g] = append(winners[g], k)
			}
		}
		return nil
	})
	require.NoError(t, err)
	owner := map[int]int{}
	for g, ks := range winners {
		for _, k := range ks {
			prev, dup := owner[k]
			require.False(t, dup, "key %d claimed by goroutines %d and %d", k, prev, g)
			owner[k] = g
		}
	}
	require.Len(t, owner, keys)
	for k, g := range owner {
		requireValue(t, s, bucket, fmt.Sprintf("claim-%d", k), fmt.Sprint(g))
	}
}

func testConcurrentSequence(t *testing.T, s *store.Store) {
	// Scan-then-insert: each transaction appends the key after the last
	// one, found by a reverse scan. A phantom would duplicate a number.
	const goroutines, each = 6, 10
	got := make([][]uint64, goroutines)
	err := parallel(goroutines, func(g int) error {
		for range each {
			var next uint64
			err := s.Update(context.Background(), func(tx store.Tx) error {
				next = 1
				err := tx.Scan("seq", store.Range{Reverse: true, Limit: 1}, func(k, _ []byte) error {
					next = binary.BigEndian.Uint64(k) + 1
					return nil
				})
				if err != nil {
					return err
				}
				return tx.Put("seq", u64(next), fmt.Append(nil, g))
			})
			if err != nil {
				return err
			}
			got[g] = append(got[g], next)
		}
		return nil
	})
	require.NoError(t, err)
	var all []uint64
	for _, g := range got {
		require.True(t, slices.IsSorted(g), "one goroutine's numbers go down: %v", g)
		all = append(all, g...)
	}
	slices.Sort(all)
	for i, n := range all {
		require.Equal(t, uint64(i+1), n, "sequence numbers are not 1..%d without duplicates", len(all))
	}
	require.Len(t, scan(t, s, "seq", store.Range{}), goroutines*each)
}

func testNoWriteSkew(t *testing.T, s *store.Store) {
	// Two doctors on call; each transaction takes one off call only if both
	// are on. Snapshot isolation lets both go; serializability does not.
	ctx := context.Background()
	for round := range 12 {
		require.NoError(t, s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Put(bucket, []byte("alice"), []byte("on")); err != nil {
				return err
			}
			return tx.Put(bucket, []byte("bob"), []byte("on"))
		}))
		err := parallel(2, func(g int) error {
			me := []string{"alice", "bob"}[g]
			return s.Update(ctx, func(tx store.Tx) error {
				on := 0
				err := tx.Scan(bucket, store.Range{}, func(_, v []byte) error {
					if string(v) == "on" {
						on++
					}
					return nil
				})
				if err != nil {
					return err
				}
				if on < 2 {
					return nil
				}
				time.Sleep(time.Millisecond) // widen the window
				return tx.Put(bucket, []byte(me), []byte("off"))
			})
		})
		require.NoError(t, err)
		got := scan(t, s, bucket, store.Range{})
		on := 0
		for _, p := range got {
			if p.value == "on" {
				on++
			}
		}
		require.Equal(t, 1, on, "round %d: write skew left %v", round, got)
	}
}

func testReadersSeeWholeTransactions(t *testing.T, s *store.Store) {
	// Transfers between accounts keep the total; readers check it on every
	// snapshot, by Get and by Scan.
	ctx := context.Background()
	const accounts, initial = 5, 100
	require.NoError(t, s.Update(ctx, func(tx store.Tx) error {
		for i := range accounts {
			if err := tx.Put("accounts", fmt.Appendf(nil, "acct%d", i), u64(initial)); err != nil {
				return err
			}
		}
		return nil
	}))
	done := make(chan struct{})
	var readers sync.WaitGroup
	readErrs := make([]error, 2)
	views := make([]int, 2)
	for r := range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				err := s.View(ctx, func(tx store.Tx) error {
					var byGet, byScan uint64
					for i := range accounts {
						n, err := readCounter(tx, "accounts", fmt.Appendf(nil, "acct%d", i))
						if err != nil {
							return err
						}
						byGet += n
					}
					err := tx.Scan("accounts", store.Range{}, func(_, v []byte) error {
						byScan += binary.BigEndian.Uint64(v)
						return nil
					})
					if err != nil {
						return err
					}
					if byGet != accounts*initial || byScan != accounts*initial {
						return fmt.Errorf("a view saw totals %d (Get) and %d (Scan), want %d", byGet, byScan, accounts*initial)
					}
					return nil
				})
				views[r]++
				if err != nil {
					readErrs[r] = err
					return
				}
			}
		})
	}
	err := parallel(4, func(g int) error {
		for i := range 15 {
			from := fmt.Appendf(nil, "acct%d", (g+i)%accounts)
			to := fmt.Appendf(nil, "acct%d", (g+2*i+1)%accounts)
			err := s.Update(ctx, func(tx store.Tx) error {
				a, err := readCounter(tx, "accounts", from)
				if err != nil {
					return err
				}
				if err := tx.Put("accounts", from, u64(a-1)); err != nil {
					return err
				}
				b, err := readCounter(tx, "accounts", to)
				if err != nil {
					return err
				}
				return tx.Put("accounts", to, u64(b+1))
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	close(done)
	readers.Wait()
	require.NoError(t, err)
	require.NoError(t, errors.Join(readErrs...))
	require.Positive(t, views[0]+views[1])
	var total uint64
	for _, p := range scan(t, s, "accounts", store.Range{}) {
		total += binary.BigEndian.Uint64([]byte(p.value))
	}
	require.Equal(t, uint64(accounts*initial), total)
}

func testContextDoneBefore(t *testing.T, s *store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Put(bucket, []byte("a"), []byte("1"))
	})
	require.ErrorIs(t, err, context.Canceled)
	err = s.View(ctx, func(tx store.Tx) error { return nil })
	require.ErrorIs(t, err, context.Canceled)

	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	err = s.Update(expired, func(tx store.Tx) error {
		return tx.Put(bucket, []byte("a"), []byte("1"))
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	requireMissing(t, s, bucket, "a")
}

func testContextDoneDuring(t *testing.T, s *store.Store) {
	put(t, s, bucket, "a", "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put(bucket, []byte("a"), []byte("2")); err != nil {
			return err
		}
		if err := tx.Put(bucket, []byte("b"), []byte("2")); err != nil {
			return err
		}
		cancel()
		return nil
	})
	require.ErrorIs(t, err, context.Canceled)
	requireValue(t, s, bucket, "a", "1")
	requireMissing(t, s, bucket, "b")

	short, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	err = s.Update(short, func(tx store.Tx) error {
		if err := tx.Put(bucket, []byte("a"), []byte("3")); err != nil {
			return err
		}
		<-short.Done()
		return nil
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	requireValue(t, s, bucket, "a", "1")

	// The store is usable afterwards.
	put(t, s, bucket, "c", "3")
	requireValue(t, s, bucket, "c", "3")
}

// holdWrite starts a transaction that writes value under key and then stays
// open; it returns once the write is done (or failed). release lets the
// transaction end and returns its error. The transaction reads its write
// back: a backend may hold writes until the transaction's next read (pgstore
// sends them together), and only a write the backend has made holds what
// another writer of the key must wait for.
func holdWrite(s *store.Store, key, value string) (release func() error) {
	written, done := make(chan struct{}), make(chan struct{})
	var once sync.Once
	txErr := make(chan error, 1)
	go func() {
		txErr <- s.Update(context.Background(), func(tx store.Tx) error {
			if err := tx.Put(bucket, []byte(key), []byte(value)); err != nil {
				return err
			}
			if _, err := tx.Get(bucket, []byte(key)); err != nil {
				return err
			}
			once.Do(func() { close(written) })
			<-done
			return nil
		})
	}()
	select {
	case <-written:
	case err := <-txErr: // the write failed: nothing is held
		return func() error { return err }
	}
	return func() error {
		close(done)
		return <-txErr
	}
}

func testContextDoneWhileWaiting(t *testing.T, s *store.Store) {
	// A writer waiting behind a long transaction gives up when its context
	// ends, and its write does not happen.
	ctx := context.Background()
	put(t, s, bucket, "hot", "0")
	release := holdWrite(s, "hot", "first")
	waitCtx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	second := make(chan error, 1)
	go func() {
		second <- s.Update(waitCtx, func(tx store.Tx) error {
			if _, err := tx.Get(bucket, []byte("hot")); err != nil {
				return err
			}
			return tx.Put(bucket, []byte("hot"), []byte("second"))
		})
	}()
	// Backends that can give up while waiting do; memstore only notices
	// when it gets the lock. Either way the second write must not land.
	select {
	case err := <-second:
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NoError(t, release())
	case <-time.After(2 * time.Second):
		require.NoError(t, release())
		require.ErrorIs(t, <-second, context.DeadlineExceeded)
	}
	requireValue(t, s, bucket, "hot", "first")
}

func testUseAfterClose(t *testing.T, s *store.Store) {
	ctx := context.Background()
	put(t, s, bucket, "a", "1")
	require.NoError(t, s.Ping(ctx))
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	called := false
	err := s.View(ctx, func(tx store.Tx) error { called = true; return nil })
	require.ErrorIs(t, err, store.ErrClosed)
	err = s.Update(ctx, func(tx store.Tx) error { called = true; return nil })
	require.ErrorIs(t, err, store.ErrClosed)
	require.False(t, called, "a closed store ran a transaction")
	require.ErrorIs(t, s.Ping(ctx), store.ErrClosed)
	require.NoError(t, s.Close())
}

func testCloseWaitsForTransactions(t *testing.T, s *store.Store) {
	ctx := context.Background()
	release := holdWrite(s, "a", "1")
	closeErr := make(chan error, 1)
	go func() { closeErr <- s.Close() }()
	select {
	case err := <-closeErr:
		_ = release()
		t.Fatalf("Close returned (%v) while a transaction was still running", err)
	case <-time.After(100 * time.Millisecond):
	}
	require.NoError(t, release(), "the transaction in flight at Close commits")
	require.NoError(t, <-closeErr)
	require.ErrorIs(t, s.Update(ctx, func(store.Tx) error { return nil }), store.ErrClosed)
}
