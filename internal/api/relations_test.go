package api_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// relationsYAML declares Eve schemas with readonly and data_relation
// rules: pets refer to people by _id (friend, friends: embeddable), by
// code (vet: not embeddable) and to drops, which take documents but serve
// none (drop); notes, public to read, refer to people.
const relationsYAML = `
resources:
  people:
    resource_methods: [GET, POST]
    item_methods: [GET, PATCH, PUT, DELETE]
    owner_field: owner
    schema:
      name: {type: string, required: true}
      code: {type: string}
      secret: {type: string, readonly: true, default: s}
      meta:
        type: dict
        schema:
          rank: {type: integer, readonly: true}
          note: {type: string}
  pets:
    resource_methods: [GET, POST]
    item_methods: [GET, PATCH, PUT, DELETE]
    owner_field: owner
    schema:
      name: {type: string}
      friend: {type: objectid, nullable: true, data_relation: {resource: people, embeddable: true}}
      friends: {type: list, schema: {type: objectid, data_relation: {resource: people, embeddable: true}}}
      vet: {type: string, data_relation: {resource: people, field: code}}
      drop: {type: objectid, data_relation: {resource: drops, embeddable: true}}
  drops:
    resource_methods: [POST]
    item_methods: [DELETE]
    owner_field: owner
    schema:
      secret: {type: string}
  notes:
    resource_methods: [GET, POST]
    public_methods: [GET]
    schema:
      text: {type: string}
      author: {type: objectid, data_relation: {resource: people, embeddable: true}}
`

// findCounter counts the Find calls of the store it wraps.
type findCounter struct {
	*docstore.Store
	finds atomic.Int64
}

func (s *findCounter) Find(ctx context.Context, collection, owner string, q docquery.Query) ([]docstore.Document, error) {
	s.finds.Add(1)
	return s.Store.Find(ctx, collection, owner, q)
}

type relEnv struct {
	*env
	store  *findCounter
	noRead string // alice without people:read
}

func newRelEnv(t *testing.T, b storagetest.Backend) *relEnv {
	t.Helper()
	var store *findCounter
	e := newEnv(t, b, relationsYAML,
		withScopes("people:read", "people:write", "pets:read", "pets:write", "notes:read", "notes:write", "drops:read", "drops:write"),
		withConfig(func(e *env, c *api.Config) {
			store = &findCounter{Store: e.docs}
			c.Store = store
		}))
	return &relEnv{env: e, store: store, noRead: e.issuer.Token(t, "alice", "pets:read", "pets:write")}
}

// create posts body to path and returns the new document's id and etag.
func (e *relEnv) create(token, path, body string) (id, etag string) {
	e.t.Helper()
	r := e.do("POST", path, token, body)
	e.want(r, 201)
	return r.body["_id"].(string), r.body["_etag"].(string)
}

// write sends alice's body to collection as kind says: a POST, a PUT or
// PATCH of the document id with If-Match etag, or "PUT new", a PUT that
// creates a document of a new id.
func (e *relEnv) write(kind, collection, id, etag, body string) resp {
	e.t.Helper()
	path, method := collection, kind
	var hdr []string
	switch kind {
	case "PUT new":
		path, method = path+"/"+docstore.NewID(), "PUT"
	case "PUT", "PATCH":
		path += "/" + id
		hdr = []string{"If-Match", etag}
	}
	return e.do(method, path, e.alice, body, hdr...)
}

