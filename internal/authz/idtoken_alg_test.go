package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
)

// ID tokens signed with the client's id_token_signed_response_alg (OpenID
// Connect Dynamic Client Registration 1.0 §2), and id_token_hint signed
// with any of them.

// claimHash is an ID token's at_hash or c_hash of value, computed here
// apart from the server: the left half of the hash the alg implies
// (OpenID Connect Core §3.1.3.6), SHA-512 for EdDSA.
func claimHash(t *testing.T, alg, value string) string {
	t.Helper()
	h := map[string]crypto.Hash{"RS256": crypto.SHA256, "ES256": crypto.SHA256, "EdDSA": crypto.SHA512}[alg]
	if h == 0 {
		t.Fatalf("no hash for %q", alg)
	}
	d := h.New()
	d.Write([]byte(value))
	sum := d.Sum(nil)
	return base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2])
}

// TestIDToken_ClientAlg: a client registered with each algorithm admin
// accepts (or none: RS256) gets ID tokens with that alg and typ JWT, from
// the code exchange and from a refresh, which a third-party verifier
// (go-oidc, through discovery and the JWKS) accepts when told to expect
// exactly that algorithm, with at_hash and c_hash of the hash the alg
// implies; it is no access token at introspection or userinfo. A change
// of registration applies to the next refresh.
func TestIDToken_ClientAlg(t *testing.T) {
	e := newEnv(t)
	ctx := oidc.ClientContext(context.Background(), e.ts.Client())
	provider, err := oidc.NewProvider(ctx, e.ts.URL)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	for _, tc := range []struct {
		registered, want string
	}{
		{"", "RS256"},
		{"RS256", "RS256"},
		{"ES256", "ES256"},
		{"EdDSA", "EdDSA"},
	} {
		t.Run("registered "+tc.registered, func(t *testing.T) {
			id := "alg-" + strings.ToLower(tc.registered)
			redirect := "https://" + id + ".example/cb"
			_, sec, err := admin.AddClient(ctx, e.store, admin.NewClient{
				ID: id, RedirectURIs: []string{redirect}, FirstParty: true, IDTokenAlg: tc.registered,
			}, e.clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			verify := func(what, raw, access, code string) {
				t.Helper()
				p, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA})
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				h := p.Headers[0]
				if h.Algorithm != tc.want || h.ExtraHeaders[jose.HeaderType] != "JWT" {
					t.Fatalf("%s: alg %q typ %v, want %s JWT", what, h.Algorithm, h.ExtraHeaders[jose.HeaderType], tc.want)
				}
				v := provider.Verifier(&oidc.Config{ClientID: id, SupportedSigningAlgs: []string{tc.want}, Now: e.clock.Now})
				idt, err := v.Verify(ctx, raw)
				if err != nil {
					t.Fatalf("%s: go-oidc refuses it: %v", what, err)
				}
				if err := idt.VerifyAccessToken(access); err != nil {
					t.Errorf("%s: go-oidc's at_hash check: %v", what, err)
				}
				var c struct {
					AtHash string `json:"at_hash"`
					CHash  string `json:"c_hash"`
				}
				if err := idt.Claims(&c); err != nil {
					t.Fatal(err)
				}
				if want := claimHash(t, tc.want, access); c.AtHash != want {
					t.Errorf("%s: at_hash %q, want %q", what, c.AtHash, want)
				}
				if code != "" {
					if want := claimHash(t, tc.want, code); c.CHash != want {
						t.Errorf("%s: c_hash %q, want %q", what, c.CHash, want)
					}
				}
			}
			v, ch := pkce()
			q := e.authorizeCode(e.browser(), authParams(id, redirect, ch, "openid offline_access"))
			st, tr := e.exchange(id, sec, q.Get("code"), redirect, v)
			if st != http.StatusOK || tr.IDToken == "" || tr.RefreshToken == "" {
				t.Fatalf("exchange: %d %s", st, tr.Error)
			}
			verify("exchange", tr.IDToken, tr.AccessToken, q.Get("code"))
			// An ID token is no access token, though ES256 signs both with
			// one key (RFC 9068 §4: typ at+jwt).
			if m := e.introspect(tr.IDToken); m["active"] != false {
				t.Errorf("the ID token introspects as %v", m)
			}
			req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+tr.IDToken)
			resp, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("userinfo with the ID token: %d, want 401", resp.StatusCode)
			}
			st, tr = e.refresh(id, sec, tr.RefreshToken)
			if st != http.StatusOK {
				t.Fatalf("refresh: %d %s", st, tr.Error)
			}
			verify("refresh", tr.IDToken, tr.AccessToken, "")

			// Another registration: the next refresh, once the cached
			// registration is read again, signs with the new algorithm.
			next := map[string]string{"RS256": "EdDSA", "ES256": "RS256", "EdDSA": "ES256"}[tc.want]
			if err := admin.SetIDTokenAlg(ctx, e.store, id, next, e.clock.Now()); err != nil {
				t.Fatal(err)
			}
			e.clock.Add(clientCacheTTL)
			st, tr = e.refresh(id, sec, tr.RefreshToken)
			if st != http.StatusOK {
				t.Fatalf("refresh after the change: %d %s", st, tr.Error)
			}
			tc.want = next
			verify("refresh after the change", tr.IDToken, tr.AccessToken, "")
		})
	}
}

