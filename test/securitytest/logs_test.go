package securitytest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestChecklist_NoSecretsInLogs: a full run — the web app's sign-in, todo
// forms and sign-out; a third-party client's code flow, refresh, refresh
// reuse, revocation and introspection; the client credentials grant; a
// wrong password; bad tokens at the API — with every role logging JSON at
// debug level (access logs included), and no token, code, PKCE verifier,
// client secret, password, CSRF token or cookie value issued or sent during
// the run appears in the logs (the security checklist's "Never log a
// secret, password or token"; RFC 9700 §4.3.2 on leaking tokens). Nor do the API's error
// messages echo a token it was sent.
func TestChecklist_NoSecretsInLogs(t *testing.T) {
	s := startStack(t)
	secrets := map[string]string{
		"webapp client secret": webappSecret, "api client secret": apiSecret, "third client secret": thirdSecret,
		"legacy client secret": legacySecret, "robot client secret": robotSecret, "password": userPassword,
	}
	add := func(what, v string) {
		if v != "" {
			secrets[what+" "+v[:min(len(v), 6)]] = v
		}
	}

	// The web app, like a person.
	b := s.browser()
	p := s.signInWebapp(b)
	f := p.form(t, "/todos")
	add("webapp csrf", f.fields.Get("csrf"))
	f.fields.Set("title", "Log nothing")
	p = b.post(t, f.action, f.fields)
	f = p.form(t, "/title")
	f.fields.Set("title", "Log nothing at all")
	p = b.post(t, f.action, f.fields)
	for _, v := range b.visited {
		if u, _ := url.Parse(v); u.Path == "/callback" {
			add("webapp code", u.Query().Get("code"))
		}
	}
	for _, tok := range s.webappTokens() {
		add("webapp token", tok)
	}
	for _, h := range s.knownHosts() {
		for _, c := range b.jar.Cookies(&url.URL{Scheme: "https", Host: h, Path: "/"}) {
			add("cookie "+c.Name, c.Value)
		}
	}
	f = p.form(t, "/logout")
	b.post(t, f.action, f.fields)

	// A wrong password.
	wrong := "pw-Wrong-Guess-90210"
	secrets["wrong password"] = wrong
	lb := s.browser()
	lf := lb.get(t, s.issuer+"/login").form(t, "/login")
	add("authz csrf", lf.fields.Get("csrf_token"))
	lf.fields.Set("username", username)
	lf.fields.Set("password", wrong)
	if pg := lb.post(t, lf.action, lf.fields); pg.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", pg.status)
	}

	// A third-party client: code flow, refresh, reuse, revocation.
	tb := s.browser()
	v, ch := pkce(t)
	add("verifier", v)
	code := s.code(tb, authParams(t, thirdClientID, thirdRedirect, ch, "openid offline_access todos:read todos:write"))
	add("third code", code)
	tr := s.exchange(thirdClientID, thirdSecret, code, thirdRedirect, v)
	add("third access token", tr.AccessToken)
	add("third refresh token", tr.RefreshToken)
	add("third id token", tr.IDToken)
	s.exchange(thirdClientID, thirdSecret, code, thirdRedirect, v) // replayed code
	for _, c := range tb.jar.Cookies(&url.URL{Scheme: "https", Host: s.authz.Host, Path: "/"}) {
		add("cookie "+c.Name, c.Value)
	}
	tr2 := s.thirdPartyTokens(tb)
	add("third access token 2", tr2.AccessToken)
	add("third refresh token 2", tr2.RefreshToken)
	rot := s.refresh(thirdClientID, thirdSecret, tr2.RefreshToken)
	add("rotated refresh token", rot.RefreshToken)
	add("rotated access token", rot.AccessToken)
	s.refresh(thirdClientID, thirdSecret, tr2.RefreshToken) // reuse
	s.active(rot.AccessToken)
	s.postForm("/revoke", thirdClientID, thirdSecret, url.Values{"token": {rot.RefreshToken}, "token_type_hint": {"refresh_token"}})
	s.token(thirdClientID, thirdSecret+"-wrong", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rot.RefreshToken}})

	// The client credentials grant, with client_secret_post.
	cc := s.token("", "", url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read todos:write"},
		"client_id": {robotClientID}, "client_secret": {robotSecret}})
	add("robot access token", cc.AccessToken)
	if st, _, _ := s.apiGet("/todos", cc.AccessToken); st != 200 {
		t.Fatalf("API with the robot's token: %d", st)
	}

	// Bad tokens at the API: neither logged nor echoed.
	forged := tr.AccessToken[:len(tr.AccessToken)-4] + "AAAA"
	add("forged token", forged)
	for _, tok := range []string{forged, tr.IDToken, "not-a-jwt-" + thirdSecret} {
		if st, hdr, body := s.apiGet("/todos", tok); st != 401 || strings.Contains(body, tok) || strings.Contains(hdr.Get("WWW-Authenticate"), tok) {
			t.Errorf("API with a bad token: %d, or the token echoed in %q / %q", st, body, hdr.Get("WWW-Authenticate"))
		}
	}
	if st, _, body := s.apiGet("/todos?access_token="+url.QueryEscape(cc.AccessToken), ""); st != 400 || strings.Contains(body, cc.AccessToken) {
		t.Errorf("API with the token in the query: %d %.200s, want 400 without the token echoed", st, body)
	}

	logs := s.logs.String()
	lines := strings.Count(logs, "\n")
	if lines < 50 || !strings.Contains(logs, `"event":"refresh_reuse"`) || !strings.Contains(logs, `"msg":"http request"`) {
		t.Fatalf("only %d log lines, or no access log or refresh_reuse event: the run did not log what it should", lines)
	}
	for what, v := range secrets {
		if len(v) < 8 {
			t.Fatalf("%s is too short to grep for: %q", what, v)
		}
		if strings.Contains(logs, v) {
			i := strings.Index(logs, v)
			start := strings.LastIndex(logs[:i], "\n") + 1
			end := i + strings.Index(logs[i:], "\n")
			t.Errorf("the logs contain the %s:\n%s", what, logs[start:end])
		}
	}
	t.Logf("%d log lines checked for %d secrets", lines, len(secrets))
}
