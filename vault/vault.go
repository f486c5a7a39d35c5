package vault

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/internal/wrappedkey"
	"github.com/cardvault/cardvault/store"
)

// Sentinel errors. Each wraps one kind of the root package.
var (
	// ErrWrongKey: no key of that user, or the wrong passphrase (one error
	// for both).
	ErrWrongKey = fmt.Errorf("vault: wrong user or passphrase: %w", cardvault.ErrUnauthorized)
	// ErrKeyNotFound: an account-level call (delete, list) names a user
	// the account has no key for.
	ErrKeyNotFound = fmt.Errorf("vault: no such key: %w", cardvault.ErrNotFound)
	// ErrKeyExists: CreateKey for a user that has a key.
	ErrKeyExists = fmt.Errorf("vault: key exists: %w", cardvault.ErrConflict)
	// ErrKeyNotEmpty: a safe DeleteKey of a key that still holds items.
	ErrKeyNotEmpty = fmt.Errorf("vault: key still holds data: %w", cardvault.ErrConflict)
	// ErrItemNotFound: no item under that token and reference.
	ErrItemNotFound = fmt.Errorf("vault: no such item: %w", cardvault.ErrNotFound)
	// ErrInvalid: the request is malformed (see the message for what).
	ErrInvalid = fmt.Errorf("vault: %w", cardvault.ErrInvalid)
	// ErrNoNumber: nothing to make a token from.
	ErrNoNumber = fmt.Errorf("vault: no number to tokenize (number, card_number, n or account_number): %w", cardvault.ErrInvalid)
	// ErrNumberImmutable: an update would change the tokenized number.
	ErrNumberImmutable = fmt.Errorf("vault: the tokenized number cannot change: %w", cardvault.ErrInvalid)
	// ErrFieldNotAllowed: an update names a field outside its allow-list.
	ErrFieldNotAllowed = fmt.Errorf("vault: field not allowed: %w", cardvault.ErrInvalid)
	// ErrTooLarge: an item over MaxItemSize.
	ErrTooLarge = fmt.Errorf("vault: item too large: %w", cardvault.ErrTooLarge)
	// ErrAmbiguousToken: Resolve without a reference for a token that
	// several items of the key have.
	ErrAmbiguousToken = fmt.Errorf("vault: several items have this token: name the reference: %w", cardvault.ErrInvalid)
	// ErrVersion: Update with IfVersion found another version.
	ErrVersion = fmt.Errorf("vault: item changed: %w", cardvault.ErrConflict)
)

// Defaults for a zero field of Config.
const (
	DefaultMaxItemSize = 256 << 10
	DefaultCacheSize   = 1024
	DefaultCacheTTL    = 10 * time.Minute
)

