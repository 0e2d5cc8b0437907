package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

func TestDiscovery_Metadata(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"} {
		resp, body := e.get(e.ts.Client(), e.ts.URL+path)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", path, resp.StatusCode)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(body), &m); err != nil {
			t.Fatal(err)
		}
		if m["issuer"] != e.ts.URL || m["authorization_response_iss_parameter_supported"] != true {
			t.Errorf("%s: issuer/iss support wrong: %v", path, m)
		}
		if got := m["code_challenge_methods_supported"]; len(got.([]any)) != 1 || got.([]any)[0] != "S256" {
			t.Errorf("%s: code_challenge_methods_supported = %v", path, got)
		}
		for _, k := range []string{"revocation_endpoint", "introspection_endpoint", "grant_types_supported", "token_endpoint_auth_methods_supported", "jwks_uri", "end_session_endpoint"} {
			if m[k] == nil {
				t.Errorf("%s: missing %s", path, k)
			}
		}
		// private_key_jwt at each endpoint that authenticates clients, with
		// asymmetric algorithms only (RFC 8414 §2).
		for _, ep := range []string{"token", "revocation", "introspection"} {
			methods := fmt.Sprint(m[ep+"_endpoint_auth_methods_supported"])
			algs := fmt.Sprint(m[ep+"_endpoint_auth_signing_alg_values_supported"])
			if !strings.Contains(methods, "private_key_jwt") || algs != "[PS256 ES256 EdDSA RS256]" {
				t.Errorf("%s: %s endpoint auth methods %s, algorithms %s", path, ep, methods, algs)
			}
		}
	}
}

func TestPKCE_RequiredForConfidentialClient(t *testing.T) {
	e := newEnv(t)
	for name, mod := range map[string]func(url.Values){
		"no challenge":        func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") },
		"plain":               func(v url.Values) { v.Set("code_challenge_method", "plain") },
		"method omitted":      func(v url.Values) { v.Del("code_challenge_method") },
		"malformed challenge": func(v url.Values) { v.Set("code_challenge", "short") },
	} {
		t.Run(name, func(t *testing.T) {
			_, ch := pkce()
			p := authParams("third", thirdRedir, ch, "openid")
			mod(p)
			resp, _ := e.get(e.browser(), e.ts.URL+"/authorize?"+p.Encode())
			q := callback(t, resp)
			if q.Get("error") != "invalid_request" || q.Get("state") != p.Get("state") || q.Get("iss") != e.ts.URL {
				t.Fatalf("want invalid_request with state and iss, got %v", q)
			}
		})
	}
}

func TestPKCE_RequiredForPublicClient(t *testing.T) {
	e := newEnv(t)
	p := authParams("native", nativeRedir, "", "openid")
	p.Del("code_challenge")
	p.Del("code_challenge_method")
	resp, _ := e.get(e.browser(), e.ts.URL+"/authorize?"+p.Encode())
	if q := callback(t, resp); q.Get("error") != "invalid_request" {
		t.Fatalf("got %v", q)
	}
}

func TestPKCE_LegacyClientMayOptOut(t *testing.T) {
	e := newEnv(t)
	p := authParams("legacy", legacyRedir, "", "openid")
	p.Del("code_challenge")
	p.Del("code_challenge_method")
	q := e.authorizeCode(e.browser(), p)
	if st, tr := e.exchange("legacy", legacySecret, q.Get("code"), legacyRedir, ""); st != 200 {
		t.Fatalf("legacy exchange: %d %s", st, tr.Error)
	}
}

func TestPKCE_VerifierForCodeWithoutChallengeIsRefused(t *testing.T) {
	e := newEnv(t)
	p := authParams("legacy", legacyRedir, "", "openid")
	p.Del("code_challenge")
	p.Del("code_challenge_method")
	q := e.authorizeCode(e.browser(), p)
	v, _ := pkce()
	if st, tr := e.exchange("legacy", legacySecret, q.Get("code"), legacyRedir, v); st != 400 || tr.Error != "invalid_grant" {
		t.Fatalf("downgrade: want 400 invalid_grant, got %d %q", st, tr.Error)
	}
}

func TestPKCE_WrongVerifierIsRefused(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	q := e.authorizeCode(e.browser(), authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	other, _ := pkce()
	for _, v := range []string{"", other} {
		if st, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v); st != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("verifier %q: want invalid_grant, got %d %q", v, st, tr.Error)
		}
	}
}

