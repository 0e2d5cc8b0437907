package authz

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestInvalidScope_AuthorizeNamesTheScope: /authorize refuses a request
// none of whose scopes the client may be granted with invalid_scope at the
// client's redirect URI, naming the scopes asked for and nothing of the
// registration: a scope another client may have reads the same as one
// nobody defines.
func TestInvalidScope_AuthorizeNamesTheScope(t *testing.T) {
	e := newEnv(t)
	e.withReports()
	_, ch := pkce()
	many := strings.Repeat("x:a ", 3) + "a:1 a:2 a:3 a:4 a:5 a:6 a:7"
	for _, tc := range []struct {
		name, scope, resource, want string
	}{
		{"a scope nobody defines", "notes:write", "", "the client may not be granted the scope notes:write"},
		{"the API's scope the client lacks", "todos:write", "", "the client may not be granted the scope todos:write"},
		{"two", "todos:write notes:read todos:write", "", "the client may not be granted the scopes todos:write notes:read"},
		{"another resource's scope", "reports:read", reportsAudience, "the client may not be granted the scope reports:read for this resource"},
		{"none", "", "", "no scope requested: name at least one in the scope parameter, such as openid"},
		{"a malformed one", "a\"b\\c", "", "the client may not be granted the scope (a malformed scope)"},
		{"many", many, "", "the client may not be granted the scopes x:a a:1 a:2 a:3 a:4 and 3 more"},
		{"a long one", strings.Repeat("s", 100), "", "the client may not be granted the scope " + strings.Repeat("s", 64) + "..."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := authParams("third", thirdRedir, ch, tc.scope)
			if tc.resource != "" {
				p.Set("resource", tc.resource)
			}
			resp, _ := e.get(e.browser(), e.ts.URL+"/authorize?"+p.Encode())
			q := callback(t, resp)
			if q.Get("error") != "invalid_scope" || q.Get("error_description") != tc.want {
				t.Fatalf("error %q %q, want invalid_scope %q", q.Get("error"), q.Get("error_description"), tc.want)
			}
		})
	}
}

// TestInvalidScope_PARNamesTheScope: a pushed request is refused as
// /authorize would refuse it, in JSON.
func TestInvalidScope_PARNamesTheScope(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	p := pushParams(ch)
	p.Set("scope", "todos:write")
	st, body := e.postForm("/par", p, http.Header{"Authorization": {basic("third", thirdSecret)}})
	const want = "the client may not be granted the scope todos:write"
	if st != http.StatusBadRequest || body["error"] != "invalid_scope" || body["error_description"] != want {
		t.Fatalf("%d %v, want 400 invalid_scope %q", st, body, want)
	}
}

// TestInvalidScope_ClientCredentialsNamesTheScope: the token endpoint
// names the scopes refused and, the client having authenticated, the ones
// it may have.
func TestInvalidScope_ClientCredentialsNamesTheScope(t *testing.T) {
	e := newEnv(t)
	e.withReports()
	for _, tc := range []struct {
		name, client, secret string
		form                 url.Values
		want                 string
	}{
		{"a scope the client lacks", "third", thirdSecret, url.Values{"scope": {"todos:write"}},
			"scope todos:write is not allowed for this client; allowed: todos:read"},
		{"two", "third", thirdSecret, url.Values{"scope": {"todos:read notes:read email"}},
			"scopes notes:read email are not allowed for this client; allowed: todos:read"},
		{"identity scopes only", "third", thirdSecret, url.Values{"scope": {"openid profile"}},
			"scopes openid profile are not among the resource's scopes, the only ones a client_credentials token carries; allowed: todos:read"},
		{"another resource's scope", "reporter", reporterSecret, url.Values{"resource": {reportsAudience}, "scope": {"todos:read"}},
			"scope todos:read is not allowed for this client at this resource; allowed: reports:read reports:write"},
		{"none of the resource's", "third", thirdSecret, url.Values{"resource": {reportsAudience}},
			"the client may have none of this resource's scopes"},
		{"a scope the client lacks at a resource it has none of", "third", thirdSecret, url.Values{"resource": {reportsAudience}, "scope": {"reports:read"}},
			"scope reports:read is not allowed for this client at this resource; it may have none of this resource's scopes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.form.Set("grant_type", "client_credentials")
			st, body := e.postForm("/token", tc.form, http.Header{"Authorization": {basic(tc.client, tc.secret)}})
			if st != http.StatusBadRequest || body["error"] != "invalid_scope" || body["error_description"] != tc.want {
				t.Fatalf("%d %v, want 400 invalid_scope %q", st, body, tc.want)
			}
		})
	}
}

// TestInvalidScope_RefreshNamesTheScope: a refresh asking for more than
// its grant names what it asked for beyond it and what the grant holds.
func TestInvalidScope_RefreshNamesTheScope(t *testing.T) {
	e := newEnv(t)
	tr := e.webappTokensOffline()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "scope": {"openid todos:write email"}}
	st, body := e.postForm("/token", form, http.Header{"Authorization": {basic("gatehouse-webapp", webappSecret)}})
	const want = "scopes todos:write email are not in the original grant; granted: openid offline_access todos:read"
	if st != http.StatusBadRequest || body["error"] != "invalid_scope" || body["error_description"] != want {
		t.Fatalf("%d %v, want 400 invalid_scope %q", st, body, want)
	}
}
