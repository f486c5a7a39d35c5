package vault

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/cardvault/cardvault/crypto"
)

// cacheID names an unlocked key in the cache: a MAC of owner, user and
// passphrase under a key that exists only in this process, so the cache
// holds no passphrase and a memory dump of it does not help guess one.
type cacheID [32]byte

// unlockedKey is a vault key opened by its passphrase. It is shared by the
// calls that use it; the last one to let go of an evicted key wipes it.
type unlockedKey struct {
	owner, user string
	record      []byte // the stored key record it was unlocked from
	identity    *crypto.PassphraseKey
	kek         *crypto.DataKey

	refs    int // guarded by keyCache.mu
	evicted bool
	expires time.Time
	elem    *list.Element
	id      cacheID
}

// keyCache is a bounded LRU of unlocked keys with a lifetime.
type keyCache struct {
	macKey [32]byte
	size   int
	ttl    time.Duration
	now    func() time.Time

	mu      sync.Mutex
	entries map[cacheID]*unlockedKey
	lru     *list.List // front: most recently used
}

func newKeyCache(size int, ttl time.Duration, now func() time.Time) *keyCache {
	c := &keyCache{size: size, ttl: ttl, now: now, entries: map[cacheID]*unlockedKey{}, lru: list.New()}
	rand.Read(c.macKey[:])
	return c
}

func (c *keyCache) id(owner, user, passphrase string) cacheID {
	m := hmac.New(sha256.New, c.macKey[:])
	for _, s := range []string{owner, user, passphrase} {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(s)>>24), byte(len(s)>>16), byte(len(s)>>8), byte(len(s))
		m.Write(n[:])
		m.Write([]byte(s))
	}
	var id cacheID
	m.Sum(id[:0])
	return id
}

// get returns the live entry for id, holding a reference the caller gives
// back with release; nil when there is none.
func (c *keyCache) get(id cacheID) *unlockedKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := c.entries[id]
	if k == nil {
		return nil
	}
	if !c.now().Before(k.expires) {
		c.evictLocked(k)
		return nil
	}
	c.lru.MoveToFront(k.elem)
	k.refs++
	return k
}

// put adds k (which the caller holds one reference to) and evicts the least
// recently used entries beyond the size bound.
func (c *keyCache) put(id cacheID, k *unlockedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.entries[id]; old != nil {
		c.evictLocked(old)
	}
	k.id = id
	k.expires = c.now().Add(c.ttl)
	k.refs++ // the cache's own reference
	k.elem = c.lru.PushFront(k)
	c.entries[id] = k
	for c.lru.Len() > c.size {
		c.evictLocked(c.lru.Back().Value.(*unlockedKey))
	}
}

// addRefs gives n more callers a reference to k.
func (c *keyCache) addRefs(k *unlockedKey, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k.refs += n
}

func (c *keyCache) release(k *unlockedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.releaseLocked(k)
}

func (c *keyCache) releaseLocked(k *unlockedKey) {
	k.refs--
	if k.refs == 0 {
		k.wipe()
	}
}

// drop evicts the entry for id if it is k (a caller found k stale).
func (c *keyCache) drop(k *unlockedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries[k.id] == k {
		c.evictLocked(k)
	}
}

// dropKey evicts every entry of one vault key (after a passphrase change or
// a deletion), whatever passphrase opened it.
func (c *keyCache) dropKey(owner, user string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.entries {
		if k.owner == owner && k.user == user {
			c.evictLocked(k)
		}
	}
}

func (c *keyCache) evictLocked(k *unlockedKey) {
	if k.evicted {
		return
	}
	k.evicted = true
	delete(c.entries, k.id)
	c.lru.Remove(k.elem)
	c.releaseLocked(k)
}

// clear evicts everything; keys in use are wiped when their users let go.
func (c *keyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range c.entries {
		c.evictLocked(k)
	}
}

// len reports how many keys are cached (for tests).
func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (k *unlockedKey) wipe() {
	if k.kek != nil {
		k.kek.Wipe()
	}
	if k.identity != nil {
		k.identity.Wipe()
	}
}
