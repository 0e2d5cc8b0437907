package authz

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Tests of DPoP at the authorization server (RFC 9449), the attacks the
// specification names included: a proof replayed or made for another URL
// or method, a bound refresh token or code used with another key or none,
// a bound access token used as a bearer token.

func newDPoPKey(t testing.TB) *dpop.Key {
	t.Helper()
	k, err := dpop.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// proof is a proof of k for method and path at e, with nonce and, for a
// resource request, the access token's hash.
func (e *env) proof(k *dpop.Key, method, path, accessToken, nonce string) string {
	e.t.Helper()
	p, err := k.Proof(method, e.ts.URL+path, accessToken, nonce, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

// withProof is a header with a DPoP proof and, for a confidential client,
// HTTP Basic.
func withProof(proof, clientID, secret string) http.Header {
	h := http.Header{}
	if proof != "" {
		h.Set("DPoP", proof)
	}
	if secret != "" {
		h.Set("Authorization", basic(clientID, secret))
	}
	return h
}

// cnfJKT reads an access token's cnf.jkt without verifying it.
func cnfJKT(t testing.TB, token string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{AccessTokenAlg})
	if err != nil {
		t.Fatal(err)
	}
	var c accessClaims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	return c.jkt()
}

var thirdCC = url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}}

func TestDPoP_TokenEndpoint(t *testing.T) {
	e := newEnv(t)
	key := newDPoPKey(t)
	replayed := e.proof(key, "POST", "/token", "", "")
	for _, tc := range []struct {
		name    string
		header  http.Header
		want    int
		wantTyp string // token_type, or the error
	}{
		{"no proof: a bearer token", withProof("", "third", thirdSecret), 200, "Bearer"},
		{"a proof: a DPoP token", withProof(e.proof(key, "POST", "/token", "", ""), "third", thirdSecret), 200, "DPoP"},
		{"first use", withProof(replayed, "third", thirdSecret), 200, "DPoP"},
		{"replayed", withProof(replayed, "third", thirdSecret), 400, "invalid_dpop_proof"},
		{"for another URL", withProof(e.proof(key, "POST", "/introspect", "", ""), "third", thirdSecret), 400, "invalid_dpop_proof"},
		{"for another method", withProof(e.proof(key, "GET", "/token", "", ""), "third", thirdSecret), 400, "invalid_dpop_proof"},
		{"not a proof", withProof("a.b.c", "third", thirdSecret), 400, "invalid_dpop_proof"},
		{"two proofs", func() http.Header {
			h := withProof(e.proof(key, "POST", "/token", "", ""), "third", thirdSecret)
			h.Add("DPoP", e.proof(key, "POST", "/token", "", ""))
			return h
		}(), 400, "invalid_dpop_proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, body := e.postForm("/token", thirdCC, tc.header)
			if st != tc.want {
				t.Fatalf("status %d (%v), want %d", st, body, tc.want)
			}
			if st != 200 {
				if body["error"] != tc.wantTyp {
					t.Fatalf("error %v, want %s", body["error"], tc.wantTyp)
				}
				return
			}
			if body["token_type"] != tc.wantTyp {
				t.Fatalf("token_type %v, want %s", body["token_type"], tc.wantTyp)
			}
			jkt := cnfJKT(t, body["access_token"].(string))
			if want := map[string]string{"Bearer": "", "DPoP": key.JKT()}[tc.wantTyp]; jkt != want {
				t.Fatalf("cnf.jkt %q, want %q", jkt, want)
			}
			// Introspection shows the binding to the resource server.
			m := e.introspectAs("gatehouse-api", apiSecret, body["access_token"].(string))
			cnf, _ := m["cnf"].(map[string]any)
			if m["active"] != true || (jkt != "") != (cnf != nil) || (cnf != nil && cnf["jkt"] != jkt) {
				t.Fatalf("introspection: %v", m)
			}
		})
	}
}

// TestDPoP_BoundClient: a client registered with dpop_bound_access_tokens
// gets no token without a proof.
func TestDPoP_BoundClient(t *testing.T) {
	e := newEnv(t)
	if err := e.store.SetClientDPoPBound(context.Background(), "third", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st, body := e.postForm("/token", thirdCC, withProof("", "third", thirdSecret)); st != 400 || body["error"] != "invalid_dpop_proof" {
		t.Fatalf("without a proof: %d %v", st, body)
	}
	if st, body := e.postForm("/token", thirdCC, withProof(e.proof(newDPoPKey(t), "POST", "/token", "", ""), "third", thirdSecret)); st != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("with a proof: %d %v", st, body)
	}
}

