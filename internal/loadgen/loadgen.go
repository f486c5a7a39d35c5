// Package loadgen drives cardvault's reference server over HTTP on this
// machine with many concurrent clients and measures what it sustains. It is
// the engine of examples/loadgen and of the reliability tests.
//
// # The mix
//
// Each client is a merchant's integration run in a loop ([Mix]): it
// tokenizes a card (POST /v1/vault), reads it back (GET /v1/vault), makes a
// capture endpoint locked to it for ten minutes (POST /v1/capture), posts
// two CVV updates to it as a card holder's browser would (POST
// /v1/capture/{id} with X-PCIVault-Capture-Secret), reads the card again;
// then on the secure-token API (bearer from POST /authorize, an
// Idempotency-Key on every POST and PATCH) it creates a secure token,
// appends two custom fields with JSON Patch, lists the terminal's tokens,
// creates a single-use token and updates the secure token's account from
// the single-use token of its previous iteration (so that a client always
// holds one not used yet). Every answer is checked (a read returns what was
// written; a patch shows its field), so a wrong answer counts as an error
// like a 5xx. With
// Config.Bad the mix adds two requests that must fail — a capture post to
// an unknown endpoint (403) and the single-use token used a second time —
// counted as intended errors; any other error is unintended. The posts to
// unknown endpoints are paced, at most one every BadCaptureEvery for the
// whole run: every client shares one address, and the server limits failed
// capture posts per client address (100 a minute by default), which a
// flood of them would rightly run into. Successes are never limited, so
// the mix itself runs at full speed without a 429.
//
// # The baseline
//
// [Ratio] measures capture redemption against a bare net/http handler that
// answers a small JSON body, served in this process on another 127.0.0.1
// port and driven by the same client code with the same concurrency: the
// two alternate in rounds, and the result is the median of the rounds'
// ratios, so that load from elsewhere on the machine hits both alike.
//
// # Bounds
//
// A run stops at Config.Duration or after Config.Requests requests,
// whichever comes first; requests in flight then finish and count. Only
// loopback IPs are driven ([CheckLoopback]).
package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Account is an HTTP Basic account of the vault/capture API.
type Account struct{ Name, Password string }

// VaultKey is a vault key's credentials.
type VaultKey struct{ User, Passphrase string }

// Config is one run.
type Config struct {
	// Targets are the servers' base URLs (http://127.0.0.1:port); each
	// client sends its requests to them in turn.
	Targets []string
	// Clients is the number of concurrent clients (default 64).
	Clients int
	// Requests bounds the number of requests (0: no bound but Duration).
	Requests int
	// Duration bounds the run (0: no bound but Requests; one of the two is
	// required).
	Duration time.Duration

	Account  Account  // Basic account of the vault/capture API
	Key      VaultKey // made by Setup when empty
	APIKey   string   // of the secure-token API, allowed Terminal
	Terminal string   // processing terminal (default "1234001")
	// Rate, when positive, makes the run open loop: the clients together
	// send Rate requests a second on a fixed schedule, each request
	// waiting for its slot, and a request's latency counts from its slot,
	// not from when a client was free to send it — so that a slow answer
	// cannot hide the delay it causes the requests behind it (coordinated
	// omission). Latencies then say what a request costs at that load,
	// where a closed loop (0, the default) measures the most the server
	// sustains, and its latencies are the clients over the rate. The
	// clients must be enough for the rate times the latency.
	Rate float64
	// Bad adds the mix's intended errors (see the package documentation).
	Bad bool
	// Ledger, when set, records every acknowledged write (see Verify).
	Ledger *Ledger
}

func (c *Config) defaults() error {
	if len(c.Targets) == 0 {
		return errors.New("loadgen: no target")
	}
	for _, t := range c.Targets {
		if err := CheckLoopback(t); err != nil {
			return err
		}
	}
	if c.Clients <= 0 {
		c.Clients = 64
	}
	if c.Terminal == "" {
		c.Terminal = "1234001"
	}
	return nil
}

