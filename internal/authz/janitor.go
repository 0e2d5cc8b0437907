package authz

import (
	"context"
	"time"
)

// The janitor removes expired rows in small batches, so tables do not grow
// without bound and no sweep holds long locks.
const (
	janitorInterval = 5 * time.Minute
	janitorBatch    = 500
	janitorMaxLoops = 20 // per table per sweep; the rest waits for the next
)

// sweep deletes expired authorization requests, tokens, sessions, consent,
// failure counters and retired keys.
func (s *Server) sweep(ctx context.Context) {
	now := s.now()
	tables := []struct {
		name string
		del  func(context.Context, time.Time, int) (int, error)
	}{
		{"auth_requests", s.store.DeleteExpiredAuthRequests},
		{"tokens", s.store.DeleteExpiredTokens},
		{"sessions", s.store.DeleteExpiredSessions},
	}
	for _, t := range tables {
		total := 0
		for range janitorMaxLoops {
			n, err := t.del(ctx, now, janitorBatch)
			total += n
			if err != nil {
				s.log.ErrorContext(ctx, "janitor", "table", t.name, "err", err)
				break
			}
			if n < janitorBatch || ctx.Err() != nil {
				break
			}
		}
		if total > 0 {
			s.log.InfoContext(ctx, "janitor removed expired rows", "table", t.name, "rows", total)
		}
	}
	if n, err := s.store.DeleteExpiredKeys(ctx, now); err != nil {
		s.log.ErrorContext(ctx, "janitor", "table", "keys", "err", err)
	} else if n > 0 {
		s.audit.InfoContext(ctx, "retired signing keys removed", "event", "key_removed", "count", n)
	}
}
