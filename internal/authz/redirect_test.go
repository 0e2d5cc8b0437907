package authz

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestOpenRedirect_NoUnregisteredTarget: no parameter of any page — a
// return address on login or logout, post_logout_redirect_uri, redirect_uri
// on errors — sends the browser anywhere but this server or an address the
// client registered (RFC 9700 §4.11).
func TestOpenRedirect_NoUnregisteredTarget(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	c := e.browser()
	q := e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	_, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v)
	evil := "https://evil.example/x"
	registered := []string{webappRedir, thirdRedir, nativeRedir, legacyRedir, "https://app.example/"}

	withRedirect := func(client, redirect string) string {
		p := authParams(client, redirect, ch, "openid")
		return "/authorize?" + p.Encode()
	}
	badChallenge := authParams("gatehouse-webapp", evil, ch, "openid")
	badChallenge.Set("code_challenge_method", "plain")
	cases := []struct {
		name, method, path string
		form               url.Values
	}{
		{"authorize unregistered redirect_uri", "GET", withRedirect("gatehouse-webapp", evil), nil},
		{"authorize error with unregistered redirect_uri", "GET", "/authorize?" + badChallenge.Encode(), nil},
		{"authorize unknown client", "GET", withRedirect("nobody", evil), nil},
		{"authorize redirect_uri of another client", "GET", withRedirect("gatehouse-webapp", thirdRedir), nil},
		{"authorize protocol-relative", "GET", withRedirect("gatehouse-webapp", "//evil.example/callback"), nil},
		{"authorize userinfo trick", "GET", withRedirect("gatehouse-webapp", "https://app.example@evil.example/callback"), nil},
		{"authorize loopback host swap", "GET", withRedirect("native", "http://evil.example:49152/callback"), nil},
		{"login return_to", "GET", "/login?return_to=" + url.QueryEscape(evil) + "&next=" + url.QueryEscape(evil), nil},
		{"login submit return_to", "POST", "/login?return_to=" + url.QueryEscape(evil), url.Values{"username": {"alice"}, "password": {alicePassword}, "redirect_uri": {evil}}},
		{"logout return_to", "GET", "/logout?return_to=" + url.QueryEscape(evil) + "&post_logout_redirect_uri=" + url.QueryEscape(evil), nil},
		{"logout submit", "POST", "/logout?post_logout_redirect_uri=" + url.QueryEscape(evil), url.Values{}},
		{"end_session without client", "GET", "/end_session?post_logout_redirect_uri=" + url.QueryEscape(evil), nil},
		{"end_session unregistered", "GET", "/end_session?" + url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {evil}}.Encode(), nil},
		{"end_session with client_id", "GET", "/end_session?" + url.Values{"client_id": {"gatehouse-webapp"}, "post_logout_redirect_uri": {evil}}.Encode(), nil},
		{"end_session other client's URI", "GET", "/end_session?" + url.Values{"client_id": {"third"}, "post_logout_redirect_uri": {"https://app.example/"}}.Encode(), nil},
		{"end_session unknown client", "GET", "/end_session?" + url.Values{"client_id": {"nobody"}, "post_logout_redirect_uri": {evil}}.Encode(), nil},
		{"consent unknown request", "GET", "/consent?id=nope&redirect_uri=" + url.QueryEscape(evil), nil},
		{"signed-out", "GET", "/signed-out?return_to=" + url.QueryEscape(evil), nil},
		{"home", "GET", "/?next=" + url.QueryEscape(evil), nil},
		{"not found", "GET", "/" + url.PathEscape("/evil.example"), nil},
	}
	self, _ := url.Parse(e.ts.URL)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			br := e.browser()
			// A signed-in browser, so that pages that act on a session do.
			e.authorizeCode(br, authParams("gatehouse-webapp", webappRedir, ch, "openid"))
			var resp *http.Response
			if tc.method == "POST" {
				page := ""
				if strings.HasPrefix(tc.path, "/login") {
					_, page = e.get(br, e.ts.URL+"/login")
				} else {
					_, page = e.get(br, e.ts.URL+"/logout")
				}
				f := hidden(page)
				for k, v := range tc.form {
					f[k] = v
				}
				resp, _ = e.post(br, e.ts.URL+tc.path, f)
			} else {
				resp, _ = e.get(br, e.ts.URL+tc.path)
			}
			loc := resp.Header.Get("Location")
			if loc == "" {
				return
			}
			u, err := resp.Request.URL.Parse(loc)
			if err != nil {
				t.Fatalf("bad Location %q", loc)
			}
			if u.Host == self.Host && u.Scheme == self.Scheme {
				return
			}
			target := u.Scheme + "://" + u.Host + u.Path
			for _, r := range registered {
				if target == r {
					return
				}
			}
			t.Fatalf("redirected to unregistered %q", loc)
		})
	}
}
