package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Private is a PostgreSQL server of one test's own, for tests that stop and
// start it: the server of `make test` (ServerURL) is shared by every test
// package running at once and must never be restarted.
//
// StartPrivate runs initdb into a new temporary directory and starts the
// server on a free port of 127.0.0.1, as scripts/with-postgres.sh does: the
// binaries from pg_config --bindir, /usr/lib/postgresql/*/bin (newest
// first) or the PATH; as root, as the postgres user (created when missing).
// The server is stopped (immediate mode) and its directory removed when the
// test ends, whether it passed or not. A test fails — it does not skip —
// when the binaries are missing.
type Private struct {
	bindir string
	asPG   []string // the command prefix that runs as the postgres user
	dir    string   // holds data/ and the server's log and socket
	port   int
	up     bool
}

// StartPrivate initializes and starts a private server.
func StartPrivate(t testing.TB) *Private {
	t.Helper()
	bindir, err := findBindir()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	p := &Private{bindir: bindir}
	if os.Geteuid() == 0 {
		if _, err := user.Lookup("postgres"); err != nil {
			out, err := exec.Command("useradd", "--system", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "postgres").CombinedOutput()
			if err != nil {
				t.Fatalf("pgtest: creating the postgres user: %v: %s", err, out)
			}
		}
		p.asPG = []string{"runuser", "-u", "postgres", "--"}
	}
	// Not t.TempDir: the postgres user must reach the directory, and the
	// test's temporary directories are private to root.
	if p.dir, err = os.MkdirTemp("", "cardvault-pgtest-"); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if p.up {
			_, _ = p.pgctl("stop", "-m", "immediate", "-w")
		}
		os.RemoveAll(p.dir)
	})
	if err := os.Chmod(p.dir, 0o700); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	if p.asPG != nil {
		if out, err := exec.Command("chown", "postgres:", p.dir).CombinedOutput(); err != nil {
			t.Fatalf("pgtest: chown: %v: %s", err, out)
		}
	}
	initdb := func(locale string) ([]byte, error) {
		return p.run(filepath.Join(bindir, "initdb"), "-D", p.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale="+locale)
	}
	if out, err := initdb("C.UTF-8"); err != nil {
		if out2, err2 := initdb("C"); err2 != nil {
			t.Fatalf("pgtest: initdb: %v\n%s\n%s", err, out, out2)
		}
	}
	for attempt := 0; ; attempt++ {
		if p.port, err = freePort(); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		out, err := p.start()
		if err == nil {
			break
		}
		if attempt == 5 || !strings.Contains(p.serverLog(), "could not bind") {
			t.Fatalf("pgtest: starting PostgreSQL: %v\n%s\n%s", err, out, p.serverLog())
		}
	}
	return p
}

// URL is the server's URL for database db ("postgres" is always there).
func (p *Private) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.port, db)
}

// CreateDatabase creates an empty database and returns its URL.
func (p *Private) CreateDatabase(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.URL("postgres"))
	if err != nil {
		t.Fatalf("pgtest: connecting to the private server: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+" TEMPLATE template0"); err != nil {
		t.Fatalf("pgtest: creating database: %v", err)
	}
	return p.URL(name)
}

// Stop stops the server: mode "fast" (a clean shutdown) or "immediate"
// (no checkpoint: recovery replays the WAL at the next start, as after a
// crash).
func (p *Private) Stop(t testing.TB, mode string) {
	t.Helper()
	if out, err := p.pgctl("stop", "-m", mode, "-w", "-t", "60"); err != nil {
		t.Fatalf("pgtest: stopping PostgreSQL: %v\n%s", err, out)
	}
	p.up = false
}

// Start starts the stopped server again on the same port and data.
func (p *Private) Start(t testing.TB) {
	t.Helper()
	if out, err := p.start(); err != nil {
		t.Fatalf("pgtest: starting PostgreSQL again: %v\n%s\n%s", err, out, p.serverLog())
	}
}

func (p *Private) data() string { return filepath.Join(p.dir, "data") }

func (p *Private) serverLog() string {
	b, _ := os.ReadFile(filepath.Join(p.dir, "server.log"))
	return string(b)
}

// start starts the server on 127.0.0.1 with a socket in the private
// directory. fsync is off — the tests kill processes, not the machine, and
// what PostgreSQL wrote is in the kernel's page cache — but, unlike on the
// server of scripts/with-postgres.sh, synchronous_commit is on: with it off
// a commit is acknowledged before its WAL leaves PostgreSQL's own buffers,
// and an immediate stop (Stop "immediate", a crash) loses the last few
// hundred milliseconds of acknowledged commits.
func (p *Private) start() ([]byte, error) {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c max_connections=100 -c fsync=off -c synchronous_commit=on -c full_page_writes=off",
		p.port, p.dir)
	out, err := p.pgctl("start", "-w", "-t", "60", "-l", filepath.Join(p.dir, "server.log"), "-o", opts)
	if err == nil {
		p.up = true
	}
	return out, err
}

func (p *Private) pgctl(args ...string) ([]byte, error) {
	return p.run(filepath.Join(p.bindir, "pg_ctl"), append([]string{"-D", p.data()}, args...)...)
}

func (p *Private) run(name string, args ...string) ([]byte, error) {
	argv := append(append(append([]string{}, p.asPG...), name), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = p.dir
	return cmd.CombinedOutput()
}

// findBindir finds the directory of initdb, pg_ctl and postgres.
func findBindir() (string, error) {
	ok := func(d string) bool {
		for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(d, b)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if d := strings.TrimSpace(string(out)); ok(d) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if ok(d) {
			return d, nil
		}
	}
	if path, err := exec.LookPath("initdb"); err == nil && ok(filepath.Dir(path)) {
		return filepath.Dir(path), nil
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb, pg_ctl, postgres): install PostgreSQL, e.g. `apt-get install postgresql`")
}

// version is the major version in /usr/lib/postgresql/<N>/bin.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
