package rules

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store"
)

const (
	// MaxRulesPerOwner is the most rules one account keeps.
	MaxRulesPerOwner = 1024
	// MaxIDLen bounds a rule id.
	MaxIDLen = 64
	// MaxOwnerLen bounds an account name.
	MaxOwnerLen = 256

	bucketRules   = "rules.rules" // owner ‖ 0 ‖ id → ruleRecord
	recordVersion = 1
)

// Config configures a Service. Store and Hasher are required.
type Config struct {
	// Store keeps the rules, in the bucket "rules.rules".
	Store *store.Store
	// Hasher keys the hash operation (see NewEngine).
	Hasher *crypto.Hasher
	// Audit receives rules created and deleted, recorded in the
	// transaction of the write; nil means no audit.
	Audit audit.Recorder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Service keeps each account's rules under ids and runs them. It is safe
// for concurrent use, and several processes may share its store.
type Service struct {
	st     *store.Store
	engine *Engine
	audit  audit.Recorder
	now    func() time.Time
}

// New returns a Service.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil || cfg.Hasher == nil {
		return nil, fmt.Errorf("%w: rules.Config needs a Store and a Hasher", ErrInvalid)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Service{st: cfg.Store, engine: NewEngine(cfg.Hasher), audit: cfg.Audit, now: now}, nil
}

// Engine returns the service's engine, to run rules loaded with Load.
func (s *Service) Engine() *Engine { return s.engine }

// Stored is a rule an account keeps.
type Stored struct {
	ID        string
	Rule      *Rule
	CreatedAt time.Time
}

// MarshalJSON renders a stored rule for the API:
//
//	{"id": "mask-card", "operations": [{"input": ..., "output": ..., "operation": ..., "arguments": ...}], "created_at": "2025-06-01T12:00:00Z"}
func (r Stored) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID         string      `json:"id"`
		Operations []Operation `json:"operations"`
		CreatedAt  time.Time   `json:"created_at"`
	}{r.ID, r.Rule.Operations(), r.CreatedAt.UTC()})
}

// ruleRecord is a rule as the store keeps it. Rules hold no card data.
type ruleRecord struct {
	Version   int             `json:"v"`
	Rule      json.RawMessage `json:"rule"`
	CreatedAt time.Time       `json:"created_at"`
}

// ValidID reports whether id can name a rule: 1 to [MaxIDLen] letters,
// digits, '_', '-' and '.' (no comma, which separates ids in a rules=
// query parameter).
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// ParseIDs parses rule ids as a rules= query parameter carries them:
// comma-separated, in the order they run, at most [MaxRulesPerApply], each
// one [ValidID]. Its error is a *cardvault.InvalidError naming "rules".
func ParseIDs(v string) ([]string, error) {
	ids := strings.Split(v, ",")
	msg := ""
	if len(ids) > MaxRulesPerApply {
		msg = fmt.Sprintf("at most %d rules run at once", MaxRulesPerApply)
	} else if slices.ContainsFunc(ids, func(id string) bool { return !ValidID(id) }) {
		msg = fmt.Sprintf("rules must be comma-separated rule ids of 1 to %d letters, digits, '_', '-' and '.'", MaxIDLen)
	}
	if msg != "" {
		bad := &cardvault.InvalidError{}
		bad.Add("rules", "invalid value", msg)
		return nil, bad
	}
	return ids, nil
}

func checkOwner(owner string) error {
	if len(owner) > MaxOwnerLen || strings.IndexByte(owner, 0) >= 0 {
		return fmt.Errorf("%w: an account name is at most %d bytes without NUL", ErrInvalid, MaxOwnerLen)
	}
	return nil
}

func checkID(id string) error {
	if !ValidID(id) {
		return fmt.Errorf("%w: a rule id is 1 to %d letters, digits, '_', '-' and '.'", ErrInvalid, MaxIDLen)
	}
	return nil
}

func ownerPrefix(owner string) []byte { return append([]byte(owner), 0) }

func ruleKey(owner, id string) []byte { return append(ownerPrefix(owner), id...) }

// Create keeps r for owner under id. An id the account uses already is
// [ErrExists] (rules are never updated: delete and create again), an
// account with [MaxRulesPerOwner] rules gets [ErrTooLarge], and a malformed
// id or owner [ErrInvalid]; nothing changes then.
func (s *Service) Create(ctx context.Context, owner, id string, r *Rule) (Stored, error) {
	if err := checkOwner(owner); err != nil {
		return Stored{}, err
	}
	if err := checkID(id); err != nil {
		return Stored{}, err
	}
	if r == nil || len(r.steps) == 0 {
		return Stored{}, fmt.Errorf("%w: no rule", ErrInvalid)
	}
	ruleJSON, err := r.MarshalJSON()
	if err != nil {
		return Stored{}, err
	}
	created := s.now().UTC()
	rec, err := json.Marshal(ruleRecord{Version: recordVersion, Rule: ruleJSON, CreatedAt: created})
	if err != nil {
		return Stored{}, err
	}
	err = s.st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Get(bucketRules, ruleKey(owner, id))
		switch {
		case err == nil:
			return fmt.Errorf("%w: %q", ErrExists, id)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		n := 0
		errFull := errors.New("full")
		err = tx.Scan(bucketRules, store.Prefix(ownerPrefix(owner)), func(_, _ []byte) error {
			if n++; n >= MaxRulesPerOwner {
				return errFull
			}
			return nil
		})
		if errors.Is(err, errFull) {
			return fmt.Errorf("%w: an account keeps at most %d rules", ErrTooLarge, MaxRulesPerOwner)
		}
		if err != nil {
			return err
		}
		if err := tx.Put(bucketRules, ruleKey(owner, id), rec); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.OpRulesCreated, owner, id)
	})
	if err != nil {
		return Stored{}, err
	}
	return Stored{ID: id, Rule: r, CreatedAt: created}, nil
}

