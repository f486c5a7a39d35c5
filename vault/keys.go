package vault

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/cardvault/cardvault"
	"github.com/cardvault/cardvault/audit"
	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store"
)

// Credentials name a vault key and open it.
//
// Their JSON is the vault/capture API's {"user", "passphrase"}: the body of
// POST /v1/key (see [KeyRequest]) and what it and PUT /v1/key answer. The
// owner is never in it: it is the authenticated account.
type Credentials struct {
	// Owner is the account the key belongs to; "" is a valid owner for a
	// single-tenant library user.
	Owner string `json:"-"`
	// User names the key within its owner.
	User string `json:"user"`
	// Passphrase unlocks it. It is never stored.
	Passphrase string `json:"passphrase"`
}

// keyRecord is what is stored for a vault key.
type keyRecord struct {
	Recipient  string    `json:"recipient"` // public half, for capture
	Locked     []byte    `json:"locked"`    // private half under the passphrase (age scrypt)
	WrappedKEK []byte    `json:"kek"`       // the key's KEK wrapped for the recipient
	Created    time.Time `json:"created"`
}

func keyStoreKey(owner, user string) []byte {
	return append(append([]byte(owner), 0), user...)
}

func getKeyRecord(tx store.Tx, owner, user string) (*keyRecord, error) {
	raw, err := getRawKeyRecord(tx, owner, user)
	if err != nil {
		return nil, err
	}
	return parseKeyRecord(raw)
}

// getRawKeyRecord returns the stored bytes of a key record: a cached
// unlocked key is used only while they are the bytes it was unlocked from,
// which a comparison checks without decoding them. It is also how a
// transaction checks that a key exists: a record is several kilobytes of
// base64 in JSON (a hybrid post-quantum recipient and two age files), whose
// decoding cost a capture redemption an eighth of its CPU time.
func getRawKeyRecord(tx store.Tx, owner, user string) ([]byte, error) {
	raw, err := tx.Get(bucketKeys, keyStoreKey(owner, user))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrKeyNotFound
	}
	return raw, err
}

func parseKeyRecord(raw []byte) (*keyRecord, error) {
	var r keyRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("vault: stored key record is corrupt: %w", err)
	}
	return &r, nil
}

func putKeyRecord(tx store.Tx, owner, user string, r *keyRecord) error {
	raw, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Put(bucketKeys, keyStoreKey(owner, user), raw)
}

func checkCredentials(c Credentials) error {
	if err := checkName("owner", c.Owner, maxNameLen, true); err != nil {
		return err
	}
	return checkName("user", c.User, maxNameLen, false)
}

// CreateKey creates a vault key for c.Owner and c.User locked by
// c.Passphrase, or by a generated passphrase when it is empty, and returns
// the credentials that open it. This is the only time a generated
// passphrase is ever seen: it is not stored.
func (v *Vault) CreateKey(ctx context.Context, c Credentials) (Credentials, error) {
	if err := checkCredentials(c); err != nil {
		return Credentials{}, err
	}
	if c.Passphrase == "" {
		c.Passphrase = crypto.NewSecret()
	}
	if err := checkNewPassphrase("passphrase", c.Passphrase); err != nil {
		return Credentials{}, err
	}
	// Refuse a duplicate before paying for scrypt.
	err := v.st.View(ctx, func(tx store.Tx) error {
		_, err := getRawKeyRecord(tx, c.Owner, c.User)
		return err
	})
	if err == nil {
		return Credentials{}, ErrKeyExists
	}
	if !errors.Is(err, ErrKeyNotFound) {
		return Credentials{}, err
	}

	id, err := crypto.NewPassphraseKey()
	if err != nil {
		return Credentials{}, err
	}
	defer id.Wipe()
	rec := &keyRecord{Recipient: id.Recipient(), Created: v.now().UTC()}
	if err := v.scrypt(ctx, c.Owner, func() error {
		rec.Locked, err = id.Lock(c.Passphrase, v.workFactor)
		return err
	}); err != nil {
		return Credentials{}, err
	}
	kek := crypto.NewDataKey()
	defer kek.Wipe()
	if rec.WrappedKEK, err = id.Wrap(kek); err != nil {
		return Credentials{}, err
	}
	err = v.st.Update(ctx, func(tx store.Tx) error {
		if _, err := getRawKeyRecord(tx, c.Owner, c.User); err == nil {
			return ErrKeyExists
		} else if !errors.Is(err, ErrKeyNotFound) {
			return err
		}
		if err := putKeyRecord(tx, c.Owner, c.User, rec); err != nil {
			return err
		}
		return audit.RecordIn(ctx, v.audit, tx, keyEvent(audit.OpKeyCreated, c.Owner, c.User))
	})
	if err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// KeyInfo describes a vault key without opening it; its JSON is a listed
// key's on the vault/capture API, {"user", "created_at"}.
type KeyInfo struct {
	User    string    `json:"user"`
	Created time.Time `json:"created_at"` // in UTC
}

// ListKeys returns up to limit keys of owner whose user sorts after after
// ("" for the first page), in order. limit is capped at 1000.
func (v *Vault) ListKeys(ctx context.Context, owner, after string, limit int) ([]KeyInfo, error) {
	if err := checkName("owner", owner, maxNameLen, true); err != nil {
		return nil, err
	}
	limit = cardvault.PageSize(limit)
	prefix := append([]byte(owner), 0)
	var last []byte
	if after != "" {
		last = keyStoreKey(owner, after)
	}
	var out []KeyInfo
	err := v.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		return tx.Scan(bucketKeys, store.PageAfter(prefix, last, limit), func(k, val []byte) error {
			var r keyRecord
			if err := json.Unmarshal(val, &r); err != nil {
				return fmt.Errorf("vault: stored key record is corrupt: %w", err)
			}
			out = append(out, KeyInfo{User: string(k[len(prefix):]), Created: r.Created.UTC()})
			return nil
		})
	})
	return out, err
}

