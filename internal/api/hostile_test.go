package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// staticVerifier accepts the tokens it maps to a subject, with every scope
// of the todos resource. The token check is bearer's, tested there; these
// tests are about what the API does with the request.
type staticVerifier map[string]string

func (v staticVerifier) Verify(_ context.Context, tok string) (*bearer.Claims, error) {
	sub, ok := v[tok]
	if !ok {
		return nil, fmt.Errorf("%w: unknown test token", bearer.ErrInvalidToken)
	}
	return &bearer.Claims{Subject: sub, Scopes: []string{"todos:read", "todos:write"}, Expiry: time.Now().Add(time.Hour)}, nil
}

// hostileEnv is the API over a real database with a static verifier, and
// direct access to the document store to check what was written.
type hostileEnv struct {
	handler http.Handler
	docs    *docstore.Store
	set     *resource.Set
	logs    *logRecorder
}

const (
	aliceToken = "alice-token"
	bobToken   = "bob-token"
)

func newHostileEnv(t testing.TB, dsn string) *hostileEnv {
	t.Helper()
	ctx := context.Background()
	_, docs := openStores(t, dsn, sqlstore.Options{})
	set, err := resource.Default()
	if err != nil {
		t.Fatal(err)
	}
	set.RateLimit = nil // these tests send many requests with one token
	// The races send more requests at once than one principal's turns.
	set.QueryLimits.Wait = time.Minute
	logs := &logRecorder{}
	s, err := api.New(ctx, api.Config{Resources: set, Store: docs, Logger: slog.New(logs),
		Verifier: staticVerifier{aliceToken: "alice", bobToken: "bob"}, PublicURL: "https://api.test"})
	if err != nil {
		t.Fatal(err)
	}
	return &hostileEnv{handler: s.Handler(), docs: docs, set: set, logs: logs}
}

// logRecorder is a slog.Handler that keeps every record's level and message.
type logRecorder struct {
	mu      sync.Mutex
	records []string
	levels  []slog.Level
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logRecorder) WithGroup(string) slog.Handler            { return l }

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Level.String() + " " + r.Message)
	r.Attrs(func(a slog.Attr) bool {
		b.WriteString(" " + a.String())
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, b.String())
	l.levels = append(l.levels, r.Level)
	return nil
}

// mark returns a position in the log for since.
func (l *logRecorder) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.records)
}

// since returns the records at level or above logged after mark.
func (l *logRecorder) since(mark int, level slog.Level) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for i := mark; i < len(l.records); i++ {
		if l.levels[i] >= level {
			out = append(out, l.records[i])
		}
	}
	return out
}

type answer struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (e *hostileEnv) serve(req *http.Request) answer {
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, req)
	a := answer{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	_ = json.Unmarshal(a.raw, &a.body)
	return a
}

// eveError reports why a is not a 4xx in Eve's error envelope, or "".
func (a answer) eveError() string {
	if a.status < 400 || a.status >= 500 {
		return fmt.Sprintf("status %d, want a 4xx", a.status)
	}
	if a.body["_status"] != "ERR" {
		return fmt.Sprintf("body %q is not Eve's error envelope", a.raw)
	}
	if a.status == 422 && a.body["_error"] == nil && a.body["_issues"] != nil {
		return "" // a PATCH's or PUT's validation failure, without _error as in Eve
	}
	e, _ := a.body["_error"].(map[string]any)
	if code, _ := e["code"].(float64); int(code) != a.status {
		return fmt.Sprintf("_error.code %v differs from the status %d", e["code"], a.status)
	}
	if msg, _ := e["message"].(string); msg == "" {
		return "no _error.message"
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		return fmt.Sprintf("Content-Type %q", ct)
	}
	return ""
}

// all returns every stored todo of every owner.
func (e *hostileEnv) all(t testing.TB) []docstore.Document {
	t.Helper()
	var out []docstore.Document
	for _, owner := range []string{"alice", "bob", ""} {
		docs, err := e.docs.Find(context.Background(), "todos", owner, docquery.Query{Limit: 10000})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, docs...)
	}
	return out
}

func (e *hostileEnv) insert(t testing.TB, owner, title string) docstore.Document {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Second)
	d := docstore.Document{ID: docstore.NewID(), Owner: owner, Created: now, Updated: now, ETag: docstore.NewETag(),
		Data: json.RawMessage(fmt.Sprintf(`{"title":%q,"done":false}`, title))}
	if err := e.docs.Insert(context.Background(), "todos", []docstore.Document{d}); err != nil {
		t.Fatal(err)
	}
	return d
}

