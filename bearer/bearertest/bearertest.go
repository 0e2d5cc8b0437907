package bearertest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Issuer signs tokens and serves its keys.
type Issuer struct {
	URL      string // the issuer identifier (the test server's URL)
	Audience string
	// Key and KeyID are the signing key, which Rotate replaces: read them
	// while nothing rotates (tokens are signed under a lock).
	Key   *ecdsa.PrivateKey
	KeyID string
	// JWKSFetches counts requests to the JWKS.
	JWKSFetches atomic.Int64

	mu   sync.Mutex // guards Key and KeyID
	srv  *httptest.Server
	keys atomic.Pointer[jose.JSONWebKeySet]
}

// Start starts an issuer for audience; Close stops it. In a test, New
// does both.
func Start(audience string) (*Issuer, error) {
	is := &Issuer{Audience: audience}
	if err := is.RotateKey(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": is.URL, "jwks_uri": is.URL + "/jwks"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		is.JWKSFetches.Add(1)
		_ = json.NewEncoder(w).Encode(is.keys.Load())
	})
	is.srv = httptest.NewServer(mux)
	is.URL = is.srv.URL
	return is, nil
}

// Close stops the issuer's server.
func (is *Issuer) Close() { is.srv.Close() }

// New starts an issuer for audience, stopped when t ends.
func New(t testing.TB, audience string) *Issuer {
	t.Helper()
	is, err := Start(audience)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(is.Close)
	return is
}

// Rotate is RotateKey for a test: it fails the test on an error.
func (is *Issuer) Rotate(t testing.TB) {
	t.Helper()
	if err := is.RotateKey(); err != nil {
		t.Fatal(err)
	}
}

// RotateKey makes a new signing key and publishes only it. In a test,
// Rotate does the same and fails the test on an error.
func (is *Issuer) RotateKey() error {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	is.mu.Lock()
	defer is.mu.Unlock()
	is.Key, is.KeyID = k, id
	is.keys.Store(&jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: id, Algorithm: "ES256", Use: "sig"}}})
	return nil
}

// IssueToken returns a signed access token for sub with the given scopes,
// valid for an hour. In a test, Token does the same and fails the test on
// an error.
func (is *Issuer) IssueToken(sub string, scopes ...string) (string, error) {
	return is.SignClaims("at+jwt", is.claims(sub, scopes))
}

// Token returns a signed access token for sub with the given scopes, valid
// for an hour.
func (is *Issuer) Token(t testing.TB, sub string, scopes ...string) string {
	t.Helper()
	return is.Sign(t, "at+jwt", is.claims(sub, scopes))
}

// IssueTokenBound returns a signed access token for sub with the given
// scopes, valid for an hour, bound to the DPoP key whose thumbprint is jkt
// (its "cnf"."jkt", RFC 9449 §6.1; dpop.Key.JKT gives it): a resource
// accepts it only under the DPoP scheme, with a proof of that key.
func (is *Issuer) IssueTokenBound(jkt, sub string, scopes ...string) (string, error) {
	c := is.claims(sub, scopes)
	c["cnf"] = map[string]any{"jkt": jkt}
	return is.SignClaims("at+jwt", c)
}

// TokenBound is IssueTokenBound for a test: it fails the test on an error.
func (is *Issuer) TokenBound(t testing.TB, jkt, sub string, scopes ...string) string {
	t.Helper()
	tok, err := is.IssueTokenBound(jkt, sub, scopes...)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// claims are the claims of a token for sub with scopes, valid for an hour.
func (is *Issuer) claims(sub string, scopes []string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": is.URL, "aud": is.Audience, "sub": sub, "client_id": "test-client",
		"scope": strings.Join(scopes, " "), "jti": sub + now.Format(time.RFC3339Nano),
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}
}

// SignClaims signs arbitrary claims with the given typ header.
func (is *Issuer) SignClaims(typ string, claims map[string]any) (string, error) {
	is.mu.Lock()
	key, kid := is.Key, is.KeyID
	is.mu.Unlock()
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, opts)
	if err != nil {
		return "", err
	}
	return jwt.Signed(sig).Claims(claims).Serialize()
}

// Sign is SignClaims for a test: it fails the test on an error.
func (is *Issuer) Sign(t testing.TB, typ string, claims map[string]any) string {
	t.Helper()
	tok, err := is.SignClaims(typ, claims)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
