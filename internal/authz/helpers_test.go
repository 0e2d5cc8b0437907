package authz

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
	"github.com/gatehouse-dev/gatehouse/internal/testlog"
)

const (
	apiAudience   = "https://api.example"
	webappSecret  = "webapp-secret-value"
	thirdSecret   = "third-secret-value"
	apiSecret     = "api-secret-value"
	legacySecret  = "legacy-secret-value"
	alicePassword = "correct horse battery"
	webappRedir   = "https://app.example/callback"
	thirdRedir    = "https://third.example/cb"
	nativeRedir   = "http://127.0.0.1/callback"
	legacyRedir   = "https://legacy.example/cb"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type env struct {
	t      testing.TB
	srv    *Server
	ts     *httptest.Server
	store  storage.Store
	clock  *clock
	logs   *testlog.Buffer
	secret *secret.Key
	cfg    Config
}

var cheap = password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// newEnv starts the server over HTTPS against a fresh SQLite database.
func newEnv(t *testing.T) *env { return newEnvDSN(t, storagetest.SQLite(t), nil) }

func newEnvDSN(t testing.TB, dsn string, tweak func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	seed(t, st)
	key, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	var h http.Handler = http.NotFoundHandler()
	var mu sync.RWMutex
	ts := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.RLock()
		hh := h
		mu.RUnlock()
		hh.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	clk := &clock{t: time.Now().UTC()}
	logs := &testlog.Buffer{}
	cfg := Config{
		Issuer: ts.URL, Store: st, Secret: key, Audience: apiAudience,
		ResourceScopes: []string{"todos:read", "todos:write"},
		Logger:         slog.New(slog.NewJSONHandler(logs, nil)),
		Now:            clk.Now,
		Lockout:        Lockout{Delay: time.Millisecond, UserLimit: 5, AddressLimit: 50},
		PasswordParams: cheap,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	srv, err := New(ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mu.Lock()
	h = srv.Handler()
	mu.Unlock()
	return &env{t: t, srv: srv, ts: ts, store: st, clock: clk, logs: logs, secret: key, cfg: cfg}
}

func seed(t testing.TB, st storage.Store) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	ph, err := password.HashWithParams(alicePassword, cheap)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []storage.User{
		{ID: "u-alice", Username: "alice", Email: "alice@example.com", Name: "Alice Example", PasswordHash: ph, CreatedAt: now, UpdatedAt: now},
		{ID: "u-bob", Username: "bob", Email: "bob@example.com", Name: "Bob", PasswordHash: ph, CreatedAt: now, UpdatedAt: now},
	} {
		if err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	all := []string{"openid", "profile", "email", "offline_access", "todos:read", "todos:write"}
	for _, c := range []storage.Client{
		{ID: "gatehouse-webapp", Name: "Gatehouse Web App", SecretHash: secret.HashToken(webappSecret), RedirectURIs: []string{webappRedir},
			PostLogoutRedirectURIs: []string{"https://app.example/"}, GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: all, FirstParty: true},
		{ID: "third", Name: "Third Party Planner", SecretHash: secret.HashToken(thirdSecret), RedirectURIs: []string{thirdRedir},
			GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, Scopes: []string{"openid", "profile", "offline_access", "todos:read"}},
		{ID: "native", Name: "Native CLI", Public: true, RedirectURIs: []string{nativeRedir},
			GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access", "todos:read"}},
		{ID: "legacy", Name: "Legacy", SecretHash: secret.HashToken(legacySecret), RedirectURIs: []string{legacyRedir},
			GrantTypes: []string{"authorization_code"}, Scopes: []string{"openid", "todos:read"}, PKCEOptional: true, FirstParty: true},
		{ID: "gatehouse-api", Name: "Gatehouse API", SecretHash: secret.HashToken(apiSecret), ResourceAudience: apiAudience},
	} {
		c.CreatedAt, c.UpdatedAt = now, now
		if err := st.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
}

// browser is a user agent with a cookie jar that stops at any redirect
// leaving the authorization server.
func (e *env) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	c := e.ts.Client()
	host := e.ts.Listener.Addr().String()
	return &http.Client{
		Transport: c.Transport,
		Jar:       jar,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != host {
				return http.ErrUseLastResponse
			}
			return nil
		},
	}
}

func pkce() (verifier, challenge string) {
	verifier = strings.Repeat("v", 20) + randomSuffix()
	return verifier, s256(verifier)
}

// s256 is the S256 code challenge of verifier.
func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

var suffixN int
var suffixMu sync.Mutex

func randomSuffix() string {
	suffixMu.Lock()
	defer suffixMu.Unlock()
	suffixN++
	id, _ := newID(time.Now())
	return id + strings.Repeat("x", suffixN%3)
}

// authParams is a good authorization request for client.
func authParams(clientID, redirect, challenge string, scope string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirect},
		"scope": {scope}, "state": {"st-" + randomSuffix()}, "nonce": {"n-1"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
}

func (e *env) get(c *http.Client, u string) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		e.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *env) post(c *http.Client, u string, form url.Values) (*http.Response, string) {
	e.t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		e.t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var hiddenRe = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

func hidden(page string) url.Values {
	v := url.Values{}
	for _, m := range hiddenRe.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// login submits the login form on page.
func (e *env) login(c *http.Client, page, user, pw string) (*http.Response, string) {
	e.t.Helper()
	f := hidden(page)
	f.Set("username", user)
	f.Set("password", pw)
	return e.post(c, e.ts.URL+"/login", f)
}

// callback returns the query of a redirect to the client.
func callback(t testing.TB, resp *http.Response) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("want a redirect to the client, got %d", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// authorizeCode runs /authorize → login (→ consent allow) and returns the
// callback parameters.
func (e *env) authorizeCode(c *http.Client, p url.Values) url.Values {
	e.t.Helper()
	resp, body := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	if strings.Contains(resp.Request.URL.Path, "/login") {
		resp, body = e.login(c, body, "alice", alicePassword)
	}
	if resp.Request != nil && strings.Contains(resp.Request.URL.Path, "/consent") && resp.StatusCode == 200 {
		f := hidden(body)
		f.Set("decision", "allow")
		resp, _ = e.post(c, e.ts.URL+"/consent", f)
	}
	q := callback(e.t, resp)
	if q.Get("error") != "" {
		e.t.Fatalf("authorization error: %s %s", q.Get("error"), q.Get("error_description"))
	}
	return q
}

type tokenResp struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
}

// token posts to /token with client_secret_basic when secret is set.
func (e *env) token(clientID, sec string, form url.Values) (int, tokenResp) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if sec != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(sec))
	} else {
		form.Set("client_id", clientID)
		req.Body = io.NopCloser(strings.NewReader(form.Encode()))
		req.ContentLength = int64(len(form.Encode()))
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var tr tokenResp
	_ = json.NewDecoder(resp.Body).Decode(&tr)
	return resp.StatusCode, tr
}

func (e *env) exchange(clientID, sec, code, redirect, verifier string) (int, tokenResp) {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}}
	if verifier != "" {
		f.Set("code_verifier", verifier)
	}
	return e.token(clientID, sec, f)
}

