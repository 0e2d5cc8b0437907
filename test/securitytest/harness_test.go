package securitytest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/assemble/assembletest"
	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/testlog"
)

// Registered clients and the person who signs in. The secrets are test
// values; TestChecklist_NoSecretsInLogs greps the logs for each of them.
const (
	webappClientID = "gatehouse-webapp"
	webappSecret   = "sec-webapp-5b1f0c7d2e"
	apiClientID    = "gatehouse-api"
	apiSecret      = "sec-api-9a8e7c6b5d"
	thirdClientID  = "third"
	thirdSecret    = "sec-third-1c2d3e4f5a"
	thirdRedirect  = "https://third.example/cb"
	thirdLogout    = "https://third.example/"
	legacyClientID = "legacy"
	legacySecret   = "sec-legacy-7f6e5d4c3b"
	legacyRedirect = "https://legacy.example/cb"
	nativeClientID = "native"
	nativeRedirect = "http://127.0.0.1/callback"
	robotClientID  = "robot"
	robotSecret    = "sec-robot-0a1b2c3d4e"

	username     = "ada"
	userPassword = "pw-Correct-Horse-7731"
	userName     = "Ada Lovelace"
	userEmail    = "ada@example.com"
	userSub      = "user-ada"
)

// stack is the roles `gatehouse serve` runs, built by package assemble
// and served over HTTPS on one SQLite store, each behind the middleware the
// binary wraps it in, all logging JSON at debug level into logs.
type stack struct {
	t      *testing.T
	ctx    context.Context
	store  *sqlstore.Store
	key    *secret.Key
	cfg    *config.Serve
	authz  endpoint
	api    endpoint
	webapp endpoint
	client *http.Client // trusts the stack's certificates
	logs   *testlog.Buffer
	// issuer and audience as the roles see them.
	issuer, audience string
	apiURL           string // the API prefix, …/api

	mu   sync.Mutex
	html []htmlResponse // every HTML answer a browser of this stack received
}

// endpoint is where one role listens.
type endpoint struct {
	URL  string // https://host:port
	Host string // host:port
}

// htmlResponse is an HTML answer as a browser received it.
type htmlResponse struct {
	url    string
	status int
	header http.Header
}

// lockout keeps sign-in throttling out of the way of the tests that sign
// in many times.
var lockout = authz.Lockout{Delay: time.Millisecond, UserLimit: 1000, AddressLimit: 1000}

func startStack(t *testing.T) *stack {
	t.Helper()
	gs := assembletest.Start(t, assembletest.Options{Seed: seed, Lockout: lockout})
	c := gs.Config
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &stack{t: t, ctx: ctx, store: gs.Store, key: gs.Key, cfg: c, client: gs.Client, logs: gs.Logs,
		authz:  endpoint{c.IssuerURL(), c.AuthzAddr},
		api:    endpoint{c.APIPublicURL(), c.APIAddr},
		webapp: endpoint{c.WebappPublicURL(), c.WebappAddr},
		issuer: c.IssuerURL(), audience: c.APIPublicURL(), apiURL: c.APIPublicURL() + api.Prefix,
	}
}

