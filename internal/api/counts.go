package api

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Counting the matches of a list for _meta.total reads every match's index
// entry: with many matches it costs far more than the page itself (see
// docs/performance.md). Clients page through one list with one filter, so
// the API keeps each (resource, owner, where) total for a short while.
//
// A write through this instance to an owner's documents drops the owner's
// totals at once, so a single instance (SQLite) always answers with the
// total of the current documents. Writes through another instance sharing
// the database are seen when the total expires: _meta.total may lag them by
// at most countTTL. (The page itself is always read afresh.)
//
// A total is counted once at a time: the requests that miss it while it is
// being counted wait for that count instead of starting their own. When a
// total expires under load every request of the next moments misses it,
// and on PostgreSQL a count reads the heap page of every match (no
// index-only scan on an expression index), which is slow for many
// matches.
const (
	countTTL        = time.Second
	countMaxEntries = 10_000 // then the cache starts over
)

type countKey struct{ resource, owner, where string }

type ownerKey struct{ resource, owner string }

type countEntry struct {
	total int
	at    time.Time
	gen   uint64
}

// flightKey names a count in progress: k's total at the owner's
// generation gen.
type flightKey struct {
	countKey
	gen uint64
}

// flight is a count in progress, which requests missing the same total
// wait for. total and err are set before done is closed.
type flight struct {
	done    chan struct{}
	at      time.Time // when its request missed the total
	waiters int       // requests waiting for it
	total   int
	err     error
}

// countCache holds list totals. Each owner's writes move the owner's
// generation to a new value of seq; a total counted while the generation
// moved is not kept. Owners without a write since the last reset are at
// floor, above every generation handed out before it.
type countCache struct {
	mu         sync.Mutex
	entries    map[countKey]countEntry
	gens       map[ownerKey]uint64
	seq, floor uint64
	flights    map[flightKey]*flight
}

func newCountCache() *countCache {
	return &countCache{entries: map[countKey]countEntry{}, gens: map[ownerKey]uint64{}, flights: map[flightKey]*flight{}}
}

func (c *countCache) gen(k ownerKey) uint64 {
	if g, ok := c.gens[k]; ok {
		return g
	}
	return c.floor
}

// reset forgets everything when the maps are full.
func (c *countCache) reset() {
	c.entries = map[countKey]countEntry{}
	c.gens = map[ownerKey]uint64{}
	c.seq++
	c.floor = c.seq
}

// get returns a fresh total, or the owner's generation to pass to put once
// the total is counted.
func (c *countCache) get(k countKey, now time.Time) (total int, ok bool, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lookup(k, now)
}

// lookup is get with c.mu held.
func (c *countCache) lookup(k countKey, now time.Time) (total int, ok bool, gen uint64) {
	gen = c.gen(ownerKey{k.resource, k.owner})
	e, found := c.entries[k]
	if age := now.Sub(e.at); found && e.gen == gen && age >= 0 && age < countTTL {
		return e.total, true, gen
	}
	return 0, false, gen
}

// total returns k's total at time now: a fresh one from the cache, else
// the result of the count in progress for it (started by a request that
// missed it less than countTTL before now, at the owner's current
// generation, so the total is as recent as a cached one), else count's,
// which it keeps. If the count waited for fails (its request went away,
// say), the waiter counts on its own. ctx bounds the wait.
func (c *countCache) total(ctx context.Context, k countKey, now time.Time, count func() (int, error)) (int, error) {
	c.mu.Lock()
	total, ok, gen := c.lookup(k, now)
	if ok {
		c.mu.Unlock()
		return total, nil
	}
	fk := flightKey{k, gen}
	if f, found := c.flights[fk]; found {
		if age := now.Sub(f.at); age >= 0 && age < countTTL {
			f.waiters++
			c.mu.Unlock()
			select {
			case <-f.done:
				if f.err == nil {
					return f.total, nil
				}
			case <-ctx.Done():
				return 0, ctx.Err()
			}
			return c.count(k, gen, now, count)
		}
	}
	f := &flight{done: make(chan struct{}), at: now, err: errUnfinished}
	c.flights[fk] = f
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		if c.flights[fk] == f {
			delete(c.flights, fk)
		}
		c.mu.Unlock()
		close(f.done)
	}()
	f.total, f.err = c.count(k, gen, now, count)
	return f.total, f.err
}

// errUnfinished is the result of a count that never returned (it
// panicked): its waiters count on their own.
var errUnfinished = errors.New("the count did not finish")

// count runs count and keeps its total for the generation gen.
func (c *countCache) count(k countKey, gen uint64, now time.Time, count func() (int, error)) (int, error) {
	total, err := count()
	if err != nil {
		return 0, err
	}
	c.put(k, total, gen, now)
	return total, nil
}

// put keeps a total counted by a read that started at generation gen and
// time now, unless the owner's documents were written since.
func (c *countCache) put(k countKey, total int, gen uint64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= countMaxEntries {
		c.reset()
	}
	if c.gen(ownerKey{k.resource, k.owner}) != gen {
		return
	}
	c.entries[k] = countEntry{total: total, at: now, gen: gen}
}

// written drops the owner's totals: call it after every write to the owner's
// documents, successful or not (a failed write may have committed).
func (c *countCache) written(resource, owner string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.gens) >= countMaxEntries {
		c.reset()
	}
	c.seq++
	c.gens[ownerKey{resource, owner}] = c.seq
}
