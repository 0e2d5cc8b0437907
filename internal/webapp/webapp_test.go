package webapp

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/alexedwards/scs/v2/memstore"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// harness is a web app wired to a fakeOP, served over TLS.
type harness struct {
	t      *testing.T
	op     *fakeOP
	app    *Server
	srv    *httptest.Server
	client *http.Client // cookie jar, does not follow redirects
}

func newHarness(t *testing.T, op *fakeOP, issuer string) *harness {
	t.Helper()
	return newHarnessOn(t, op, issuer, memstore.NewWithCleanupInterval(0))
}

// newHarnessOn is newHarness with the given session store.
func newHarnessOn(t *testing.T, op *fakeOP, issuer string, sessions scs.Store) *harness {
	t.Helper()
	return newHarnessWith(t, op, issuer, sessions, nil)
}

// newHarnessWith is newHarnessOn with tweak applied to the configuration.
func newHarnessWith(t *testing.T, op *fakeOP, issuer string, sessions scs.Store, tweak func(*Config)) *harness {
	t.Helper()
	key, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, op: op}
	h.srv = httptest.NewUnstartedServer(nil)
	t.Cleanup(h.srv.Close)
	publicURL := "https://" + h.srv.Listener.Addr().String()
	opClient := &http.Client{} // fails on the unknown certificate; only used when op is nil
	if op != nil {
		opClient = op.srv.Client()
	}
	cfg := Config{
		PublicURL:    publicURL,
		Issuer:       issuer,
		APIURL:       "https://127.0.0.1:1/api", // nothing listens on port 1
		ClientID:     "webapp",
		ClientSecret: "s3cret",
		HTTPClient:   opClient,
		Sessions:     sessions,
		Secret:       key,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	app, err := New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.app = app
	h.srv.Config.Handler = app.Handler()
	h.srv.StartTLS()
	h.client = h.newBrowser()
	return h
}

// newBrowser returns a client with its own cookie jar.
func (h *harness) newBrowser() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := *h.srv.Client() // a copy: Client() returns one shared client
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

type resp struct {
	status   int
	body     string
	location string
	header   http.Header
}

func (h *harness) do(c *http.Client, method, path string, form url.Values) resp {
	h.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	res, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, body: string(b), location: res.Header.Get("Location"), header: res.Header}
}

// startLogin runs GET /login and returns the authorization request's
// parameters (authParams).
func (h *harness) startLogin(c *http.Client) url.Values {
	h.t.Helper()
	r := h.do(c, "GET", "/login", nil)
	if r.status != http.StatusSeeOther {
		h.t.Fatalf("GET /login = %d, want 303; body %s", r.status, r.body)
	}
	return h.authParams(r.location)
}

// authParams returns the parameters of the authorization request the web
// app sent the browser to location with, as the fake provider's
// authorization endpoint would read them: those pushed under its
// request_uri (with the pushed proof's key as dpop_jkt), else the
// location's own, whose dpop_jkt then binds the codes of the request.
func (h *harness) authParams(location string) url.Values {
	h.t.Helper()
	u, err := url.Parse(location)
	if err != nil {
		h.t.Fatal(err)
	}
	q := u.Query()
	if uri := q.Get("request_uri"); uri != "" {
		p := h.op.pushedParams(uri)
		if p == nil {
			h.t.Fatalf("the browser is sent with request_uri %q, which was never pushed", uri)
		}
		return p
	}
	if jkt := q.Get("dpop_jkt"); jkt != "" {
		h.op.bindChallenge(q.Get("code_challenge"), jkt)
	}
	return q
}

