// Package idempotency keeps the outcome of a request under the key its
// client sent with it, in the same store transaction as the request's own
// work, so that a request sent again gets the first outcome instead of
// running twice — across retries, crashes and processes.
//
// # The contract
//
// A [Call] names a request: the principal that sends it (an API key's id:
// keys of two principals never meet), the client's key, and a fingerprint
// of the request (its method, path and body, say). [Keeper.Run] runs the
// request's work for a call in one transaction that
//
//  1. looks the key up: an outcome kept for the same request is the answer,
//     and the work does not run ([Call.Replayed]); one kept for another
//     request is [ErrKeyInUse];
//  2. otherwise runs the work, and keeps its outcome with its writes, so
//     that the work and its record commit together or not at all.
//
// A request that fails with an error of one of the root package's kinds —
// the client's fault: invalid, not found, conflict, ... — is kept too, its
// writes undone, in a transaction of its own: the same request gets the
// same refusal. A failure of no kind (the storage, a deadline) is not kept,
// and the client's retry runs the work again. Because the store's
// transactions are serializable, concurrent requests with one key run the
// work once: the others see its record and return its outcome, with no
// polling.
//
// Outcomes are bytes. [Call.Encode] turns the work's result and error into
// them — the reference server renders the HTTP response there, as a
// [Response], so that a replay is byte-identical — and by default [EncodeJSON] keeps the result's
// JSON and the error's kind, message and fields, which Run decodes again on
// a replay ([DecodeJSON]).
//
// # At rest
//
// A record is named by a hash of the principal and the key, and holds its
// expiry and, sealed under a key derived from the principal and the client's
// key (a UUID v4 has 122 random bits), the fingerprint and the outcome: the
// store alone tells neither what was asked nor what was answered, and the
// outcome may hold a single-use token. Records are kept [Config.TTL] (24
// hours by default) and removed by package expiry's sweeper (kind
// "idempotency").
package idempotency

import (
	"context"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/expiry"
	"github.com/cardvault/cardvault/store"
)

// ErrKeyInUse: the key was used with another request (another fingerprint)
// by the same principal.
var ErrKeyInUse = fmt.Errorf("idempotency: the key was used for another request: %w", cardvault.ErrConflict)

// DefaultTTL is how long an outcome is kept unless Config.TTL says
// otherwise.
const DefaultTTL = 24 * time.Hour

// MaxKeyLen and MaxRequestLen bound a Call's Key and Request.
const (
	MaxKeyLen     = 255
	MaxRequestLen = 1024
)

const (
	bucket     = "idempotency"
	expiryKind = "idempotency"
	version    = 1
)

