package ttlcache

import (
	"sync"
	"time"
)

// Cache maps keys to values until each entry's own expiry. It is safe for
// concurrent use; look-ups share a read lock.
type Cache[K comparable, V any] struct {
	max int

	mu  sync.RWMutex
	m   map[K]entry[V]
	gen uint64 // resets so far
}

type entry[V any] struct {
	v     V
	until time.Time
}

// New returns a cache of at most size entries (at least 1).
func New[K comparable, V any](size int) *Cache[K, V] {
	return &Cache[K, V]{max: max(size, 1), m: map[K]entry[V]{}}
}

// Gen identifies the cache's state between resets: a Put with a Gen taken
// before a reset stores nothing.
type Gen uint64

// Get returns the value for k if its entry holds at now, and the cache's
// Gen, for a Put of what the caller works out instead.
func (c *Cache[K, V]) Get(k K, now time.Time) (v V, gen Gen, ok bool) {
	c.mu.RLock()
	e, found := c.m[k]
	gen = Gen(c.gen)
	c.mu.RUnlock()
	if !found || !now.Before(e.until) {
		return v, gen, false
	}
	return e.v, gen, true
}

// Put stores v for k until the given time, unless that is not after now or
// the cache was reset since gen was taken. A full cache first forgets its
// expired entries, then, if it is still full, some of the rest (a random
// quarter).
func (c *Cache[K, V]) Put(k K, v V, until, now time.Time, gen Gen) {
	if !now.Before(until) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if uint64(gen) != c.gen {
		return
	}
	if _, found := c.m[k]; !found && len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.until) {
				delete(c.m, k)
			}
		}
		// Still full of live entries: drop some of them (a quarter),
		// chosen by Go's random map order, so that a flood of new keys
		// pushes out some entries at a time and never empties the cache
		// at once.
		if len(c.m) >= c.max {
			for k := range c.m {
				if len(c.m) < c.max-c.max/4 {
					break
				}
				delete(c.m, k)
			}
		}
	}
	c.m[k] = entry[V]{v: v, until: until}
}

// Reset forgets every entry.
func (c *Cache[K, V]) Reset() {
	c.mu.Lock()
	clear(c.m)
	c.gen++
	c.mu.Unlock()
}

// Len returns how many entries are held, expired ones included.
func (c *Cache[K, V]) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
