package audit_test

// Tampering, on every backend, done the way an intruder with the database
// would: bytes flipped in the bbolt file on disk, rows deleted and swapped
// with SQL in PostgreSQL (memstore has no outside, so through its API).
// Each case must be caught by Verify and the first bad record named.

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/internal/testkit"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/boltstore"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/store/pgstore"
)

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func firstIdentity(t *testing.T, path string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	for line := range strings.SplitSeq(string(raw), "\n") {
		if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			return line
		}
	}
	t.Fatal("no identity")
	return ""
}

// requireTamper checks that err is a TamperError for seq, naming where
// and saying what.
func requireTamper(t *testing.T, err error, seq uint64, where, what string) {
	t.Helper()
	require.ErrorIs(t, err, audit.ErrTampered)
	var te *audit.TamperError
	require.ErrorAs(t, err, &te)
	require.Equal(t, seq, te.Seq, "%v", err)
	require.Equal(t, where, te.Where, "%v", err)
	require.Contains(t, te.What, what, "%v", err)
	t.Logf("Verify: %v", err)
}

// raw is a backend with access from outside the store's API.
type raw struct {
	name string
	// open returns a new empty store.
	open func(t *testing.T) *store.Store
	// flip flips a byte of every copy of marker in the stored entries,
	// outside the store, and returns the store to go on with.
	flip func(t *testing.T, st *store.Store, marker string) *store.Store
	// del deletes a key; swap swaps the values of two keys of a bucket.
	del  func(t *testing.T, st *store.Store, bucket string, key []byte)
	swap func(t *testing.T, st *store.Store, bucket string, a, b []byte)
}

// viaAPI does what memstore allows: the store's own transactions.
func viaAPI(t *testing.T, st *store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	require.NoError(t, st.Update(context.Background(), fn))
}

func apiDel(t *testing.T, st *store.Store, bucket string, key []byte) {
	viaAPI(t, st, func(tx store.Tx) error { return tx.Delete(bucket, key) })
}

func apiSwap(t *testing.T, st *store.Store, bucket string, a, b []byte) {
	viaAPI(t, st, func(tx store.Tx) error {
		va, err := tx.Get(bucket, a)
		if err != nil {
			return err
		}
		vb, err := tx.Get(bucket, b)
		if err != nil {
			return err
		}
		if err := tx.Put(bucket, a, vb); err != nil {
			return err
		}
		return tx.Put(bucket, b, va)
	})
}

var memRaw = raw{
	name: "memstore",
	open: func(t *testing.T) *store.Store { return memstore.New() },
	flip: func(t *testing.T, st *store.Store, marker string) *store.Store {
		viaAPI(t, st, func(tx store.Tx) error {
			var k, v []byte
			err := tx.Scan("audit.chain", store.Range{}, func(key, val []byte) error {
				if bytes.Contains(val, []byte(marker)) {
					k, v = key, val
				}
				return nil
			})
			require.NoError(t, err)
			require.NotNil(t, k, "marker not found")
			v[bytes.Index(v, []byte(marker))] ^= 0x01
			return tx.Put("audit.chain", k, v)
		})
		return st
	},
	del:  apiDel,
	swap: apiSwap,
}

var boltRaw = raw{
	name: "boltstore",
	open: func(t *testing.T) *store.Store {
		path := filepath.Join(t.TempDir(), "cardvault.db")
		st, err := boltstore.Open(path, nil)
		require.NoError(t, err)
		boltPath[st] = path
		return st
	},
	flip: func(t *testing.T, st *store.Store, marker string) *store.Store {
		path := boltPath[st]
		require.NoError(t, st.Close())
		require.NotZero(t, testkit.FlipEvery(t, path, []byte(marker), 0), "marker not found in the file")
		st, err := boltstore.Open(path, nil)
		require.NoError(t, err)
		boltPath[st] = path
		return st
	},
	del:  apiDel,
	swap: apiSwap,
}

// boltPath remembers the file of each bolt store the tests open.
var boltPath = map[*store.Store]string{}

