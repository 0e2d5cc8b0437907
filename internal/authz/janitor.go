package authz

import (
	"context"
	"time"
)

// janitorBatch is how many rows one delete statement removes at most: small,
// so that no statement holds its locks for long. A sweep repeats batches
// until it has caught up.
const janitorBatch = 500

// Sweep runs the janitor once, as Run does every JanitorInterval: it deletes
// expired authorization requests, tokens, sessions, consent, failure
// counters, one-time values and retired keys. Tables take turns, one batch each, until every
// table has returned a short batch (nothing expired is left), ctx ends, or
// half of JanitorInterval has passed (after the first turn); what is left
// waits for the next sweep.
// It returns how many rows it removed.
func (s *Server) Sweep(ctx context.Context) int {
	now := s.now()
	deadline := time.Now().Add(s.cfg.JanitorInterval / 2)
	type table struct {
		name  string
		del   func(context.Context, time.Time, int) (int, error)
		total int
	}
	tables := []*table{
		{name: "auth_requests", del: s.store.DeleteExpiredAuthRequests},
		{name: "tokens", del: s.store.DeleteExpiredTokens},
		{name: "sessions", del: s.store.DeleteExpiredSessions},
		{name: "replays", del: s.store.DeleteExpiredReplays},
	}
	pending := tables
	for round := 0; len(pending) > 0 && ctx.Err() == nil && (round == 0 || time.Now().Before(deadline)); round++ {
		var next []*table
		for _, t := range pending {
			n, err := t.del(ctx, now, janitorBatch)
			t.total += n
			if err != nil {
				if ctx.Err() == nil {
					s.log.ErrorContext(ctx, "janitor", "table", t.name, "err", err)
				}
				continue // until the next sweep
			}
			if n >= janitorBatch {
				next = append(next, t)
			}
		}
		pending = next
	}
	removed := 0
	for _, t := range tables {
		removed += t.total
		if t.total > 0 {
			s.log.InfoContext(ctx, "janitor removed expired rows", "table", t.name, "rows", t.total)
		}
	}
	if ctx.Err() != nil {
		return removed
	}
	for _, t := range pending {
		s.log.WarnContext(ctx, "janitor stopped before removing every expired row; the next sweep goes on",
			"table", t.name, "budget", s.cfg.JanitorInterval/2)
	}
	if n, err := s.store.DeleteExpiredKeys(ctx, now); err != nil {
		s.log.ErrorContext(ctx, "janitor", "table", "keys", "err", err)
	} else if n > 0 {
		removed += n
		s.audit.InfoContext(ctx, "retired signing keys removed", "event", "key_removed", "count", n)
	}
	return removed
}
