package e2e

import (
	"context"
	"encoding/json"
	"fmt"
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
	"testing"
	"time"

	"github.com/alexedwards/scs/sqlite3store"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
	"github.com/gatehouse-dev/gatehouse/internal/webapp"
)

const (
	webappClientID = "gatehouse-webapp"
	webappSecret   = "e2e-webapp-secret"
	apiClientID    = "gatehouse-api"
	apiSecret      = "e2e-api-secret"
	username       = "ada"
	userPassword   = "correct horse battery staple"
	userName       = "Ada Lovelace"
	userEmail      = "ada@example.com"
)

// webappIDTokenAlg is the web app's ID token algorithm, as `gatehouse seed`
// registers it (admin.WebappIDTokenAlg).
const webappIDTokenAlg = "ES256"

// seededTodos are put in the API before the person signs in.
var seededTodos = []string{"Buy milk", "Write the report", "Call the plumber"}

// options change how a stack is started.
type options struct {
	accessTTL     time.Duration // authorization server's access-token lifetime
	notFirstParty bool          // register the web app as a third party, so consent is asked
	noAPI         bool          // start no API: its address refuses connections
}

// stack is the three roles running over HTTPS on one SQLite store.
type stack struct {
	t       *testing.T
	store   *sqlstore.Store
	key     *secret.Key
	authz   *httptest.Server
	api     *httptest.Server
	webapp  *httptest.Server
	client  *http.Client // trusts the test servers' certificate
	audit   *logBuffer
	apiURL  string // the API prefix, …/api
	userSub string
}

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// events returns the audit events with the given name.
func (l *logBuffer) events(name string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["event"] == name {
			out = append(out, m)
		}
	}
	return out
}

