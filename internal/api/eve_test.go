package api_test

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Wire parity with Python Eve 2.3 (its defaults) for a todos resource.

// eveSchema is the built-in todos schema with rules to check Cerberus'
// wording.
const eveSchema = `    schema:
      type: object
      additionalProperties: false
      required: [title]
      properties:
        title: {type: string, minLength: 1, maxLength: 200}
        done: {type: boolean, default: false}
        due: {type: string, format: date-time}
        tags: {type: array, items: {type: string, maxLength: 50}, maxItems: 20}
        kind: {type: string, enum: [home, work]}
        code: {type: string, pattern: "^[A-Z]+$"}
        prio: {type: integer, minimum: 0}
        note: {type: object, properties: {text: {type: string}}}
`

// eveYAML is the built-in todos resource with the settings a test adds
// (top level, and res under todos) and eveSchema.
func eveYAML(top, res string) string {
	return todosYAML(top, `    default_sort: "-_updated"`+"\n"+res, eveSchema)
}

func (e *env) body(r resp, path ...string) any {
	var v any = r.body
	for _, p := range path {
		m, _ := v.(map[string]any)
		v = m[p]
	}
	return v
}

func TestEveDates(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			for _, format := range []struct{ setting, due, created string }{
				{"", "Wed, 01 May 2024 10:00:00 GMT", time.RFC1123},
				{"date_format: rfc1123", "Wed, 01 May 2024 10:00:00 GMT", time.RFC1123},
				{"date_format: rfc3339", "2024-05-01T10:00:00.000Z", time.RFC3339},
			} {
				e := newEnv(t, b, eveYAML(format.setting, ""))
				tests := []struct{ name, due string }{
					{"RFC 1123 in", "Wed, 01 May 2024 10:00:00 GMT"},
					{"RFC 3339 in", "2024-05-01T12:00:00+02:00"},
				}
				for _, tc := range tests {
					r := e.post(e.alice, `{"title":"`+tc.name+`","due":"`+tc.due+`"}`)
					if _, err := time.Parse(format.created, r.body["_created"].(string)); err != nil {
						t.Errorf("%s %s: POST _created: %v", format.setting, tc.name, err)
					}
					r = e.do("GET", "/api/todos/"+r.body["_id"].(string), e.alice, "")
					if r.body["due"] != format.due {
						t.Errorf("%s %s: due = %v, want %s", format.setting, tc.name, r.body["due"], format.due)
					}
					if _, err := time.Parse(format.created, r.body["_updated"].(string)); err != nil {
						t.Errorf("%s %s: GET _updated: %v", format.setting, tc.name, err)
					}
				}
				// Stored in UTC: both forms compare and sort as times.
				e.post(e.alice, `{"title":"later","due":"Thu, 02 May 2024 08:00:00 GMT"}`)
				for _, where := range []string{
					`{"due":{"$gte":"Wed, 01 May 2024 10:00:00 GMT"}}`,
					`{"due":{"$gte":"2024-05-01T10:00:00Z"}}`,
					`due >= "Wed, 01 May 2024 10:00:00 GMT"`,
				} {
					r := e.do("GET", "/api/todos?sort=due,title&where="+url.QueryEscape(where), e.alice, "")
					if got := strings.Join(titles(r), ","); got != "RFC 1123 in,RFC 3339 in,later" {
						t.Errorf("%s where %s: %s", format.setting, where, r.raw)
					}
				}
				r := e.do("POST", "/api/todos", e.alice, `{"title":"x","due":"next tuesday"}`)
				e.want(r, 422)
				if got := e.body(r, "_issues", "due"); got != "must be of datetime type" {
					t.Errorf("bad date: %s", r.raw)
				}
			}
			if _, err := resource.Parse([]byte(eveYAML("date_format: strftime", "")), "test"); err == nil {
				t.Error("date_format strftime accepted")
			}
		})
	}
}