// seed registers the person and the clients the checklist uses.
func seed(ctx context.Context, st *sqlstore.Store, c *config.Serve) error {
	webappURL := c.WebappPublicURL()
	all := []string{"openid", "profile", "email", "offline_access", "todos:read", "todos:write"}
	return assembletest.Register(ctx, st, c.DataDir,
		[]assembletest.Person{{User: storage.User{ID: userSub, Username: username, Email: userEmail, Name: userName}, Password: userPassword}},
		[]assembletest.Client{
			{Client: storage.Client{ID: webappClientID, Name: "Gatehouse Web App",
				RedirectURIs: []string{webappURL + "/callback"}, PostLogoutRedirectURIs: []string{webappURL + "/"},
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: all, FirstParty: true}, Secret: webappSecret},
			{Client: storage.Client{ID: thirdClientID, Name: "Third Party Planner",
				RedirectURIs: []string{thirdRedirect}, PostLogoutRedirectURIs: []string{thirdLogout},
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: all}, Secret: thirdSecret},
			{Client: storage.Client{ID: legacyClientID, Name: "Legacy", RedirectURIs: []string{legacyRedirect},
				GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid", "todos:read"}, PKCEOptional: true, FirstParty: true}, Secret: legacySecret},
			{Client: storage.Client{ID: nativeClientID, Name: "Native CLI", Public: true, RedirectURIs: []string{nativeRedirect},
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access", "todos:read"}}},
			{Client: storage.Client{ID: robotClientID, Name: "Robot",
				GrantTypes: []string{"client_credentials"}, Scopes: []string{"todos:read", "todos:write"}}, Secret: robotSecret},
			{Client: storage.Client{ID: apiClientID, Name: "Gatehouse API", ResourceAudience: c.APIPublicURL()}, Secret: apiSecret},
		})
}

// knownHosts are the stack's own hosts.
func (s *stack) knownHosts() []string {
	return []string{s.authz.Host, s.api.Host, s.webapp.Host}
}

// recorder notes every HTML answer for TestChecklist_ClickjackingHeaders.
type recorder struct {
	s    *stack
	next http.RoundTripper
}

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.next.RoundTrip(req)
	if err == nil && strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		r.s.mu.Lock()
		r.s.html = append(r.s.html, htmlResponse{url: req.URL.String(), status: res.StatusCode, header: res.Header.Clone()})
		r.s.mu.Unlock()
	}
	return res, err
}

// browser is a user agent with its own cookie jar. It follows redirects
// between the stack's own servers and stops at any other address (a
// client's redirect URI that does not exist), leaving that redirect as the
// answer; visited gets every URL it requested.
type browser struct {
	*http.Client
	jar     http.CookieJar
	mu      sync.Mutex
	visited []string
	codes   []int // status of every redirect followed or stopped at
}

func (s *stack) browser() *browser {
	jar, _ := cookiejar.New(nil)
	b := &browser{jar: jar}
	own := s.knownHosts()
	b.Client = &http.Client{
		Transport: recorder{s: s, next: s.client.Transport},
		Jar:       jar,
		Timeout:   30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			b.mu.Lock()
			b.visited = append(b.visited, req.URL.String())
			if req.Response != nil {
				b.codes = append(b.codes, req.Response.StatusCode)
			}
			b.mu.Unlock()
			for _, h := range own {
				if req.URL.Host == h {
					return nil
				}
			}
			return http.ErrUseLastResponse
		},
	}
	return b
}

// page is an answer as a person sees it.
type page struct {
	status int
	url    *url.URL // where the browser ended up
	header http.Header
	body   string
}

// location is the redirect the browser stopped at, or nil.
func (p page) location(t *testing.T) *url.URL {
	t.Helper()
	l := p.header.Get("Location")
	if l == "" {
		return nil
	}
	u, err := p.url.Parse(l)
	if err != nil {
		t.Fatalf("bad Location %q: %v", l, err)
	}
	return u
}

func (p page) has(s string) bool { return strings.Contains(p.body, s) }

func (b *browser) do(t *testing.T, req *http.Request) page {
	t.Helper()
	b.mu.Lock()
	b.visited = append(b.visited, req.URL.String())
	b.mu.Unlock()
	res, err := b.Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{status: res.StatusCode, url: res.Request.URL, header: res.Header, body: string(body)}
}

func (b *browser) get(t *testing.T, u string) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.do(t, req)
}

func (b *browser) post(t *testing.T, u string, form url.Values) page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(t, req)
}

// form is one HTML form of a page.
type form struct {
	method, action string // action resolved against the page's URL
	fields         url.Values
}

var (
	formRE   = regexp.MustCompile(`(?s)<form([^>]*)>(.*?)</form>`)
	inputRE  = regexp.MustCompile(`<(?:input|button)[^>]*>`)
	attrRE   = regexp.MustCompile(`([\w-]+)="([^"]*)"`)
	csrfName = regexp.MustCompile(`(?i)csrf`)
)

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(tag, -1) {
		m[strings.ToLower(a[1])] = html.UnescapeString(a[2])
	}
	return m
}

