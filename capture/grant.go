package capture

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/idempotency"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

const (
	bucketGrants   = "capture.grants"   // id → grantRecord
	bucketBySubj   = "capture.bysubj"   // owner \0 subject \0 id → ""
	bucketFailures = "capture.failures" // id → failureRecord

	expiryGrant    = "capture.grant"    // package expiry's kinds: a grant (or its tombstone), by id
	expiryFailures = "capture.failures" // a failure counter, by id

	oldBucketExpiry = "capture.expiry" // before package expiry: unix nanos ‖ id → ""
)

// Webhook is where a grant announces each capture.
type Webhook struct {
	// URL receives a POST with the captured item's safe data.
	URL string `json:"url"`
	// Secret is sent in the X-PCIVault-Webhook-Secret header so the
	// receiver knows the call is genuine.
	Secret string `json:"secret"`
}

// GrantRequest asks for a capture grant. A grant is for a vault key
// (Credentials) — open, storing each capture as a new item, or locked to
// one item (Lock), merging each capture into it — or, with Terminal, a
// single-use-token grant that stores nothing in the vault and answers each
// capture with a single-use token for that processing terminal.
//
// Its JSON is the optional body of the vault/capture API's POST
// /v1/capture, what the query parameters cannot say: {"webhook": {"url",
// "secret"}, "allowed_fields", "single_use"}; the other fields are not in
// it.
type GrantRequest struct {
	// Credentials open the vault key the grant writes for (vault grants).
	Credentials vault.Credentials `json:"-"`
	// Lock, when set, locks the grant to that item, which must exist.
	Lock *vault.ItemRef `json:"-"`
	// Owner and Terminal make a single-use-token grant (no Credentials).
	Owner    string `json:"-"`
	Terminal string `json:"-"`
	// UniqueID names the grant; "" generates an id. An id in use (until
	// the grant is deleted or swept after expiry) is refused.
	UniqueID string `json:"-"`
	// TTL is an ISO 8601 duration (see ParseDuration); "" means
	// Config.DefaultTTL, "P0T" or "0" never expires (only with
	// Config.AllowUnexpiring and no maximum).
	TTL string `json:"-"`
	// AllowedFields, when not nil, lists the only fields a capture may
	// carry (a hosted form's visible fields).
	AllowedFields []string `json:"allowed_fields"`
	// SingleUse grants accept one capture only.
	SingleUse bool `json:"single_use"`
	// Webhook, when set, is notified after each capture.
	Webhook *Webhook `json:"webhook"`
	// Idempotency, when set, makes the creation idempotent under its key:
	// the grant and the kept outcome commit together, and the same request
	// again gets the same grant, secret included (sealed under the key),
	// without creating another (see package idempotency).
	Idempotency *idempotency.Call `json:"-"`
}

// Grant is a new grant as its creator sees it once: the secret is not
// stored and cannot be recovered.
type Grant struct {
	ID     string
	Secret string
	// ExpiresAt is zero for a grant that never expires.
	ExpiresAt time.Time
	Lock      *vault.ItemRef
}

// Info describes a grant, without its secret.
type Info struct {
	ID            string
	Owner         string
	User          string // vault grants
	Terminal      string // single-use-token grants
	Lock          *vault.ItemRef
	AllowedFields []string
	SingleUse     bool
	Used          bool
	WebhookURL    string
	CreatedAt     time.Time
	ExpiresAt     time.Time // zero: never
}

// Expired reports whether the grant's lifetime is over at now.
func (i Info) Expired(now time.Time) bool {
	return !i.ExpiresAt.IsZero() && !now.Before(i.ExpiresAt)
}

type grantRecord struct {
	Owner         string         `json:"owner"`
	User          string         `json:"user,omitempty"`
	Terminal      string         `json:"terminal,omitempty"`
	SecretHash    []byte         `json:"secret_hash"`
	Recipient     []byte         `json:"recipient,omitempty"` // sealed under the secret; open grants only
	ItemKey       []byte         `json:"item_key,omitempty"`  // sealed under the secret
	Lock          *vault.ItemRef `json:"lock,omitempty"`
	AllowedFields []string       `json:"allowed_fields,omitempty"`
	SingleUse     bool           `json:"single_use,omitempty"`
	Used          bool           `json:"used,omitempty"`
	Deleted       bool           `json:"deleted,omitempty"`
	WebhookURL    string         `json:"webhook_url,omitempty"`
	WebhookSecret []byte         `json:"webhook_secret,omitempty"` // sealed under the secret
	Created       time.Time      `json:"created"`
	Expires       time.Time      `json:"expires,omitzero"`

	raw []byte // the stored bytes this was decoded from, if it was
}

