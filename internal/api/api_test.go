package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/bearer/bearertest"
	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// env is an API served over a real database, with the stores beneath it
// and tokens of a test issuer.
type env struct {
	t        *testing.T
	srv      *httptest.Server
	handler  http.Handler
	ss       *sqlstore.Store
	docs     *docstore.Store
	set      *resource.Set
	issuer   *bearertest.Issuer
	verifier bearer.Verifier
	alice    string // every scope of the setup (read+write by default)
	bob      string // every scope of the setup
	reader   string // alice, the setup's read scopes only
}

// envSetup is what newEnv builds, as its envOptions change it.
type envSetup struct {
	db        sqlstore.Options
	file      string   // a resource file loaded instead of the YAML
	scopes    []string // alice's and bob's
	configure []func(*env, *api.Config)
}

// envOption changes what newEnv builds.
type envOption func(*envSetup)

// withDB opens the database with these options (Migrate is always set).
func withDB(o sqlstore.Options) envOption {
	return func(s *envSetup) { s.db = o }
}

// withFile loads the resources from a file instead of the YAML.
func withFile(path string) envOption {
	return func(s *envSetup) { s.file = path }
}

// withScopes gives alice's and bob's tokens these scopes.
func withScopes(scopes ...string) envOption {
	return func(s *envSetup) { s.scopes = scopes }
}

// withConfig changes the API's configuration before api.New sees it; the
// stores, resources, issuer and verifier of e are set by then.
func withConfig(f func(e *env, c *api.Config)) envOption {
	return func(s *envSetup) { s.configure = append(s.configure, f) }
}

// openStores opens the database at dsn, migrated, and the document store
// on it, both closed when the test ends.
func openStores(t testing.TB, dsn string, o sqlstore.Options) (*sqlstore.Store, *docstore.Store) {
	t.Helper()
	o.Migrate = true
	ss, err := sqlstore.Open(context.Background(), dsn, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	ds, err := docstore.New(ss.DB(), ss.ReadDB(), ss.Dialect())
	if err != nil {
		t.Fatal(err)
	}
	return ss, ds
}

// newEnv serves the resources of yaml (the built-in todos when empty) on
// backend b, verifying the tokens of a test issuer, at the public URL
// https://gh.test, changed as opts say.
func newEnv(t *testing.T, b storagetest.Backend, yaml string, opts ...envOption) *env {
	t.Helper()
	setup := envSetup{scopes: []string{"todos:read", "todos:write"}}
	for _, o := range opts {
		o(&setup)
	}
	ctx := context.Background()
	e := &env{t: t}
	e.ss, e.docs = openStores(t, b.DSN(t), setup.db)
	var err error
	switch {
	case setup.file != "":
		e.set, err = resource.LoadResources(setup.file)
	case yaml == "":
		e.set, err = resource.Default()
	default:
		e.set, err = resource.Parse([]byte(yaml), "test")
	}
	if err != nil {
		t.Fatal(err)
	}
	e.issuer = bearertest.New(t, "https://api.test")
	e.verifier, err = bearer.NewJWTVerifier(ctx, bearer.JWTConfig{Issuer: e.issuer.URL, Audience: "https://api.test"})
	if err != nil {
		t.Fatal(err)
	}
	cfg := api.Config{Resources: e.set, Store: e.docs, Verifier: e.verifier, PublicURL: "https://gh.test"}
	for _, f := range setup.configure {
		f(e, &cfg)
	}
	s, err := api.New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.handler = s.Handler()
	e.srv = httptest.NewServer(e.handler)
	t.Cleanup(e.srv.Close)
	var read []string
	for _, sc := range setup.scopes {
		if strings.HasSuffix(sc, ":read") {
			read = append(read, sc)
		}
	}
	e.alice = e.issuer.Token(t, "alice", setup.scopes...)
	e.bob = e.issuer.Token(t, "bob", setup.scopes...)
	e.reader = e.issuer.Token(t, "alice", read...)
	return e
}

// start serves another instance over e's database, resources and verifier,
// configured otherwise as cfg says, with e's tokens.
func (e *env) start(cfg api.Config) *env {
	e.t.Helper()
	cfg.Resources, cfg.Store, cfg.Verifier = e.set, e.docs, e.verifier
	s, err := api.New(context.Background(), cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	in := *e
	in.handler = s.Handler()
	in.srv = httptest.NewServer(in.handler)
	e.t.Cleanup(in.srv.Close)
	return &in
}

// todosYAML is a resource file of one todos resource (the test tokens'
// scopes): top goes at the top level, settings (lines indented for the
// resource) and then schema under todos.
func todosYAML(top, settings, schema string) string {
	return top + `
resources:
  todos:
    resource_methods: [GET, POST]
    item_methods: [GET, PATCH, PUT, DELETE]
    owner_field: owner
` + settings + "\n" + schema
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (e *env) do(method, path, token, body string, hdr ...string) resp {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &r.body)
	return r
}

func (e *env) want(r resp, status int) {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.raw)
	}
	// Eve's answer to an invalid PATCH or PUT has _issues but no _error.
	if status >= 400 && (r.body["_status"] != "ERR" || (r.body["_error"] == nil && (status != 422 || r.body["_issues"] == nil))) {
		e.t.Fatalf("error body not in Eve's envelope: %s", r.raw)
	}
}

