package authz

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestLockout_Reserve: attempts are counted before the password check; past
// a limit an attempt is not allowed, until the window ends; a success resets
// the username and gives the address's attempt back.
func TestLockout_Reserve(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
		c.Lockout = Lockout{Window: time.Minute, Delay: time.Millisecond, UserLimit: 2, AddressLimit: 3}
	})
	ctx := context.Background()
	l := e.srv.lockout
	reserve := func(step, user string, want bool) attempt {
		t.Helper()
		a, err := l.reserve(ctx, user, "192.0.2.1")
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if a.allowed != want {
			t.Fatalf("%s: allowed = %v (count %d), want %v", step, a.allowed, a.count, want)
		}
		return a
	}
	reserve("first", "alice", true)
	a := reserve("second", "alice", true)
	reserve("third, past the user limit", "alice", false)
	if err := l.succeeded(ctx, a); err != nil {
		t.Fatal(err)
	}
	reserve("after a success the username starts again", "alice", true)
	reserve("the address is at its limit", "bob", false)
	e.clock.Add(time.Minute)
	reserve("a new window", "bob", true)
}

// burstEnv is an environment whose password checks are counted and can be
// held, with room for every sign-in of a burst to verify at once.
func burstEnv(t *testing.T, lo Lockout) (*env, *atomic.Int32, chan struct{}) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { c.Lockout = lo })
	var calls atomic.Int32
	hold := make(chan struct{})
	pc := e.srv.passwords
	pc.limiter = password.NewLimiter(64)
	pc.verify = func(pw, encoded string) (bool, error) { calls.Add(1); <-hold; return password.Verify(pw, encoded) }
	pc.verifyDummy = func(string) { calls.Add(1); <-hold }
	return e, &calls, hold
}

// TestLockout_ConcurrentBurst: 40 simultaneous wrong guesses for one
// username (limit 10), or for 40 usernames from one address (limit 10),
// reach the password check 10 times; the rest are answered 429 without it.
func TestLockout_ConcurrentBurst(t *testing.T) {
	for _, tc := range []struct {
		name string
		lo   Lockout
		user func(i int) string
	}{
		{"one username", Lockout{Delay: time.Millisecond, UserLimit: 10, AddressLimit: 1000}, func(int) string { return "alice" }},
		{"one address", Lockout{Delay: time.Millisecond, UserLimit: 1000, AddressLimit: 10}, func(i int) string { return fmt.Sprintf("guess%d", i) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, calls, hold := burstEnv(t, tc.lo)
			close(hold)
			const n = 40
			status := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { status[i] = e.loginAs(tc.user(i), "wrong password") })
			}
			wg.Wait()
			count := map[int]int{}
			for _, st := range status {
				count[st]++
			}
			if got := calls.Load(); got != 10 {
				t.Errorf("%d password checks for %d guesses, want 10", got, n)
			}
			if count[http.StatusUnauthorized] != 10 || count[http.StatusTooManyRequests] != n-10 {
				t.Errorf("statuses %v, want 10 × 401 and %d × 429", count, n-10)
			}
		})
	}
}

// TestLockout_CorrectPasswordInsideBurst: while ten wrong guesses are being
// checked, the right password is refused without a check: the ten used up
// the window's attempts before their passwords were verified.
func TestLockout_CorrectPasswordInsideBurst(t *testing.T) {
	e, calls, hold := burstEnv(t, Lockout{Delay: time.Millisecond, UserLimit: 10, AddressLimit: 1000})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { e.loginAs("alice", "wrong password") })
	}
	waitFor(t, "ten checks in progress", func() bool { return calls.Load() == 10 })
	st := e.loginAs("alice", alicePassword)
	close(hold)
	wg.Wait()
	if st != http.StatusTooManyRequests {
		t.Fatalf("correct password inside a burst of 10 wrong ones: status %d, want 429", st)
	}
	if got := calls.Load(); got != 10 {
		t.Fatalf("%d password checks, want 10", got)
	}
}

// TestLockout_IPv6CountsByNetwork: an IPv6 client counts under its /64: a
// host that changes its address for every guess stays under one limit.
func TestLockout_IPv6CountsByNetwork(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
		c.Lockout = Lockout{Window: time.Minute, Delay: time.Millisecond, UserLimit: 100, AddressLimit: 2}
	})
	ctx := context.Background()
	for i, tc := range []struct {
		addr string
		want bool
	}{
		{"2001:db8:1:2::1", true},
		{"2001:db8:1:2::ffff:2", true},
		{"2001:db8:1:2:abcd::3", false}, // the same /64, past its limit
		{"2001:db8:1:3::1", true},       // another network
	} {
		a, err := e.srv.lockout.reserve(ctx, fmt.Sprintf("guess%d", i), tc.addr)
		if err != nil {
			t.Fatal(err)
		}
		if a.allowed != tc.want {
			t.Errorf("%s: allowed = %v, want %v", tc.addr, a.allowed, tc.want)
		}
	}
}