// issueAt returns the _issues entry at path (bulk: under _items.i).
func issueAt(r resp, path ...string) any {
	var v any = r.body["_issues"]
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v = x[p]
		case []any:
			i := int(p[0] - '0')
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

func TestReadOnly(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := newRelEnv(t, b)
			id, etag := e.create(e.alice, "/api/people", `{"name":"ann","meta":{"note":"n"}}`)
			// The default of a read-only field applies.
			r := e.do("GET", "/api/people/"+id, e.alice, "")
			if r.body["secret"] != "s" {
				t.Fatalf("default of a read-only field: %s", r.raw)
			}
			const ro = "field is read-only"
			tests := []struct {
				name, method, body string
				status             int
				issue              []string // where the read-only issue is, if any
			}{
				{"POST sets it", "POST", `{"name":"x","secret":"mine"}`, 422, []string{"secret"}},
				{"POST sets a nested one", "POST", `{"name":"x","meta":{"rank":1}}`, 422, []string{"meta", "rank"}},
				{"POST sets it to its default", "POST", `{"name":"x","secret":"s"}`, 422, []string{"secret"}},
				{"bulk POST", "POST", `[{"name":"x"},{"name":"y","secret":"z"}]`, 422, nil},
				{"PUT sets it", "PUT", `{"name":"x","secret":"mine"}`, 422, []string{"secret"}},
				{"PUT creating sets it", "PUT new", `{"name":"x","secret":"mine"}`, 422, []string{"secret"}},
				{"PATCH sets it", "PATCH", `{"secret":"mine"}`, 422, []string{"secret"}},
				{"PATCH sets a nested one", "PATCH", `{"meta":{"rank":2}}`, 422, []string{"meta", "rank"}},
				// The merged document has secret (stored): the patch has not.
				{"PATCH leaves it", "PATCH", `{"name":"ann2"}`, 200, nil},
				{"POST without it", "POST", `{"name":"z","meta":{"note":"n"}}`, 201, nil},
			}
			for _, tt := range tests {
				r := e.write(tt.method, "/api/people", id, etag, tt.body)
				if r.status != tt.status {
					t.Fatalf("%s: status %d, want %d: %s", tt.name, r.status, tt.status, r.raw)
				}
				if tt.status == 200 {
					etag = r.body["_etag"].(string)
				}
				if tt.issue != nil {
					if got := issueAt(r, tt.issue...); got != ro {
						t.Errorf("%s: issue at %v = %v: %s", tt.name, tt.issue, got, r.raw)
					}
				}
				if tt.name == "bulk POST" {
					items, _ := r.body["_items"].([]any)
					if len(items) != 2 || items[1].(map[string]any)["_issues"].(map[string]any)["secret"] != ro ||
						items[0].(map[string]any)["_status"] != "OK" {
						t.Errorf("bulk: %s", r.raw)
					}
				}
			}
			r = e.do("GET", "/api/people/"+id, e.alice, "")
			if r.body["secret"] != "s" || r.body["name"] != "ann2" {
				t.Errorf("after the writes: %s", r.raw)
			}
		})
	}
}