// Get returns owner's rule id. Another account's rule, like a missing one,
// is [ErrNotFound].
func (s *Service) Get(ctx context.Context, owner, id string) (Stored, error) {
	if err := checkOwner(owner); err != nil {
		return Stored{}, err
	}
	if err := checkID(id); err != nil {
		return Stored{}, err
	}
	var out Stored
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		out, err = getRule(tx, owner, id)
		return err
	})
	return out, err
}

func getRule(tx store.Tx, owner, id string) (Stored, error) {
	raw, err := tx.Get(bucketRules, ruleKey(owner, id))
	if errors.Is(err, store.ErrNotFound) {
		return Stored{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Stored{}, err
	}
	return decodeRecord(id, raw)
}

// decodeRecord reads a stored rule, checked again as Parse checks a new
// one, so that a damaged record cannot run.
func decodeRecord(id string, raw []byte) (Stored, error) {
	var rec ruleRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return Stored{}, fmt.Errorf("%w: stored rule %q does not decode", ErrInvalid, id)
	}
	if rec.Version != recordVersion {
		return Stored{}, fmt.Errorf("%w: stored rule %q has version %d, this cardvault reads %d", ErrInvalid, id, rec.Version, recordVersion)
	}
	r, err := Parse(rec.Rule)
	if err != nil {
		return Stored{}, fmt.Errorf("%w: stored rule %q: %w", ErrInvalid, id, err)
	}
	return Stored{ID: id, Rule: r, CreatedAt: rec.CreatedAt}, nil
}

// List returns owner's rules in id order.
func (s *Service) List(ctx context.Context, owner string) ([]Stored, error) {
	if err := checkOwner(owner); err != nil {
		return nil, err
	}
	var out []Stored
	err := s.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		prefix := ownerPrefix(owner)
		return tx.Scan(bucketRules, store.Prefix(prefix), func(k, v []byte) error {
			r, err := decodeRecord(string(k[len(prefix):]), v)
			if err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []Stored{}
	}
	return out, nil
}

// Delete removes owner's rule id; a missing one (or another account's) is
// [ErrNotFound].
func (s *Service) Delete(ctx context.Context, owner, id string) error {
	if err := checkOwner(owner); err != nil {
		return err
	}
	if err := checkID(id); err != nil {
		return err
	}
	return s.st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Get(bucketRules, ruleKey(owner, id))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		if err := tx.Delete(bucketRules, ruleKey(owner, id)); err != nil {
			return err
		}
		return s.record(ctx, tx, audit.OpRulesDeleted, owner, id)
	})
}

// record records op on owner's rule id in tx, the write's transaction.
func (s *Service) record(ctx context.Context, tx store.Tx, op audit.Op, owner, id string) error {
	return audit.RecordIn(ctx, s.audit, tx, audit.Event{Op: op, Outcome: audit.OutcomeOK, Account: owner, Resource: id})
}

// Load returns owner's rules ids, in the order given, from one consistent
// view of the store: what a proxy job keeps to run later, so that deleting
// a rule does not change a call already accepted. A missing id is
// [ErrNotFound] naming it; more than [MaxRulesPerApply] ids [ErrInvalid].
func (s *Service) Load(ctx context.Context, owner string, ids []string) ([]*Rule, error) {
	if err := checkOwner(owner); err != nil {
		return nil, err
	}
	if len(ids) > MaxRulesPerApply {
		return nil, fmt.Errorf("%w: at most %d rules run at once, got %d", ErrInvalid, MaxRulesPerApply, len(ids))
	}
	for _, id := range ids {
		if err := checkID(id); err != nil {
			return nil, err
		}
	}
	out := make([]*Rule, len(ids))
	err := s.st.View(ctx, func(tx store.Tx) error {
		for i, id := range ids {
			r, err := getRule(tx, owner, id)
			if err != nil {
				return err
			}
			out[i] = r.Rule
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ApplyQuery is a read's rules= query parameter, q's: without it, doc as
// it is; with it, the rules it names (ParseIDs) applied to doc for owner
// (as Apply), and doc — the item as stored, which the caller reads in its
// place — wiped.
func (s *Service) ApplyQuery(ctx context.Context, owner string, q url.Values, doc []byte) ([]byte, error) {
	v, ok := q["rules"]
	if !ok {
		return doc, nil
	}
	ids, err := ParseIDs(v[0])
	if err != nil {
		return nil, err
	}
	defer clear(doc)
	return s.Apply(ctx, owner, ids, doc)
}

// Apply loads owner's rules ids (as Load) and runs them on a copy of doc
// (as Engine.Apply). doc is never changed, nor is anything stored.
func (s *Service) Apply(ctx context.Context, owner string, ids []string, doc []byte) ([]byte, error) {
	rs, err := s.Load(ctx, owner, ids)
	if err != nil {
		return nil, err
	}
	return s.engine.Apply(owner, doc, rs...)
}