func TestRedirectURI_ExactMatch(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	for _, bad := range []string{webappRedir + "/", webappRedir + "?x=1", "https://app.example/callback2", "https://APP.example/callback", "https://evil.example/callback", ""} {
		p := authParams("gatehouse-webapp", bad, ch, "openid")
		resp, body := e.get(e.browser(), e.ts.URL+"/authorize?"+p.Encode())
		if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "not registered") {
			t.Errorf("redirect_uri %q: want error page without redirect, got %d %q", bad, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
}

func TestRedirectURI_LoopbackPortMayVaryForNativeClient(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	redir := "http://127.0.0.1:49152/callback"
	q := e.authorizeCode(e.browser(), authParams("native", redir, ch, "openid"))
	if st, tr := e.exchange("native", "", q.Get("code"), redir, v); st != 200 {
		t.Fatalf("exchange: %d %s", st, tr.Error)
	}
	// Only the port: another path is refused.
	p := authParams("native", "http://127.0.0.1:49152/other", ch, "openid")
	if resp, _ := e.get(e.browser(), e.ts.URL+"/authorize?"+p.Encode()); resp.StatusCode != 400 {
		t.Fatalf("other path: %d", resp.StatusCode)
	}
}

func TestUnknownClient_ShowsErrorPage(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	resp, body := e.get(e.browser(), e.ts.URL+"/authorize?"+authParams("nobody", webappRedir, ch, "openid").Encode())
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" || !strings.Contains(body, "not registered") {
		t.Fatalf("got %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestNoImplicitOrPasswordGrant(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	for _, rt := range []string{"token", "id_token", "id_token token", "code id_token", "code token"} {
		p := authParams("gatehouse-webapp", webappRedir, ch, "openid")
		p.Set("response_type", rt)
		resp, _ := e.get(e.browser(), e.ts.URL+"/authorize?"+p.Encode())
		if q := callback(t, resp); q.Get("error") != "unsupported_response_type" {
			t.Errorf("response_type %q: %v", rt, q)
		}
	}
	st, tr := e.token("gatehouse-webapp", webappSecret, url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {alicePassword}})
	if st != 400 || tr.Error != "unsupported_grant_type" || tr.AccessToken != "" {
		t.Fatalf("password grant: %d %q", st, tr.Error)
	}
}

func TestAuthorizeResponse_HasIss(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	p := authParams("gatehouse-webapp", webappRedir, ch, "openid")
	q := e.authorizeCode(e.browser(), p)
	if q.Get("iss") != e.ts.URL || q.Get("state") != p.Get("state") || q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
}

func TestAuthorizeResponse_StateUnchanged(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	p := authParams("gatehouse-webapp", webappRedir, ch, "openid")
	p.Set("state", "a b+c/d=é&x")
	if q := e.authorizeCode(e.browser(), p); q.Get("state") != "a b+c/d=é&x" {
		t.Fatalf("state = %q", q.Get("state"))
	}
}

func TestCode_ExpiresAfter60s(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	q := e.authorizeCode(e.browser(), authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	e.clock.Add(61 * time.Second)
	if st, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v); tr.Error != "invalid_grant" {
		t.Fatalf("expired code: %d %q", st, tr.Error)
	}
}

func TestCode_BoundToClientAndRedirectURI(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	q := e.authorizeCode(e.browser(), authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	if _, tr := e.exchange("third", thirdSecret, q.Get("code"), webappRedir, v); tr.Error != "invalid_grant" {
		t.Fatalf("other client: %q", tr.Error)
	}
	if _, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir+"x", v); tr.Error != "invalid_grant" {
		t.Fatalf("other redirect_uri: %q", tr.Error)
	}
}

func TestCodeReuse_RevokesIssuedTokens(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	q := e.authorizeCode(e.browser(), authParams("gatehouse-webapp", webappRedir, ch, "openid offline_access todos:read"))
	st, first := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v)
	if st != 200 || first.RefreshToken == "" {
		t.Fatalf("first exchange: %d %s", st, first.Error)
	}
	if e.introspect(first.AccessToken)["active"] != true {
		t.Fatal("token inactive before replay")
	}
	if st, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v); st != 400 || tr.Error != "invalid_grant" {
		t.Fatalf("replay: %d %q", st, tr.Error)
	}
	if e.introspect(first.AccessToken)["active"] != false || e.introspect(first.RefreshToken)["active"] != false {
		t.Fatal("tokens from a replayed code are still active")
	}
	if !strings.Contains(e.logs.String(), `"event":"code_reuse"`) {
		t.Error("no audit event for code reuse")
	}
}

