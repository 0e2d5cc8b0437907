package dpop_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/dpop"
)

func TestNewNonces(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	for _, tt := range []struct {
		name     string
		secret   []byte
		lifetime time.Duration
		ok       bool
	}{
		{"ok", secret, time.Minute, true},
		{"one second", secret, time.Second, true},
		{"short secret", secret[:31], time.Minute, false},
		{"no secret", nil, time.Minute, false},
		{"short lifetime", secret, time.Second - 1, false},
		{"negative lifetime", secret, -time.Minute, false},
	} {
		n, err := dpop.NewNonces(tt.secret, tt.lifetime, nil)
		if (err == nil) != tt.ok || (n != nil) != tt.ok {
			t.Errorf("%s: %v, %v", tt.name, n, err)
		}
	}
}

func TestNonces(t *testing.T) {
	secret := []byte(strings.Repeat("s", 32))
	var mu sync.Mutex
	at := time.Date(2026, 3, 1, 12, 0, 30, 0, time.UTC)
	tick := func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	set := func(t time.Time) { mu.Lock(); defer mu.Unlock(); at = t }
	start := at

	a, err := dpop.NewNonces(secret, time.Minute, tick)
	if err != nil {
		t.Fatal(err)
	}
	b, err := dpop.NewNonces(append([]byte(nil), secret...), time.Minute, tick)
	if err != nil {
		t.Fatal(err)
	}
	other, err := dpop.NewNonces([]byte(strings.Repeat("o", 32)), time.Minute, tick)
	if err != nil {
		t.Fatal(err)
	}
	n := a.Current()
	if len(n) != 43 {
		t.Errorf("nonce %q: want 43 base64url characters", n)
	}
	if b.Current() != n || !b.Valid(n) {
		t.Error("two Nonces with one secret disagree")
	}
	if other.Current() == n || other.Valid(n) {
		t.Error("Nonces of another secret accept the nonce")
	}
	for _, bad := range []string{"", "x", n + "A", n[:42], strings.ToUpper(n), "!" + n[1:]} {
		if bad != n && a.Valid(bad) {
			t.Errorf("Valid(%q)", bad)
		}
	}

	for _, tt := range []struct {
		later time.Duration
		same  bool // the same nonce is current
		valid bool
	}{
		{29 * time.Second, true, true},    // same step
		{30 * time.Second, false, true},   // next step: previous accepted
		{89 * time.Second, false, true},   // still the next step
		{90 * time.Second, false, false},  // two steps on
		{-31 * time.Second, false, false}, // a step back: the future is not accepted
	} {
		set(start.Add(tt.later))
		if got := a.Current() == n; got != tt.same {
			t.Errorf("%v later: Current is the same: %v, want %v", tt.later, got, tt.same)
		}
		if got := a.Valid(n); got != tt.valid {
			t.Errorf("%v later: Valid = %v, want %v", tt.later, got, tt.valid)
		}
		if !a.Valid(a.Current()) {
			t.Errorf("%v later: the current nonce is not valid", tt.later)
		}
	}
}
