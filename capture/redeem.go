package capture

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"strings"
	"time"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/internal/jsonx"
	"github.com/cardvault/cardvault/store"
	"github.com/cardvault/cardvault/vault"
)

// maxSecretLen bounds a presented secret: real ones are crypto.SecretLen.
const maxSecretLen = 256

// Result is what a capture answers.
type Result struct {
	Owner string
	// User and Item are set for a vault grant: the key written for and
	// the item stored or updated.
	User string
	Item vault.ItemRef
	// SingleUse is set for a single-use-token grant.
	SingleUse *SingleUseToken
}

// dummyHash stands in for a stored secret hash that cannot be read: no
// secret matches it.
var dummyHash = crypto.HashSecret(crypto.NewSecret())

// Redeem posts the JSON object body to the grant id, proving the right to
// do so with secret:
//
//   - an open vault grant stores body as a new item (its top-level
//     "reference", if any, names the item and is not stored);
//   - a locked vault grant merges body into its item under the vault's
//     merge rules (the number is immutable);
//   - a single-use-token grant mints a single-use token for body.
//
// The secret is checked in constant time against the stored hash. Every
// wrong secret — and every secret presented for an id that has no grant —
// counts against the id, and after Config.MaxFailures the id is locked: it
// answers a [LockedError] to everyone, the right secret included, until
// the lock lifts (see [Config.LockDelay]), so secrets cannot be guessed.
// The lock is checked and the failure counted in one transaction, so that
// concurrent wrong secrets count exactly up to the limit, and the
// transaction that writes a capture checks it again. Unknown ids and wrong
// secrets take the same path and cost the same store work, but an unknown
// id's count is kept in memory only (see the package documentation); the
// errors differ (ErrGrantNotFound, ErrWrongSecret) for the library user,
// but a server should answer both the same way. A single-use grant is used
// up in the same transaction that writes, so it writes exactly once however
// many requests race for it.
//
// A capture refused for its endpoint (a wrong secret, an unknown id, an
// expired, used or locked endpoint) is noted in the audit trail; one that
// writes is recorded in the transaction of the write.
func (s *Service) Redeem(ctx context.Context, id, secret string, body []byte) (Result, error) {
	res, err := s.redeem(ctx, id, secret, body)
	if reason := refusal(err); reason != "" {
		e := audit.Event{Op: audit.OpCaptureRefused, Outcome: audit.OutcomeRefused, Reason: reason}
		if ValidID(id) {
			e.Endpoint = id
		}
		audit.NoteTo(ctx, s.cfg.Audit, e)
	}
	return res, err
}

func (s *Service) redeem(ctx context.Context, id, secret string, body []byte) (Result, error) {
	rec, err := s.authenticate(ctx, id, secret)
	if err != nil {
		return Result{}, err
	}
	if err := rec.usable(s.now()); err != nil {
		return Result{}, err
	}
	if err := checkBody(body, s.vault.MaxItemSize()); err != nil {
		return Result{}, err
	}
	r := redemption{s: s, id: id, secret: secret, rec: rec}
	if rec.WebhookURL != "" {
		if r.webhookSecret, err = crypto.OpenWithSecret(secret, sealContext(id, "webhook"), rec.WebhookSecret); err != nil {
			return Result{}, fmt.Errorf("capture: the grant's sealed webhook secret: %w", err)
		}
		defer clear(r.webhookSecret)
	}
	res := Result{Owner: rec.Owner, User: rec.User}
	switch {
	case rec.Terminal != "":
		su, err := r.mintSingleUse(ctx, body)
		if err != nil {
			return Result{}, err
		}
		res.SingleUse = &su
	case rec.Lock != nil:
		if err := r.updateItem(ctx, body); err != nil {
			return Result{}, err
		}
		res.Item = *rec.Lock
	default:
		if res.Item, err = r.storeItem(ctx, body); err != nil {
			return Result{}, err
		}
	}
	return res, nil
}

// redemption is one capture under a grant whose secret was checked: what
// opens the grant's sealed keys and what the write's transaction does
// with the grant.
type redemption struct {
	s             *Service
	id, secret    string
	rec           *grantRecord
	webhookSecret []byte // opened; nil if the grant has no webhook
}

