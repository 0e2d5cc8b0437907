package bearer_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/bearer/bearertest"
)

// FuzzTokenFromRequest: any Authorization header (or two) gives either a
// token — non-empty, without white space, after a case-insensitive
// "Bearer " — or an RFC 6750 error with a status of 400 or 401; never a
// panic, and the challenge never carries a line break (header injection).
// CredentialsFromRequest gives the same, and a token after "DPoP " too.
func FuzzTokenFromRequest(f *testing.F) {
	for _, s := range []string{"Bearer abc", "bearer abc", "BEARER  abc ", "Bearer", "Bearer ", "Basic YTpi",
		"Bearer a b", "Bearer a\tb", "Bearer a\r\nX: y", "Bearerabc", " Bearer abc", "Bearer \x00", "Bearer é"} {
		f.Add(s, "")
		f.Add(s, "Bearer second")
	}
	for _, s := range []string{"DPoP abc", "dpop abc", "DPoP", "DPoP ", "DPoPabc", "DPoP a b"} {
		f.Add(s, "")
		f.Add(s, "DPoP second")
	}
	f.Fuzz(func(t *testing.T, h1, h2 string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header["Authorization"] = []string{h1}
		if h2 != "" {
			r.Header["Authorization"] = append(r.Header["Authorization"], h2)
		}
		checkCredentials(t, r, h1, h2)
		tok, e := bearer.TokenFromRequest(r)
		if e != nil {
			if tok != "" || (e.Status != 400 && e.Status != 401) {
				t.Fatalf("token %q with error %v (status %d)", tok, e, e.Status)
			}
			if strings.ContainsAny(e.Challenge(), "\r\n") {
				t.Fatalf("challenge %q carries a line break", e.Challenge())
			}
			return
		}
		if h2 != "" {
			t.Fatal("a token from two Authorization headers")
		}
		if tok == "" || strings.ContainsAny(tok, " \t") || !strings.EqualFold(h1[:7], "bearer ") || !strings.Contains(h1, tok) {
			t.Fatalf("header %q gave token %q", h1, tok)
		}
	})
}

// checkCredentials checks what CredentialsFromRequest makes of the
// Authorization headers h1 and h2 (if not "") of r.
func checkCredentials(t *testing.T, r *http.Request, h1, h2 string) {
	t.Helper()
	c, e := bearer.CredentialsFromRequest(r)
	if e != nil {
		if c.Token != "" || (e.Status != 400 && e.Status != 401) {
			t.Fatalf("credentials %+v with error %v (status %d)", c, e, e.Status)
		}
		if strings.ContainsAny(e.Challenge(), "\r\n") {
			t.Fatalf("challenge %q carries a line break", e.Challenge())
		}
		return
	}
	if h2 != "" {
		t.Fatal("credentials from two Authorization headers")
	}
	prefix := c.Scheme + " "
	if c.Token == "" || strings.ContainsAny(c.Token, " \t") || len(h1) < len(prefix) ||
		!strings.EqualFold(h1[:len(prefix)], prefix) || !strings.Contains(h1, c.Token) {
		t.Fatalf("header %q gave credentials %+v", h1, c)
	}
	if c.Scheme != bearer.SchemeBearer && c.Scheme != bearer.SchemeDPoP {
		t.Fatalf("header %q gave scheme %q", h1, c.Scheme)
	}
}

// FuzzJWTVerify verifies a fuzzed token against a fuzzed JWKS document
// served over HTTP: never a panic, and whatever passes satisfies RFC 9068
// §4 — typ at+jwt, the expected issuer and audience, a subject, and an
// unexpired exp.
func FuzzJWTVerify(f *testing.F) {
	is := bearertest.New(f, "https://api.test")
	good := is.Token(f, "alice", "todos:read")
	set, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: is.Key.Public(), KeyID: is.KeyID, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		f.Fatal(err)
	}
	idToken := is.Sign(f, "JWT", map[string]any{"iss": is.URL, "aud": "https://api.test", "sub": "alice", "exp": time.Now().Add(time.Hour).Unix()})
	for _, tok := range []string{good, idToken, good[:len(good)-3] + "AAA", "a.b.c", "", "eyJhbGciOiJub25lIn0.e30.",
		`{"payload":"e30","signatures":[]}`} {
		f.Add(tok, string(set))
		f.Add(tok, `{"keys":[]}`)
		f.Add(tok, `{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"`+is.KeyID+`"}]}`)
		f.Add(tok, `{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB","kid":"`+is.KeyID+`"}]}`)
		f.Add(tok, `not json`)
	}
	var jwks atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(jwks.Load().(string)))
	}))
	f.Cleanup(srv.Close)
	now := time.Now()
	f.Fuzz(func(t *testing.T, token, doc string) {
		jwks.Store(doc)
		// A new verifier each time: the JWKS is fetched on the first token.
		v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
			Issuer: is.URL, Audience: "https://api.test", JWKSURL: srv.URL, Now: func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Verify(context.Background(), token)
		if err != nil {
			if c != nil {
				t.Fatal("claims with an error")
			}
			_ = errors.Is(err, bearer.ErrInvalidToken) // either rejected or not checkable: both fine
			return
		}
		if c.Issuer != is.URL || c.Subject == "" || c.Expiry.Before(now.Add(-time.Minute)) {
			t.Fatalf("accepted claims %+v", c)
		}
		aud := false
		for _, a := range c.Audience {
			aud = aud || a == "https://api.test"
		}
		if !aud {
			t.Fatalf("accepted a token for %v", c.Audience)
		}
		if !strings.Contains(doc, is.KeyID) && !strings.Contains(doc, `"keys"`) {
			t.Fatalf("accepted with JWKS %q", doc)
		}
	})
}
