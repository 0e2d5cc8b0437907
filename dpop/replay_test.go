package dpop

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestMemoryReplays(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := NewMemoryReplays()
	use := func(key string, expiresAt, now time.Time) error { return m.UseOnce(ctx, key, expiresAt, now) }

	if err := use("a", t0.Add(time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	if err := use("b", t0.Add(2*time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	if err := use("a", t0.Add(time.Minute), t0.Add(30*time.Second)); !errors.Is(err, ErrReplayed) {
		t.Errorf("a again: %v, want ErrReplayed", err)
	}
	// Until its expiry included.
	if err := use("a", t0.Add(time.Minute), t0.Add(time.Minute)); !errors.Is(err, ErrReplayed) {
		t.Errorf("a at its expiry: %v, want ErrReplayed", err)
	}
	// Past it, a is forgotten (and usable again); b is not.
	later := t0.Add(time.Minute + time.Nanosecond)
	if err := use("c", later.Add(time.Minute), later); err != nil {
		t.Fatal(err)
	}
	if n := m.Len(); n != 2 {
		t.Errorf("%d keys held after a expired, want 2 (b, c)", n)
	}
	if err := use("a", later.Add(time.Minute), later); err != nil {
		t.Errorf("a after its expiry: %v", err)
	}
	if err := use("b", later.Add(time.Minute), later); !errors.Is(err, ErrReplayed) {
		t.Errorf("b before its expiry: %v, want ErrReplayed", err)
	}
	// Everything expired: all forgotten at the next use.
	end := t0.Add(time.Hour)
	if err := use("d", end.Add(time.Minute), end); err != nil {
		t.Fatal(err)
	}
	if n := m.Len(); n != 1 {
		t.Errorf("%d keys held after all expired, want 1", n)
	}
}

func TestMemoryReplaysFull(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	m := NewMemoryReplays()
	m.max = 2
	for _, k := range []string{"a", "b"} {
		if err := m.UseOnce(ctx, k, t0.Add(time.Minute), t0); err != nil {
			t.Fatal(err)
		}
	}
	err := m.UseOnce(ctx, "c", t0.Add(time.Minute), t0)
	if err == nil || errors.Is(err, ErrReplayed) {
		t.Fatalf("full store: %v, want a store failure", err)
	}
	// A replay is still told apart when full.
	if err := m.UseOnce(ctx, "a", t0.Add(time.Minute), t0); !errors.Is(err, ErrReplayed) {
		t.Errorf("replay when full: %v", err)
	}
	// Room again once keys expire.
	if err := m.UseOnce(ctx, "c", t0.Add(3*time.Minute), t0.Add(2*time.Minute)); err != nil {
		t.Errorf("after expiry: %v", err)
	}
}