// ChangePassphrase re-locks the key c opens under newPassphrase (generated
// when empty) and returns the new credentials. Nothing stored under the key
// is touched: the passphrase locks the key's identity, not the data. The
// old passphrase stops working at once, in every process.
func (v *Vault) ChangePassphrase(ctx context.Context, c Credentials, newPassphrase string) (Credentials, error) {
	if newPassphrase == "" {
		newPassphrase = crypto.NewSecret()
	}
	if err := checkNewPassphrase("new_passphrase", newPassphrase); err != nil {
		return Credentials{}, err
	}
	uk, err := v.unlock(ctx, c)
	if err != nil {
		return Credentials{}, err
	}
	defer v.cache.release(uk)
	var locked []byte
	if err := v.scrypt(ctx, c.Owner, func() error {
		locked, err = uk.identity.Lock(newPassphrase, v.workFactor)
		return err
	}); err != nil {
		return Credentials{}, err
	}
	err = v.st.Update(ctx, func(tx store.Tx) error {
		raw, err := getRawKeyRecord(tx, c.Owner, c.User)
		if err != nil || !bytes.Equal(raw, uk.record) {
			return ErrWrongKey // changed or deleted meanwhile
		}
		rec, err := parseKeyRecord(raw)
		if err != nil {
			return err
		}
		rec.Locked = locked
		if err := putKeyRecord(tx, c.Owner, c.User, rec); err != nil {
			return err
		}
		return audit.RecordIn(ctx, v.audit, tx, keyEvent(audit.OpKeyPassphraseChanged, c.Owner, c.User))
	})
	if err != nil {
		return Credentials{}, err
	}
	v.cache.dropKey(c.Owner, c.User)
	c.Passphrase = newPassphrase
	return c, nil
}

// DeleteKey deletes owner's key for user. With safe, it refuses
// (ErrKeyNotEmpty) while the key holds items; without, it deletes the
// items too. Either way the key's identity and KEK are destroyed, so
// nothing that was stored under the key can be opened again.
func (v *Vault) DeleteKey(ctx context.Context, owner, user string, safe bool) error {
	if err := checkCredentials(Credentials{Owner: owner, User: user}); err != nil {
		return err
	}
	prefix := itemPrefix(owner, user)
	err := v.st.Update(ctx, func(tx store.Tx) error {
		if _, err := getRawKeyRecord(tx, owner, user); err != nil {
			return err
		}
		type item struct {
			key []byte
			rec itemRecord
		}
		var items []item
		err := tx.Scan(bucketItems, store.Prefix(prefix), func(k, v []byte) error {
			if safe {
				return ErrKeyNotEmpty
			}
			it := item{key: k}
			if err := json.Unmarshal(v, &it.rec); err != nil {
				return fmt.Errorf("vault: stored item is corrupt: %w", err)
			}
			items = append(items, it)
			return nil
		})
		if err != nil {
			return err
		}
		for _, it := range items {
			if err := deleteItem(tx, it.key, &it.rec); err != nil {
				return err
			}
		}
		if err := tx.Delete(bucketKeys, keyStoreKey(owner, user)); err != nil {
			return err
		}
		e := keyEvent(audit.OpKeyDeleted, owner, user)
		e.Count = len(items)
		return audit.RecordIn(ctx, v.audit, tx, e)
	})
	if err != nil {
		return err
	}
	v.cache.dropKey(owner, user)
	return nil
}