func (r *grantRecord) info(id string) Info {
	return Info{
		ID: id, Owner: r.Owner, User: r.User, Terminal: r.Terminal, Lock: r.Lock,
		AllowedFields: r.AllowedFields, SingleUse: r.SingleUse, Used: r.Used,
		WebhookURL: r.WebhookURL, CreatedAt: r.Created, ExpiresAt: r.Expires,
	}
}

// subject is what a grant writes for: a vault user or a terminal.
func (r *grantRecord) subject() string {
	if r.Terminal != "" {
		return "terminal:" + r.Terminal
	}
	return "user:" + r.User
}

// sealContext binds what is sealed under a grant's secret to the grant and
// to its role, so a box cannot be moved to another grant or field.
func sealContext(id, role string) []byte {
	return []byte("capture.grant\x00" + id + "\x00" + role)
}

// ValidID reports whether id can name a grant: 1 to 128 characters from
// the URL-safe set [A-Za-z0-9._~-], so it is a path segment as it is.
func ValidID(id string) bool {
	if id == "" || len(id) > 128 || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '~' || c == '-') {
			return false
		}
	}
	return true
}

func getGrant(tx store.Tx, id string) (*grantRecord, error) {
	raw, err := getStored(tx, bucketGrants, []byte(id), ErrGrantNotFound)
	if err != nil {
		return nil, err
	}
	return decodeGrant(raw)
}

// ownedGrant returns owner's live grant id, for the account's own calls
// (Grant, DeleteGrant). Another account's grant, and a deleted grant's
// tombstone, answer ErrGrantNotFound as a missing grant does: an account
// learns nothing of ids that are not its own.
func ownedGrant(tx store.Tx, owner, id string) (*grantRecord, error) {
	rec, err := getGrant(tx, id)
	if err != nil {
		return nil, err
	}
	if rec.Deleted || rec.Owner != owner {
		return nil, ErrGrantNotFound
	}
	return rec, nil
}

// decodeGrant decodes a stored grant record, keeping a copy of its bytes.
func decodeGrant(raw []byte) (*grantRecord, error) {
	var r grantRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("capture: stored grant is corrupt: %w", err)
	}
	r.raw = bytes.Clone(raw) // the store's contract does not say it may be kept
	return &r, nil
}

// getGrantAgain returns the grant id as getGrant does, in a later
// transaction than the one prev was read in: when the stored bytes are
// still those prev was decoded from, it returns a copy of prev without
// decoding them again. A grant record is a few kilobytes of base64 in JSON,
// and a redemption reads it twice (to check the secret, then in the
// transaction that writes); the second decoding was a tenth of its CPU time.
func getGrantAgain(tx store.Tx, id string, prev *grantRecord) (*grantRecord, error) {
	raw, err := getStored(tx, bucketGrants, []byte(id), ErrGrantNotFound)
	if err != nil {
		return nil, err
	}
	if prev.raw != nil && bytes.Equal(raw, prev.raw) {
		cur := *prev
		return &cur, nil
	}
	return decodeGrant(raw)
}

func putGrant(tx store.Tx, id string, r *grantRecord) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Put(bucketGrants, []byte(id), raw)
}

func subjectKey(owner, subject, id string) []byte {
	return []byte(owner + "\x00" + subject + "\x00" + id)
}

// CreateGrant creates a grant. For a vault grant it checks the credentials
// (and the locked item) against the vault, and seals what the grant needs
// to write — the key's recipient, the item's data key — under the new
// secret, so that the database alone opens nothing.
func (s *Service) CreateGrant(ctx context.Context, req GrantRequest) (Grant, error) {
	var g Grant
	rec, id, secret, err := s.prepareGrant(ctx, req)
	if err != nil {
		return g, s.idem.Refuse(ctx, req.Idempotency, &g, err)
	}
	err = s.idem.Run(ctx, req.Idempotency, &g, func(tx store.Tx) error {
		old, err := getGrant(tx, id)
		switch {
		case err == nil && !old.Deleted:
			return ErrGrantExists
		case err == nil: // a tombstone: the id is free again
			if err := removeIndexes(tx, id, old); err != nil {
				return err
			}
		case !errors.Is(err, ErrGrantNotFound):
			return err
		}
		if err := tx.Delete(bucketFailures, []byte(id)); err != nil {
			return err
		}
		if err := putGrant(tx, id, rec); err != nil {
			return err
		}
		if err := tx.Put(bucketBySubj, subjectKey(rec.Owner, rec.subject(), id), nil); err != nil {
			return err
		}
		g = Grant{ID: id, Secret: secret, ExpiresAt: rec.Expires, Lock: rec.Lock}
		if !rec.Expires.IsZero() {
			if err := expiry.Set(tx, expiryGrant, []byte(id), rec.Expires); err != nil {
				return err
			}
		}
		return audit.RecordIn(ctx, s.cfg.Audit, tx, grantEvent(audit.OpCaptureCreated, id, rec))
	})
	return g, err
}

