package e2e

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSignInTodosSignOut drives the whole web app like a person: sign in,
// see the seeded todos, add, toggle, rename and delete one, meet the "changed
// elsewhere" message, sign out, and find the refresh token revoked.
func TestSignInTodosSignOut(t *testing.T) {
	s := startStack(t, options{})
	c := s.browser()

	if p := s.get(c, s.webapp.URL+"/"); p.status != 200 || !p.has(`id="signed-out"`) {
		t.Fatalf("start page: %d, want the signed-out page", p.status)
	}
	p := s.signedInPage(c)
	for _, title := range seededTodos {
		if !p.has(title) {
			t.Errorf("seeded todo %q not shown", title)
		}
	}
	rts := s.webappRefreshTokens()
	if len(rts) != 1 || rts[0] == "" {
		t.Fatalf("web app holds %d refresh tokens, want 1", len(rts))
	}
	if got := s.introspect(rts[0]); got["active"] != true {
		t.Fatalf("refresh token before sign-out: %v, want active", got)
	}

	// Add.
	action, form := p.form(t, "/todos")
	form.Set("title", "Water the plants")
	p = s.post(c, action, form)
	if p.status != 200 || !p.has("Todo added.") || !p.has("Water the plants") {
		t.Fatalf("after add: %d\n%s", p.status, p.body)
	}
	id := todoID(t, p, "Water the plants")

	// Toggle done.
	action, form = p.form(t, "/todos/"+id+"/toggle")
	p = s.post(c, action, form)
	if p.status != 200 || !p.has("Marked as done.") || !regexp.MustCompile(`class="todo done" id="todo-`+regexp.QuoteMeta(id)).MatchString(p.body) {
		t.Fatalf("after toggle: %d\n%s", p.status, p.body)
	}

	// Rename, then try the same (now stale) form again: Eve's 412.
	action, form = p.form(t, "/todos/"+id+"/title")
	staleAction, staleForm := action, url.Values{}
	for k, v := range form {
		staleForm[k] = v
	}
	form.Set("title", "Water the plants and the garden")
	p = s.post(c, action, form)
	if p.status != 200 || !p.has("Title saved.") || !p.has("Water the plants and the garden") {
		t.Fatalf("after rename: %d\n%s", p.status, p.body)
	}
	staleForm.Set("title", "An edit from an old tab")
	p = s.post(c, staleAction, staleForm)
	if p.status != 200 || !p.has("changed elsewhere") || p.has("An edit from an old tab") {
		t.Fatalf("stale edit: %d, want the changed-elsewhere message\n%s", p.status, p.body)
	}

	// Delete.
	action, form = p.form(t, "/todos/"+id+"/delete")
	p = s.post(c, action, form)
	if p.status != 200 || !p.has("Todo deleted.") || p.has("Water the plants") {
		t.Fatalf("after delete: %d\n%s", p.status, p.body)
	}

	// Sign out: back on the signed-out page, refresh token revoked.
	action, form = p.form(t, "/logout")
	p = s.post(c, action, form)
	if p.url.Host != s.webapp.Host || !p.has(`id="signed-out"`) {
		t.Fatalf("after sign-out: %d at %s, want the web app's signed-out page\n%s", p.status, p.url, p.body)
	}
	if p := s.get(c, s.webapp.URL+"/"); !p.has(`id="signed-out"`) {
		t.Fatal("a reload after sign-out is not signed out")
	}
	if got := s.introspect(rts[0]); got["active"] != false {
		t.Fatalf("refresh token after sign-out: %v, want active:false", got)
	}
	if left := s.webappRefreshTokens(); len(left) != 0 {
		t.Fatalf("web app still holds %d token records after sign-out", len(left))
	}
	// The authorization server's login session ended too: signing in again
	// asks for the password.
	if p := s.get(c, s.webapp.URL+"/login"); !p.has(`name="password"`) {
		t.Fatalf("after sign-out, /login did not ask for the password again (%s)", p.url)
	}
}

var todoIDRE = regexp.MustCompile(`id="todo-([^"]+)" data-title="([^"]*)"`)

func todoID(t *testing.T, p page, title string) string {
	t.Helper()
	for _, m := range todoIDRE.FindAllStringSubmatch(p.body, -1) {
		if m[2] == title {
			return m[1]
		}
	}
	t.Fatalf("no todo %q on the page", title)
	return ""
}

