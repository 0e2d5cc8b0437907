package authz

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLogin_WrongPasswordIsGeneric(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	for _, user := range []string{"alice", "nobody"} {
		c := e.browser()
		_, page := e.get(c, e.ts.URL+"/authorize?"+authParams("gatehouse-webapp", webappRedir, ch, "openid").Encode())
		resp, body := e.login(c, page, user, "wrong password")
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Invalid username or password.") {
			t.Fatalf("%s: %d", user, resp.StatusCode)
		}
	}
	if !strings.Contains(e.logs.String(), `"event":"login_failed"`) || strings.Contains(e.logs.String(), "wrong password") {
		t.Error("audit log: want login_failed without the password")
	}
}

func TestLogin_LockoutAfterRepeatedFailures(t *testing.T) {
	e := newEnv(t) // UserLimit 5 in tests
	_, ch := pkce()
	c := e.browser()
	_, page := e.get(c, e.ts.URL+"/authorize?"+authParams("gatehouse-webapp", webappRedir, ch, "openid").Encode())
	var resp *http.Response
	for range 6 {
		resp, page = e.login(c, page, "alice", "wrong")
	}
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after 6 failures: %d", resp.StatusCode)
	}
	// Locked even with the right password.
	if resp, _ = e.login(c, page, "alice", alicePassword); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password during lockout: %d", resp.StatusCode)
	}
	if !strings.Contains(e.logs.String(), `"event":"lockout"`) {
		t.Error("no lockout audit event")
	}
	e.clock.Add(16 * time.Minute)
	if resp, _ = e.login(c, page, "alice", alicePassword); resp.StatusCode == http.StatusTooManyRequests {
		t.Fatal("still locked after the window")
	}
}

func TestLogin_FormRequiresCSRFToken(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	c := e.browser()
	_, page := e.get(c, e.ts.URL+"/authorize?"+authParams("gatehouse-webapp", webappRedir, ch, "openid").Encode())
	f := hidden(page)
	f.Set("csrf_token", "forged")
	f.Set("username", "alice")
	f.Set("password", alicePassword)
	if resp, _ := e.post(c, e.ts.URL+"/login", f); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("forged token: %d", resp.StatusCode)
	}
	// A token from another browser does not work either.
	f = hidden(page)
	f.Set("username", "alice")
	f.Set("password", alicePassword)
	if resp, _ := e.post(e.browser(), e.ts.URL+"/login", f); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("token without its cookie: %d", resp.StatusCode)
	}
}

func TestPages_SecurityHeaders(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/login", "/logout", "/signed-out", "/", "/authorize?client_id=nobody"} {
		resp, _ := e.get(e.browser(), e.ts.URL+path)
		if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
	}
}

func TestSession_CookieAttributes(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	c := e.browser()
	_, page := e.get(c, e.ts.URL+"/authorize?"+authParams("gatehouse-webapp", webappRedir, ch, "openid").Encode())
	resp, _ := e.login(c, page, "alice", alicePassword)
	var found bool
	for _, sc := range resp.Cookies() {
		if sc.Name == "__Host-gatehouse-session" && sc.MaxAge > 0 {
			found = true
			if !sc.HttpOnly || !sc.Secure || sc.SameSite != http.SameSiteLaxMode || sc.Path != "/" || sc.Domain != "" {
				t.Fatalf("cookie %+v", sc)
			}
		}
	}
	if !found {
		t.Fatal("no __Host- session cookie")
	}
}

func TestSession_SecondSignInSkipsPassword(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	_, ch := pkce()
	e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	resp, _ := e.get(c, e.ts.URL+"/authorize?"+authParams("gatehouse-webapp", webappRedir, ch, "openid").Encode())
	if q := callback(t, resp); q.Get("code") == "" {
		t.Fatalf("second authorization did not skip login: %v", q)
	}
}

func TestPrompt_LoginAndMaxAgeForceLogin(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	_, ch := pkce()
	e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	p := authParams("gatehouse-webapp", webappRedir, ch, "openid")
	p.Set("prompt", "login")
	if resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode()); resp.Request.URL.Path != "/login" {
		t.Fatalf("prompt=login did not show login: %s", resp.Request.URL)
	}
	e.clock.Add(2 * time.Minute)
	p = authParams("gatehouse-webapp", webappRedir, ch, "openid")
	p.Set("max_age", "60")
	if resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode()); resp.Request.URL.Path != "/login" {
		t.Fatalf("max_age did not force login: %s", resp.Request.URL)
	}
	p.Set("max_age", "3600")
	if resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode()); callback(t, resp).Get("code") == "" {
		t.Fatal("max_age within the session's age asked again")
	}
}

