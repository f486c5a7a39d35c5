package boltstore_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	bolt "go.etcd.io/bbolt"

	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/store/boltstore"
	"github.com/cardvault/cardvault/store/storetest"
)

// The cross-process tests re-execute this test binary; helperEnv names the
// helper a child runs instead of the tests.
const helperEnv = "BOLTSTORE_TEST_HELPER"

func TestMain(m *testing.M) {
	storetest.Main(m, helperEnv, map[string]func() int{"crash": crashHelper, "counter": counterHelper})
}

func openTemp(t *testing.T) *store.Store {
	t.Helper()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "store.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) *store.Store { return openTemp(t) })
}

func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "store.db")
	s, err := boltstore.Open(path, nil)
	require.NoError(t, err)
	require.NoError(t, s.Update(ctx, func(tx store.Tx) error {
		return tx.Put("b", []byte("k"), []byte("v"))
	}))
	require.NoError(t, s.Close())

	s, err = boltstore.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		v, err := tx.Get("b", []byte("k"))
		require.NoError(t, err)
		require.Equal(t, "v", string(v))
		return nil
	}))
}

func TestFileMode(t *testing.T) {
	dir := t.TempDir()
	s, err := boltstore.Open(filepath.Join(dir, "default.db"), nil)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	fi, err := os.Stat(filepath.Join(dir, "default.db"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the file holds secrets: owner only by default")

	s, err = boltstore.Open(filepath.Join(dir, "group.db"), &boltstore.Options{Mode: 0o640})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	fi, err = os.Stat(filepath.Join(dir, "group.db"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o640)&^umask(), fi.Mode().Perm())
}

func umask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := boltstore.Open(filepath.Join(dir, "missing-dir", "store.db"), nil)
	require.Error(t, err)
	require.Contains(t, err.Error(), "missing-dir")

	// A file that is not a bbolt database is refused and left as it was.
	garbage := filepath.Join(dir, "garbage.db")
	content := []byte(strings.Repeat("not a database ", 1000))
	require.NoError(t, os.WriteFile(garbage, content, 0o600))
	_, err = boltstore.Open(garbage, nil)
	require.Error(t, err)
	require.NotErrorIs(t, err, boltstore.ErrLocked)
	after, err := os.ReadFile(garbage)
	require.NoError(t, err)
	require.Equal(t, content, after)
}

func TestOpenLockedInProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "store.db")
	first, err := boltstore.Open(path, nil)
	require.NoError(t, err)
	_, err = boltstore.Open(path, &boltstore.Options{LockTimeout: 100 * time.Millisecond})
	require.ErrorIs(t, err, boltstore.ErrLocked)
	require.Contains(t, err.Error(), path)
	require.NoError(t, first.Close())

	second, err := boltstore.Open(path, &boltstore.Options{LockTimeout: 100 * time.Millisecond})
	require.NoError(t, err, "Close releases the lock")
	require.NoError(t, second.Close())
}

// A failing function shares its commit with successful ones and loses only
// its own writes; none of them runs twice.
func TestGroupCommitIsolatesFailures(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	const writers = 32
	var runs [writers]atomic.Int32
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					errs[i] = fmt.Errorf("panic: %v", r)
				}
			}()
			errs[i] = s.Update(ctx, func(tx store.Tx) error {
				runs[i].Add(1)
				if err := tx.Put("b", fmt.Appendf(nil, "k%02d", i), []byte("v")); err != nil {
					return err
				}
				// Everyone also overwrites a shared key: the failed ones'
				// undo must restore what the one before them wrote.
				if err := tx.Put("b", []byte("shared"), fmt.Append(nil, i)); err != nil {
					return err
				}
				switch i % 4 {
				case 1:
					return boom
				case 2:
					panic("boom")
				}
				return nil
			})
		})
	}
	wg.Wait()
	var last int = -1
	require.NoError(t, s.View(ctx, func(tx store.Tx) error {
		for i := range writers {
			_, err := tx.Get("b", fmt.Appendf(nil, "k%02d", i))
			switch i % 4 {
			case 1:
				require.ErrorIs(t, errs[i], boom)
				require.ErrorIs(t, err, store.ErrNotFound, "writer %d failed but its write is there", i)
			case 2:
				require.EqualError(t, errs[i], "panic: boom")
				require.ErrorIs(t, err, store.ErrNotFound, "writer %d panicked but its write is there", i)
			default:
				require.NoError(t, errs[i])
				require.NoError(t, err, "writer %d succeeded but its write is missing", i)
			}
			require.Equal(t, int32(1), runs[i].Load(), "writer %d ran more than once", i)
		}
		v, err := tx.Get("b", []byte("shared"))
		require.NoError(t, err)
		last, err = strconv.Atoi(string(v))
		return err
	}))
	require.Contains(t, []int{0, 3}, last%4, "the shared key holds a failed writer's value %d", last)
}