// snapshot is the store's content as comparable text.
func snapshot(docs []docstore.Document) string {
	var b strings.Builder
	for _, d := range docs {
		fmt.Fprintf(&b, "%s %s %s %s\n", d.ID, d.Owner, d.ETag, d.Data)
	}
	return b.String()
}

// TestMalformedRequests sends malformed requests to every endpoint of the
// API on every backend: each gets a 4xx in Eve's error envelope — never a
// 5xx, a panic or a partial write (the store is compared before and after
// each request).
func TestMalformedRequests(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newHostileEnv(t, b.DSN(t))
			malformed(t, e)
		})
	}
}

func malformed(t *testing.T, e *hostileEnv) {
	d := e.insert(t, "alice", "existing")
	other := e.insert(t, "bob", "bob's")
	item := "/api/todos/" + d.ID
	huge := `{"title":"` + strings.Repeat("x", 2<<20) + `"}`
	deep := strings.Repeat("[", 100000) + strings.Repeat("]", 100000)
	deepObj := `{"title":"x","tags":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000) + "}"
	manyDocs := "[" + strings.TrimSuffix(strings.Repeat(`{"title":"x"},`, 1001), ",") + "]"
	badUTF8 := "{\"title\":\"\xff\xfe\"}"
	// where with n comparisons of the array field under one $or (n+1
	// terms), in MongoDB's and Eve's Python syntax.
	orTags := func(n int) string {
		terms := make([]string, n)
		for i := range terms {
			terms[i] = fmt.Sprintf(`{"tags":"t%d"}`, i)
		}
		return url.QueryEscape(`{"$or":[` + strings.Join(terms, ",") + `]}`)
	}
	orTagsPython := func(n int) string {
		terms := make([]string, n)
		for i := range terms {
			terms[i] = fmt.Sprintf(`tags == %d`, i)
		}
		return url.QueryEscape(strings.Join(terms, " or "))
	}
	// where of n or'd arms, each a tags condition beside a title
	// condition, so that no two tags conditions can be merged.
	tagArms := func(n int) string {
		arms := make([]string, n)
		for i := range arms {
			arms[i] = fmt.Sprintf(`{"tags":"x","title":{"$ne":"t%d"}}`, i)
		}
		return url.QueryEscape(`{"$or":[` + strings.Join(arms, ",") + `]}`)
	}
	jsonCT := "application/json"
	type tc struct {
		name, method, path, ctype, body string
		header                          map[string]string
		token                           string // default alice
		want                            int    // 0: any 4xx
		msg                             string // in _error.message
	}
	cases := []tc{
		// Wrong methods (405 with Allow).
		{name: "DELETE collection", method: "DELETE", path: "/api/todos", want: 405},
		{name: "PUT collection", method: "PUT", path: "/api/todos", ctype: jsonCT, body: `{"title":"x"}`, want: 405},
		{name: "PATCH collection", method: "PATCH", path: "/api/todos", ctype: jsonCT, body: `{"title":"x"}`, want: 405},
		{name: "POST item", method: "POST", path: item, ctype: jsonCT, body: `{"title":"x"}`, want: 405},
		{name: "TRACE item", method: "TRACE", path: item, want: 405},
		{name: "CONNECT-like method", method: "PROPFIND", path: "/api/todos", want: 405},
		{name: "POST home", method: "POST", path: "/api", ctype: jsonCT, body: `{}`, want: 405},
		{name: "DELETE openapi", method: "DELETE", path: "/api/openapi.json", want: 405},
		// Unknown routes.
		{name: "unknown resource", method: "GET", path: "/api/nope", want: 404},
		{name: "too deep", method: "GET", path: item + "/x", want: 404},
		{name: "traversal", method: "GET", path: "/api/todos/../../etc/passwd", want: 404},
		{name: "other prefix", method: "GET", path: "/apix/todos", want: 404},
		{name: "another owner's item", method: "GET", path: "/api/todos/" + other.ID, want: 404},
		{name: "odd id", method: "GET", path: "/api/todos/%27%20OR%201=1--", want: 404},
		// Bodies: size, content type, encoding, nesting, shape.
		{name: "huge body", method: "POST", path: "/api/todos", ctype: jsonCT, body: huge, want: 413},
		{name: "huge PATCH", method: "PATCH", path: item, ctype: jsonCT, body: huge, header: map[string]string{"If-Match": d.ETag}, want: 413},
		// Eve answers 400 to a missing or unknown content type, and reads
		// forms without coercing their strings.
		{name: "no content type", method: "POST", path: "/api/todos", body: `{"title":"x"}`, want: 400, msg: "Unknown or no Content-type"},
		{name: "form with a string for a boolean", method: "POST", path: "/api/todos", ctype: "application/x-www-form-urlencoded", body: "title=x&done=true", want: 422},
		{name: "empty form", method: "POST", path: "/api/todos", ctype: "application/x-www-form-urlencoded", body: "", want: 400, msg: "No form-urlencoded data supplied"},
		{name: "form file", method: "POST", path: "/api/todos", ctype: "multipart/form-data; boundary=x", body: "--x\r\nContent-Disposition: form-data; name=\"title\"; filename=\"a.txt\"\r\n\r\nx\r\n--x--\r\n", want: 400, msg: "files are not accepted"},
		{name: "text/plain", method: "POST", path: "/api/todos", ctype: "text/plain", body: `{"title":"x"}`, want: 400},
		{name: "malformed content type", method: "POST", path: "/api/todos", ctype: "application/json; charset", body: `{"title":"x"}`, want: 400},
		{name: "PATCH empty form", method: "PATCH", path: item, ctype: "multipart/form-data; boundary=x", body: "--x--", header: map[string]string{"If-Match": d.ETag}, want: 400, msg: "No multipart/form-data supplied"},
		{name: "invalid UTF-8", method: "POST", path: "/api/todos", ctype: jsonCT, body: badUTF8, want: 0},
		{name: "invalid UTF-8 key", method: "POST", path: "/api/todos", ctype: jsonCT, body: "{\"title\":\"x\",\"\xff\":1}", want: 0},
		{name: "invalid UTF-8 PATCH", method: "PATCH", path: item, ctype: jsonCT, body: badUTF8, header: map[string]string{"If-Match": d.ETag}, want: 0},
		{name: "deeply nested array", method: "POST", path: "/api/todos", ctype: jsonCT, body: deep, want: 400},
		{name: "deeply nested object", method: "POST", path: "/api/todos", ctype: jsonCT, body: deepObj, want: 0},
		{name: "deeply nested PUT", method: "PUT", path: item, ctype: jsonCT, body: deep, header: map[string]string{"If-Match": d.ETag}, want: 400},
		{name: "truncated JSON", method: "POST", path: "/api/todos", ctype: jsonCT, body: `{"title":"x"`, want: 400},
		{name: "trailing data", method: "POST", path: "/api/todos", ctype: jsonCT, body: `{"title":"x"} {"title":"y"}`, want: 400},
		{name: "empty body", method: "POST", path: "/api/todos", ctype: jsonCT, body: ``, want: 400},
		{name: "null body", method: "POST", path: "/api/todos", ctype: jsonCT, body: `null`, want: 400},
		{name: "string body", method: "POST", path: "/api/todos", ctype: jsonCT, body: `"x"`, want: 400},
		{name: "empty list", method: "POST", path: "/api/todos", ctype: jsonCT, body: `[]`, want: 400},
		{name: "too many documents", method: "POST", path: "/api/todos", ctype: jsonCT, body: manyDocs, want: 400},
		{name: "bulk with one invalid", method: "POST", path: "/api/todos", ctype: jsonCT, body: `[{"title":"ok"},{"title":""}]`, want: 422},
		{name: "bulk with a non-object", method: "POST", path: "/api/todos", ctype: jsonCT, body: `[{"title":"ok"},7]`, want: 422},
		{name: "duplicate keys", method: "POST", path: "/api/todos", ctype: jsonCT, body: `{"title":"x","title":""}`, want: 422},
		{name: "unknown field", method: "POST", path: "/api/todos", ctype: jsonCT, body: `{"title":"x","colour":"red"}`, want: 422},
		{name: "owner spoofing", method: "POST", path: "/api/todos", ctype: jsonCT, body: `{"title":"x","owner":"bob"}`, want: 422},
		{name: "owner spoofing PATCH", method: "PATCH", path: item, ctype: jsonCT, body: `{"owner":"bob"}`, header: map[string]string{"If-Match": d.ETag}, want: 422},
		{name: "huge number", method: "POST", path: "/api/todos", ctype: jsonCT, body: `{"title":"x","done":1e999999}`, want: 0},
		{name: "PATCH list", method: "PATCH", path: item, ctype: jsonCT, body: `[{"title":"x"}]`, header: map[string]string{"If-Match": d.ETag}, want: 400},
		// Preconditions.
		{name: "PATCH without If-Match", method: "PATCH", path: item, ctype: jsonCT, body: `{"title":"y"}`, want: 428},
		{name: "PATCH stale If-Match", method: "PATCH", path: item, ctype: jsonCT, body: `{"title":"y"}`, header: map[string]string{"If-Match": `"stale"`}, want: 412},
		{name: "DELETE stale If-Match", method: "DELETE", path: item, header: map[string]string{"If-Match": "stale"}, want: 412},
		{name: "DELETE without If-Match", method: "DELETE", path: item, want: 428},
		{name: "DELETE another owner's", method: "DELETE", path: "/api/todos/" + other.ID, header: map[string]string{"If-Match": other.ETag}, want: 404},
		{name: "PATCH another owner's", method: "PATCH", path: "/api/todos/" + other.ID, ctype: jsonCT, body: `{"title":"mine"}`, header: map[string]string{"If-Match": other.ETag}, want: 404},
		// Duplicate query parameters.
		{name: "duplicate where", method: "GET", path: `/api/todos?where={"done":true}&where={"done":false}`, want: 400},
		{name: "duplicate sort", method: "GET", path: "/api/todos?sort=title&sort=-title", want: 400},
		{name: "duplicate page", method: "GET", path: "/api/todos?page=1&page=2", want: 400},
		{name: "duplicate max_results", method: "GET", path: "/api/todos?max_results=1&max_results=2", want: 400},
		{name: "duplicate projection", method: "GET", path: `/api/todos?projection={"title":1}&projection={"done":1}`, want: 400},
		{name: "bad where", method: "GET", path: `/api/todos?where={"title":{"$where":"1"}}`, want: 400},
		// A malformed parameter is named in the message.
		{name: "where cut short", method: "GET", path: "/api/todos?where=" + url.QueryEscape(`{"done":`), want: 400, msg: "where: malformed JSON"},
		{name: "where of an unknown field", method: "GET", path: "/api/todos?where=" + url.QueryEscape(`{"nope":1}`), want: 400, msg: `where: unknown field "nope"`},
		{name: "Python where cut short", method: "GET", path: "/api/todos?where=" + url.QueryEscape(`done ==`), want: 400, msg: "where: "},
		{name: "where not an object", method: "GET", path: "/api/todos?where=" + url.QueryEscape(`{"done":true} x`), want: 400, msg: "where: malformed JSON"},
		{name: "sort with an unterminated string", method: "GET", path: "/api/todos?sort=" + url.QueryEscape(`[("title, 1)]`), want: 400, msg: "sort: unterminated string"},
		{name: "projection cut short", method: "GET", path: "/api/todos?projection=" + url.QueryEscape(`{"title":`), want: 400, msg: "projection: malformed JSON"},
		{name: "projection on item cut short", method: "GET", path: item + "?projection=" + url.QueryEscape(`{"title":`), want: 400, msg: "projection: malformed JSON"},
		// The store's limit on a filter's terms (query.MaxTerms) is the
		// parser's: past it a 400 naming it, not the store's refusal.
		{name: "where of 199 terms under $or", method: "GET", path: "/api/todos?where=" + orTags(199), want: 200},
		{name: "where of 200 terms under $or", method: "GET", path: "/api/todos?where=" + orTags(200), want: 400, msg: "more than 200 terms"},
		{name: "where of 250 terms", method: "GET", path: "/api/todos?where=" + orTags(250), want: 400, msg: "more than 200 terms"},
		{name: "Python where of 199 terms", method: "GET", path: "/api/todos?where=" + orTagsPython(199), want: 200},
		{name: "Python where of 250 terms", method: "GET", path: "/api/todos?where=" + orTagsPython(250), want: 400, msg: "more than 200 terms"},
		// And{Or{66 × And{title, done}}, done}: 1 + 1 + 66×3 + 1 terms.
		{name: "where of 201 terms nested", method: "GET", path: "/api/todos?where=" + url.QueryEscape(`{"$and":[{"$or":[`+
			strings.TrimSuffix(strings.Repeat(`{"title":"x","done":true},`, 66), ",")+`]},{"done":true}]}`), want: 400, msg: "more than 200 terms"},
		// Conditions on an array field that cannot be merged each cost a
		// look-up of its elements: past 16, a 400 rather than the query.
		{name: "where of 16 array look-ups", method: "GET", path: "/api/todos?where=" + tagArms(16), want: 200},
		{name: "where of 17 array look-ups", method: "GET", path: "/api/todos?where=" + tagArms(17), want: 400, msg: "too complex"},
		{name: "SQL in where (a harmless value)", method: "GET", path: `/api/todos?where=title=="x' OR '1'='1"`, want: 200},
		{name: "bad sort", method: "GET", path: "/api/todos?sort=title,DROP%20TABLE%20doc_todos", want: 400},
		{name: "semicolon in query", method: "GET", path: "/api/todos?sort=title;DROP%20TABLE%20doc_todos", want: 400},
		{name: "bad escape in query", method: "GET", path: "/api/todos?where=%zz", want: 400},
		{name: "semicolon in item query", method: "GET", path: item + "?projection=x;y", want: 400},
		{name: "duplicate projection on item", method: "GET", path: item + `?projection={"title":1}&projection={"done":1}`, want: 400},
		{name: "huge page", method: "GET", path: "/api/todos?page=99999999999999999999", want: 400},
		{name: "invalid UTF-8 where", method: "GET", path: "/api/todos?where=%7B%22title%22:%22%FF%22%7D", want: 0},
		{name: "bad projection on item", method: "GET", path: item + `?projection={"title":2}`, want: 400},
		// Header injection and token placement.
		{name: "two Authorization headers", method: "GET", path: "/api/todos", header: map[string]string{"Authorization": "Bearer " + aliceToken, "X-Second": "1"}, want: 400},
		// A token outside the Authorization header is refused, and the
		// answer says where it goes (RFC 9700 §4.3.2).
		{name: "token in query", method: "GET", path: "/api/todos?access_token=" + aliceToken, token: "-", want: 400, msg: "access tokens in the URL are refused: send the token in the Authorization header"},
		{name: "token in query besides the header", method: "GET", path: "/api/todos?access_token=" + aliceToken, want: 400, msg: "access tokens in the URL are refused"},
		{name: "token in a form body", method: "POST", path: "/api/todos", ctype: "application/x-www-form-urlencoded", body: "title=x&access_token=" + aliceToken, token: "-", want: 400, msg: "access tokens in the request body are refused"},
		{name: "CRLF in token", method: "GET", path: "/api/todos", header: map[string]string{"Authorization": "Bearer " + aliceToken + "\r\nX-Injected: 1"}, want: 401},
		{name: "Basic scheme", method: "GET", path: "/api/todos", header: map[string]string{"Authorization": "Basic YTpi"}, want: 401},
		{name: "token with spaces", method: "GET", path: "/api/todos", header: map[string]string{"Authorization": "Bearer a b"}, want: 401},
		{name: "unknown token", method: "GET", path: "/api/todos", header: map[string]string{"Authorization": "Bearer nope"}, want: 401},
		{name: "CRLF in If-Match", method: "PATCH", path: item, ctype: jsonCT, body: `{"title":"y"}`, header: map[string]string{"If-Match": "x\r\nSet-Cookie: a=b"}, want: 412},
		{name: "Origin not allowed", method: "GET", path: "/api/nope", header: map[string]string{"Origin": "https://evil.example\r\nX: 1"}, want: 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := snapshot(e.all(t))
			mark := e.logs.mark()
			defer func() {
				// Bad input is the client's fault: nothing at ERROR.
				if errs := e.logs.since(mark, slog.LevelError); len(errs) > 0 {
					t.Errorf("logged at ERROR: %q", errs)
				}
			}()
			req := httptest.NewRequest(c.method, "https://api.test/", strings.NewReader(c.body))
			req.URL.RawQuery = ""
			path, query, _ := strings.Cut(c.path, "?")
			req.URL.Path, req.URL.RawQuery, req.RequestURI = path, query, c.path
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			if c.token == "" {
				req.Header.Set("Authorization", "Bearer "+aliceToken)
			}
			for k, v := range c.header {
				if k != "X-Second" {
					req.Header[k] = []string{v}
				}
			}
			if c.header["X-Second"] != "" {
				req.Header.Add("Authorization", "Bearer "+bobToken)
			}
			a := e.serve(req)
			if c.want == 200 {
				if a.status != 200 || len(a.body["_items"].([]any)) != 0 {
					t.Fatalf("%s %.200s: %d %.300s, want 200 and nothing found", c.method, c.path, a.status, a.raw)
				}
				return
			}
			if msg := a.eveError(); msg != "" {
				t.Fatalf("%s %.200s: %s: %.300s", c.method, c.path, msg, a.raw)
			}
			if c.want != 0 && a.status != c.want {
				t.Fatalf("%s %.200s: %d, want %d: %.300s", c.method, c.path, a.status, c.want, a.raw)
			}
			errBody, _ := a.body["_error"].(map[string]any)
			if msg, _ := errBody["message"].(string); !strings.Contains(msg, c.msg) {
				t.Errorf("message %q does not say %q", msg, c.msg)
			}
			if a.status == 405 && a.header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if a.status == 401 && a.header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			for k, vs := range a.header {
				for _, v := range vs {
					if strings.ContainsAny(k+v, "\r\n") {
						t.Errorf("response header %s: %q carries a line break", k, v)
					}
				}
			}
			if after := snapshot(e.all(t)); after != before {
				t.Fatalf("the store changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
	// The item and the other owner's are unchanged, and a well-formed
	// request still works after all that.
	req := httptest.NewRequest("GET", "https://api.test/api/todos/"+d.ID, nil)
	req.Header.Set("Authorization", "Bearer "+aliceToken)
	if a := e.serve(req); a.status != 200 || a.body["title"] != "existing" {
		t.Fatalf("GET after the malformed requests: %d %s", a.status, a.raw)
	}
}

// FuzzDocumentBody posts fuzzed JSON bodies through the API's decode and
// schema-validation path (POST, and PATCH and PUT on an existing document):
// every answer is a 2xx or a 4xx in Eve's envelope, never a 5xx or a panic;
// a refused request writes nothing; an accepted document is stored, owned by
// the caller, and valid against the resource's schema.
func FuzzDocumentBody(f *testing.F) {
	for _, s := range []string{
		`{"title":"Buy milk"}`, `{"title":"x","done":true,"due":"2026-01-02T03:04:05Z","tags":["a","b"]}`,
		`[{"title":"a"},{"title":"b"}]`, `[{"title":"a"},{"title":""}]`, `{"title":""}`, `{"title":1}`,
		`{"title":"x","owner":"bob"}`, `{"title":"x","_id":"abc","_etag":"e","_links":{}}`, `{"title":"x","extra":1}`,
		`{"title":"x","due":"tomorrow"}`, `{"title":"x","tags":[1,2]}`, `{"title":"x","done":null}`,
		`[[[[[]]]]]`, `{"title":"\u0000"}`, "{\"title\":\"\xff\"}", `{"title":"x","done":1e400}`, `null`, `[]`, ``,
		`{"title":"x"}{"title":"y"}`, `{"title":"x","title":"y"}`, `{"title":"` + strings.Repeat("é", 201) + `"}`,
	} {
		f.Add(uint8(0), []byte(s))
		f.Add(uint8(1), []byte(s))
		f.Add(uint8(2), []byte(s))
	}
	dsn := storagetest.SQLite(f)
	e := newHostileEnv(f, dsn)
	schema := e.set.Resources[0].Schema
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		d := e.insert(t, "alice", "fuzz target")
		before := snapshot(e.all(t))
		var req *http.Request
		switch op % 3 {
		case 0:
			req = httptest.NewRequest("POST", "https://api.test/api/todos", bytes.NewReader(body))
		case 1:
			req = httptest.NewRequest("PATCH", "https://api.test/api/todos/"+d.ID, bytes.NewReader(body))
		default:
			req = httptest.NewRequest("PUT", "https://api.test/api/todos/"+d.ID, bytes.NewReader(body))
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+aliceToken)
		req.Header.Set("If-Match", `"`+d.ETag+`"`)
		a := e.serve(req)
		after := e.all(t)
		switch {
		case a.status == 200 || a.status == 201:
			for _, doc := range after {
				if doc.Owner != "alice" {
					t.Fatalf("a document owned by %q", doc.Owner)
				}
				var v any
				if err := json.Unmarshal(doc.Data, &v); err != nil {
					t.Fatalf("stored data is not JSON: %q", doc.Data)
				}
				if err := schema.Validate(v); err != nil {
					t.Fatalf("stored document %s is not valid: %v", doc.Data, err)
				}
			}
		default:
			if msg := a.eveError(); msg != "" {
				t.Fatalf("%s %q: %s: %.300s", req.Method, body, msg, a.raw)
			}
			if got := snapshot(after); got != before {
				t.Fatalf("a refused %s (%d) changed the store", req.Method, a.status)
			}
		}
		// Keep the store small: remove everything again.
		for _, doc := range after {
			if err := e.docs.Delete(context.Background(), "todos", doc.Owner, doc.ID, doc.ETag); err != nil {
				t.Fatal(err)
			}
		}
	})
}
