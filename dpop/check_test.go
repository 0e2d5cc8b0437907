package dpop_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/dpop"
)

var (
	tokenRequest    = dpop.Request{Method: "POST", URL: "https://as.example/token"}
	resourceRequest = dpop.Request{Method: "GET", URL: "https://api.example/notes", AccessToken: "the-access-token"}
)

// resourceSpec is a valid proof for resourceRequest.
func resourceSpec(t testing.TB) spec {
	return validSpec(t).with("htm", "GET", "htu", "https://api.example/notes", "ath", dpop.TokenHash("the-access-token"))
}

func newChecker() *dpop.Checker {
	return &dpop.Checker{Replays: dpop.NewMemoryReplays(), Now: clock}
}

// code is the error code of err, "" for nil, and "other" for an error that
// is not an *Error.
func code(err error) string {
	if err == nil {
		return ""
	}
	var e *dpop.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return "other"
}

func TestCheck(t *testing.T) {
	keys(t)
	v := validSpec(t)
	rs := resourceSpec(t)
	sec := func(d time.Duration) int64 { return now.Add(d).Unix() }
	tests := []struct {
		name  string
		spec  spec
		proof string // instead of spec
		req   dpop.Request
		want  string
	}{
		// Accepted.
		{name: "ES256", spec: v, req: tokenRequest},
		{name: "EdDSA", spec: spec{alg: jose.EdDSA, signer: edKey, jwk: edKey.Public(), claims: v.claims}, req: tokenRequest},
		{name: "PS256", spec: spec{alg: jose.PS256, signer: rsaKey, jwk: &rsaKey.PublicKey, claims: v.claims}, req: tokenRequest},
		{name: "RS256", spec: spec{alg: jose.RS256, signer: rsaKey, jwk: &rsaKey.PublicKey, claims: v.claims}, req: tokenRequest},
		{name: "jwk naming its alg", spec: v.with("header.jwk", publicJWK(t, &ecKey.PublicKey, "ES256")), req: tokenRequest},
		{name: "iat 60s old", spec: v.with("iat", sec(-60*time.Second)), req: tokenRequest},
		{name: "iat 60s ahead", spec: v.with("iat", sec(60*time.Second)), req: tokenRequest},
		{name: "iat with a fraction", spec: v.with("iat", float64(now.Unix())+0.5), req: tokenRequest},
		{name: "htu with another query", spec: v.with("htu", "https://as.example/token?a=b#frag"), req: dpop.Request{Method: "POST", URL: "https://as.example/token?c=d"}},
		{name: "htu case and default port", spec: v.with("htu", "HTTPS://AS.Example:443/token"), req: tokenRequest},
		{name: "request URL with default port", spec: v, req: dpop.Request{Method: "POST", URL: "https://as.example:443/token"}},
		{name: "htu http default port", spec: v.with("htu", "http://as.example:80/token"), req: dpop.Request{Method: "POST", URL: "http://AS.example/token"}},
		{name: "htu other port both sides", spec: v.with("htu", "https://as.example:8443/token"), req: dpop.Request{Method: "POST", URL: "https://as.example:8443/token"}},
		{name: "htu dot segments", spec: v.with("htu", "https://as.example/a/./b/../../token"), req: tokenRequest},
		{name: "htu percent-encoding", spec: v.with("htu", "https://as.example/%7euser/a%2fb"), req: dpop.Request{Method: "POST", URL: "https://as.example/~user/a%2Fb"}},
		{name: "htu empty path", spec: v.with("htu", "https://as.example"), req: dpop.Request{Method: "POST", URL: "https://as.example/"}},
		{name: "htu IPv6", spec: v.with("htu", "https://[::1]:443/token"), req: dpop.Request{Method: "POST", URL: "https://[::1]/token"}},
		{name: "ath for the token", spec: rs, req: resourceRequest},
		{name: "ath without a token", spec: v.with("ath", "anything"), req: tokenRequest},

		// The form.
		{name: "empty", proof: "", req: tokenRequest, want: dpop.InvalidProof},
		{name: "not a JWS", proof: "hello", req: tokenRequest, want: dpop.InvalidProof},
		{name: "too long", spec: v.with("pad", strings.Repeat("a", 8000)), req: tokenRequest, want: dpop.InvalidProof},
		{name: "long, not too long", spec: v.with("pad", strings.Repeat("a", 5000)), req: tokenRequest},
		{name: "JSON serialization", proof: jsonSerialized(t, v), req: tokenRequest, want: dpop.InvalidProof},
		{name: "white space", proof: " " + v.sign(t), req: tokenRequest, want: dpop.InvalidProof},
		{name: "tampered payload", proof: tampered(t, v), req: tokenRequest, want: dpop.InvalidProof},

		// The header.
		{name: "typ jwt", spec: v.with("header.typ", "JWT"), req: tokenRequest, want: dpop.InvalidProof},
		{name: "typ missing", spec: v.with("header.typ", nil), req: tokenRequest, want: dpop.InvalidProof},
		{name: "typ in capitals", spec: v.with("header.typ", "DPOP+JWT"), req: tokenRequest, want: dpop.InvalidProof},
		{name: "alg none", spec: spec{alg: "none", jwk: &ecKey.PublicKey, claims: v.claims}, req: tokenRequest, want: dpop.InvalidProof},
		{name: "alg HS256", spec: spec{alg: jose.HS256, signer: []byte(strings.Repeat("k", 32)), jwk: &ecKey.PublicKey, claims: v.claims}, req: tokenRequest, want: dpop.InvalidProof},
		{name: "alg ES384", spec: spec{alg: jose.ES384, signer: ecP384Key, jwk: &ecP384Key.PublicKey, claims: v.claims}, req: tokenRequest, want: dpop.InvalidProof},
		{name: "crit header", spec: v.with("header.crit", []string{"b64"}, "header.b64", true), req: tokenRequest, want: dpop.InvalidProof},
		{name: "jwk missing", spec: spec{alg: jose.ES256, signer: ecKey, claims: v.claims}, req: tokenRequest, want: dpop.InvalidProof},
		{name: "jwk private", spec: v.with("header.jwk", jwkJSON(t, ecKey)), req: tokenRequest, want: dpop.InvalidProof},
		{name: "jwk symmetric", spec: v.with("header.jwk", json.RawMessage(`{"kty":"oct","k":"`+b64([]byte(strings.Repeat("k", 32)))+`"}`)), req: tokenRequest, want: dpop.InvalidProof},
		{name: "jwk not a key", spec: v.with("header.jwk", "key"), req: tokenRequest, want: dpop.InvalidProof},
		{name: "jwk Ed25519 for ES256", spec: v.with("header.jwk", jose.JSONWebKey{Key: edKey.Public()}), req: tokenRequest, want: dpop.InvalidProof},
		{name: "jwk EC for RS256", spec: spec{alg: jose.RS256, signer: rsaKey, jwk: &ecKey.PublicKey, claims: v.claims}, req: tokenRequest, want: dpop.InvalidProof},
		{name: "jwk RSA for EdDSA", spec: spec{alg: jose.EdDSA, signer: edKey, jwk: &rsaKey.PublicKey, claims: v.claims}, req: tokenRequest, want: dpop.InvalidProof},
		{name: "jwk RSA of 1024 bits", spec: spec{alg: jose.RS256, signer: rsaSmallKey, jwk: &rsaSmallKey.PublicKey, claims: v.claims}, req: tokenRequest, want: dpop.InvalidProof},
		{name: "jwk naming another alg", spec: spec{alg: jose.PS256, signer: rsaKey, jwk: publicJWK(t, &rsaKey.PublicKey, "RS256"), claims: v.claims}, req: tokenRequest, want: dpop.InvalidProof},
		{name: "signed by another key", spec: spec{alg: jose.ES256, signer: ecKey2, jwk: &ecKey.PublicKey, claims: v.claims}, req: tokenRequest, want: dpop.InvalidProof},

		// The claims.
		{name: "jti missing", spec: v.with("jti", nil), req: tokenRequest, want: dpop.InvalidProof},
		{name: "jti empty", spec: v.with("jti", ""), req: tokenRequest, want: dpop.InvalidProof},
		{name: "jti too long", spec: v.with("jti", strings.Repeat("j", 257)), req: tokenRequest, want: dpop.InvalidProof},
		{name: "jti a number", spec: v.with("jti", 12), req: tokenRequest, want: dpop.InvalidProof},
		{name: "htm missing", spec: v.with("htm", nil), req: tokenRequest, want: dpop.InvalidProof},
		{name: "htm another method", spec: v.with("htm", "GET"), req: tokenRequest, want: dpop.InvalidProof},
		{name: "htm in lower case", spec: v.with("htm", "post"), req: tokenRequest, want: dpop.InvalidProof},
		{name: "htu missing", spec: v.with("htu", nil), req: tokenRequest, want: dpop.InvalidProof},
		{name: "htu another path", spec: v.with("htu", "https://as.example/other"), req: tokenRequest, want: dpop.InvalidProof},
		{name: "htu path case", spec: v.with("htu", "https://as.example/Token"), req: tokenRequest, want: dpop.InvalidProof},
		{name: "htu another host", spec: v.with("htu", "https://evil.example/token"), req: tokenRequest, want: dpop.InvalidProof},
		{name: "htu another port", spec: v.with("htu", "https://as.example:8443/token"), req: tokenRequest, want: dpop.InvalidProof},
		{name: "htu another scheme", spec: v.with("htu", "http://as.example/token"), req: tokenRequest, want: dpop.InvalidProof},
		{name: "htu relative", spec: v.with("htu", "/token"), req: tokenRequest, want: dpop.InvalidProof},
		{name: "htu with user", spec: v.with("htu", "https://u@as.example/token"), req: tokenRequest, want: dpop.InvalidProof},
		{name: "iat missing", spec: v.with("iat", nil), req: tokenRequest, want: dpop.InvalidProof},
		{name: "iat 61s old", spec: v.with("iat", sec(-61*time.Second)), req: tokenRequest, want: dpop.InvalidProof},
		{name: "iat 61s ahead", spec: v.with("iat", sec(61*time.Second)), req: tokenRequest, want: dpop.InvalidProof},
		{name: "iat a string", spec: v.with("iat", fmt.Sprint(now.Unix())), req: tokenRequest, want: dpop.InvalidProof},
		{name: "iat negative", spec: v.with("iat", -1), req: tokenRequest, want: dpop.InvalidProof},
		{name: "iat huge", spec: v.with("iat", 1e300), req: tokenRequest, want: dpop.InvalidProof},
		{name: "ath missing", spec: rs.with("ath", nil), req: resourceRequest, want: dpop.InvalidProof},
		{name: "ath of another token", spec: rs.with("ath", dpop.TokenHash("another")), req: resourceRequest, want: dpop.InvalidProof},
		{name: "ath not a hash", spec: rs.with("ath", "the-access-token"), req: resourceRequest, want: dpop.InvalidProof},

		// The Checker's caller.
		{name: "request URL relative", spec: v, req: dpop.Request{Method: "POST", URL: "/token"}, want: "other"},
		{name: "request URL not http", spec: v, req: dpop.Request{Method: "POST", URL: "ftp://as.example/token"}, want: "other"},
		{name: "request without method", spec: v, req: dpop.Request{URL: "https://as.example/token"}, want: "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			proof := tt.proof
			if tt.spec.claims != nil {
				proof = tt.spec.sign(t)
			}
			p, err := newChecker().Check(context.Background(), proof, tt.req)
			if got := code(err); got != tt.want {
				t.Fatalf("Check: %v, want %q", err, tt.want)
			}
			if err != nil {
				return
			}
			want, err := dpop.Thumbprint(jose.JSONWebKey{Key: tt.spec.jwkKey(t)})
			if err != nil {
				t.Fatal(err)
			}
			if p.JKT != want || p.ID != "jti-1" || !p.Key.IsPublic() {
				t.Errorf("proof %+v, want JKT %s and ID jti-1", p, want)
			}
			if iat := p.IssuedAt.Unix(); iat < now.Add(-time.Minute).Unix() || iat > now.Add(time.Minute).Unix() {
				t.Errorf("IssuedAt %v", p.IssuedAt)
			}
		})
	}
}

