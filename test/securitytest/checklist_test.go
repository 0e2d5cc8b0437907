package securitytest

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// TestChecklist_RedirectURIExactMatch: redirect URIs are compared with the
// registered ones by exact string match (RFC 9700 §2.1, §4.1.3; OAuth 2.1
// §4.1.1); anything else shows an error page and never redirects. Only the
// port of a loopback redirect URI of a native client may vary (RFC 8252 §7.3).
// Registration refuses fragments, relative URIs and plain http except on
// loopback.
func TestChecklist_RedirectURIExactMatch(t *testing.T) {
	s := startStack(t)
	_, ch := pkce(t)
	for _, redirect := range []string{
		thirdRedirect + "/",                     // trailing slash
		thirdRedirect + "?x=1",                  // added query
		thirdRedirect + "#frag",                 // fragment
		"https://THIRD.example/cb",              // case of the host
		"https://third.example/cb/../cb",        // dot segments
		"https://third.example/CB",              // case of the path
		"https://third.example:443/cb",          // explicit default port
		"http://third.example/cb",               // scheme downgrade
		"https://third.example.evil.example/cb", // suffix
		"https://third.example@evil.example/cb", // userinfo trick
		"//third.example/cb",                    // scheme-relative
		"https://evil.example/cb",
		s.webapp.URL + "/callback", // another client's
	} {
		t.Run(redirect, func(t *testing.T) {
			b := s.browser()
			p := b.get(t, s.issuer+"/authorize?"+authParams(t, thirdClientID, redirect, ch, "openid").Encode())
			if loc := p.location(t); loc != nil {
				t.Fatalf("redirect_uri %q: redirected to %s, want an error page", redirect, loc)
			}
			if p.status < 400 || p.status >= 500 || p.url.Host != s.authz.Host {
				t.Fatalf("redirect_uri %q: %d at %s, want a 4xx error page of the authorization server", redirect, p.status, p.url)
			}
		})
	}
	t.Run("exact URI is accepted", func(t *testing.T) {
		u := s.authorize(s.browser(), authParams(t, thirdClientID, thirdRedirect, ch, "openid"))
		if got := u.Scheme + "://" + u.Host + u.Path; got != thirdRedirect || u.Query().Get("code") == "" {
			t.Fatalf("redirected to %s, want a code at %s", u, thirdRedirect)
		}
	})
	t.Run("loopback port may vary for a native client", func(t *testing.T) {
		redirect := "http://127.0.0.1:49152/callback"
		u := s.authorize(s.browser(), authParams(t, nativeClientID, redirect, ch, "openid"))
		if got := u.Scheme + "://" + u.Host + u.Path; got != redirect || u.Query().Get("code") == "" {
			t.Fatalf("redirected to %s, want a code at %s", u, redirect)
		}
		// …but only the port: another path or host is refused.
		for _, bad := range []string{"http://127.0.0.1:49152/other", "http://localhost.evil.example:49152/callback"} {
			p := s.browser().get(t, s.issuer+"/authorize?"+authParams(t, nativeClientID, bad, ch, "openid").Encode())
			if loc := p.location(t); loc != nil || p.status < 400 {
				t.Fatalf("native redirect_uri %q: %d, Location %v; want an error page", bad, p.status, loc)
			}
		}
	})
	t.Run("registration", func(t *testing.T) {
		for _, bad := range []string{"https://a.example/cb#x", "/cb", "http://a.example/cb", "javascript:alert(1)", "https://user@a.example/cb"} {
			if err := admin.ValidateRedirectURI(bad); err == nil {
				t.Errorf("ValidateRedirectURI(%q) accepted it", bad)
			}
		}
		for _, good := range []string{"https://a.example/cb", "http://127.0.0.1/cb", "http://[::1]:8080/cb", "com.example.app:/cb"} {
			if err := admin.ValidateRedirectURI(good); err != nil {
				t.Errorf("ValidateRedirectURI(%q): %v", good, err)
			}
		}
	})
}