// unlock returns the unlocked key c opens, from the cache or by paying for
// scrypt, holding a cache reference the caller releases. A wrong user or
// passphrase is noted in the audit trail (the user, never the passphrase).
func (v *Vault) unlock(ctx context.Context, c Credentials) (*unlockedKey, error) {
	if err := checkCredentials(c); err != nil {
		return nil, err
	}
	id := v.cache.id(c.Owner, c.User, c.Passphrase)
	if uk := v.cache.get(id); uk != nil {
		return uk, nil
	}
	uk, err := v.unlockSlow(ctx, c, id)
	if errors.Is(err, ErrWrongKey) {
		e := keyEvent(audit.OpKeyUnlockFailed, c.Owner, c.User)
		e.Outcome, e.Reason = audit.OutcomeRefused, "wrong_key"
		audit.NoteTo(ctx, v.audit, e)
	}
	return uk, err
}

// unlockSlow opens the stored key with the passphrase. Concurrent calls
// with the same credentials share one scrypt.
func (v *Vault) unlockSlow(ctx context.Context, c Credentials, id cacheID) (*unlockedKey, error) {
	var raw []byte
	err := v.st.View(ctx, func(tx store.Tx) error {
		var err error
		raw, err = getRawKeyRecord(tx, c.Owner, c.User)
		return err
	})
	if errors.Is(err, ErrKeyNotFound) {
		// Spend what a wrong passphrase would, so that the time taken does
		// not tell whether the user exists.
		if err := v.spendDecoy(ctx, c.Owner, c.Passphrase); err != nil {
			return nil, err
		}
		return nil, ErrWrongKey
	}
	if err != nil {
		return nil, err
	}
	rec, err := parseKeyRecord(raw)
	if err != nil {
		return nil, err
	}
	for {
		uk, err := v.unlockFlight(ctx, c, id, raw, rec)
		if ctx.Err() == nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			continue // the caller who ran the flight gave up waiting; this one has not
		}
		return uk, err
	}
}

// unlockFlight runs scrypt for c once however many callers ask at once.
func (v *Vault) unlockFlight(ctx context.Context, c Credentials, id cacheID, raw []byte, rec *keyRecord) (*unlockedKey, error) {
	return v.flight.do(v.cache, id, func() (*unlockedKey, error) {
		if uk := v.cache.get(id); uk != nil { // another flight finished first
			return uk, nil
		}
		var pk *crypto.PassphraseKey
		err := v.scrypt(ctx, c.Owner, func() error {
			v.unlocks.Add(1)
			var err error
			pk, err = crypto.UnlockPassphraseKey(rec.Locked, c.Passphrase, v.maxWorkFactor)
			return err
		})
		if errors.Is(err, crypto.ErrOpen) {
			return nil, ErrWrongKey
		}
		if err != nil {
			return nil, fmt.Errorf("vault: unlocking key: %w", err)
		}
		kek, err := pk.Unwrap(rec.WrappedKEK)
		if err != nil {
			pk.Wipe()
			return nil, fmt.Errorf("vault: the key's KEK does not open with its identity: %w", err)
		}
		uk := &unlockedKey{owner: c.Owner, user: c.User, record: raw, identity: pk, kek: kek}
		uk.refs = 1 // the caller's
		v.cache.put(id, uk)
		return uk, nil
	})
}

// scryptSlots bounds concurrent scrypt runs in the process: each takes 256
// MiB at work factor 18, and a burst of wrong passphrases must not exhaust
// memory.
var scryptSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

// defaultOwnerSlots is Config.MaxUnlocksPerOwner's default: half the
// process's slots, at least one, so that one owner leaves the others room.
func defaultOwnerSlots() int { return max(1, cap(scryptSlots)/2) }

// scrypt runs fn, an scrypt computation for owner, once one of owner's
// slots and then one of the process's is free, or fails with ctx's error
// while waiting. An owner's calls queue for its own slots first, so that
// however many of them wait, they hold at most MaxUnlocksPerOwner of the
// process's slots and another owner's call waits for those at most.
func (v *Vault) scrypt(ctx context.Context, owner string, fn func() error) error {
	release, err := v.owners.acquire(ctx, owner)
	if err != nil {
		return err
	}
	defer release()
	select {
	case scryptSlots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-scryptSlots }()
	return fn()
}

// ownerSlots are the per-owner semaphores of scrypt: one for each owner
// with a call running or waiting, removed when the last one is done.
type ownerSlots struct {
	per     int
	mu      sync.Mutex
	m       map[string]*ownerSlot
	waiting int // calls waiting for a slot of their owner (tests watch it)
}

type ownerSlot struct {
	ch   chan struct{}
	refs int // calls holding or waiting for ch
}