// jwkKey is the public key of s's jwk header.
func (s spec) jwkKey(t testing.TB) any {
	if raw, ok := s.headers["jwk"].(json.RawMessage); ok {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			t.Fatal(err)
		}
		return k.Key
	}
	return s.jwk
}

// publicJWK is the JWK of a public key naming alg.
func publicJWK(t testing.TB, key any, alg string) json.RawMessage {
	b, err := jose.JSONWebKey{Key: key, Algorithm: alg}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// jsonSerialized is the proof s describes in the flattened JSON
// serialization.
func jsonSerialized(t testing.TB, s spec) string {
	parts := strings.Split(s.sign(t), ".")
	b, _ := json.Marshal(map[string]string{"protected": parts[0], "payload": parts[1], "signature": parts[2]})
	return string(b)
}

// tampered is the proof s describes with another jti, keeping the
// signature.
func tampered(t testing.TB, s spec) string {
	parts := strings.Split(s.sign(t), ".")
	other := strings.Split(s.with("jti", "jti-2").sign(t), ".")
	return parts[0] + "." + other[1] + "." + parts[2]
}

// TestCheckRFCExample checks the proof of RFC 9449 §4.1 (Figure 2), made by
// another implementation, and its key's thumbprint from §6.1.
func TestCheckRFCExample(t *testing.T) {
	const proof = "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik" +
		"VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdC" +
		"RnMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1" +
		"JEQSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtI" +
		"joiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia" +
		"WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg4P" +
		"tFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
	c := &dpop.Checker{Replays: dpop.NewMemoryReplays(), Now: func() time.Time { return time.Unix(1562262616+5, 0) }}
	p, err := c.Check(context.Background(), proof, dpop.Request{Method: "POST", URL: "https://server.example.com/token"})
	if err != nil {
		t.Fatal(err)
	}
	if p.JKT != "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" || p.ID != "-BwC3ESc6acc2lTc" || p.IssuedAt.Unix() != 1562262616 {
		t.Errorf("got %+v", p)
	}
}

func TestCheckMisconfigured(t *testing.T) {
	proof := validSpec(t).sign(t)
	for name, c := range map[string]*dpop.Checker{
		"no Replays":      {Now: clock},
		"negative Window": {Replays: dpop.NewMemoryReplays(), Window: -time.Second, Now: clock},
	} {
		if _, err := c.Check(context.Background(), proof, tokenRequest); code(err) != "other" {
			t.Errorf("%s: %v, want an error that is not an *Error", name, err)
		}
	}
}

func TestCheckWindow(t *testing.T) {
	v := validSpec(t)
	c := newChecker()
	c.Window = 5 * time.Minute
	for _, tt := range []struct {
		iat  time.Duration
		want string
	}{{-5 * time.Minute, ""}, {5 * time.Minute, ""}, {-5*time.Minute - time.Second, dpop.InvalidProof}} {
		_, err := c.Check(context.Background(), v.with("iat", now.Add(tt.iat).Unix(), "jti", fmt.Sprint(tt.iat)).sign(t), tokenRequest)
		if code(err) != tt.want {
			t.Errorf("iat %v from now with a 5-minute window: %v, want %q", tt.iat, err, tt.want)
		}
	}
}

func TestCheckReplay(t *testing.T) {
	v := validSpec(t)
	ctx := context.Background()
	c := newChecker()

	proof := v.sign(t)
	if _, err := c.Check(ctx, proof, tokenRequest); err != nil {
		t.Fatal(err)
	}
	_, err := c.Check(ctx, proof, tokenRequest)
	if code(err) != dpop.InvalidProof || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("replayed proof: %v, want invalid_dpop_proof", err)
	}
	// The same jti from another key, or to another URL, is another proof.
	if _, err := c.Check(ctx, spec{alg: jose.ES256, signer: ecKey2, jwk: &ecKey2.PublicKey, claims: v.claims}.sign(t), tokenRequest); err != nil {
		t.Errorf("same jti, another key: %v", err)
	}
	other := dpop.Request{Method: "POST", URL: "https://as.example/par"}
	if _, err := c.Check(ctx, v.with("htu", other.URL).sign(t), other); err != nil {
		t.Errorf("same jti, another URL: %v", err)
	}

	// A refused proof is not remembered: it can be sent again, right.
	p2 := v.with("jti", "jti-2").sign(t)
	if _, err := c.Check(ctx, p2, dpop.Request{Method: "PUT", URL: tokenRequest.URL}); code(err) != dpop.InvalidProof {
		t.Fatalf("wrong method: %v", err)
	}
	if _, err := c.Check(ctx, p2, tokenRequest); err != nil {
		t.Errorf("after a refusal for another reason: %v", err)
	}
}