// prepareGrant checks a grant request and builds its record, sealing what
// the grant needs under a new secret.
func (s *Service) prepareGrant(ctx context.Context, req GrantRequest) (*grantRecord, string, string, error) {
	ttl, err := s.grantTTL(req)
	if err != nil {
		return nil, "", "", err
	}
	id := req.UniqueID
	if id == "" {
		id = crypto.NewID(16)
	}
	if !ValidID(id) {
		return nil, "", "", fmt.Errorf("%w: unique_id must be 1-128 characters of A-Z a-z 0-9 . _ ~ -", ErrInvalid)
	}
	if id == formSegment {
		return nil, "", "", fmt.Errorf("%w: unique_id %q is reserved for the hosted form routes", ErrInvalid, formSegment)
	}
	if err := checkFields(req.AllowedFields); err != nil {
		return nil, "", "", err
	}
	now := s.now().UTC()
	secret := crypto.NewSecret()
	hash := crypto.HashSecret(secret)
	rec := &grantRecord{
		SecretHash: hash[:], AllowedFields: req.AllowedFields, SingleUse: req.SingleUse, Created: now,
	}
	if ttl != 0 {
		rec.Expires = now.Add(ttl)
	}
	if req.Webhook != nil {
		if err := s.checkWebhook(req.Webhook); err != nil {
			return nil, "", "", err
		}
		rec.WebhookURL = req.Webhook.URL
		rec.WebhookSecret = crypto.SealWithSecret(secret, sealContext(id, "webhook"), []byte(req.Webhook.Secret))
	}

	switch {
	case req.Terminal != "":
		if req.Credentials != (vault.Credentials{}) || req.Lock != nil {
			return nil, "", "", fmt.Errorf("%w: a single-use-token grant takes a terminal, not a vault key", ErrInvalid)
		}
		if err := checkTerminal(req.Terminal); err != nil {
			return nil, "", "", err
		}
		rec.Owner, rec.Terminal = req.Owner, req.Terminal
	default:
		if req.Owner != "" && req.Owner != req.Credentials.Owner {
			return nil, "", "", fmt.Errorf("%w: Owner is for single-use-token grants; a vault grant's owner is its key's", ErrInvalid)
		}
		vg, err := s.vault.GrantFor(ctx, req.Credentials, req.Lock)
		if err != nil {
			return nil, "", "", err
		}
		rec.Owner, rec.User = vg.Owner, vg.User
		if vg.ItemKey != nil {
			// A locked grant opens its one item and nothing else: it does
			// not carry the key's recipient, which only an open grant uses
			// (and which, a hybrid post-quantum recipient, is two thirds
			// of a record every redemption decodes).
			rec.ItemKey = crypto.SealKeyWithSecret(secret, sealContext(id, "item"), vg.ItemKey)
			vg.ItemKey.Wipe()
			rec.Lock = vg.Item
		} else {
			rec.Recipient = crypto.SealWithSecret(secret, sealContext(id, "recipient"), []byte(vg.Recipient))
		}
	}

	return rec, id, secret, nil
}

// grantTTL is the lifetime req asks for (0: never expires), within the
// maxima that apply to it.
func (s *Service) grantTTL(req GrantRequest) (time.Duration, error) {
	max, what := s.cfg.MaxTTL, "a grant"
	if l := s.cfg.MaxLockedTTL; l != 0 && (req.Lock != nil || req.Terminal != "") && (max == 0 || l < max) {
		max, what = l, "a grant for existing data (locked to an item, or for single-use tokens)"
	}
	if req.TTL == "" {
		if max != 0 {
			return min(s.cfg.DefaultTTL, max), nil
		}
		return s.cfg.DefaultTTL, nil
	}
	ttl, err := ParseDuration(req.TTL)
	switch {
	case err != nil:
		return 0, err
	case max != 0 && (ttl == 0 || ttl > max):
		return 0, fmt.Errorf("%w: the longest %s may live is %v", ErrInvalidTTL, what, max)
	case ttl == 0 && !s.cfg.AllowUnexpiring:
		return 0, fmt.Errorf("%w: a grant that never expires is not allowed here; give a ttl such as PT10M", ErrInvalidTTL)
	}
	return ttl, nil
}