// Config configures a Vault. Store and Keyring are required.
type Config struct {
	// Store keeps everything; the vault uses the buckets "vault.keys",
	// "vault.items" and "vault.meta".
	Store *store.Store
	// Keyring is the server's master key. It wraps the deployment's hash
	// key (tokens), nothing that belongs to a vault key.
	Keyring *crypto.Keyring
	// WorkFactor is the scrypt work factor (log2 N) new passphrase locks
	// get; 0 means crypto.DefaultWorkFactor. MaxWorkFactor bounds what a
	// stored lock may demand on unlock; 0 means max(WorkFactor, default).
	WorkFactor    int
	MaxWorkFactor int
	// CacheSize bounds the number of unlocked keys held in memory, and
	// CacheTTL how long each is held after it was unlocked.
	CacheSize int
	CacheTTL  time.Duration
	// MaxUnlocksPerOwner bounds how many scrypt computations — unlocking
	// a key, locking one under a new passphrase — one owner's calls run at
	// once; the others wait their turn (or for their context), so that one
	// tenant guessing passphrases, each guess a full scrypt, cannot take
	// every slot from another tenant's unlocks. 0 means half the process's
	// slots (GOMAXPROCS), at least one.
	MaxUnlocksPerOwner int
	// MaxItemSize bounds an item's JSON (and an update's); 0 means 256 KiB.
	MaxItemSize int
	// CVVTTL is how long an item keeps the card verification code it is
	// given (the server's -cvv-ttl); 0 means DefaultCVVTTL, an hour.
	CVVTTL time.Duration
	// Audit receives the vault's events: keys created, deleted and
	// re-locked and items stored, updated and deleted are recorded in the
	// transaction of the write; items read and failed unlocks are noted.
	// Nil means no audit.
	Audit audit.Recorder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Vault is a vault over a store. It is safe for concurrent use by many
// goroutines; several processes may share one store.
type Vault struct {
	st            *store.Store
	keyring       *crypto.Keyring
	hasher        *crypto.Hasher
	workFactor    int
	maxWorkFactor int
	maxItem       int
	cvvTTL        time.Duration
	now           func() time.Time
	cache         *keyCache
	flight        flight
	owners        ownerSlots
	unlocks       atomic.Uint64
	audit         audit.Recorder

	decoyOnce sync.Once
	decoy     []byte // a lock for unknown users to spend scrypt on
}

const (
	bucketKeys  = "vault.keys"
	bucketItems = "vault.items"
	bucketMeta  = "vault.meta"
	// bucketNumbers indexes items by the keyed fingerprint of their number
	// (fingerprint ‖ item key → ""), so HoldsNumber needs no passphrase
	// and decrypts nothing.
	bucketNumbers = "vault.numbers"
)

// Open returns a Vault over cfg.Store. The first Open of a store creates the
// deployment's hash key (wrapped by cfg.Keyring); later ones, from any
// process, load it.
func Open(ctx context.Context, cfg Config) (*Vault, error) {
	if cfg.Store == nil || cfg.Keyring == nil {
		return nil, errors.New("vault: Config.Store and Config.Keyring are required")
	}
	v := &Vault{
		st:            cfg.Store,
		keyring:       cfg.Keyring,
		workFactor:    cfg.WorkFactor,
		maxWorkFactor: cfg.MaxWorkFactor,
		maxItem:       cfg.MaxItemSize,
		cvvTTL:        cfg.CVVTTL,
		now:           cfg.Now,
		audit:         cfg.Audit,
	}
	if v.workFactor == 0 {
		v.workFactor = crypto.DefaultWorkFactor
	}
	if v.maxWorkFactor == 0 {
		v.maxWorkFactor = max(v.workFactor, crypto.DefaultWorkFactor)
	}
	if v.maxWorkFactor < v.workFactor {
		return nil, fmt.Errorf("vault: MaxWorkFactor %d is below WorkFactor %d", v.maxWorkFactor, v.workFactor)
	}
	if v.maxItem == 0 {
		v.maxItem = DefaultMaxItemSize
	}
	v.owners.per = cfg.MaxUnlocksPerOwner
	if v.owners.per <= 0 {
		v.owners.per = defaultOwnerSlots()
	}
	switch {
	case v.cvvTTL == 0:
		v.cvvTTL = DefaultCVVTTL
	case v.cvvTTL < 0:
		return nil, errors.New("vault: CVVTTL is negative")
	}
	if v.now == nil {
		v.now = time.Now
	}
	size, ttl := cfg.CacheSize, cfg.CacheTTL
	if size == 0 {
		size = DefaultCacheSize
	}
	if ttl == 0 {
		ttl = DefaultCacheTTL
	}
	v.cache = newKeyCache(size, ttl, v.now)

	// The first Open of a store creates the hash key; two processes racing
	// to create it are serialized by the store.
	hk, err := wrappedkey.Load(ctx, cfg.Store, cfg.Keyring, bucketMeta, []byte("hash-key"), true)
	if err != nil {
		return nil, fmt.Errorf("vault: the deployment hash key: %w", err)
	}
	v.hasher = crypto.NewHasherFromKey(hk)
	hk.Wipe()
	return v, nil
}

// Stats are counters for monitoring.
type Stats struct {
	// Unlocks counts passphrase checks that ran scrypt, successful or not.
	Unlocks uint64
	// CachedKeys is the number of unlocked keys held now.
	CachedKeys int
}

// Stats returns the vault's counters.
// MaxItemSize is the most bytes an item's JSON may have in this vault
// (Config.MaxItemSize): what a capture endpoint accepts, too.
func (v *Vault) MaxItemSize() int { return v.maxItem }

func (v *Vault) Stats() Stats {
	return Stats{Unlocks: v.unlocks.Load(), CachedKeys: v.cache.len()}
}

// Close wipes the unlocked keys the vault holds. It does not close the store.
func (v *Vault) Close() error {
	v.cache.clear()
	v.hasher.Wipe()
	return nil
}

// RewrapMasterKey re-wraps everything the vault keeps under the master key
// (the deployment hash key) for the keyring's current identity, after a
// rotation. Records are not touched. It reports whether anything changed.
func (v *Vault) RewrapMasterKey(ctx context.Context) (bool, error) {
	n, err := wrappedkey.RewrapAll(ctx, v.st, v.keyring, bucketMeta)
	if err != nil {
		return false, fmt.Errorf("vault: %w", err)
	}
	return n > 0, nil
}

// Limits on names, so that keys stay well-formed and bounded.
const (
	maxNameLen = 128 // owner, user
	maxRefLen  = 256 // reference
	maxTokLen  = 128 // token
)

// checkName validates an owner, user, token or reference: valid UTF-8,
// within max bytes, no control characters (which keeps the NUL that
// separates the parts of a store key out of them). empty says whether ""
// is allowed.
func checkName(what, s string, maxLen int, empty bool) error {
	if s == "" {
		if empty {
			return nil
		}
		return fmt.Errorf("%w: %s is required", ErrInvalid, what)
	}
	if len(s) > maxLen {
		return fmt.Errorf("%w: %s is %d bytes, at most %d", ErrInvalid, what, len(s), maxLen)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: %s holds a control character", ErrInvalid, what)
		}
	}
	return nil
}

// keyEvent is an event about owner's key for user. Owner is the account
// (the vault/capture API's HTTP Basic account).
func keyEvent(op audit.Op, owner, user string) audit.Event {
	return audit.Event{Op: op, Outcome: audit.OutcomeOK, Account: owner, User: user}
}

// itemEvent is an event about the item under ref in owner's key for user:
// named by its token and reference, never by anything it holds.
func itemEvent(op audit.Op, owner, user string, ref ItemRef) audit.Event {
	e := keyEvent(op, owner, user)
	e.Token, e.Reference = ref.Token, ref.Reference
	return e
}