func TestRefresh_RotatesOnUse(t *testing.T) {
	e := newEnv(t)
	tr := e.webappTokens() // first-party: refresh token by policy, no offline_access asked
	if tr.RefreshToken == "" {
		t.Fatal("first-party client got no refresh token")
	}
	st, next := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken)
	if st != 200 || next.RefreshToken == "" || next.RefreshToken == tr.RefreshToken || next.AccessToken == "" {
		t.Fatalf("refresh: %d %q", st, next.Error)
	}
}

func TestRefreshReuse_RevokesFamily(t *testing.T) {
	e := newEnv(t)
	tr := e.webappTokens()
	_, second := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken)
	_, third := e.refresh("gatehouse-webapp", webappSecret, second.RefreshToken)
	if third.RefreshToken == "" {
		t.Fatal("second rotation failed")
	}
	// Replaying the first, rotated token revokes the whole family.
	if st, r := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken); st != 400 || r.Error != "invalid_grant" {
		t.Fatalf("reuse: %d %q", st, r.Error)
	}
	if st, r := e.refresh("gatehouse-webapp", webappSecret, third.RefreshToken); r.Error != "invalid_grant" {
		t.Fatalf("newest link still works after reuse: %d", st)
	}
	if e.introspect(third.AccessToken)["active"] != false {
		t.Fatal("access token of the family still active")
	}
	if !strings.Contains(e.logs.String(), `"event":"refresh_reuse"`) {
		t.Error("no audit event")
	}
}

func TestRefresh_OnlyWithOfflineAccessForThirdParty(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	q := e.authorizeCode(e.browser(), authParams("third", thirdRedir, ch, "openid todos:read"))
	if _, tr := e.exchange("third", thirdSecret, q.Get("code"), thirdRedir, v); tr.AccessToken == "" || tr.RefreshToken != "" {
		t.Fatalf("without offline_access: refresh token %q", tr.RefreshToken)
	}
}

func TestRefresh_IdleAndAbsoluteLifetime(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { c.RefreshIdleTTL = time.Hour; c.RefreshAbsoluteTTL = 10 * time.Hour })
		tr := e.webappTokens()
		e.clock.Add(61 * time.Minute)
		if _, r := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken); r.Error != "invalid_grant" {
			t.Fatalf("idle-expired token accepted")
		}
	})
	t.Run("absolute", func(t *testing.T) {
		e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { c.RefreshIdleTTL = time.Hour; c.RefreshAbsoluteTTL = 2 * time.Hour })
		rt := e.webappTokens().RefreshToken
		for range 2 {
			e.clock.Add(50 * time.Minute)
			_, r := e.refresh("gatehouse-webapp", webappSecret, rt)
			if r.RefreshToken == "" {
				t.Fatalf("rotation within lifetime failed: %q", r.Error)
			}
			rt = r.RefreshToken
		}
		e.clock.Add(21 * time.Minute) // 2h01m after the grant, 21m after the last use
		if _, r := e.refresh("gatehouse-webapp", webappSecret, rt); r.Error != "invalid_grant" {
			t.Fatal("token past the absolute lifetime accepted")
		}
	})
}

func TestClientCredentials_Grant(t *testing.T) {
	e := newEnv(t)
	st, tr := e.token("third", thirdSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}})
	if st != 200 || tr.AccessToken == "" || tr.RefreshToken != "" || tr.IDToken != "" {
		t.Fatalf("client_credentials: %d %q", st, tr.Error)
	}
	// A client without the grant is refused.
	if st, tr := e.token("gatehouse-webapp", webappSecret, url.Values{"grant_type": {"client_credentials"}}); st == 200 {
		t.Fatalf("webapp got client_credentials: %q", tr.Error)
	}
}