func TestCheckConcurrentReplay(t *testing.T) {
	proof := validSpec(t).sign(t)
	c := newChecker()
	const n = 32
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := c.Check(context.Background(), proof, tokenRequest)
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	accepted := 0
	for err := range errs {
		switch code(err) {
		case "":
			accepted++
		case dpop.InvalidProof:
		default:
			t.Errorf("unexpected error %v", err)
		}
	}
	if accepted != 1 {
		t.Errorf("%d of %d concurrent uses accepted, want 1", accepted, n)
	}
}

// storeFunc is a Replays made of a function.
type storeFunc func(ctx context.Context, key string, expiresAt, now time.Time) error

func (f storeFunc) UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error {
	return f(ctx, key, expiresAt, now)
}

func TestCheckStore(t *testing.T) {
	v := validSpec(t)
	down := errors.New("database down")
	var gotExpiry, gotNow time.Time
	var gotKey string
	for _, tt := range []struct {
		name  string
		store error
		want  string
	}{
		{"accepted", nil, ""},
		{"replayed", fmt.Errorf("the store says: %w", dpop.ErrReplayed), dpop.InvalidProof},
		{"failed", down, "other"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &dpop.Checker{Now: clock, Replays: storeFunc(func(_ context.Context, key string, expiresAt, now time.Time) error {
				gotKey, gotExpiry, gotNow = key, expiresAt, now
				return tt.store
			})}
			_, err := c.Check(context.Background(), v.with("iat", now.Add(-10*time.Second).Unix()).sign(t), tokenRequest)
			if code(err) != tt.want {
				t.Fatalf("Check: %v, want %q", err, tt.want)
			}
			if tt.store == down && !errors.Is(err, down) {
				t.Errorf("the store's error is not wrapped: %v", err)
			}
			if want := now.Add(-10*time.Second + dpop.DefaultWindow); !gotExpiry.Equal(want) || !gotNow.Equal(now) || gotKey == "" {
				t.Errorf("UseOnce(key %q, expiresAt %v, now %v), want expiry %v at %v", gotKey, gotExpiry, gotNow, want, now)
			}
		})
	}
}

