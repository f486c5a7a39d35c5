package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/cardvault/cardvault/internal/pgtest"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/pgstore"
	"github.com/cardvault/cardvault/store/storetest"
)

// The cross-process test re-executes this test binary; helperEnv names the
// helper a child runs instead of the tests.
const helperEnv = "PGSTORE_TEST_HELPER"

func TestMain(m *testing.M) {
	storetest.Main(m, helperEnv, map[string]func() int{"counter": counterHelper})
}

func open(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), url, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store { return open(t, pgtest.URL(t)) })
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func TestSchemaIsVersioned(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s := open(t, url)
	require.NoError(t, s.Update(ctx, func(tx store.Tx) error {
		return tx.Put("b", []byte{0x00, 0xff}, []byte("v"))
	}))
	require.NoError(t, s.Close())

	conn := connect(t, url)
	var version, rows int
	require.NoError(t, conn.QueryRow(ctx, "SELECT version, (SELECT count(*) FROM "+pgstore.SchemaTable+") FROM "+pgstore.SchemaTable).Scan(&version, &rows))
	require.Equal(t, pgstore.SchemaVersion, version)
	require.Equal(t, 1, rows)
	// The documented table holds the data as given.
	var bucket string
	var key, value []byte
	require.NoError(t, conn.QueryRow(ctx, "SELECT bucket, key, value FROM "+pgstore.KVTable).Scan(&bucket, &key, &value))
	require.Equal(t, "b", bucket)
	require.Equal(t, []byte{0x00, 0xff}, key)
	require.Equal(t, "v", string(value))

	// Reopening keeps the data and the version.
	s = open(t, url)
	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		v, err := tx.Get("b", []byte{0x00, 0xff})
		require.NoError(t, err)
		require.Equal(t, "v", string(v))
		return nil
	}))
	require.NoError(t, s.Close())

	// A database from the future is refused, and left alone.
	_, err := conn.Exec(ctx, "UPDATE "+pgstore.SchemaTable+" SET version = 99")
	require.NoError(t, err)
	_, err = pgstore.Open(ctx, url, nil)
	require.ErrorContains(t, err, "schema version 99")
	require.NoError(t, conn.QueryRow(ctx, "SELECT version FROM "+pgstore.SchemaTable).Scan(&version))
	require.Equal(t, 99, version)
}

func TestConcurrentOpenMigratesOnce(t *testing.T) {
	url := pgtest.URL(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			s, err := pgstore.Open(context.Background(), url, nil)
			if err == nil {
				err = s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	var rows int
	require.NoError(t, connect(t, url).QueryRow(context.Background(), "SELECT count(*) FROM "+pgstore.SchemaTable).Scan(&rows))
	require.Equal(t, 1, rows)
}

func TestOpenErrorsDoNotLeakTheConnectionString(t *testing.T) {
	_, err := pgstore.Open(context.Background(), "postgres://user:s3cret-pw@[bad", nil)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret-pw")
}

// Two OS processes, each with several goroutines, increment one counter in
// a fresh database — both migrating it at once — and lose nothing.
func TestCrossProcessCounter(t *testing.T) {
	url := pgtest.URL(t)
	const goroutines, each = 4, 15
	var cmds []*exec.Cmd
	for range 2 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"=counter", "STORE_URL="+url,
			fmt.Sprintf("GOROUTINES=%d", goroutines), fmt.Sprintf("EACH=%d", each))
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		require.NoError(t, cmd.Start())
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		require.NoError(t, cmd.Wait())
	}
	s := open(t, url)
	require.Equal(t, uint64(2*goroutines*each), storetest.Counter(t, s), "increments were lost")
}

func counterHelper() int {
	goroutines, _ := strconv.Atoi(os.Getenv("GOROUTINES"))
	each, _ := strconv.Atoi(os.Getenv("EACH"))
	s, err := pgstore.Open(context.Background(), os.Getenv("STORE_URL"), nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer s.Close()
	if err := storetest.IncrementConcurrently(context.Background(), s, goroutines, each); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// terminateBackends kills every other connection to the database, which is
// what clients see of a server restart.
func terminateBackends(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	var n int
	require.NoError(t, conn.QueryRow(context.Background(),
		"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()").Scan(&n))
	return n
}

// After its connections die the store goes on without being reopened: the
// first transaction on a dead connection is run again on a new one.
func TestRecoversFromLostConnections(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s := open(t, url)
	admin := connect(t, url)

	for range 3 {
		// Fill the pool with idle connections, then kill them all.
		require.NoError(t, storetest.IncrementConcurrently(ctx, s, 4, 3))
		require.Positive(t, terminateBackends(t, admin))
		require.NoError(t, storetest.Increment(ctx, s), "the first transaction after the connections died")
		require.NoError(t, s.Ping(ctx))
		require.NoError(t, s.View(ctx, func(tx store.Tx) error {
			_, err := tx.Get(storetest.CounterBucket, []byte(storetest.CounterKey))
			return err
		}))
	}

	// Killed under load: transactions either succeed or fail with an
	// error, the counter never exceeds what could have committed, and the
	// store works afterwards.
	start := storetest.Counter(t, s)
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := storetest.Increment(ctx, s); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	for range 5 {
		time.Sleep(30 * time.Millisecond)
		terminateBackends(t, admin)
	}
	close(stop)
	wg.Wait()
	t.Logf("under load: %d committed, %d failed", ok.Load(), failed.Load())
	before := storetest.Counter(t, s)
	require.GreaterOrEqual(t, before, start+uint64(ok.Load()), "an acknowledged increment is lost")
	require.LessOrEqual(t, before, start+uint64(ok.Load()+failed.Load()))
	require.NoError(t, storetest.Increment(ctx, s))
	require.Equal(t, before+1, storetest.Counter(t, s))
}

// A transaction that conflicts every time gives up with ErrConflict after
// MaxAttempts runs.
func TestGivesUpWithErrConflict(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := pgstore.Open(ctx, url, &pgstore.Options{MaxAttempts: 3})
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, storetest.Increment(ctx, s))
	other := open(t, url)

	runs := 0
	err = s.Update(ctx, func(tx store.Tx) error {
		runs++
		if _, err := tx.Get(storetest.CounterBucket, []byte(storetest.CounterKey)); err != nil {
			return err
		}
		// Another process commits a change to what this transaction read
		// before it writes: a serialization failure, every time.
		if err := storetest.Increment(ctx, other); err != nil {
			return err
		}
		return tx.Put(storetest.CounterBucket, []byte(storetest.CounterKey), make([]byte, 8))
	})
	require.ErrorIs(t, err, store.ErrConflict)
	require.Equal(t, 3, runs)
	require.Equal(t, uint64(4), storetest.Counter(t, s), "only the other store's increments committed")
}
