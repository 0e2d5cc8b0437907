package api

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
)

// The database work of one principal is bounded twice (resource.QueryLimits):
//
//   - at most a few of its requests query the store at once (gate): the
//     others wait a short while for a turn, then answer 429, without taking
//     a connection of the shared pool;
//   - each store query runs within a budget below the request deadline: one
//     that exceeds it is cancelled and the request answers 503.
//
// A principal is a token's client and user (client_id and sub, not the
// token: tokens are minted freely), or the client network for public
// methods; the rate limits (ratelimit.go) count by the same key.

// errBusy: the principal's turns were all taken for the whole wait.
var errBusy = errors.New("api: too many concurrent queries")

// errQueryTimeout: a store query exceeded its budget (or the request's
// deadline).
var errQueryTimeout = errors.New("api: query exceeded its time budget")

// errClientGone: the client went away while its query ran.
var errClientGone = errors.New("api: the client went away")

// applyQueryLimits returns the limits the server applies: the resource
// file's (the defaults for a set that has none), with a concurrency of at
// most half the read pool when its size is known, so that one principal
// never holds the whole pool.
func applyQueryLimits(l resource.QueryLimits, readPool int) (resource.QueryLimits, error) {
	if l == (resource.QueryLimits{}) {
		l = resource.DefaultQueryLimits()
	}
	if err := l.Check(); err != nil {
		return l, fmt.Errorf("api: query limits: %w", err)
	}
	if readPool > 0 {
		l.Concurrency = min(l.Concurrency, max(1, readPool/2))
	}
	return l, nil
}

// principalKey identifies the client and user of a token.
func principalKey(c *bearer.Claims) string {
	// The length keeps the pair unambiguous whatever the strings hold.
	return fmt.Sprintf("sub:%d:%s:%s", len(c.ClientID), c.ClientID, c.Subject)
}

// gate bounds the requests of one principal that query the store at once.
// A principal's entry lives while one of its requests holds or waits for a
// turn, so the map holds only principals with requests in flight.
type gate struct {
	limit int
	wait  time.Duration

	mu    sync.Mutex
	byKey map[string]*turns
}

// turns are one principal's.
type turns struct {
	sem  chan struct{} // one element per turn taken
	refs int           // requests holding or waiting for a turn
}

func newGate(limit int, wait time.Duration) *gate {
	return &gate{limit: limit, wait: wait, byKey: map[string]*turns{}}
}

// acquire takes one of key's turns, waiting at most g.wait (and not past
// ctx) for one; it returns the function that gives the turn back, or
// errBusy.
func (g *gate) acquire(ctx context.Context, key string) (release func(), err error) {
	g.mu.Lock()
	t, ok := g.byKey[key]
	if !ok {
		t = &turns{sem: make(chan struct{}, g.limit)}
		g.byKey[key] = t
	}
	t.refs++
	g.mu.Unlock()
	done := func() {
		g.mu.Lock()
		t.refs--
		if t.refs == 0 {
			delete(g.byKey, key)
		}
		g.mu.Unlock()
	}
	release = func() {
		<-t.sem
		done()
	}
	select {
	case t.sem <- struct{}{}:
		return release, nil
	default:
	}
	if g.wait <= 0 {
		done()
		return nil, errBusy
	}
	timer := time.NewTimer(g.wait)
	defer timer.Stop()
	select {
	case t.sem <- struct{}{}:
		return release, nil
	case <-timer.C:
	case <-ctx.Done():
	}
	done()
	return nil, errBusy
}

// run makes one store call of h's request: under the principal's turn
// (taken at the request's first call and held until it ends, so a request
// holds at most one connection at a time) and within the query budget.
func run[T any](ctx context.Context, h *handler, call func(context.Context) (T, error)) (T, error) {
	var zero T
	if h.release == nil {
		rel, err := h.s.gate.acquire(ctx, h.principal)
		if err != nil {
			return zero, err
		}
		h.release = rel
	}
	qctx, cancel := context.WithTimeout(ctx, h.s.limits.Timeout)
	defer cancel()
	v, err := call(qctx)
	if err != nil {
		switch {
		case errors.Is(qctx.Err(), context.DeadlineExceeded):
			return zero, fmt.Errorf("%w: %w", errQueryTimeout, err)
		case errors.Is(ctx.Err(), context.Canceled):
			return zero, fmt.Errorf("%w: %w", errClientGone, err)
		}
	}
	return v, err
}

// exec is run for store calls that return only an error.
func exec(ctx context.Context, h *handler, call func(context.Context) error) error {
	_, err := run(ctx, h, func(ctx context.Context) (struct{}, error) { return struct{}{}, call(ctx) })
	return err
}

// done ends h's request: its turn, if it took one, goes back.
func (h *handler) done() {
	if h.release != nil {
		h.release()
		h.release = nil
	}
}