func TestPrompt_NoneFailsWithoutUI(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	p := authParams("third", thirdRedir, ch, "openid")
	p.Set("prompt", "none")
	c := e.browser()
	resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	if q := callback(t, resp); q.Get("error") != "login_required" || q.Get("iss") != e.ts.URL {
		t.Fatalf("no session: %v", q)
	}
	// Signed in (via the first-party app) but no consent for "third".
	e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	resp, _ = e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	if q := callback(t, resp); q.Get("error") != "consent_required" {
		t.Fatalf("no consent: %v", q)
	}
	// After consent, prompt=none succeeds.
	e.authorizeCode(c, authParams("third", thirdRedir, ch, "openid"))
	resp, _ = e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	if q := callback(t, resp); q.Get("code") == "" {
		t.Fatalf("prompt=none with session and consent: %v", q)
	}
}

func TestConsent_ShownDeniedRememberedAndPromptConsent(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	c := e.browser()
	_, page := e.get(c, e.ts.URL+"/authorize?"+authParams("third", thirdRedir, ch, "openid todos:read").Encode())
	resp, page := e.login(c, page, "alice", alicePassword)
	if resp.Request.URL.Path != "/consent" || !strings.Contains(page, "Third Party Planner") || !strings.Contains(page, "Read your todos") {
		t.Fatalf("consent page not shown: %s", resp.Request.URL)
	}
	f := hidden(page)
	f.Set("decision", "deny")
	p := authParams("third", thirdRedir, ch, "openid todos:read")
	resp, _ = e.post(c, e.ts.URL+"/consent", f)
	if q := callback(t, resp); q.Get("error") != "access_denied" || q.Get("iss") != e.ts.URL {
		t.Fatalf("deny: %v", q)
	}
	// Allow, then the same scopes are not asked again.
	e.authorizeCode(c, p)
	resp, _ = e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	if callback(t, resp).Get("code") == "" {
		t.Fatal("remembered consent asked again")
	}
	// A wider scope set asks again; so does prompt=consent.
	wider := authParams("third", thirdRedir, ch, "openid todos:read profile")
	if resp, _ = e.get(c, e.ts.URL+"/authorize?"+wider.Encode()); resp.Request.URL.Path != "/consent" {
		t.Fatal("new scope not asked")
	}
	p.Set("prompt", "consent")
	if resp, _ = e.get(c, e.ts.URL+"/authorize?"+p.Encode()); resp.Request.URL.Path != "/consent" {
		t.Fatal("prompt=consent not asked")
	}
}

func TestConsent_FirstPartySkips(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	c := e.browser()
	_, page := e.get(c, e.ts.URL+"/authorize?"+authParams("gatehouse-webapp", webappRedir, ch, "openid todos:write").Encode())
	resp, _ := e.login(c, page, "alice", alicePassword)
	if callback(t, resp).Get("code") == "" {
		t.Fatal("first-party client was asked for consent")
	}
}

func TestLogout_EndsSession(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	c := e.browser()
	e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	_, page := e.get(c, e.ts.URL+"/logout")
	resp, _ := e.post(c, e.ts.URL+"/logout", hidden(page))
	if resp.Request.URL.Path != "/signed-out" {
		t.Fatalf("logout: %s", resp.Request.URL)
	}
	if resp, _ = e.get(c, e.ts.URL+"/authorize?"+authParams("gatehouse-webapp", webappRedir, ch, "openid").Encode()); resp.Request.URL.Path != "/login" {
		t.Fatal("session survived logout")
	}
}

func TestEndSession_WithIDTokenHint(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	c := e.browser()
	q := e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch, "openid"))
	_, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v)
	u := e.ts.URL + "/end_session?" + url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {"https://app.example/"}, "state": {"s1"}}.Encode()
	resp, _ := e.get(c, u)
	if loc := resp.Header.Get("Location"); loc != "https://app.example/?state=s1" {
		t.Fatalf("end_session redirect %q (%d)", loc, resp.StatusCode)
	}
	if resp, _ = e.get(c, e.ts.URL+"/authorize?"+authParams("gatehouse-webapp", webappRedir, ch, "openid").Encode()); resp.Request.URL.Path != "/login" {
		t.Fatal("session survived end_session")
	}
	// An unregistered post-logout URI is refused.
	resp, _ = e.get(c, e.ts.URL+"/end_session?"+url.Values{"id_token_hint": {tr.IDToken}, "post_logout_redirect_uri": {"https://evil.example/"}}.Encode())
	if strings.HasPrefix(resp.Header.Get("Location"), "https://evil.example") {
		t.Fatal("open redirect at end_session")
	}
}
