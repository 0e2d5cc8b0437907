package authz

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

const (
	reportsAudience = "https://reports.example.com"
	reportsSecret   = "reports-api-secret"
	reporterSecret  = "reporter-secret"
	reporterRedir   = "https://reporter.example/cb"
)

// withReports registers a resource server for reportsAudience defining
// reports:read and reports:write, and a client registered for those and
// the built-in API's todos:read.
func (e *env) withReports() {
	e.t.Helper()
	now := time.Now().UTC()
	for _, c := range []storage.Client{
		{ID: "reports-api", Name: "Reports API", SecretHash: secret.HashToken(reportsSecret),
			ResourceAudience: reportsAudience, ResourceScopes: []string{"reports:read", "reports:write"}},
		{ID: "reporter", Name: "Reporter", SecretHash: secret.HashToken(reporterSecret), RedirectURIs: []string{reporterRedir},
			GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, FirstParty: true,
			Scopes: []string{"openid", "offline_access", "reports:read", "reports:write", "todos:read"}},
	} {
		c.CreatedAt, c.UpdatedAt = now, now
		if err := e.store.CreateClient(context.Background(), c); err != nil {
			e.t.Fatal(err)
		}
	}
}

// accessClaimsOf reads an access token's claims, its signature checked.
func (e *env) accessClaimsOf(raw string) accessClaims {
	e.t.Helper()
	tok, err := jwt.ParseSigned(raw, signingAlgs())
	if err != nil {
		e.t.Fatalf("access token: %v", err)
	}
	k, ok := e.srv.keys.Lookup(tok.Headers[0].KeyID, e.clock.Now())
	if !ok {
		e.t.Fatal("access token signed with an unknown key")
	}
	var c accessClaims
	if err := tok.Claims(k.Public.Key, &c); err != nil {
		e.t.Fatalf("access token: %v", err)
	}
	return c
}

func wantAudScope(t *testing.T, c accessClaims, aud string, scopes ...string) {
	t.Helper()
	got := c.scopes()
	slices.Sort(got)
	slices.Sort(scopes)
	if len(c.Audience) != 1 || c.Audience[0] != aud || !slices.Equal(got, scopes) {
		t.Errorf("aud %v scope %q, want [%s] %v", c.Audience, c.Scope, aud, scopes)
	}
}

// TestResource_ClientCredentials: resource (RFC 8707) picks the token's
// audience and the scopes it may carry.
func TestResource_ClientCredentials(t *testing.T) {
	e := newEnv(t)
	e.withReports()
	cc := func(form url.Values) (int, tokenResp) {
		form.Set("grant_type", "client_credentials")
		return e.token("reporter", reporterSecret, form)
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		err    string
		aud    string
		scopes []string
	}{
		{"registered resource server", url.Values{"resource": {reportsAudience}}, 200, "", reportsAudience, []string{"reports:read", "reports:write"}},
		{"narrowed", url.Values{"resource": {reportsAudience}, "scope": {"reports:read"}}, 200, "", reportsAudience, []string{"reports:read"}},
		{"no resource: the built-in API", url.Values{}, 200, "", apiAudience, []string{"todos:read"}},
		{"the built-in API by name", url.Values{"resource": {apiAudience}}, 200, "", apiAudience, []string{"todos:read"}},
		{"another API's scope", url.Values{"resource": {reportsAudience}, "scope": {"todos:read"}}, 400, "invalid_scope", "", nil},
		{"unknown resource", url.Values{"resource": {"https://unknown.example.com"}}, 400, "invalid_target", "", nil},
		{"near miss", url.Values{"resource": {reportsAudience + "/"}}, 400, "invalid_target", "", nil},
		{"two resources", url.Values{"resource": {reportsAudience, apiAudience}}, 400, "invalid_target", "", nil},
		{"identity scopes only", url.Values{"resource": {reportsAudience}, "scope": {"openid"}}, 400, "invalid_scope", "", nil},
		{"relative", url.Values{"resource": {"/reports"}}, 400, "invalid_target", "", nil},
		{"fragment", url.Values{"resource": {reportsAudience + "#x"}}, 400, "invalid_target", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, tr := cc(tc.form)
			if st != tc.status || tr.Error != tc.err {
				t.Fatalf("%d %q, want %d %q", st, tr.Error, tc.status, tc.err)
			}
			if st == 200 {
				wantAudScope(t, e.accessClaimsOf(tr.AccessToken), tc.aud, tc.scopes...)
			}
		})
	}
}