func (e *env) refresh(clientID, sec, rt string) (int, tokenResp) {
	return e.token(clientID, sec, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// introspect asks as the API's client.
// introspect asks whether tok is active: as the API (a resource server,
// which sees access tokens meant for it) and, when that says inactive, as
// each confidential client that owns tokens in these tests (a client sees
// its own refresh tokens).
func (e *env) introspect(tok string) map[string]any {
	e.t.Helper()
	var m map[string]any
	for _, c := range [][2]string{{"gatehouse-api", apiSecret}, {"gatehouse-webapp", webappSecret}, {"third", thirdSecret}} {
		if m = e.introspectAs(c[0], c[1], tok); m["active"] == true {
			break
		}
	}
	return m
}

// introspectAs introspects tok as the given client.
func (e *env) introspectAs(clientID, sec, tok string) map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, sec)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		e.t.Fatalf("introspect: %d", resp.StatusCode)
	}
	m := map[string]any{}
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return m
}

func (e *env) revoke(clientID, sec, tok, hint string) int {
	e.t.Helper()
	f := url.Values{"token": {tok}}
	if hint != "" {
		f.Set("token_type_hint", hint)
	}
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/revoke", strings.NewReader(f.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, sec)
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// webappTokens runs the full flow for the first-party web app.
func (e *env) webappTokens() tokenResp {
	e.t.Helper()
	v, ch := pkce()
	q := e.authorizeCode(e.browser(), authParams("gatehouse-webapp", webappRedir, ch, "openid profile email todos:read"))
	st, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v)
	if st != 200 {
		e.t.Fatalf("exchange: %d %s", st, tr.Error)
	}
	return tr
}

// sibling starts a second instance of the server on the same store, as
// another replica would be.
func (e *env) sibling() *env {
	e.t.Helper()
	return e.siblingWith(e.cfg)
}

// siblingWith is a second instance on the same store and clock, configured
// with cfg (a restart with other flags).
func (e *env) siblingWith(cfg Config) *env {
	e.t.Helper()
	srv, err := New(context.Background(), cfg)
	if err != nil {
		e.t.Fatalf("second instance: %v", err)
	}
	ts := httptest.NewTLSServer(srv.Handler())
	e.t.Cleanup(ts.Close)
	return &env{t: e.t, srv: srv, ts: ts, store: e.store, clock: e.clock, logs: e.logs, secret: e.secret, cfg: cfg}
}

// raceInstances runs do n times at once, alternating between e and a second
// instance on the same store, and returns how many times do succeeded: the
// test of a one-time rule that must hold across replicas.
func (e *env) raceInstances(n int, do func(inst *env) bool) int {
	e.t.Helper()
	insts := []*env{e, e.sibling()}
	var ok atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			if do(insts[i%2]) {
				ok.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	return int(ok.Load())
}
