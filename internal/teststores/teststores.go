// Package teststores runs a domain package's tests on every store backend
// and lets them look at what each backend persisted.
//
// The domain packages (vault, capture, securetoken) must behave the same on
// every backend, and their promise — nothing sensitive in clear at rest —
// is only proved by scanning what a backend actually wrote: the bbolt file,
// the PostgreSQL table. Each Backend opens a fresh store for a test and
// returns those raw bytes.
package teststores

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/boltstore"
	"github.com/cardvault/cardvault/store/memstore"
	"github.com/cardvault/cardvault/store/pgstore"
)

// Backend is one store implementation as the tests see it.
type Backend struct {
	Name string
	// Open returns a new, empty store, closed when the test ends.
	Open func(t testing.TB) *store.Store
	// Raw returns every byte the backend persisted for a store Open
	// returned: the whole file, or a dump of the tables.
	Raw func(t testing.TB, s *store.Store) []byte
}

// All returns every backend.
func All() []Backend {
	return []Backend{Memstore, Boltstore, Pgstore}
}

// Each runs fn as a subtest for every backend.
func Each(t *testing.T, fn func(t *testing.T, b Backend)) {
	for _, b := range All() {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

// EachBench runs fn as a sub-benchmark for every backend.
func EachBench(b *testing.B, fn func(b *testing.B, be Backend)) {
	for _, be := range All() {
		b.Run(be.Name, func(b *testing.B) { fn(b, be) })
	}
}

// Cases runs each backend as a subtest and, within it, every case as a
// subtest under its name (TestX/memstore/name), in the order of the names.
func Cases(t *testing.T, cases map[string]func(t *testing.T, b Backend)) {
	names := slices.Sorted(maps.Keys(cases))
	Each(t, func(t *testing.T, b Backend) {
		for _, name := range names {
			t.Run(name, func(t *testing.T) { cases[name](t, b) })
		}
	})
}

// Memstore is the in-memory backend, also for a test that opens a memstore
// of its own and looks at what it holds (Raw).
var Memstore = Backend{
	Name: "memstore",
	Open: func(t testing.TB) *store.Store {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return s
	},
	Raw: func(t testing.TB, s *store.Store) []byte {
		var buf bytes.Buffer
		memstore.Dump(s, func(bucket string, key, value []byte) {
			buf.WriteString(bucket)
			buf.Write(key)
			buf.Write(value)
		})
		return buf.Bytes()
	},
}

// where remembers what each bolt or PostgreSQL store was opened on.
var where sync.Map // store.Store → string (file path or database URL)

// opened is the end of a persistent backend's Open: it fails t on err, or
// remembers what s was opened on (a file path or a database URL, for Raw)
// and closes s when t ends.
func opened(t testing.TB, s *store.Store, err error, on string) *store.Store {
	t.Helper()
	if err != nil {
		t.Fatalf("teststores: %v", err)
	}
	where.Store(s, on)
	t.Cleanup(func() { s.Close(); where.Delete(s) })
	return s
}

// Boltstore is the bbolt backend: a file in the test's temporary directory.
var Boltstore = Backend{
	Name: "boltstore",
	Open: func(t testing.TB) *store.Store {
		path := filepath.Join(t.TempDir(), "cardvault.db")
		s, err := boltstore.Open(path, nil)
		return opened(t, s, err, path)
	},
	Raw: func(t testing.TB, s *store.Store) []byte {
		path, _ := where.Load(s)
		// Read while the store is open: the pages as they are on disk,
		// free pages with old versions of values included, and the
		// journal, which holds what was committed since the last
		// checkpoint.
		journal, err := filepath.Glob(path.(string) + ".journal.*")
		if err != nil {
			t.Fatalf("teststores: %v", err)
		}
		var raw []byte
		for _, f := range append([]string{path.(string)}, journal...) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("teststores: %v", err)
			}
			raw = append(raw, b...)
		}
		return raw
	},
}

// Pgstore is the PostgreSQL backend: a database of its own on the server
// of internal/pgtest (the test fails when there is none).
var Pgstore = Backend{
	Name: "pgstore",
	Open: func(t testing.TB) *store.Store {
		url := pgtest.URL(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := pgstore.Open(ctx, url, nil)
		return opened(t, s, err, url)
	},
	Raw: func(t testing.TB, s *store.Store) []byte {
		url, _ := where.Load(s)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		conn, err := pgx.Connect(ctx, url.(string))
		if err != nil {
			t.Fatalf("teststores: %v", err)
		}
		defer conn.Close(ctx)
		// Every table of the schema, every column, as PostgreSQL's text
		// output gives it (bytea as hex, so values are decoded back).
		rows, err := conn.Query(ctx, "SELECT bucket, key, value FROM "+pgstore.KVTable)
		if err != nil {
			t.Fatalf("teststores: %v", err)
		}
		var buf bytes.Buffer
		for rows.Next() {
			var bucket string
			var key, value []byte
			if err := rows.Scan(&bucket, &key, &value); err != nil {
				t.Fatalf("teststores: %v", err)
			}
			buf.WriteString(bucket)
			buf.Write(key)
			buf.Write(value)
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("teststores: %v", err)
		}
		return buf.Bytes()
	},
}