// mintSingleUse mints a single-use token for body (a single-use-token
// grant).
func (r *redemption) mintSingleUse(ctx context.Context, body []byte) (SingleUseToken, error) {
	return r.s.mintFromGrant(ctx, r.rec.Terminal, body, r.rec.AllowedFields, func(tx store.Tx) error {
		return r.within(ctx, tx, vault.ItemRef{}, nil)
	})
}

// updateItem merges body into the item of a locked vault grant, under the
// item key the grant keeps sealed.
func (r *redemption) updateItem(ctx context.Context, body []byte) error {
	dk, err := crypto.OpenKeyWithSecret(r.secret, sealContext(r.id, "item"), r.rec.ItemKey)
	if err != nil {
		return fmt.Errorf("capture: the grant's sealed item key: %w", err)
	}
	defer dk.Wipe()
	doc, err := stripReference(body, r.rec.Lock.Reference)
	if err != nil {
		return err
	}
	merged, _, err := r.s.vault.UpdateWithKey(ctx, r.rec.Owner, r.rec.User, *r.rec.Lock, dk, doc,
		vault.UpdateOptions{AllowedFields: r.rec.AllowedFields, Within: r.withinFunc(ctx)})
	clear(merged)
	return err
}

// storeItem stores body as a new item for the user of an open vault
// grant, under the body's "reference" if it has one.
func (r *redemption) storeItem(ctx context.Context, body []byte) (vault.ItemRef, error) {
	recipient, err := crypto.OpenWithSecret(r.secret, sealContext(r.id, "recipient"), r.rec.Recipient)
	if err != nil {
		return vault.ItemRef{}, fmt.Errorf("capture: the grant's sealed recipient: %w", err)
	}
	ref := ""
	if v := gjson.GetBytes(body, "reference"); v.Type == gjson.String {
		ref = v.Str
	}
	doc, err := stripReference(body, ref)
	if err != nil {
		return vault.ItemRef{}, err
	}
	return r.s.vault.StoreForRecipient(ctx, r.rec.Owner, r.rec.User, string(recipient), doc,
		vault.TokenizeOptions{Reference: ref, AllowedFields: r.rec.AllowedFields, Within: r.withinFunc(ctx)})
}

// withinFunc is within as the vault's write options take it.
func (r *redemption) withinFunc(ctx context.Context) func(store.Tx, vault.ItemRef, []byte) error {
	return func(tx store.Tx, item vault.ItemRef, doc []byte) error { return r.within(ctx, tx, item, doc) }
}

// within runs in the transaction that writes the capture: it uses the
// grant up (single use) and queues its webhook, so that both commit with
// the write or not at all. It refuses an id locked since its secret was
// checked: wrong secrets that raced this post win.
func (r *redemption) within(ctx context.Context, tx store.Tx, item vault.ItemRef, doc []byte) error {
	cur, err := getGrantAgain(tx, r.id, r.rec)
	if err != nil {
		return err
	}
	if !bytes.Equal(cur.SecretHash, r.rec.SecretHash) {
		return ErrGrantNotFound // deleted and re-created meanwhile
	}
	if err := cur.usable(r.s.now()); err != nil {
		return err
	}
	f, err := getFailures(tx, []byte(r.id))
	if err != nil {
		return err
	}
	if now := r.s.now(); f.lockedAt(now) {
		return &LockedError{Until: f.Until}
	}
	if cur.SingleUse {
		cur.Used = true
		if err := putGrant(tx, r.id, cur); err != nil {
			return err
		}
	}
	if r.webhookSecret != nil && doc != nil {
		if err := r.s.enqueueWebhook(tx, r.rec.Owner, r.id, r.rec.User, item, doc, r.rec.WebhookURL, string(r.webhookSecret)); err != nil {
			return err
		}
	}
	e := grantEvent(audit.OpCaptureRedeemed, r.id, r.rec)
	e.Token, e.Reference = item.Token, item.Reference
	return audit.RecordIn(ctx, r.s.cfg.Audit, tx, e)
}

// Check verifies secret for the grant id as Redeem does and returns the
// grant's description, or why it cannot be used (a locked id included). A
// hosted form page calls it to show "expired" before anyone types. It
// counts nothing: loading a page is not a capture, and a page anyone can
// load must not be a way to lock an endpoint.
func (s *Service) Check(ctx context.Context, id, secret string) (Info, error) {
	rec, _, err := s.verify(ctx, id, secret)
	if err != nil {
		return Info{}, err
	}
	return rec.info(id), rec.usable(s.now())
}