// TestChecklist_PKCERequiredAndDowngradeRefused: S256 is required of every
// client and "plain" refused (RFC 9700 §2.1.1, OAuth 2.1 §4.1.1); the
// verifier must match; a code_verifier for a code issued without a challenge
// is refused (RFC 9700 §4.8.2, downgrade); discovery advertises S256 only.
func TestChecklist_PKCERequiredAndDowngradeRefused(t *testing.T) {
	s := startStack(t)
	v, ch := pkce(t)

	t.Run("metadata", func(t *testing.T) {
		m := discovery(t, s)
		got, _ := m["code_challenge_methods_supported"].([]any)
		if len(got) != 1 || got[0] != "S256" {
			t.Fatalf("code_challenge_methods_supported = %v, want [S256]", m["code_challenge_methods_supported"])
		}
	})
	for _, tc := range []struct {
		name, client, redirect string
		mod                    func(url.Values)
	}{
		{"confidential client without challenge", thirdClientID, thirdRedirect, func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }},
		{"public client without challenge", nativeClientID, nativeRedirect, func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }},
		{"plain method", thirdClientID, thirdRedirect, func(q url.Values) { q.Set("code_challenge", v); q.Set("code_challenge_method", "plain") }},
		{"challenge without method", thirdClientID, thirdRedirect, func(q url.Values) { q.Del("code_challenge_method") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := authParams(t, tc.client, tc.redirect, ch, "openid")
			tc.mod(q)
			u := s.authorize(s.browser(), q)
			if e := u.Query().Get("error"); e != "invalid_request" || u.Query().Get("code") != "" {
				t.Fatalf("authorization response %s, want error=invalid_request and no code", u)
			}
		})
	}
	t.Run("wrong verifier", func(t *testing.T) {
		code := s.code(s.browser(), authParams(t, thirdClientID, thirdRedirect, ch, "openid"))
		other, _ := pkce(t)
		if tr := s.exchange(thirdClientID, thirdSecret, code, thirdRedirect, other); tr.status != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("wrong verifier: %d %q, want 400 invalid_grant", tr.status, tr.Error)
		}
	})
	t.Run("missing verifier", func(t *testing.T) {
		code := s.code(s.browser(), authParams(t, thirdClientID, thirdRedirect, ch, "openid"))
		if tr := s.exchange(thirdClientID, thirdSecret, code, thirdRedirect, ""); tr.status != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("no verifier: %d %q, want 400 invalid_grant", tr.status, tr.Error)
		}
	})
	t.Run("downgrade: verifier for a code without challenge", func(t *testing.T) {
		// Only the legacy client, with PKCEOptional, may ask without a challenge.
		code := s.code(s.browser(), authParams(t, legacyClientID, legacyRedirect, "", "openid"))
		if tr := s.exchange(legacyClientID, legacySecret, code, legacyRedirect, v); tr.status != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("verifier for a code without challenge: %d %q, want 400 invalid_grant", tr.status, tr.Error)
		}
	})
	t.Run("right verifier", func(t *testing.T) {
		code := s.code(s.browser(), authParams(t, thirdClientID, thirdRedirect, ch, "openid"))
		if tr := s.exchange(thirdClientID, thirdSecret, code, thirdRedirect, v); tr.status != 200 || tr.AccessToken == "" {
			t.Fatalf("right verifier: %d %q", tr.status, tr.Error)
		}
	})
}

