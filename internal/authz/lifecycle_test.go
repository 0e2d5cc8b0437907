package authz

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Regression tests for the account and client lifecycle, the subject
// namespaces, end-session, PKCE input, id_token_hint and consent, each
// against the real server and database.

// TestRemove_EndsEverything: `user remove` and `client remove` end what
// was issued: access tokens introspect inactive, refresh tokens and codes
// obtained just before (silently, with prompt=none) are refused with
// invalid_grant, never a 500.
func TestRemove_EndsEverything(t *testing.T) {
	for _, who := range []string{"user", "client"} {
		t.Run(who, func(t *testing.T) {
			e := newEnv(t)
			c := e.browser()
			// The person consents to the third-party client once, then
			// its tokens and a code obtained silently are kept in reserve.
			v, ch := pkce()
			q := e.authorizeCode(c, authParams("third", thirdRedir, ch, "openid offline_access todos:read"))
			st, tr := e.exchange("third", thirdSecret, q.Get("code"), thirdRedir, v)
			if st != http.StatusOK || tr.RefreshToken == "" {
				t.Fatalf("exchange: %d %s", st, tr.Error)
			}
			v2, ch2 := pkce()
			p := authParams("third", thirdRedir, ch2, "openid offline_access todos:read")
			p.Set("prompt", "none")
			resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
			silent := callback(t, resp).Get("code")
			if silent == "" {
				t.Fatal("no silent code")
			}
			_, cc := e.token("third", thirdSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}})

			ctx := context.Background()
			var err error
			if who == "user" {
				err = admin.RemoveUser(ctx, e.store, "alice")
			} else {
				err = admin.RemoveClient(ctx, e.store, "third")
				e.clock.Add(clientCacheTTL) // the removal reaches the client cache
			}
			if err != nil {
				t.Fatal(err)
			}
			if m := e.introspectAs("gatehouse-api", apiSecret, tr.AccessToken); m["active"] != false {
				t.Errorf("access token still active after %s remove", who)
			}
			if who == "client" {
				if m := e.introspectAs("gatehouse-api", apiSecret, cc.AccessToken); m["active"] != false {
					t.Error("the removed client's own token is still active")
				}
				// The client cannot even authenticate any more; with its
				// row gone, nothing it holds can be used.
				return
			}
			if st, r := e.refresh("third", thirdSecret, tr.RefreshToken); st != http.StatusBadRequest || r.Error != "invalid_grant" {
				t.Errorf("refresh after user remove: %d %q", st, r.Error)
			}
			if st, r := e.exchange("third", thirdSecret, silent, thirdRedir, v2); st != http.StatusBadRequest || r.Error != "invalid_grant" {
				t.Errorf("silent code exchanged after user remove: %d %q", st, r.Error)
			}
			if strings.Contains(e.logs.String(), `"level":"ERROR"`) {
				t.Errorf("errors logged: %s", e.logs.String())
			}
		})
	}
}

// TestClientCredentials_SubjectNamespace: a client registered under the ID
// of a person gets tokens whose subject is not that person's (RFC 9700
// §4.15), and the API can tell a client's token from a person's.
func TestClientCredentials_SubjectNamespace(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	const sec = "collider-secret-value"
	if err := e.store.CreateClient(ctx, storage.Client{
		ID: "u-alice", Name: "Collider", SecretHash: secret.HashToken(sec),
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"todos:read", "todos:write"},
		CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	st, tr := e.token("u-alice", sec, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}})
	if st != http.StatusOK {
		t.Fatalf("client credentials: %d %s", st, tr.Error)
	}
	m := e.introspectAs("gatehouse-api", apiSecret, tr.AccessToken)
	if m["active"] != true || m["sub"] == "u-alice" || m["sub"] != bearer.ClientSubject("u-alice") {
		t.Fatalf("client token introspects as %v, want the subject %q", m, bearer.ClientSubject("u-alice"))
	}
	claims := &bearer.Claims{Subject: m["sub"].(string), ClientID: "u-alice"}
	if !claims.IsClient() {
		t.Error("IsClient false for a client-credentials token")
	}
	person := e.webappTokens()
	pm := e.introspectAs("gatehouse-api", apiSecret, person.AccessToken)
	if (&bearer.Claims{Subject: pm["sub"].(string)}).IsClient() {
		t.Error("IsClient true for a person's token")
	}
}

