package capture

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

const (
	bucketSingleUse   = "capture.singleuse" // HashSecret(token) → singleUseRecord
	expirySingleUse   = "capture.singleuse" // package expiry's kind: a token, by its hash
	oldBucketSUExpiry = "capture.singleuse.expiry"
)

// SingleUseTokenLen is the length of a single-use token: 128 lowercase hex
// characters (512 random bits), the shape the secure-token API uses.
const SingleUseTokenLen = 128

// SingleUseToken stands for payment details captured once, for one
// processing terminal, for a short time (Config.SingleUseTTL).
type SingleUseToken struct {
	Token     string
	Terminal  string
	ExpiresAt time.Time
}

// singleUseRecord is what is stored for a token: only its hash names it,
// and the details are sealed under the token itself, so the database alone
// opens nothing.
type singleUseRecord struct {
	Terminal string    `json:"terminal"`
	Sealed   []byte    `json:"sealed,omitempty"`
	Used     bool      `json:"used,omitempty"`
	Created  time.Time `json:"created"`
	Expires  time.Time `json:"expires"`
}

func singleUseContext(terminal string) []byte {
	return []byte("capture.singleuse\x00" + terminal)
}

// MaxSingleUseDetails bounds the details a single-use token stands for.
const MaxSingleUseDetails = 64 << 10

// MintSingleUse stores payment details for terminal and returns the
// single-use token that stands for them. The details are opaque here (the
// secure-token package decides their form); RedeemSingleUse hands them back
// as they were. The secure-token API's single-use-token route uses it
// directly; single-use-token grants use it for what a browser posts.
func (s *Service) MintSingleUse(ctx context.Context, terminal string, details []byte) (SingleUseToken, error) {
	return s.mintSingleUse(ctx, terminal, details, nil)
}

// mintFromGrant is what a single-use-token grant does with a capture: the
// body's "reference", which addresses vault items, means nothing here.
func (s *Service) mintFromGrant(ctx context.Context, terminal string, body []byte, allowed []string, within func(store.Tx) error) (SingleUseToken, error) {
	doc, err := stripReference(body, "")
	if err != nil {
		return SingleUseToken{}, err
	}
	if allowed != nil {
		if err := checkAllowed(doc, allowed); err != nil {
			return SingleUseToken{}, err
		}
	}
	if s.cfg.SingleUseDetails != nil {
		if doc, err = s.cfg.SingleUseDetails(doc); err != nil {
			return SingleUseToken{}, err
		}
	}
	return s.mintSingleUse(ctx, terminal, doc, within)
}

func (s *Service) mintSingleUse(ctx context.Context, terminal string, details []byte, within func(store.Tx) error) (SingleUseToken, error) {
	if err := checkSingleUse(terminal, details); err != nil {
		return SingleUseToken{}, err
	}
	var su SingleUseToken
	err := s.st.Update(ctx, func(tx store.Tx) error {
		if within != nil {
			if err := within(tx); err != nil {
				return err
			}
		}
		var err error
		su, err = s.MintSingleUseTx(ctx, tx, terminal, details)
		return err
	})
	if err != nil {
		return SingleUseToken{}, err
	}
	return su, nil
}

func checkSingleUse(terminal string, details []byte) error {
	if err := checkTerminal(terminal); err != nil {
		return err
	}
	if len(details) == 0 || len(details) > MaxSingleUseDetails {
		return fmt.Errorf("%w: single-use token details must be 1 to %d bytes", ErrInvalid, MaxSingleUseDetails)
	}
	return nil
}

// MintSingleUseTx is MintSingleUse inside the caller's transaction tx, so
// that the token exists only if that transaction commits — the
// secure-token API keeps its idempotency record in the same one. The
// returned token is valid once tx has committed.
//
// The token's creation is recorded in tx, under the token's id (see
// SingleUseID), never the token.
func (s *Service) MintSingleUseTx(ctx context.Context, tx store.Tx, terminal string, details []byte) (SingleUseToken, error) {
	if err := checkSingleUse(terminal, details); err != nil {
		return SingleUseToken{}, err
	}
	var raw [SingleUseTokenLen / 2]byte
	rand.Read(raw[:])
	token := hex.EncodeToString(raw[:])
	now := s.now().UTC()
	rec := singleUseRecord{
		Terminal: terminal, Created: now, Expires: now.Add(s.cfg.SingleUseTTL),
		Sealed: crypto.SealWithSecret(token, singleUseContext(terminal), details),
	}
	h := crypto.HashSecret(token)
	if err := putJSON(tx, bucketSingleUse, h[:], rec); err != nil {
		return SingleUseToken{}, err
	}
	if err := expiry.Set(tx, expirySingleUse, h[:], rec.Expires); err != nil {
		return SingleUseToken{}, err
	}
	if err := audit.RecordIn(ctx, s.cfg.Audit, tx, singleUseEvent(audit.OpSingleUseCreated, terminal, h)); err != nil {
		return SingleUseToken{}, err
	}
	return SingleUseToken{Token: token, Terminal: terminal, ExpiresAt: rec.Expires}, nil
}

