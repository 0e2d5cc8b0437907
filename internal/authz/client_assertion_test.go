package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Tests of private_key_jwt client authentication (RFC 7523, OpenID Connect
// Core §9), each attack the specs name included: a replayed assertion, one
// signed by another key, meant for another server, expired or too long
// lived, naming another client, and a client presenting another method
// than its own.

// signer is a client's signing key.
type signer struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

func newSigner(t testing.TB, kid string) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, alg: jose.ES256, priv: k}
}

// jwks is the public key set of the signers.
func jwks(t testing.TB, ss ...signer) string {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, s := range ss {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: s.priv.Public(), KeyID: s.kid, Algorithm: string(s.alg), Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sign makes a JWS of claims under s (with its kid unless noKID).
func (s signer) sign(t testing.TB, claims map[string]any, noKID bool) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if !noKID {
		opts = opts.WithHeader("kid", s.kid)
	}
	sg, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(sg).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// assertionClaims are a valid assertion's claims for client at e.
func (e *env) assertionClaims(client string) map[string]any {
	now := e.clock.Now()
	return map[string]any{
		"iss": client, "sub": client, "aud": e.ts.URL, "jti": randomSuffix(),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
	}
}

// addKeyClient registers a confidential private_key_jwt client with the
// client_credentials grant.
func (e *env) addKeyClient(id, keySet, uri string) {
	e.t.Helper()
	now := time.Now().UTC()
	if err := e.store.CreateClient(context.Background(), storage.Client{
		ID: id, Name: id, GrantTypes: []string{"client_credentials"}, Scopes: []string{"todos:read"},
		AuthMethod: storage.AuthPrivateKeyJWT, JWKS: keySet, JWKSURI: uri, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		e.t.Fatal(err)
	}
}

// postForm posts form to path with extra headers and returns the status
// and the decoded JSON answer.
func (e *env) postForm(path string, form url.Values, header http.Header) (int, map[string]any) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// withAssertion is a client-credentials request authenticated by assertion.
func withAssertion(assertion string) url.Values {
	return url.Values{
		"grant_type": {"client_credentials"}, "scope": {"todos:read"},
		"client_assertion_type": {assertionType}, "client_assertion": {assertion},
	}
}

func TestPrivateKeyJWT_TokenEndpoint(t *testing.T) {
	e := newEnv(t)
	key, other := newSigner(t, "k1"), newSigner(t, "k1")
	e.addKeyClient("signer", jwks(t, key), "")
	e.addKeyClient("signer2", jwks(t, other), "")
	disabled := newSigner(t, "d")
	e.addKeyClient("disabled", jwks(t, disabled), "")
	if err := e.store.SetClientDisabled(context.Background(), "disabled", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	// A secret client that also has a key set is still a secret client.
	if err := e.store.SetClientAuthentication(context.Background(), "third", storage.ClientAuthentication{
		AuthMethod: storage.AuthSecretBasic, SecretHash: mustClient(t, e, "third").SecretHash, JWKS: jwks(t, key),
	}, time.Now()); err != nil {
		t.Fatal(err)
	}

	edit := func(f func(m map[string]any)) map[string]any {
		m := e.assertionClaims("signer")
		f(m)
		return m
	}
	now := e.clock.Now()
	replayed := key.sign(t, e.assertionClaims("signer"), false)
	hmacKey := []byte("a symmetric key nobody registered, 32 bytes")
	hs, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: hmacKey}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hsToken, err := jwt.Signed(hs).Claims(e.assertionClaims("signer")).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	edKey := signer{kid: "k1", alg: jose.EdDSA, priv: edPriv}

	for _, tc := range []struct {
		name   string
		form   url.Values
		header http.Header
		want   int
	}{
		{"valid", withAssertion(key.sign(t, e.assertionClaims("signer"), false)), nil, 200},
		{"valid without kid", withAssertion(key.sign(t, e.assertionClaims("signer"), true)), nil, 200},
		{"aud the token endpoint", withAssertion(key.sign(t, edit(func(m map[string]any) { m["aud"] = e.ts.URL + "/token" }), false)), nil, 200},
		{"aud a list naming the issuer", withAssertion(key.sign(t, edit(func(m map[string]any) { m["aud"] = []string{"https://other.example", e.ts.URL} }), false)), nil, 200},
		{"with its client_id", func() url.Values {
			f := withAssertion(key.sign(t, e.assertionClaims("signer"), false))
			f.Set("client_id", "signer")
			return f
		}(), nil, 200},
		{"first use", withAssertion(replayed), nil, 200},
		{"replayed", withAssertion(replayed), nil, 401},
		{"signed by another key", withAssertion(other.sign(t, e.assertionClaims("signer"), false)), nil, 401},
		{"another key's type under the kid", withAssertion(edKey.sign(t, e.assertionClaims("signer"), false)), nil, 401},
		{"HS256 (a symmetric algorithm)", withAssertion(hsToken), nil, 401},
		{"alg none", withAssertion(unsigned(e.assertionClaims("signer"))), nil, 401},
		{"another server's aud", withAssertion(key.sign(t, edit(func(m map[string]any) { m["aud"] = "https://other.example" }), false)), nil, 401},
		{"no aud", withAssertion(key.sign(t, edit(func(m map[string]any) { delete(m, "aud") }), false)), nil, 401},
		{"iss another client", withAssertion(key.sign(t, edit(func(m map[string]any) { m["iss"] = "signer2" }), false)), nil, 401},
		{"naming another client", withAssertion(key.sign(t, e.assertionClaims("signer2"), false)), nil, 401},
		{"client_id another client", func() url.Values {
			f := withAssertion(key.sign(t, e.assertionClaims("signer"), false))
			f.Set("client_id", "signer2")
			return f
		}(), nil, 401},
		{"no exp", withAssertion(key.sign(t, edit(func(m map[string]any) { delete(m, "exp") }), false)), nil, 401},
		{"expired", withAssertion(key.sign(t, edit(func(m map[string]any) { m["exp"] = now.Add(-time.Minute).Unix() }), false)), nil, 401},
		{"exp an hour ahead", withAssertion(key.sign(t, edit(func(m map[string]any) { m["exp"] = now.Add(time.Hour).Unix() }), false)), nil, 401},
		{"nbf ahead", withAssertion(key.sign(t, edit(func(m map[string]any) { m["nbf"] = now.Add(5 * time.Minute).Unix() }), false)), nil, 401},
		{"iat ahead", withAssertion(key.sign(t, edit(func(m map[string]any) { m["iat"] = now.Add(5 * time.Minute).Unix() }), false)), nil, 401},
		{"no jti", withAssertion(key.sign(t, edit(func(m map[string]any) { delete(m, "jti") }), false)), nil, 401},
		{"wrong assertion type", func() url.Values {
			f := withAssertion(key.sign(t, e.assertionClaims("signer"), false))
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer")
			return f
		}(), nil, 401},
		{"not a JWT", withAssertion("not.a.jwt"), nil, 401},
		{"and a client secret", func() url.Values {
			f := withAssertion(key.sign(t, e.assertionClaims("signer"), false))
			f.Set("client_secret", "x")
			return f
		}(), nil, 400},
		{"and HTTP Basic", withAssertion(key.sign(t, e.assertionClaims("signer"), false)),
			http.Header{"Authorization": {basic("signer", "x")}}, 400},
		{"a disabled client", withAssertion(disabled.sign(t, e.assertionClaims("disabled"), false)), nil, 401},
		{"an unknown client", withAssertion(key.sign(t, e.assertionClaims("nobody"), false)), nil, 401},
		{"a secret client's assertion", withAssertion(key.sign(t, e.assertionClaims("third"), false)), nil, 401},
		{"a key client's secret (basic)", url.Values{"grant_type": {"client_credentials"}},
			http.Header{"Authorization": {basic("signer", "anything")}}, 401},
		{"a key client's secret (post)", url.Values{"grant_type": {"client_credentials"}, "client_id": {"signer"}, "client_secret": {"anything"}}, nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body := e.postForm("/token", tc.form, tc.header)
			if st != tc.want {
				t.Fatalf("status %d (%v), want %d", st, body, tc.want)
			}
			switch {
			case st == 200 && body["access_token"] == nil:
				t.Fatalf("no access token: %v", body)
			case st == 401 && body["error"] != "invalid_client":
				t.Fatalf("error %v, want invalid_client", body["error"])
			case st == 400 && body["error"] != "invalid_request":
				t.Fatalf("error %v, want invalid_request", body["error"])
			}
		})
	}
	if !strings.Contains(e.logs.String(), `"reason":"jti already used (replay)"`) {
		t.Error("the replayed assertion is not in the audit log with its reason")
	}
}

// basic is an HTTP Basic Authorization value.
func basic(id, secret string) string {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return r.Header.Get("Authorization")
}

// unsigned is an "alg":"none" JWT of claims.
func unsigned(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

func mustClient(t *testing.T, e *env, id string) storage.Client {
	t.Helper()
	c, err := e.store.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPrivateKeyJWT_IntrospectAndRevoke: a key client authenticates at
// introspection and revocation as at the token endpoint, with the
// endpoint's own URL accepted as aud.
func TestPrivateKeyJWT_IntrospectAndRevoke(t *testing.T) {
	e := newEnv(t)
	key := newSigner(t, "k1")
	e.addKeyClient("signer", jwks(t, key), "")
	st, body := e.postForm("/token", withAssertion(key.sign(t, e.assertionClaims("signer"), false)), nil)
	if st != 200 {
		t.Fatalf("token: %d %v", st, body)
	}
	tok := body["access_token"].(string)
	auth := func(path string) url.Values {
		m := e.assertionClaims("signer")
		m["aud"] = e.ts.URL + path
		return url.Values{"token": {tok}, "client_assertion_type": {assertionType}, "client_assertion": {key.sign(t, m, false)}}
	}
	if st, body := e.postForm("/introspect", auth("/introspect"), nil); st != 200 || body["active"] != true {
		t.Fatalf("introspect: %d %v", st, body)
	}
	if st, body := e.postForm("/revoke", auth("/revoke"), nil); st != 200 {
		t.Fatalf("revoke: %d %v", st, body)
	}
	if st, body := e.postForm("/introspect", auth("/introspect"), nil); st != 200 || body["active"] != false {
		t.Fatalf("introspect after revoking: %d %v", st, body)
	}
	// Another endpoint's URL is not this one's audience.
	if st, _ := e.postForm("/introspect", auth("/revoke"), nil); st != 401 {
		t.Fatalf("introspect with the revocation endpoint's aud: %d, want 401", st)
	}
}

// TestPrivateKeyJWT_ReplayRace: the same assertion sent many times at once,
// to two instances sharing the store, is accepted once.
func TestPrivateKeyJWT_ReplayRace(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnvDSN(t, b.DSN(t), nil)
			key := newSigner(t, "k1")
			e.addKeyClient("signer", jwks(t, key), "")
			a := withAssertion(key.sign(t, e.assertionClaims("signer"), false))
			const n = 16
			got := e.raceInstances(n, func(inst *env) bool {
				st, _ := inst.postForm("/token", a, nil)
				if st != 200 && st != 401 {
					t.Errorf("status %d, want 200 or 401", st)
				}
				return st == 200
			})
			if got != 1 {
				t.Fatalf("%d of %d concurrent uses of one assertion succeeded, want 1", got, n)
			}
		})
	}
}

// failingReplays fails UseOnce while fail is set.
type failingReplays struct {
	storage.Store
	fail atomic.Bool
}

func (s *failingReplays) UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error {
	if s.fail.Load() {
		return errInjected
	}
	return s.Store.UseOnce(ctx, key, expiresAt, now)
}

// TestPrivateKeyJWT_ReplayStoreFails: when the jti cannot be recorded the
// request fails as a server error, not as the client's fault, and the
// assertion is not spent: the retry succeeds, once.
func TestPrivateKeyJWT_ReplayStoreFails(t *testing.T) {
	var fs *failingReplays
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
		fs = &failingReplays{Store: c.Store}
		c.Store = fs
	})
	key := newSigner(t, "k1")
	e.addKeyClient("signer", jwks(t, key), "")
	a := withAssertion(key.sign(t, e.assertionClaims("signer"), false))
	fs.fail.Store(true)
	if st, body := e.postForm("/token", a, nil); st != http.StatusInternalServerError && st != http.StatusServiceUnavailable {
		t.Fatalf("with the replay store failing: %d %v, want 500 or 503", st, body)
	}
	fs.fail.Store(false)
	if st, body := e.postForm("/token", a, nil); st != 200 {
		t.Fatalf("retry: %d %v", st, body)
	}
	if st, _ := e.postForm("/token", a, nil); st != 401 {
		t.Fatalf("a second use after the retry: %d, want 401", st)
	}
}

