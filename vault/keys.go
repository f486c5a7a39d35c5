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

	"github.com/cardvault/cardvault/crypto"
	"github.com/cardvault/cardvault/store"
)

// Credentials name a vault key and open it.
type Credentials struct {
	// Owner is the account the key belongs to; "" is a valid owner for a
	// single-tenant library user.
	Owner string
	// User names the key within its owner.
	User string
	// Passphrase unlocks it. It is never stored.
	Passphrase string
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
	if len(c.Passphrase) > 1024 {
		return Credentials{}, fmt.Errorf("%w: passphrase is over 1024 bytes", ErrInvalid)
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
	if err := v.scrypt(func() error {
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
		return putKeyRecord(tx, c.Owner, c.User, rec)
	})
	if err != nil {
		return Credentials{}, err
	}
	return c, nil
}

// KeyInfo describes a vault key without opening it.
type KeyInfo struct {
	User    string
	Created time.Time
}

// ListKeys returns up to limit keys of owner whose user sorts after after
// ("" for the first page), in order. limit is capped at 1000.
func (v *Vault) ListKeys(ctx context.Context, owner, after string, limit int) ([]KeyInfo, error) {
	if err := checkName("owner", owner, maxNameLen, true); err != nil {
		return nil, err
	}
	limit = clampLimit(limit)
	prefix := append([]byte(owner), 0)
	start := prefix
	if after != "" {
		start = append(keyStoreKey(owner, after), 0)
	}
	var out []KeyInfo
	err := v.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		return tx.Scan(bucketKeys, store.Range{Start: start, End: store.PrefixEnd(prefix), Limit: limit}, func(k, val []byte) error {
			var r keyRecord
			if err := json.Unmarshal(val, &r); err != nil {
				return fmt.Errorf("vault: stored key record is corrupt: %w", err)
			}
			out = append(out, KeyInfo{User: string(k[len(prefix):]), Created: r.Created})
			return nil
		})
	})
	return out, err
}

func clampLimit(limit int) int {
	if limit <= 0 || limit > 1000 {
		return 1000
	}
	return limit
}

// ChangePassphrase re-locks the key c opens under newPassphrase (generated
// when empty) and returns the new credentials. Nothing stored under the key
// is touched: the passphrase locks the key's identity, not the data. The
// old passphrase stops working at once, in every process.
func (v *Vault) ChangePassphrase(ctx context.Context, c Credentials, newPassphrase string) (Credentials, error) {
	if newPassphrase == "" {
		newPassphrase = crypto.NewSecret()
	}
	if len(newPassphrase) > 1024 {
		return Credentials{}, fmt.Errorf("%w: passphrase is over 1024 bytes", ErrInvalid)
	}
	uk, err := v.unlock(ctx, c)
	if err != nil {
		return Credentials{}, err
	}
	defer v.cache.release(uk)
	var locked []byte
	if err := v.scrypt(func() error {
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
		return putKeyRecord(tx, c.Owner, c.User, rec)
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
		return tx.Delete(bucketKeys, keyStoreKey(owner, user))
	})
	if err != nil {
		return err
	}
	v.cache.dropKey(owner, user)
	return nil
}

// unlock returns the unlocked key c opens, from the cache or by paying for
// scrypt, holding a cache reference the caller releases.
func (v *Vault) unlock(ctx context.Context, c Credentials) (*unlockedKey, error) {
	if err := checkCredentials(c); err != nil {
		return nil, err
	}
	id := v.cache.id(c.Owner, c.User, c.Passphrase)
	if uk := v.cache.get(id); uk != nil {
		return uk, nil
	}
	return v.unlockSlow(ctx, c, id)
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
		v.spendDecoy(c.Passphrase)
		return nil, ErrWrongKey
	}
	if err != nil {
		return nil, err
	}
	rec, err := parseKeyRecord(raw)
	if err != nil {
		return nil, err
	}
	return v.flight.do(v.cache, id, func() (*unlockedKey, error) {
		if uk := v.cache.get(id); uk != nil { // another flight finished first
			return uk, nil
		}
		var pk *crypto.PassphraseKey
		v.unlocks.Add(1)
		err := v.scrypt(func() error {
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

// scryptSlots bounds concurrent scrypt runs: each takes 256 MiB at work
// factor 18, and a burst of wrong passphrases must not exhaust memory.
var scryptSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)))

func (v *Vault) scrypt(fn func() error) error {
	scryptSlots <- struct{}{}
	defer func() { <-scryptSlots }()
	return fn()
}

func (v *Vault) spendDecoy(passphrase string) {
	v.unlocks.Add(1)
	v.decoyOnce.Do(func() {
		k, err := crypto.NewPassphraseKey()
		if err != nil {
			return
		}
		defer k.Wipe()
		_ = v.scrypt(func() error {
			v.decoy, err = k.Lock(crypto.NewSecret(), v.workFactor)
			return err
		})
	})
	if v.decoy == nil {
		return
	}
	_ = v.scrypt(func() error {
		_, err := crypto.UnlockPassphraseKey(v.decoy, passphrase, v.maxWorkFactor)
		return err
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

func itemPrefix(owner, user string) []byte {
	var b bytes.Buffer
	b.WriteString(owner)
	b.WriteByte(0)
	b.WriteString(user)
	b.WriteByte(0)
	return b.Bytes()
}