// TestEndSession_PostLogoutRedirectRule: post_logout_redirect_uri follows
// the authorization endpoint's rule: exact match, and for a public
// client's loopback address only the port may differ (RFC 8252 §7.3).
func TestEndSession_PostLogoutRedirectRule(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	if err := e.store.CreateClient(ctx, storage.Client{
		ID: "cli", Name: "CLI", Public: true, RedirectURIs: []string{nativeRedir},
		PostLogoutRedirectURIs: []string{"http://127.0.0.1/bye"},
		GrantTypes:             []string{"authorization_code"}, Scopes: []string{"openid"}, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		uri  string
		want bool
	}{
		{"http://127.0.0.1/bye", true},
		{"http://127.0.0.1:7777/bye", true},
		{"https://127.9.9.9:4443/bye", false},
		{"http://127.9.9.9:7777/bye", false},
		{"http://localhost:7777/bye", false},
		{"http://[::1]:7777/bye", false},
		{"http://evil.example@127.0.0.1:8/bye", false},
		{"http://127.0.0.1:8/bye#frag", false},
		{"http://127.0.0.1:8/bye#", false},
		{"http://127.0.0.1:8/bye/", false},
		{"http://127.0.0.1:8/bye?x=1", false},
		{"http://127.0.0.1:8/BYE", false},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			q := url.Values{"client_id": {"cli"}, "post_logout_redirect_uri": {tc.uri}}
			resp, _ := e.get(e.browser(), e.ts.URL+"/end_session?"+q.Encode())
			loc := resp.Header.Get("Location")
			got := resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, tc.uri)
			if got != tc.want {
				t.Errorf("accepted %t (status %d, Location %q), want %t", got, resp.StatusCode, loc, tc.want)
			}
		})
	}
	// A confidential client's registered URI is matched exactly, loopback
	// or not.
	if registeredURI([]string{"http://127.0.0.1/bye"}, false, "http://127.0.0.1:9/bye") {
		t.Error("a confidential client's loopback port was left free")
	}
}

// signIDToken signs an ID token for subject and client, expiring at exp,
// with the server's published RS256 key, as a client would hold one.
func (e *env) signIDToken(subject, clientID string, exp time.Time) string {
	e.t.Helper()
	return e.signIDTokenAlg(DefaultIDTokenAlg, subject, clientID, exp)
}

// signIDTokenAlg is signIDToken with the server's key for alg.
func (e *env) signIDTokenAlg(alg jose.SignatureAlgorithm, subject, clientID string, exp time.Time) string {
	e.t.Helper()
	now := e.srv.now()
	claims := oidc.NewIDTokenClaims(e.ts.URL, subject, nil, exp, now.Add(-2*time.Hour), "", "", nil, clientID, 0)
	claims.IssuedAt = oidc.FromTime(exp.Add(-idTokenTTL))
	tok, err := e.srv.issuer.sign(alg, idTokenType, claims, now)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// TestEndSession_ExpiredHintAsks: an expired id_token_hint names the
// client (and so where to return) but does not sign the person out
// without asking.
func TestEndSession_ExpiredHintAsks(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	c := e.browser()
	e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	for _, tc := range []struct {
		name    string
		exp     time.Time
		signOut bool
	}{
		{"expired", time.Now().Add(-time.Minute), false},
		{"valid", time.Now().Add(time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hint := e.signIDToken("u-alice", "gatehouse-webapp", tc.exp)
			resp, _ := e.get(c, e.ts.URL+"/end_session?"+url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://app.example/"}}.Encode())
			loc := resp.Header.Get("Location")
			if tc.signOut != (loc == "https://app.example/") {
				t.Errorf("signed out at once: %t (landed on %s, Location %q), want %t", loc == "https://app.example/", resp.Request.URL, loc, tc.signOut)
			}
			if !tc.signOut && resp.Request.URL.Path != "/logout" {
				t.Errorf("not asked: landed on %s", resp.Request.URL)
			}
		})
	}
}

// TestPKCE_VerifierForm: a verifier that is not 43–128 characters of the
// unreserved set is refused with invalid_grant even when its hash matches
// the challenge (RFC 7636 §4.1).
func TestPKCE_VerifierForm(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name     string
		verifier string
		ok       bool
	}{
		{"1 character", "a", false},
		{"14 characters", strings.Repeat("b", 14), false},
		{"42 characters", strings.Repeat("c", 42), false},
		{"43 characters", strings.Repeat("d", 43), true},
		{"128 characters", strings.Repeat("e", 128), true},
		{"129 characters", strings.Repeat("f", 129), false},
		{"non-ASCII", strings.Repeat("g", 42) + "é", false},
		{"space", strings.Repeat("h", 30) + " " + strings.Repeat("h", 20), false},
		{"unreserved marks", strings.Repeat("-._~", 11), true},
		{"plus", strings.Repeat("i", 43) + "+", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := e.authorizeCode(e.browser(), authParams("gatehouse-webapp", webappRedir, s256(tc.verifier), "openid"))
			st, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, tc.verifier)
			if tc.ok != (st == http.StatusOK) || (!tc.ok && tr.Error != "invalid_grant") {
				t.Errorf("exchange: %d %q, want ok=%t", st, tr.Error, tc.ok)
			}
		})
	}
}