func (e *env) post(token, body string) resp {
	e.t.Helper()
	r := e.do("POST", "/api/todos", token, body)
	e.want(r, 201)
	return r
}

func titles(r resp) []string {
	var out []string
	items, _ := r.body["_items"].([]any)
	for _, it := range items {
		out = append(out, fmt.Sprint(it.(map[string]any)["title"]))
	}
	return out
}

func TestAPI(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b, "")
			t.Run("home", func(t *testing.T) { e.t = t; testHome(e) })
			t.Run("crud", func(t *testing.T) { e.t = t; testCRUD(e) })
			t.Run("queries", func(t *testing.T) { e.t = t; testQueries(e) })
			t.Run("errors", func(t *testing.T) { e.t = t; testErrors(e) })
			t.Run("ownership", func(t *testing.T) { e.t = t; testOwnership(e) })
		})
	}
}

func testHome(e *env) {
	r := e.do("GET", "/api", "", "")
	e.want(r, 200)
	if !strings.Contains(r.raw, `"child":[{"href":"todos","title":"todos"}]`) {
		e.t.Errorf("home = %s", r.raw)
	}
	r = e.do("GET", "/api/openapi.json", "", "")
	e.want(r, 200)
	if r.body["openapi"] != "3.1.0" || !strings.Contains(r.raw, `"/todos/{id}"`) {
		e.t.Errorf("openapi = %.300s", r.raw)
	}
}