// TestResource_CodeFlow: a person's token for a resource server: the
// request names it at /authorize, the token is for it alone, the exchange
// may repeat the resource and not change it, refreshes keep it, and only
// that resource server (not the built-in API) sees the token at
// introspection.
func TestResource_CodeFlow(t *testing.T) {
	e := newEnv(t)
	e.withReports()
	c := e.browser()
	v, ch := pkce()
	p := authParams("reporter", reporterRedir, ch, "openid offline_access reports:read todos:read")
	p.Set("resource", reportsAudience)
	q := e.authorizeCode(c, p)
	code := q.Get("code")

	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {reporterRedir},
		"code_verifier": {v}, "resource": {apiAudience}}
	if st, tr := e.token("reporter", reporterSecret, f); st != http.StatusBadRequest || tr.Error != "invalid_target" {
		t.Fatalf("exchange for another resource: %d %q, want invalid_target", st, tr.Error)
	}
	f.Set("resource", reportsAudience)
	st, tr := e.token("reporter", reporterSecret, f)
	if st != http.StatusOK {
		t.Fatalf("exchange: %d %s", st, tr.Error)
	}
	// todos:read belongs to the built-in API: not granted for reports.
	wantAudScope(t, e.accessClaimsOf(tr.AccessToken), reportsAudience, "openid", "offline_access", "reports:read")

	if m := e.introspectAs("reports-api", reportsSecret, tr.AccessToken); m["active"] != true {
		t.Errorf("the resource server does not see its token: %v", m)
	}
	if m := e.introspectAs("gatehouse-api", apiSecret, tr.AccessToken); m["active"] != false {
		t.Errorf("the built-in API sees a token for reports: %v", m)
	}

	rf := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "resource": {apiAudience}}
	if st, rtr := e.token("reporter", reporterSecret, rf); st != http.StatusBadRequest || rtr.Error != "invalid_target" {
		t.Fatalf("refresh for another resource: %d %q, want invalid_target", st, rtr.Error)
	}
	st, rtr := e.refresh("reporter", reporterSecret, tr.RefreshToken)
	if st != http.StatusOK {
		t.Fatalf("refresh: %d %s", st, rtr.Error)
	}
	wantAudScope(t, e.accessClaimsOf(rtr.AccessToken), reportsAudience, "openid", "offline_access", "reports:read")

	// The resource server is disabled: its family refreshes no more.
	if err := e.store.SetClientDisabled(context.Background(), "reports-api", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st, rtr := e.refresh("reporter", reporterSecret, rtr.RefreshToken); st != http.StatusBadRequest || rtr.Error != "invalid_target" {
		t.Errorf("refresh for a disabled resource server: %d %q, want invalid_target", st, rtr.Error)
	}
}

// TestResource_AuthorizeRefusals: /authorize answers a resource it cannot
// issue tokens for with invalid_target at the client.
func TestResource_AuthorizeRefusals(t *testing.T) {
	e := newEnv(t)
	e.withReports()
	for _, res := range [][]string{{"https://unknown.example.com"}, {reportsAudience, apiAudience}, {"reports"}} {
		_, ch := pkce()
		p := authParams("reporter", reporterRedir, ch, "openid reports:read")
		p["resource"] = res
		resp, _ := e.get(e.browser(), e.ts.URL+"/authorize?"+p.Encode())
		if got := callback(t, resp).Get("error"); got != "invalid_target" {
			t.Errorf("resource %v: error %q, want invalid_target", res, got)
		}
	}
	// A request for the built-in API gets only its scopes.
	c := e.browser()
	v, ch := pkce()
	q := e.authorizeCode(c, authParams("reporter", reporterRedir, ch, "openid reports:read todos:read"))
	st, tr := e.exchange("reporter", reporterSecret, q.Get("code"), reporterRedir, v)
	if st != http.StatusOK {
		t.Fatalf("exchange: %d %s", st, tr.Error)
	}
	wantAudScope(t, e.accessClaimsOf(tr.AccessToken), apiAudience, "openid", "todos:read")
	if strings.Contains(tr.Scope, "reports") {
		t.Errorf("scope %q carries another resource's", tr.Scope)
	}
}
