package resource_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

func TestDefault(t *testing.T) {
	s, err := resource.LoadResources("")
	if err != nil {
		t.Fatal(err)
	}
	r, ok := s.ByURL("todos")
	if !ok || r.OwnerField != "owner" {
		t.Fatalf("todos = %+v", r)
	}
	if got := s.Scopes(); !slices.Equal(got, []string{"todos:read", "todos:write"}) {
		t.Errorf("Scopes = %v", got)
	}
	f, _ := r.Field("done")
	if f.Type != docquery.Boolean || !f.Indexed {
		t.Errorf("done = %+v", f)
	}
	if f, _ := r.Field("due"); f.Type != docquery.DateTime {
		t.Errorf("due = %+v", f)
	}
	want := []docstore.Index{
		{Name: "done_due", Keys: []docstore.IndexKey{{Field: "done"}, {Field: "due"}}},
		{Name: "done_updated", Keys: []docstore.IndexKey{{Field: "done"}, {Field: "_updated", Desc: true}}},
	}
	if !reflect.DeepEqual(r.Indexes, want) || !reflect.DeepEqual(r.Collection().Indexes, want) {
		t.Errorf("indexes = %+v, collection's %+v; want %+v", r.Indexes, r.Collection().Indexes, want)
	}
	if r.Defaults["done"] != false {
		t.Errorf("defaults = %v", r.Defaults)
	}
	wantLimits := resource.QueryLimits{Concurrency: 4, Wait: time.Second, Timeout: 3 * time.Second}
	if s.QueryLimits != wantLimits {
		t.Errorf("query limits = %+v, want %+v", s.QueryLimits, wantLimits)
	}
	if err := r.Schema.Validate(map[string]any{"title": ""}); err == nil {
		t.Error("empty title accepted")
	}
	if err := r.Schema.Validate(map[string]any{"title": "x", "due": "tomorrow"}); err == nil {
		t.Error("bad date-time accepted")
	}
}