// RedeemSingleUse uses up token for terminal: inside one store
// transaction it checks the token (known, for this terminal, not used, not
// expired), opens its payment details, calls fn with them, and marks the
// token used. If fn fails, the transaction rolls back and the token stays
// usable; if it succeeds, no other call — in this process or any other
// sharing the store — can use the token again. fn may run more than once
// (the store retries transactions), so it must only write through tx.
func (s *Service) RedeemSingleUse(ctx context.Context, terminal, token string, fn func(tx store.Tx, details []byte) error) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		details, err := s.RedeemSingleUseTx(ctx, tx, terminal, token)
		if err != nil {
			return err
		}
		defer clear(details)
		return fn(tx, details)
	})
}

// RedeemSingleUseTx uses up token for terminal inside the caller's
// transaction tx and returns the payment details it stands for: the token
// is used up only if tx commits, and its use is recorded in tx. The errors
// are RedeemSingleUse's.
func (s *Service) RedeemSingleUseTx(ctx context.Context, tx store.Tx, terminal, token string) ([]byte, error) {
	if len(token) != SingleUseTokenLen {
		return nil, ErrTokenNotFound
	}
	if _, err := hex.DecodeString(token); err != nil {
		return nil, ErrTokenNotFound
	}
	h := crypto.HashSecret(token)
	var rec singleUseRecord
	raw, err := getStored(tx, bucketSingleUse, h[:], ErrTokenNotFound)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("capture: stored single-use token is corrupt: %w", err)
	}
	switch {
	case rec.Terminal != terminal:
		return nil, ErrTerminal
	case rec.Used:
		return nil, ErrUsed
	case !s.now().Before(rec.Expires):
		return nil, ErrExpired
	}
	details, err := crypto.OpenWithSecret(token, singleUseContext(terminal), rec.Sealed)
	if err != nil {
		return nil, fmt.Errorf("capture: single-use token details: %w", err)
	}
	// Keep a tombstone without the details until the token would have
	// expired, so a second use hears ErrUsed rather than "unknown".
	rec.Used, rec.Sealed = true, nil
	if err := putJSON(tx, bucketSingleUse, h[:], rec); err != nil {
		clear(details)
		return nil, err
	}
	if err := audit.RecordIn(ctx, s.cfg.Audit, tx, singleUseEvent(audit.OpSingleUseUsed, terminal, h)); err != nil {
		clear(details)
		return nil, err
	}
	return details, nil
}

// SingleUseID is the id the audit trail names a single-use token by: the
// first 16 hex digits of the hash it is stored under. The token itself
// opens the payment details it stands for, so it is a secret and appears
// nowhere; the id, a hash of 512 random bits, tells nothing of it.
func SingleUseID(token string) string {
	h := crypto.HashSecret(token)
	return singleUseID(h)
}

func singleUseID(h crypto.SecretHash) string { return "su_" + hex.EncodeToString(h[:8]) }

// singleUseEvent is an event about terminal's single-use token stored
// under the hash h.
func singleUseEvent(op audit.Op, terminal string, h crypto.SecretHash) audit.Event {
	return audit.Event{Op: op, Outcome: audit.OutcomeOK, Terminal: terminal, Resource: singleUseID(h)}
}

func init() {
	expiry.Handle(expirySingleUse, expiry.RemoveValue(bucketSingleUse, func(raw []byte, at time.Time) bool {
		var rec singleUseRecord
		return json.Unmarshal(raw, &rec) != nil || rec.Expires.Equal(at)
	}))
}

// getStored returns the bytes stored under key in bucket, or missing, the
// not-found error of the kind of record the bucket holds, when there are
// none.
func getStored(tx store.Tx, bucket string, key []byte, missing error) ([]byte, error) {
	raw, err := tx.Get(bucket, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, missing
	}
	return raw, err
}

func putJSON(tx store.Tx, bucket string, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return tx.Put(bucket, key, raw)
}

// checkAllowed refuses a top-level field outside allowed, as the vault
// does for the grants that write to it.
func checkAllowed(doc []byte, allowed []string) error {
	var bad []string
	gjson.ParseBytes(doc).ForEach(func(k, _ gjson.Result) bool {
		if !slices.Contains(allowed, k.Str) {
			bad = append(bad, k.Str)
		}
		return true
	})
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", vault.ErrFieldNotAllowed, strings.Join(bad, ", "))
	}
	return nil
}