// Config configures a Keeper.
type Config struct {
	// TTL is how long an outcome is kept: DefaultTTL when zero.
	TTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Keeper keeps outcomes in a store. It is safe for concurrent use, and
// several processes may share its store.
type Keeper struct {
	st  *store.Store
	ttl time.Duration
	now func() time.Time
}

// New returns a Keeper over st.
func New(st *store.Store, cfg Config) *Keeper {
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Keeper{st: st, ttl: cfg.TTL, now: cfg.Now}
}

// Call makes one request idempotent. Principal, Key and Request are the
// caller's; Run sets Outcome and Replayed.
type Call struct {
	// Principal is who sends the request; keys are scoped per principal.
	Principal string
	// Key is the client's idempotency key: 1 to MaxKeyLen bytes, and
	// unguessable (it seals the outcome).
	Key string
	// Request is a fingerprint of the request: the same Key with another
	// Request is ErrKeyInUse. At most MaxRequestLen bytes.
	Request []byte
	// Encode turns the work's outcome — its result (the pointer given to
	// Run) and the error it ended with, nil or of one of the root
	// package's kinds — into the bytes kept. It runs inside the
	// transaction, and may run more than once. Nil means EncodeJSON, and
	// a replay decodes the kept bytes into the result again; with an
	// Encode of its own, a replay leaves the result alone and returns
	// nil: the caller answers with Outcome.
	Encode func(result any, err error) ([]byte, error)

	// Outcome is what is kept for the request, once Run returns: the
	// encoding of this run's outcome, or of the first run's on a replay.
	// It is nil when the work failed in a way that is not kept, and
	// whenever Run returns the store's error (a commit that failed, or
	// whose outcome is unknown): then nothing is known to be kept, and an
	// answer rendered from it would acknowledge a write that may not be.
	Outcome []byte
	// Replayed reports that the work did not run: Outcome is a kept one.
	Replayed bool
}

func (c *Call) check() error {
	if c.Key == "" || len(c.Key) > MaxKeyLen || len(c.Request) > MaxRequestLen {
		return fmt.Errorf("idempotency: the key must be 1 to %d bytes and the request fingerprint at most %d: %w", MaxKeyLen, MaxRequestLen, cardvault.ErrInvalid)
	}
	return nil
}

// secret is what seals the record: the principal and the key.
func (c *Call) secret() string { return c.Principal + "\x00" + c.Key }

// id is the record's store key.
func (c *Call) id() []byte {
	h := crypto.HashSecret("cardvault idempotency\x00" + c.secret())
	return h[:]
}

func sealContext(id []byte) []byte { return append([]byte("idempotency\x00"), id...) }

// errRolledBack ends the first transaction of a run whose work failed with
// a kept error: its writes go, the outcome is kept in a second one.
var errRolledBack = errors.New("idempotency: work failed")

// Run runs work for call as the package documentation says, in one
// transaction of the Keeper's store (two when the work fails with an error
// that is kept), and returns the work's error — or, on a replay with the
// default encoding, the kept one. result is where the work puts its result
// (a pointer): Encode reads it, and a replay with the default encoding
// fills it. A nil call runs work in a plain Update. work may run more than
// once (see store.Store.Update); it must only write through tx and
// overwrite result each time.
func (k *Keeper) Run(ctx context.Context, call *Call, result any, work func(tx store.Tx) error) error {
	if call == nil {
		return k.st.Update(ctx, work)
	}
	if err := call.check(); err != nil {
		return err
	}
	encode := call.Encode
	if encode == nil {
		encode = EncodeJSON
	}
	id := call.id()
	var workErr error
	err := k.st.Update(ctx, func(tx store.Tx) error {
		workErr = nil
		return k.replayOrKeep(tx, call, id, func() ([]byte, error) {
			if workErr = work(tx); workErr != nil {
				return nil, errRolledBack
			}
			return encode(result, nil)
		})
	})
	switch {
	case errors.Is(err, errRolledBack) && cardvault.KindOf(workErr) != nil:
		err = k.keepFailure(ctx, call, id, result, encode, workErr)
	case errors.Is(err, errRolledBack):
		return workErr
	}
	if err != nil {
		// The outcome was rendered inside a transaction that did not
		// commit, or whose commit is unknown: it is no answer. A caller
		// that sent it would acknowledge a write that may never be.
		call.Outcome, call.Replayed = nil, false
		return err
	}
	if call.Replayed && call.Encode == nil {
		return DecodeJSON(call.Outcome, result)
	}
	if !call.Replayed && workErr != nil {
		return workErr
	}
	return nil
}

// Refuse answers a request that failed with err before its work could run
// (a body that does not parse, say): when err is the client's fault it is
// kept under call like a failure of the work, so that the same request
// gets the same answer — or, on a replay, the outcome kept for it. A nil
// call, or an error of no kind, is returned as it is.
func (k *Keeper) Refuse(ctx context.Context, call *Call, result any, err error) error {
	if call == nil || cardvault.KindOf(err) == nil {
		return err
	}
	return k.Run(ctx, call, result, func(store.Tx) error { return err })
}

// keepFailure keeps the outcome of work that failed with a kept error, in
// a transaction of its own, unless a concurrent request kept one first.
func (k *Keeper) keepFailure(ctx context.Context, call *Call, id []byte, result any, encode func(any, error) ([]byte, error), workErr error) error {
	return k.st.Update(ctx, func(tx store.Tx) error {
		return k.replayOrKeep(tx, call, id, func() ([]byte, error) { return encode(result, workErr) })
	})
}

// replayOrKeep is the step both of Run's transactions take: the outcome
// kept under call's key, if there is one, is the call's (a replay);
// otherwise outcome makes the call's outcome, kept in tx.
func (k *Keeper) replayOrKeep(tx store.Tx, call *Call, id []byte, outcome func() ([]byte, error)) error {
	call.Outcome, call.Replayed = nil, false
	rec, err := k.lookup(tx, call, id)
	if err != nil || rec.found {
		call.Outcome, call.Replayed = rec.outcome, rec.found
		return err
	}
	out, err := outcome()
	if err != nil {
		return err
	}
	call.Outcome = out
	return k.keep(tx, call, id, rec, out)
}

// record is what lookup found.
type record struct {
	found   bool
	outcome []byte
	expires time.Time // of a stored record, live or not (zero: none)
}

// A stored record: version byte, expiry (big-endian unix nanoseconds), and
// the sealed content: uvarint length of the fingerprint, the fingerprint,
// the outcome.
func (k *Keeper) lookup(tx store.Tx, call *Call, id []byte) (record, error) {
	raw, err := tx.Get(bucket, id)
	if errors.Is(err, store.ErrNotFound) {
		return record{}, nil
	}
	if err != nil {
		return record{}, err
	}
	if len(raw) < 9 || raw[0] != version {
		return record{}, fmt.Errorf("idempotency: a stored record is corrupt")
	}
	rec := record{expires: time.Unix(0, int64(binary.BigEndian.Uint64(raw[1:9])))}
	if !k.now().Before(rec.expires) {
		return rec, nil // expired: the key is free again
	}
	plain, err := crypto.OpenWithSecret(call.secret(), sealContext(id), raw[9:])
	if err != nil {
		return record{}, fmt.Errorf("idempotency: a stored record does not open: %w", err)
	}
	n, w := binary.Uvarint(plain)
	if w <= 0 || uint64(len(plain)-w) < n {
		return record{}, fmt.Errorf("idempotency: a stored record is corrupt")
	}
	fp := plain[w : w+int(n)]
	if subtle.ConstantTimeCompare(fp, call.Request) != 1 {
		return record{}, ErrKeyInUse
	}
	rec.found, rec.outcome = true, plain[w+int(n):]
	return rec, nil
}

// keep stores the outcome of call, replacing an expired record old.
func (k *Keeper) keep(tx store.Tx, call *Call, id []byte, old record, outcome []byte) error {
	if !old.expires.IsZero() {
		if err := expiry.Clear(tx, expiryKind, id, old.expires); err != nil {
			return err
		}
	}
	expires := k.now().Add(k.ttl)
	plain := binary.AppendUvarint(nil, uint64(len(call.Request)))
	plain = append(plain, call.Request...)
	plain = append(plain, outcome...)
	raw := []byte{version}
	raw = binary.BigEndian.AppendUint64(raw, uint64(expires.UnixNano()))
	raw = append(raw, crypto.SealWithSecret(call.secret(), sealContext(id), plain)...)
	clear(plain)
	if err := tx.Put(bucket, id, raw); err != nil {
		return err
	}
	return expiry.Set(tx, expiryKind, id, expires)
}

func init() {
	// A record kept again since has an entry of its own.
	expiry.Handle(expiryKind, expiry.RemoveValue(bucket, func(raw []byte, at time.Time) bool {
		return len(raw) >= 9 && int64(binary.BigEndian.Uint64(raw[1:9])) == at.UnixNano()
	}))
}