func testCRUD(e *env) {
	r := e.post(e.alice, `{"title":"buy milk","due":"2024-05-01T12:00:00+02:00","tags":["home"]}`)
	id, _ := r.body["_id"].(string)
	etag, _ := r.body["_etag"].(string)
	if r.body["_status"] != "OK" || len(id) != 24 || etag == "" || r.header.Get("Location") != "https://gh.test/api/todos/"+id {
		e.t.Fatalf("POST = %v %v", r.body, r.header)
	}
	if _, err := http.ParseTime(r.body["_created"].(string)); err != nil {
		e.t.Errorf("_created not RFC 1123: %v", err)
	}
	r = e.do("GET", "/api/todos/"+id, e.alice, "")
	e.want(r, 200)
	if r.body["title"] != "buy milk" || r.body["done"] != false || r.body["owner"] != "alice" ||
		r.body["due"] != "Wed, 01 May 2024 10:00:00 GMT" || r.header.Get("ETag") != `"`+etag+`"` || r.header.Get("Last-Modified") == "" {
		e.t.Errorf("GET = %s %v", r.raw, r.header)
	}
	links := r.body["_links"].(map[string]any)
	if links["self"].(map[string]any)["href"] != "todos/"+id || links["collection"] == nil || links["parent"] == nil {
		e.t.Errorf("links = %v", links)
	}
	// If-None-Match → 304.
	e.want(e.do("GET", "/api/todos/"+id, e.alice, "", "If-None-Match", `"`+etag+`"`), 304)
	e.want(e.do("GET", "/api/todos/"+id, e.alice, "", "If-None-Match", `"other"`), 200)
	// PATCH needs If-Match: 428, then 412 on a stale tag.
	e.want(e.do("PATCH", "/api/todos/"+id, e.alice, `{"done":true}`), 428)
	e.want(e.do("PATCH", "/api/todos/"+id, e.alice, `{"done":true}`, "If-Match", `"stale"`), 412)
	r = e.do("PATCH", "/api/todos/"+id, e.alice, `{"done":true}`, "If-Match", `"`+etag+`"`)
	e.want(r, 200)
	etag2 := r.body["_etag"].(string)
	if etag2 == etag {
		e.t.Error("etag unchanged after PATCH")
	}
	r = e.do("GET", "/api/todos/"+id, e.alice, "")
	if r.body["done"] != true || r.body["title"] != "buy milk" {
		e.t.Errorf("after PATCH: %s", r.raw)
	}
	// PUT replaces the document.
	e.want(e.do("PUT", "/api/todos/"+id, e.alice, `{"title":"x"}`, "If-Match", etag), 412)
	r = e.do("PUT", "/api/todos/"+id, e.alice, `{"title":"buy bread"}`, "If-Match", etag2)
	e.want(r, 200)
	etag3 := r.body["_etag"].(string)
	r = e.do("GET", "/api/todos/"+id, e.alice, "")
	if r.body["title"] != "buy bread" || r.body["done"] != false || r.body["tags"] != nil {
		e.t.Errorf("after PUT: %s", r.raw)
	}
	// Invalid PATCH: 422 with _issues.
	r = e.do("PATCH", "/api/todos/"+id, e.alice, `{"title":""}`, "If-Match", etag3)
	e.want(r, 422)
	if r.body["_issues"].(map[string]any)["title"] == nil {
		e.t.Errorf("issues = %s", r.raw)
	}
	// DELETE: 428, 412, 204, then 404.
	e.want(e.do("DELETE", "/api/todos/"+id, e.alice, ""), 428)
	e.want(e.do("DELETE", "/api/todos/"+id, e.alice, "", "If-Match", etag2), 412)
	r = e.do("DELETE", "/api/todos/"+id, e.alice, "", "If-Match", `"`+etag3+`"`)
	e.want(r, 204)
	if r.raw != "" {
		e.t.Errorf("DELETE body = %q", r.raw)
	}
	e.want(e.do("GET", "/api/todos/"+id, e.alice, ""), 404)

	// Bulk: all or nothing.
	r = e.do("POST", "/api/todos", e.alice, `[{"title":"ok"},{"title":""},{"nope":1}]`)
	e.want(r, 422)
	items := r.body["_items"].([]any)
	if len(items) != 3 || items[0].(map[string]any)["_status"] != "OK" || items[1].(map[string]any)["_status"] != "ERR" ||
		items[2].(map[string]any)["_issues"].(map[string]any)["nope"] != "unknown field" {
		e.t.Errorf("bulk 422 = %s", r.raw)
	}
	if r := e.do("GET", "/api/todos?where="+url.QueryEscape(`{"title":"ok"}`), e.alice, ""); len(titles(r)) != 0 {
		e.t.Errorf("failed bulk wrote %v", titles(r))
	}
	r = e.post(e.alice, `[{"title":"bulk1"},{"title":"bulk2"}]`)
	if items := r.body["_items"].([]any); len(items) != 2 || items[1].(map[string]any)["_id"] == nil {
		e.t.Errorf("bulk = %s", r.raw)
	}
	// Single invalid document: _issues with Eve's "required field".
	r = e.do("POST", "/api/todos", e.alice, `{"done":"yes"}`)
	e.want(r, 422)
	iss := r.body["_issues"].(map[string]any)
	if iss["title"] != "required field" || iss["done"] == nil {
		e.t.Errorf("issues = %s", r.raw)
	}
}