// authenticate returns the grant id if secret opens it, and counts a
// failure against id otherwise.
func (s *Service) authenticate(ctx context.Context, id, secret string) (*grantRecord, error) {
	rec, known, err := s.verify(ctx, id, secret)
	if errors.Is(err, ErrWrongSecret) || errors.Is(err, ErrGrantNotFound) && ValidID(id) {
		return nil, s.countFailure(ctx, id, known)
	}
	return rec, err
}

// verify returns the grant id if secret opens it and id is not locked,
// and whether id has a grant; the error is ErrGrantNotFound,
// ErrWrongSecret or a LockedError otherwise.
//
// The secret is checked against the hash read straight out of the stored
// record, and the record is decoded only once the secret matched, so that
// an unknown id costs what a wrong secret costs: both read a hash out of a
// record of the same shape (an unknown id's is dummyRecord) and a failure
// counter (an unknown id's is a decoy's), and compare in constant time.
// Decoding a real record first made a wrong secret about a third slower
// than an unknown id in process — enough to tell, over enough tries, which
// ids exist (internal/reliability's TestCaptureTimingDoesNotTell).
func (s *Service) verify(ctx context.Context, id, secret string) (*grantRecord, bool, error) {
	if !ValidID(id) {
		return nil, false, ErrGrantNotFound
	}
	var raw []byte
	var f failureRecord
	known := true
	err := s.st.View(ctx, func(tx store.Tx) error {
		var err error
		key := []byte(id)
		if raw, err = tx.Get(bucketGrants, key); errors.Is(err, store.ErrNotFound) {
			raw, known, key = bytes.Clone(dummyRecord), false, decoyKey() // as a store's Get copies
		} else if err != nil {
			return err
		}
		f, err = getFailures(tx, key)
		return err
	})
	if err != nil {
		return nil, known, err
	}
	// Both kinds look in memory, so that both cost the same; only an
	// unknown id's count is there.
	if mem, _ := s.unknown.Get(id); !known {
		f = mem
	}
	if now := s.now(); f.lockedAt(now) {
		return nil, known, &LockedError{Until: f.Until}
	}
	want := storedSecretHash(raw)
	if len(secret) <= maxSecretLen && want.Verify(secret) && known {
		rec, err := decodeGrant(raw)
		return rec, true, err
	}
	if !known {
		return nil, false, ErrGrantNotFound
	}
	return nil, true, ErrWrongSecret
}