func TestInvalid(t *testing.T) {
	base := "resources:\n  things:\n    schema: {type: object, properties: {a: {type: string}}}\n"
	base2 := "resources:\n  things:\n    schema: {type: object, properties: {a: {type: string}, d: {type: string, format: date-time}, " +
		"n: {type: number}, m: {type: integer}, b: {type: boolean}, t: {type: array}, o: {type: object}}}\n"
	tests := []struct{ name, yaml, want string }{
		{"no resources", "cors: {}\n", "no resources"},
		{"unknown key", base + "    colour: red\n", "colour"},
		{"bad name", "resources:\n  Bad-Name:\n    schema: {type: object}\n", "must match"},
		{"bad method", base + "    item_methods: [GET, FETCH]\n", "FETCH"},
		{"public with owner", base + "    owner_field: owner\n    public_methods: [GET]\n", "public methods"},
		{"owner is a property", base + "    owner_field: a\n", "must not be a schema property"},
		{"bad schema", "resources:\n  things:\n    schema: {type: object, properties: {a: {type: 7}}}\n", "schema"},
		{"no schema", "resources:\n  things:\n    url: x\n", "schema is required"},
		{"unique undeclared", base + "    unique: [b]\n", "not declared"},
		{"bad pagination", base + "    pagination: {default: 60, limit: 50}\n", "pagination"},
		{"bad property name", "resources:\n  things:\n    schema: {type: object, properties: {\"a;b\": {type: string}}}\n", "property"},
		{"bad rate limit", base + "rate_limit: {GET: {requests: 0, window: 1m}}\n", "rate_limit"},
		{"bad origin", base + "cors: {allowed_origins: [example.com]}\n", "origin"},
		{"no concurrency", base + "query_limits: {concurrency: 0}\n", "query_limits: concurrency must be at least 1"},
		{"negative wait", base + "query_limits: {wait: -1s}\n", "query_limits: wait must not be negative"},
		{"no timeout", base + "query_limits: {timeout: 0s}\n", "query_limits: timeout must be positive"},
		{"unknown query limit", base + "query_limits: {per_token: 2}\n", "per_token"},
		{"index on unknown field", base + "    compound_indexes: {a_x: [a, x]}\n", `resource "things": compound_indexes.a_x: "x" is neither`},
		{"index on object field", base2 + "    compound_indexes: {a_o: [a, o]}\n", `compound_indexes.a_o: "o" is neither`},
		{"index on array field", base2 + "    compound_indexes: {a_t: [a, t]}\n", `compound_indexes.a_t: array field "t"`},
		{"index field twice", base2 + "    compound_indexes: {a_a: [a, -a]}\n", `compound_indexes.a_a: field "a" appears twice`},
		{"index of one field", base + "    compound_indexes: {a: [a]}\n", "compound_indexes.a: a compound index has 2 to 4 fields, not 1"},
		{"index too long", base2 + "    compound_indexes: {long: [n, b, m, _created, _updated]}\n", "compound_indexes.long: a compound index has 2 to 4 fields, not 5"},
		{"index on _id", base2 + "    compound_indexes: {n_id: [n, _id]}\n", "compound_indexes.n_id: _id cannot be a key"},
		{"index bad name", base2 + "    compound_indexes: {Bad-Name: [n, b]}\n", "compound_indexes.Bad-Name: the name must match"},
		{"index name too long", base2 + "    compound_indexes: {" + strings.Repeat("x", 33) + ": [n, b]}\n", "the name must match"},
		{"index two strings", base2 + "    compound_indexes: {a_d: [a, d]}\n", "compound_indexes.a_d: at most 1 string or date-time field"},
		{"index same keys", base2 + "    compound_indexes: {one: [n, b], two: [n, b]}\n", `indexes "one" and "two" have the same keys`},
		{"index duplicate name", base2 + "    compound_indexes: {one: [n, b], one: [n, m]}\n", "already defined"},
		{"remote ref", "resources:\n  things:\n    schema: {type: object, properties: {a: {$ref: \"https://example.com/s.json\"}}}\n", "schema"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resource.Parse([]byte(tc.yaml), "test.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

// TestQueryLimits: query_limits overrides the defaults key by key; a wait
// of 0 refuses at once.
func TestQueryLimits(t *testing.T) {
	base := "resources:\n  things:\n    schema: {type: object}\n"
	tests := []struct {
		yaml string
		want resource.QueryLimits
	}{
		{"", resource.QueryLimits{Concurrency: 4, Wait: time.Second, Timeout: 3 * time.Second}},
		{"query_limits: {concurrency: 2}\n", resource.QueryLimits{Concurrency: 2, Wait: time.Second, Timeout: 3 * time.Second}},
		{"query_limits: {wait: 0s, timeout: 500ms}\n", resource.QueryLimits{Concurrency: 4, Timeout: 500 * time.Millisecond}},
	}
	for _, tc := range tests {
		s, err := resource.Parse([]byte(base+tc.yaml), "test.yaml")
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		if s.QueryLimits != tc.want {
			t.Errorf("%q: %+v, want %+v", tc.yaml, s.QueryLimits, tc.want)
		}
	}
}

func TestCompoundIndexes(t *testing.T) {
	s, err := resource.Parse([]byte(`resources:
  things:
    indexes: [a]
    compound_indexes:
      n_a: [n, -a]
      b_updated: [b, -_updated, _created]
    schema: {type: object, properties: {a: {type: string}, n: {type: number}, b: {type: boolean}}}
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := []docstore.Index{
		{Name: "b_updated", Keys: []docstore.IndexKey{{Field: "b"}, {Field: "_updated", Desc: true}, {Field: "_created"}}},
		{Name: "n_a", Keys: []docstore.IndexKey{{Field: "n"}, {Field: "a", Desc: true}}},
	}
	r := s.Resources[0]
	if !reflect.DeepEqual(r.Indexes, want) {
		t.Errorf("indexes = %+v, want %+v", r.Indexes, want)
	}
	// The collection is a copy: changing it leaves the resource alone.
	c := r.Collection()
	c.Indexes[0].Keys[0].Field = "x"
	if r.Indexes[0].Keys[0].Field != "b" {
		t.Error("Collection shares the index keys")
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "r.yaml")
	os.WriteFile(p, []byte("resources:\n  notes:\n    url: my-notes\n    resource_methods: [GET, POST]\n    schema: {type: object}\n"), 0o600)
	s, err := resource.LoadResources(p)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := s.ByURL("my-notes"); !ok || r.Name != "notes" || !slices.Equal(r.ResourceMethods, []string{"GET", "POST"}) {
		t.Fatalf("notes = %+v", r)
	}
	if _, err := resource.LoadResources(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("missing file loaded")
	}
}
