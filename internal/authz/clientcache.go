package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/ttlcache"
)

// clientCacheTTL is how long a client registration read from the store is
// reused to authenticate the client at the token, introspection and
// revocation endpoints. A confidential client authenticates on every
// request; reading its row each time was 28% of a client-credentials
// request's CPU (docs/performance.md).
//
// The cost: a change to a client reaches these endpoints within
// clientCacheTTL, on every instance, and not at once. For up to that long
// after `gatehouse client remove` or `client rotate-secret` (or any other
// change to the row) an instance that read the client just before still
// accepts the old secret, grant types and scopes. Nothing is shared between
// instances and nothing is invalidated early: each entry simply expires.
// The authorization endpoint, the login and consent pages and end-session
// read the store every time.
const clientCacheTTL = 5 * time.Second

// clientCacheSweepAt bounds the cache: a new entry in a full cache first
// drops the expired ones (then, were all 1,024 clients still fresh, all of
// them). Only registered clients are ever cached, under their exact ID
// (misses are not), so an unknown ID cannot fill it.
const clientCacheSweepAt = 1024

// clientCache caches clients by ID for clientCacheTTL. A client that is not
// found, and any error, is not cached: an unknown ID costs a read each time
// (and an unknown ID cannot fill the cache). Concurrent misses for the same
// ID share one read.
//
// The clients it returns are copies; callers may keep them.
type clientCache struct {
	load func(ctx context.Context, id string) (storage.Client, error)
	now  func() time.Time
	ttl  time.Duration

	entries *ttlcache.Cache[string, storage.Client]

	mu       sync.Mutex // guards inflight
	inflight map[string]*clientLoad
}

// clientLoad is a read in progress; done is closed when c and err are set.
type clientLoad struct {
	done chan struct{}
	c    storage.Client
	err  error
}

func newClientCache(load func(context.Context, string) (storage.Client, error), now func() time.Time, ttl time.Duration) *clientCache {
	return &clientCache{
		load: load, now: now, ttl: ttl,
		entries:  ttlcache.New[string, storage.Client](clientCacheSweepAt),
		inflight: map[string]*clientLoad{},
	}
}

// get returns the client with the given ID, from the cache while its entry
// is fresh, otherwise from the store. A waiter whose own context ends stops
// waiting; a waiter whose shared read failed only because the reading
// request's context ended reads again itself.
func (cc *clientCache) get(ctx context.Context, id string) (storage.Client, error) {
	for {
		if c, _, ok := cc.entries.Get(id, cc.now()); ok {
			return cloneClient(c), nil
		}
		cc.mu.Lock()
		// Looked up again under mu: a read that ended since the look-up
		// above cached its client before leaving inflight.
		c, gen, ok := cc.entries.Get(id, cc.now())
		if ok {
			cc.mu.Unlock()
			return cloneClient(c), nil
		}
		if l, ok := cc.inflight[id]; ok {
			cc.mu.Unlock()
			select {
			case <-l.done:
			case <-ctx.Done():
				return storage.Client{}, fmt.Errorf("%w: waiting for client %q: %w", storage.ErrUnavailable, id, ctx.Err())
			}
			if l.err != nil && isContextErr(l.err) && ctx.Err() == nil {
				continue // the reader's request ended, not ours
			}
			return cloneClient(l.c), l.err
		}
		l := &clientLoad{done: make(chan struct{})}
		cc.inflight[id] = l
		cc.mu.Unlock()

		cc.fill(ctx, id, l, gen)
		return cloneClient(l.c), l.err
	}
}

// fill reads the client, publishes the result to the waiters and caches a
// client that was found. The entry's lifetime starts when the read starts,
// so a slow read cannot stretch how long a changed client stays cached.
func (cc *clientCache) fill(ctx context.Context, id string, l *clientLoad, gen ttlcache.Gen) {
	start := cc.now()
	defer func() {
		cc.mu.Lock()
		if l.err == nil {
			cc.entries.Put(id, l.c, start.Add(cc.ttl), cc.now(), gen)
		}
		delete(cc.inflight, id)
		cc.mu.Unlock()
		close(l.done)
	}()
	l.err = errors.New("authz: loading client panicked") // replaced unless load panics
	l.c, l.err = cc.load(ctx, id)
	if l.err == nil && l.c.ID != id { // defence in depth: only the exact ID is cached
		l.c, l.err = storage.Client{}, fmt.Errorf("client %q: %w", id, storage.ErrNotFound)
	}
}

func isContextErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// cloneClient copies the slices of c, so that no caller can change what
// the cache holds or another caller sees.
func cloneClient(c storage.Client) storage.Client {
	c.RedirectURIs = slices.Clone(c.RedirectURIs)
	c.PostLogoutRedirectURIs = slices.Clone(c.PostLogoutRedirectURIs)
	c.GrantTypes = slices.Clone(c.GrantTypes)
	c.Scopes = slices.Clone(c.Scopes)
	return c
}
