package mustachex

import (
	"container/list"
	"sync"
)

// Cache keeps parsed templates by their exact source, escaping and limits,
// so that the same template sent again — a proxy call's URL and body, the
// same on every call of a merchant's integration — is checked and parsed
// once. A [Template] is immutable, so one parse serves any number of
// goroutines and callers at once; it holds the source text and nothing of
// any data it is rendered with, which [Template.Render] is given per call.
// A hit is therefore the very value Parse would return for the same
// arguments, whoever asks.
//
// The cache is bounded: at most maxEntries templates and maxBytes bytes of
// source in all, the least recently used dropped first; a source over an
// eighth of maxBytes is parsed every time and never kept. Errors are never
// kept: a template that fails is checked again on each call, and its
// error is Parse's. Safe for concurrent use.
type Cache struct {
	maxEntries, maxBytes int

	mu    sync.Mutex
	bytes int
	m     map[cacheKey]*list.Element // of *cacheEntry
	lru   list.List                  // front: most recently used
}

type cacheKey struct {
	src    string
	escape Escape
	limits Limits
}

type cacheEntry struct {
	key cacheKey
	t   *Template
}

// NewCache returns a Cache of at most maxEntries templates and maxBytes
// bytes of their source.
func NewCache(maxEntries, maxBytes int) *Cache {
	return &Cache{maxEntries: max(maxEntries, 1), maxBytes: max(maxBytes, 1), m: map[cacheKey]*list.Element{}}
}

// Parse returns the template Parse(src, escape, limits) returns, from the
// cache when it holds it.
func (c *Cache) Parse(src string, escape Escape, limits Limits) (*Template, error) {
	k := cacheKey{src: src, escape: escape, limits: limits.withDefaults()}
	c.mu.Lock()
	if e, ok := c.m[k]; ok {
		c.lru.MoveToFront(e)
		t := e.Value.(*cacheEntry).t
		c.mu.Unlock()
		return t, nil
	}
	c.mu.Unlock()

	t, err := Parse(src, escape, limits)
	if err != nil || len(src) > c.maxBytes/8 {
		return t, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return t, nil // another goroutine parsed it meanwhile: both are the same
	}
	c.m[k] = c.lru.PushFront(&cacheEntry{key: k, t: t})
	c.bytes += len(src)
	for len(c.m) > c.maxEntries || c.bytes > c.maxBytes {
		old := c.lru.Back()
		e := old.Value.(*cacheEntry)
		c.lru.Remove(old)
		delete(c.m, e.key)
		c.bytes -= len(e.key.src)
	}
	return t, nil
}

// Len returns how many templates the cache holds.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
