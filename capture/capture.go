package capture

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/egress"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/internal/throttle"
	"github.com/cardvault/cardvault/outbox"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

// Sentinel errors of grants and single-use tokens. Each wraps one kind of
// the root package. Unknown and wrong-secret are distinct for the library
// user; a server facing the internet should answer both alike (see
// [Service.Redeem]).
var (
	// ErrGrantNotFound: no grant has that id.
	ErrGrantNotFound = fmt.Errorf("capture: no such grant: %w", cardvault.ErrNotFound)
	// ErrDeleted: the grant was deleted.
	ErrDeleted = fmt.Errorf("capture: the grant was deleted: %w", cardvault.ErrNotFound)
	// ErrWrongSecret: the secret does not match the grant's.
	ErrWrongSecret = fmt.Errorf("capture: wrong secret: %w", cardvault.ErrUnauthorized)
	// ErrExpired: the grant (or single-use token) outlived its time to live.
	ErrExpired = fmt.Errorf("capture: expired: %w", cardvault.ErrExpired)
	// ErrUsed: the single-use grant (or token) was used already.
	ErrUsed = fmt.Errorf("capture: already used: %w", cardvault.ErrExpired)
	// ErrLocked: too many wrong secrets; the id refuses everything until
	// its lock lifts. Redeem and Check return it as a [LockedError].
	ErrLocked = fmt.Errorf("capture: locked after too many wrong secrets: %w", cardvault.ErrLocked)
	// ErrGrantExists: CreateGrant with a unique_id already in use.
	ErrGrantExists = fmt.Errorf("capture: a grant with that id exists: %w", cardvault.ErrConflict)
	// ErrInvalidTTL: a time to live that is not a valid ISO 8601 duration,
	// over the maximum, or never-ending where that is not allowed.
	ErrInvalidTTL = fmt.Errorf("capture: invalid ttl: %w", cardvault.ErrInvalid)
	// ErrInvalid: any other malformed request (the message says what).
	ErrInvalid = fmt.Errorf("capture: %w", cardvault.ErrInvalid)
	// ErrTooLarge: a capture body over the vault's item size limit.
	ErrTooLarge = fmt.Errorf("capture: %w", cardvault.ErrTooLarge)
	// ErrTokenNotFound: no single-use token is that string.
	ErrTokenNotFound = fmt.Errorf("capture: no such single-use token: %w", cardvault.ErrNotFound)
	// ErrTerminal: a single-use token presented for another terminal.
	ErrTerminal = fmt.Errorf("capture: the token belongs to another processing terminal: %w", cardvault.ErrNotFound)
)

// LockedError is the error of a grant id locked after too many wrong
// secrets: it wraps ErrLocked and says when the lock lifts.
type LockedError struct {
	Until time.Time
}

func (e *LockedError) Error() string { return ErrLocked.Error() }

// Unwrap returns ErrLocked.
func (e *LockedError) Unwrap() error { return ErrLocked }

// Defaults for zero fields of Config.
const (
	DefaultTTL          = 24 * time.Hour
	DefaultMaxFailures  = 10
	DefaultLockDelay    = time.Minute
	DefaultSingleUseTTL = 30 * time.Minute
	// DefaultMaxUnknownIDs bounds the ids without a grant whose failures
	// are counted in memory.
	DefaultMaxUnknownIDs = 50_000
)

