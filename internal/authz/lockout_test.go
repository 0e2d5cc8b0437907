package authz

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestAnyLocked_LookupChangesNothing: checking a lock counts nothing and
// never locks, whatever order the look-ups' times arrive in (racing
// requests, or instances whose clocks differ slightly); only failures
// reaching the limit lock, for one window.
func TestAnyLocked_LookupChangesNothing(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
		c.Lockout = Lockout{Window: time.Minute, Delay: time.Millisecond, UserLimit: 2, AddressLimit: 100}
	})
	ctx := context.Background()
	user, addr := userFailureKey("alice"), "addr:192.0.2.1"
	locked := func(step string, want bool) {
		t.Helper()
		got, err := e.srv.anyLocked(ctx, user, addr)
		if err != nil {
			t.Fatalf("%s: anyLocked: %v", step, err)
		}
		if got != want {
			t.Errorf("%s: locked = %v, want %v", step, got, want)
		}
	}
	for _, step := range []struct {
		name string
		move time.Duration
	}{
		{"first look-up", 0},
		{"same instant", 0},
		{"an earlier time", -time.Millisecond},
		{"a later time", 2 * time.Millisecond},
		{"much earlier", -time.Second},
	} {
		e.clock.Add(step.move)
		locked(step.name, false)
	}
	if n, err := e.store.LoginFailures(ctx, failuresKey(user), e.clock.Now()); err != nil || n != 0 {
		t.Errorf("failures after look-ups = %d, %v; want 0", n, err)
	}

	if _, err := e.srv.loginFailed(ctx, failureCount{user, 2}, failureCount{addr, 100}); err != nil {
		t.Fatal(err)
	}
	locked("one failure below the limit", false)
	if _, err := e.srv.loginFailed(ctx, failureCount{user, 2}, failureCount{addr, 100}); err != nil {
		t.Fatal(err)
	}
	locked("the failure reaching the limit", true)
	e.clock.Add(time.Minute - time.Millisecond)
	locked("just before the lock's window ends", true)
	e.clock.Add(time.Millisecond)
	locked("when the lock's window ends", false)
}