func TestEveClientID(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b, "")
			const id = "0123456789abcdef01234567"
			const other = "89abcdef0123456789abcdef"
			tests := []struct {
				name, token, body string
				status            int
				issue, msg        string
			}{
				{"chosen id kept", e.alice, `{"_id":"` + id + `","title":"mine"}`, 201, "", ""},
				{"duplicate", e.alice, `{"_id":"` + id + `","title":"again"}`, 409, "", "Duplicate key error"},
				{"another owner's id", e.bob, `{"_id":"` + id + `","title":"bob's"}`, 409, "", "Duplicate key error"},
				{"twice in a bulk", e.alice, `[{"_id":"` + other + `","title":"a"},{"_id":"` + other + `","title":"b"}]`, 409, "", "given twice"},
				{"not hexadecimal", e.alice, `{"_id":"zz23456789abcdef01234567","title":"x"}`, 422, "must be of objectid type", ""},
				{"upper case", e.alice, `{"_id":"0123456789ABCDEF01234567","title":"x"}`, 422, "must be of objectid type", ""},
				{"short", e.alice, `{"_id":"0123","title":"x"}`, 422, "must be of objectid type", ""},
				{"not a string", e.alice, `{"_id":12,"title":"x"}`, 422, "must be of objectid type", ""},
			}
			for _, tc := range tests {
				r := e.do("POST", "/api/todos", tc.token, tc.body)
				e.want(r, tc.status)
				if tc.issue != "" && e.body(r, "_issues", "_id") != tc.issue {
					t.Errorf("%s: %s", tc.name, r.raw)
				}
				if msg, _ := e.body(r, "_error", "message").(string); tc.msg != "" && !strings.Contains(msg, tc.msg) {
					t.Errorf("%s: %s", tc.name, r.raw)
				}
			}
			r := e.do("GET", "/api/todos/"+id, e.alice, "")
			e.want(r, 200)
			if r.body["title"] != "mine" {
				t.Errorf("GET chosen id: %s", r.raw)
			}
			if r := e.do("GET", "/api/todos/"+other, e.alice, ""); r.status != 404 {
				t.Errorf("a refused bulk stored %s", other)
			}
		})
	}
}

func TestEveListHeaders(t *testing.T) {
	e := newEnv(t, storagetest.Backends()[0], "")
	now := time.Now().UTC()
	e.post(e.alice, `[{"title":"a"},{"title":"b"},{"title":"c"}]`)
	tests := []struct {
		name, query, total, self string
		modified                 bool
	}{
		{"all", "", "3", "todos", true},
		{"query kept", "where=" + url.QueryEscape(`{"done":false}`) + "&max_results=2", "3", "todos?where=" + url.QueryEscape(`{"done":false}`) + "&max_results=2", true},
		{"empty", "where=" + url.QueryEscape(`{"done":true}`), "0", "todos?where=" + url.QueryEscape(`{"done":true}`), false},
	}
	for _, tc := range tests {
		path := "/api/todos"
		if tc.query != "" {
			path += "?" + tc.query
		}
		r := e.do("GET", path, e.alice, "")
		e.want(r, 200)
		if got := r.header.Get("X-Total-Count"); got != tc.total {
			t.Errorf("%s: X-Total-Count = %q, want %s", tc.name, got, tc.total)
		}
		if got := e.body(r, "_links", "self", "href"); got != tc.self {
			t.Errorf("%s: self = %v, want %s", tc.name, got, tc.self)
		}
		lm, err := http.ParseTime(r.header.Get("Last-Modified"))
		if tc.modified && (err != nil || lm.Before(now.Truncate(time.Second))) {
			t.Errorf("%s: Last-Modified = %q", tc.name, r.header.Get("Last-Modified"))
		}
		if !tc.modified && r.header.Get("Last-Modified") != "" {
			t.Errorf("%s: Last-Modified on an empty list", tc.name)
		}
	}
}