// Config configures a Service. Store and Vault are required.
type Config struct {
	// Store keeps grants, forms and single-use tokens in the buckets
	// "capture.*"; it is the same store the Vault uses, so that a grant is
	// used up in the same transaction as the write it authorizes.
	Store *store.Store
	Vault *vault.Vault
	// DefaultTTL applies when a grant names none (24 h when zero; for a
	// grant with a shorter maximum, that maximum). MaxTTL, when not zero,
	// is the longest any grant may live. MaxLockedTTL, when not zero, is
	// the longest a grant that stands for existing data may live: one
	// locked to an item (an update endpoint) or a single-use-token grant.
	// Either maximum refuses grants that never expire.
	DefaultTTL   time.Duration
	MaxTTL       time.Duration
	MaxLockedTTL time.Duration
	// AllowUnexpiring lets a grant never expire (a TTL of "P0T" or "0")
	// where no maximum applies; without it such a request is refused with
	// ErrInvalidTTL. An endpoint that never expires is a secret that never
	// stops working.
	AllowUnexpiring bool
	// MaxFailures is how many wrong secrets lock a grant id (10 when
	// zero). LockDelay is how long the first lock lasts (a minute when
	// zero); each later lock of the same id lasts twice the one before, up
	// to a day, and MaxFailures more wrong secrets are counted after each.
	// A counter a day past its last failure is forgiven.
	MaxFailures int
	LockDelay   time.Duration
	// MaxUnknownIDs bounds how many ids that have no grant have their
	// failures counted (in memory; DefaultMaxUnknownIDs when zero).
	MaxUnknownIDs int
	// SingleUseTTL is the lifetime of a single-use token (30 min when zero).
	SingleUseTTL time.Duration
	// SingleUseDetails, when not nil, turns what a single-use-token grant
	// captured (the JSON object a browser posted) into the details the
	// token stands for, checking them on the way (the secure-token
	// package's rules), so the browser hears of a bad card number at once.
	// Nil stores what was posted.
	SingleUseDetails func(captured []byte) ([]byte, error)
	// Outbox and Egress deliver grants' webhooks: each capture's
	// notification is queued in the outbox in the capture's own
	// transaction, and sent, signed (package webhook), through the egress
	// guard, which also checks a webhook's URL when its grant is created.
	// Without both, grants with a webhook are refused. New registers the
	// outbox handler of WebhookJob.
	Outbox *outbox.Outbox
	Egress *egress.Guard
	// Audit receives the service's events: endpoints created, redeemed,
	// locked and deleted, forms configured and deleted, single-use tokens
	// created and used are recorded in the transaction of the write;
	// refused captures (wrong secret, unknown id, expired, used, locked)
	// are noted. Nil means no audit.
	Audit audit.Recorder
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service manages capture grants, hosted forms and single-use tokens.
type Service struct {
	st    *store.Store
	vault *vault.Vault
	cfg   Config
	now   func() time.Time
	log   *slog.Logger

	idem *idempotency.Keeper
	// unknown holds the failure counters of ids that have no grant: in
	// memory, so that probing random ids writes nothing (see countFailure).
	unknown *throttle.Table[failureRecord]
}

// New returns a Service. What expires — grants, single-use tokens, failure
// counters — is removed by package expiry's sweeper, and webhooks are
// delivered by the outbox's workers: the embedder runs both.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Vault == nil {
		return nil, errors.New("capture: Config.Store and Config.Vault are required")
	}
	if cfg.DefaultTTL == 0 {
		cfg.DefaultTTL = DefaultTTL
	}
	if cfg.MaxTTL != 0 && cfg.DefaultTTL > cfg.MaxTTL {
		return nil, fmt.Errorf("capture: DefaultTTL %v is over MaxTTL %v", cfg.DefaultTTL, cfg.MaxTTL)
	}
	if cfg.MaxTTL < 0 || cfg.MaxLockedTTL < 0 {
		return nil, errors.New("capture: MaxTTL and MaxLockedTTL cannot be negative")
	}
	if cfg.MaxFailures == 0 {
		cfg.MaxFailures = DefaultMaxFailures
	}
	if cfg.LockDelay == 0 {
		cfg.LockDelay = DefaultLockDelay
	}
	if cfg.MaxFailures < 0 || cfg.LockDelay < 0 {
		return nil, errors.New("capture: MaxFailures and LockDelay cannot be negative")
	}
	if cfg.SingleUseTTL == 0 {
		cfg.SingleUseTTL = DefaultSingleUseTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := migrateExpiry(ctx, cfg.Store); err != nil {
		return nil, err
	}
	s := &Service{st: cfg.Store, vault: cfg.Vault, cfg: cfg, now: cfg.Now, log: cfg.Logger,
		unknown: throttle.NewTable[failureRecord](cfg.MaxUnknownIDs)}
	s.idem = idempotency.New(cfg.Store, idempotency.Config{Now: cfg.Now})
	if cfg.Outbox != nil {
		cfg.Outbox.Handle(WebhookJob, s.deliverWebhook)
	}
	return s, nil
}

// Close releases the service. Webhooks not yet delivered stay queued in
// the outbox, for the next process that runs its workers.
func (s *Service) Close() error { return nil }

// grantEvent is an event about the grant id: its owner's key, its
// terminal, the item it is locked to — ids only, never its secret.
func grantEvent(op audit.Op, id string, rec *grantRecord) audit.Event {
	e := audit.Event{Op: op, Outcome: audit.OutcomeOK, Account: rec.Owner, User: rec.User, Terminal: rec.Terminal, Endpoint: id}
	if rec.Lock != nil {
		e.Token, e.Reference = rec.Lock.Token, rec.Lock.Reference
	}
	return e
}

// refusal is the reason code of a capture refused by err, "" for an error
// that is not a refusal of the endpoint (a bad body, a failing store).
func refusal(err error) string {
	switch {
	case errors.Is(err, ErrLocked):
		return "locked"
	case errors.Is(err, ErrWrongSecret):
		return "wrong_secret"
	case errors.Is(err, ErrGrantNotFound), errors.Is(err, ErrDeleted):
		return "unknown_id"
	case errors.Is(err, ErrUsed):
		return "used"
	case errors.Is(err, ErrExpired):
		return "expired"
	}
	return ""
}