// TestChecklist_CodeSingleUseRevokesTokens: a code gives one token response;
// its reuse fails with invalid_grant and revokes every token issued from it
// (RFC 9700 §4.2.4 / OAuth 2.1 §4.1.3). The code is bound to its client and
// redirect URI (RFC 6749 §4.1.3).
func TestChecklist_CodeSingleUseRevokesTokens(t *testing.T) {
	s := startStack(t)
	v, ch := pkce(t)
	code := s.code(s.browser(), authParams(t, thirdClientID, thirdRedirect, ch, "openid offline_access todos:read"))
	first := s.exchange(thirdClientID, thirdSecret, code, thirdRedirect, v)
	if first.status != 200 || first.AccessToken == "" || first.RefreshToken == "" {
		t.Fatalf("first exchange: %d %q", first.status, first.Error)
	}
	if !s.active(first.AccessToken) || !s.active(first.RefreshToken) {
		t.Fatal("tokens of the first exchange are not active")
	}
	second := s.exchange(thirdClientID, thirdSecret, code, thirdRedirect, v)
	if second.status != 400 || second.Error != "invalid_grant" || second.AccessToken != "" {
		t.Fatalf("second exchange: %d %q, want 400 invalid_grant", second.status, second.Error)
	}
	if s.active(first.AccessToken) || s.active(first.RefreshToken) {
		t.Fatal("after the code was replayed, the tokens issued from it are still active")
	}
	if tr := s.refresh(thirdClientID, thirdSecret, first.RefreshToken); tr.status != 400 || tr.Error != "invalid_grant" {
		t.Fatalf("refresh with a token of a replayed code: %d %q, want invalid_grant", tr.status, tr.Error)
	}

	t.Run("bound to the redirect URI and the client", func(t *testing.T) {
		code := s.code(s.browser(), authParams(t, thirdClientID, thirdRedirect, ch, "openid"))
		if tr := s.exchange(thirdClientID, thirdSecret, code, thirdRedirect+"/", v); tr.status != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("other redirect_uri: %d %q, want invalid_grant", tr.status, tr.Error)
		}
		code = s.code(s.browser(), authParams(t, thirdClientID, thirdRedirect, ch, "openid"))
		if tr := s.exchange(webappClientID, webappSecret, code, thirdRedirect, v); tr.status != 400 || tr.Error != "invalid_grant" {
			t.Fatalf("another client's code: %d %q, want invalid_grant", tr.status, tr.Error)
		}
	})
}

// TestChecklist_RefreshRotationAndFamilyRevocation: refresh tokens rotate on
// every use; presenting a rotated one fails with invalid_grant and revokes
// the whole family, including the active one (RFC 9700 §4.14.2, OAuth 2.1
// §4.3.1).
func TestChecklist_RefreshRotationAndFamilyRevocation(t *testing.T) {
	s := startStack(t)
	first := s.thirdPartyTokens(s.browser())
	second := s.refresh(thirdClientID, thirdSecret, first.RefreshToken)
	if second.status != 200 || second.RefreshToken == "" || second.RefreshToken == first.RefreshToken {
		t.Fatalf("refresh: %d %q, want a new refresh token", second.status, second.Error)
	}
	if s.active(first.RefreshToken) {
		t.Fatal("the rotated refresh token is still active")
	}
	reuse := s.refresh(thirdClientID, thirdSecret, first.RefreshToken)
	if reuse.status != 400 || reuse.Error != "invalid_grant" {
		t.Fatalf("reuse: %d %q, want 400 invalid_grant", reuse.status, reuse.Error)
	}
	if s.active(second.RefreshToken) {
		t.Fatal("after reuse, the family's active refresh token is still active")
	}
	if tr := s.refresh(thirdClientID, thirdSecret, second.RefreshToken); tr.status != 400 || tr.Error != "invalid_grant" {
		t.Fatalf("refresh with the revoked family's token: %d %q, want invalid_grant", tr.status, tr.Error)
	}
	t.Run("bound to the client", func(t *testing.T) {
		tr := s.thirdPartyTokens(s.browser())
		if got := s.refresh(webappClientID, webappSecret, tr.RefreshToken); got.status != 400 || got.Error != "invalid_grant" {
			t.Fatalf("another client refreshing: %d %q, want invalid_grant", got.status, got.Error)
		}
	})
}

