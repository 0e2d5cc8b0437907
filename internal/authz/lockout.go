package authz

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// Sign-in throttling (OWASP ASVS V2.2.1), kept in the shared store so that
// it holds across instances.
//
// Every attempt is counted, per username and per client address, before
// its password is checked: the count is reserved atomically, so of any
// number of simultaneous attempts only the first UserLimit (or
// AddressLimit) in a window reach the password check, and the rest are
// answered 429 without it. A sign-in that succeeds resets its username's
// count and gives its address's attempt back (an address's count is never
// reset: an attacker with one valid account could otherwise clear it).

// Lockout is the sign-in throttling policy.
type Lockout struct {
	Window       time.Duration // counting window; default 15m
	SlowAfter    int           // attempts before each failure is answered late; default 3
	Delay        time.Duration // delay per attempt beyond SlowAfter, capped at 2s; default 250ms
	UserLimit    int           // attempts per username per window; default 10
	AddressLimit int           // attempts per client address per window; default 100
	// FactorLimit caps wrong authenticator-app codes per username in
	// FactorWindow (default 20 in 24h), past which only a recovery code
	// or a passkey gets in: the per-window limit alone would let someone
	// with the password guess codes slowly for ever (NIST SP 800-63B
	// §5.2.2 asks at most 100 consecutive failures).
	FactorLimit  int
	FactorWindow time.Duration
}

func (l Lockout) withDefaults() Lockout {
	l.Window = orDuration(l.Window, 15*time.Minute)
	l.Delay = orDuration(l.Delay, 250*time.Millisecond)
	if l.SlowAfter <= 0 {
		l.SlowAfter = 3
	}
	if l.UserLimit <= 0 {
		l.UserLimit = 10
	}
	if l.AddressLimit <= 0 {
		l.AddressLimit = 100
	}
	if l.FactorLimit <= 0 {
		l.FactorLimit = 20
	}
	l.FactorWindow = orDuration(l.FactorWindow, 24*time.Hour)
	return l
}

// maxFailureDelay caps how late a failed sign-in is answered.
const maxFailureDelay = 2 * time.Second

// Bounds on what the login form accepts; longer input is a failed login
// without a look-up.
const (
	maxUsername = 256
	maxPassword = 1024
)

// attemptStore is the part of the store lockout uses.
type attemptStore interface {
	AddLoginAttempt(ctx context.Context, key string, now time.Time, window time.Duration) (int, error)
	ReleaseLoginAttempt(ctx context.Context, key string, now time.Time) error
	ResetLoginAttempts(ctx context.Context, key string) error
}

// lockout counts sign-in attempts.
type lockout struct {
	store  attemptStore
	policy Lockout
	now    func() time.Time
}

func newLockout(store attemptStore, policy Lockout, now func() time.Time) *lockout {
	return &lockout{store: store, policy: policy, now: now}
}

// attempt is one reserved sign-in attempt.
type attempt struct {
	userKey, addrKey string
	// count is the higher of the two counts, this attempt included.
	count int
	// allowed is false when a limit was passed: the password must not be
	// checked.
	allowed bool
}

// userAttemptKey names a username's counter. The username is hashed so
// that any input (any length, any bytes) makes a short key, and the table
// holds no usernames.
func userAttemptKey(username string) string {
	return "user:" + secret.HashToken(strings.ToLower(username))
}

// addrAttemptKey names a client address's counter: IPv6 addresses count by
// their /64 (httpserver.ClientNetwork).
func addrAttemptKey(addr string) string { return "addr:" + httpserver.ClientNetwork(addr) }

// reserve counts an attempt for username from addr, before its password is
// checked. An error means the attempt could not be counted: the caller
// must not check the password.
func (l *lockout) reserve(ctx context.Context, username, addr string) (attempt, error) {
	now := l.now()
	a := attempt{userKey: userAttemptKey(username), addrKey: addrAttemptKey(addr)}
	nu, err := l.store.AddLoginAttempt(ctx, a.userKey, now, l.policy.Window)
	if err != nil {
		return a, fmt.Errorf("counting a sign-in attempt: %w", err)
	}
	na, err := l.store.AddLoginAttempt(ctx, a.addrKey, now, l.policy.Window)
	if err != nil {
		return a, fmt.Errorf("counting a sign-in attempt: %w", err)
	}
	a.count = max(nu, na)
	a.allowed = nu <= l.policy.UserLimit && na <= l.policy.AddressLimit
	return a, nil
}

// failureDelay is how long a failed attempt is answered late: nothing for
// the first SlowAfter attempts, then Delay more for each, up to
// maxFailureDelay.
func (l *lockout) failureDelay(a attempt) time.Duration {
	excess := a.count - l.policy.SlowAfter
	if excess <= 0 {
		return 0
	}
	return min(time.Duration(excess)*l.policy.Delay, maxFailureDelay)
}

// abandoned gives both attempts back: the request ended before its
// password was checked.
func (l *lockout) abandoned(ctx context.Context, a attempt) error {
	now := l.now()
	return errors.Join(
		l.store.ReleaseLoginAttempt(ctx, a.userKey, now),
		l.store.ReleaseLoginAttempt(ctx, a.addrKey, now),
	)
}

// succeeded resets the username's count and gives the address's attempt
// back.
func (l *lockout) succeeded(ctx context.Context, a attempt) error {
	return errors.Join(
		l.store.ResetLoginAttempts(ctx, a.userKey),
		l.store.ReleaseLoginAttempt(ctx, a.addrKey, l.now()),
	)
}

// passwordAccepted gives the address's attempt back when a password was
// right but a second factor is still due. The username's count stays
// until the whole sign-in succeeds, so a known password does not clear
// the count that limits wrong codes; the address is not charged for a
// person who proves their password.
func (l *lockout) passwordAccepted(ctx context.Context, a attempt) error {
	return l.store.ReleaseLoginAttempt(ctx, a.addrKey, l.now())
}

// resetUser forgets the username's count: a sign-in whose second step
// succeeded without an attempt of its own (a passkey, or an enrolment)
// ends the way a successful password does.
func (l *lockout) resetUser(ctx context.Context, username string) error {
	return l.store.ResetLoginAttempts(ctx, userAttemptKey(username))
}

// factorAttemptKey names a username's count of app codes.
func factorAttemptKey(username string) string {
	return "factor:" + secret.HashToken(strings.ToLower(username))
}

// reserveFactor counts an app code's try for username and reports
// whether the daily cap is passed: the code must not be checked.
func (l *lockout) reserveFactor(ctx context.Context, username string) (capped bool, err error) {
	n, err := l.store.AddLoginAttempt(ctx, factorAttemptKey(username), l.now(), l.policy.FactorWindow)
	if err != nil {
		return false, fmt.Errorf("counting a second-factor attempt: %w", err)
	}
	return n > l.policy.FactorLimit, nil
}

// factorSucceeded forgets the username's app codes: a right code or a
// recovery code ends the run of failures.
func (l *lockout) factorSucceeded(ctx context.Context, username string) error {
	return l.store.ResetLoginAttempts(ctx, factorAttemptKey(username))
}