func TestEvePagingLeniency(t *testing.T) {
	e := newEnv(t, storagetest.Backends()[0], "")
	e.post(e.alice, `{"title":"a"}`)
	for _, q := range []string{"max_results=0", "max_results=abc", "max_results=-3", "page=0", "page=abc", "page=-1", "max_results=&page="} {
		r := e.do("GET", "/api/todos?"+q, e.alice, "")
		e.want(r, 200)
		if e.body(r, "_meta", "max_results") != 25.0 || e.body(r, "_meta", "page") != 1.0 || len(titles(r)) != 1 {
			t.Errorf("%s: %s", q, r.raw)
		}
	}
}

func TestEveIssues(t *testing.T) {
	e := newEnv(t, storagetest.Backends()[0], eveYAML("", ""))
	long := strings.Repeat("x", 201)
	tests := []struct {
		body string
		path []string
		want string
	}{
		{`{"done":true}`, []string{"title"}, "required field"},
		{`{"title":"x","nope":1}`, []string{"nope"}, "unknown field"},
		{`{"title":1}`, []string{"title"}, "must be of string type"},
		{`{"title":"x","done":"yes"}`, []string{"done"}, "must be of boolean type"},
		{`{"title":"x","tags":"a"}`, []string{"tags"}, "must be of list type"},
		{`{"title":"x","note":[]}`, []string{"note"}, "must be of dict type"},
		{`{"title":"x","prio":1.5}`, []string{"prio"}, "must be of integer type"},
		{`{"title":""}`, []string{"title"}, "min length is 1"},
		{`{"title":"` + long + `"}`, []string{"title"}, "max length is 200"},
		{`{"title":"x","kind":"play"}`, []string{"kind"}, "unallowed value play"},
		{`{"title":null}`, []string{"title"}, "null value not allowed"},
		{`{"title":"x","code":"abc"}`, []string{"code"}, "value does not match regex '^[A-Z]+$'"},
		{`{"title":"x","prio":-1}`, []string{"prio"}, "min value is 0"},
		{`{"title":"x","tags":["ok","` + strings.Repeat("y", 51) + `"]}`, []string{"tags", "1"}, "max length is 50"},
		{`{"title":"x","note":{"text":5}}`, []string{"note", "text"}, "must be of string type"},
	}
	for _, tc := range tests {
		r := e.do("POST", "/api/todos", e.alice, tc.body)
		e.want(r, 422)
		if got := e.body(r, append([]string{"_issues"}, tc.path...)...); tc.want != "" && got != tc.want {
			t.Errorf("%s: _issues%v = %v, want %q: %s", tc.body, tc.path, got, tc.want, r.raw)
		}
		if strings.Contains(r.raw, `"tags.`) || strings.Contains(r.raw, `"note.`) {
			t.Errorf("%s: flattened keys: %s", tc.body, r.raw)
		}
	}
}

func TestEveUpsertOnPut(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			const id = "aaaaaaaaaaaaaaaaaaaaaaa1"
			tests := []struct {
				name, setting, token, id, body string
				status                         int
			}{
				{"creates", "", "alice", id, `{"title":"put"}`, 201},
				{"another owner's id", "", "bob", id, `{"title":"steal"}`, 404},
				{"bad id", "", "alice", "not-an-id", `{"title":"put"}`, 404},
				{"invalid document", "", "alice", "aaaaaaaaaaaaaaaaaaaaaaa2", `{"title":""}`, 422},
				{"other _id in the body", "", "alice", "aaaaaaaaaaaaaaaaaaaaaaa3", `{"_id":"aaaaaaaaaaaaaaaaaaaaaaa4","title":"x"}`, 422},
				{"setting off", "upsert_on_put: false", "alice", "aaaaaaaaaaaaaaaaaaaaaaa5", `{"title":"put"}`, 404},
			}
			envs := map[string]*env{}
			for _, tc := range tests {
				e := envs[tc.setting]
				if e == nil {
					e = newEnv(t, b, eveYAML(tc.setting, ""))
					envs[tc.setting] = e
				}
				tok := map[string]string{"alice": e.alice, "bob": e.bob}[tc.token]
				r := e.do("PUT", "/api/todos/"+tc.id, tok, tc.body)
				e.want(r, tc.status)
				if tc.status != 201 {
					continue
				}
				if r.header.Get("Location") != "https://gh.test/api/todos/"+tc.id || r.body["_id"] != tc.id || r.header.Get("Last-Modified") == "" {
					t.Errorf("%s: %v %s", tc.name, r.header, r.raw)
				}
				r = e.do("GET", "/api/todos/"+tc.id, tok, "")
				e.want(r, 200)
				if r.body["owner"] != tc.token || r.body["done"] != false {
					t.Errorf("%s: GET %s", tc.name, r.raw)
				}
			}
		})
	}
}