func TestClientAuth_WrongSecretIs401(t *testing.T) {
	e := newEnv(t)
	cases := map[string]func() *http.Request{
		"basic wrong secret": func() *http.Request {
			r := formReq(e.ts.URL+"/token", url.Values{"grant_type": {"client_credentials"}})
			r.SetBasicAuth("third", "nope")
			return r
		},
		"post wrong secret": func() *http.Request {
			return formReq(e.ts.URL+"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"third"}, "client_secret": {"nope"}})
		},
		"unknown client": func() *http.Request {
			r := formReq(e.ts.URL+"/token", url.Values{"grant_type": {"client_credentials"}})
			r.SetBasicAuth("nobody", "x")
			return r
		},
		"introspect wrong secret": func() *http.Request {
			r := formReq(e.ts.URL+"/introspect", url.Values{"token": {"x"}})
			r.SetBasicAuth("gatehouse-api", "nope")
			return r
		},
	}
	for name, mk := range cases {
		t.Run(name, func(t *testing.T) {
			resp, err := e.ts.Client().Do(mk())
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error string `json:"error"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != 401 || body.Error != "invalid_client" {
				t.Fatalf("got %d %q", resp.StatusCode, body.Error)
			}
		})
	}
	t.Run("post right secret", func(t *testing.T) {
		resp, err := e.ts.Client().Do(formReq(e.ts.URL+"/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"third"}, "client_secret": {thirdSecret}}))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("client_secret_post: %d", resp.StatusCode)
		}
	})
}

func formReq(u string, f url.Values) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(f.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}

func TestAccessToken_IsRFC9068JWT(t *testing.T) {
	e := newEnv(t)
	tr := e.webappTokens()
	tok, err := jwt.ParseSigned(tr.AccessToken, []jose.SignatureAlgorithm{AccessTokenAlg})
	if err != nil {
		t.Fatal(err)
	}
	if typ := tok.Headers[0].ExtraHeaders[jose.HeaderType]; typ != "at+jwt" {
		t.Fatalf("typ = %v", typ)
	}
	k, ok := e.srv.keys.Lookup(tok.Headers[0].KeyID, e.clock.Now())
	if !ok {
		t.Fatal("kid not published")
	}
	var c map[string]any
	if err := tok.Claims(k.Public.Key, &c); err != nil {
		t.Fatal(err)
	}
	for _, claim := range []string{"iss", "sub", "aud", "client_id", "scope", "jti", "iat", "exp"} {
		if c[claim] == nil {
			t.Errorf("missing %s", claim)
		}
	}
	if c["aud"] != apiAudience && !slices.Contains(anyStrings(c["aud"]), apiAudience) {
		t.Errorf("aud = %v", c["aud"])
	}
	if exp, iat := c["exp"].(float64), c["iat"].(float64); exp-iat != 300 {
		t.Errorf("lifetime %v, want 300s", exp-iat)
	}
	if c["scope"] != "openid profile email todos:read" || c["sub"] != "u-alice" || c["client_id"] != "gatehouse-webapp" {
		t.Errorf("claims %v", c)
	}
}

func anyStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}

func TestScopes_OnlyRegistered(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	q := e.authorizeCode(e.browser(), authParams("third", thirdRedir, ch, "openid todos:read todos:write unknown"))
	_, tr := e.exchange("third", thirdSecret, q.Get("code"), thirdRedir, v)
	if tr.Scope != "openid todos:read" {
		t.Fatalf("scope = %q", tr.Scope)
	}
}

func TestRevocation_RefreshRevokesFamily(t *testing.T) {
	e := newEnv(t)
	tr := e.webappTokens()
	if st := e.revoke("gatehouse-webapp", webappSecret, tr.RefreshToken, "refresh_token"); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if e.introspect(tr.RefreshToken)["active"] != false || e.introspect(tr.AccessToken)["active"] != false {
		t.Fatal("family still active after revocation")
	}
	if _, r := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken); r.Error != "invalid_grant" {
		t.Fatal("revoked refresh token still works")
	}
}

func TestRevocation_AccessTokenWithHint(t *testing.T) {
	e := newEnv(t)
	tr := e.webappTokens()
	if st := e.revoke("gatehouse-webapp", webappSecret, tr.AccessToken, "access_token"); st != 200 {
		t.Fatalf("revoke: %d", st)
	}
	if e.introspect(tr.AccessToken)["active"] != false {
		t.Fatal("revoked access token active")
	}
	if e.introspect(tr.RefreshToken)["active"] != true {
		t.Fatal("revoking an access token revoked the refresh token")
	}
}

func TestRevocation_UnknownTokenIs200(t *testing.T) {
	e := newEnv(t)
	if st := e.revoke("gatehouse-webapp", webappSecret, "not-a-token", ""); st != 200 {
		t.Fatalf("got %d", st)
	}
	if st := e.revoke("gatehouse-webapp", "wrong", "not-a-token", ""); st != 401 {
		t.Fatalf("unauthenticated revocation: %d", st)
	}
}

func TestRevocation_OtherClientsTokenUntouched(t *testing.T) {
	e := newEnv(t)
	tr := e.webappTokens()
	if st := e.revoke("third", thirdSecret, tr.RefreshToken, ""); st != 200 {
		t.Fatalf("got %d", st)
	}
	if e.introspect(tr.RefreshToken)["active"] != true {
		t.Fatal("another client revoked the web app's token")
	}
}

func TestIntrospection_Fields(t *testing.T) {
	e := newEnv(t)
	tr := e.webappTokens()
	m := e.introspect(tr.AccessToken)
	for _, k := range []string{"active", "scope", "client_id", "sub", "exp", "iat", "iss", "aud", "token_type"} {
		if m[k] == nil {
			t.Errorf("missing %s", k)
		}
	}
	if m["active"] != true || m["iss"] != e.ts.URL || m["client_id"] != "gatehouse-webapp" {
		t.Errorf("introspection %v", m)
	}
	for _, tok := range []string{"garbage", tr.IDToken} {
		if got := e.introspect(tok); len(got) != 1 || got["active"] != false {
			t.Errorf("inactive token answer says more than active:false: %v", got)
		}
	}
	e.clock.Add(6 * time.Minute)
	if e.introspect(tr.AccessToken)["active"] != false {
		t.Error("expired access token active")
	}
}

func TestIDToken_RS256WithNonceAuthTimeAtHash(t *testing.T) {
	e := newEnv(t)
	tr := e.webappTokens()
	tok, err := jwt.ParseSigned(tr.IDToken, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatalf("ID token not RS256: %v", err)
	}
	k, _ := e.srv.keys.Lookup(tok.Headers[0].KeyID, e.clock.Now())
	var c map[string]any
	if err := tok.Claims(k.Public.Key, &c); err != nil {
		t.Fatal(err)
	}
	if c["nonce"] != "n-1" || c["auth_time"] == nil || c["at_hash"] == nil || c["aud"] == nil {
		t.Fatalf("claims %v", c)
	}
}

func TestKeys_RotationPublishesBeforeSigning(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	before := e.webappTokens()
	oldKid := kidOf(t, before.AccessToken)
	kids, err := RotateKeys(ctx, e.store, e.secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.srv.keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	jwks := e.jwks()
	for _, k := range strings.Split(kids, ",") {
		if !slices.Contains(jwks, k) {
			t.Fatalf("new key %s not published", k)
		}
	}
	if !slices.Contains(jwks, oldKid) {
		t.Fatal("old key unpublished at rotation")
	}
	// Not signing yet.
	if kid := kidOf(t, e.webappTokens().AccessToken); kid != oldKid {
		t.Fatal("new key signs before its lead time")
	}
	e.clock.Add(keyLead + time.Second)
	if kid := kidOf(t, e.webappTokens().AccessToken); kid == oldKid || !strings.Contains(kids, kid) {
		t.Fatalf("new key not signing after lead time: %s", kid)
	}
	if !slices.Contains(e.jwks(), oldKid) {
		t.Fatal("old key removed while its tokens may be valid")
	}
	e.clock.Add(max(idTokenTTL, maxAccessTTL) + time.Second)
	e.srv.Sweep(ctx)
	if err := e.srv.keys.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if slices.Contains(e.jwks(), oldKid) {
		t.Fatal("old key still published after every token it signed expired")
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	p, err := jwt.ParseSigned(tok, signingAlgs())
	if err != nil {
		t.Fatal(err)
	}
	return p.Headers[0].KeyID
}

func (e *env) jwks() []string {
	_, body := e.get(e.ts.Client(), e.ts.URL+"/jwks")
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(body), &set); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

func TestKeys_EncryptedAtRest(t *testing.T) {
	e := newEnv(t)
	recs, err := e.store.ListKeys(context.Background())
	if err != nil || len(recs) < 2 {
		t.Fatalf("keys: %v %d", err, len(recs))
	}
	for _, r := range recs {
		if strings.Contains(string(r.PrivateKey), "PRIVATE") || len(r.PrivateKey) < 32 {
			t.Fatal("private key not sealed")
		}
		if _, err := e.secret.Open(r.PrivateKey, []byte("other")); err == nil {
			t.Fatal("sealed key opens with another kid as AAD")
		}
	}
}

func TestJanitor_DeletesExpired(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tr := e.webappTokens()
	e.clock.Add(31 * 24 * time.Hour)
	e.srv.Sweep(ctx)
	if _, err := e.store.GetGrant(ctx, grantOf(t, tr.AccessToken)); err == nil {
		t.Fatal("expired grant not deleted")
	}
	if _, err := e.store.GetRefreshToken(ctx, secret.HashToken(tr.RefreshToken)); err == nil {
		t.Fatal("expired refresh token not deleted")
	}
}

// grantOf is the grant an access token names.
func grantOf(t *testing.T, tok string) string {
	t.Helper()
	p, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{AccessTokenAlg})
	if err != nil {
		t.Fatal(err)
	}
	var c accessClaims
	_ = p.UnsafeClaimsWithoutVerification(&c)
	if c.Grant == "" {
		t.Fatal("access token names no grant")
	}
	return c.Grant
}
