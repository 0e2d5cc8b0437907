package resource_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
)

// TestMessages pins the exact text of the mistakes people make in a
// resource file: each names the file and the line, says where in the file
// the mistake is and what would be right.
func TestMessages(t *testing.T) {
	const notes = "resources:\n  notes:\n    resource_methods: [GET, POST]\n"
	tests := []struct{ name, yaml, want string }{
		{"indentation", notes + "    schema:\n   type: object\n",
			`resources.yaml:5: YAML syntax error: did not find expected key (check this line's indentation: the keys of one mapping start in the same column, a nested mapping further right)`},
		{"indentation deeper", notes + "    schema:\n      type: object\n     properties: {}\n",
			`resources.yaml:6: YAML syntax error: did not find expected key (check this line's indentation: the keys of one mapping start in the same column, a nested mapping further right)`},
		{"tab", notes + "\tschema: {type: object}\n",
			`resources.yaml:4: YAML syntax error: found character that cannot start any token (this line has a tab: YAML indents with spaces only)`},
		{"tab in a nested mapping", notes + "    schema:\n      type: object\n\t  properties: {}\n",
			`resources.yaml:6: YAML syntax error: found a tab character that violates indentation (this line has a tab: YAML indents with spaces only)`},
		{"unclosed flow mapping", notes + "    schema: {type: object\n",
			`resources.yaml:4: YAML syntax error: did not find expected ',' or '}'`},
		{"type misspelt", notes + "    schema:\n      type: object\n      properties:\n        title: {type: string}\n        body: {type: strng}\n",
			`resources.yaml:8: resource "notes", schema property "body": type "strng" is not one of string, number, integer, boolean, object, array, null`},
		{"type misspelt in a list", notes + "    schema:\n      type: object\n      properties:\n        body:\n          type: [string, nul]\n",
			`resources.yaml:8: resource "notes", schema property "body": type "nul" in the list is not one of string, number, integer, boolean, object, array, null`},
		{"type of items", notes + "    schema:\n      type: object\n      properties:\n        tags:\n          type: array\n          items: {type: strin}\n",
			`resources.yaml:9: resource "notes", schema property "tags", items: type "strin" is not one of string, number, integer, boolean, object, array, null`},
		{"type not a name", notes + "    schema: {type: object, properties: {n: {type: 7}}}\n",
			`resources.yaml:4: resource "notes", schema property "n": type must be one of string, number, integer, boolean, object, array, null (or a list of them), not 7`},
		{"other keyword", notes + "    schema:\n      type: object\n      properties:\n        body:\n          type: string\n          minLength: -1\n",
			`resources.yaml:9: resource "notes", schema property "body": minLength: minimum: got -1, want 0`},
		{"resource key misspelt", notes + "    owner_feild: owner\n    schema: {type: object}\n",
			`resources.yaml:4: resource "notes": unknown key "owner_feild" (did you mean "owner_field"?); valid keys: ` +
				`additional_lookup, allow_unknown, auth_field, bandwidth_saver, cache_control, cache_expires, compound_indexes, datasource, default_sort, embedding, hateoas, indexes, item_methods, item_title, item_url, ` +
				`mongo_indexes, owner_field, pagination, public_item_methods, public_methods, resource_methods, resource_title, schema, soft_delete, unique, url, versioning`},
		{"resource key unlike any", notes + "    colour: red\n    schema: {type: object}\n",
			`resources.yaml:4: resource "notes": unknown key "colour"; valid keys: ` +
				`additional_lookup, allow_unknown, auth_field, bandwidth_saver, cache_control, cache_expires, compound_indexes, datasource, default_sort, embedding, hateoas, indexes, item_methods, item_title, item_url, ` +
				`mongo_indexes, owner_field, pagination, public_item_methods, public_methods, resource_methods, resource_title, schema, soft_delete, unique, url, versioning`},
		{"top-level key misspelt", "resorces:\n  notes: {schema: {type: object}}\n",
			`resources.yaml:1: unknown key "resorces" (did you mean "resources"?); valid keys: allow_override_http_method, allow_unknown, bandwidth_saver, cors, date_format, hateoas, max_body_bytes, query_limits, rate_limit, resources, soft_delete, upsert_on_put`},
		{"pagination key misspelt", notes + "    pagination:\n      default: 10\n      limt: 20\n    schema: {type: object}\n",
			`resources.yaml:6: resource "notes", pagination: unknown key "limt" (did you mean "limit"?); valid keys: default, limit`},
		{"cors key misspelt", "cors:\n  allowed_origin: ['*']\n" + notes + "    schema: {type: object}\n",
			`resources.yaml:2: cors: unknown key "allowed_origin" (did you mean "allowed_origins"?); valid keys: allowed_headers, allowed_origins, expose_headers, max_age`},
		{"rate limit key misspelt", "rate_limit:\n  GET: {request: 5, window: 1m}\n" + notes + "    schema: {type: object}\n",
			`resources.yaml:2: rate_limit.GET: unknown key "request" (did you mean "requests"?); valid keys: requests, window`},
		{"query limit key misspelt", "query_limits:\n  concurency: 2\n" + notes + "    schema: {type: object}\n",
			`resources.yaml:2: query_limits: unknown key "concurency" (did you mean "concurrency"?); valid keys: concurrency, timeout, wait`},
		{"key misspelt through a merge", "base: &b {url: n}\n" + notes,
			`resources.yaml:1: unknown key "base"; valid keys: allow_override_http_method, allow_unknown, bandwidth_saver, cors, date_format, hateoas, max_body_bytes, query_limits, rate_limit, resources, soft_delete, upsert_on_put`},
		{"wrong type", notes + "    pagination: {default: many, limit: 50}\n    schema: {type: object}\n",
			`resources.yaml:4: resource "notes", pagination.default: "many" is a string, want a whole number`},
		{"bad duration", "rate_limit:\n  GET: {requests: 5, window: 1x}\n" + notes + "    schema: {type: object}\n",
			`resources.yaml:2: rate_limit.GET.window: "1x" is a string, want a duration such as 1m or 500ms`},
		{"key twice", notes + "    url: a\n    url: b\n    schema: {type: object}\n",
			`resources.yaml:5: mapping key "url" already defined at line 4`},
		{"bad pagination", notes + "    pagination:\n      default: 60\n      limit: 50\n    schema: {type: object}\n",
			`resources.yaml:4: resource "notes": pagination: need 1 <= default (60) <= limit (50)`},
		{"bad method", notes + "    item_methods: [GET, FETCH]\n    schema: {type: object}\n",
			`resources.yaml:4: resource "notes": item_methods: method "FETCH" is not one of [GET PATCH PUT DELETE]`},
		{"bad rate-limit method", notes + "    schema: {type: object}\nrate_limit:\n  FETCH: {requests: 1, window: 1s}\n",
			`resources.yaml:6: rate_limit: unknown method "FETCH"; the methods are GET, POST, PATCH, PUT, DELETE`},
		{"empty file", "", `resources.yaml: no resources declared`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := resource.Parse([]byte(tc.yaml), "resources.yaml")
			if err == nil {
				t.Fatal("accepted")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("got\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestClosestKey: a misspelt key of any level gets the nearest valid key
// as a suggestion, and no suggestion when none is near.
func TestClosestKey(t *testing.T) {
	tests := []struct{ key, want string }{
		{"owner_feild", "owner_field"},
		{"Owner_Field", "owner_field"},
		{"itemmethods", "item_methods"},
		{"shema", "schema"},
		{"uniq", "unique"},
		{"colour", ""},
		{"x", ""},
	}
	for _, tc := range tests {
		_, err := resource.Parse([]byte("resources:\n  notes:\n    "+tc.key+": 1\n    schema: {type: object}\n"), "r.yaml")
		if err == nil {
			t.Fatalf("%s accepted", tc.key)
		}
		want := `(did you mean "` + tc.want + `"?)`
		if got := err.Error(); (tc.want != "") != strings.Contains(got, want) || (tc.want == "" && strings.Contains(got, "did you mean")) {
			t.Errorf("%s: %s", tc.key, got)
		}
	}
}
