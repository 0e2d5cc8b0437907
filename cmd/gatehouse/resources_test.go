package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
)

const notesOnly = "resources:\n  notes:\n    resource_methods: [GET, POST]\n    owner_field: owner\n    schema: {type: object, properties: {body: {type: string}}}\n"

// TestServeRefusesResourcesWithoutTodos: with a resource file that has no
// todos resource, serve with the web app stops before it creates anything,
// saying why and the two ways out.
func TestServeRefusesResourcesWithoutTodos(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "notes.yaml")
	if err := os.WriteFile(file, []byte(notesOnly), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	// A serve that does not refuse runs until the context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, _, stderr := gatehouse(t, ctx, "", nil, "serve", "--data-dir", data, "--resources", file,
		"--authz-addr", "127.0.0.1:0", "--api-addr", "127.0.0.1:0", "--webapp-addr", "127.0.0.1:0")
	want := "gatehouse serve: the web app cannot run with the resource file " + file + `: no "todos" resource (the file declares notes). ` +
		"A resource file replaces the built-in todos resource, which the web app shows and edits: keep a todos resource in " + file +
		" (`gatehouse resources default` prints the built-in file to start from; `gatehouse resources check " + file +
		"` checks the result), or run without the web app: --roles authz,api\n"
	if code != 1 || stderr != want {
		t.Fatalf("exit %d, stderr\n%s\nwant\n%s", code, stderr, want)
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("the data directory was created: %v", err)
	}
}

// TestResourcesCommands: `resources default` prints the built-in file;
// `resources check` lists a file's resources and scopes and says whether
// the web app can run with it, or reports the file's mistake.
func TestResourcesCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	code, out, stderr := gatehouse(t, ctx, "", nil, "resources", "default")
	if code != 0 || out != string(resource.DefaultYAML()) || stderr != "" {
		t.Fatalf("resources default: exit %d, stderr %q, stdout %q", code, stderr, out)
	}
	withNotes := filepath.Join(dir, "with-notes.yaml")
	notes := filepath.Join(dir, "notes.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	for p, s := range map[string]string{
		withNotes: out + strings.TrimPrefix(notesOnly, "resources:\n"),
		notes:     notesOnly,
		bad:       "resources:\n  notes:\n    owner_feild: owner\n    schema: {type: object}\n",
	} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{[]string{"check", withNotes}, 0, withNotes + " is valid: 2 resources\n" +
			"RESOURCE  URL         METHODS   ITEM METHODS          SCOPES                  OWNER FIELD  PUBLIC\n" +
			"notes     /api/notes  GET,POST  GET                   notes:read notes:write  owner        -\n" +
			"todos     /api/todos  GET,POST  GET,PATCH,PUT,DELETE  todos:read todos:write  owner        -\n" +
			"Scopes to give clients: notes:read notes:write todos:read todos:write\n" +
			"The web app can run with it (its todos resource fits).\n", ""},
		{[]string{"check", notes}, 0, notes + " is valid: 1 resource\n" +
			"RESOURCE  URL         METHODS   ITEM METHODS  SCOPES                  OWNER FIELD  PUBLIC\n" +
			"notes     /api/notes  GET,POST  GET           notes:read notes:write  owner        -\n" +
			"Scopes to give clients: notes:read notes:write\n" +
			`The web app cannot run with it: no "todos" resource (the file declares notes). Keep a todos resource (gatehouse resources default prints it), or serve without the web app: --roles authz,api` + "\n", ""},
		{[]string{"check", bad}, 1, "", "gatehouse resources: " + bad + `:3: resource "notes": unknown key "owner_feild" (did you mean "owner_field"?); valid keys: ` +
			"additional_lookup, allow_unknown, auth_field, bandwidth_saver, cache_control, cache_expires, compound_indexes, datasource, default_sort, embedding, hateoas, indexes, item_methods, item_title, item_url, mongo_indexes, owner_field, pagination, public_item_methods, public_methods, resource_methods, resource_title, schema, soft_delete, unique, url, versioning\n"},
		{[]string{"check"}, 2, "", "gatehouse resources: name one resource file: resources check FILE\n"},
	}
	for _, tc := range tests {
		code, out, stderr := gatehouse(t, ctx, "", nil, append([]string{"resources"}, tc.args...)...)
		if code != tc.code || out != tc.stdout || stderr != tc.stderr {
			t.Errorf("resources %s: exit %d, stdout\n%s\nstderr\n%s\nwant exit %d, stdout\n%s\nstderr\n%s", strings.Join(tc.args, " "), code, out, stderr, tc.code, tc.stdout, tc.stderr)
		}
	}
}
