package securetoken

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/capture"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/internal/uuid"
	"github.com/cardvault/cardvault/internal/wrappedkey"
	"github.com/cardvault/cardvault/luhn"
	"github.com/cardvault/cardvault/store"
)

// Sentinel errors of the service. Each wraps a kind of the root package.
var (
	// ErrNotFound: no secure token has that id on that terminal (which is
	// also the answer for another terminal's token).
	ErrNotFound = fmt.Errorf("securetoken: no such secure token: %w", cardvault.ErrNotFound)
	// ErrExists: Create with a secureTokenId in use on the terminal.
	ErrExists = fmt.Errorf("securetoken: a secure token with that secureTokenId exists: %w", cardvault.ErrConflict)
	// ErrIDRetired: Create with the secureTokenId of a deleted secure token;
	// ids are never reused.
	ErrIDRetired = fmt.Errorf("securetoken: that secureTokenId belonged to a deleted secure token and is never reused: %w", cardvault.ErrConflict)
	// ErrSingleUseNotFound: UpdateAccount with a single-use token that does
	// not exist or belongs to another processing terminal (the two are not
	// told apart). In Create, where the token is one member of the body, the
	// same case is a fault at /source/token instead.
	ErrSingleUseNotFound = fmt.Errorf("securetoken: no such single-use token for this processing terminal: %w", cardvault.ErrNotFound)
	// ErrNoSingleUse: a single-use token where the Service has no capture
	// service to redeem it with.
	ErrNoSingleUse = fmt.Errorf("securetoken: single-use tokens are not configured: %w", cardvault.ErrInvalid)
)

// Defaults for zero fields of Config.
const (
	DefaultTokenPrefix = "296753"
	DefaultTokenLength = 16
)