// TestDeniedConsent: a person who denies consent lands on the web app's
// "you did not allow access" page (access_denied, RFC 6749 §4.1.2.1), not
// signed in.
func TestDeniedConsent(t *testing.T) {
	s := startStack(t, options{notFirstParty: true, noAPI: true})
	c := s.browser()
	p := s.signIn(c, false)
	if p.url.Host != s.webapp.Host || p.status != http.StatusForbidden || p.errorCode() != "access_denied" {
		t.Fatalf("after denying consent: %d %q at %s, want 403 access_denied on the web app\n%s", p.status, p.errorCode(), p.url, p.body)
	}
	if p := s.get(c, s.webapp.URL+"/"); !p.has(`id="signed-out"`) {
		t.Fatal("signed in after denying consent")
	}
	if len(s.audit.Events("consent_denied")) != 1 {
		t.Error("no consent_denied audit event")
	}
}

// TestUnreachableAPI: with the API down the person stays signed in and sees
// a page saying so, with a way to sign out.
func TestUnreachableAPI(t *testing.T) {
	s := startStack(t, options{noAPI: true})
	c := s.browser()
	p := s.signIn(c, true)
	if p.status != http.StatusServiceUnavailable || p.errorCode() != "api_unavailable" || !p.has(userName) || !p.has(`id="sign-out"`) {
		t.Fatalf("signed-in page with the API down: %d %q\n%s", p.status, p.errorCode(), p.body)
	}
}

// TestPushedRequestIgnoresTheBrowser: the web app pushes its authorization
// request (PAR), so the address the browser follows carries only client_id
// and request_uri, and what an attacker adds beside them (a nonce of their
// choosing, another redirect_uri, another scope) is ignored: the sign-in
// ends at the web app as if nothing had been added.
func TestPushedRequestIgnoresTheBrowser(t *testing.T) {
	s := startStack(t, options{})
	c := s.browser()
	noFollow := *c
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := noFollow.Get(s.webapp.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	authURL, err := url.Parse(res.Header.Get("Location"))
	if err != nil || authURL.Host != s.authz.Host {
		t.Fatalf("/login redirected to %q", res.Header.Get("Location"))
	}
	q := authURL.Query()
	if len(q) != 2 || q.Get("client_id") == "" || !strings.HasPrefix(q.Get("request_uri"), "urn:ietf:params:oauth:request_uri:") {
		t.Fatalf("the browser carries %v, want client_id and request_uri only", q)
	}
	q.Set("nonce", "attacker-chosen-nonce")
	q.Set("redirect_uri", "https://evil.example/cb")
	q.Set("scope", "openid")
	authURL.RawQuery = q.Encode()
	p := s.get(c, authURL.String())
	action, form := p.form(t, "/login")
	form.Set("username", username)
	form.Set("password", userPassword)
	p = s.post(c, action, form)
	if p.status != http.StatusOK || p.url.Host != s.webapp.Host || !p.has(userEmail) {
		t.Fatalf("sign-in with parameters added in the browser: %d %q at %s, want the signed-in page\n%s", p.status, p.errorCode(), p.url, p.body)
	}
}

// TestShortAccessTokens: with a 2-second access-token lifetime one person
// keeps working for 10 seconds with several parallel requests, is never
// signed out, never sees an error, and the web app never presents a refresh
// token twice (which the server would treat as reuse and answer by revoking
// the family).
func TestShortAccessTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("10-second test")
	}
	s := startStack(t, options{accessTTL: 2 * time.Second})
	c := s.browser()
	s.signedInPage(c)
	start := len(s.audit.Events("tokens_issued"))

	const workers = 4
	deadline := time.Now().Add(10 * time.Second)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		requests int
		failures []string
	)
	for w := range workers {
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				var res *http.Response
				var err error
				if w == 0 && n%5 == 4 {
					// Writes too, not only reads.
					p := s.get(c, s.webapp.URL+"/")
					action, form := p.form(t, "/todos")
					form.Set("title", "parallel "+time.Now().Format("15:04:05.000"))
					res, err = c.PostForm(action, form)
				} else {
					res, err = c.Get(s.webapp.URL + "/")
				}
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				p := readPage(t, res)
				mu.Lock()
				requests++
				if p.status != 200 || !p.has(userName) || p.has(`id="error"`) {
					failures = append(failures, p.status_text())
				}
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed; first: %s", len(failures), requests, failures[0])
	}
	if reuse := s.audit.Events("refresh_reuse"); len(reuse) != 0 {
		t.Fatalf("refresh token reuse detected: %v", reuse)
	}
	refreshes := len(s.audit.Events("tokens_issued")) - start
	if refreshes < 3 {
		t.Fatalf("%d token responses in 10 s with 2-second tokens: the web app did not refresh", refreshes)
	}
	t.Logf("%d requests, %d refreshes, no reuse, never signed out", requests, refreshes)
}

func (p page) status_text() string {
	code := p.errorCode()
	if code == "" {
		code = strings.TrimSpace(http.StatusText(p.status))
	}
	return code + " at " + p.url.String()
}