func checkFields(fields []string) error {
	if len(fields) > 64 {
		return fmt.Errorf("%w: at most 64 allowed fields", ErrInvalid)
	}
	for _, f := range fields {
		if f == "" || len(f) > 64 {
			return fmt.Errorf("%w: an allowed field name must be 1-64 bytes", ErrInvalid)
		}
	}
	return nil
}

// checkTerminal validates a processing terminal id with the one rule of
// the root package.
func checkTerminal(t string) error {
	if err := cardvault.CheckTerminalID(t); err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// Grant returns what is known of the grant id, which must belong to owner.
func (s *Service) Grant(ctx context.Context, owner, id string) (Info, error) {
	if !ValidID(id) {
		return Info{}, ErrGrantNotFound
	}
	var info Info
	err := s.st.View(ctx, func(tx store.Tx) error {
		rec, err := ownedGrant(tx, owner, id)
		if err != nil {
			return err
		}
		info = rec.info(id)
		return nil
	})
	return info, err
}

// DeleteGrant deletes the grant id, which must belong to owner. Its sealed
// key material goes at once; a tombstone keeps the id answering
// ErrDeleted until the grant would have expired (or a day, for grants that
// never expire), after which the sweeper removes it and the id is free.
func (s *Service) DeleteGrant(ctx context.Context, owner, id string) error {
	if !ValidID(id) {
		return ErrGrantNotFound
	}
	return s.st.Update(ctx, func(tx store.Tx) error {
		rec, err := ownedGrant(tx, owner, id)
		if err != nil {
			return err
		}
		if err := removeIndexes(tx, id, rec); err != nil {
			return err
		}
		tomb := &grantRecord{Owner: rec.Owner, SecretHash: rec.SecretHash, Deleted: true, Created: rec.Created, Expires: rec.Expires}
		now := s.now().UTC()
		if tomb.Expires.IsZero() || tomb.Expires.Sub(now) > 24*time.Hour {
			tomb.Expires = now.Add(24 * time.Hour)
		}
		if err := putGrant(tx, id, tomb); err != nil {
			return err
		}
		if err := expiry.Set(tx, expiryGrant, []byte(id), tomb.Expires); err != nil {
			return err
		}
		return audit.RecordIn(ctx, s.cfg.Audit, tx, grantEvent(audit.OpCaptureDeleted, id, rec))
	})
}

// removeIndexes deletes a grant's index entries (not the grant itself).
func removeIndexes(tx store.Tx, id string, rec *grantRecord) error {
	if !rec.Deleted {
		if err := tx.Delete(bucketBySubj, subjectKey(rec.Owner, rec.subject(), id)); err != nil {
			return err
		}
	}
	if !rec.Expires.IsZero() {
		return expiry.Clear(tx, expiryGrant, []byte(id), rec.Expires)
	}
	return nil
}

// ListGrants returns the live grants of owner's vault key for user (or, with
// terminal set instead, of that terminal's single-use-token grants), in id
// order, up to limit (at most 1000) after the id after.
func (s *Service) ListGrants(ctx context.Context, owner, user, terminal, after string, limit int) ([]Info, error) {
	subject := "user:" + user
	if terminal != "" {
		subject = "terminal:" + terminal
	}
	prefix := subjectKey(owner, subject, "")
	var last []byte
	if after != "" {
		last = subjectKey(owner, subject, after)
	}
	limit = cardvault.PageSize(limit)
	var out []Info
	err := s.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		return tx.Scan(bucketBySubj, store.PageAfter(prefix, last, limit), func(k, _ []byte) error {
			id := string(k[len(prefix):])
			rec, err := getGrant(tx, id)
			if err != nil {
				return err
			}
			out = append(out, rec.info(id))
			return nil
		})
	})
	return out, err
}