// TestChecklist_IssInAuthorizationResponses: every authorization response,
// success or error, carries iss equal to the issuer (RFC 9207 §2), and the
// metadata says so (RFC 8414, RFC 9207 §3).
func TestChecklist_IssInAuthorizationResponses(t *testing.T) {
	s := startStack(t)
	_, ch := pkce(t)
	m := discovery(t, s)
	if m["authorization_response_iss_parameter_supported"] != true || m["issuer"] != s.issuer {
		t.Fatalf("metadata: issuer %v, authorization_response_iss_parameter_supported %v", m["issuer"], m["authorization_response_iss_parameter_supported"])
	}
	ok := s.authorize(s.browser(), authParams(t, thirdClientID, thirdRedirect, ch, "openid"))
	noPKCE := authParams(t, thirdClientID, thirdRedirect, "", "openid")
	failed := s.authorize(s.browser(), noPKCE)
	for name, u := range map[string]*struct {
		u    string
		want string
	}{
		"success": {ok.String(), "code"},
		"error":   {failed.String(), "error"},
	} {
		got, _ := url.Parse(u.u)
		q := got.Query()
		if q.Get(u.want) == "" || q.Get("iss") != s.issuer {
			t.Errorf("%s response %s: want %s and iss=%s", name, got, u.want, s.issuer)
		}
	}
	// Denied consent is an error response too (consent was remembered
	// above, so it is asked for again).
	b := s.browser()
	deny := authParams(t, thirdClientID, thirdRedirect, ch, "openid")
	deny.Set("prompt", "consent")
	p := b.get(t, s.issuer+"/authorize?"+deny.Encode())
	f := p.form(t, "/login")
	f.fields.Set("username", username)
	f.fields.Set("password", userPassword)
	p = b.post(t, f.action, f.fields)
	f = p.form(t, "/consent")
	f.fields.Set("decision", "deny")
	p = b.post(t, f.action, f.fields)
	if u := p.location(t); u == nil || u.Query().Get("error") != "access_denied" || u.Query().Get("iss") != s.issuer {
		t.Errorf("denied consent: redirect %v, want error=access_denied with iss", u)
	}
}

// TestChecklist_NoImplicitOrPasswordGrant: the implicit grant and hybrid
// response types, and the resource owner password credentials grant, do not
// exist (RFC 9700 §2.1.2, §2.4; OAuth 2.1 §10.1).
func TestChecklist_NoImplicitOrPasswordGrant(t *testing.T) {
	s := startStack(t)
	_, ch := pkce(t)
	m := discovery(t, s)
	if rt, _ := m["response_types_supported"].([]any); !slices.Equal(rt, []any{"code"}) {
		t.Errorf("response_types_supported = %v, want [code]", m["response_types_supported"])
	}
	for _, g := range m["grant_types_supported"].([]any) {
		if g == "implicit" || g == "password" {
			t.Errorf("grant_types_supported lists %v", g)
		}
	}
	for _, rt := range []string{"token", "id_token", "id_token token", "code token", "code id_token", "code id_token token", "none"} {
		t.Run("response_type="+rt, func(t *testing.T) {
			q := authParams(t, thirdClientID, thirdRedirect, ch, "openid")
			q.Set("response_type", rt)
			b := s.browser()
			p := b.get(t, s.issuer+"/authorize?"+q.Encode())
			if u := p.location(t); u != nil {
				if u.Fragment != "" || u.Query().Get("code") != "" || u.Query().Get("access_token") != "" || u.Query().Get("error") == "" {
					t.Fatalf("response_type=%s: redirected to %s, want an error response", rt, u)
				}
				return
			}
			if p.status < 400 {
				t.Fatalf("response_type=%s: %d, want an error", rt, p.status)
			}
		})
	}
	t.Run("grant_type=password", func(t *testing.T) {
		tr := s.token(thirdClientID, thirdSecret, url.Values{"grant_type": {"password"}, "username": {username}, "password": {userPassword}, "scope": {"openid"}})
		if tr.status != 400 || tr.Error != "unsupported_grant_type" || tr.AccessToken != "" {
			t.Fatalf("password grant: %d %q, want 400 unsupported_grant_type", tr.status, tr.Error)
		}
	})
}

