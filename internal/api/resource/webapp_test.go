package resource_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
)

// TestCheckWebapp: the web app needs a "todos" resource it can list, add
// to, rename, tick off and delete in, owned by the signed-in person.
func TestCheckWebapp(t *testing.T) {
	const notes = "  notes:\n    schema: {type: object, properties: {body: {type: string}}}\n"
	const todos = "  todos:\n    resource_methods: [GET, POST]\n    item_methods: [GET, PATCH, DELETE]\n    owner_field: owner\n"
	tests := []struct{ name, yaml, want string }{
		{"built-in", string(resource.DefaultYAML()), ""},
		{"built-in plus notes", string(resource.DefaultYAML()) + notes, ""},
		{"smallest that fits", "resources:\n" + todos + "    schema: {type: object}\n", ""},
		{"only notes", "resources:\n" + notes, `no "todos" resource (the file declares notes)`},
		{"todos elsewhere", "resources:\n" + todos + "    url: my-todos\n    schema: {type: object}\n",
			`resource "todos" does not fit the web app: its url is "my-todos", the web app calls /todos`},
		{"read only", "resources:\n  todos:\n    owner_field: owner\n    schema: {type: object}\n",
			`resource "todos" does not fit the web app: resource_methods lack POST; item_methods lack PATCH, DELETE`},
		{"shared", "resources:\n  todos:\n    resource_methods: [GET, POST]\n    item_methods: [GET, PATCH, DELETE]\n    schema: {type: object}\n",
			`resource "todos" does not fit the web app: it has no owner_field, so every person would see everyone's todos`},
		{"title a number", "resources:\n" + todos + "    schema: {type: object, properties: {title: {type: integer}, done: {type: string}}}\n",
			`resource "todos" does not fit the web app: schema property "title" must be a string; schema property "done" must be a boolean`},
		{"more required", "resources:\n" + todos + "    schema: {type: object, required: [title, priority], properties: {title: {type: string}, priority: {type: integer}}}\n",
			`resource "todos" does not fit the web app: the schema refuses the web app's todo {title: "Buy milk"}: missing property 'priority'`},
		{"no done", "resources:\n" + todos + "    schema: {type: object, additionalProperties: false, properties: {title: {type: string}}}\n",
			`resource "todos" does not fit the web app: the schema refuses the web app's todo {done: true, title: "Buy milk"}: additional properties 'done' not allowed`},
		{"answers without pages, links or titles", "resources:\n" + todos + "    pagination: false\n    hateoas: false\n    datasource: {projection: {title: 0}}\n" +
			"    schema: {type: object, properties: {title: {type: string}}}\n",
			`resource "todos" does not fit the web app: it has pagination: false, the web app reads pages; ` +
				`it has hateoas: false, the web app follows the next and prev links; datasource.projection hides "title"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := resource.Parse([]byte(tc.yaml), "resources.yaml")
			if err != nil {
				t.Fatal(err)
			}
			err = s.CheckWebapp()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("got  %v\nwant %s", err, tc.want)
			}
		})
	}
}