// forms returns every form of the page.
func (p page) forms(t *testing.T) []form {
	t.Helper()
	var out []form
	for _, m := range formRE.FindAllStringSubmatch(p.body, -1) {
		fa := attrs(m[1])
		act, err := p.url.Parse(fa["action"])
		if err != nil {
			t.Fatalf("form action %q: %v", fa["action"], err)
		}
		f := form{method: strings.ToUpper(fa["method"]), action: act.String(), fields: url.Values{}}
		if f.method == "" {
			f.method = http.MethodGet
		}
		for _, in := range inputRE.FindAllString(m[2], -1) {
			a := attrs(in)
			if a["name"] != "" && !(strings.HasPrefix(in, "<button") && a["value"] == "") {
				f.fields.Set(a["name"], a["value"])
			}
		}
		out = append(out, f)
	}
	return out
}

// form finds the form posting to an action ending with suffix.
func (p page) form(t *testing.T, suffix string) form {
	t.Helper()
	for _, f := range p.forms(t) {
		if strings.HasSuffix(f.action, suffix) {
			f.fields = cloneValues(f.fields)
			return f
		}
	}
	t.Fatalf("no form posting to %q on %s (%d):\n%s", suffix, p.url, p.status, p.body)
	return form{}
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// signInWebapp goes from the web app's "Sign in" through the authorization
// server's login page and returns the signed-in page.
func (s *stack) signInWebapp(b *browser) page {
	t := s.t
	t.Helper()
	p := b.get(t, s.webapp.URL+"/login")
	if p.url.Host != s.authz.Host || !p.has(`name="password"`) {
		t.Fatalf("GET /login landed on %s (%d), want the authorization server's login page", p.url, p.status)
	}
	f := p.form(t, "/login")
	f.fields.Set("username", username)
	f.fields.Set("password", userPassword)
	p = b.post(t, f.action, f.fields)
	if p.status != 200 || p.url.Host != s.webapp.Host || !p.has(userName) {
		t.Fatalf("after sign-in: %d at %s, want the web app's signed-in page:\n%s", p.status, p.url, p.body)
	}
	return p
}

// pkce returns a fresh verifier and its S256 challenge (RFC 7636 §4.2).
func pkce(t *testing.T) (verifier, challenge string) {
	t.Helper()
	tok, err := secret.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	verifier = "v-" + tok + tok
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

// authParams is a good authorization request.
func authParams(t *testing.T, clientID, redirect, challenge, scope string) url.Values {
	t.Helper()
	state, err := secret.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	v := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"scope": {scope}, "state": {"st-" + state}, "nonce": {"n-" + state[:8]},
	}
	if challenge != "" {
		v.Set("code_challenge", challenge)
		v.Set("code_challenge_method", "S256")
	}
	return v
}

// authorize runs /authorize → login → consent (allowed) for a client whose
// redirect URI is not one of the stack's servers, and returns the redirect
// to the client the browser stopped at.
func (s *stack) authorize(b *browser, p url.Values) *url.URL {
	t := s.t
	t.Helper()
	pg := b.get(t, s.issuer+"/authorize?"+p.Encode())
	if strings.HasSuffix(pg.url.Path, "/login") && pg.status == 200 {
		f := pg.form(t, "/login")
		f.fields.Set("username", username)
		f.fields.Set("password", userPassword)
		pg = b.post(t, f.action, f.fields)
	}
	if strings.HasSuffix(pg.url.Path, "/consent") && pg.status == 200 {
		f := pg.form(t, "/consent")
		f.fields.Set("decision", "allow")
		pg = b.post(t, f.action, f.fields)
	}
	u := pg.location(t)
	if u == nil {
		t.Fatalf("authorization request ended at %s (%d) without a redirect to the client:\n%s", pg.url, pg.status, pg.body)
	}
	return u
}

// code runs a good authorization request and returns its code.
func (s *stack) code(b *browser, p url.Values) string {
	t := s.t
	t.Helper()
	u := s.authorize(b, p)
	q := u.Query()
	if q.Get("error") != "" || q.Get("code") == "" {
		t.Fatalf("authorization response %s, want a code", u)
	}
	return q.Get("code")
}

type tokenResponse struct {
	status           int
	header           http.Header
	AccessToken      string `json:"access_token"`
	RefreshToken     string `json:"refresh_token"`
	IDToken          string `json:"id_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// postForm posts form to an authorization-server endpoint, authenticating
// with client_secret_basic when id is set (RFC 6749 §2.3.1).
func (s *stack) postForm(path, id, secretValue string, form url.Values) (*http.Response, []byte) {
	t := s.t
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secretValue))
	}
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res, body
}

func (s *stack) token(id, secretValue string, form url.Values) tokenResponse {
	res, body := s.postForm("/token", id, secretValue, form)
	tr := tokenResponse{status: res.StatusCode, header: res.Header}
	_ = json.Unmarshal(body, &tr)
	return tr
}

func (s *stack) exchange(id, secretValue, code, redirect, verifier string) tokenResponse {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
	if verifier != "" {
		f.Set("code_verifier", verifier)
	}
	return s.token(id, secretValue, f)
}

func (s *stack) refresh(id, secretValue, rt string) tokenResponse {
	return s.token(id, secretValue, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// thirdPartyTokens runs the whole code flow for the third-party client.
func (s *stack) thirdPartyTokens(b *browser) tokenResponse {
	t := s.t
	t.Helper()
	v, ch := pkce(t)
	code := s.code(b, authParams(t, thirdClientID, thirdRedirect, ch, "openid offline_access todos:read todos:write"))
	tr := s.exchange(thirdClientID, thirdSecret, code, thirdRedirect, v)
	if tr.status != 200 || tr.AccessToken == "" || tr.RefreshToken == "" {
		t.Fatalf("code exchange: %d %s %s", tr.status, tr.Error, tr.ErrorDescription)
	}
	return tr
}

// active asks the introspection endpoint whether tok is active (RFC 7662
// §2.2): as the API's client (a resource server, which sees access tokens
// meant for it) and as each confidential client that owns tokens here (a
// client sees its own refresh tokens).
func (s *stack) active(tok string) bool {
	t := s.t
	t.Helper()
	for _, c := range [][2]string{{apiClientID, apiSecret}, {webappClientID, webappSecret}, {thirdClientID, thirdSecret}, {robotClientID, robotSecret}} {
		res, body := s.postForm("/introspect", c[0], c[1], url.Values{"token": {tok}})
		var m map[string]any
		if res.StatusCode != 200 || json.Unmarshal(body, &m) != nil {
			t.Fatalf("introspection answered %d: %s", res.StatusCode, body)
		}
		if m["active"] == true {
			return true
		}
	}
	return false
}

// apiGet calls the API with the token in the Authorization header (if any).
func (s *stack) apiGet(path, token string) (int, http.Header, string) {
	t := s.t
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.apiURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(body)
}

// webappTokens reads the tokens the web app holds from its session store.
// They are sealed with the server secret and bound to their key; this
// mirrors internal/webapp's record format, for tests only.
func (s *stack) webappTokens() []string {
	t := s.t
	t.Helper()
	rows, err := s.store.DB().Query(`SELECT token, data FROM sessions WHERE token LIKE 'webapp-tokens:%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		var b []byte
		if err := rows.Scan(&k, &b); err != nil {
			t.Fatal(err)
		}
		plain, err := s.key.Open(b, []byte(k))
		if err != nil {
			t.Fatalf("opening token record: %v", err)
		}
		var rec struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			IDToken      string `json:"id_token"`
		}
		if err := json.Unmarshal(plain, &rec); err != nil {
			t.Fatal(err)
		}
		for _, tok := range []string{rec.AccessToken, rec.RefreshToken, rec.IDToken} {
			if tok != "" {
				out = append(out, tok)
			}
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sibling starts a second authorization-server instance on the stack's
// installation — its data directory: the same database, secret and
// certificates, so the same signing keys — under the same issuer, that
// puts audience in its access tokens, and returns its URL. Its API client
// is one not registered, so that its start leaves the stack's API client
// as it is.
func (s *stack) sibling(audience string) string {
	t := s.t
	t.Helper()
	gs := assembletest.Start(t, assembletest.Options{Lockout: lockout, Args: []string{
		"--roles", "authz", "--data-dir", s.cfg.DataDir, "--issuer", s.issuer, "--api-url", audience, "--api-client-id", "sibling-api",
	}})
	return "https://" + gs.Config.AuthzAddr
}
