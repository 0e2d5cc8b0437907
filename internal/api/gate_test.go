package api

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
)

// TestGate: a principal holds at most limit turns; one more waits for a
// turn given back, or gets errBusy when the wait or its context ends; other
// principals are not held up; a principal without requests is forgotten.
func TestGate(t *testing.T) {
	ctx := context.Background()
	g := newGate(2, time.Minute)
	r1, err1 := g.acquire(ctx, "a")
	r2, err2 := g.acquire(ctx, "a")
	if err1 != nil || err2 != nil {
		t.Fatalf("first two turns: %v, %v", err1, err2)
	}
	// Another principal has its own turns.
	rb, err := g.acquire(ctx, "b")
	if err != nil {
		t.Fatalf("other principal: %v", err)
	}
	rb()

	// A third request waits until a turn is given back.
	got := make(chan error, 1)
	var r3 func()
	go func() {
		var err error
		r3, err = g.acquire(ctx, "a")
		got <- err
	}()
	select {
	case err := <-got:
		t.Fatalf("third turn taken while two are held: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	r1()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("third turn after one came back: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("third turn not given when one came back")
	}

	// The wait ends with errBusy: when it runs out, or when the request's
	// context ends first.
	short := newGate(1, 20*time.Millisecond)
	rs, _ := short.acquire(ctx, "a")
	if _, err := short.acquire(ctx, "a"); !errors.Is(err, errBusy) {
		t.Errorf("after the wait: %v, want errBusy", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.acquire(cctx, "a"); !errors.Is(err, errBusy) {
		t.Errorf("with an ended context: %v, want errBusy", err)
	}
	noWait := newGate(1, 0)
	rn, _ := noWait.acquire(ctx, "a")
	if _, err := noWait.acquire(ctx, "a"); !errors.Is(err, errBusy) {
		t.Errorf("without a wait: %v, want errBusy", err)
	}

	r2()
	r3()
	rs()
	rn()
	for name, gt := range map[string]*gate{"g": g, "short": short, "noWait": noWait} {
		if n := len(gt.byKey); n != 0 {
			t.Errorf("%s keeps %d principals after every turn came back", name, n)
		}
	}
}

// TestPrincipalKey: the principal is the client and the user, not the token.
func TestPrincipalKey(t *testing.T) {
	base := bearer.Claims{ClientID: "app", Subject: "alice", TokenID: "t1", IssuedAt: time.Unix(1, 0)}
	same := base
	same.TokenID, same.IssuedAt = "t2", time.Unix(2, 0)
	otherClient := base
	otherClient.ClientID = "other"
	otherUser := base
	otherUser.Subject = "bob"
	// Without the lengths these two would both read "app:x:y".
	split1 := bearer.Claims{ClientID: "app:x", Subject: "y"}
	split2 := bearer.Claims{ClientID: "app", Subject: "x:y"}
	if principalKey(&base) != principalKey(&same) {
		t.Error("a new token of the same client and user is another principal")
	}
	for name, c := range map[string]*bearer.Claims{"other client": &otherClient, "other user": &otherUser} {
		if principalKey(c) == principalKey(&base) {
			t.Errorf("%s: same principal", name)
		}
	}
	if principalKey(&split1) == principalKey(&split2) {
		t.Error("client and subject are ambiguous in the key")
	}
}

// TestApplyQueryLimits: a principal's concurrency is at most half the read
// pool; a set without query limits gets the defaults; bad limits are
// refused.
func TestApplyQueryLimits(t *testing.T) {
	def := resource.QueryLimits{Concurrency: resource.DefaultConcurrency, Wait: resource.DefaultQueryWait, Timeout: resource.DefaultQueryTimeout}
	four := resource.QueryLimits{Concurrency: 4, Wait: time.Second, Timeout: time.Second}
	tests := []struct {
		name string
		in   resource.QueryLimits
		pool int
		want int // concurrency; 0: refused
	}{
		{"pool unknown", four, 0, 4},
		{"pool of 20", four, 20, 4},
		{"pool of 8", four, 8, 4},
		{"pool of 4", four, 4, 2},
		{"pool of 1", four, 1, 1},
		{"no limits set", resource.QueryLimits{}, 0, def.Concurrency},
		{"no timeout", resource.QueryLimits{Concurrency: 4}, 0, 0},
		{"negative wait", resource.QueryLimits{Concurrency: 4, Wait: -1, Timeout: time.Second}, 0, 0},
	}
	for _, tc := range tests {
		got, err := applyQueryLimits(tc.in, tc.pool)
		switch {
		case tc.want == 0 && err == nil:
			t.Errorf("%s: %+v accepted", tc.name, got)
		case tc.want != 0 && (err != nil || got.Concurrency != tc.want):
			t.Errorf("%s: %+v, %v; want a concurrency of %d", tc.name, got, err, tc.want)
		}
	}
}