func TestDataRelation(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := newRelEnv(t, b)
			ann, _ := e.create(e.alice, "/api/people", `{"name":"ann","code":"A1"}`)
			gone, goneTag := e.create(e.alice, "/api/people", `{"name":"gone"}`)
			bobs, _ := e.create(e.bob, "/api/people", `{"name":"bo","code":"B1"}`)
			const missing = "0123456789abcdef01234567"
			msg := func(v, field string) string {
				return "value '" + v + "' must exist in resource 'people', field '" + field + "'."
			}
			pet, petTag := e.create(e.alice, "/api/pets", `{"name":"rex","friend":"`+gone+`"}`)
			e.want(e.do("DELETE", "/api/people/"+gone, e.alice, "", "If-Match", goneTag), 204)
			tests := []struct {
				name, method, body string
				status             int
				issue              []string
				want               string
			}{
				{"own reference", "POST", `{"friend":"` + ann + `"}`, 201, nil, ""},
				{"null reference", "POST", `{"friend":null}`, 201, nil, ""},
				{"another owner's document", "POST", `{"friend":"` + bobs + `"}`, 422, []string{"friend"}, msg(bobs, "_id")},
				{"missing document", "POST", `{"friend":"` + missing + `"}`, 422, []string{"friend"}, msg(missing, "_id")},
				{"list: every item", "POST", `{"friends":["` + ann + `","` + bobs + `"]}`, 422, []string{"friends", "1"}, msg(bobs, "_id")},
				{"list: all exist", "POST", `{"friends":["` + ann + `","` + ann + `"]}`, 201, nil, ""},
				{"by another field", "POST", `{"vet":"A1"}`, 201, nil, ""},
				{"by another field, another owner's", "POST", `{"vet":"B1"}`, 422, []string{"vet"}, msg("B1", "code")},
				{"bulk", "POST", `[{"friend":"` + ann + `"},{"friend":"` + missing + `"}]`, 422, nil, ""},
				{"PUT", "PUT", `{"friend":"` + missing + `"}`, 422, []string{"friend"}, msg(missing, "_id")},
				{"PUT creating", "PUT new", `{"friend":"` + missing + `"}`, 422, []string{"friend"}, msg(missing, "_id")},
				{"PATCH sets it", "PATCH", `{"friend":"` + bobs + `"}`, 422, []string{"friend"}, msg(bobs, "_id")},
				// The stored friend is gone: a PATCH of other fields
				// checks the patch, not the merged document.
				{"PATCH of another field", "PATCH", `{"name":"rex2"}`, 200, nil, ""},
			}
			for _, tt := range tests {
				r := e.write(tt.method, "/api/pets", pet, petTag, tt.body)
				if r.status != tt.status {
					t.Fatalf("%s: status %d, want %d: %s", tt.name, r.status, tt.status, r.raw)
				}
				if tt.issue != nil {
					if got := issueAt(r, tt.issue...); got != tt.want {
						t.Errorf("%s: issue at %v = %v, want %q: %s", tt.name, tt.issue, got, tt.want, r.raw)
					}
				}
				if tt.name == "bulk" {
					items, _ := r.body["_items"].([]any)
					if len(items) != 2 || items[1].(map[string]any)["_issues"].(map[string]any)["friend"] != msg(missing, "_id") {
						t.Errorf("bulk: %s", r.raw)
					}
				}
			}
			// Nothing of the refused bulk was stored.
			r := e.do("GET", "/api/pets?max_results=50", e.alice, "")
			if n := len(r.body["_items"].([]any)); n != 5 {
				t.Errorf("%d pets stored, want 5: %s", n, r.raw)
			}
		})
	}
}

