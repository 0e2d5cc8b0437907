package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// Failed-login throttling, in the shared store so that it holds across
// instances. Only failures count; a success resets the username's count
// (an address's count is not reset: an attacker with one valid account
// could otherwise clear it).
//
// Two counters per key (a username or a client address), both
// storage.Sessions failure counters:
//
//   - "fail:" + key counts failures in a window that starts at the first
//     one;
//   - "lock:" + key is non-zero while the key is locked: the failure that
//     reaches the limit counts on it, which locks the key for one window
//     from that failure.
//
// Checking a lock reads the counter (LoginFailures) and changes nothing.

// Bounds on what the login form accepts; longer input is a failed login
// without a look-up.
const (
	maxUsername = 256
	maxPassword = 1024
)

// userFailureKey names a username's counter. The username is hashed so
// that any input (any length, any bytes) makes a short key, and the table
// holds no usernames.
func userFailureKey(username string) string {
	return "user:" + secret.HashToken(strings.ToLower(username))
}

func failuresKey(key string) string { return "fail:" + key }
func lockKey(key string) string     { return "lock:" + key }

// anyLocked reports whether any of keys is locked.
func (s *Server) anyLocked(ctx context.Context, keys ...string) (bool, error) {
	now := s.now()
	for _, k := range keys {
		n, err := s.store.LoginFailures(ctx, lockKey(k), now)
		if err != nil {
			return false, fmt.Errorf("reading the lock of %s: %w", k, err)
		}
		if n > 0 {
			return true, nil
		}
	}
	return false, nil
}

// failureCount is a counter and its limit.
type failureCount struct {
	key   string
	limit int
}

// loginFailed counts a failure on each counter, locks those that reached
// their limit, and returns the highest count.
func (s *Server) loginFailed(ctx context.Context, counts ...failureCount) (int, error) {
	now := s.now()
	window := s.cfg.Lockout.Window
	highest := 0
	var errs []error
	for _, c := range counts {
		n, err := s.store.AddLoginFailure(ctx, failuresKey(c.key), now, window)
		if err != nil {
			errs = append(errs, fmt.Errorf("counting a failure of %s: %w", c.key, err))
			continue
		}
		highest = max(highest, n)
		if n >= c.limit {
			if _, err := s.store.AddLoginFailure(ctx, lockKey(c.key), now, window); err != nil {
				errs = append(errs, fmt.Errorf("locking %s: %w", c.key, err))
			}
		}
	}
	return highest, errors.Join(errs...)
}
