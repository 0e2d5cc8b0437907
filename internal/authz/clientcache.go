package authz

import (
	"context"
	"fmt"
	"slices"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/ttlcache"
)

// clientCacheTTL is how long a client registration read from the store is
// reused to authenticate the client at the token, introspection and
// revocation endpoints. A confidential client authenticates on every
// request; reading its row each time dominated a client-credentials
// request's CPU (see docs/performance.md).
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
// drops the expired ones (then, were all 1,024 clients still fresh, a
// random quarter of them). Only registered clients are ever cached, under
// their exact ID (misses are not), so an unknown ID cannot fill it.
const clientCacheSweepAt = 1024

// clientLoadTimeout bounds one shared read of a client. The read runs
// apart from the requests waiting for it (none of them may cancel it for
// the others); each waiter still stops waiting when its own request ends.
const clientLoadTimeout = 10 * time.Second

// clientCache caches clients by ID for clientCacheTTL. A client that is not
// found, and any error, is not cached: an unknown ID costs a read each time
// (and an unknown ID cannot fill the cache). Concurrent misses for the same
// ID share one read (singleflight).
//
// The clients it returns are copies; callers may keep them.
type clientCache struct {
	load func(ctx context.Context, id string) (storage.Client, error)
	now  func() time.Time
	ttl  time.Duration

	entries *ttlcache.Cache[string, storage.Client]
	reads   singleflight.Group
}

func newClientCache(load func(context.Context, string) (storage.Client, error), now func() time.Time, ttl time.Duration) *clientCache {
	return &clientCache{
		load: load, now: now, ttl: ttl,
		entries: ttlcache.New[string, storage.Client](clientCacheSweepAt),
	}
}

// get returns the client with the given ID, from the cache while its entry
// is fresh, otherwise from the store through the read it shares with every
// concurrent miss for that ID. A caller whose context ends stops waiting
// (storage.ErrUnavailable wrapping the context's error: a 503); the read
// goes on for the others.
func (cc *clientCache) get(ctx context.Context, id string) (storage.Client, error) {
	if c, _, ok := cc.entries.Get(id, cc.now()); ok {
		return cloneClient(c), nil
	}
	readCtx := context.WithoutCancel(ctx)
	done := cc.reads.DoChan(id, func() (any, error) { return cc.fill(readCtx, id) })
	select {
	case r := <-done:
		if r.Err != nil {
			return storage.Client{}, r.Err
		}
		return cloneClient(r.Val.(storage.Client)), nil
	case <-ctx.Done():
		return storage.Client{}, fmt.Errorf("%w: waiting for client %q: %w", storage.ErrUnavailable, id, ctx.Err())
	}
}

// fill reads the client and caches it when it was found. The entry's
// lifetime starts when the read starts, so a slow read cannot stretch how
// long a changed client stays cached. A panic in the read becomes an error:
// DoChan runs fill on a goroutine of its own, where a panic would end the
// process.
func (cc *clientCache) fill(ctx context.Context, id string) (c storage.Client, err error) {
	ctx, cancel := context.WithTimeout(ctx, clientLoadTimeout)
	defer cancel()
	start := cc.now()
	_, gen, _ := cc.entries.Get(id, start)
	defer func() {
		if p := recover(); p != nil {
			c, err = storage.Client{}, fmt.Errorf("authz: loading client %q panicked: %v", id, p)
		}
	}()
	c, err = cc.load(ctx, id)
	if err == nil && c.ID != id { // defence in depth: only the exact ID is cached
		return storage.Client{}, fmt.Errorf("client %q: %w", id, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Client{}, err
	}
	cc.entries.Put(id, c, start.Add(cc.ttl), cc.now(), gen)
	return c, nil
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