// Setup makes the run's vault key (a random user and passphrase) on the
// first target, unless cfg.Key is set, and returns cfg with it. Making a key
// runs scrypt at the server's work factor; every later request with the
// same passphrase is served from the server's unlock cache.
func Setup(ctx context.Context, cfg Config) (Config, error) {
	if err := cfg.defaults(); err != nil {
		return cfg, err
	}
	if cfg.Key.User != "" {
		return cfg, nil
	}
	cfg.Key = VaultKey{User: "loadgen-" + randomHex(4), Passphrase: "lg-" + randomHex(16)}
	hc := &http.Client{Transport: newTransport(1), Timeout: time.Minute}
	defer hc.CloseIdleConnections()
	s := newSession(ctx, &cfg, 0, &recorder{}, hc, nil)
	body, _ := json.Marshal(map[string]string{"user": cfg.Key.User, "passphrase": cfg.Key.Passphrase})
	_, err := s.do(call{route: RouteKey, method: "POST", url: cfg.Targets[0] + "/v1/key", body: body,
		header: withJSON(s.basic()), want: http.StatusOK})
	return cfg, err
}

func newSession(ctx context.Context, cfg *Config, id int, rec *recorder, hc *http.Client, stop func() bool) *session {
	if stop == nil {
		stop = func() bool { return false }
	}
	return &session{client: &client{hc: hc, rec: rec, ctx: ctx, stop: stop, budget: func() bool { return true }, ledger: cfg.Ledger},
		cfg: cfg, id: id, n: id, ledger: cfg.Ledger, badCapture: func() bool { return true }}
}

// Mix runs the mix with cfg.Clients clients until the bounds. An error
// ends a client's iteration (it is counted in the result) and the client
// starts the next one. Mix returns when every client has stopped, or ctx
// ended.
func Mix(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if cfg.Key.User == "" {
		return nil, errors.New("loadgen: no vault key: call Setup first")
	}
	if cfg.Requests <= 0 && cfg.Duration <= 0 {
		return nil, errors.New("loadgen: bound the run by Duration or Requests")
	}
	return run(ctx, cfg, cfg.Clients, func(s *session) error {
		if err := s.authorize(); err != nil {
			return err
		}
		for {
			err := s.iteration()
			if errors.Is(err, errStop) {
				return nil
			}
			if err != nil && ctx.Err() != nil {
				return nil
			}
			var se *StatusError
			if err != nil && !errors.As(err, &se) && !errors.Is(err, errWrongAnswer) {
				// A failed exchange (connection refused, reset): back off
				// a little rather than spin.
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(10 * time.Millisecond):
				}
			}
		}
	})
}

var errWrongAnswer = errors.New("wrong answer")

// BadCaptureEvery paces the mix's posts to unknown capture endpoints: one
// per interval for the whole run, within the server's default limit on
// failed capture posts per client address.
const BadCaptureEvery = time.Second

// run starts n clients running body and collects their samples.
func run(ctx context.Context, cfg Config, n int, body func(*session) error) (*Result, error) {
	hc := &http.Client{Transport: newTransport(n), Timeout: 60 * time.Second}
	defer hc.CloseIdleConnections()
	var over atomic.Bool
	stop := func() bool { return over.Load() || ctx.Err() != nil }
	b := newBudget(cfg.Requests)
	badCaptures := newPacer(BadCaptureEvery)
	var slots *schedule
	if cfg.Rate > 0 {
		slots = newSchedule(cfg.Rate)
	}
	recs := make([]*recorder, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := time.Now()
	var timer *time.Timer
	if cfg.Duration > 0 {
		timer = time.AfterFunc(cfg.Duration, func() { over.Store(true) })
	}
	for i := range n {
		recs[i] = &recorder{}
		s := newSession(ctx, &cfg, i, recs[i], hc, stop)
		s.budget = b.take
		s.badCapture = badCaptures.take
		if slots != nil {
			s.slot = slots.take
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = body(s)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if timer != nil {
		timer.Stop()
	}
	res := merge(recs, elapsed)
	res.Clients = n
	return res, errors.Join(errs...)
}