// openStore opens a new migrated SQLite store, closed when the test ends,
// and makes a server secret.
func openStore(ctx context.Context, t *testing.T) (*sqlstore.Store, *secret.Key) {
	t.Helper()
	st, err := sqlstore.Open(ctx, storagetest.SQLite(t), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	key, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	return st, key
}

func startStack(t *testing.T, o options) *stack {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	st, key := openStore(ctx, t)

	// Listeners first, so every role knows the others' URLs before it starts.
	s := &stack{t: t, store: st, key: key, audit: &logBuffer{}}
	s.authz = httptest.NewUnstartedServer(nil)
	s.api = httptest.NewUnstartedServer(nil)
	s.webapp = httptest.NewUnstartedServer(nil)
	for _, srv := range []*httptest.Server{s.authz, s.api, s.webapp} {
		t.Cleanup(srv.Close)
	}
	authzURL := "https://" + s.authz.Listener.Addr().String()
	apiBase := "https://" + s.api.Listener.Addr().String()
	webappURL := "https://" + s.webapp.Listener.Addr().String()
	s.apiURL = apiBase + "/api"
	s.seed(ctx, webappURL, !o.notFirstParty)

	logger := slog.New(slog.NewJSONHandler(s.audit, &slog.HandlerOptions{Level: slog.LevelDebug}))
	az, err := authz.New(ctx, authz.Config{
		Issuer:         authzURL,
		Store:          st,
		Secret:         key,
		Logger:         logger,
		Audience:       apiBase,
		ResourceScopes: []string{"todos:read", "todos:write"},
		AccessTokenTTL: o.accessTTL,
	})
	if err != nil {
		t.Fatalf("authz.New: %v", err)
	}
	go func() { _ = az.Run(ctx) }()
	s.authz.Config.Handler = az.Handler()
	s.authz.StartTLS()
	// All httptest servers share one certificate, so one client trusts all.
	s.client = s.authz.Client()

	if o.noAPI {
		s.api.Close() // its address now refuses connections
	} else {
		s.api.Config.Handler = s.startAPI(ctx, authzURL, apiBase, logger)
		s.api.StartTLS()
	}

	sessions := sqlite3store.NewWithCleanupInterval(st.DB(), 0)
	app, err := webapp.New(ctx, webapp.Config{
		PublicURL:    webappURL,
		Issuer:       authzURL,
		APIURL:       s.apiURL,
		ClientID:     webappClientID,
		ClientSecret: webappSecret,
		IDTokenAlg:   webappIDTokenAlg,
		HTTPClient:   s.client,
		Sessions:     sessions,
		Secret:       key,
		Logger:       logger.With("role", "webapp"),
	})
	if err != nil {
		t.Fatalf("webapp.New: %v", err)
	}
	s.webapp.Config.Handler = app.Handler()
	s.webapp.StartTLS()
	return s
}

func (s *stack) seed(ctx context.Context, webappURL string, firstParty bool) {
	t := s.t
	now := time.Now().UTC()
	hash, err := password.HashWithParams(userPassword, password.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	s.userSub = "user-ada"
	if err := s.store.CreateUser(ctx, storage.User{ID: s.userSub, Username: username, Email: userEmail, Name: userName,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []storage.Client{
		{ID: webappClientID, Name: "Gatehouse Web App", SecretHash: secret.HashToken(webappSecret),
			RedirectURIs: []string{webappURL + "/callback"}, PostLogoutRedirectURIs: []string{webappURL + "/"},
			GrantTypes: []string{"authorization_code", "refresh_token"},
			Scopes:     []string{"openid", "profile", "email", "offline_access", "todos:read", "todos:write"},
			FirstParty: firstParty, IDTokenAlg: webappIDTokenAlg},
		{ID: apiClientID, Name: "Gatehouse API", SecretHash: secret.HashToken(apiSecret), ResourceAudience: strings.TrimSuffix(s.apiURL, "/api")},
	} {
		c.CreatedAt, c.UpdatedAt = now, now
		if err := s.store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
}

// browser is a user agent with its own cookie jar that follows redirects.
func (s *stack) browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Transport: s.client.Transport, Jar: jar, Timeout: 30 * time.Second}
}

// page is an answer as a person sees it.
type page struct {
	status int
	url    *url.URL // where the browser ended up
	body   string
}

func (s *stack) get(c *http.Client, u string) page {
	s.t.Helper()
	res, err := c.Get(u)
	if err != nil {
		s.t.Fatalf("GET %s: %v", u, err)
	}
	return readPage(s.t, res)
}

func (s *stack) post(c *http.Client, u string, form url.Values) page {
	s.t.Helper()
	res, err := c.PostForm(u, form)
	if err != nil {
		s.t.Fatalf("POST %s: %v", u, err)
	}
	return readPage(s.t, res)
}

func readPage(t *testing.T, res *http.Response) page {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{status: res.StatusCode, url: res.Request.URL, body: string(b)}
}

var (
	formRE  = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input[^>]*>`)
	attrRE  = regexp.MustCompile(`(\w+)="([^"]*)"`)
)

// form finds the form posting to action (the first whose action ends with
// it) and returns its absolute URL and its fields with their values.
func (p page) form(t *testing.T, action string) (string, url.Values) {
	t.Helper()
	for _, m := range formRE.FindAllStringSubmatch(p.body, -1) {
		act := html.UnescapeString(m[1])
		if !strings.HasSuffix(act, action) {
			continue
		}
		vals := url.Values{}
		for _, in := range inputRE.FindAllString(m[2], -1) {
			attrs := map[string]string{}
			for _, a := range attrRE.FindAllStringSubmatch(in, -1) {
				attrs[a[1]] = html.UnescapeString(a[2])
			}
			if attrs["name"] != "" {
				vals.Set(attrs["name"], attrs["value"])
			}
		}
		u, err := p.url.Parse(act)
		if err != nil {
			t.Fatal(err)
		}
		return u.String(), vals
	}
	t.Fatalf("no form posting to %q on %s:\n%s", action, p.url, p.body)
	return "", nil
}

func (p page) has(s string) bool { return strings.Contains(p.body, s) }

// errorCode is the web app error page's code ("" on other pages).
func (p page) errorCode() string {
	m := regexp.MustCompile(`data-code="([^"]*)"`).FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return m[1]
}

// signIn goes from the web app's "Sign in" through the authorization
// server's login (and consent, allowing or denying it, when asked) and
// returns the page the browser lands on.
func (s *stack) signIn(c *http.Client, allow bool) page {
	s.t.Helper()
	p := s.get(c, s.webapp.URL+"/login")
	if p.url.Host != s.authz.Listener.Addr().String() || !p.has(`name="password"`) {
		s.t.Fatalf("GET /login landed on %s (%d), want the authorization server's login page:\n%s", p.url, p.status, p.body)
	}
	action, form := p.form(s.t, "/login")
	form.Set("username", username)
	form.Set("password", userPassword)
	p = s.post(c, action, form)
	if strings.Contains(p.url.Path, "consent") || p.has(`name="decision"`) {
		action, form := p.form(s.t, "/consent")
		if allow {
			form.Set("decision", "allow")
		} else {
			form.Set("decision", "deny")
		}
		p = s.post(c, action, form)
	}
	return p
}

func (s *stack) signedInPage(c *http.Client) page {
	s.t.Helper()
	p := s.signIn(c, true)
	if p.status != 200 || p.url.Host != s.webapp.Listener.Addr().String() || !p.has(userName) || !p.has(userEmail) {
		s.t.Fatalf("after sign-in: %d at %s, want the signed-in page:\n%s", p.status, p.url, p.body)
	}
	return p
}

// introspect asks the authorization server about one of the web app's
// tokens, as the web app (a client sees its own tokens).
func (s *stack) introspect(tok string) map[string]any {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.authz.URL+"/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(webappClientID, webappSecret)
	res, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&m) != nil {
		s.t.Fatalf("introspection answered %d", res.StatusCode)
	}
	return m
}

// webappRefreshTokens reads the refresh tokens the web app holds from its
// session store. They are sealed with the server secret and bound to their
// key; this mirrors internal/webapp's record format, for tests only.
func (s *stack) webappRefreshTokens() []string {
	s.t.Helper()
	rows, err := s.store.DB().Query(`SELECT token, data FROM sessions WHERE token LIKE 'webapp-tokens:%'`)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var k string
		var b []byte
		if err := rows.Scan(&k, &b); err != nil {
			s.t.Fatal(err)
		}
		plain, err := s.key.Open(b, []byte(k))
		if err != nil {
			s.t.Fatalf("opening token record: %v", err)
		}
		var rec struct {
			RefreshToken string `json:"refresh_token"`
		}
		if err := json.Unmarshal(plain, &rec); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, rec.RefreshToken)
	}
	if err := rows.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

func (s *stack) String() string {
	return fmt.Sprintf("authz %s, api %s, webapp %s", s.authz.URL, s.api.URL, s.webapp.URL)
}
