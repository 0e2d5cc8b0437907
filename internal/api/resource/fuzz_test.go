package resource_test

import (
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

// FuzzParse reads fuzzed resource files: never a panic, and a file that is
// accepted describes resources the rest of the server can rely on — valid
// names and URLs, a compiled schema, sane pagination, methods from the
// allowed sets, and a collection the document store accepts.
func FuzzParse(f *testing.F) {
	f.Add(resource.DefaultYAML())
	for _, s := range []string{
		"resources:\n  things:\n    schema: {type: object, properties: {a: {type: string}}}\n",
		"resources:\n  notes:\n    url: my-notes\n    resource_methods: [GET, POST]\n    public_methods: [GET]\n    schema: {type: object}\n",
		"resources:\n  t:\n    unique: [a]\n    indexes: [a]\n    schema: {type: object, properties: {a: {type: [string, \"null\"]}, b: {type: array}}}\n",
		"resources:\n  t:\n    schema: {type: object, properties: {a: {$ref: \"#/$defs/x\"}}, $defs: {x: {type: string}}}\n",
		"resources:\n  t:\n    schema: {type: object, properties: {a: {$ref: \"https://example.com/s.json\"}}}\n",
		"resources:\n  t:\n    schema: {type: object, properties: {a: {pattern: \"(a+)+$\"}}}\n",
		"resources:\n  t:\n    compound_indexes: {a_b: [a, -b], c: [-_updated, b]}\n    schema: {type: object, properties: {a: {type: string}, b: {type: number}}}\n",
		"a: &a [*a]\n",
		"x: &x {a: 1}\ny: [*x, *x, *x]\n",
		"cors: {allowed_origins: ['*']}\nrate_limit: {get: {requests: 1, window: 1s}}\nresources:\n  t: {schema: {type: object}}\n",
		"max_body_bytes: -1\n", "resources: {}\n", "\x00", "{",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		s, err := resource.Parse(b, "fuzz.yaml")
		if err != nil {
			if s != nil {
				t.Fatal("a set with an error")
			}
			return
		}
		if len(s.Resources) == 0 || s.MaxBodyBytes <= 0 {
			t.Fatalf("accepted %d resources, max body %d", len(s.Resources), s.MaxBodyBytes)
		}
		for _, r := range s.Resources {
			if r.Schema == nil || r.Name == "" || r.URL == "" || r.URL == "openapi.json" {
				t.Fatalf("resource %+v", r)
			}
			if r.Pagination.Default < 1 || r.Pagination.Limit < r.Pagination.Default {
				t.Fatalf("pagination %+v", r.Pagination)
			}
			for _, m := range r.PublicMethods {
				if !slices.Contains(r.ResourceMethods, m) {
					t.Fatalf("public method %s not allowed", m)
				}
			}
			if r.OwnerField != "" && (len(r.PublicMethods) > 0 || len(r.PublicItemMethods) > 0) {
				t.Fatal("public methods on an owned resource")
			}
			if err := docstore.CheckCollection(r.Collection()); err != nil {
				t.Fatalf("collection refused: %v", err)
			}
			// The schema must run on any document without panicking.
			_ = r.Schema.Validate(map[string]any{"a": "x", "title": 1})
		}
	})
}