var pgRaw = raw{
	name: "pgstore",
	open: func(t *testing.T) *store.Store {
		url := pgtest.URL(t)
		st, err := pgstore.Open(context.Background(), url, nil)
		require.NoError(t, err)
		pgURL[st] = url
		return st
	},
	flip: func(t *testing.T, st *store.Store, marker string) *store.Store {
		tag, err := pgConn(t, st).Exec(context.Background(),
			"UPDATE "+pgstore.KVTable+" SET value = overlay(value placing set_byte(substring(value from position($1::bytea in value) for 1), 0, get_byte(substring(value from position($1::bytea in value) for 1), 0) # 1) from position($1::bytea in value) for 1) "+
				"WHERE bucket = 'audit.chain' AND position($1::bytea in value) > 0", []byte(marker))
		require.NoError(t, err)
		require.Equal(t, int64(1), tag.RowsAffected())
		return st
	},
	del: func(t *testing.T, st *store.Store, bucket string, key []byte) {
		tag, err := pgConn(t, st).Exec(context.Background(), "DELETE FROM "+pgstore.KVTable+" WHERE bucket = $1 AND key = $2", bucket, key)
		require.NoError(t, err)
		require.Equal(t, int64(1), tag.RowsAffected())
	},
	swap: func(t *testing.T, st *store.Store, bucket string, a, b []byte) {
		tag, err := pgConn(t, st).Exec(context.Background(),
			"UPDATE "+pgstore.KVTable+" AS x SET value = y.value FROM "+pgstore.KVTable+" AS y "+
				"WHERE x.bucket = $1 AND y.bucket = $1 AND ((x.key = $2 AND y.key = $3) OR (x.key = $3 AND y.key = $2))", bucket, a, b)
		require.NoError(t, err)
		require.Equal(t, int64(2), tag.RowsAffected())
	},
}

var pgURL = map[*store.Store]string{}

func pgConn(t *testing.T, st *store.Store) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), pgURL[st])
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// tamperCase builds a trail of 20 recorded entries (entry i's reference
// is "marker-<i>-end"; checkpoints at 8 and 16), one pending entry, then
// tampers with it.
type tamperCase struct {
	name        string
	tamper      func(t *testing.T, r raw, st *store.Store) *store.Store
	seq         uint64
	where, what string
}

var tamperCases = []tamperCase{
	{name: "a byte of an entry flipped", seq: 5, where: "entry 5", what: "does not authenticate at its place",
		tamper: func(t *testing.T, r raw, st *store.Store) *store.Store { return r.flip(t, st, "marker-5-end") }},
	{name: "an entry deleted", seq: 7, where: "entry 7", what: "missing",
		tamper: func(t *testing.T, r raw, st *store.Store) *store.Store {
			r.del(t, st, "audit.chain", be64(7))
			return st
		}},
	{name: "two entries swapped", seq: 11, where: "entry 11", what: "does not authenticate at its place",
		tamper: func(t *testing.T, r raw, st *store.Store) *store.Store {
			r.swap(t, st, "audit.chain", be64(11), be64(12))
			return st
		}},
	{name: "the tail truncated", seq: 18, where: "entry 18", what: "the tail was cut",
		tamper: func(t *testing.T, r raw, st *store.Store) *store.Store {
			for seq := uint64(18); seq <= 20; seq++ {
				r.del(t, st, "audit.chain", be64(seq))
			}
			return st
		}},
	{name: "an entry added after the head", seq: 21, where: "entry 21", what: "after the head",
		tamper: func(t *testing.T, r raw, st *store.Store) *store.Store {
			viaAPI(t, st, func(tx store.Tx) error {
				v, err := tx.Get("audit.chain", be64(20))
				if err != nil {
					return err
				}
				return tx.Put("audit.chain", be64(21), v)
			})
			return st
		}},
	{name: "a checkpoint deleted", where: "checkpoint 8", what: "missing",
		tamper: func(t *testing.T, r raw, st *store.Store) *store.Store {
			r.del(t, st, "audit.checkpoints", be64(8))
			return st
		}},
	{name: "the head deleted", where: "the head", what: "missing",
		tamper: func(t *testing.T, r raw, st *store.Store) *store.Store {
			r.del(t, st, "audit.meta", []byte("head"))
			return st
		}},
	{name: "a checkpoint passed off as the retention base", where: "the retention base", what: "does not authenticate",
		tamper: func(t *testing.T, r raw, st *store.Store) *store.Store {
			viaAPI(t, st, func(tx store.Tx) error {
				v, err := tx.Get("audit.checkpoints", be64(8))
				if err != nil {
					return err
				}
				for seq := uint64(1); seq <= 8; seq++ {
					if err := tx.Delete("audit.chain", be64(seq)); err != nil {
						return err
					}
				}
				// A base is a checkpoint without its two counters: keep
				// the checkpoint's MAC.
				return tx.Put("audit.meta", []byte("base"), append(v[:41:41], v[57:]...))
			})
			return st
		}},
	{name: "an entry hidden from its account's listing", where: "the account index", what: "entry 3 is missing from it",
		tamper: func(t *testing.T, r raw, st *store.Store) *store.Store {
			viaAPI(t, st, func(tx store.Tx) error {
				var k []byte
				err := tx.Scan("audit.index", store.Range{}, func(key, _ []byte) error {
					if binary.BigEndian.Uint64(key[len(key)-8:]) == 3 {
						k = key
					}
					return nil
				})
				if err != nil {
					return err
				}
				return tx.Delete("audit.index", k)
			})
			return st
		}},
	{name: "a pending entry altered", where: "pending entry", what: "does not authenticate",
		tamper: func(t *testing.T, r raw, st *store.Store) *store.Store {
			viaAPI(t, st, func(tx store.Tx) error {
				var k, v []byte
				err := tx.Scan("audit.pending", store.Range{}, func(key, val []byte) error {
					k, v = key, val
					return nil
				})
				if err != nil {
					return err
				}
				v[len(v)-3] ^= 1
				return tx.Put("audit.pending", k, v)
			})
			return st
		}},
}