// countFailure counts a wrong secret against id, in the transaction that
// checks the lock again: of concurrent wrong secrets, exactly as many as
// the limit are counted, and the others find the id locked.
//
// An id with a grant keeps its counter in the store (bucket
// capture.failures), so that the lock holds across processes and restarts
// and goes with the grant. An unknown id leaves no record: its counter is
// kept in memory (s.unknown), while the transaction does the store work a
// known id's does — it reads and rewrites one of a few decoy counters with
// its expiry entry, records of the same shape under keys no id can have —
// so that the two cost the same, and a flood of random ids grows nothing.
func (s *Service) countFailure(ctx context.Context, id string, known bool) error {
	now := s.now().UTC()
	key := []byte(id)
	if !known {
		key = decoyKey()
	}
	var locked time.Time
	err := s.st.Update(ctx, func(tx store.Tx) error {
		locked = time.Time{}
		f, err := getFailures(tx, key)
		if err != nil {
			return err
		}
		if known && f.lockedAt(now) {
			locked = f.Until
			return nil
		}
		old := f
		if known {
			f.fail(now, s.cfg.MaxFailures, s.cfg.LockDelay)
		} else {
			f = failureRecord{N: 1 + mathrand.IntN(s.cfg.MaxFailures), Last: now}
		}
		if !old.Last.IsZero() {
			if err := expiry.Clear(tx, expiryFailures, key, old.Last.Add(failureTTL)); err != nil {
				return err
			}
		}
		if err := putJSON(tx, bucketFailures, key, f); err != nil {
			return err
		}
		if err := expiry.Set(tx, expiryFailures, key, f.Last.Add(failureTTL)); err != nil {
			return err
		}
		if known && f.lockedAt(now) {
			return s.recordLock(ctx, tx, id)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The in-memory count of an unknown id; for a known one, the same
	// look-up drops what the id may have counted before it had a grant.
	s.unknown.Update(id, func(f *failureRecord, _ bool) bool {
		if known {
			return false
		}
		if f.lockedAt(now) {
			locked = f.Until
		} else {
			f.fail(now, s.cfg.MaxFailures, s.cfg.LockDelay)
		}
		return true
	})
	switch {
	case !locked.IsZero():
		return &LockedError{Until: locked}
	case !known:
		return ErrGrantNotFound
	}
	return ErrWrongSecret
}

// recordLock records, in the transaction that counted the failure that
// locked it, that the grant id is locked. Only then does a failure read
// the grant (for its owner): once per lock, not once per guess.
func (s *Service) recordLock(ctx context.Context, tx store.Tx, id string) error {
	e := audit.Event{Op: audit.OpCaptureLocked, Outcome: audit.OutcomeOK, Endpoint: id}
	if rec, err := getGrant(tx, id); err == nil {
		e = grantEvent(audit.OpCaptureLocked, id, rec)
	} else if !errors.Is(err, ErrGrantNotFound) {
		return err
	}
	return audit.RecordIn(ctx, s.cfg.Audit, tx, e)
}

// decoyFirst are the first bytes of the decoy failure counters' keys, one
// counter each: the alphabet of generated grant ids.
const decoyFirst = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// decoyKey is the store key of a decoy failure counter, picked at random
// for each unknown id's failure: a first byte of an id, then a NUL, which
// no grant id holds. So the decoys sort among the ids' counters, as a new
// id's would: a store that keeps its keys sorted (memstore's slice,
// bbolt's pages) does the same work for either — with the decoys all at
// one end, an unknown id was measurably cheaper or dearer than a wrong
// secret (TestCaptureTimingDoesNotTell).
func decoyKey() []byte {
	return []byte{decoyFirst[mathrand.IntN(len(decoyFirst))], 0, 'd', 'e', 'c', 'o', 'y'}
}

// dummyRecord stands in for the record of an id that has no grant: a
// locked grant's record with a random secret hash, which no secret opens.
var dummyRecord = func() []byte {
	h := crypto.HashSecret(crypto.NewSecret())
	raw, _ := json.Marshal(&grantRecord{
		Owner: "dummy-owner", User: "dummy-user", SecretHash: h[:], ItemKey: make([]byte, 90),
		Lock: &vault.ItemRef{Token: strings.Repeat("0", 64), Reference: "dummy-reference"}, Created: time.Now().UTC(),
	})
	return raw
}()

// storedSecretHash reads the secret hash out of a stored grant record
// without decoding the rest; a record without a readable one gives a hash
// no secret matches.
func storedSecretHash(raw []byte) crypto.SecretHash {
	b, err := base64.StdEncoding.DecodeString(gjson.GetBytes(raw, "secret_hash").Str)
	if err != nil {
		return dummyHash
	}
	h, err := crypto.ParseSecretHash(b)
	if err != nil {
		return dummyHash
	}
	return h
}

// usable says why a grant whose secret was right cannot be used, if so.
func (r *grantRecord) usable(now time.Time) error {
	switch {
	case r.Deleted:
		return ErrDeleted
	case !r.Expires.IsZero() && !now.Before(r.Expires):
		return ErrExpired
	case r.SingleUse && r.Used:
		return ErrUsed
	}
	return nil
}

// checkBody refuses a capture body that is not one strict JSON object
// within the vault's item size limit (max), before anything reads it.
func checkBody(body []byte, max int) error {
	err := jsonx.Check(body, jsonx.Limits{MaxBytes: max, MaxDepth: 32})
	if errors.Is(err, jsonx.ErrTooLarge) {
		return fmt.Errorf("%w: the body is %d bytes, at most %d", ErrTooLarge, len(body), max)
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if !gjson.ParseBytes(body).IsObject() {
		return fmt.Errorf("%w: the body must be a JSON object", ErrInvalid)
	}
	return nil
}

// stripReference removes a top-level "reference" from a capture body: it
// addresses the item and is not part of it. For a locked grant (want set),
// a reference that names another item is refused.
func stripReference(body []byte, want string) ([]byte, error) {
	r := gjson.GetBytes(body, "reference")
	if !r.Exists() {
		return body, nil
	}
	if r.Type != gjson.String {
		return nil, fmt.Errorf("%w: reference must be a string", ErrInvalid)
	}
	if want != "" && r.Str != want {
		return nil, fmt.Errorf("%w: this grant is locked to another reference", ErrInvalid)
	}
	return sjson.DeleteBytes(body, "reference")
}
