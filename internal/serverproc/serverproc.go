// Package serverproc builds and runs the reference server binary
// (examples/server) as a child process on 127.0.0.1, for the load generator
// and the fault tests: start it, wait until it listens, stop it gracefully
// or kill it with SIGKILL, and start it again on the same data; or run it
// once for a command that exits (Run).
//
// The child's environment is the caller's without any CARDVAULT_ variable
// (but CARDVAULT_TEST_*), plus what Config says, so that a developer's
// settings never leak into a run. Its stderr (the server's log) is kept
// and, optionally, copied to Config.Log.
package serverproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ServerPackage is the import path of the reference server.
const ServerPackage = "github.com/cardvault/cardvault/examples/server"

// Build compiles the reference server into dir and returns the binary's
// path. It runs `go build`, so it needs the module's source (the working
// directory anywhere inside it) and the go command.
func Build(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "cardvault-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ServerPackage)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("serverproc: go build %s: %v\n%s", ServerPackage, err, msg)
	}
	return out, nil
}

// Config is how to run one server process.
type Config struct {
	Binary string // from Build
	// Data is the data directory (CARDVAULT_DATA): the bbolt file and,
	// unless MasterKeyFile says otherwise, the master key.
	Data string
	// Postgres, when set, is the PostgreSQL URL (CARDVAULT_POSTGRES_URL).
	Postgres string
	// MasterKeyFile is the master key file; servers that share a database
	// need the same one. Empty: <Data>/master.key, made on first start.
	MasterKeyFile string
	BasicAuth     string // CARDVAULT_BASIC_AUTH, "name:password"
	APIKeys       string // CARDVAULT_API_KEYS, "key:*"
	// WorkFactor is the scrypt work factor of new vault keys (0: the
	// server's default, 18 — about a second per key creation).
	WorkFactor int
	// Addr is the listen address; empty means 127.0.0.1:0 (a free port).
	Addr string
	// Pprof, when set, is passed as -pprof (a 127.0.0.1 address).
	Pprof string
	// Env adds variables to the child's environment.
	Env []string
	// Log, when set, receives a copy of the server's log (stderr).
	Log io.Writer
}

// Proc is a running server process.
type Proc struct {
	// URL is where it listens: http://127.0.0.1:port.
	URL string

	cmd     *exec.Cmd
	stdout  *syncBuffer
	stderr  *syncBuffer
	exited  chan struct{}
	waitErr error
}

var listening = regexp.MustCompile(`cardvault: listening on (http://\S+)`)

// Start starts a server and waits (at most a minute, or until ctx ends)
// until it listens.
func Start(ctx context.Context, cfg Config) (*Proc, error) {
	if cfg.Binary == "" {
		return nil, errors.New("serverproc: Config.Binary is required")
	}
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var args []string
	if cfg.Pprof != "" {
		args = append(args, "-pprof", cfg.Pprof)
	}
	p := &Proc{cmd: exec.Command(cfg.Binary, args...), stdout: &syncBuffer{}, stderr: &syncBuffer{}, exited: make(chan struct{})}
	p.cmd.Env = cfg.environ("CARDVAULT_ADDR="+addr, "CARDVAULT_LOG_FORMAT=text")
	p.cmd.Stdout = p.stdout
	p.cmd.Stderr = p.stderr
	if cfg.Log != nil {
		p.cmd.Stderr = io.MultiWriter(p.stderr, cfg.Log)
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("serverproc: %w", err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := listening.FindStringSubmatch(p.stdout.String()); m != nil {
			p.URL = m[1]
			return p, nil
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("serverproc: the server exited before listening: %v\n%s", p.waitErr, p.stderr.String())
		case <-deadline.C:
			p.Kill()
			return nil, fmt.Errorf("serverproc: the server did not listen within a minute\n%s", p.stderr.String())
		case <-ctx.Done():
			p.Kill()
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// Run runs the server binary once with args — a command that does its
// work and exits, such as -verify-audit — with the environment of Start
// but for the listen address and log format, and returns its exit code and
// output. An error means it did not run to an exit.
func Run(ctx context.Context, cfg Config, args ...string) (code int, stdout, stderr string, err error) {
	if cfg.Binary == "" {
		return 0, "", "", errors.New("serverproc: Config.Binary is required")
	}
	cmd := exec.CommandContext(ctx, cfg.Binary, args...)
	cmd.Env = cfg.environ()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && exit.Exited():
		code, err = exit.ExitCode(), nil
	default:
		return 0, out.String(), errOut.String(), fmt.Errorf("serverproc: %w", err)
	}
	return code, out.String(), errOut.String(), nil
}

// environ is the child's environment: CleanEnv, then first (Start's
// listener and log settings), what cfg says, and cfg.Env.
func (cfg Config) environ(first ...string) []string {
	env := append(CleanEnv(), first...)
	if cfg.Data != "" {
		env = append(env, "CARDVAULT_DATA="+cfg.Data)
	}
	if cfg.Postgres != "" {
		env = append(env, "CARDVAULT_POSTGRES_URL="+cfg.Postgres)
	}
	if cfg.MasterKeyFile != "" {
		env = append(env, "CARDVAULT_MASTER_KEY_FILE="+cfg.MasterKeyFile)
	}
	if cfg.BasicAuth != "" {
		env = append(env, "CARDVAULT_BASIC_AUTH="+cfg.BasicAuth)
	}
	if cfg.APIKeys != "" {
		env = append(env, "CARDVAULT_API_KEYS="+cfg.APIKeys)
	}
	if cfg.WorkFactor != 0 {
		env = append(env, "CARDVAULT_SCRYPT_WORK_FACTOR="+strconv.Itoa(cfg.WorkFactor))
	}
	return append(env, cfg.Env...)
}

// Kill sends SIGKILL — no chance to flush or clean up — and waits for the
// process to be gone. It is a no-op on a process that has exited.
func (p *Proc) Kill() {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// Stop sends SIGTERM and waits for a graceful exit, at most timeout (then
// it kills). It returns the process's error, if it exited with one.
func (p *Proc) Stop(timeout time.Duration) error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.waitErr
	case <-t.C:
		p.Kill()
		return fmt.Errorf("serverproc: the server did not stop within %v of SIGTERM; killed", timeout)
	}
}

// Exited is closed when the process has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Log is what the server has logged so far.
func (p *Proc) Log() string { return p.stderr.String() }

// Stdout is what the server has printed on stdout so far.
func (p *Proc) Stdout() string { return p.stdout.String() }

// CleanEnv is the test's environment without the variables the server
// reads (ServerReads), so that a developer's settings do not leak into a
// test.
func CleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); ServerReads(name) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// ServerReads reports whether the environment variable name is one the
// server reads: a CARDVAULT_ variable, but not a CARDVAULT_TEST_ one —
// those are the test infrastructure's (such as the PostgreSQL server of
// scripts/with-postgres.sh) and stay.
func ServerReads(name string) bool {
	return strings.HasPrefix(name, "CARDVAULT_") && !strings.HasPrefix(name, "CARDVAULT_TEST_")
}

// maxKept bounds what a syncBuffer keeps: a server under load logs a line
// per request, and only the latest lines are of interest.
const maxKept = 8 << 20

// syncBuffer keeps what is written to it, at most maxKept bytes: past that,
// the older half is dropped.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len()+len(p) > maxKept {
		rest := b.buf.Bytes()[b.buf.Len()/2:]
		b.buf = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
