package boltstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/boltstore"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/store/storetest"
)

// TestConformanceCheckpointEveryCommit runs the conformance suite with a
// memtable frozen after every commit, so that reads and scans merge many
// layers, tombstones and the bbolt file, and checkpoints run all the time.
func TestConformanceCheckpointEveryCommit(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"), &boltstore.Options{CheckpointBytes: 1})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// journalFiles lists the journal segments next to the bbolt file at path.
func journalFiles(t *testing.T, path string) []string {
	t.Helper()
	m, err := filepath.Glob(path + ".journal.*")
	require.NoError(t, err)
	return m
}

// crashCopy copies the bbolt file and the journal of a store that is still
// open, as a SIGKILL would leave them (the page cache survives a process's
// death), into dir, and returns the copy's path.
func crashCopy(t *testing.T, path, dir string) string {
	t.Helper()
	files := append([]string{path}, journalFiles(t, path)...)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o600))
	}
	return filepath.Join(dir, filepath.Base(path))
}

func put(t *testing.T, s *store.Store, key, value string) {
	t.Helper()
	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error {
		return tx.Put("b", []byte(key), []byte(value))
	}))
}

func get(t *testing.T, s *store.Store, key string) (string, bool) {
	t.Helper()
	var v []byte
	err := s.View(context.Background(), func(tx store.Tx) error {
		var err error
		v, err = tx.Get("b", []byte(key))
		return err
	})
	if err != nil {
		require.ErrorIs(t, err, store.ErrNotFound)
		return "", false
	}
	return string(v), true
}

// TestJournalReplay: what was committed and not yet checkpointed is in the
// journal only, and a store opened on the files a crash leaves replays it;
// a clean Close checkpoints everything and leaves no journal behind.
func TestJournalReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := boltstore.Open(path, nil)
	require.NoError(t, err)
	put(t, s, "a", "1")
	put(t, s, "b", "2")
	require.NoError(t, s.Update(context.Background(), func(tx store.Tx) error { return tx.Delete("b", []byte("a")) }))
	require.Len(t, journalFiles(t, path), 1)

	crashed := crashCopy(t, path, t.TempDir())
	c, err := boltstore.Open(crashed, nil)
	require.NoError(t, err)
	_, ok := get(t, c, "a")
	require.False(t, ok, "the delete was replayed")
	v, ok := get(t, c, "b")
	require.True(t, ok)
	require.Equal(t, "2", v)
	require.NoError(t, c.Close())

	require.NoError(t, s.Close())
	require.Empty(t, journalFiles(t, path), "Close checkpoints and removes the journal")
	s, err = boltstore.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	v, ok = get(t, s, "b")
	require.True(t, ok)
	require.Equal(t, "2", v)
}

// TestJournalTornTail: a record cut short at the end of the journal is a
// commit that never returned, and is dropped; the ones before it are kept.
func TestJournalTornTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := boltstore.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	put(t, s, "kept", "1")
	files := journalFiles(t, path)
	require.Len(t, files, 1)
	before, err := os.Stat(files[0])
	require.NoError(t, err)
	put(t, s, "torn", "2")

	for _, cut := range []int{1, 9, 20} {
		t.Run(fmt.Sprintf("cut %d bytes", cut), func(t *testing.T) {
			crashed := crashCopy(t, path, t.TempDir())
			seg := journalFiles(t, crashed)[0]
			info, err := os.Stat(seg)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(seg, info.Size()-int64(cut)))
			c, err := boltstore.Open(crashed, nil)
			require.NoError(t, err)
			defer c.Close()
			v, ok := get(t, c, "kept")
			require.True(t, ok)
			require.Equal(t, "1", v)
			_, ok = get(t, c, "torn")
			require.False(t, ok)
			put(t, c, "after", "3") // and the store goes on
		})
	}
	t.Run("flipped byte", func(t *testing.T) {
		crashed := crashCopy(t, path, t.TempDir())
		seg := journalFiles(t, crashed)[0]
		b, err := os.ReadFile(seg)
		require.NoError(t, err)
		b[before.Size()+12] ^= 0x01 // inside the second record
		require.NoError(t, os.WriteFile(seg, b, 0o600))
		c, err := boltstore.Open(crashed, nil)
		require.NoError(t, err)
		defer c.Close()
		_, ok := get(t, c, "kept")
		require.True(t, ok)
		_, ok = get(t, c, "torn")
		require.False(t, ok, "a record whose checksum fails is not applied")
	})
}

// TestJournalCorruptMiddle: a bad record with more journal after it is not
// a torn commit but damage (the records after it were acknowledged), and
// Open refuses to guess.
func TestJournalCorruptMiddle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := boltstore.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	put(t, s, "first", "1")
	put(t, s, "second", "2")
	put(t, s, "third", "3")
	crashed := crashCopy(t, path, t.TempDir())
	segs := journalFiles(t, crashed)
	require.Len(t, segs, 1)
	b, err := os.ReadFile(segs[0])
	require.NoError(t, err)
	b[12] ^= 0x01 // inside the first record
	require.NoError(t, os.WriteFile(segs[0], b, 0o600))
	_, err = boltstore.Open(crashed, nil)
	require.ErrorContains(t, err, "torn or corrupt record at byte 0")
}

