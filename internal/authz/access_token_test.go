package authz

import (
	"context"
	"net/url"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

// TestAccessToken_StoreDecides: an access token with a valid signature is
// active only while its ID is not on the revoked list and, for a token a
// person authorized, its grant exists, is not revoked and is the token's
// client's and subject's, and the person's account exists and is enabled.
// Each case changes one thing, in the store or in the token's claims
// (re-signed with the server's key), on a fresh server.
func TestAccessToken_StoreDecides(t *testing.T) {
	sqlExec := func(e *env, query string, args ...any) {
		e.t.Helper()
		if _, err := e.store.(*sqlstore.Store).DB().ExecContext(context.Background(), query, args...); err != nil {
			e.t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		// clientCredentials: the token is the client third's own;
		// otherwise alice's, from the web app.
		clientCredentials bool
		// change changes the store or returns another token; it returns
		// the token to introspect.
		change func(e *env, tok string, c accessClaims) string
		active bool
	}{
		{"person's token", false, nil, true},
		{"ID revoked", false, func(e *env, tok string, c accessClaims) string {
			mustDo(e, e.store.RevokeAccessToken(context.Background(), c.ID, c.Expiry.Time()))
			return tok
		}, false},
		{"grant revoked", false, func(e *env, tok string, c accessClaims) string {
			mustDo(e, e.store.RevokeGrant(context.Background(), c.Grant))
			return tok
		}, false},
		{"grant missing", false, func(e *env, tok string, c accessClaims) string {
			sqlExec(e, "DELETE FROM grants WHERE id = ?", c.Grant)
			return tok
		}, false},
		{"grant of another client", false, func(e *env, tok string, c accessClaims) string {
			c.ClientID = "third"
			return e.resign(tok, c)
		}, false},
		{"grant of another person", false, func(e *env, tok string, c accessClaims) string {
			c.Subject = "u-bob"
			return e.resign(tok, c)
		}, false},
		{"user disabled", false, func(e *env, tok string, c accessClaims) string {
			mustDo(e, e.store.SetUserDisabled(context.Background(), c.Subject, true, e.clock.Now()))
			return tok
		}, false},
		{"user missing", false, func(e *env, tok string, c accessClaims) string {
			sqlExec(e, "DELETE FROM users WHERE id = ?", c.Subject)
			return tok
		}, false},
		{"client's token", true, nil, true},
		{"client's token, ID revoked", true, func(e *env, tok string, c accessClaims) string {
			mustDo(e, e.store.RevokeAccessToken(context.Background(), c.ID, c.Expiry.Time()))
			return tok
		}, false},
		{"client's token naming a person", true, func(e *env, tok string, c accessClaims) string {
			c.Subject = "u-alice"
			return e.resign(tok, c)
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var tok string
			if tc.clientCredentials {
				_, tr := e.token("third", thirdSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}})
				tok = tr.AccessToken
			} else {
				tok = e.webappTokens().AccessToken
			}
			if tc.change != nil {
				tok = tc.change(e, tok, e.unsafeClaims(tok))
			}
			if got := e.introspectAs("gatehouse-api", apiSecret, tok)["active"]; got != tc.active {
				t.Errorf("active = %v, want %v", got, tc.active)
			}
		})
	}
}

func mustDo(e *env, err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// unsafeClaims returns an access token's claims without checking it.
func (e *env) unsafeClaims(tok string) accessClaims {
	e.t.Helper()
	p, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{AccessTokenAlg})
	if err != nil {
		e.t.Fatal(err)
	}
	var c accessClaims
	if err := p.UnsafeClaimsWithoutVerification(&c); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// resign signs c with the key that signed tok, as the server would.
func (e *env) resign(tok string, c accessClaims) string {
	e.t.Helper()
	p, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{AccessTokenAlg})
	if err != nil {
		e.t.Fatal(err)
	}
	key, ok := e.srv.keys.Lookup(p.Headers[0].KeyID, e.clock.Now())
	if !ok {
		e.t.Fatal("signing key not found")
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: key.Algorithm, Key: jose.JSONWebKey{Key: key.Private, KeyID: key.ID}},
		(&jose.SignerOptions{}).WithType(accessTokenType))
	if err != nil {
		e.t.Fatal(err)
	}
	out, err := jwt.Signed(signer).Claims(c).Serialize()
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}