func TestEmbedded(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			e := newRelEnv(t, b)
			ann, _ := e.create(e.alice, "/api/people", `{"name":"ann"}`)
			cy, _ := e.create(e.alice, "/api/people", `{"name":"cy"}`)
			bobs, _ := e.create(e.bob, "/api/people", `{"name":"bo"}`)
			p1, _ := e.create(e.alice, "/api/pets", `{"name":"p1","friend":"`+ann+`","friends":["`+cy+`","`+ann+`"]}`)
			e.create(e.alice, "/api/pets", `{"name":"p2","friend":"`+cy+`"}`)
			e.create(e.alice, "/api/pets", `{"name":"p3","friend":"`+ann+`"}`)
			e.create(e.alice, "/api/notes", `{"text":"n","author":"`+ann+`"}`)
			// A reference to another owner's document, stored before the
			// rule was declared: never embedded.
			foreign := docstore.Document{ID: docstore.NewID(), Owner: "alice", Created: time.Now(), Updated: time.Now(),
				ETag: docstore.NewETag(), Data: json.RawMessage(`{"name":"p4","friend":"` + bobs + `","friends":["` + bobs + `","` + cy + `"]}`)}
			if err := e.store.Insert(context.Background(), "pets", []docstore.Document{foreign}); err != nil {
				t.Fatal(err)
			}
			q := func(s string) string { return url.QueryEscape(s) }
			name := func(v any) any {
				m, _ := v.(map[string]any)
				return m["name"]
			}
			t.Run("item", func(t *testing.T) {
				r := e.do("GET", "/api/pets/"+p1+"?embedded="+q(`{"friend":1,"friends":1}`), e.alice, "")
				e.want(r, 200)
				f, _ := r.body["friend"].(map[string]any)
				if f["name"] != "ann" || f["_id"] != ann || f["_etag"] == nil || f["_created"] == nil || f["owner"] != "alice" ||
					f["_links"].(map[string]any)["self"].(map[string]any)["href"] != "people/"+ann {
					t.Errorf("friend = %v", r.body["friend"])
				}
				fs, _ := r.body["friends"].([]any)
				if len(fs) != 2 || name(fs[0]) != "cy" || name(fs[1]) != "ann" {
					t.Errorf("friends = %v", r.body["friends"])
				}
				// Without the parameter, or with 0, references stay.
				for _, path := range []string{"/api/pets/" + p1, "/api/pets/" + p1 + "?embedded=" + q(`{"friend":0}`)} {
					r := e.do("GET", path, e.alice, "")
					if r.body["friend"] != ann {
						t.Errorf("%s: friend = %v", path, r.body["friend"])
					}
				}
			})
			t.Run("list, batched", func(t *testing.T) {
				before := e.store.finds.Load()
				r := e.do("GET", "/api/pets?sort=name&embedded="+q(`{"friend":1,"friends":1}`), e.alice, "")
				e.want(r, 200)
				// The page, then one look-up per relation.
				if n := e.store.finds.Load() - before; n != 3 {
					t.Errorf("%d queries, want 3", n)
				}
				items := r.body["_items"].([]any)
				if len(items) != 4 {
					t.Fatalf("items: %s", r.raw)
				}
				got := []any{}
				for _, it := range items {
					m := it.(map[string]any)
					got = append(got, m["name"], name(m["friend"]))
				}
				if want := []any{"p1", "ann", "p2", "cy", "p3", "ann", "p4", nil}; !equalAny(got, want) {
					t.Errorf("names = %v, want %v", got, want)
				}
				p4 := items[3].(map[string]any)
				if p4["friend"] != bobs || strings.Contains(r.raw, `"bo"`) {
					t.Errorf("another owner's document revealed: %v", p4)
				}
				fs := p4["friends"].([]any)
				if fs[0] != bobs || name(fs[1]) != "cy" {
					t.Errorf("p4 friends = %v", fs)
				}
			})
			t.Run("projection leaves it out", func(t *testing.T) {
				r := e.do("GET", "/api/pets/"+p1+"?projection="+q(`{"name":1}`)+"&embedded="+q(`{"friend":1}`), e.alice, "")
				e.want(r, 200)
				if _, ok := r.body["friend"]; ok {
					t.Errorf("friend = %v", r.body["friend"])
				}
			})
			refusals := []struct {
				name, path, token string
				status            int
				msg               string
			}{
				{"not embeddable", "/api/pets?embedded=" + q(`{"vet":1}`), e.alice, 400, "Field 'vet' is not embeddable"},
				{"not a relation", "/api/pets/" + p1 + "?embedded=" + q(`{"name":1}`), e.alice, 400, "Field 'name' is not embeddable"},
				{"nested", "/api/pets?embedded=" + q(`{"friend.friends":1}`), e.alice, 400, "Field 'friend.friends' is not embeddable"},
				{"bad JSON", "/api/pets?embedded=" + q(`{"friend":`), e.alice, 400, "`embedded`"},
				{"not an object", "/api/pets/" + p1 + "?embedded=" + q(`[1]`), e.alice, 400, "`embedded`"},
				{"bad value", "/api/pets?embedded=" + q(`{"friend":2}`), e.alice, 400, "`embedded`"},
				{"twice", "/api/pets?embedded=" + q(`{"friend":1}`) + "&embedded=" + q(`{"friend":1}`), e.alice, 400, "embedded given more than once"},
				{"target serves no documents", "/api/pets?embedded=" + q(`{"drop":1}`), e.alice, 400, "resource 'drops' does not serve its documents"},
				{"no read scope of the target", "/api/pets?embedded=" + q(`{"friend":1}`), e.noRead, 403, "people:read"},
				{"item, no read scope", "/api/pets/" + p1 + "?embedded=" + q(`{"friend":1}`), e.noRead, 403, "people:read"},
				{"public list, no token", "/api/notes?embedded=" + q(`{"author":1}`), "", 401, ""},
			}
			for _, tt := range refusals {
				r := e.do("GET", tt.path, tt.token, "")
				e.want(r, tt.status)
				if msg, _ := e.body(r, "_error", "message").(string); !strings.Contains(msg, tt.msg) {
					t.Errorf("%s: message %q, want it to contain %q", tt.name, msg, tt.msg)
				}
			}
			// The public list embeds with a token that may read people.
			r := e.do("GET", "/api/notes?embedded="+q(`{"author":1}`), e.alice, "")
			e.want(r, 200)
			if items := r.body["_items"].([]any); len(items) != 1 || name(items[0].(map[string]any)["author"]) != "ann" {
				t.Errorf("notes: %s", r.raw)
			}
			r = e.do("GET", "/api/notes", "", "")
			e.want(r, 200)
		})
	}
}