// nativeCode runs the code flow for the public client with PKCE and extra
// authorization parameters, and returns the exchange form.
func (e *env) nativeCode(extra url.Values) url.Values {
	e.t.Helper()
	v, ch := pkce()
	p := authParams("native", nativeRedir, ch, "openid offline_access todos:read")
	for k, vs := range extra {
		p[k] = vs
	}
	q := e.authorizeCode(e.browser(), p)
	return url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {nativeRedir},
		"code_verifier": {v}, "client_id": {"native"}}
}

// TestDPoP_PublicClientCodeAndRefresh: dpop_jkt binds the code; a public
// client's refresh tokens are bound to its key from link to link, and a
// try with another key or none is refused without costing the client its
// token.
func TestDPoP_PublicClientCodeAndRefresh(t *testing.T) {
	e := newEnv(t)
	key, thief := newDPoPKey(t), newDPoPKey(t)
	exchange := e.nativeCode(url.Values{"dpop_jkt": {key.JKT()}})
	for _, tc := range []struct {
		name  string
		proof string
	}{
		{"without a proof", ""},
		{"with another key's proof", e.proof(thief, "POST", "/token", "", "")},
	} {
		if st, body := e.postForm("/token", exchange, withProof(tc.proof, "", "")); st != 400 || body["error"] != "invalid_dpop_proof" {
			t.Fatalf("exchange %s: %d %v", tc.name, st, body)
		}
	}
	st, body := e.postForm("/token", exchange, withProof(e.proof(key, "POST", "/token", "", ""), "", ""))
	if st != 200 || body["token_type"] != "DPoP" || cnfJKT(t, body["access_token"].(string)) != key.JKT() {
		t.Fatalf("exchange with the key: %d %v", st, body)
	}
	rt := body["refresh_token"].(string)
	refresh := func(rt, proof string) (int, map[string]any) {
		return e.postForm("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"native"}},
			withProof(proof, "", ""))
	}
	for i := range 2 {
		for _, p := range []string{"", e.proof(thief, "POST", "/token", "", "")} {
			if st, body := refresh(rt, p); st != 400 || body["error"] != "invalid_dpop_proof" {
				t.Fatalf("link %d: refresh with another key or none: %d %v", i, st, body)
			}
		}
		st, body := refresh(rt, e.proof(key, "POST", "/token", "", ""))
		if st != 200 || body["token_type"] != "DPoP" || cnfJKT(t, body["access_token"].(string)) != key.JKT() {
			t.Fatalf("link %d: refresh with the key: %d %v", i, st, body)
		}
		rt = body["refresh_token"].(string)
	}
	// The code's binding is checked before it is spent: no replay.
	if got := strings.Count(e.logs.String(), `"event":"code_reuse"`); got != 0 {
		t.Fatalf("%d code_reuse events", got)
	}
}

// TestDPoP_ConfidentialRefreshUnbound: a confidential client's refresh
// token is not bound (it authenticates anyway); each access token is bound
// to the proof of its own request.
func TestDPoP_ConfidentialRefreshUnbound(t *testing.T) {
	e := newEnv(t)
	tr := e.webappTokensOffline()
	key := newDPoPKey(t)
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}}
	st, body := e.postForm("/token", refresh, withProof(e.proof(key, "POST", "/token", "", ""), "gatehouse-webapp", webappSecret))
	if st != 200 || cnfJKT(t, body["access_token"].(string)) != key.JKT() {
		t.Fatalf("refresh with a proof: %d %v", st, body)
	}
	refresh.Set("refresh_token", body["refresh_token"].(string))
	st, body = e.postForm("/token", refresh, withProof("", "gatehouse-webapp", webappSecret))
	if st != 200 || body["token_type"] != "Bearer" {
		t.Fatalf("refresh without a proof: %d %v", st, body)
	}
}

