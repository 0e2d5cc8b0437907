package authz

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestFAPI2Client: a client registered under the FAPI 2.0 profile is held
// to it by the server, whatever its other settings: its requests must be
// pushed, its token requests carry DPoP proofs, its assertions name the
// issuer as a string and nothing else, and its access tokens live at most
// 10 minutes even where the server's lifetime is longer.
func TestFAPI2Client(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { c.AccessTokenTTL = time.Hour })
	sk := newSigner(t, "k1")
	now := time.Now().UTC()
	// RequirePAR and DPoPBound left unset: the profile is enough.
	if err := e.store.CreateClient(context.Background(), storage.Client{
		ID: "fapi", Name: "fapi", RedirectURIs: []string{thirdRedir}, GrantTypes: []string{"authorization_code", "refresh_token"},
		Scopes: []string{"openid", "offline_access", "todos:read"}, AuthMethod: storage.AuthPrivateKeyJWT, JWKS: jwks(t, sk),
		Profile: storage.ProfileFAPI2, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	assertion := func(aud any) url.Values {
		m := e.assertionClaims("fapi")
		m["aud"] = aud
		return url.Values{"client_assertion_type": {assertionType}, "client_assertion": {sk.sign(t, m, false)}}
	}
	merge := func(a, b url.Values) url.Values {
		out := url.Values{}
		for _, v := range []url.Values{a, b} {
			for k, vs := range v {
				out[k] = vs
			}
		}
		return out
	}
	v, ch := pkce()
	params := pushParams(ch)
	params.Set("scope", "openid offline_access")

	// Not pushed: refused at the authorization endpoint.
	p := authParams("fapi", thirdRedir, ch, "openid")
	resp, _ := e.get(e.browser(), e.ts.URL+"/authorize?"+p.Encode())
	if q := callback(t, resp); q.Get("error") != "invalid_request" {
		t.Fatalf("a request not pushed: %v", q)
	}
	// An assertion whose aud is not exactly the issuer string: refused.
	for _, aud := range []any{[]string{e.ts.URL}, e.ts.URL + "/par", e.ts.URL + "/token"} {
		if st, body := e.postForm("/par", merge(params, assertion(aud)), nil); st != 401 {
			t.Fatalf("aud %v: %d %v, want 401", aud, st, body)
		}
	}
	// An assertion signed with RS256 (a 2048-bit key the client registered):
	// refused under FAPI 2.0, which allows PS256, ES256 and EdDSA.
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs := signer{kid: "rsa", alg: jose.RS256, priv: rsaKey}
	if err := e.store.SetClientAuthentication(context.Background(), "fapi", storage.ClientAuthentication{
		AuthMethod: storage.AuthPrivateKeyJWT, JWKS: jwks(t, sk, rs)}, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute) // past the client cache
	m := e.assertionClaims("fapi")
	if st, body := e.postForm("/par", merge(params, url.Values{"client_assertion_type": {assertionType}, "client_assertion": {rs.sign(t, m, false)}}), nil); st != 401 {
		t.Fatalf("an RS256 assertion: %d %v, want 401", st, body)
	}
	key := newDPoPKey(t)
	uri := e.push(merge(params, assertion(e.ts.URL)), http.Header{"DPoP": {e.proof(key, "POST", "/par", "", "")}})
	q := callback(t, e.authorizePushed("fapi", uri))
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {thirdRedir}, "code_verifier": {v}}
	// A token request without a proof: refused.
	if st, body := e.postForm("/token", merge(exchange, assertion(e.ts.URL)), nil); st != 400 || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("exchange without a proof: %d %v", st, body)
	}
	st, body := e.postForm("/token", merge(exchange, assertion(e.ts.URL)), http.Header{"DPoP": {e.proof(key, "POST", "/token", "", "")}})
	if st != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("exchange: %d %v", st, body)
	}
	if body["expires_in"] != float64(600) {
		t.Fatalf("expires_in %v, want 600 (the server's lifetime is an hour)", body["expires_in"])
	}
	tok, err := jwt.ParseSigned(body["access_token"].(string), []jose.SignatureAlgorithm{AccessTokenAlg})
	if err != nil {
		t.Fatal(err)
	}
	var c accessClaims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	if life := c.Expiry.Time().Sub(c.IssuedAt.Time()); life != 10*time.Minute {
		t.Fatalf("access token lifetime %s, want 10m", life)
	}
	// A refresh (the token itself is unbound: the client is confidential)
	// needs a proof too.
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {body["refresh_token"].(string)}}
	if st, body := e.postForm("/token", merge(refresh, assertion(e.ts.URL)), nil); st != 400 || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("refresh without a proof: %d %v", st, body)
	}
	if st, body := e.postForm("/token", merge(refresh, assertion(e.ts.URL)), http.Header{"DPoP": {e.proof(key, "POST", "/token", "", "")}}); st != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("refresh with a proof: %d %v", st, body)
	}
	// Another client keeps the server's lifetime.
	if st, body := e.postForm("/token", thirdCC, http.Header{"Authorization": {basic("third", thirdSecret)}}); st != 200 || body["expires_in"] != float64(3600) {
		t.Fatalf("another client: %d %v", st, body)
	}
	if !strings.Contains(e.logs.String(), `"reason":"aud must be the issuer identifier, as a string"`) {
		t.Error("the refused aud is not in the audit log with its reason")
	}
}
