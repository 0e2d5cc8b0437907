package api_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Eve's resource settings: additional_lookup, datasource, allow_unknown,
// item_url, resource_title, hateoas, bandwidth_saver, pagination: false
// and embedding.

// settingsYAML is a todos resource with an Eve schema and the settings
// given; top goes at the top level.
func settingsYAML(top, settings string) string {
	return todosYAML(top, settings, `    schema:
      slug: {type: string, unique: true}
      title: {type: string}
      age: {type: integer}
      secret: {type: string}
      friend: {type: objectid, data_relation: {resource: todos, embeddable: true}}
`)
}

// seed posts the documents (JSON objects) as token's and returns their ids.
func (e *env) seed(token string, docs ...string) []string {
	e.t.Helper()
	var ids []string
	for _, d := range docs {
		ids = append(ids, e.post(token, d).body["_id"].(string))
	}
	return ids
}

func TestEveResourceSettings(t *testing.T) {
	lookup := "    additional_lookup: {url: 'regex(\"[\\w]+\")', field: slug}\n"
	tests := []struct {
		name, top, settings string
		run                 func(e *env)
	}{
		{"additional_lookup", "", lookup, func(e *env) {
			ids := e.seed(e.alice, `{"slug":"ada","title":"A"}`)
			e.seed(e.bob, `{"slug":"bob","title":"B"}`)
			r := e.do("GET", "/api/todos/ada", e.alice, "")
			e.want(r, 200)
			if r.body["_id"] != ids[0] || r.body["title"] != "A" || r.header.Get("ETag") == "" {
				e.t.Errorf("lookup: %s", r.raw)
			}
			e.want(e.do("GET", "/api/todos/bob", e.alice, ""), 404)    // another owner's
			e.want(e.do("GET", "/api/todos/nobody", e.alice, ""), 404) // no such value
			r = e.do("PATCH", "/api/todos/ada", e.alice, `{"title":"x"}`, "If-Match", "*")
			e.want(r, 405)
			if r.header.Get("Allow") != "GET, HEAD, OPTIONS" {
				e.t.Errorf("Allow = %q", r.header.Get("Allow"))
			}
			e.want(e.do("DELETE", "/api/todos/ada", e.alice, "", "If-Match", "*"), 405)
			e.want(e.do("GET", "/api/todos/ada", "", ""), 401) // not public
			e.want(e.do("GET", "/api/todos/"+ids[0], e.alice, ""), 200)
			e.want(e.do("GET", "/api/todos/a-b", e.alice, ""), 404) // neither rule
			if r := e.do("GET", "/api/openapi.json", "", ""); !strings.Contains(r.raw, `a value of slug (additional_lookup, matching [\\w]+)`) {
				e.t.Errorf("openapi.json does not document the lookup")
			}
		}},
		{"item_url", "", "    item_url: 'regex(\"[a-f0-9]{24}\")'\n", func(e *env) {
			// Without item_url the segment is an item's, and POST is not allowed there.
			e.want(e.do("POST", "/api/todos/not-an-id", e.alice, `{"title":"x"}`), 404)
		}},
		{"datasource filter", "", "    datasource: {filter: {age: {$gte: 18}}}\n", func(e *env) {
			ids := e.seed(e.alice, `{"slug":"a","age":30}`, `{"slug":"b","age":10}`, `{"slug":"c","age":50}`)
			r := e.do("GET", "/api/todos?sort=slug", e.alice, "")
			e.want(r, 200)
			if got := fmt.Sprint(slugs(r)); got != "[a c]" || e.body(r, "_meta", "total") != float64(2) {
				e.t.Errorf("filtered list = %s: %s", got, r.raw)
			}
			r = e.do("GET", "/api/todos?where="+url.QueryEscape(`{"age":{"$lt":40}}`), e.alice, "")
			if got := fmt.Sprint(slugs(r)); got != "[a]" {
				e.t.Errorf("filter AND where = %s", got)
			}
			e.want(e.do("GET", "/api/todos/"+ids[1], e.alice, ""), 404)
			e.want(e.do("PATCH", "/api/todos/"+ids[1], e.alice, `{"title":"x"}`, "If-Match", "*"), 404)
			minor := e.post(e.alice, `{"slug":"d","age":5}`)
			e.want(e.do("DELETE", "/api/todos/"+minor.body["_id"].(string), e.alice, "", "If-Match", minor.body["_etag"].(string)), 404)
			e.want(e.do("GET", "/api/todos/"+ids[0], e.alice, ""), 200)
		}},
		{"datasource projection and default_sort", "", "    datasource:\n      projection: {secret: 0}\n      default_sort: [[age, -1]]\n", func(e *env) {
			ids := e.seed(e.alice, `{"slug":"a","age":1,"secret":"s"}`, `{"slug":"b","age":2,"secret":"s"}`)
			r := e.do("GET", "/api/todos", e.alice, "")
			if got := fmt.Sprint(slugs(r)); got != "[b a]" || strings.Contains(r.raw, "secret") {
				e.t.Errorf("list = %s: %s", got, r.raw)
			}
			for _, p := range []string{"", "?projection=" + url.QueryEscape(`{"secret":1}`)} {
				r = e.do("GET", "/api/todos/"+ids[0]+p, e.alice, "")
				e.want(r, 200)
				if strings.Contains(r.raw, "secret") || (p == "") != (r.body["owner"] == "alice") {
					e.t.Errorf("item%s = %s", p, r.raw)
				}
			}
		}},
		{"allow_unknown", "allow_unknown: true", "", func(e *env) {
			id := e.seed(e.alice, `{"slug":"a","colour":"red","nested":{"x":[1,2]}}`)[0]
			r := e.do("GET", "/api/todos/"+id, e.alice, "")
			if r.body["colour"] != "red" || e.body(r, "nested", "x") == nil {
				e.t.Errorf("unknown fields not stored: %s", r.raw)
			}
			r = e.do("POST", "/api/todos", e.alice, `{"slug":"b","age":"old"}`)
			e.want(r, 422) // declared fields are still checked
		}},
		{"allow_unknown false (Eve's default)", "", "", func(e *env) {
			r := e.do("POST", "/api/todos", e.alice, `{"slug":"a","colour":"red"}`)
			e.want(r, 422)
			if e.body(r, "_issues", "colour") != "unknown field" {
				e.t.Errorf("issues: %s", r.raw)
			}
		}},
		{"hateoas false", "hateoas: false", "", func(e *env) {
			r := e.post(e.alice, `{"slug":"a"}`)
			id := r.body["_id"].(string)
			for _, r := range []resp{r, e.do("GET", "/api/todos", e.alice, ""), e.do("GET", "/api/todos/"+id, e.alice, ""),
				e.do("PATCH", "/api/todos/"+id, e.alice, `{"title":"x"}`, "If-Match", "*"), e.do("GET", "/api/", "", "")} {
				if strings.Contains(r.raw, "_links") || r.status != 200 && r.status != 201 {
					e.t.Errorf("with hateoas false: %d %s", r.status, r.raw)
				}
			}
			if r := e.do("GET", "/api/todos", e.alice, ""); r.body["_meta"] == nil {
				e.t.Errorf("no _meta: %s", r.raw)
			}
		}},
		{"bandwidth_saver false", "", "    bandwidth_saver: false\n", func(e *env) {
			r := e.post(e.alice, `{"slug":"a","age":3}`)
			if r.body["slug"] != "a" || r.body["age"] != float64(3) || r.body["owner"] != "alice" || r.body["_status"] != "OK" || r.body["_etag"] == nil {
				e.t.Errorf("POST answer: %s", r.raw)
			}
			r = e.do("PATCH", "/api/todos/"+r.body["_id"].(string), e.alice, `{"age":4}`, "If-Match", "*")
			if r.status != 200 || r.body["slug"] != "a" || r.body["age"] != float64(4) {
				e.t.Errorf("PATCH answer: %s", r.raw)
			}
			r = e.do("POST", "/api/todos", e.alice, `[{"slug":"b"},{"slug":"c"}]`)
			if e.want(r, 201); !strings.Contains(r.raw, `"slug":"c"`) {
				e.t.Errorf("bulk POST answer: %s", r.raw)
			}
		}},
		{"bandwidth_saver (Eve's default)", "", "", func(e *env) {
			r := e.post(e.alice, `{"slug":"a","age":3}`)
			if r.body["slug"] != nil || r.body["_id"] == nil || r.body["_links"] == nil {
				e.t.Errorf("POST answer: %s", r.raw)
			}
		}},
		{"pagination false", "", "    pagination: false\n", func(e *env) {
			var docs []string
			for i := range 30 {
				docs = append(docs, fmt.Sprintf(`{"slug":"s%02d"}`, i))
			}
			e.want(e.do("POST", "/api/todos", e.alice, "["+strings.Join(docs, ",")+"]"), 201)
			r := e.do("GET", "/api/todos?max_results=5&page=2", e.alice, "")
			e.want(r, 200)
			if len(slugs(r)) != 30 || r.body["_meta"] != nil || e.body(r, "_links", "next") != nil || r.header.Get("X-Total-Count") != "30" {
				e.t.Errorf("unpaginated list: %d items: %s", len(slugs(r)), r.raw)
			}
		}},
		{"embedding false", "", "    embedding: false\n", func(e *env) {
			r := e.do("GET", "/api/todos?embedded="+url.QueryEscape(`{"friend":1}`), e.alice, "")
			e.want(r, 400)
			if !strings.Contains(r.raw, "embedding: false") {
				e.t.Errorf("embedded: %s", r.raw)
			}
		}},
		{"embedding (Eve's default)", "", "", func(e *env) {
			e.want(e.do("GET", "/api/todos?embedded="+url.QueryEscape(`{"friend":1}`), e.alice, ""), 200)
		}},
		{"resource_title", "", "    resource_title: my todos\n", func(e *env) {
			if r := e.do("GET", "/api/", "", ""); !strings.Contains(r.raw, `"title":"my todos"`) {
				e.t.Errorf("home: %s", r.raw)
			}
			id := e.seed(e.alice, `{"slug":"a"}`)[0]
			if r := e.do("GET", "/api/todos", e.alice, ""); e.body(r, "_links", "self").(map[string]any)["title"] != "my todos" {
				e.t.Errorf("list: %s", r.raw)
			}
			if r := e.do("GET", "/api/todos/"+id, e.alice, ""); e.body(r, "_links", "collection").(map[string]any)["title"] != "my todos" {
				e.t.Errorf("item: %s", r.raw)
			}
		}},
	}
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					e := newEnv(t, b, settingsYAML(tc.top, tc.settings))
					tc.run(e)
				})
			}
		})
	}
}

func slugs(r resp) []string {
	var out []string
	items, _ := r.body["_items"].([]any)
	for _, it := range items {
		out = append(out, fmt.Sprint(it.(map[string]any)["slug"]))
	}
	return out
}
