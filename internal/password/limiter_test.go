package password

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLimiterBoundsConcurrency: never more than n hashes run at once, every
// caller gets its answer, and a caller whose context ends stops waiting.
func TestLimiterBoundsConcurrency(t *testing.T) {
	cheap := Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	hash, err := HashWithParams("right password", cheap)
	if err != nil {
		t.Fatal(err)
	}
	l := NewLimiter(2)
	var running, peak atomic.Int32
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.acquire(context.Background()); err != nil {
				t.Error(err)
				return
			}
			n := running.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			time.Sleep(2 * time.Millisecond)
			running.Add(-1)
			l.release()
			pw := "wrong"
			if i%2 == 0 {
				pw = "right password"
			}
			ok, err := l.Verify(context.Background(), pw, hash)
			if err != nil || ok != (i%2 == 0) {
				t.Errorf("Verify(%q) = %v, %v", pw, ok, err)
			}
		}()
	}
	wg.Wait()
	if p := peak.Load(); p > 2 || p < 1 {
		t.Fatalf("peak concurrency %d, want 1..2", p)
	}

	full := NewLimiter(1)
	if err := full.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := full.Verify(ctx, "x", hash); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Verify on a full limiter = %v, want the context's error", err)
	}
	if err := full.VerifyDummy(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("VerifyDummy on a full limiter = %v", err)
	}
}

// TestLimiterDo: Do runs fn within the limit, and not at all for a context
// that has ended, even when a slot is free.
func TestLimiterDo(t *testing.T) {
	l := NewLimiter(1)
	ran := false
	if err := l.Do(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Fatalf("Do = %v, ran %v", err, ran)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 { // select between two ready cases would pick either
		ran = false
		if err := l.Do(ctx, func() { ran = true }); !errors.Is(err, context.Canceled) || ran {
			t.Fatalf("Do with an ended context = %v, ran %v", err, ran)
		}
	}
	// The slot was released each time: Do still runs.
	if err := l.Do(context.Background(), func() { ran = true }); err != nil || !ran {
		t.Fatalf("Do after = %v", err)
	}
}