// signIn completes a sign-in through the fake provider.
func (h *harness) signIn(c *http.Client) {
	h.t.Helper()
	q := h.startLogin(c)
	code := h.op.issueCode(q.Get("nonce"), q.Get("code_challenge"))
	r := h.do(c, "GET", "/callback?"+url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {h.op.issuer()}}.Encode(), nil)
	if r.status != http.StatusSeeOther || r.location != "/" {
		h.t.Fatalf("callback = %d → %q, want 303 → /; body %s", r.status, r.location, r.body)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func errorCode(body string) string {
	m := regexp.MustCompile(`data-code="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

// TestAuthorizationRequest: the authorization request's parameters, pushed
// to the provider's PAR endpoint (RFC 9126) when discovery lists one, with
// only client_id and request_uri in the browser's redirect; in the redirect
// otherwise, with the sign-in's DPoP key as dpop_jkt.
func TestAuthorizationRequest(t *testing.T) {
	for _, pushed := range []bool{true, false} {
		t.Run(fmt.Sprintf("pushed=%v", pushed), func(t *testing.T) {
			op := newFakeOP(t)
			op.noPAR = !pushed
			h := newHarness(t, op, op.issuer())
			r := h.do(h.client, "GET", "/login", nil)
			if r.status != http.StatusSeeOther {
				t.Fatalf("GET /login = %d, want 303", r.status)
			}
			u, err := url.Parse(r.location)
			if err != nil || u.Scheme+"://"+u.Host+u.Path != op.issuer()+"/authorize" {
				t.Fatalf("GET /login redirects to %q, want the authorization endpoint", r.location)
			}
			var browser []string
			for k := range u.Query() {
				browser = append(browser, k)
			}
			slices.Sort(browser)
			if pushed && !slices.Equal(browser, []string{"client_id", "request_uri"}) {
				t.Errorf("the browser is sent with %q, want only client_id and request_uri", browser)
			}
			if pushed && u.Query().Get("client_id") != "webapp" {
				t.Errorf("client_id = %q in the redirect", u.Query().Get("client_id"))
			}
			if !pushed && slices.Contains(browser, "request_uri") {
				t.Errorf("request_uri without a PAR endpoint")
			}
			q := h.authParams(r.location)
			want := map[string]string{
				"response_type":         "code",
				"client_id":             "webapp",
				"redirect_uri":          h.srv.URL + "/callback",
				"code_challenge_method": "S256",
				"scope":                 "openid profile email offline_access todos:read todos:write",
			}
			for k, v := range want {
				if q.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, q.Get(k), v)
				}
			}
			for _, k := range []string{"state", "nonce", "code_challenge", "dpop_jkt"} {
				if len(q.Get(k)) < 43 {
					t.Errorf("%s = %q: want at least 256 bits", k, q.Get(k))
				}
			}
			// Each attempt is fresh, with a key of its own.
			q2 := h.startLogin(h.client)
			for _, k := range []string{"state", "nonce", "code_challenge", "dpop_jkt"} {
				if q2.Get(k) == q.Get(k) {
					t.Errorf("%s reused between attempts", k)
				}
			}
			// The code is exchanged with a proof of the key the request named.
			code := op.issueCode(q2.Get("nonce"), q2.Get("code_challenge"))
			r = h.do(h.client, "GET", "/callback?"+url.Values{"code": {code}, "state": {q2.Get("state")}, "iss": {op.issuer()}}.Encode(), nil)
			if r.status != http.StatusSeeOther {
				t.Fatalf("callback = %d %q", r.status, errorCode(r.body))
			}
			if calls := op.tokenRequests(); len(calls) != 1 || calls[0].jkt != q2.Get("dpop_jkt") {
				t.Errorf("token requests %+v, want the exchange with a proof of %s", calls, q2.Get("dpop_jkt"))
			}
		})
	}
}

// TestCallbackRejects checks the redirection endpoint's defences: state
// (RFC 6749 §10.12), iss (RFC 9207 §2.4) and nonce (OIDC Core §3.1.3.7).
func TestCallbackRejects(t *testing.T) {
	op := newFakeOP(t)
	h := newHarness(t, op, op.issuer())
	tests := []struct {
		name   string
		params func(q url.Values, code string) url.Values
		nonce  string // nonce the provider puts in the ID token; "" = the right one
		status int
		code   string
	}{
		{"state missing", func(q url.Values, code string) url.Values {
			return url.Values{"code": {code}, "iss": {op.issuer()}}
		}, "", 400, "state_missing"},
		{"state wrong", func(q url.Values, code string) url.Values {
			return url.Values{"code": {code}, "state": {q.Get("state") + "x"}, "iss": {op.issuer()}}
		}, "", 400, "state_mismatch"},
		{"iss missing", func(q url.Values, code string) url.Values {
			return url.Values{"code": {code}, "state": {q.Get("state")}}
		}, "", 400, "iss_missing"},
		{"iss wrong", func(q url.Values, code string) url.Values {
			return url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {"https://evil.example"}}
		}, "", 400, "iss_mismatch"},
		{"iss wrong on error response", func(q url.Values, code string) url.Values {
			return url.Values{"error": {"access_denied"}, "state": {q.Get("state")}, "iss": {"https://evil.example"}}
		}, "", 400, "iss_mismatch"},
		{"nonce wrong", func(q url.Values, code string) url.Values {
			return url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {op.issuer()}}
		}, "another-nonce", 400, "nonce_mismatch"},
		{"code missing", func(q url.Values, code string) url.Values {
			return url.Values{"state": {q.Get("state")}, "iss": {op.issuer()}}
		}, "", 400, "code_missing"},
		{"access denied", func(q url.Values, code string) url.Values {
			return url.Values{"error": {"access_denied"}, "state": {q.Get("state")}, "iss": {op.issuer()}}
		}, "", 403, "access_denied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := h.newBrowser()
			q := h.startLogin(c)
			nonce := q.Get("nonce")
			if tc.nonce != "" {
				nonce = tc.nonce
			}
			code := op.issueCode(nonce, q.Get("code_challenge"))
			r := h.do(c, "GET", "/callback?"+tc.params(q, code).Encode(), nil)
			if r.status != tc.status || errorCode(r.body) != tc.code {
				t.Fatalf("callback = %d %q, want %d %q", r.status, errorCode(r.body), tc.status, tc.code)
			}
			if !clearsPending(r) {
				t.Errorf("rejected callback does not clear the pending sign-in cookie")
			}
			if home := h.do(c, "GET", "/", nil); !strings.Contains(home.body, `id="signed-out"`) {
				t.Errorf("after a rejected callback the session is signed in")
			}
		})
	}

	t.Run("state is usable once", func(t *testing.T) {
		c := h.newBrowser()
		q := h.startLogin(c)
		code := op.issueCode(q.Get("nonce"), q.Get("code_challenge"))
		params := url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {op.issuer()}}.Encode()
		if r := h.do(c, "GET", "/callback?"+params, nil); r.status != http.StatusSeeOther {
			t.Fatalf("first callback = %d, want 303", r.status)
		}
		if r := h.do(c, "GET", "/callback?"+params, nil); r.status != 400 || errorCode(r.body) != "state_mismatch" {
			t.Fatalf("replayed callback = %d %q, want 400 state_mismatch", r.status, errorCode(r.body))
		}
	})

	t.Run("state of another browser", func(t *testing.T) {
		victim, attacker := h.newBrowser(), h.newBrowser()
		h.startLogin(victim)
		q := h.startLogin(attacker)
		code := op.issueCode(q.Get("nonce"), q.Get("code_challenge"))
		// Login CSRF: the attacker's code and state land in the victim's browser.
		r := h.do(victim, "GET", "/callback?"+url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {op.issuer()}}.Encode(), nil)
		if r.status != 400 || errorCode(r.body) != "state_mismatch" {
			t.Fatalf("callback = %d %q, want 400 state_mismatch", r.status, errorCode(r.body))
		}
	})
}

// TestIDTokenAlg: the web app accepts ID tokens signed with the algorithm
// its client is registered with (Config.IDTokenAlg, RS256 when empty) and
// refuses the others, though the provider lists and publishes keys for all
// of them (OpenID Connect Core §3.1.3.7 step 7).
func TestIDTokenAlg(t *testing.T) {
	op := newFakeOP(t)
	for _, configured := range []string{"", "RS256", "ES256", "EdDSA"} {
		h := newHarnessWith(t, op, op.issuer(), memstore.NewWithCleanupInterval(0), func(c *Config) { c.IDTokenAlg = configured })
		want := configured
		if want == "" {
			want = "RS256"
		}
		for _, signed := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
			t.Run(fmt.Sprintf("configured %q signed %s", configured, signed), func(t *testing.T) {
				op.mu.Lock()
				op.idAlg = signed
				op.mu.Unlock()
				c := h.newBrowser()
				q := h.startLogin(c)
				code := op.issueCode(q.Get("nonce"), q.Get("code_challenge"))
				r := h.do(c, "GET", "/callback?"+url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {op.issuer()}}.Encode(), nil)
				if string(signed) == want {
					if r.status != http.StatusSeeOther || r.location != "/" {
						t.Fatalf("callback = %d → %q %q, want 303 → /", r.status, r.location, errorCode(r.body))
					}
					return
				}
				if r.status != 400 || errorCode(r.body) != "id_token_invalid" {
					t.Fatalf("callback = %d %q, want 400 id_token_invalid", r.status, errorCode(r.body))
				}
			})
		}
	}
	if _, err := New(t.Context(), Config{PublicURL: "https://127.0.0.1:5000", Issuer: op.issuer(), APIURL: "https://127.0.0.1:1/api",
		ClientID: "webapp", ClientSecret: "s", HTTPClient: op.srv.Client(), Sessions: memstore.NewWithCleanupInterval(0), Secret: mustSecret(t), IDTokenAlg: "HS256"}); err == nil || !strings.Contains(err.Error(), "HS256") {
		t.Errorf("New with IDTokenAlg HS256: %v", err)
	}
}

func mustSecret(t *testing.T) *secret.Key {
	t.Helper()
	k, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSignInSessionCookie(t *testing.T) {
	op := newFakeOP(t)
	h := newHarness(t, op, op.issuer())
	c := h.newBrowser()
	q := h.startLogin(c)
	if sessionCookie(t, c, h.srv.URL) != "" {
		t.Errorf("GET /login gave the visitor a session")
	}
	code := op.issueCode(q.Get("nonce"), q.Get("code_challenge"))
	r := h.do(c, "GET", "/callback?"+url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {op.issuer()}}.Encode(), nil)
	if r.status != http.StatusSeeOther {
		t.Fatalf("callback = %d: %s", r.status, r.body)
	}
	var raw string
	for _, sc := range r.header.Values("Set-Cookie") {
		if strings.HasPrefix(sc, cookieName+"=") {
			raw = sc
		}
	}
	for _, attr := range []string{"Path=/", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(raw, attr) {
			t.Errorf("session cookie %q lacks %s", raw, attr)
		}
	}
	if strings.Contains(raw, "Domain=") {
		t.Errorf("__Host- cookie %q has a Domain", raw)
	}
	after := sessionCookie(t, c, h.srv.URL)
	if after == "" {
		t.Errorf("no session after sign-in")
	}
	// The cookie is opaque: no token in it.
	if strings.Contains(after, "at-") || strings.Contains(after, "rt-") {
		t.Errorf("token in cookie")
	}
	home := h.do(c, "GET", "/", nil)
	if !strings.Contains(home.body, "Ada Lovelace") || !strings.Contains(home.body, "ada@example.com") {
		t.Errorf("signed-in page does not show name and email")
	}
	for _, hdr := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"} {
		if home.header.Get(hdr) == "" {
			t.Errorf("missing %s", hdr)
		}
	}
	// The harness serves on 127.0.0.1: no HSTS for an IP literal (TestHSTS).
	if got := home.header.Get("Strict-Transport-Security"); got != "" {
		t.Errorf("Strict-Transport-Security = %q on an IP-literal host", got)
	}
	if !strings.Contains(home.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP lacks frame-ancestors 'none'")
	}
}

func sessionCookie(t *testing.T, c *http.Client, base string) string {
	u, _ := url.Parse(base)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == cookieName {
			return ck.Value
		}
	}
	return ""
}

func TestCSRF(t *testing.T) {
	op := newFakeOP(t)
	h := newHarness(t, op, op.issuer())
	alice, mallory := h.newBrowser(), h.newBrowser()
	h.signIn(alice)
	h.signIn(mallory)
	aliceToken := csrfRE.FindStringSubmatch(h.do(alice, "GET", "/", nil).body)
	malloryToken := csrfRE.FindStringSubmatch(h.do(mallory, "GET", "/", nil).body)
	if aliceToken == nil || malloryToken == nil {
		t.Fatal("no CSRF token on the signed-in page")
	}
	tests := []struct {
		name    string
		form    url.Values
		headers map[string]string
		want    int
		code    string
	}{
		{"no token", url.Values{"title": {"x"}}, nil, 403, "csrf"},
		{"wrong token", url.Values{"title": {"x"}, "csrf": {"AAAA"}}, nil, 403, "csrf"},
		{"another session's token", url.Values{"title": {"x"}, "csrf": {malloryToken[1]}}, nil, 403, "csrf"},
		{"cross-site post", url.Values{"title": {"x"}, "csrf": {aliceToken[1]}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, "csrf"},
		{"cross-origin post", url.Values{"title": {"x"}, "csrf": {aliceToken[1]}}, map[string]string{"Origin": "https://evil.example"}, 403, "csrf"},
		// Past the CSRF check the request reaches the API, which does not
		// run in this test.
		{"right token", url.Values{"title": {"x"}, "csrf": {aliceToken[1]}}, nil, 503, "api_unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", h.srv.URL+"/todos", strings.NewReader(tc.form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			res, err := alice.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.want || errorCode(string(b)) != tc.code {
				t.Fatalf("POST /todos = %d %q, want %d %q", res.StatusCode, errorCode(string(b)), tc.want, tc.code)
			}
		})
	}
	t.Run("sign-out needs the token", func(t *testing.T) {
		r := h.do(alice, "POST", "/logout", url.Values{})
		if r.status != 403 {
			t.Fatalf("POST /logout without token = %d, want 403", r.status)
		}
		if home := h.do(alice, "GET", "/", nil); strings.Contains(home.body, `id="signed-out"`) {
			t.Fatal("signed out by a forged form")
		}
	})
}

func TestUnreachable(t *testing.T) {
	t.Run("authorization server down at start", func(t *testing.T) {
		// New must not need the authorization server; /login shows a page.
		down := httptest.NewTLSServer(http.NotFoundHandler())
		issuer := down.URL
		down.Close()
		h := newHarness(t, nil, issuer)
		r := h.do(h.client, "GET", "/login", nil)
		if r.status != 503 || errorCode(r.body) != "authz_unavailable" {
			t.Fatalf("GET /login = %d %q, want 503 authz_unavailable", r.status, errorCode(r.body))
		}
		if home := h.do(h.client, "GET", "/", nil); home.status != 200 {
			t.Fatalf("signed-out page = %d while the authorization server is down", home.status)
		}
	})
	t.Run("discovery retried once the server is up", func(t *testing.T) {
		op := newFakeOP(t)
		h := newHarness(t, op, op.issuer())
		h.app.disc.retryFloor = 0
		h.app.disc.issuer = op.issuer() + "/wrong" // 404 first
		if r := h.do(h.client, "GET", "/login", nil); r.status != 503 {
			t.Fatalf("GET /login = %d, want 503", r.status)
		}
		h.app.disc.issuer = op.issuer()
		h.startLogin(h.client)
	})
	t.Run("API down", func(t *testing.T) {
		op := newFakeOP(t)
		h := newHarness(t, op, op.issuer())
		h.signIn(h.client)
		r := h.do(h.client, "GET", "/", nil)
		if r.status != 503 || errorCode(r.body) != "api_unavailable" {
			t.Fatalf("GET / = %d %q, want 503 api_unavailable", r.status, errorCode(r.body))
		}
		if !strings.Contains(r.body, `id="sign-out"`) {
			t.Error("API error page offers no sign-out")
		}
	})
}

// TestRefreshSerialized fires many requests for one session at an expired
// access token: exactly one refresh reaches the token endpoint, and no
// refresh token is presented twice (RFC 9700 §4.14.2 reuse detection would
// revoke the family).
func TestRefreshSerialized(t *testing.T) {
	op := newFakeOP(t)
	op.refreshLag = 50 * time.Millisecond
	h := newHarness(t, op, op.issuer())
	ctx := t.Context()
	const grant = "g1"
	op.addRefreshToken("rt-start")
	if err := h.app.tokens.save(ctx, grant, tokenRecord{
		AccessToken: "at-old", RefreshToken: "rt-start", Subject: "user-1",
		Obtained: time.Now().Add(-2 * time.Minute), Expiry: time.Now().Add(-time.Minute),
	}); err != nil {
		t.Fatal(err)
	}

	for round := 1; round <= 3; round++ {
		var wg sync.WaitGroup
		tokens := make([]string, 32)
		errs := make([]error, 32)
		for i := range tokens {
			wg.Go(func() {
				rec, err := h.app.accessToken(ctx, grant, "")
				tokens[i], errs[i] = rec.AccessToken, err
			})
		}
		wg.Wait()
		for i := range tokens {
			if errs[i] != nil {
				t.Fatalf("round %d: request %d: %v", round, i, errs[i])
			}
			if tokens[i] != tokens[0] {
				t.Fatalf("round %d: requests got different tokens %q and %q", round, tokens[0], tokens[i])
			}
		}
		refreshes, reuses := op.counts()
		if refreshes != round || reuses != 0 {
			t.Fatalf("round %d: %d refreshes, %d reuses; want %d and 0", round, refreshes, reuses, round)
		}
		// The API refuses the token: everyone asks again with it as stale;
		// still one refresh.
		stale := tokens[0]
		for i := range tokens {
			wg.Go(func() {
				rec, err := h.app.accessToken(ctx, grant, stale)
				tokens[i], errs[i] = rec.AccessToken, err
			})
		}
		wg.Wait()
		for i := range tokens {
			if errs[i] != nil || tokens[i] == stale {
				t.Fatalf("round %d (stale): request %d got %q, %v", round, i, tokens[i], errs[i])
			}
		}
		if refreshes, reuses = op.counts(); refreshes != round+1 || reuses != 0 {
			t.Fatalf("round %d (stale): %d refreshes, %d reuses", round, refreshes, reuses)
		}
		// Expire the current token for the next round.
		rec, err := h.app.tokens.load(ctx, grant)
		if err != nil {
			t.Fatal(err)
		}
		rec.Expiry = time.Now().Add(-time.Second)
		if err := h.app.tokens.save(ctx, grant, rec); err != nil {
			t.Fatal(err)
		}
		op.mu.Lock()
		op.refreshes--
		op.mu.Unlock()
	}
}

// onlyGrant returns the grant ID of the one signed-in session.
func (h *harness) onlyGrant() string {
	h.t.Helper()
	all, err := h.app.tokens.store.(interface {
		All() (map[string][]byte, error)
	}).All()
	if err != nil {
		h.t.Fatal(err)
	}
	var grants []string
	for k := range all {
		if g, ok := strings.CutPrefix(k, tokenKeyPrefix); ok {
			grants = append(grants, g)
		}
	}
	if len(grants) != 1 {
		h.t.Fatalf("%d token records, want 1", len(grants))
	}
	return grants[0]
}

func (h *harness) expireAccessToken(grant string) {
	h.t.Helper()
	rec, err := h.app.tokens.load(h.t.Context(), grant)
	if err != nil {
		h.t.Fatal(err)
	}
	rec.Expiry = time.Now().Add(-time.Second)
	if err := h.app.tokens.save(h.t.Context(), grant, rec); err != nil {
		h.t.Fatal(err)
	}
}

func TestRefreshRefusedAsksToSignIn(t *testing.T) {
	op := newFakeOP(t)
	h := newHarness(t, op, op.issuer())
	h.signIn(h.client)
	grant := h.onlyGrant()
	h.expireAccessToken(grant)
	op.mu.Lock()
	op.refuseAll = true
	op.mu.Unlock()

	r := h.do(h.client, "GET", "/", nil)
	if r.status != http.StatusUnauthorized || errorCode(r.body) != "session_expired" || !strings.Contains(r.body, `href="/login"`) {
		t.Fatalf("GET / = %d %q, want 401 session_expired with a sign-in link", r.status, errorCode(r.body))
	}
	if _, err := h.app.tokens.load(t.Context(), grant); !errors.Is(err, errSignInAgain) {
		t.Errorf("refused tokens still stored: %v", err)
	}
	if r := h.do(h.client, "GET", "/", nil); r.status != 200 || !strings.Contains(r.body, `id="signed-out"`) {
		t.Errorf("after an expired session, GET / = %d, want the signed-out page", r.status)
	}
	// A form posted from a page of the expired session.
	if r := h.do(h.client, "POST", "/todos", url.Values{"title": {"x"}}); r.status != 401 || errorCode(r.body) != "session_expired" {
		t.Errorf("POST /todos = %d %q, want 401 session_expired", r.status, errorCode(r.body))
	}
}

func TestSignOut(t *testing.T) {
	op := newFakeOP(t)
	h := newHarness(t, op, op.issuer())
	h.signIn(h.client)
	grant := h.onlyGrant()
	rec, err := h.app.tokens.load(t.Context(), grant)
	if err != nil {
		t.Fatal(err)
	}
	home := h.do(h.client, "GET", "/", nil).body
	// The signed-in page links to the account page at the provider.
	if want := `href="` + op.issuer() + `/account" id="account"`; !strings.Contains(home, want) {
		t.Errorf("no account link %s on the signed-in page", want)
	}
	tok := csrfRE.FindStringSubmatch(home)
	r := h.do(h.client, "POST", "/logout", url.Values{"csrf": {tok[1]}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("POST /logout = %d, want 303", r.status)
	}
	u, err := url.Parse(r.location)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != op.issuer()+"/end_session" {
		t.Fatalf("sign-out redirects to %q, want the end_session_endpoint", r.location)
	}
	q := u.Query()
	if q.Get("id_token_hint") != rec.IDToken || q.Get("post_logout_redirect_uri") != h.srv.URL+"/" || q.Get("client_id") != "webapp" {
		t.Errorf("end_session parameters %v", q)
	}
	op.mu.Lock()
	revoked := op.revoked
	op.mu.Unlock()
	if len(revoked) != 1 || revoked[0] != rec.RefreshToken {
		t.Errorf("revoked %v, want [%s]", revoked, rec.RefreshToken)
	}
	if _, err := h.app.tokens.load(t.Context(), grant); !errors.Is(err, errSignInAgain) {
		t.Errorf("tokens kept after sign-out: %v", err)
	}
	if home := h.do(h.client, "GET", "/", nil); !strings.Contains(home.body, `id="signed-out"`) {
		t.Error("still signed in after sign-out")
	}
}

func TestFreshMargin(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name string
		rec  tokenRecord
		want bool
	}{
		{"long-lived, far from expiry", tokenRecord{AccessToken: "a", Obtained: now, Expiry: now.Add(5 * time.Minute)}, true},
		{"long-lived, within 30s", tokenRecord{AccessToken: "a", Obtained: now.Add(-5 * time.Minute), Expiry: now.Add(20 * time.Second)}, false},
		{"2s token, just issued", tokenRecord{AccessToken: "a", Obtained: now, Expiry: now.Add(2 * time.Second)}, true},
		{"2s token, last third", tokenRecord{AccessToken: "a", Obtained: now.Add(-1500 * time.Millisecond), Expiry: now.Add(500 * time.Millisecond)}, false},
		{"expired", tokenRecord{AccessToken: "a", Obtained: now.Add(-time.Hour), Expiry: now.Add(-time.Second)}, false},
		{"no expiry", tokenRecord{AccessToken: "a", Obtained: now}, true},
		{"no token", tokenRecord{}, false},
	}
	for _, tc := range tests {
		if got := tc.rec.fresh(now); got != tc.want {
			t.Errorf("%s: fresh = %v, want %v", tc.name, got, tc.want)
		}
	}
}
