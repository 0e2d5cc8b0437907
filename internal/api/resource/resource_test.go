package resource_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
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
	if r.Defaults["done"] != false {
		t.Errorf("defaults = %v", r.Defaults)
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