// TestPrivateKeyJWT_JWKSURI: a client registered with a jwks_uri is
// verified with the set fetched from it, which is cached; a new key at the
// URI is picked up by its kid, and unknown kids do not make the server
// fetch more than once per 30 seconds.
func TestPrivateKeyJWT_JWKSURI(t *testing.T) {
	k1, k2 := newSigner(t, "k1"), newSigner(t, "k2")
	var mu sync.Mutex
	set := jwks(t, k1)
	var fetches atomic.Int32
	keys := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write([]byte(set))
	}))
	t.Cleanup(keys.Close)
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { c.HTTPClient = keys.Client() })
	e.addKeyClient("signer", "", keys.URL+"/jwks.json")

	use := func(k signer, want int) {
		t.Helper()
		if st, body := e.postForm("/token", withAssertion(k.sign(t, e.assertionClaims("signer"), false)), nil); st != want {
			t.Fatalf("assertion under %s: %d %v, want %d", k.kid, st, body, want)
		}
	}
	use(k1, 200)
	use(k1, 200)
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches for two assertions, want 1 (cached)", n)
	}
	// An unknown kid: one refetch at most per 30 seconds.
	use(k2, 401)
	use(k2, 401)
	if n := fetches.Load(); n > 2 {
		t.Fatalf("%d fetches after two unknown kids, want at most 2", n)
	}
	// The client adds k2 at its URI; once the refetch interval has passed,
	// k2's first assertion fetches the set again and is accepted.
	mu.Lock()
	set = jwks(t, k1, k2)
	mu.Unlock()
	e.clock.Add(31 * time.Second)
	use(k2, 200)
	use(k1, 200)
	// The key set is gone: what was fetched is used until it ages out.
	keys.Close()
	use(k1, 200)
	e.clock.Add(6 * time.Minute)
	use(k1, 401)
}