func testQueries(e *env) {
	// A fresh owner so other subtests do not interfere.
	tok := e.issuer.Token(e.t, "carol", "todos:read", "todos:write")
	e.post(tok, `[
		{"title":"a","done":false,"tags":["work"],"due":"2024-01-01T00:00:00Z"},
		{"title":"b","done":true,"tags":["home","work"]},
		{"title":"c","done":false,"due":"2024-03-01T00:00:00Z"},
		{"title":"d","done":true},
		{"title":"e","done":false,"tags":["home"]}]`)
	get := func(q string) resp {
		e.t.Helper()
		r := e.do("GET", "/api/todos?"+q, tok, "")
		e.want(r, 200)
		return r
	}
	w := func(s string) string { return "sort=title&where=" + url.QueryEscape(s) }
	tests := []struct{ q, want string }{
		{w(`{"done":false}`), "a c e"},
		{w(`done==False`), "a c e"},
		{w(`{"title":{"$eq":"b"}}`), "b"},
		{w(`{"title":{"$ne":"b"}}`), "a c d e"},
		{w(`{"title":{"$gt":"c"}}`), "d e"},
		{w(`{"title":{"$gte":"c"}}`), "c d e"},
		{w(`{"title":{"$lt":"b"}}`), "a"},
		{w(`{"title":{"$lte":"b"}}`), "a b"},
		{w(`{"title":{"$in":["a","e","z"]}}`), "a e"},
		{w(`{"title":{"$nin":["a","e"]}}`), "b c d"},
		{w(`{"due":{"$exists":true}}`), "a c"},
		{w(`{"$or":[{"title":"a"},{"done":true}]}`), "a b d"},
		{w(`{"$and":[{"done":false},{"tags":"home"}]}`), "e"},
		{w(`{"due":{"$gte":"Thu, 01 Feb 2024 00:00:00 GMT"}}`), "c"},
		{w(`title == "a" or (done == True and tags == "work")`), "a b"},
		{w(`title in ["c", "d"]`), "c d"},
		{"sort=-title", "e d c b a"},
		{"sort=" + url.QueryEscape(`[("done",1),("title",-1)]`), "e c a d b"},
		{"sort=done,-title", "e c a d b"},
	}
	for _, tc := range tests {
		if got := strings.Join(titles(get(tc.q)), " "); got != tc.want {
			e.t.Errorf("%s: got %q, want %q", tc.q, got, tc.want)
		}
	}
	// Paging, links and clamping.
	r := get("sort=title&max_results=2&page=2")
	meta := r.body["_meta"].(map[string]any)
	links := r.body["_links"].(map[string]any)
	if strings.Join(titles(r), " ") != "c d" || meta["total"] != 5.0 || meta["page"] != 2.0 || meta["max_results"] != 2.0 {
		e.t.Errorf("page 2 = %s", r.raw)
	}
	for _, l := range []string{"self", "parent", "next", "prev", "last"} {
		if links[l] == nil {
			e.t.Errorf("link %s missing: %v", l, links)
		}
	}
	if href := links["last"].(map[string]any)["href"].(string); !strings.Contains(href, "page=3") || !strings.Contains(href, "sort=title") {
		e.t.Errorf("last = %s", href)
	}
	r = get("sort=title&max_results=2")
	if l := r.body["_links"].(map[string]any); l["prev"] != nil || l["next"] == nil {
		e.t.Errorf("page 1 links = %v", l)
	}
	r = get("sort=title&max_results=2&page=3")
	if l := r.body["_links"].(map[string]any); l["next"] != nil || l["last"] != nil || l["prev"] == nil {
		e.t.Errorf("last page links = %v", l)
	}
	if r := get("max_results=1000"); r.body["_meta"].(map[string]any)["max_results"] != 50.0 {
		e.t.Errorf("max_results not clamped: %v", r.body["_meta"])
	}
	// Projection.
	r = get("sort=title&max_results=1&" + "projection=" + url.QueryEscape(`{"title":1}`))
	it := r.body["_items"].([]any)[0].(map[string]any)
	if it["title"] != "a" || it["done"] != nil || it["_id"] == nil || it["_etag"] == nil || it["owner"] != nil {
		e.t.Errorf("include projection = %v", it)
	}
	r = get("sort=title&max_results=1&" + "projection=" + url.QueryEscape(`{"tags":0}`))
	it = r.body["_items"].([]any)[0].(map[string]any)
	if it["title"] != "a" || it["tags"] != nil || it["done"] != false {
		e.t.Errorf("exclude projection = %v", it)
	}
}

