package authz

import (
	"context"
	"net/url"
	"testing"
	"time"
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
	first, err := s.accessTokenClaims(tr.AccessToken, s.now())
	if err != nil {
		t.Fatal(err)
	}
	// A full check parses the JWS and its claims and verifies ECDSA: dozens
	// of allocations; a remembered token, a key look-up.
	if n := testing.AllocsPerRun(50, func() {
		c, err := s.accessTokenClaims(tr.AccessToken, s.now())
		if err != nil || c.ID != first.ID {
			t.Fatalf("%+v, %v", c, err)
		}
	}); n > 5 {
		t.Errorf("%v allocations per check of a remembered token", n)
	}
	if n := testing.AllocsPerRun(10, func() {
		s.verified.Reset()
		if _, err := s.accessTokenClaims(tr.AccessToken, s.now()); err != nil {
			t.Fatal(err)
		}
	}); n < 20 {
		t.Errorf("%v allocations per full check: the comparison above proves nothing", n)
	}

	// Expiry still applies to a remembered token.
	e.clock.Add(s.cfg.AccessTokenTTL + time.Second)
	if _, err := s.accessTokenClaims(tr.AccessToken, s.now()); err == nil {
		t.Error("an expired token was accepted from memory")
	}
}

// A remembered token whose key has left the published set is refused.
func TestAccessTokenClaimsKeyWithdrawn(t *testing.T) {
	e := newEnv(t)
	_, tr := e.token("third", thirdSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}})
	s := e.srv
	now := s.now()
	if _, err := s.accessTokenClaims(tr.AccessToken, now); err != nil {
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
	if _, err := s.accessTokenClaims(tr.AccessToken, now); err == nil {
		t.Error("a token of a withdrawn key was accepted from memory")
	}
}
