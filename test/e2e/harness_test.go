package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/assemble/assembletest"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/testlog"
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
	accessTTL     time.Duration // authorization server's access-token lifetime (--access-token-ttl)
	notFirstParty bool          // register the web app as a third party, so consent is asked
	noAPI         bool          // run no API (--roles authz,webapp): its address refuses connections
}

// endpoint is where one role listens.
type endpoint struct {
	URL  string // https://host:port
	Host string // host:port
}

// stack is the roles `gatehouse serve` runs, built by package assemble and
// served over HTTPS on one SQLite store.
type stack struct {
	t       *testing.T
	store   *sqlstore.Store
	key     *secret.Key
	authz   endpoint
	api     endpoint
	webapp  endpoint
	client  *http.Client // trusts the stack's certificates
	audit   *testlog.Buffer
	apiURL  string // the API prefix, …/api
	userSub string
}

func startStack(t *testing.T, o options) *stack {
	t.Helper()
	var args []string
	if o.accessTTL > 0 {
		args = append(args, "--access-token-ttl", o.accessTTL.String())
	}
	if o.noAPI {
		args = append(args, "--roles", "authz,webapp")
	}
	gs := assembletest.Start(t, assembletest.Options{Args: args, Seed: func(ctx context.Context, st *sqlstore.Store, c *config.Serve) error {
		return seed(ctx, st, c.DataDir, c.WebappPublicURL(), c.APIPublicURL(), !o.notFirstParty)
	}})
	c := gs.Config
	s := &stack{t: t, store: gs.Store, key: gs.Key, client: gs.Client, audit: gs.Logs, userSub: userSub,
		authz:  endpoint{c.IssuerURL(), c.AuthzAddr},
		api:    endpoint{c.APIPublicURL(), c.APIAddr},
		webapp: endpoint{c.WebappPublicURL(), c.WebappAddr},
		apiURL: c.APIPublicURL() + api.Prefix,
	}
	if gs.Docs != nil {
		s.seedTodos(gs.Docs)
	}
	return s
}

// userSub is the person's subject.
const userSub = "user-ada"

// seed registers the person and the web app's and the API's clients, the
// web app's redirect URIs at webappURL, the API's client a resource server
// for apiBase.
func seed(ctx context.Context, st *sqlstore.Store, dataDir, webappURL, apiBase string, firstParty bool) error {
	return assembletest.Register(ctx, st, dataDir,
		[]assembletest.Person{{User: storage.User{ID: userSub, Username: username, Email: userEmail, Name: userName}, Password: userPassword}},
		[]assembletest.Client{
			{Client: storage.Client{ID: webappClientID, Name: "Gatehouse Web App",
				RedirectURIs: []string{webappURL + "/callback"}, PostLogoutRedirectURIs: []string{webappURL + "/"},
				GrantTypes: []string{"authorization_code", "refresh_token"},
				Scopes:     []string{"openid", "profile", "email", "offline_access", "todos:read", "todos:write"},
				FirstParty: firstParty, IDTokenAlg: webappIDTokenAlg}, Secret: webappSecret},
			{Client: storage.Client{ID: apiClientID, Name: "Gatehouse API", ResourceAudience: apiBase}, Secret: apiSecret},
		})
}

// seedTodos puts seededTodos in the API for the person.
func (s *stack) seedTodos(docs *docstore.Store) {
	now := time.Now().UTC()
	var seeded []docstore.Document
	for i, title := range seededTodos {
		data, _ := json.Marshal(map[string]any{"title": title, "done": false})
		at := now.Add(time.Duration(i) * time.Second)
		seeded = append(seeded, docstore.Document{ID: docstore.NewID(), Owner: s.userSub,
			Created: at, Updated: at, ETag: docstore.NewETag(), Data: data})
	}
	if err := docs.Insert(context.Background(), "todos", seeded); err != nil {
		s.t.Fatalf("seeding todos: %v", err)
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
	if p.url.Host != s.authz.Host || !p.has(`name="password"`) {
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
	if p.status != 200 || p.url.Host != s.webapp.Host || !p.has(userName) || !p.has(userEmail) {
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
