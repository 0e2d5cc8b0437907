package authz

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
)

// An access token's JWT is checked once: later look-ups of the same bytes
// (each introspection of it) only check that its key is still published
// and that it has not expired.
func TestAccessTokenClaimsRemembered(t *testing.T) {
	e := newEnv(t)
	_, tr := e.token("third", thirdSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}})
	if tr.AccessToken == "" {
		t.Fatal("no token")
	}
	s := e.srv
	first, err := s.checker.claims(tr.AccessToken, s.now())
	if err != nil {
		t.Fatal(err)
	}
	// A full check parses the JWS and its claims and verifies ECDSA: dozens
	// of allocations; a remembered token, a key look-up.
	if n := testing.AllocsPerRun(50, func() {
		c, err := s.checker.claims(tr.AccessToken, s.now())
		if err != nil || c.ID != first.ID {
			t.Fatalf("%+v, %v", c, err)
		}
	}); n > 5 {
		t.Errorf("%v allocations per check of a remembered token", n)
	}
	if n := testing.AllocsPerRun(10, func() {
		s.checker.verified.Reset()
		if _, err := s.checker.claims(tr.AccessToken, s.now()); err != nil {
			t.Fatal(err)
		}
	}); n < 20 {
		t.Errorf("%v allocations per full check: the comparison above proves nothing", n)
	}

	// Expiry still applies to a remembered token.
	e.clock.Add(s.cfg.AccessTokenTTL + time.Second)
	if _, err := s.checker.claims(tr.AccessToken, s.now()); err == nil {
		t.Error("an expired token was accepted from memory")
	}
}

// A remembered token whose key has left the published set is refused.
func TestAccessTokenClaimsKeyWithdrawn(t *testing.T) {
	e := newEnv(t)
	_, tr := e.token("third", thirdSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}})
	s := e.srv
	now := s.now()
	if _, err := s.checker.claims(tr.AccessToken, now); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ks, err := e.store.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range ks {
		if k.Algorithm == string(AccessTokenAlg) {
			if err := e.store.SetKeyExpiry(ctx, k.ID, now.Add(-time.Second)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.checker.claims(tr.AccessToken, now); err == nil {
		t.Error("a token of a withdrawn key was accepted from memory")
	}
}

func TestNewID(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		a, b   time.Time
		before bool // a's ID sorts before b's
	}{
		{"a millisecond later sorts later", t0, t0.Add(time.Millisecond), true},
		{"an hour later sorts later", t0, t0.Add(time.Hour), true},
		{"a year later sorts later", t0, t0.AddDate(1, 0, 0), true},
		{"earlier sorts earlier", t0.Add(time.Second), t0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := newID(tt.a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := newID(tt.b)
			if err != nil {
				t.Fatal(err)
			}
			if len(a) != 32 || len(b) != 32 {
				t.Fatalf("IDs %q, %q: want 32 hex digits", a, b)
			}
			if (a < b) != tt.before {
				t.Errorf("%q < %q = %v, want %v", a, b, a < b, tt.before)
			}
		})
	}
	// Within one millisecond the 80 random bits tell IDs apart.
	seen := map[string]bool{}
	for range 1000 {
		id, err := newID(t0)
		if err != nil {
			t.Fatal(err)
		}
		if seen[id] {
			t.Fatalf("repeated ID %q", id)
		}
		seen[id] = true
	}
}

// One signer per signing key and token type, made on first use.
func TestAccessSignerPerKey(t *testing.T) {
	e := newEnv(t)
	s := e.srv
	key, err := s.keys.Signer(AccessTokenAlg, s.now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.issuer.signer(key, accessTokenType)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.issuer.signer(key, accessTokenType)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("a second signer was made for the same key")
	}
	other := key
	other.ID = "another-key"
	c, err := s.issuer.signer(other, accessTokenType)
	if err != nil {
		t.Fatal(err)
	}
	if c == a {
		t.Error("two keys share a signer")
	}
	// Tokens from the kept signer still verify.
	for range 2 {
		at, err := s.issuer.accessToken(tokenGrant{clientID: "third", subject: bearer.ClientSubject("third"), scopes: []string{"todos:read"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.checker.active(context.Background(), at.token); err != nil {
			t.Fatal(err)
		}
	}
}
