package securitytest

import (
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// TestChecklist_NoTokensInURLs: authorization responses carry only code,
// state and iss (OAuth 2.1 §4.1.2, no fragment: no implicit grant); the web
// app never puts an access or refresh token in a URL or a page (RFC 9700
// §4.3.2); the API refuses access_token in the query string and the body
// with 400 invalid_request, never accepting it, and says to send the token
// in the Authorization header (RFC 6750 §2.2, §2.3; RFC 9700 §4.3.2 and
// point 11 of the checklist).
//
// The ID token does travel in a URL once: as id_token_hint on the redirect
// to the end_session_endpoint at sign-out (OpenID Connect RP-Initiated
// Logout §2). It is not an access token — the API refuses it (typ JWT) —
// and docs/security.md says so.
func TestChecklist_NoTokensInURLs(t *testing.T) {
	s := startStack(t)
	b := s.browser()
	p := s.signInWebapp(b)
	f := p.form(t, "/todos")
	f.fields.Set("title", "Check the URLs")
	p = b.post(t, f.action, f.fields)
	if p.status != 200 || !p.has("Check the URLs") {
		t.Fatalf("adding a todo: %d", p.status)
	}
	tokens := s.webappTokens() // access, refresh and ID token
	if len(tokens) < 3 {
		t.Fatalf("web app holds %d tokens, want access, refresh and ID token", len(tokens))
	}
	pages := []string{p.body, b.get(t, s.webapp.URL+"/").body}
	f = p.form(t, "/logout")
	p = b.post(t, f.action, f.fields)
	pages = append(pages, p.body)
	if !p.has(`id="signed-out"`) {
		t.Fatalf("after sign-out: %d at %s", p.status, p.url)
	}

	// Authorization responses: the callback URL.
	var callbacks int
	for _, v := range b.visited {
		u, _ := url.Parse(v)
		if u.Path != "/callback" {
			continue
		}
		callbacks++
		if u.Fragment != "" {
			t.Errorf("authorization response with a fragment: %s", v)
		}
		for k := range u.Query() {
			if !slices.Contains([]string{"code", "state", "iss"}, k) {
				t.Errorf("authorization response carries %q: %s", k, v)
			}
		}
	}
	if callbacks != 1 {
		t.Fatalf("%d callbacks visited, want 1", callbacks)
	}
	idToken := tokens[len(tokens)-1]
	for _, v := range b.visited {
		for _, tok := range tokens {
			if !strings.Contains(v, tok) {
				continue
			}
			u, _ := url.Parse(v)
			if tok == idToken && strings.HasSuffix(u.Path, "/end_session") && u.Query().Get("id_token_hint") == tok {
				continue // RP-initiated logout's hint, see above
			}
			t.Errorf("a token is in the URL %s", v)
		}
	}
	for _, body := range pages {
		for _, tok := range tokens {
			if strings.Contains(body, tok) {
				t.Errorf("a token is in a page of the web app")
			}
		}
	}

	// The API takes the token only from the Authorization header.
	at := s.thirdPartyTokens(s.browser()).AccessToken
	if st, _, _ := s.apiGet("/todos", at); st != 200 {
		t.Fatalf("API with the token in the header: %d", st)
	}
	refused := func(what string, st int, hdr http.Header, body string) {
		t.Helper()
		if st != http.StatusBadRequest || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_request"`) ||
			strings.Contains(body, "_items") || !strings.Contains(body, "send the token in the Authorization header") {
			t.Errorf("API with the token in %s: %d %q %.200s, want 400 invalid_request saying to use the header", what, st, hdr.Get("WWW-Authenticate"), body)
		}
	}
	st, hdr, body := s.apiGet("/todos?access_token="+url.QueryEscape(at), "")
	refused("the query", st, hdr, body)
	req, _ := http.NewRequest(http.MethodGet, s.apiURL+"/todos", strings.NewReader(url.Values{"access_token": {at}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(res.Body)
	res.Body.Close()
	refused("a form body", res.StatusCode, res.Header, string(raw))
}

// TestChecklist_ClickjackingHeaders: every HTML page of the authorization
// server and the web app — every one a browser met during sign-in, consent,
// the todo forms, sign-out and the error pages — forbids framing with
// X-Frame-Options: DENY and CSP frame-ancestors 'none' (RFC 9700 §4.16).
func TestChecklist_ClickjackingHeaders(t *testing.T) {
	s := startStack(t)
	_, ch := pkce(t)
	b := s.browser()
	p := s.signInWebapp(b)
	f := p.form(t, "/todos")
	f.fields.Set("title", "Frame me not")
	p = b.post(t, f.action, f.fields)
	b.get(t, s.webapp.URL+"/no-such-page")
	noCSRF := p.form(t, "/todos")
	noCSRF.fields.Del("csrf")
	b.post(t, noCSRF.action, noCSRF.fields)
	b.get(t, s.webapp.URL+"/callback?state=forged&code=x")
	f = p.form(t, "/logout")
	b.post(t, f.action, f.fields)
	b.get(t, s.webapp.URL+"/")

	// The authorization server's pages: login, consent, logout, signed-out,
	// home, and its error pages.
	a := s.browser()
	s.authorize(a, authParams(t, thirdClientID, thirdRedirect, ch, "openid"))
	deny := authParams(t, thirdClientID, thirdRedirect, ch, "openid")
	deny.Set("prompt", "consent")
	a.get(t, s.issuer+"/authorize?"+deny.Encode()) // the consent page again
	for _, path := range []string{"/", "/login", "/logout", "/signed-out", "/consent?id=unknown", "/no-such-page",
		"/authorize?" + authParams(t, "nobody", thirdRedirect, ch, "openid").Encode(),
		"/authorize?" + authParams(t, thirdClientID, "https://evil.example/", ch, "openid").Encode()} {
		a.get(t, s.issuer+path)
	}
	f = a.get(t, s.issuer+"/logout").form(t, "/logout")
	a.post(t, f.action, f.fields)
	a.post(t, s.issuer+"/login", url.Values{"username": {username}, "password": {"wrong"}}) // no CSRF token

	s.mu.Lock()
	seen := slices.Clone(s.html)
	s.mu.Unlock()
	hosts := map[string]int{}
	for _, r := range seen {
		u, _ := url.Parse(r.url)
		hosts[u.Host]++
		if r.header.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s (%d): X-Frame-Options %q, want DENY", r.url, r.status, r.header.Get("X-Frame-Options"))
		}
		if !frameAncestorsNone(r.header.Get("Content-Security-Policy")) {
			t.Errorf("%s (%d): CSP %q lacks frame-ancestors 'none'", r.url, r.status, r.header.Get("Content-Security-Policy"))
		}
	}
	if hosts[s.authz.Host] < 10 || hosts[s.webapp.Host] < 5 {
		t.Fatalf("HTML answers seen per host: %v; the test did not reach the pages it means to check", hosts)
	}
	t.Logf("%d HTML answers checked: %v", len(seen), hosts)

	// No CORS on the authorization endpoint (RFC 9700 §2.6 / checklist 10).
	req, _ := http.NewRequest(http.MethodGet, s.issuer+"/authorize?"+authParams(t, thirdClientID, thirdRedirect, ch, "openid").Encode(), nil)
	req.Header.Set("Origin", "https://evil.example")
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if v := res.Header.Get("Access-Control-Allow-Origin"); v != "" {
		t.Errorf("the authorization endpoint answers CORS: Access-Control-Allow-Origin %q", v)
	}
}

func frameAncestorsNone(csp string) bool {
	for _, d := range strings.Split(csp, ";") {
		if strings.Join(strings.Fields(d), " ") == "frame-ancestors 'none'" {
			return true
		}
	}
	return false
}

// TestChecklist_CSRFOnEveryForm: every form that posts, on the authorization
// server and on the web app, carries a CSRF token; a post without it, or
// with another browser's, is refused and changes nothing (RFC 9700 §4.7,
// OWASP synchronizer tokens). The web app also refuses cross-site posts by
// their Sec-Fetch-Site header.
func TestChecklist_CSRFOnEveryForm(t *testing.T) {
	s := startStack(t)
	_, ch := pkce(t)

	// Another signed-in browser, whose tokens the attacker "has".
	other := s.browser()
	otherPage := s.signInWebapp(other)
	otherWebappCSRF := otherPage.form(t, "/todos").fields.Get("csrf")
	otherLogin := s.browser().get(t, s.issuer+"/login").form(t, "/login").fields.Get("csrf_token")

	type attempt struct {
		name   string
		br     *browser
		form   form
		effect func() bool // reports whether the refused post changed anything
	}
	var attempts []attempt

	// Web app: every form on the signed-in page.
	b := s.browser()
	p := s.signInWebapp(b)
	f := p.form(t, "/todos")
	f.fields.Set("title", "Guarded")
	p = b.post(t, f.action, f.fields)
	count := func() int { return strings.Count(b.get(t, s.webapp.URL+"/").body, `class="todo`) }
	before := count()
	var webappForms int
	for _, f := range p.forms(t) {
		if f.method != http.MethodPost {
			continue
		}
		webappForms++
		f := f
		if strings.HasSuffix(f.action, "/todos") {
			f.fields.Set("title", "Forged")
		}
		if strings.HasSuffix(f.action, "/title") {
			f.fields.Set("title", "Forged")
		}
		attempts = append(attempts, attempt{"webapp " + f.action, b, f, func() bool {
			pg := b.get(t, s.webapp.URL+"/")
			return !pg.has(userName) || pg.has("Forged") || strings.Count(pg.body, `class="todo`) != before ||
				strings.Count(pg.body, `class="todo done"`) != 0
		}})
	}
	if webappForms < 5 {
		t.Fatalf("the signed-in page has %d post forms, want add, toggle, rename, delete and sign-out", webappForms)
	}

	// Authorization server: login (in a browser that stays signed out),
	// consent and logout (in a signed-in one).
	al := s.browser()
	lf := al.get(t, s.issuer+"/authorize?"+authParams(t, thirdClientID, thirdRedirect, ch, "openid").Encode()).form(t, "/login")
	lf.fields.Set("username", username)
	lf.fields.Set("password", userPassword)
	attempts = append(attempts, attempt{"authz login", al, lf, func() bool { return hasCookie(al, s.issuer, "session") }})
	a := s.browser()
	cf := a.get(t, s.issuer+"/authorize?"+authParams(t, thirdClientID, thirdRedirect, ch, "openid").Encode()).form(t, "/login")
	cf.fields.Set("username", username)
	cf.fields.Set("password", userPassword)
	cf = a.post(t, cf.action, cf.fields).form(t, "/consent")
	cf.fields.Set("decision", "allow")
	attempts = append(attempts, attempt{"authz consent", a, cf, func() bool { return false }})
	lo := a.get(t, s.issuer+"/logout").form(t, "/logout")
	attempts = append(attempts, attempt{"authz logout", a, lo, func() bool { return !hasCookie(a, s.issuer, "session") }})
	if !hasCookie(a, s.issuer, "session") || hasCookie(al, s.issuer, "session") {
		t.Fatal("the login session cookie is not where the test expects it")
	}

	// Authorization server: every form of the account page, in a browser
	// that has just signed in (credential changes need a recent sign-in)
	// to the web app, an application to revoke.
	ac := s.browser()
	s.signInWebapp(ac)
	acct := ac.get(t, s.issuer+"/account")
	userHash := func() string {
		u, err := s.store.GetUserByUsername(s.ctx, username)
		if err != nil {
			t.Fatal(err)
		}
		return u.PasswordHash
	}
	hashBefore := userHash()
	appsBefore := strings.Count(acct.body, `action="/account/apps/revoke"`)
	sessionsBefore := strings.Count(acct.body, `action="/account/sessions/end"`)
	var accountForms int
	for _, f := range acct.forms(t) {
		if f.method != http.MethodPost || !strings.Contains(f.action, "/account") {
			continue
		}
		accountForms++
		f := f
		f.fields.Set("new_password", "a forged new password")
		f.fields.Set("confirm_password", "a forged new password")
		attempts = append(attempts, attempt{"authz " + strings.TrimPrefix(f.action, s.issuer), ac, f, func() bool {
			pg := ac.get(t, s.issuer+"/account")
			return !hasCookie(ac, s.issuer, "session") || userHash() != hashBefore ||
				strings.Count(pg.body, `action="/account/apps/revoke"`) != appsBefore ||
				strings.Count(pg.body, `action="/account/sessions/end"`) != sessionsBefore
		}})
	}
	if accountForms < 3 || appsBefore == 0 {
		t.Fatalf("the account page has %d post forms and %d applications, want password, a session and an application", accountForms, appsBefore)
	}

	for _, at := range attempts {
		t.Run(at.name, func(t *testing.T) {
			var field string
			for k := range at.form.fields {
				if csrfName.MatchString(k) {
					field = k
				}
			}
			if field == "" || at.form.fields.Get(field) == "" {
				t.Fatalf("form posting to %s has no CSRF token: %v", at.form.action, at.form.fields)
			}
			foreign := otherWebappCSRF
			if strings.HasPrefix(at.form.action, s.issuer) {
				foreign = otherLogin
			}
			br := at.br
			for _, variant := range []struct {
				name  string
				value *string
			}{{"missing", nil}, {"empty", ptr("")}, {"another browser's", &foreign}, {"tampered", ptr(at.form.fields.Get(field) + "A")}} {
				fields := cloneValues(at.form.fields)
				if variant.value == nil {
					fields.Del(field)
				} else {
					fields.Set(field, *variant.value)
				}
				pg := br.post(t, at.form.action, fields)
				if pg.status != http.StatusForbidden {
					t.Errorf("%s token: %d at %s, want 403", variant.name, pg.status, pg.url)
				}
				if loc := pg.location(t); loc != nil {
					t.Errorf("%s token: redirected to %s", variant.name, loc)
				}
				if at.effect() {
					t.Fatalf("%s token: the refused post changed something", variant.name)
				}
			}
		})
	}

	t.Run("webapp cross-site post", func(t *testing.T) {
		f := p.form(t, "/todos")
		f.fields.Set("title", "Cross-site")
		req, _ := http.NewRequest(http.MethodPost, f.action, strings.NewReader(f.fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		req.Header.Set("Origin", "https://evil.example")
		if pg := b.do(t, req); pg.status != http.StatusForbidden {
			t.Fatalf("cross-site post with a valid token: %d, want 403", pg.status)
		}
		if b.get(t, s.webapp.URL+"/").has("Cross-site") {
			t.Fatal("the cross-site post added a todo")
		}
	})
}

func ptr(s string) *string { return &s }

func hasCookie(b *browser, rawURL, part string) bool {
	u, _ := url.Parse(rawURL)
	for _, c := range b.jar.Cookies(u) {
		if strings.Contains(c.Name, part) && c.Value != "" {
			return true
		}
	}
	return false
}

// TestChecklist_NoOpenRedirects: no parameter of any page of the
// authorization server or the web app — return_to, next, redirect_uri,
// post_logout_redirect_uri, an error's parameters, the path itself — sends
// the browser to an address that is not registered (RFC 9700 §4.11). Every
// redirect is followed; each hop must be one of the stack's servers or a
// registered redirect or post-logout URI. No redirect after a post is a 307
// or 308, which would forward the credentials (RFC 9700 §4.12).
func TestChecklist_NoOpenRedirects(t *testing.T) {
	s := startStack(t)
	_, ch := pkce(t)
	evil := "https://evil.example/x"
	e := url.QueryEscape(evil)
	idt := s.thirdPartyTokens(s.browser()).IDToken
	registered := []string{thirdRedirect, thirdLogout, legacyRedirect, nativeRedirect}

	withRedirect := func(client, redirect string) string {
		return "/authorize?" + authParams(t, client, redirect, ch, "openid").Encode()
	}
	plain := authParams(t, thirdClientID, evil, ch, "openid")
	plain.Set("code_challenge_method", "plain")
	type tc struct {
		name, method, url string
		form              url.Values
		signedIn          bool
	}
	az, wa := s.issuer, s.webapp.URL
	cases := []tc{
		{"authorize unregistered redirect_uri", "GET", az + withRedirect(thirdClientID, evil), nil, true},
		{"authorize error with unregistered redirect_uri", "GET", az + "/authorize?" + plain.Encode(), nil, true},
		{"authorize unknown client", "GET", az + withRedirect("nobody", evil), nil, true},
		{"authorize protocol-relative", "GET", az + withRedirect(thirdClientID, "//evil.example/cb"), nil, true},
		{"authorize userinfo trick", "GET", az + withRedirect(thirdClientID, "https://third.example@evil.example/cb"), nil, true},
		{"authorize loopback host swap", "GET", az + withRedirect(nativeClientID, "http://evil.example:49152/callback"), nil, true},
		{"authz login return_to", "GET", az + "/login?return_to=" + e + "&next=" + e + "&redirect_uri=" + e, nil, false},
		{"authz login submit", "POST", az + "/login?return_to=" + e, url.Values{"username": {username}, "password": {userPassword}, "return_to": {evil}, "redirect_uri": {evil}}, false},
		{"authz logout", "GET", az + "/logout?return_to=" + e + "&post_logout_redirect_uri=" + e, nil, true},
		{"authz logout submit", "POST", az + "/logout?post_logout_redirect_uri=" + e, url.Values{"post_logout_redirect_uri": {evil}}, true},
		{"end_session no client", "GET", az + "/end_session?post_logout_redirect_uri=" + e, nil, true},
		{"end_session unregistered", "GET", az + "/end_session?" + url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {evil}}.Encode(), nil, true},
		{"end_session with client_id", "GET", az + "/end_session?" + url.Values{"client_id": {thirdClientID}, "post_logout_redirect_uri": {evil}}.Encode(), nil, true},
		{"end_session another client's URI", "GET", az + "/end_session?" + url.Values{"client_id": {webappClientID}, "post_logout_redirect_uri": {thirdLogout}}.Encode(), nil, true},
		{"consent unknown request", "GET", az + "/consent?id=nope&redirect_uri=" + e, nil, true},
		{"authz signed-out", "GET", az + "/signed-out?return_to=" + e, nil, false},
		{"authz home", "GET", az + "/?next=" + e, nil, false},
		{"authz path", "GET", az + "/" + url.PathEscape("/evil.example"), nil, false},
		{"authz double slash", "GET", az + "//evil.example/", nil, false},
		{"webapp login return_to", "GET", wa + "/login?return_to=" + e + "&next=" + e + "&redirect_uri=" + e, nil, false},
		{"webapp login signed in", "GET", wa + "/login?return_to=" + e + "&next=" + e, nil, true},
		{"webapp callback error", "GET", wa + "/callback?error=access_denied&state=x&iss=" + e + "&error_uri=" + e + "&redirect_uri=" + e, nil, false},
		{"webapp home", "GET", wa + "/?next=" + e + "&return_to=" + e, nil, true},
		{"webapp path", "GET", wa + "/" + url.PathEscape("/evil.example"), nil, false},
		{"webapp double slash", "GET", wa + "//evil.example/", nil, false},
		{"webapp backslash", "GET", wa + "/%5Cevil.example", nil, false},
		{"webapp logout", "POST", wa + "/logout?return_to=" + e + "&post_logout_redirect_uri=" + e, url.Values{"return_to": {evil}, "post_logout_redirect_uri": {evil}}, true},
		{"webapp todo form", "POST", wa + "/todos?return_to=" + e, url.Values{"title": {"x"}, "return_to": {evil}, "next": {evil}}, true},
	}
	own := s.knownHosts()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := s.browser()
			if c.signedIn {
				s.signInWebapp(b)
			}
			start := len(b.visited)
			var pg page
			if c.method == "POST" {
				// The form's own CSRF token, so that the post gets past it.
				form := cloneValues(c.form)
				u, _ := url.Parse(c.url)
				if u.Host == s.webapp.Host {
					if tok := b.get(t, wa+"/").forms(t); len(tok) > 0 {
						form.Set("csrf", tok[0].fields.Get("csrf"))
					}
				} else {
					for _, f := range b.get(t, az+strings.SplitN(u.Path, "?", 2)[0]).forms(t) {
						form.Set("csrf_token", f.fields.Get("csrf_token"))
						if v := f.fields.Get("id"); v != "" {
							form.Set("id", v)
						}
					}
				}
				start = len(b.visited)
				pg = b.post(t, c.url, form)
			} else {
				pg = b.get(t, c.url)
			}
			hops := append(slices.Clone(b.visited[start+1:]), pg.url.String())
			if loc := pg.location(t); loc != nil {
				hops = append(hops, loc.String())
			}
			for _, h := range hops {
				u, err := url.Parse(h)
				if err != nil {
					t.Fatalf("hop %q: %v", h, err)
				}
				if slices.Contains(own, u.Host) && u.Scheme == "https" {
					continue
				}
				if slices.Contains(registered, u.Scheme+"://"+u.Host+u.Path) {
					continue
				}
				t.Fatalf("the browser was sent to %s (hops %v)", h, hops)
			}
		})
	}

	t.Run("no 307 or 308 anywhere in a full flow", func(t *testing.T) {
		b := s.browser()
		p := s.signInWebapp(b)
		f := p.form(t, "/todos")
		f.fields.Set("title", "x")
		p = b.post(t, f.action, f.fields)
		f = p.form(t, "/logout")
		b.post(t, f.action, f.fields)
		for _, code := range b.codes {
			if code == http.StatusTemporaryRedirect || code == http.StatusPermanentRedirect {
				t.Fatalf("a redirect with status %d: it would forward a POST body", code)
			}
		}
		if len(b.codes) < 4 {
			t.Fatalf("only %d redirects seen", len(b.codes))
		}
	})
}