func (o *ownerSlots) acquire(ctx context.Context, owner string) (func(), error) {
	o.mu.Lock()
	if o.m == nil {
		o.m = map[string]*ownerSlot{}
	}
	s := o.m[owner]
	if s == nil {
		s = &ownerSlot{ch: make(chan struct{}, o.per)}
		o.m[owner] = s
	}
	s.refs++
	o.waiting++
	o.mu.Unlock()
	var err error
	select {
	case s.ch <- struct{}{}:
	case <-ctx.Done():
		err = ctx.Err()
	}
	o.mu.Lock()
	o.waiting--
	o.mu.Unlock()
	if err != nil {
		o.done(owner, s)
		return nil, err
	}
	return func() { <-s.ch; o.done(owner, s) }, nil
}

func (o *ownerSlots) done(owner string, s *ownerSlot) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if s.refs--; s.refs == 0 {
		delete(o.m, owner)
	}
}

func (v *Vault) spendDecoy(ctx context.Context, owner, passphrase string) error {
	v.decoyOnce.Do(func() {
		k, err := crypto.NewPassphraseKey()
		if err != nil {
			return
		}
		defer k.Wipe()
		// Made once for the process, whoever asks first: in a slot of the
		// process's, not of that owner's.
		scryptSlots <- struct{}{}
		defer func() { <-scryptSlots }()
		v.decoy, _ = k.Lock(crypto.NewSecret(), v.workFactor)
	})
	if v.decoy == nil {
		return nil
	}
	return v.scrypt(ctx, owner, func() error {
		v.unlocks.Add(1)
		_, _ = crypto.UnlockPassphraseKey(v.decoy, passphrase, v.maxWorkFactor)
		return nil
	})
}

// flight deduplicates concurrent unlocks of the same credentials.
type flight struct {
	mu    sync.Mutex
	calls map[cacheID]*flightCall
}

type flightCall struct {
	done chan struct{}
	uk   *unlockedKey
	err  error
	wait int // callers beyond the first, each owed a reference
}

func (f *flight) do(cache *keyCache, id cacheID, fn func() (*unlockedKey, error)) (*unlockedKey, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[cacheID]*flightCall{}
	}
	if c := f.calls[id]; c != nil {
		c.wait++
		f.mu.Unlock()
		<-c.done
		return c.uk, c.err
	}
	c := &flightCall{done: make(chan struct{})}
	f.calls[id] = c
	f.mu.Unlock()

	c.uk, c.err = fn()
	f.mu.Lock()
	delete(f.calls, id)
	waiters := c.wait
	f.mu.Unlock()
	if c.uk != nil && waiters > 0 {
		cache.addRefs(c.uk, waiters)
	}
	close(c.done)
	return c.uk, c.err
}

// withKey runs fn in a transaction with the key c opens, after checking
// inside the transaction that the stored key is still the one unlocked. A
// stale cache entry (the passphrase changed, the key was deleted or
// re-created) is dropped and the unlock retried once.
func (v *Vault) withKey(ctx context.Context, c Credentials, write bool, fn func(tx store.Tx, k *unlockedKey) error) error {
	for attempt := 0; ; attempt++ {
		uk, err := v.unlock(ctx, c)
		if err != nil {
			return err
		}
		stale := false
		run := func(tx store.Tx) error {
			stale = false
			raw, err := getRawKeyRecord(tx, c.Owner, c.User)
			if errors.Is(err, ErrKeyNotFound) || (err == nil && !bytes.Equal(raw, uk.record)) {
				stale = true
				return ErrWrongKey
			}
			if err != nil {
				return err
			}
			return fn(tx, uk)
		}
		if write {
			err = v.st.Update(ctx, run)
		} else {
			err = v.st.View(ctx, run)
		}
		if stale {
			v.cache.drop(uk)
		}
		v.cache.release(uk)
		if !stale || attempt == 1 {
			return err
		}
	}
}

// MinPassphraseLen is the fewest characters a new passphrase may have:
// a vault key's passphrase is all that stands between the database and
// its data, and scrypt only slows down a guess at a short one. Keys made
// before the rule still open with theirs.
const MinPassphraseLen = 16

// checkNewPassphrase checks a passphrase about to lock a key.
func checkNewPassphrase(field, p string) error {
	switch {
	case len(p) > 1024:
		return fmt.Errorf("%w: %s is over 1024 bytes", ErrInvalid, field)
	case utf8.RuneCountInString(p) < MinPassphraseLen:
		return fmt.Errorf("%w: %s must be at least %d characters", ErrInvalid, field, MinPassphraseLen)
	}
	return nil
}

func itemPrefix(owner, user string) []byte {
	var b bytes.Buffer
	b.WriteString(owner)
	b.WriteByte(0)
	b.WriteString(user)
	b.WriteByte(0)
	return b.Bytes()
}
