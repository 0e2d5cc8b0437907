package resource

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
)

// WebappResource is the resource the web app (internal/webapp, through
// internal/webapp/todoclient) serves the signed-in person: it lists it at
// /todos, adds documents with a "title", renames them, sets "done", and
// deletes them, with the scopes todos:read and todos:write.
const WebappResource = "todos"

// CheckWebapp reports why the web app cannot work with s, if it cannot:
// s has no "todos" resource (a resource file replaces the built-in one), or
// one the web app's requests would fail against. Nil means it fits.
func (s *Set) CheckWebapp() error {
	var r *Resource
	names := make([]string, 0, len(s.Resources))
	for _, x := range s.Resources {
		names = append(names, x.Name)
		if x.Name == WebappResource {
			r = x
		}
	}
	if r == nil {
		return fmt.Errorf("no %q resource (the file declares %s)", WebappResource, strings.Join(names, ", "))
	}
	var problems []string
	if r.URL != WebappResource {
		problems = append(problems, fmt.Sprintf("its url is %q, the web app calls /%s", r.URL, WebappResource))
	}
	if miss := missing(r.ResourceMethods, "GET", "POST"); miss != "" {
		problems = append(problems, "resource_methods lack "+miss)
	}
	if miss := missing(r.ItemMethods, "PATCH", "DELETE"); miss != "" {
		problems = append(problems, "item_methods lack "+miss)
	}
	if r.OwnerField == "" {
		problems = append(problems, "it has no owner_field, so every person would see everyone's todos")
	}
	// The web app pages with _meta and the next and prev links, and shows
	// each todo's title and done.
	if r.NoPagination {
		problems = append(problems, "it has pagination: false, the web app reads pages")
	}
	if r.NoHATEOAS {
		problems = append(problems, "it has hateoas: false, the web app follows the next and prev links")
	}
	for _, f := range []string{"title", "done"} {
		if !r.Projection.Keep(f) {
			problems = append(problems, fmt.Sprintf("datasource.projection hides %q", f))
		}
	}
	props, _ := r.SchemaDoc["properties"].(map[string]any)
	for _, want := range []struct {
		name string
		typ  docquery.Type
		kind string
	}{{"title", docquery.String, "a string"}, {"done", docquery.Boolean, "a boolean"}} {
		if _, declared := props[want.name]; !declared {
			continue
		}
		if f, ok := r.Field(want.name); !ok || f.Type != want.typ {
			problems = append(problems, fmt.Sprintf("schema property %q must be %s", want.name, want.kind))
		}
	}
	// What the web app stores: a new todo has only a title (plus the
	// schema's defaults); ticking it off adds done.
	for _, doc := range []map[string]any{{"title": "Buy milk"}, {"title": "Buy milk", "done": true}} {
		for k, v := range r.Defaults {
			if _, set := doc[k]; !set {
				doc[k] = v
			}
		}
		if err := r.Schema.Validate(doc); err != nil && len(problems) == 0 {
			problems = append(problems, fmt.Sprintf("the schema refuses the web app's todo %s: %s", showDoc(doc), oneLine(err)))
			break
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("resource %q does not fit the web app: %s", WebappResource, strings.Join(problems, "; "))
	}
	return nil
}

// missing lists the methods of want that are not in have.
func missing(have []string, want ...string) string {
	var out []string
	for _, m := range want {
		if !slices.Contains(have, m) {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

func showDoc(doc map[string]any) string {
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %#v", k, doc[k]))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// oneLine is the gist of a validation error in one line: its deepest
// cause, which names the property and the rule.
func oneLine(err error) string {
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		err = deepest(ve)
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return strings.TrimPrefix(s, "at '': ")
}
