// Package throttle counts failed attempts — wrong passwords, API keys,
// passphrases, capture secrets — per key (a client address, an account, a
// vault key) in memory, and says how long a key must wait before its next
// attempt is even checked. It is cardvault's one limiter: package access
// keeps one [Limiter] per kind of failure and key, and package capture keeps the
// lock state of capture ids that have no grant in a [Table].
//
// # Counting
//
// A [Limiter] lets a key fail [Rate].Failures times at once, and once more
// every Per/Failures after that: each key holds a level that rises by one
// with each failure and drains continuously at Failures per Per (a leaky
// bucket, so the window slides). While the level is above Failures-1 the
// key waits; [Limiter.Wait] says how long. Only failures count: a client
// that never fails never waits, however fast it goes. Attempts admitted
// before a concurrent burst crossed the limit are all counted when they
// fail, so such a burst lengthens the wait by as much — the long-run rate
// of checked guesses stays Failures per Per.
//
// # Memory
//
// Each Limiter and Table holds at most a fixed number of keys; past it, the
// least recently updated key is dropped. A Limiter also drops a key whose
// level has drained to zero when it meets it. A dropped key starts afresh,
// so the bound is a trade: an attacker with more addresses than the bound
// can make the Limiter forget some of them, never make it grow.
package throttle

import (
	"container/list"
	"math"
	"sync"
	"time"
)

// DefaultMaxKeys bounds a Limiter or Table made with maxKeys 0.
const DefaultMaxKeys = 10_000

// Table is a bounded map from string keys to values of type V, safe for
// concurrent use. Past its bound, the least recently updated key goes.
type Table[V any] struct {
	max int
	mu  sync.Mutex
	m   map[string]*list.Element
	lru list.List // of *entry[V]; front: most recently updated
}

type entry[V any] struct {
	key string
	v   V
}

// NewTable returns an empty Table of at most maxKeys keys
// (DefaultMaxKeys when 0 or less).
func NewTable[V any](maxKeys int) *Table[V] {
	if maxKeys <= 0 {
		maxKeys = DefaultMaxKeys
	}
	return &Table[V]{max: maxKeys, m: map[string]*list.Element{}}
}

// Update calls fn, under the table's lock, with a pointer to key's value
// (the zero V when found is false) that fn may change. When fn returns
// true the value is kept and key becomes the most recently updated;
// otherwise key is removed. fn must not call the table.
func (t *Table[V]) Update(key string, fn func(v *V, found bool) (keep bool)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.m[key]; ok {
		e := el.Value.(*entry[V])
		if fn(&e.v, true) {
			t.lru.MoveToFront(el)
		} else {
			t.lru.Remove(el)
			delete(t.m, key)
		}
		return
	}
	e := &entry[V]{key: key}
	if !fn(&e.v, false) {
		return
	}
	t.m[key] = t.lru.PushFront(e)
	for t.lru.Len() > t.max {
		old := t.lru.Remove(t.lru.Back()).(*entry[V])
		delete(t.m, old.key)
	}
}

// Get returns key's value, without making it more recent.
func (t *Table[V]) Get(key string) (V, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if el, ok := t.m[key]; ok {
		return el.Value.(*entry[V]).v, true
	}
	var zero V
	return zero, false
}

// Len reports how many keys the table holds.
func (t *Table[V]) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// Rate is how many failures a Limiter allows: Failures at once, then
// Failures per Per.
type Rate struct {
	Failures int
	Per      time.Duration
}

// Limiter counts failures per key under one Rate. A nil *Limiter limits
// nothing. It is safe for concurrent use.
type Limiter struct {
	rate Rate
	now  func() time.Time
	t    *Table[bucket]
}

type bucket struct {
	level float64   // failures not yet drained, as of at
	at    time.Time // when level was computed
}

// New returns a Limiter allowing r, over at most maxKeys keys
// (DefaultMaxKeys when 0), on the clock now (time.Now when nil). A Rate of
// no failures or no period limits nothing: New returns nil.
func New(r Rate, maxKeys int, now func() time.Time) *Limiter {
	if r.Failures <= 0 || r.Per <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	return &Limiter{rate: r, now: now, t: NewTable[bucket](maxKeys)}
}

// drained is b's level at now.
func (l *Limiter) drained(b bucket, now time.Time) float64 {
	elapsed := now.Sub(b.at)
	if elapsed <= 0 {
		return b.level
	}
	return math.Max(0, b.level-elapsed.Seconds()*float64(l.rate.Failures)/l.rate.Per.Seconds())
}

// wait is how long a key at level waits before its next attempt.
func (l *Limiter) wait(level float64) time.Duration {
	over := level - float64(l.rate.Failures-1)
	if over <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(over * float64(l.rate.Per) / float64(l.rate.Failures)))
}

// Wait reports how long key must wait before its next attempt is checked:
// 0 when it may try now.
func (l *Limiter) Wait(key string) time.Duration {
	if l == nil {
		return 0
	}
	now := l.now()
	var w time.Duration
	l.t.Update(key, func(b *bucket, found bool) bool {
		if !found {
			return false
		}
		level := l.drained(*b, now)
		w = l.wait(level)
		return level > 0
	})
	return w
}

// Failed reports whether key has failures not yet drained: a client with
// none is one the Limiter has nothing against.
func (l *Limiter) Failed(key string) bool {
	if l == nil {
		return false
	}
	b, ok := l.t.Get(key)
	return ok && l.drained(b, l.now()) > 0
}

// Fail counts a failure of key and returns how long key must now wait.
func (l *Limiter) Fail(key string) time.Duration {
	if l == nil {
		return 0
	}
	now := l.now()
	var w time.Duration
	l.t.Update(key, func(b *bucket, _ bool) bool {
		b.level, b.at = l.drained(*b, now)+1, now
		w = l.wait(b.level)
		return true
	})
	return w
}

// Len reports how many keys the Limiter holds.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	return l.t.Len()
}