func testErrors(e *env) {
	long := strings.Repeat("x", 2<<20)
	tests := []struct {
		name, method, path, token, body string
		hdr                             []string
		status                          int
	}{
		{"unknown route", "GET", "/api/nothing", e.alice, "", nil, 404},
		{"too deep", "GET", "/api/todos/a/b", e.alice, "", nil, 404},
		{"bad id", "GET", "/api/todos/zzz", e.alice, "", nil, 404},
		{"method on collection", "DELETE", "/api/todos", e.alice, "", nil, 405},
		{"method on item", "POST", "/api/todos/abc", e.alice, "", nil, 405},
		{"method on home", "POST", "/api", e.alice, "", nil, 405},
		{"unknown field", "GET", "/api/todos?where=" + url.QueryEscape(`{"nope":1}`), e.alice, "", nil, 400},
		{"bad operator", "GET", "/api/todos?where=" + url.QueryEscape(`{"done":{"$where":1}}`), e.alice, "", nil, 400},
		{"regex", "GET", "/api/todos?where=" + url.QueryEscape(`{"title":{"$regex":"a"}}`), e.alice, "", nil, 400},
		{"malformed JSON", "GET", "/api/todos?where=" + url.QueryEscape(`{"done":`), e.alice, "", nil, 400},
		{"bad sort", "GET", "/api/todos?sort=nope", e.alice, "", nil, 400},
		{"bad projection", "GET", "/api/todos?projection=" + url.QueryEscape(`{"title":1,"done":0}`), e.alice, "", nil, 400},
		{"page too large", "GET", "/api/todos?page=1000001", e.alice, "", nil, 400},
		{"malformed body", "POST", "/api/todos", e.alice, `{"title":`, nil, 400},
		{"body not object", "POST", "/api/todos", e.alice, `"x"`, nil, 400},
		{"too large", "POST", "/api/todos", e.alice, `{"title":"` + long + `"}`, nil, 413},
		{"wrong content type", "POST", "/api/todos", e.alice, `{"title":"x"}`, []string{"Content-Type", "text/plain"}, 400},
		{"owner not settable", "POST", "/api/todos", e.alice, `{"title":"x","owner":"bob"}`, nil, 422},
		{"no token", "GET", "/api/todos", "", "", nil, 401},
		{"bad token", "GET", "/api/todos", "garbage", "", nil, 401},
		{"token in query", "GET", "/api/todos?access_token=" + e.alice, "", "", nil, 400},
		{"read-only token writes", "POST", "/api/todos", e.reader, `{"title":"x"}`, nil, 403},
	}
	for _, tc := range tests {
		e.t.Run(tc.name, func(t *testing.T) {
			old := e.t
			e.t = t
			defer func() { e.t = old }()
			r := e.do(tc.method, tc.path, tc.token, tc.body, tc.hdr...)
			e.want(r, tc.status)
			switch tc.status {
			case 405:
				if r.header.Get("Allow") == "" {
					t.Error("no Allow header")
				}
			case 401:
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("WWW-Authenticate = %q", r.header.Get("WWW-Authenticate"))
				}
			case 400:
				// Refused, never accepted: a token in the URL is named as
				// such in the challenge.
				if strings.Contains(tc.path, "access_token=") && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_request"`) {
					t.Errorf("WWW-Authenticate = %q, want invalid_request", r.header.Get("WWW-Authenticate"))
				}
			case 403:
				if got := strings.Join(r.header.Values("WWW-Authenticate"), ", "); !strings.Contains(got, `error="insufficient_scope"`) || !strings.Contains(got, `scope="todos:write"`) {
					t.Errorf("WWW-Authenticate = %q", got)
				}
			}
		})
	}
	if r := e.do("GET", "/api/todos", "bad", ""); !strings.Contains(strings.Join(r.header.Values("WWW-Authenticate"), ", "), `error="invalid_token"`) {
		e.t.Errorf("invalid token challenge = %q", r.header.Get("WWW-Authenticate"))
	}
	if r := e.do("GET", "/api/todos", e.reader, ""); r.status != 200 {
		e.t.Errorf("read-only token GET = %d", r.status)
	}
	r := e.do("OPTIONS", "/api/todos", "", "")
	if r.status != 200 || !slices.Contains(strings.Split(r.header.Get("Allow"), ", "), "POST") {
		e.t.Errorf("OPTIONS = %d %v", r.status, r.header)
	}
	if r := e.do("GET", "/api", "", "", "Origin", "https://evil.test"); r.header.Get("Access-Control-Allow-Origin") != "" {
		e.t.Error("CORS allowed by default")
	}
}