func TestEveMethodOverride(t *testing.T) {
	tests := []struct {
		name, setting, override string
		status                  int
	}{
		{"off by default: a POST", "", "PATCH", 405},
		{"on: PATCH", "allow_override_http_method: true", "PATCH", 200},
		{"on: lower case", "allow_override_http_method: true", "patch", 200},
		{"on: unknown method", "allow_override_http_method: true", "TRACE", 400},
	}
	for _, tc := range tests {
		e := newEnv(t, storagetest.Backends()[0], eveYAML(tc.setting, ""))
		r := e.post(e.alice, `{"title":"x"}`)
		id, etag := r.body["_id"].(string), r.body["_etag"].(string)
		r = e.do("POST", "/api/todos/"+id, e.alice, `{"done":true}`, "X-HTTP-Method-Override", tc.override, "If-Match", etag)
		e.want(r, tc.status)
		if tc.status == 200 {
			if r := e.do("GET", "/api/todos/"+id, e.alice, ""); r.body["done"] != true {
				t.Errorf("%s: not patched: %s", tc.name, r.raw)
			}
		}
	}
}

func TestEveForms(t *testing.T) {
	e := newEnv(t, storagetest.Backends()[0], "")
	multi := func(fields ...string) (string, string) {
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for i := 0; i+1 < len(fields); i += 2 {
			_ = mw.WriteField(fields[i], fields[i+1])
		}
		_ = mw.Close()
		return buf.String(), mw.FormDataContentType()
	}
	mbody, mtype := multi("title", "from multipart", "tags", "a", "tags", "b")
	tests := []struct {
		name, ctype, body string
		status            int
		check             func(r resp) bool
	}{
		{"urlencoded", "application/x-www-form-urlencoded", "title=from+form&tags=a&tags=b", 201, func(r resp) bool {
			return r.body["title"] == "from form" && len(r.body["tags"].([]any)) == 2
		}},
		{"multipart", mtype, mbody, 201, func(r resp) bool {
			return r.body["title"] == "from multipart" && len(r.body["tags"].([]any)) == 2
		}},
		// As Eve: no coercion of form strings.
		{"boolean from a form", "application/x-www-form-urlencoded", "title=x&done=true", 422, func(r resp) bool {
			return r.body["_issues"].(map[string]any)["done"] == "must be of boolean type"
		}},
		{"one value of a list", "application/x-www-form-urlencoded", "title=x&tags=a", 422, func(r resp) bool {
			return r.body["_issues"].(map[string]any)["tags"] == "must be of list type"
		}},
	}
	for _, tc := range tests {
		r := e.do("POST", "/api/todos", e.alice, tc.body, "Content-Type", tc.ctype)
		e.want(r, tc.status)
		if tc.status == 201 {
			r = e.do("GET", "/api/todos/"+r.body["_id"].(string), e.alice, "")
		}
		if !tc.check(r) {
			t.Errorf("%s: %s", tc.name, r.raw)
		}
	}
}

