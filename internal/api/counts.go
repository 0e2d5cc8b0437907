package api

import (
	"sync"
	"time"
)

// Counting the matches of a list for _meta.total reads every match's index
// entry: with 50,000 matches it costs ~50 times the page itself (issue 7,
// docs/performance.md). Clients page through one list with one filter, so
// the API keeps each (resource, owner, where) total for a short while.
//
// A write through this instance to an owner's documents drops the owner's
// totals at once, so a single instance (SQLite) always answers with the
// total of the current documents. Writes through another instance sharing
// the database are seen when the total expires: _meta.total may lag them by
// at most countTTL. (The page itself is always read afresh.)
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

// countCache holds list totals. Each owner's writes move the owner's
// generation to a new value of seq; a total counted while the generation
// moved is not kept. Owners without a write since the last reset are at
// floor, above every generation handed out before it.
type countCache struct {
	mu         sync.Mutex
	entries    map[countKey]countEntry
	gens       map[ownerKey]uint64
	seq, floor uint64
}

func newCountCache() *countCache {
	return &countCache{entries: map[countKey]countEntry{}, gens: map[ownerKey]uint64{}}
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
	gen = c.gen(ownerKey{k.resource, k.owner})
	e, found := c.entries[k]
	if age := now.Sub(e.at); found && e.gen == gen && age >= 0 && age < countTTL {
		return e.total, true, gen
	}
	return 0, false, gen
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