func testOwnership(e *env) {
	r := e.post(e.alice, `{"title":"alice's secret"}`)
	id, etag := r.body["_id"].(string), r.body["_etag"].(string)
	e.want(e.do("GET", "/api/todos/"+id, e.bob, ""), 404)
	r = e.do("GET", "/api/todos?where="+url.QueryEscape(`{"title":"alice's secret"}`), e.bob, "")
	e.want(r, 200)
	if len(titles(r)) != 0 {
		e.t.Errorf("bob lists %v", titles(r))
	}
	r = e.do("GET", "/api/todos?max_results=50", e.bob, "")
	if strings.Contains(r.raw, id) {
		e.t.Error("bob's list contains alice's todo")
	}
	e.want(e.do("PATCH", "/api/todos/"+id, e.bob, `{"done":true}`, "If-Match", etag), 404)
	e.want(e.do("PUT", "/api/todos/"+id, e.bob, `{"title":"mine"}`, "If-Match", etag), 404)
	e.want(e.do("DELETE", "/api/todos/"+id, e.bob, "", "If-Match", etag), 404)
	r = e.do("GET", "/api/todos/"+id, e.alice, "")
	e.want(r, 200)
	if r.body["_etag"] != etag || r.body["done"] != false {
		e.t.Errorf("alice's todo changed: %s", r.raw)
	}
}

func TestRateLimitAndCORS(t *testing.T) {
	e := newEnv(t, storagetest.Backend{Name: "sqlite", DSN: storagetest.SQLite}, `
cors: {allowed_origins: ["https://app.test"]}
rate_limit: {GET: {requests: 2, window: 1h}}
resources:
  todos:
    resource_methods: [GET, POST]
    owner_field: owner
    schema: {type: object, properties: {title: {type: string}}}
`)
	for i, want := range []int{200, 200, 429} {
		r := e.do("GET", "/api/todos", e.alice, "")
		if r.status != want {
			t.Fatalf("request %d: %d, want %d", i, r.status, want)
		}
		if r.header.Get("X-RateLimit-Limit") != "2" || r.header.Get("X-RateLimit-Remaining") != fmt.Sprint(max(0, 1-i)) || r.header.Get("X-RateLimit-Reset") == "" {
			t.Errorf("request %d headers: %v", i, r.header)
		}
		if want == 429 && r.body["_status"] != "ERR" {
			t.Errorf("429 body = %s", r.raw)
		}
	}
	// Another user has a budget of their own.
	e.want(e.do("GET", "/api/todos", e.bob, ""), 200)
	r := e.do("OPTIONS", "/api/todos", "", "", "Origin", "https://app.test", "Access-Control-Request-Method", "POST")
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.test" || !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("CORS preflight = %v", r.header)
	}
	if r := e.do("GET", "/api", "", "", "Origin", "https://evil.test"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Error("CORS allowed an unlisted origin")
	}
}

// TestTooManyArrayItems: a document whose arrays hold more distinct items
// than the store keeps per document is refused with 422, not a 500.
func TestTooManyArrayItems(t *testing.T) {
	e := newEnv(t, storagetest.Backend{Name: "sqlite", DSN: storagetest.SQLite}, `
resources:
  todos:
    resource_methods: [GET, POST]
    owner_field: owner
    schema: {type: object, properties: {labels: {type: array, items: {type: integer}}}}
`)
	items := func(n int) string {
		v := make([]string, n)
		for i := range v {
			v[i] = strconv.Itoa(i)
		}
		return `{"labels":[` + strings.Join(v, ",") + `]}`
	}
	e.want(e.do("POST", "/api/todos", e.alice, items(docstore.MaxElements)), 201)
	r := e.do("POST", "/api/todos", e.alice, items(docstore.MaxElements+1))
	if r.status != 422 || r.body["_status"] != "ERR" {
		t.Fatalf("%d items: %d %s", docstore.MaxElements+1, r.status, r.raw)
	}
}