// TestCrossProcessCounter: process A holds the file and increments a counter
// from many goroutines; process B is refused cleanly while A runs; process C
// waits for the lock and increments after A; at the end the counter is exact
// and the file is consistent.
func TestCrossProcessCounter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "counter.db")
	const goroutines, each = 8, 50

	a := startHelper(t, "counter", path, "HOLD=1", "LOCK_TIMEOUT=10s", fmt.Sprintf("GOROUTINES=%d", goroutines), fmt.Sprintf("EACH=%d", each))
	require.Equal(t, "open", a.line(t), "A opens the file")

	b := startHelper(t, "counter", path, "LOCK_TIMEOUT=200ms", "GOROUTINES=1", "EACH=1")
	require.Equal(t, "locked", b.line(t), "B must be refused while A holds the file")
	msg := b.line(t)
	require.Contains(t, msg, boltstore.ErrLocked.Error())
	require.Contains(t, msg, path)
	require.Error(t, b.wait(t))

	c := startHelper(t, "counter", path, "LOCK_TIMEOUT=60s", fmt.Sprintf("GOROUTINES=%d", goroutines), fmt.Sprintf("EACH=%d", each))
	require.Equal(t, "incremented", a.line(t))
	require.NoError(t, a.stdin.Close()) // A closes the store and exits
	require.Equal(t, "closed", a.line(t))
	require.NoError(t, a.wait(t))
	require.Equal(t, "open", c.line(t), "C opens once A let go")
	require.Equal(t, "incremented", c.line(t))
	require.NoError(t, c.stdin.Close())
	require.Equal(t, "closed", c.line(t))
	require.NoError(t, c.wait(t))

	checkFile(t, path)
	s, err := boltstore.Open(path, nil)
	require.NoError(t, err)
	defer s.Close()
	require.Equal(t, uint64(2*goroutines*each), storetest.Counter(t, s), "increments were lost")
}

// counterHelper opens the store (LOCK_TIMEOUT), increments the counter
// GOROUTINES×EACH times, and closes when its stdin closes.
func counterHelper() int {
	path := os.Getenv("STORE_PATH")
	timeout, _ := time.ParseDuration(os.Getenv("LOCK_TIMEOUT"))
	goroutines, _ := strconv.Atoi(os.Getenv("GOROUTINES"))
	each, _ := strconv.Atoi(os.Getenv("EACH"))
	s, err := boltstore.Open(path, &boltstore.Options{LockTimeout: timeout})
	if errors.Is(err, boltstore.ErrLocked) {
		fmt.Printf("locked\n%v\n", err)
		return 3
	}
	if err != nil {
		fmt.Printf("error\n%v\n", err)
		return 1
	}
	fmt.Println("open")
	if err := storetest.IncrementConcurrently(context.Background(), s, goroutines, each); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("incremented")
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := s.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("closed")
	return 0
}

