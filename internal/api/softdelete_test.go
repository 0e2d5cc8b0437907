package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

const stateYAML = `
resources:
  todos:
    item_title: todo
    resource_methods: [GET, POST]
    item_methods: [GET, PATCH, PUT, DELETE]
    owner_field: owner
    unique: [title]
    soft_delete: true
    versioning: true
    schema:
      type: object
      additionalProperties: false
      required: [title]
      properties:
        title: {type: string}
        done: {type: boolean, default: false}
`

func TestSoftDeleteAndVersioning(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, b, stateYAML)
			t.Run("versions", func(t *testing.T) { e.t = t; testVersions(e) })
			t.Run("soft delete", func(t *testing.T) { e.t = t; testSoftDelete(e) })
			t.Run("concurrent writes", func(t *testing.T) { e.t = t; testConcurrentVersions(e) })
			t.Run("openapi", func(t *testing.T) {
				e.t = t
				r := e.do("GET", "/api/openapi.json", "", "")
				e.want(r, 200)
				for _, s := range []string{`"show_deleted"`, `"version"`, `"_deleted"`, `"_version"`, `"_latest_version"`} {
					if !strings.Contains(r.raw, s) {
						t.Errorf("the OpenAPI document does not mention %s", s)
					}
				}
			})
		})
	}
}

// field reads a top-level field of an answer as text.
func field(r resp, name string) string { return fmt.Sprint(r.body[name]) }

func testVersions(e *env) {
	created := e.post(e.alice, `{"title":"v1"}`)
	id := field(created, "_id")
	for k, want := range map[string]string{"_version": "1", "_latest_version": "1", "_deleted": "false"} {
		if got := field(created, k); got != want {
			e.t.Errorf("POST answer %s = %s, want %s", k, got, want)
		}
	}
	r := e.do("PATCH", "/api/todos/"+id, e.alice, `{"title":"v2"}`, "If-Match", field(created, "_etag"))
	e.want(r, 200)
	if field(r, "_version") != "2" {
		e.t.Errorf("PATCH answer _version = %s, want 2", field(r, "_version"))
	}
	for _, c := range []struct {
		query, who string
		status     int
		check      map[string]string
		msg        string
	}{
		{"", "alice", 200, map[string]string{"title": "v2", "_version": "2", "_latest_version": "2", "_deleted": "false"}, ""},
		{"?version=1", "alice", 200, map[string]string{"title": "v1", "_version": "1", "_latest_version": "2", "done": "false"}, ""},
		{"?version=2", "alice", 200, map[string]string{"title": "v2", "_version": "2"}, ""},
		{"?version=3", "alice", 404, nil, ""},
		{"?version=0", "alice", 400, nil, "Document version number should be an int greater than 0"},
		{"?version=x", "alice", 400, nil, "Document version number should be an int greater than 0"},
		{"?version=1", "bob", 404, nil, ""},
		{"?version=all", "bob", 404, nil, ""},
	} {
		tok := e.alice
		if c.who == "bob" {
			tok = e.bob
		}
		r := e.do("GET", "/api/todos/"+id+c.query, tok, "")
		e.want(r, c.status)
		for k, want := range c.check {
			if got := field(r, k); got != want {
				e.t.Errorf("GET %s: %s = %s, want %s", c.query, k, got, want)
			}
		}
		if c.msg != "" && !strings.Contains(r.raw, c.msg) {
			e.t.Errorf("GET %s: %s, want %q", c.query, r.raw, c.msg)
		}
	}
	all := e.do("GET", "/api/todos/"+id+"?version=all", e.alice, "")
	e.want(all, 200)
	if got := titles(all); strings.Join(got, ",") != "v1,v2" {
		e.t.Errorf("?version=all titles = %v", got)
	}
	if m, _ := all.body["_meta"].(map[string]any); fmt.Sprint(m["total"]) != "2" || all.header.Get("X-Total-Count") != "2" {
		e.t.Errorf("?version=all _meta = %v", all.body["_meta"])
	}
	page := e.do("GET", "/api/todos/"+id+"?version=all&max_results=1&page=2", e.alice, "")
	if got := titles(page); strings.Join(got, ",") != "v2" {
		e.t.Errorf("?version=all page 2 titles = %v", got)
	}
	diffs := e.do("GET", "/api/todos/"+id+"?version=diffs", e.alice, "")
	e.want(diffs, 200)
	items, _ := diffs.body["_items"].([]any)
	if len(items) != 2 {
		e.t.Fatalf("?version=diffs: %s", diffs.raw)
	}
	first, second := items[0].(map[string]any), items[1].(map[string]any)
	if first["title"] != "v1" || first["done"] != false || first["_id"] != id {
		e.t.Errorf("first diff is not the whole first version: %v", first)
	}
	for _, k := range []string{"title", "_version", "_etag"} {
		if _, ok := second[k]; !ok {
			e.t.Errorf("second diff lacks the changed %s: %v", k, second)
		}
	}
	for _, k := range []string{"done", "_id", "_created", "_latest_version"} {
		if _, ok := second[k]; ok {
			e.t.Errorf("second diff has the unchanged %s: %v", k, second)
		}
	}
	// A page of diffs after the first starts from the version before it.
	d2 := e.do("GET", "/api/todos/"+id+"?version=diffs&max_results=1&page=2", e.alice, "")
	if items, _ := d2.body["_items"].([]any); len(items) != 1 || items[0].(map[string]any)["done"] != nil {
		e.t.Errorf("diffs page 2: %s", d2.raw)
	}
}