// Config configures a Service. Store and Keyring are required.
type Config struct {
	// Store keeps secure tokens in the buckets "securetoken.*".
	Store *store.Store
	// Keyring is the master key: it wraps each terminal's key-encryption
	// key and the index key. There is no passphrase in this API, so the
	// master key is what protects secure tokens at rest.
	Keyring *crypto.Keyring
	// Capture redeems single-use tokens; nil refuses them.
	Capture *capture.Service
	// TokenPrefix begins every token (six digits by default "296753"), and
	// TokenLength is the tokens' length, 12 to 19 (16 by default).
	TokenPrefix string
	TokenLength int
	// NumberInUse, when not nil, reports whether a number is a card
	// number held elsewhere (the vault's HoldsNumber), so that a token
	// never equals one. Numbers the secure tokens hold are checked always.
	NumberInUse func(ctx context.Context, number string) (bool, error)
	// IdempotencyTTL is how long the outcome of an idempotent write is kept
	// (idempotency.DefaultTTL, 24 hours, when zero).
	IdempotencyTTL time.Duration
	// Audit receives the service's events: secure tokens created,
	// patched, updated from a single-use token and deleted are recorded
	// in the transaction of the write; reads and listings are noted.
	// Single-use tokens are Capture's to record. Nil means no audit.
	Audit audit.Recorder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service keeps secure tokens. It is safe for concurrent use, and several
// processes may share its store.
type Service struct {
	st      *store.Store
	keyring *crypto.Keyring
	capture *capture.Service
	prefix  string
	length  int
	inUse   func(context.Context, string) (bool, error)
	now     func() time.Time
	hasher  *crypto.Hasher
	idem    *idempotency.Keeper
	audit   audit.Recorder

	mu   sync.Mutex
	keks map[string]*crypto.DataKey // terminal → its KEK, unwrapped
}

const (
	bucketMeta      = "securetoken.meta"      // "hash-key" → wrapped by the keyring
	bucketTerminals = "securetoken.terminals" // terminal → its KEK wrapped by the keyring
	bucketRecords   = "securetoken.records"   // terminal \0 id → envelope (live tokens only)
	bucketRetired   = "securetoken.retired"   // terminal \0 id → "" (deleted: never reused)
	bucketTokens    = "securetoken.tokens"    // token → terminal \0 id (tokens are unique, never reused)
	bucketNumbers   = "securetoken.numbers"   // fingerprint of a held number ‖ terminal \0 id → ""
	bucketIndex     = "securetoken.index"     // terminal \0 field \0 keyed hash \0 id → ""

	maxKEKs = 4096 // unwrapped terminal keys kept in memory
)

// Open returns a Service over cfg.Store, creating the index key on first
// use.
func Open(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Keyring == nil {
		return nil, errors.New("securetoken: Config.Store and Config.Keyring are required")
	}
	s := &Service{st: cfg.Store, keyring: cfg.Keyring, capture: cfg.Capture, prefix: cfg.TokenPrefix,
		length: cfg.TokenLength, inUse: cfg.NumberInUse, now: cfg.Now, audit: cfg.Audit, keks: map[string]*crypto.DataKey{}}
	if s.prefix == "" {
		s.prefix = DefaultTokenPrefix
	}
	if s.length == 0 {
		s.length = DefaultTokenLength
	}
	if _, err := luhn.Generate(s.prefix, s.length, nil); err != nil || len(s.prefix) > s.length-4 {
		return nil, fmt.Errorf("securetoken: token prefix %q and length %d leave too few random digits (need 12–19 digits, 3 random at least)", s.prefix, s.length)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.idem = idempotency.New(s.st, idempotency.Config{TTL: cfg.IdempotencyTTL, Now: s.now})
	hk, err := wrappedkey.Load(ctx, s.st, s.keyring, bucketMeta, []byte("hash-key"), true)
	if err != nil {
		return nil, fmt.Errorf("securetoken: the index key: %w", err)
	}
	s.hasher = crypto.NewHasherFromKey(hk)
	hk.Wipe()
	return s, nil
}

// Close wipes the keys the service holds in memory. It does not close the
// store.
func (s *Service) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, k := range s.keks {
		k.Wipe()
		delete(s.keks, t)
	}
	s.hasher.Wipe()
	return nil
}

// RewrapMasterKey re-wraps every key the service keeps under the master key
// (the index key and the terminals' KEKs) for the keyring's current
// identity, after a rotation. Records are not touched. It returns how many
// wrapped keys changed.
func (s *Service) RewrapMasterKey(ctx context.Context) (int, error) {
	n := 0
	for _, b := range []string{bucketMeta, bucketTerminals} {
		m, err := wrappedkey.RewrapAll(ctx, s.st, s.keyring, b)
		if err != nil {
			return n, fmt.Errorf("securetoken: %w", err)
		}
		n += m
	}
	return n, nil
}

// kek returns the terminal's key-encryption key, creating it when create
// is set. A terminal that never saved a token has none: without create
// that is ErrNotFound.
func (s *Service) kek(ctx context.Context, terminal string, create bool) (*crypto.DataKey, error) {
	s.mu.Lock()
	k := s.keks[terminal]
	s.mu.Unlock()
	if k != nil {
		return k, nil
	}
	k, err := wrappedkey.Load(ctx, s.st, s.keyring, bucketTerminals, []byte(terminal), create)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("securetoken: the terminal's key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.keks[terminal]; old != nil {
		k.Wipe()
		return old, nil
	}
	if len(s.keks) >= maxKEKs {
		// Keys are cheap to unwrap again (one age operation); a bound on
		// memory matters more than keeping the coldest ones. They are not
		// wiped here: a caller may be using one.
		for t := range s.keks {
			delete(s.keks, t)
			break
		}
	}
	s.keks[terminal] = k
	return k, nil
}

// envelope is what is stored for a live secure token.
type envelope struct {
	Version   uint64    `json:"version"`
	WrappedDK []byte    `json:"dk"`     // the record's data key, wrapped by the terminal's KEK
	Sealed    []byte    `json:"sealed"` // Record.MarshalBinary, sealed under the data key
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
}

func recordKey(terminal, id string) []byte {
	return []byte(terminal + "\x00" + id)
}

func recordAD(key []byte) []byte {
	return append([]byte("securetoken.records\x00"), key...)
}

// open reads and opens the live record id of terminal inside tx.
func (s *Service) open(tx store.Tx, kek *crypto.DataKey, terminal, id string) (Record, *envelope, error) {
	key := recordKey(terminal, id)
	raw, err := tx.Get(bucketRecords, key)
	if errors.Is(err, store.ErrNotFound) {
		return Record{}, nil, ErrNotFound
	}
	if err != nil {
		return Record{}, nil, err
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return Record{}, nil, fmt.Errorf("securetoken: stored envelope is corrupt: %w", err)
	}
	ad := recordAD(key)
	dk, err := kek.Unwrap(env.WrappedDK, ad)
	if err != nil {
		return Record{}, nil, fmt.Errorf("securetoken: record key: %w", err)
	}
	defer dk.Wipe()
	plain, err := dk.Open(env.Sealed, ad)
	if err != nil {
		return Record{}, nil, fmt.Errorf("securetoken: record: %w", err)
	}
	defer clear(plain)
	var rec Record
	if err := rec.UnmarshalBinary(plain); err != nil {
		return Record{}, nil, err
	}
	return rec, &env, nil
}

// preparedRecord is a record ready to be stored: its envelope's bytes and
// its index keys. Sealing and the blind-index hashes are most of a write's
// CPU; made before the transaction that stores them (Create), they do not
// hold the store's one writer (boltstore runs writers one at a time).
type preparedRecord struct {
	key, raw []byte
	index    [][]byte
	number   []byte // the held number's index key, or nil
}

// seal seals rec under a new data key, wrapped by kek, into env (the
// stored envelope it replaces, or a new one).
func (s *Service) seal(kek *crypto.DataKey, rec Record, env envelope) (preparedRecord, error) {
	key := recordKey(rec.ProcessingTerminalID, rec.SecureTokenID)
	ad := recordAD(key)
	plain, err := rec.MarshalBinary()
	if err != nil {
		return preparedRecord{}, err
	}
	defer clear(plain)
	dk := crypto.NewDataKey()
	defer dk.Wipe()
	now := s.now().UTC()
	if env.Created.IsZero() {
		env.Created = now
	}
	env.Version++
	env.Updated = now
	env.WrappedDK = kek.Wrap(dk, ad)
	env.Sealed = dk.Seal(plain, ad)
	raw, err := json.Marshal(env)
	if err != nil {
		return preparedRecord{}, err
	}
	sr := preparedRecord{key: key, raw: raw, index: s.indexKeys(rec)}
	if n := heldNumber(rec); n != "" {
		sr.number = s.numberKey(n, rec)
	}
	return sr, nil
}

// write stores a sealed record inside tx, replacing the indexes of old
// (nil for a new record) with its own.
func (s *Service) write(tx store.Tx, sr preparedRecord, old *Record) error {
	if err := tx.Put(bucketRecords, sr.key, sr.raw); err != nil {
		return err
	}
	if old != nil {
		if err := s.unindex(tx, *old); err != nil {
			return err
		}
	}
	for _, k := range sr.index {
		if err := tx.Put(bucketIndex, k, nil); err != nil {
			return err
		}
	}
	if sr.number != nil {
		return tx.Put(bucketNumbers, sr.number, nil)
	}
	return nil
}

// put seals rec into env and stores it inside tx, for the writes whose
// record is known only inside their transaction (it is derived from the
// stored one).
func (s *Service) put(tx store.Tx, kek *crypto.DataKey, rec Record, env envelope, old *Record) error {
	sr, err := s.seal(kek, rec, env)
	if err != nil {
		return err
	}
	return s.write(tx, sr, old)
}

// indexKeys returns the blind-index keys of rec: one per term, each a
// keyed hash of the normalized value, never the value.
func (s *Service) indexKeys(rec Record) [][]byte {
	t := rec.IndexTerms()
	var out [][]byte
	add := func(field, value string) {
		if value != "" {
			out = append(out, s.indexKey(rec.ProcessingTerminalID, field, value, rec.SecureTokenID))
		}
	}
	for _, v := range t.Names {
		add("name", v)
	}
	for _, v := range t.Emails {
		add("email", v)
	}
	for _, v := range t.Phones {
		add("phone", v)
	}
	add("token", t.Token)
	add("first6", t.First6)
	add("last4", t.Last4)
	return out
}

// indexPrefix is terminal \0 field \0 keyed hash \0: the ids after it are
// the records whose field holds the (normalized) value.
func (s *Service) indexPrefix(terminal, field, value string) []byte {
	h := s.hasher.Sum("securetoken.index."+field, []byte(value))
	k := []byte(terminal + "\x00" + field + "\x00")
	k = append(k, h[:]...)
	return append(k, 0)
}

func (s *Service) indexKey(terminal, field, value, id string) []byte {
	return append(s.indexPrefix(terminal, field, value), id...)
}

// numberKey indexes a number a record holds, to keep tokens from equal.
func (s *Service) numberKey(number string, rec Record) []byte {
	h := s.hasher.Sum("securetoken.number", []byte(number))
	return append(h[:], recordKey(rec.ProcessingTerminalID, rec.SecureTokenID)...)
}

func heldNumber(rec Record) string {
	if rec.Source.Card != nil {
		return string(rec.Source.Card.CardNumber)
	}
	return ""
}

func (s *Service) unindex(tx store.Tx, rec Record) error {
	for _, k := range s.indexKeys(rec) {
		if err := tx.Delete(bucketIndex, k); err != nil {
			return err
		}
	}
	if n := heldNumber(rec); n != "" {
		return tx.Delete(bucketNumbers, s.numberKey(n, rec))
	}
	return nil
}

// checkTerminal validates a processingTerminalId with the one rule of the
// root package.
func checkTerminal(t string) error { return cardvault.CheckTerminalID(t) }

func checkID(name, v string, minLen, maxLen int) error {
	n := utf8.RuneCountInString(v)
	bad := &cardvault.InvalidError{}
	switch {
	case !utf8.ValidString(v):
		bad.Add(name, "invalid value", "must be valid UTF-8")
	case n < minLen || n > maxLen:
		bad.Add(name, "invalid length", fmt.Sprintf("must be %d to %d characters", minLen, maxLen))
	case strings.ContainsAny(v, "/\x7f") || strings.IndexFunc(v, func(r rune) bool { return r < 0x20 }) >= 0:
		bad.Add(name, "invalid value", "must not contain '/' or control characters")
	}
	return bad.Err()
}

// newID returns a secureTokenId in the publisher's style: MREF_ and a
// random UUID.
func newID() string { return "MREF_" + uuid.New() }

// errTokenTaken makes Create draw another token.
var errTokenTaken = errors.New("securetoken: token taken")

// newToken draws a token that no other secure token has and that is no
// card number held here or (NumberInUse) elsewhere. The uniqueness check
// is repeated inside the creating transaction.
func (s *Service) newToken(ctx context.Context) (string, error) {
	for range 32 {
		tok, err := luhn.Generate(s.prefix, s.length, nil)
		if err != nil {
			return "", err
		}
		taken := false
		err = s.st.View(ctx, func(tx store.Tx) error {
			taken = false
			if _, err := tx.Get(bucketTokens, []byte(tok)); err == nil {
				taken = true
				return nil
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			h := s.hasher.Sum("securetoken.number", []byte(tok))
			return tx.Scan(bucketNumbers, store.Range{Start: h[:], End: store.PrefixEnd(h[:]), Limit: 1}, func(_, _ []byte) error {
				taken = true
				return nil
			})
		})
		if err != nil {
			return "", err
		}
		if !taken && s.inUse != nil {
			if taken, err = s.inUse(ctx, tok); err != nil {
				return "", fmt.Errorf("securetoken: checking a new token against held card numbers: %w", err)
			}
		}
		if !taken {
			return tok, nil
		}
	}
	return "", fmt.Errorf("securetoken: no free token after 32 draws; the token space of prefix %s and length %d is crowded: %w", s.prefix, s.length, cardvault.ErrConflict)
}