// sweepGrant is package expiry's Func for grants: it deletes the grant id
// (or its tombstone) with its sealed key material and its indexes, unless
// the id names a grant created since.
func sweepGrant(tx store.Tx, key []byte, at time.Time) (bool, error) {
	id := string(key)
	rec, err := getGrant(tx, id)
	if errors.Is(err, ErrGrantNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !rec.Expires.Equal(at) {
		return false, nil // an entry left behind by an older grant of this id
	}
	if !rec.Deleted {
		if err := tx.Delete(bucketBySubj, subjectKey(rec.Owner, rec.subject(), id)); err != nil {
			return false, err
		}
	}
	if err := tx.Delete(bucketGrants, key); err != nil {
		return false, err
	}
	return true, tx.Delete(bucketFailures, key)
}

// sweepFailures is package expiry's Func for failure counters: a counter
// with no grant under its key (a decoy's, or one left by a grant that went)
// goes a day after its last failure; a grant's goes with the grant.
func sweepFailures(tx store.Tx, key []byte, at time.Time) (bool, error) {
	if _, err := tx.Get(bucketGrants, key); err == nil {
		return false, nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return false, err
	}
	return sweepFailureCounter(tx, key, at)
}

// sweepFailureCounter removes a failure counter unless it failed again
// since: a later entry removes it then.
var sweepFailureCounter = expiry.RemoveValue(bucketFailures, func(raw []byte, at time.Time) bool {
	var f failureRecord
	return json.Unmarshal(raw, &f) != nil || f.Last.Add(failureTTL).Equal(at)
})

// failureTTL is how long a failure counter outlives its last failure.
const failureTTL = 24 * time.Hour

func init() {
	expiry.Handle(expiryGrant, sweepGrant)
	expiry.Handle(expiryFailures, sweepFailures)
}

// migrateExpiry moves the entries of the expiry indexes capture kept
// before package expiry (capture.expiry, capture.singleuse.expiry: big-
// endian unix nanoseconds ‖ key) into package expiry's index, once, so that
// what a store held before an upgrade is still swept.
func migrateExpiry(ctx context.Context, st *store.Store) error {
	for old, kind := range map[string]string{oldBucketExpiry: expiryGrant, oldBucketSUExpiry: expirySingleUse} {
		for {
			more := false
			err := st.Update(ctx, func(tx store.Tx) error {
				more = false
				n := 0
				return tx.Scan(old, store.Range{Limit: expiry.BatchSize}, func(k, _ []byte) error {
					n++
					more = n == expiry.BatchSize
					if err := tx.Delete(old, k); err != nil {
						return err
					}
					if len(k) <= 8 {
						return nil
					}
					at := time.Unix(0, int64(binary.BigEndian.Uint64(k[:8]))).UTC()
					return expiry.Set(tx, kind, k[8:], at)
				})
			})
			if err != nil {
				return fmt.Errorf("capture: moving %s to the expiry index: %w", old, err)
			}
			if !more {
				break
			}
		}
	}
	return nil
}

// getFailures returns the wrong-secret counter stored under key (zero when
// none).
func getFailures(tx store.Tx, key []byte) (failureRecord, error) {
	var f failureRecord
	raw, err := tx.Get(bucketFailures, key)
	if errors.Is(err, store.ErrNotFound) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return f, fmt.Errorf("capture: stored failure counter is corrupt: %w", err)
	}
	return f, nil
}

// failureRecord is the lockout state of a grant id: stored for an id that
// has a grant, kept in memory for one that has none.
type failureRecord struct {
	N     int       `json:"n"`               // wrong secrets since the last lock
	Last  time.Time `json:"last"`            // the last wrong secret
	Locks int       `json:"locks,omitempty"` // locks so far
	Until time.Time `json:"until,omitzero"`  // the latest lock lifts then
}

// maxLockDelay caps a lock's length; it is failureTTL, so that a counter
// never expires while its lock holds.
const maxLockDelay = failureTTL

// lockedAt reports whether the id is locked at now.
func (f failureRecord) lockedAt(now time.Time) bool { return now.Before(f.Until) }

// fail counts a wrong secret at now: the max-th since the last lock locks
// the id for delay, doubled for each lock before it, up to maxLockDelay. A
// counter whose last failure is a day old is forgiven first: its locks
// start again from delay.
func (f *failureRecord) fail(now time.Time, max int, delay time.Duration) {
	if !f.Last.IsZero() && !now.Before(f.Last.Add(failureTTL)) {
		*f = failureRecord{}
	}
	f.N++
	f.Last = now
	if f.N < max {
		return
	}
	f.N = 0
	f.Locks++
	d := delay
	for i := 1; i < f.Locks && d < maxLockDelay; i++ {
		d *= 2
	}
	f.Until = now.Add(min(d, maxLockDelay))
}
