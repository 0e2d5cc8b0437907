package authz

import (
	"context"
	"net/url"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/authz/keys"
)

// The real rotation sequence, end to end: the authorization server rotates
// (new key published at once, signing 10 minutes later, the old key
// removed once every token it signed has expired) and later retires a key
// at once, while the API's JWT verifier, on the same clock, checks tokens
// against the served JWKS. A key that leaves the JWKS stops verifying —
// including tokens forged with it — within the verifier's maximum key-set
// age, and at introspection as soon as the server has reloaded its keys.

func TestKeyRotation_WithdrawnKeyStopsVerifying(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	const maxAge = 5 * time.Minute
	api, err := bearer.NewJWTVerifier(ctx, bearer.JWTConfig{
		Issuer: e.ts.URL, Audience: apiAudience, HTTPClient: e.ts.Client(),
		MaxKeyAge: maxAge, MinRefetchInterval: time.Second, Now: e.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	accepted := func(tok string) bool {
		_, err := api.Verify(ctx, tok)
		return err == nil
	}
	mint := func() string {
		t.Helper()
		_, tr := e.token("third", thirdSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}})
		if tr.AccessToken == "" {
			t.Fatalf("no token: %s", tr.Error)
		}
		return tr.AccessToken
	}
	reload := func() { e.srv.maintainKeys(ctx) }

	old := mint()
	oldKID := kidOf(t, old)
	oldKey, ok := e.srv.keys.Lookup(oldKID, e.clock.Now())
	if !ok {
		t.Fatal("signing key not found")
	}
	if !accepted(old) {
		t.Fatal("a fresh token was refused")
	}

	// Rotate: the new key is published now and signs from now+10m.
	if _, err := RotateKeys(ctx, e.store, e.secret, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	reload()
	e.clock.Add(keyLead + time.Second)
	reload()
	next := mint()
	if kidOf(t, next) == oldKID {
		t.Fatal("the new key does not sign after its lead")
	}
	if !accepted(next) {
		t.Fatal("a token of the new key was refused")
	}
	// A token forged with the old key (stolen from a backup, say), valid
	// for a day: accepted while the old key is published.
	forged := forgeAccessToken(t, oldKey, e.ts.URL, 24*time.Hour, e.clock.Now())
	if !accepted(forged) {
		t.Fatal("setup: the forged token is refused while its key is published")
	}

	// The old key leaves the JWKS once every token it signed has expired.
	e.clock.Add(rotateOptions().MaxTokenLifetime)
	reload()
	if slices.Contains(e.jwks(), oldKID) {
		t.Fatal("the old key is still published after its tokens expired")
	}
	if e.introspect(forged)["active"] != false {
		t.Error("introspection accepts a token of a removed key")
	}
	e.clock.Add(maxAge)
	if accepted(forged) {
		t.Fatal("the API accepts a token forged with a key removed from the JWKS")
	}

	// Retire the current key at once (`gatehouse keys retire`): its tokens
	// stop at introspection after the reload, at the API within maxAge; a
	// replacement signs at once.
	current := mint()
	curKID := kidOf(t, current)
	if !accepted(current) || e.introspect(current)["active"] != true {
		t.Fatal("setup: the current key's token is refused")
	}
	if _, err := keys.Retire(ctx, e.store, e.secret, curKID, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	reload()
	if slices.Contains(e.jwks(), curKID) {
		t.Fatal("a retired key is still published")
	}
	if e.introspect(current)["active"] != false {
		t.Error("introspection accepts a token of a retired key")
	}
	e.clock.Add(maxAge)
	if accepted(current) {
		t.Error("the API accepts a token of a retired key after the maximum key-set age")
	}
	replacement := mint()
	if kidOf(t, replacement) == curKID || !accepted(replacement) {
		t.Error("no replacement key signs after a retirement")
	}
}

// forgeAccessToken signs a client-credentials access token with key, as
// someone holding a stolen private key would.
func forgeAccessToken(t *testing.T, key keys.Key, issuer string, ttl time.Duration, now time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: key.Algorithm, Key: jose.JSONWebKey{Key: key.Private, KeyID: key.ID}},
		(&jose.SignerOptions{}).WithType(accessTokenType))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(accessClaims{
		Issuer: issuer, Subject: "third", Audience: jwt.Audience{apiAudience}, ClientID: "third", Scope: "todos:read",
		ID: "forged", IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(ttl)),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