// TestAuthorize_IDTokenHint: a request naming a person in id_token_hint is
// answered only for that person (OpenID Connect Core §3.1.2.1).
func TestAuthorize_IDTokenHint(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	c := e.browser()
	e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch, "openid")) // alice signed in
	bob := e.signIDToken("u-bob", "gatehouse-webapp", time.Now().Add(time.Hour))
	alice := e.signIDToken("u-alice", "gatehouse-webapp", time.Now().Add(-time.Minute)) // expired: still a hint

	p := authParams("gatehouse-webapp", webappRedir, ch, "openid")
	p.Set("prompt", "none")
	p.Set("id_token_hint", bob)
	resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	if q := callback(t, resp); q.Get("error") != "login_required" || q.Get("code") != "" {
		t.Errorf("prompt=none with another person's hint: %v, want login_required", q)
	}
	p.Set("id_token_hint", alice)
	resp, _ = e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	if q := callback(t, resp); q.Get("code") == "" {
		t.Errorf("prompt=none with the signed-in person's hint: %v", q)
	}
	p.Set("id_token_hint", "not-a-token")
	resp, _ = e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	if q := callback(t, resp); q.Get("error") != "invalid_request" {
		t.Errorf("malformed hint: %v", q)
	}
	// Interactive: the other person's hint asks for a sign-in, and signing
	// in as someone else answers login_required.
	p.Del("prompt")
	p.Set("id_token_hint", bob)
	resp, page := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("another person's hint did not ask for a sign-in: %s", resp.Request.URL)
	}
	resp, _ = e.login(c, page, "alice", alicePassword)
	if q := callback(t, resp); q.Get("error") != "login_required" || q.Get("code") != "" {
		t.Errorf("signed in as alice for bob's hint: %v", q)
	}
	_, page = e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	resp, _ = e.login(c, page, "bob", alicePassword)
	if q := callback(t, resp); q.Get("code") == "" {
		t.Errorf("signed in as bob for bob's hint: %v", q)
	}
}

// TestConsent_PublicClientsAlwaysAsk: remembered consent is never applied
// to a public client without the person (RFC 8252 §8.6): prompt=none
// answers consent_required, from the registered port or another.
func TestConsent_PublicClientsAlwaysAsk(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	c := e.browser()
	q := e.authorizeCode(c, authParams("native", nativeRedir, ch, "openid offline_access todos:read"))
	if st, tr := e.exchange("native", "", q.Get("code"), nativeRedir, v); st != http.StatusOK {
		t.Fatalf("exchange: %d %s", st, tr.Error)
	}
	for _, redirect := range []string{nativeRedir, "http://127.0.0.1:7777/callback"} {
		p := authParams("native", redirect, ch, "openid offline_access todos:read")
		p.Set("prompt", "none")
		resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
		if q := callback(t, resp); q.Get("error") != "consent_required" || q.Get("code") != "" {
			t.Errorf("prompt=none at %s after one consent: %v, want consent_required", redirect, q)
		}
		p.Del("prompt")
		if resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode()); resp.Request.URL.Path != "/consent" {
			t.Errorf("no consent page at %s: %s", redirect, resp.Request.URL)
		}
	}
}

// TestConsent_PromptConsentFirstParty: prompt=consent asks even for a
// first-party client.
func TestConsent_PromptConsentFirstParty(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	c := e.browser()
	e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	p := authParams("gatehouse-webapp", webappRedir, ch, "openid")
	p.Set("prompt", "consent")
	if resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode()); resp.Request.URL.Path != "/consent" {
		t.Errorf("prompt=consent skipped for a first-party client: %s", resp.Request.URL)
	}
}