func testSoftDelete(e *env) {
	created := e.post(e.alice, `{"title":"gone"}`)
	id := field(created, "_id")
	r := e.do("DELETE", "/api/todos/"+id, e.alice, "", "If-Match", field(created, "_etag"))
	e.want(r, 204)
	item := e.do("GET", "/api/todos/"+id, e.alice, "")
	e.want(item, 404)
	if item.body["_deleted"] != true || item.body["title"] != "gone" || item.body["_version"] != float64(2) {
		e.t.Errorf("GET of a soft-deleted document: %s", item.raw)
	}
	deletedTag := field(item, "_etag")
	if deletedTag == field(created, "_etag") || deletedTag == "<nil>" {
		e.t.Errorf("the soft delete kept the entity tag: %s", item.raw)
	}
	inList := func(query string) (bool, string) {
		r := e.do("GET", "/api/todos"+query, e.alice, "")
		e.want(r, 200)
		items, _ := r.body["_items"].([]any)
		for _, it := range items {
			if m := it.(map[string]any); m["_id"] == id {
				return m["_deleted"] == true, r.header.Get("X-Total-Count")
			}
		}
		return false, r.header.Get("X-Total-Count")
	}
	before, _ := inList("")
	shown, total := inList("?show_deleted")
	shownTrue, totalTrue := inList("?show_deleted=true&max_results=1")
	_, hidden := inList("?max_results=1")
	if before || !shown {
		e.t.Errorf("listed without show_deleted: %v; with it, deleted: %v", before, shown)
	}
	if !shownTrue && totalTrue != total {
		e.t.Errorf("show_deleted=true: total %s, want %s", totalTrue, total)
	}
	if hidden == total {
		e.t.Errorf("the total without show_deleted (%s) counts the deleted document (%s)", hidden, total)
	}
	for _, c := range []struct {
		method, body string
		status       int
	}{
		{"PATCH", `{"title":"again"}`, 404},
		{"DELETE", "", 404},
	} {
		r := e.do(c.method, "/api/todos/"+id, e.alice, c.body, "If-Match", deletedTag)
		e.want(r, c.status)
	}
	// Its unique value is free.
	e.post(e.alice, `{"title":"gone"}`)
	// A PUT restores it (onto a free title).
	r = e.do("PUT", "/api/todos/"+id, e.alice, `{"title":"back"}`, "If-Match", deletedTag)
	e.want(r, 200)
	if r.body["_deleted"] != false || r.body["_version"] != float64(3) {
		e.t.Errorf("PUT answer: %s", r.raw)
	}
	e.want(e.do("GET", "/api/todos/"+id, e.alice, ""), 200)
	// Its deleted version answers as a deleted document.
	v2 := e.do("GET", "/api/todos/"+id+"?version=2", e.alice, "")
	e.want(v2, 404)
	if v2.body["_deleted"] != true || v2.body["_latest_version"] != float64(3) {
		e.t.Errorf("GET ?version=2: %s", v2.raw)
	}
}

// testConcurrentVersions sends 16 PATCHes with one entity tag: one wins,
// and makes the one new version.
func testConcurrentVersions(e *env) {
	created := e.post(e.alice, `{"title":"race"}`)
	id, tag := field(created, "_id"), field(created, "_etag")
	statuses := make([]int, 16)
	var wg sync.WaitGroup
	for i := range statuses {
		wg.Go(func() {
			req, _ := http.NewRequest("PATCH", e.srv.URL+"/api/todos/"+id, strings.NewReader(fmt.Sprintf(`{"title":"race %d"}`, i)))
			req.Header.Set("Authorization", "Bearer "+e.alice)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("If-Match", tag)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
		})
	}
	wg.Wait()
	won := 0
	for _, s := range statuses {
		switch s {
		case 200:
			won++
		case 412:
		default:
			e.t.Errorf("statuses %v: want 200 and 412s", statuses)
		}
	}
	if won != 1 {
		e.t.Errorf("%d PATCHes won, want 1: %v", won, statuses)
	}
	all := e.do("GET", "/api/todos/"+id+"?version=all", e.alice, "")
	if m, _ := all.body["_meta"].(map[string]any); fmt.Sprint(m["total"]) != "2" {
		e.t.Errorf("versions after the race: %s", all.raw)
	}
}