// TestChecklist_ClientAuthentication: confidential clients authenticate at
// the token, revocation and introspection endpoints (RFC 9700 §2.5, RFC 6749
// §2.3.1); a wrong or missing secret is 401 invalid_client with a Basic
// challenge (RFC 6749 §5.2); a confidential client cannot pass as public.
func TestChecklist_ClientAuthentication(t *testing.T) {
	s := startStack(t)
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}}
	if tr := s.token(robotClientID, robotSecret, cc); tr.status != 200 || tr.AccessToken == "" {
		t.Fatalf("client_secret_basic with the right secret: %d %q", tr.status, tr.Error)
	}
	post := cloneValues(cc)
	post.Set("client_id", robotClientID)
	post.Set("client_secret", robotSecret)
	if tr := s.token("", "", post); tr.status != 200 {
		t.Fatalf("client_secret_post with the right secret: %d %q", tr.status, tr.Error)
	}
	for _, tc := range []struct {
		name, id, secret string
		form             url.Values
	}{
		{"wrong secret (basic)", robotClientID, robotSecret + "x", cc},
		{"another client's secret", robotClientID, thirdSecret, cc},
		{"empty secret", robotClientID, "", withValues(cc, "client_id", robotClientID)},
		{"wrong secret (post)", "", "", withValues(cc, "client_id", robotClientID, "client_secret", "nope")},
		{"confidential client as public", "", "", withValues(cc, "client_id", robotClientID)},
		{"unknown client", "nobody", "x", cc},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := s.token(tc.id, tc.secret, tc.form)
			if tr.status != 401 || tr.Error != "invalid_client" || tr.AccessToken != "" {
				t.Fatalf("%d %q, want 401 invalid_client", tr.status, tr.Error)
			}
		})
	}
	t.Run("code exchange needs the client's secret", func(t *testing.T) {
		v, ch := pkce(t)
		code := s.code(s.browser(), authParams(t, thirdClientID, thirdRedirect, ch, "openid"))
		f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {thirdRedirect}, "code_verifier": {v}, "client_id": {thirdClientID}}
		if tr := s.token("", "", f); tr.status != 401 || tr.Error != "invalid_client" {
			t.Fatalf("exchange without the secret: %d %q, want 401 invalid_client", tr.status, tr.Error)
		}
	})
	for _, ep := range []string{"/revoke", "/introspect"} {
		t.Run(ep+" needs client authentication", func(t *testing.T) {
			res, body := s.postForm(ep, "", "", url.Values{"token": {"x"}})
			if res.StatusCode != 401 || !strings.Contains(string(body), "invalid_client") {
				t.Fatalf("%s without authentication: %d %s", ep, res.StatusCode, body)
			}
			res, body = s.postForm(ep, apiClientID, "wrong", url.Values{"token": {"x"}})
			if res.StatusCode != 401 || !strings.Contains(string(body), "invalid_client") {
				t.Fatalf("%s with a wrong secret: %d %s", ep, res.StatusCode, body)
			}
		})
	}
}