func TestEveSmallerDifferences(t *testing.T) {
	e := newEnv(t, storagetest.Backends()[0], eveYAML("", "    cache_control: max-age=20,must-revalidate\n    cache_expires: 20"))
	plain := newEnv(t, storagetest.Backends()[0], "")
	r := e.post(e.alice, `{"title":"x"}`)
	id, etag := r.body["_id"].(string), r.body["_etag"].(string)
	tests := []struct {
		name  string
		check func() (resp, bool)
	}{
		{"Last-Modified on PUT", func() (resp, bool) {
			r := e.do("PUT", "/api/todos/"+id, e.alice, `{"title":"y"}`, "If-Match", etag)
			_, err := http.ParseTime(r.header.Get("Last-Modified"))
			return r, r.status == 200 && err == nil
		}},
		{"Content-Type on OPTIONS", func() (resp, bool) {
			r := e.do("OPTIONS", "/api/todos", "", "")
			return r, r.status == 200 && r.header.Get("Content-Type") == "text/html; charset=utf-8" && r.header.Get("Allow") != ""
		}},
		{"PATCH 422 without _error", func() (resp, bool) {
			cur := e.do("GET", "/api/todos/"+id, e.alice, "")
			r := e.do("PATCH", "/api/todos/"+id, e.alice, `{"title":""}`, "If-Match", cur.body["_etag"].(string))
			return r, r.status == 422 && r.body["_error"] == nil && e.body(r, "_issues", "title") == "min length is 1"
		}},
		{"POST 422 with _error", func() (resp, bool) {
			r := e.do("POST", "/api/todos", e.alice, `{"title":""}`)
			return r, r.status == 422 && r.body["_error"] != nil
		}},
		{"no Content-Type: 400", func() (resp, bool) {
			r := e.do("POST", "/api/todos", e.alice, `{"title":"x"}`, "Content-Type", "")
			return r, r.status == 400
		}},
		{"cache_control and cache_expires on GET", func() (resp, bool) {
			r := e.do("GET", "/api/todos/"+id, e.alice, "")
			exp, err := http.ParseTime(r.header.Get("Expires"))
			return r, r.header.Get("Cache-Control") == "max-age=20,must-revalidate" && err == nil && exp.After(time.Now())
		}},
		{"cache_control on lists", func() (resp, bool) {
			r := e.do("GET", "/api/todos", e.alice, "")
			return r, r.header.Get("Cache-Control") == "max-age=20,must-revalidate"
		}},
		{"no cache settings: no-store", func() (resp, bool) {
			r := plain.do("GET", "/api/todos", plain.alice, "")
			return r, r.header.Get("Cache-Control") == "no-store" && r.header.Get("Expires") == ""
		}},
		{"meta fields echoed are ignored", func() (resp, bool) {
			cur := e.do("GET", "/api/todos/"+id, e.alice, "")
			cur.body["title"] = "echoed"
			delete(cur.body, "owner")
			b, _ := jsonMarshal(cur.body)
			r := e.do("PUT", "/api/todos/"+id, e.alice, b, "If-Match", cur.body["_etag"].(string))
			return r, r.status == 200
		}},
	}
	for _, tc := range tests {
		if r, ok := tc.check(); !ok {
			t.Errorf("%s: %d %v %s", tc.name, r.status, r.header, r.raw)
		}
	}
}

func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

func TestEveOpenAPI(t *testing.T) {
	tests := []struct {
		setting string
		want    []string
	}{
		{"", []string{`"X-Total-Count"`, `"Last-Modified"`, `"409"`, `"application/x-www-form-urlencoded"`, `"multipart/form-data"`,
			`answered in RFC 1123`, `Tue, 01 Dec 2026 10:00:00 GMT`, `Created: the id was missing`}},
		{"date_format: rfc3339\nupsert_on_put: false", []string{`answered in RFC 3339`, `2026-12-01T10:00:00.000Z`}},
	}
	for _, tc := range tests {
		e := newEnv(t, storagetest.Backends()[0], eveYAML(tc.setting, ""))
		r := e.do("GET", "/api/openapi.json", "", "")
		e.want(r, 200)
		for _, w := range tc.want {
			if !strings.Contains(r.raw, w) {
				t.Errorf("%q: openapi.json lacks %s", tc.setting, w)
			}
		}
		if strings.Contains(r.raw, `"date-time"`) {
			t.Errorf("%q: openapi.json still says date-time (RFC 3339 only)", tc.setting)
		}
		if tc.setting != "" && strings.Contains(r.raw, "Created: the id was missing") {
			t.Errorf("upsert documented with upsert_on_put false")
		}
	}
}