// TestDPoP_Nonces: with DPoPNonces, a proof without the server's nonce is
// answered use_dpop_nonce with the nonce, and the retry carrying it works;
// dpop.Transport does that by itself.
func TestDPoP_Nonces(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
		n, err := dpop.NewNonces([]byte(strings.Repeat("n", 32)), 5*time.Minute, c.Now)
		if err != nil {
			t.Fatal(err)
		}
		c.DPoPNonces = n
	})
	key := newDPoPKey(t)
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/token", strings.NewReader(thirdCC.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basic("third", thirdSecret))
	req.Header.Set("DPoP", e.proof(key, "POST", "/token", "", ""))
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	nonce := resp.Header.Get("DPoP-Nonce")
	if resp.StatusCode != 400 || m["error"] != "use_dpop_nonce" || nonce == "" {
		t.Fatalf("without a nonce: %d %v, DPoP-Nonce %q", resp.StatusCode, m, nonce)
	}
	if st, body := e.postForm("/token", thirdCC, withProof(e.proof(key, "POST", "/token", "", "not-the-nonce"), "third", thirdSecret)); st != 400 || body["error"] != "use_dpop_nonce" {
		t.Fatalf("with a made-up nonce: %d %v", st, body)
	}
	if st, body := e.postForm("/token", thirdCC, withProof(e.proof(key, "POST", "/token", "", nonce), "third", thirdSecret)); st != 200 || body["token_type"] != "DPoP" {
		t.Fatalf("with the nonce: %d %v", st, body)
	}
	// A client using dpop.Transport gets its token in one call.
	base := e.ts.Client().Transport
	c := &http.Client{Transport: &dpop.Transport{Base: base, Key: key, Now: e.clock.Now}}
	req, _ = http.NewRequest(http.MethodPost, e.ts.URL+"/token", strings.NewReader(thirdCC.Encode()))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(thirdCC.Encode())), nil }
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", basic("third", thirdSecret))
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("through dpop.Transport: %d", resp.StatusCode)
	}
}

// TestDPoP_Userinfo: a bound access token works at userinfo only under the
// DPoP scheme with a proof of its key that names it (ath).
func TestDPoP_Userinfo(t *testing.T) {
	e := newEnv(t)
	key, thief := newDPoPKey(t), newDPoPKey(t)
	exchange := e.nativeCode(nil)
	st, body := e.postForm("/token", exchange, withProof(e.proof(key, "POST", "/token", "", ""), "", ""))
	if st != 200 {
		t.Fatalf("exchange: %d %v", st, body)
	}
	bound := body["access_token"].(string)
	unbound := e.webappTokens().AccessToken
	for _, tc := range []struct {
		name, scheme, token, proof string
		want                       int
	}{
		{"bound, DPoP, its proof", "DPoP", bound, e.proof(key, "GET", "/userinfo", bound, ""), 200},
		{"bound, as a bearer token", "Bearer", bound, "", 401},
		{"bound, as a bearer token with a proof", "Bearer", bound, e.proof(key, "GET", "/userinfo", bound, ""), 401},
		{"bound, DPoP, no proof", "DPoP", bound, "", 401},
		{"bound, DPoP, another key's proof", "DPoP", bound, e.proof(thief, "GET", "/userinfo", bound, ""), 401},
		{"bound, DPoP, a proof without ath", "DPoP", bound, e.proof(key, "GET", "/userinfo", "", ""), 401},
		{"bound, DPoP, a proof for another token", "DPoP", bound, e.proof(key, "GET", "/userinfo", unbound, ""), 401},
		{"unbound, DPoP", "DPoP", unbound, e.proof(key, "GET", "/userinfo", unbound, ""), 401},
		{"unbound, Bearer", "Bearer", unbound, "", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/userinfo", nil)
			req.Header.Set("Authorization", tc.scheme+" "+tc.token)
			if tc.proof != "" {
				req.Header.Set("DPoP", tc.proof)
			}
			resp, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d (WWW-Authenticate %q)", resp.StatusCode, tc.want, resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
}

// TestDPoP_ProofReplayRace: one proof sent many times at once, to two
// instances sharing the store, gets one token.
func TestDPoP_ProofReplayRace(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnvDSN(t, b.DSN(t), nil)
			// Both instances serve one issuer URL, which the proof names.
			h := withProof(e.proof(newDPoPKey(t), "POST", "/token", "", ""), "third", thirdSecret)
			const n = 16
			got := e.raceInstances(n, func(inst *env) bool {
				st, _ := inst.postForm("/token", thirdCC, h.Clone())
				return st == 200
			})
			if got != 1 {
				t.Fatalf("%d of %d concurrent uses of one proof got a token, want 1", got, n)
			}
		})
	}
}

// TestDPoP_MalformedJKT: a dpop_jkt that is no thumbprint is refused at the
// authorization endpoint.
func TestDPoP_MalformedJKT(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	p := authParams("native", nativeRedir, ch, "openid")
	p.Set("dpop_jkt", "not a thumbprint")
	resp, _ := e.get(e.browser(), e.ts.URL+"/authorize?"+p.Encode())
	if q := callback(t, resp); q.Get("error") != "invalid_request" {
		t.Fatalf("authorization with a malformed dpop_jkt: %v", q)
	}
}
