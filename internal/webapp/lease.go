package webapp

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// Leases hands out short, exclusive, expiring leases on names, kept in a
// store that every instance of the web app shares (package
// internal/webapp/leases has the Redis and SQL ones). The web app holds the
// lease of a grant while it refreshes that grant's tokens, so that two
// instances never present one refresh token twice.
//
// A lease expires by itself after its ttl, so an instance that dies while
// holding one blocks the others for at most that long.
type Leases interface {
	// Acquire takes the lease on name for owner, for ttl, unless another
	// owner holds an unexpired one; it reports whether owner now holds it.
	// owner is a fresh random token for every call.
	Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// Release ends owner's lease on name. It never ends another owner's
	// lease (one taken after owner's expired).
	Release(ctx context.Context, name, owner string) error
}

const (
	// leasePrefix names refresh leases; with a grant ID from newGrantID it
	// stays within the 43 characters of the MySQL sessions table's key.
	leasePrefix = "webapp-lock:"
	// refreshLeaseTTL bounds how long one refresh may hold a grant's lease.
	// It is longer than refreshTimeout, the most a refresh and the save of
	// its result may take, so a lease never expires under a live refresh.
	refreshLeaseTTL = 30 * time.Second
	refreshTimeout  = 15 * time.Second
	// Polling for a lease held elsewhere starts at leasePollMin and backs
	// off to leasePollMax, with jitter.
	leasePollMin = 10 * time.Millisecond
	leasePollMax = 200 * time.Millisecond
)

// lockGrant serializes the refreshes of one grant. The lock held in this
// process comes first, so only one request per instance waits on the shared
// store; then, when the web app has shared leases, the grant's lease. While
// it waits for the lease, it re-reads the token record: when another
// instance has meanwhile stored a usable access token (one that is not
// stale), that record is returned and no lock is held (unlock is nil).
func (s *Server) lockGrant(ctx context.Context, grant, stale string) (unlock func(), current tokenRecord, err error) {
	unlockLocal, err := s.locks.lock(ctx, grant)
	if err != nil {
		return nil, tokenRecord{}, err
	}
	if s.leases == nil {
		return unlockLocal, tokenRecord{}, nil
	}
	owner, err := secret.NewToken()
	if err != nil {
		unlockLocal()
		return nil, tokenRecord{}, err
	}
	name := leasePrefix + grant
	wait := leasePollMin
	for {
		ok, err := s.leases.Acquire(ctx, name, owner, refreshLeaseTTL)
		if err != nil {
			// The store may have taken the lease before the error (a
			// request deadline ending after the write): give it back, or
			// every instance waits for it to expire.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = s.leases.Release(rctx, name, owner)
			cancel()
			unlockLocal()
			return nil, tokenRecord{}, fmt.Errorf("%w: taking the refresh lease: %w", errSessionStore, err)
		}
		if ok {
			break
		}
		// Another instance is refreshing: its result may already be there.
		rec, err := s.tokens.load(ctx, grant)
		if err != nil {
			unlockLocal()
			return nil, tokenRecord{}, err
		}
		if rec.fresh(s.now()) && (stale == "" || rec.AccessToken != stale) {
			unlockLocal()
			return nil, rec, nil
		}
		t := time.NewTimer(wait/2 + rand.N(wait/2+1))
		select {
		case <-ctx.Done():
			t.Stop()
			unlockLocal()
			return nil, tokenRecord{}, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, leasePollMax)
	}
	return func() {
		// Released even when the request is gone: otherwise the lease
		// would block the other instances until it expires.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.leases.Release(rctx, name, owner); err != nil {
			s.log.WarnContext(ctx, "releasing the refresh lease", slog.String("error", err.Error()))
		}
		unlockLocal()
	}, tokenRecord{}, nil
}