// TestCrashKeepsAcknowledged kills a writing process with SIGKILL at random
// moments; every transaction it acknowledged must be in the file afterwards,
// and the file must pass bbolt's consistency check.
func TestCrashKeepsAcknowledged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "crash.db")
	rnd := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	acked := map[uint64]bool{}
	for round := range 4 {
		h := startHelper(t, "crash", path, fmt.Sprintf("ROUND=%d", round))
		lines := make(chan string, 1<<16)
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			for {
				l, err := h.out.ReadString('\n')
				if err != nil {
					return // a line cut by the kill has no newline: not acknowledged
				}
				lines <- strings.TrimSuffix(l, "\n")
			}
		}()
		select {
		case first := <-lines:
			lines <- first
		case <-time.After(30 * time.Second):
			t.Fatal("the writer acknowledged nothing")
		}
		time.Sleep(time.Duration(20+rnd.IntN(200)) * time.Millisecond)
		require.NoError(t, h.cmd.Process.Signal(syscall.SIGKILL))
		<-readDone
		_ = h.cmd.Wait()
		close(lines)
		n := 0
		for l := range lines {
			seq, err := strconv.ParseUint(l, 10, 64)
			require.NoError(t, err, "helper printed %q", l)
			acked[seq] = true
			n++
		}
		t.Logf("round %d: killed after %d acknowledged transactions", round, n)

		// Reopening replays the journal; the store must then hold every
		// acknowledged transaction, and after Close (a checkpoint) so
		// must the bbolt file itself.
		st, err := boltstore.Open(path, nil)
		require.NoError(t, err, "recovering after the kill")
		require.NoError(t, st.View(context.Background(), func(tx store.Tx) error {
			for seq := range acked {
				v, err := tx.Get("crash", binary.BigEndian.AppendUint64(nil, seq))
				require.NoError(t, err, "acknowledged transaction %d is lost", seq)
				require.Equal(t, crashValue(seq), v, "transaction %d", seq)
			}
			return nil
		}))
		require.NoError(t, st.Close())
		checkFile(t, path)
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		require.NoError(t, err)
		require.NoError(t, db.View(func(tx *bolt.Tx) error {
			b := tx.Bucket([]byte("crash"))
			require.NotNil(t, b)
			for seq := range acked {
				v := b.Get(binary.BigEndian.AppendUint64(nil, seq))
				require.NotNil(t, v, "acknowledged transaction %d is lost", seq)
				require.Equal(t, crashValue(seq), v, "transaction %d", seq)
			}
			return nil
		}))
		require.NoError(t, db.Close())
	}
}

func crashValue(seq uint64) []byte {
	v := fmt.Appendf(nil, "value of %d ", seq)
	if seq%64 == 0 {
		// Now and then a large value, so that the file grows and bbolt
		// remaps it while the process may be killed.
		return append(v, make([]byte, 64<<10)...)
	}
	return append(v, make([]byte, 100)...)
}

// crashHelper commits transactions from 16 goroutines and prints each
// sequence number once its Update returned nil, until it is killed.
func crashHelper() int {
	round, _ := strconv.ParseUint(os.Getenv("ROUND"), 10, 64)
	s, err := boltstore.Open(os.Getenv("STORE_PATH"), &boltstore.Options{LockTimeout: 10 * time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var next atomic.Uint64
	next.Store(round << 32)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				seq := next.Add(1)
				err := s.Update(context.Background(), func(tx store.Tx) error {
					return tx.Put("crash", binary.BigEndian.AppendUint64(nil, seq), crashValue(seq))
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				mu.Lock()
				// One write per line: the pipe gets whole lines or none.
				_, _ = os.Stdout.WriteString(strconv.FormatUint(seq, 10) + "\n")
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return 0
}

// checkFile runs bbolt's consistency check on the file.
func checkFile(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, ReadOnly: true})
	require.NoError(t, err)
	defer db.Close()
	require.NoError(t, db.View(func(tx *bolt.Tx) error {
		var errs []error
		for err := range tx.Check() {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}), "bbolt consistency check of %s", path)
}

type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startHelper re-executes the test binary as the named helper on the store
// file at path.
func startHelper(t *testing.T, name, path string, env ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+name, "STORE_PATH="+path)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return &helper{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
}

// line reads the helper's next line of output.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	c := make(chan result, 1)
	go func() {
		s, err := h.out.ReadString('\n')
		c <- result{strings.TrimSuffix(s, "\n"), err}
	}()
	select {
	case r := <-c:
		require.NoError(t, r.err, "reading the helper's output (got %q)", r.s)
		return r.s
	case <-time.After(60 * time.Second):
		t.Fatal("the helper printed nothing for a minute")
		return ""
	}
}

func (h *helper) wait(t *testing.T) error {
	t.Helper()
	_, _ = io.Copy(io.Discard, h.out)
	return h.cmd.Wait()
}