// TestIDToken_UnknownStoredAlg: a registration naming an algorithm the
// server does not sign with (written to the database around the admin
// commands) gets server_error, not an ID token of another algorithm, and
// the code stays unused.
func TestIDToken_UnknownStoredAlg(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.store.SetClientIDTokenAlg(ctx, "third", "HS256", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	v, ch := pkce()
	q := e.authorizeCode(e.browser(), authParams("third", thirdRedir, ch, "openid"))
	st, tr := e.exchange("third", thirdSecret, q.Get("code"), thirdRedir, v)
	if st != http.StatusInternalServerError || tr.Error != "server_error" || tr.IDToken != "" {
		t.Fatalf("exchange: %d %q, want 500 server_error", st, tr.Error)
	}
	if err := e.store.SetClientIDTokenAlg(ctx, "third", "ES256", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(clientCacheTTL)
	if st, tr := e.exchange("third", thirdSecret, q.Get("code"), thirdRedir, v); st != http.StatusOK || tr.IDToken == "" {
		t.Fatalf("exchange once the registration is fixed: %d %q", st, tr.Error)
	}
}

// TestDiscovery_IDTokenAlgs: discovery lists every algorithm a client may
// be registered with, RS256 first, exactly those admin accepts, and the
// JWKS publishes a key for each.
func TestDiscovery_IDTokenAlgs(t *testing.T) {
	e := newEnv(t)
	_, body := e.get(e.ts.Client(), e.ts.URL+"/.well-known/openid-configuration")
	var m struct {
		Algs []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	if want := []string{"RS256", "ES256", "EdDSA"}; !slices.Equal(m.Algs, want) {
		t.Errorf("id_token_signing_alg_values_supported = %v, want %v", m.Algs, want)
	}
	if !slices.Equal(m.Algs, admin.IDTokenAlgs()) {
		t.Errorf("discovery lists %v, admin accepts %v", m.Algs, admin.IDTokenAlgs())
	}
	_, body = e.get(e.ts.Client(), e.ts.URL+"/jwks")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		t.Fatal(err)
	}
	for _, alg := range m.Algs {
		if !slices.ContainsFunc(set.Keys, func(k jose.JSONWebKey) bool { return k.Algorithm == alg }) {
			t.Errorf("no %s key in the JWKS", alg)
		}
	}
}

// TestIDTokenHint_Algs: an id_token_hint signed with any ID token
// algorithm names the person at /end_session (signing them out at once)
// and at /authorize (prompt=none answers for them). A JWS that is no ID
// token of this server is refused at both: an access token (ES256, the
// same key, typ at+jwt), alg none, HMAC, a foreign key under a published
// kid, and a published kid of another algorithm.
func TestIDTokenHint_Algs(t *testing.T) {
	e := newEnv(t)
	now := e.clock.Now()
	_, ch := pkce()
	c := e.browser()
	e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	access := e.webappTokens().AccessToken

	authorize := func(hint string) url.Values {
		t.Helper()
		p := authParams("gatehouse-webapp", webappRedir, ch, "openid")
		p.Set("prompt", "none")
		p.Set("id_token_hint", hint)
		resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
		return callback(t, resp)
	}
	for _, alg := range IDTokenAlgs() {
		t.Run(string(alg), func(t *testing.T) {
			hint := e.signIDTokenAlg(alg, "u-alice", "gatehouse-webapp", now.Add(time.Hour))
			if q := authorize(hint); q.Get("code") == "" {
				t.Errorf("/authorize with a %s hint: %v", alg, q)
			}
			// The session is alice's: a valid hint naming her ends it.
			sc := e.browser()
			e.authorizeCode(sc, authParams("gatehouse-webapp", webappRedir, ch, "openid"))
			resp, _ := e.get(sc, e.ts.URL+"/end_session?"+url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://app.example/"}}.Encode())
			if loc := resp.Header.Get("Location"); loc != "https://app.example/" {
				t.Errorf("/end_session with a %s hint: %d, Location %q; want signed out at once", alg, resp.StatusCode, loc)
			}
		})
	}

	claims := zoidc.NewIDTokenClaims(e.ts.URL, "u-alice", nil, now.Add(time.Hour), now, "", "", nil, "gatehouse-webapp", 0)
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	es, _ := e.srv.keys.Signer(jose.ES256, now)
	ed, _ := e.srv.keys.Signer(jose.EdDSA, now)
	foreign, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(alg jose.SignatureAlgorithm, key any, kid string) string {
		t.Helper()
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
			(&jose.SignerOptions{}).WithType("JWT"))
		if err != nil {
			t.Fatal(err)
		}
		jws, err := s.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := jws.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	b64 := base64.RawURLEncoding.EncodeToString
	for _, tc := range []struct{ name, hint string }{
		{"access token", access},
		{"alg none", b64([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + b64(payload) + "."},
		{"HS256 keyed with the kid", sign(jose.HS256, []byte(es.ID+strings.Repeat("k", 32)), es.ID)},
		{"foreign ES256 key under the published kid", sign(jose.ES256, foreign, es.ID)},
		{"ES256 under the EdDSA key's kid", sign(jose.ES256, es.Private, ed.ID)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if q := authorize(tc.hint); q.Get("error") != "invalid_request" || q.Get("code") != "" {
				t.Errorf("/authorize: %v, want invalid_request", q)
			}
			resp, _ := e.get(c, e.ts.URL+"/end_session?"+url.Values{"id_token_hint": {tc.hint}}.Encode())
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("/end_session: %d, want 400", resp.StatusCode)
			}
		})
	}
	// The same key's signature with typ JWT is accepted: the access token
	// was refused for its typ, not its key.
	if q := authorize(sign(jose.ES256, es.Private, es.ID)); q.Get("code") == "" {
		t.Errorf("/authorize with the ES256 key's JWT: %v", q)
	}
}