// TestClientAuth_OneMethod: a client registered with one secret method is
// refused the other; one registered before clients had a method uses
// either.
func TestClientAuth_OneMethod(t *testing.T) {
	e := newEnv(t)
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}}
	post := func(id string) url.Values {
		f := url.Values{"client_id": {id}, "client_secret": {thirdSecret}}
		for k, v := range cc {
			f[k] = v
		}
		return f
	}
	for _, tc := range []struct {
		method          string
		basicOK, postOK bool
	}{
		{"", true, true},
		{storage.AuthSecretBasic, true, false},
		{storage.AuthSecretPost, false, true},
	} {
		t.Run("registered "+tc.method, func(t *testing.T) {
			if err := e.store.SetClientAuthentication(context.Background(), "third", storage.ClientAuthentication{
				AuthMethod: tc.method, SecretHash: mustClient(t, e, "third").SecretHash,
			}, time.Now()); err != nil {
				t.Fatal(err)
			}
			e.clock.Add(time.Minute) // past the client cache
			st, _ := e.postForm("/token", cc, http.Header{"Authorization": {basic("third", thirdSecret)}})
			if (st == 200) != tc.basicOK {
				t.Errorf("client_secret_basic: %d, want success %v", st, tc.basicOK)
			}
			st, _ = e.postForm("/token", post("third"), nil)
			if (st == 200) != tc.postOK {
				t.Errorf("client_secret_post: %d, want success %v", st, tc.postOK)
			}
		})
	}
}
