// Package deployment opens every cardvault service over one store and one
// master keyring, wired to each other as one deployment — the vault, capture,
// secure tokens, rules, the proxy, the outbox, the audit trail, kept
// idempotency outcomes and the expiry sweeper — and rotates the master key
// across all of them.
//
// It is what the reference server runs on, and what a program that embeds
// cardvault without HTTP opens instead of wiring the services itself. Every
// process that opens a deployment over the same store with the same master
// keyring is one deployment: they share the deployment's key (kept in the
// store, wrapped by the keyring), so that they name API keys alike, accept
// each other's bearer tokens and hash cards alike in rules.
//
// [Deployment.RewrapMasterKey] is the one entry point of a master-key
// rotation's re-wrap: it re-wraps every key the deployment keeps under the
// master key, touching no record, and records the rotation in the trail.
package deployment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/internal/wrappedkey"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/proxy"
	"github.com/cardvault/cardvault/rules"
	"github.com/cardvault/cardvault/securetoken"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

// The deployment's key: keyBucket holds it, wrapped by the master keyring,
// under keyName. The names are the reference server's of old ("the server
// key"), so that a store it wrote opens.
const (
	keyBucket = "server.keys"
	keyName   = "server-key"
)

// Config configures a Deployment. Store and Keyring are required; every
// other field has the default its service gives it.
type Config struct {
	// Store keeps everything; the deployment does not close it.
	Store *store.Store
	// Keyring is the master key. Processes that share a store need the
	// same.
	Keyring *crypto.Keyring

	// WorkFactor is the scrypt work factor of new vault keys' passphrase
	// locks (vault.Config.WorkFactor).
	WorkFactor int
	// CVVTTL is how long a vault item keeps a CVV (vault.Config.CVVTTL).
	CVVTTL time.Duration
	// MaxLockedTTL and AllowUnexpiring bound capture grants
	// (capture.Config): 0 is no maximum.
	MaxLockedTTL    time.Duration
	AllowUnexpiring bool
	// IdempotencyTTL is how long kept outcomes are kept
	// (idempotency.Config.TTL).
	IdempotencyTTL time.Duration
	// Egress is the guard of capture webhooks; nil means a guard with no
	// allow-list, HTTPS only — or http:// too with AllowHTTPWebhooks.
	Egress            *egress.Guard
	AllowHTTPWebhooks bool
	// ProxyEgress is the guard of the proxy's requests; nil means a guard
	// with no allow-list and ProxyTimeout as its request timeout.
	// ProxyAllowHosts and ProxyTimeout are proxy.Config's AllowHosts and
	// Timeout.
	ProxyEgress     *egress.Guard
	ProxyAllowHosts []string
	ProxyTimeout    time.Duration
	// Outbox and Audit configure the durable queue and the trail; their
	// Store, Keyring, Logger (and the trail's Now) are the deployment's.
	Outbox outbox.Config
	Audit  audit.Config
	// DisableAudit keeps no audit trail: no service records or notes
	// anything, and Deployment.Audit is nil.
	DisableAudit bool

	// Logger receives the services' errors; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Deployment is the services of one deployment, opened over one store. Its
// fields are set by Open and must not be changed. Start runs its
// background work; Close stops it and closes the services.
type Deployment struct {
	// Hasher is keyed by the deployment's key: package access's API key
	// ids and bearer tokens, and the rules' hash operation.
	Hasher      *crypto.Hasher
	Vault       *vault.Vault
	Capture     *capture.Service
	Tokens      *securetoken.Service
	Rules       *rules.Service
	Proxy       *proxy.Proxy
	Outbox      *outbox.Outbox
	Audit       *audit.Log // nil with Config.DisableAudit
	Idempotency *idempotency.Keeper
	Sweeper     *expiry.Sweeper

	cfg      Config
	closers  []func() error // run last added first
	bgCancel context.CancelFunc
	bgDone   chan struct{}
}

// Open opens the deployment over cfg.Store: it loads (or, on the first
// start of a deployment, creates) the deployment's key and opens every
// service. On an error, what it opened is closed again.
func Open(ctx context.Context, cfg Config) (*Deployment, error) {
	if cfg.Store == nil || cfg.Keyring == nil {
		return nil, errors.New("deployment: Config.Store and Config.Keyring are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	d := &Deployment{cfg: cfg}
	if err := d.open(ctx); err != nil {
		_ = d.runClosers()
		return nil, err
	}
	return d, nil
}

// open opens the services in order, each added to the closers once open.
func (d *Deployment) open(ctx context.Context) error {
	cfg := d.cfg
	key, err := wrappedkey.Load(ctx, cfg.Store, cfg.Keyring, keyBucket, []byte(keyName), true)
	if err != nil {
		return fmt.Errorf("deployment: the server key: %w", err)
	}
	d.Hasher = crypto.NewHasherFromKey(key)
	key.Wipe()
	if !cfg.DisableAudit {
		ac := cfg.Audit
		ac.Store, ac.Keyring, ac.Logger, ac.Now = cfg.Store, cfg.Keyring, cfg.Logger, cfg.Now
		if d.Audit, err = audit.Open(ctx, ac); err != nil {
			return fmt.Errorf("deployment: opening the audit trail: %w", err)
		}
		// Closed last: what the others note while they close is still
		// chained.
		d.closers = append(d.closers, d.Audit.Close)
	}
	// The rules' hash operation is keyed by the deployment's key too (the
	// engine derives a key per account from it), so that every process on
	// the store hashes a card alike.
	if d.Rules, err = rules.New(rules.Config{Store: cfg.Store, Hasher: d.Hasher, Audit: d.Recorder(), Now: cfg.Now}); err != nil {
		return err
	}
	if cfg.Egress == nil {
		if cfg.Egress, err = egress.New(egress.Config{AllowHTTP: cfg.AllowHTTPWebhooks}); err != nil {
			return err
		}
		d.cfg.Egress = cfg.Egress
	}
	oc := cfg.Outbox
	oc.Store, oc.Keyring, oc.Logger = cfg.Store, cfg.Keyring, cfg.Logger
	if d.Outbox, err = outbox.Open(ctx, oc); err != nil {
		return fmt.Errorf("deployment: opening the outbox: %w", err)
	}
	if d.Vault, err = vault.Open(ctx, vault.Config{Store: cfg.Store, Keyring: cfg.Keyring, WorkFactor: cfg.WorkFactor, CVVTTL: cfg.CVVTTL, Audit: d.Recorder(), Now: cfg.Now}); err != nil {
		return fmt.Errorf("deployment: opening the vault: %w", err)
	}
	d.closers = append(d.closers, d.Vault.Close)
	d.Capture, err = capture.New(capture.Config{
		Store: cfg.Store, Vault: d.Vault, Outbox: d.Outbox, Egress: cfg.Egress, Audit: d.Recorder(), Logger: cfg.Logger, Now: cfg.Now,
		MaxLockedTTL: cfg.MaxLockedTTL, AllowUnexpiring: cfg.AllowUnexpiring,
		// A single-use-token grant captures for the secure-token API.
		SingleUseDetails: securetoken.CapturedSource,
	})
	if err != nil {
		return fmt.Errorf("deployment: opening the capture service: %w", err)
	}
	d.closers = append(d.closers, d.Capture.Close)
	d.Idempotency = idempotency.New(cfg.Store, idempotency.Config{TTL: cfg.IdempotencyTTL, Now: cfg.Now})
	d.Sweeper = expiry.NewSweeper(cfg.Store, cfg.Now, cfg.Logger)
	if d.Tokens, err = securetoken.Open(ctx, securetoken.Config{
		Store: cfg.Store, Keyring: cfg.Keyring, Capture: d.Capture,
		NumberInUse: d.Vault.HoldsNumber, Audit: d.Recorder(), Now: cfg.Now,
	}); err != nil {
		return fmt.Errorf("deployment: opening the secure-token service: %w", err)
	}
	d.closers = append(d.closers, d.Tokens.Close)
	guard := cfg.ProxyEgress
	if guard == nil {
		if guard, err = egress.New(egress.Config{Timeout: cfg.ProxyTimeout}); err != nil {
			return err
		}
	}
	if d.Proxy, err = proxy.New(proxy.Config{
		Store: cfg.Store, Vault: d.Vault, Tokens: d.Tokens, Rules: d.Rules, Outbox: d.Outbox, Idempotency: d.Idempotency,
		Guard: guard, WebhookGuard: cfg.Egress, AllowHosts: cfg.ProxyAllowHosts, Timeout: cfg.ProxyTimeout,
		Audit: d.Recorder(), Logger: cfg.Logger, Now: cfg.Now,
	}); err != nil {
		return fmt.Errorf("deployment: the proxy: %w", err)
	}
	return nil
}

// Recorder is the trail the services record through: nil — no audit —
// with Config.DisableAudit (a nil interface, not a nil *audit.Log in one).
func (d *Deployment) Recorder() audit.Recorder {
	if d.Audit == nil {
		return nil
	}
	return d.Audit
}

// Start runs the background work until Close: the outbox's deliveries, and
// the expiry sweeper — expired capture grants, single-use tokens, failure
// counters, idempotency records — every sweepEvery (never when it is not
// positive, for tests that sweep by hand). Several processes on one store
// may all sweep: each batch is a transaction. Start is called once.
func (d *Deployment) Start(sweepEvery time.Duration) {
	bg, stop := context.WithCancel(context.Background())
	d.bgCancel, d.bgDone = stop, make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if sweepEvery <= 0 {
			<-bg.Done()
			return
		}
		d.Sweeper.Run(bg, sweepEvery)
	}()
	go func() { defer wg.Done(); d.Outbox.Run(bg) }()
	go func() { wg.Wait(); close(d.bgDone) }()
}

// Close stops the background work, waiting for it, and closes the services
// — the capture service waits for webhook deliveries in flight, the vault
// wipes unlocked keys, the trail chains what was noted. It does not close
// the store. Close is called once.
func (d *Deployment) Close() error {
	if d.bgCancel != nil {
		d.bgCancel()
		<-d.bgDone
	}
	return d.runClosers()
}

func (d *Deployment) runClosers() error {
	var errs []error
	for i := len(d.closers) - 1; i >= 0; i-- {
		errs = append(errs, d.closers[i]())
	}
	return errors.Join(errs...)
}