func equalAny(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestEmbeddedOpenAPI(t *testing.T) {
	e := newRelEnv(t, storagetest.Backends()[0])
	r := e.do("GET", "/api/openapi.json", "", "")
	e.want(r, 200)
	paths := r.body["paths"].(map[string]any)
	hasEmbedded := func(op any) bool {
		params, _ := op.(map[string]any)["parameters"].([]any)
		for _, p := range params {
			if p.(map[string]any)["name"] == "embedded" {
				return strings.Contains(p.(map[string]any)["description"].(string), "friend, friends")
			}
		}
		return false
	}
	tests := []struct {
		path string
		want bool
	}{
		{"/pets", true},
		{"/pets/{id}", true},
		{"/people", false},
		{"/people/{id}", false},
	}
	for _, tt := range tests {
		if got := hasEmbedded(paths[tt.path].(map[string]any)["get"]); got != tt.want {
			t.Errorf("%s GET mentions embedded: %v, want %v", tt.path, got, tt.want)
		}
	}
}

// TestTooManyReferences: one request looks up at most maxReferences
// documents through one relation, written or embedded.
func TestTooManyReferences(t *testing.T) {
	e := newRelEnv(t, storagetest.Backends()[0])
	const maxReferences = 1000 // the API's bound
	ids := make([]string, maxReferences+1)
	for i := range ids {
		ids[i] = docstore.NewID()
	}
	body := `{"name":"many","friends":["` + strings.Join(ids, `","`) + `"]}`
	r := e.do("POST", "/api/pets", e.alice, body)
	e.want(r, 422)
	if msg, _ := e.body(r, "_error", "message").(string); !strings.Contains(msg, "at most 1000 documents through one relation") {
		t.Errorf("POST: %s", r.raw)
	}
	body = `{"name":"fewer","friends":["` + strings.Join(ids[:maxReferences], `","`) + `"]}`
	r = e.do("POST", "/api/pets", e.alice, body)
	e.want(r, 422) // none of them exists: the ordinary issues, one per reference
	if iss, _ := r.body["_issues"].(map[string]any); len(iss) == 0 {
		t.Errorf("POST with %d references: %s", maxReferences, r.raw)
	}
}

// TestReadOnlyValuesStay: a write that replaces what holds a read-only
// value (a PUT of the whole document, a PATCH of the object around it)
// keeps the stored value.
func TestReadOnlyValuesStay(t *testing.T) {
	e := newRelEnv(t, storagetest.Backends()[0])
	stored := docstore.Document{ID: docstore.NewID(), Owner: "alice", Created: time.Now(), Updated: time.Now(),
		ETag: docstore.NewETag(), Data: json.RawMessage(`{"name":"ann","secret":"kept","meta":{"rank":7,"note":"a"}}`)}
	if err := e.store.Insert(context.Background(), "people", []docstore.Document{stored}); err != nil {
		t.Fatal(err)
	}
	path := "/api/people/" + stored.ID
	etag := stored.ETag
	for _, w := range []struct{ method, body string }{
		{"PATCH", `{"meta":{"note":"b"}}`},
		{"PUT", `{"name":"ann"}`},
		{"PATCH", `{"meta":{}}`},
	} {
		r := e.do(w.method, path, e.alice, w.body, "If-Match", etag)
		e.want(r, 200)
		etag, _ = r.body["_etag"].(string)
		got := e.do("GET", path, e.alice, "")
		meta, _ := got.body["meta"].(map[string]any)
		if got.body["secret"] != "kept" || meta["rank"] != float64(7) {
			t.Errorf("after %s %s: %s", w.method, w.body, got.raw)
		}
	}
}