func TestTamperingIsDetected(t *testing.T) {
	for _, r := range []raw{memRaw, boltRaw, pgRaw} {
		t.Run(r.name, func(t *testing.T) {
			for _, tc := range tamperCases {
				t.Run(tc.name, func(t *testing.T) {
					st := r.open(t)
					t.Cleanup(func() { closeLast(st) })
					f := newFixture(t, st)
					for i := 1; i <= 20; i++ {
						f.record(audit.Event{Op: audit.OpItemUpdated, Outcome: audit.OutcomeOK, Account: "alice", User: "u1",
							Token: "t" + fmt.Sprint(i), Reference: fmt.Sprintf("marker-%d-end", i)})
					}
					f.flush()
					f.record(audit.Event{Op: audit.OpItemDeleted, Outcome: audit.OutcomeOK, Account: "alice", Reference: "pending-one"})
					// Entry i is the i-th recorded.
					for _, e := range f.all("alice") {
						require.Equal(t, fmt.Sprintf("marker-%d-end", e.Seq), e.Reference)
					}
					rep := f.verify()
					require.Equal(t, uint64(20), rep.Entries)
					require.Equal(t, 2, rep.Checkpoints)
					require.Equal(t, 1, rep.Pending)
					// (The Log is left open and idle: Close would chain the
					// pending entry.)

					st = tc.tamper(t, r, st)
					t.Cleanup(func() { closeLast(st) })
					_, err := audit.Verify(context.Background(), st, f.kr)
					where := tc.where
					if where == "pending entry" {
						var te *audit.TamperError
						require.ErrorAs(t, err, &te)
						require.True(t, strings.HasPrefix(te.Where, "pending entry "), te.Where)
						where = te.Where
					}
					requireTamper(t, err, tc.seq, where, tc.what)
				})
			}
		})
	}
}

func closeLast(st *store.Store) { _ = st.Close() }

// The intruder may not extend a chain whose head is gone either: the
// chainer refuses rather than overwrite entries.
func TestChainingStopsAtATamperedHead(t *testing.T) {
	f := newFixture(t, memstore.New())
	f.record(read("alice", "one"))
	f.flush()
	apiDel(t, f.st, "audit.meta", []byte("head"))
	f.record(read("alice", "two"))
	err := f.log.Flush(context.Background())
	require.ErrorIs(t, err, audit.ErrTampered)
	require.Equal(t, uint64(1), f.log.Stats().Chained)
}