func withValues(v url.Values, kv ...string) url.Values {
	out := cloneValues(v)
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// TestChecklist_AudienceRestrictedAccessTokens: access tokens name the API in
// aud (RFC 9068 §3, RFC 9700 §2.3), and the API refuses a token, otherwise
// valid — same issuer, same signing key — minted for another audience. An
// ID token (typ JWT) is refused as well (RFC 9068 §4).
func TestChecklist_AudienceRestrictedAccessTokens(t *testing.T) {
	s := startStack(t)
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}}
	tr := s.token(robotClientID, robotSecret, cc)
	if tr.status != 200 {
		t.Fatalf("client credentials: %d %q", tr.status, tr.Error)
	}
	if aud := claims(t, tr.AccessToken)["aud"]; !audContains(aud, s.audience) {
		t.Fatalf("access token aud = %v, want %s", aud, s.audience)
	}
	if st, _, body := s.apiGet("/todos", tr.AccessToken); st != 200 {
		t.Fatalf("API with a token for it: %d %s", st, body)
	}

	// A second authorization-server instance on the same store (same
	// issuer, same keys) configured for another resource server.
	other := s.sibling("https://other-api.example")
	res, body := postTo(t, s, other+"/token", robotClientID, robotSecret, cc)
	var otr tokenResponse
	if err := json.Unmarshal(body, &otr); err != nil || res.StatusCode != 200 {
		t.Fatalf("other instance's token endpoint: %d %s", res.StatusCode, body)
	}
	c := claims(t, otr.AccessToken)
	if c["iss"] != s.issuer || audContains(c["aud"], s.audience) {
		t.Fatalf("other instance's token: iss %v aud %v; the test needs the same issuer and another audience", c["iss"], c["aud"])
	}
	st, hdr, body2 := s.apiGet("/todos", otr.AccessToken)
	if st != 401 || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("API with a token for another audience: %d %q %s, want 401 invalid_token", st, hdr.Get("WWW-Authenticate"), body2)
	}

	// An ID token is not an access token.
	idt := s.thirdPartyTokens(s.browser()).IDToken
	if st, _, _ := s.apiGet("/todos", idt); st != 401 {
		t.Fatalf("API with an ID token: %d, want 401", st)
	}
}

func audContains(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		return slices.Contains(a, any(want))
	}
	return false
}

// claims decodes a JWT's payload without verifying it.
func claims(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS compact serialization: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func discovery(t *testing.T, s *stack) map[string]any {
	t.Helper()
	res, err := s.client.Get(s.issuer + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil || res.StatusCode != 200 {
		t.Fatalf("metadata: %d %v", res.StatusCode, err)
	}
	return m
}

func postTo(t *testing.T, s *stack, u, id, secretValue string, form url.Values) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secretValue))
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

// TestChecklist_ClientSubjectNeverAPerson: a client registered under the
// ID of a person (RFC 9700 §4.15) gets client-credentials tokens whose
// subject is the client's own, so at the API it owns none of the
// person's documents, and the person none of its.
func TestChecklist_ClientSubjectNeverAPerson(t *testing.T) {
	s := startStack(t)
	now := time.Now().UTC()
	const collideSecret = "collide-secret-value"
	if err := s.store.CreateClient(s.ctx, storage.Client{ID: userSub, Name: "Collider", SecretHash: secret.HashToken(collideSecret),
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"todos:read", "todos:write"}, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	person := s.thirdPartyTokens(s.browser()).AccessToken
	req, _ := http.NewRequest(http.MethodPost, s.apiURL+"/todos", strings.NewReader(`{"title":"the person's secret"}`))
	req.Header.Set("Authorization", "Bearer "+person)
	req.Header.Set("Content-Type", "application/json")
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("the person's POST: %d", res.StatusCode)
	}
	tr := s.token(userSub, collideSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}})
	if tr.status != 200 {
		t.Fatalf("client credentials: %d %s", tr.status, tr.Error)
	}
	if sub := claims(t, tr.AccessToken)["sub"]; sub == userSub {
		t.Fatalf("the client's token has the person's subject %q", sub)
	}
	st, _, body := s.apiGet("/todos", tr.AccessToken)
	if st != 200 || strings.Contains(body, "the person's secret") {
		t.Fatalf("the colliding client listed the person's todos: %d %s", st, body)
	}
}