func TestCheckNonce(t *testing.T) {
	v := validSpec(t)
	at := now
	tick := func() time.Time { return at }
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("s", 32)), time.Minute, tick)
	if err != nil {
		t.Fatal(err)
	}
	others, err := dpop.NewNonces([]byte(strings.Repeat("o", 32)), time.Minute, tick)
	if err != nil {
		t.Fatal(err)
	}
	start := at
	current := nonces.Current()
	tests := []struct {
		name  string
		nonce any // nil: none
		later time.Duration
		want  string
	}{
		{"current", current, 0, ""},
		{"missing", nil, 0, dpop.UseNonce},
		{"empty", "", 0, dpop.UseNonce},
		{"garbage", "not-a-nonce", 0, dpop.UseNonce},
		{"another server's", others.Current(), 0, dpop.UseNonce},
		{"a number", 12, 0, dpop.InvalidProof},
		{"previous step", current, time.Minute, ""},
		{"two steps old", current, 2 * time.Minute, dpop.UseNonce},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at = start.Add(tt.later)
			c := &dpop.Checker{Replays: dpop.NewMemoryReplays(), Nonces: nonces, Now: tick}
			proof := v.with("nonce", tt.nonce, "iat", at.Unix(), "jti", fmt.Sprint(i)).sign(t)
			_, err := c.Check(context.Background(), proof, tokenRequest)
			if code(err) != tt.want {
				t.Fatalf("Check: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestProofFrom(t *testing.T) {
	for _, tt := range []struct {
		values []string
		want   string
		code   string
	}{
		{nil, "", ""},
		{[]string{"a.b.c"}, "a.b.c", ""},
		{[]string{""}, "", dpop.InvalidProof},
		{[]string{"a.b.c", "d.e.f"}, "", dpop.InvalidProof},
	} {
		h := map[string][]string{}
		if tt.values != nil {
			h["Dpop"] = tt.values
		}
		got, e := dpop.ProofFrom(h)
		gotCode := ""
		if e != nil {
			gotCode = e.Code
		}
		if got != tt.want || gotCode != tt.code {
			t.Errorf("ProofFrom(%q) = %q, %v; want %q, %q", tt.values, got, e, tt.want, tt.code)
		}
	}
}

func TestWWWAuthenticate(t *testing.T) {
	algs := dpop.Algorithms()
	for _, tt := range []struct {
		name string
		err  *dpop.Error
		algs []jose.SignatureAlgorithm
		want string
	}{
		{"error", &dpop.Error{Code: dpop.InvalidProof, Description: "the proof was already used"}, algs,
			`DPoP error="invalid_dpop_proof", error_description="the proof was already used", algs="ES256 EdDSA PS256 RS256"`},
		{"nonce", &dpop.Error{Code: dpop.UseNonce, Description: "nonce"}, nil, `DPoP error="use_dpop_nonce", error_description="nonce"`},
		{"no description", &dpop.Error{Code: dpop.InvalidProof}, nil, `DPoP error="invalid_dpop_proof"`},
		{"no error", nil, algs, `DPoP algs="ES256 EdDSA PS256 RS256"`},
		{"nothing", nil, nil, `DPoP`},
		{"injection", &dpop.Error{Code: dpop.InvalidProof, Description: "a\"b\\c\r\nSet-Cookie: x=1é"}, nil,
			`DPoP error="invalid_dpop_proof", error_description="a?b?c??Set-Cookie: x=1?"`},
		{"injection in code", &dpop.Error{Code: "x\", y=\"z"}, nil, `DPoP error="x?, y=?z"`},
	} {
		if got := tt.err.WWWAuthenticate(tt.algs); got != tt.want {
			t.Errorf("%s: got  %s\nwant %s", tt.name, got, tt.want)
		}
	}
}

func TestErrorString(t *testing.T) {
	e := &dpop.Error{Code: dpop.InvalidProof, Description: "bad"}
	if got := e.Error(); got != "dpop: invalid_dpop_proof: bad" {
		t.Errorf("Error() = %q", got)
	}
}

func TestAlgorithms(t *testing.T) {
	a := dpop.Algorithms()
	if fmt.Sprint(a) != "[ES256 EdDSA PS256 RS256]" {
		t.Errorf("Algorithms() = %v", a)
	}
	a[0] = jose.HS256
	if dpop.Algorithms()[0] != jose.ES256 {
		t.Error("Algorithms() shares its slice")
	}
}

func TestThumbprint(t *testing.T) {
	// RFC 7638 §3.1.
	var k jose.JSONWebKey
	err := k.UnmarshalJSON([]byte(`{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`))
	if err != nil {
		t.Fatal(err)
	}
	got, err := dpop.Thumbprint(k)
	if err != nil || got != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Errorf("Thumbprint = %q, %v", got, err)
	}

	keys(t)
	pub, err := dpop.Thumbprint(jose.JSONWebKey{Key: &ecKey.PublicKey})
	if err != nil {
		t.Fatal(err)
	}
	if priv, err := dpop.Thumbprint(jose.JSONWebKey{Key: ecKey}); err != nil || priv != pub {
		t.Errorf("private key's thumbprint %q, %v; want its public key's %q", priv, err, pub)
	}
	for name, k := range map[string]jose.JSONWebKey{"symmetric": {Key: []byte("0123456789abcdef0123456789abcdef")}, "empty": {}} {
		if got, err := dpop.Thumbprint(k); err == nil {
			t.Errorf("%s key: thumbprint %q, want an error", name, got)
		}
	}
}

func TestTokenHash(t *testing.T) {
	// RFC 9449 §7.1.
	if got := dpop.TokenHash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"); got != "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" {
		t.Errorf("TokenHash = %q", got)
	}
}