// TestLayersUnderConcurrency: writers, readers and scans at once, with a
// checkpoint after every commit; every reader sees whole transactions and
// the final state is every writer's last write.
func TestLayersUnderConcurrency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := boltstore.Open(path, &boltstore.Options{CheckpointBytes: 512})
	require.NoError(t, err)
	ctx := context.Background()
	const writers, rounds = 8, 200
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				require.NoError(t, s.Update(ctx, func(tx store.Tx) error {
					// Two keys always written together, one deleted and
					// put back: a reader must see both or neither change.
					v := fmt.Appendf(nil, "%d", i)
					if err := tx.Put("pairs", fmt.Appendf(nil, "w%d-a", w), v); err != nil {
						return err
					}
					if err := tx.Delete("pairs", fmt.Appendf(nil, "w%d-b", w)); err != nil {
						return err
					}
					return tx.Put("pairs", fmt.Appendf(nil, "w%d-b", w), v)
				}))
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				seen := map[string][]byte{}
				require.NoError(t, s.View(ctx, func(tx store.Tx) error {
					return tx.Scan("pairs", store.Range{}, func(k, v []byte) error {
						seen[string(k)] = v
						return nil
					})
				}))
				for w := range writers {
					a, b := seen[fmt.Sprintf("w%d-a", w)], seen[fmt.Sprintf("w%d-b", w)]
					require.True(t, bytes.Equal(a, b), "writer %d: a=%q b=%q", w, a, b)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	require.NoError(t, s.Close())

	s, err = boltstore.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	for w := range writers {
		for _, k := range []string{"a", "b"} {
			var v []byte
			require.NoError(t, s.View(ctx, func(tx store.Tx) error {
				var err error
				v, err = tx.Get("pairs", fmt.Appendf(nil, "w%d-%s", w, k))
				return err
			}))
			require.Equal(t, fmt.Sprint(rounds-1), string(v))
		}
	}
}

// FuzzLayersMatchMemstore writes the same puts and deletes, in several
// transactions, to boltstore with a checkpoint after every commit and to
// memstore, then scans both: the merge of memtables, tombstones and the
// bbolt file must visit what the plain sorted slice does.
//
// The input's first byte holds Reverse and Limit; then pieces separated by
// 0xfe: the last two are the range's Start and End ("-" for none); before
// them, keys — one starting with 0x01 is a delete of the rest, an empty
// piece ends a transaction.
func FuzzLayersMatchMemstore(f *testing.F) {
	f.Add([]byte("\x00a\xfeb\xfe\xfec\xfe\x01a\xfe\xfed\xfe-\xfe-"))
	f.Add([]byte("\x03a\xfeab\xfe\xfe\x01ab\xfeb\xfeba\xfe\xfea\xfeb"))
	f.Add([]byte("\x05k1\xfe\xfek2\xfe\x01k1\xfe\xfek1\xfek3\xfek\xfe-"))
	f.Add([]byte("\x02z\xfe\xfey\xfe\xfe\x01z\xfex\xfe-\xfey"))

	bolt, err := boltstore.Open(filepath.Join(f.TempDir(), "fuzz.db"), &boltstore.Options{CheckpointBytes: 1})
	require.NoError(f, err)
	f.Cleanup(func() { _ = bolt.Close() })
	mem := memstore.New()
	n := 0

	f.Fuzz(func(t *testing.T, data []byte) {
		r, pieces, ok := fuzzRange(data)
		if !ok {
			return
		}
		n++
		bucket := fmt.Sprintf("f%d", n) // a fresh bucket per input
		ctx := context.Background()
		got := make([][]string, 2)
		for i, s := range []*store.Store{bolt, mem} {
			txs := bytes.Split(bytes.Join(pieces, []byte{0xfe}), []byte{0xfe, 0xfe})
			for _, txKeys := range txs {
				err := s.Update(ctx, func(tx store.Tx) error {
					for _, k := range bytes.Split(txKeys, []byte{0xfe}) {
						del := len(k) > 0 && k[0] == 0x01
						if del {
							k = k[1:]
						}
						if store.CheckKey(k) != nil {
							continue
						}
						if del {
							if err := tx.Delete(bucket, k); err != nil {
								return err
							}
						} else if err := tx.Put(bucket, k, k); err != nil {
							return err
						}
					}
					return nil
				})
				require.NoError(t, err)
			}
			got[i] = scanKeys(t, s, bucket, r)
		}
		require.Equal(t, got[1], got[0], "boltstore (first) and memstore (second) scanned differently")
	})
}

// TestFreezeNeedsARecord: a batch that journals nothing — its one write
// rolled back, another writer only reading — must not freeze the memtable:
// the journal's next segment is named after the record that would start
// it, and freezing with no new record named it twice (the store failed).
func TestFreezeNeedsARecord(t *testing.T) {
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"), &boltstore.Options{CheckpointBytes: 1})
	require.NoError(t, err)
	defer s.Close()
	ctx := context.Background()
	put(t, s, "a", "1") // freezes, and starts segment 2
	for range 20 {
		var wg sync.WaitGroup
		failed := errors.New("rolled back")
		wg.Go(func() {
			err := s.Update(ctx, func(tx store.Tx) error {
				if err := tx.Put("b", []byte("x"), []byte("y")); err != nil {
					return err
				}
				return failed
			})
			require.ErrorIs(t, err, failed)
		})
		wg.Go(func() {
			require.NoError(t, s.Update(ctx, func(tx store.Tx) error {
				_, err := tx.Get("b", []byte("a"))
				return err
			}))
		})
		wg.Wait()
	}
	put(t, s, "c", "3")
	v, ok := get(t, s, "c")
	require.True(t, ok)
	require.Equal(t, "3", v)
}
