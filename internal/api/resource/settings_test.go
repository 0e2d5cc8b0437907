package resource_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

// people is a resource with an Eve schema; top goes before it, settings
// after its name.
func people(top, settings string) string {
	return top + "resources:\n  people:\n" + settings + `    schema:
      username: {type: string, unique: true}
      name: {type: string}
      age: {type: integer}
      secret: {type: string}
      nick: {type: string}
`
}

func TestSettings(t *testing.T) {
	tests := []struct {
		name, yaml string
		check      func(r *resource.Resource) bool
	}{
		{"defaults", people("", ""), func(r *resource.Resource) bool {
			return r.Title() == "people" && r.ItemURL == nil && r.Lookup == nil && r.Filter == nil && !r.NoHATEOAS &&
				!r.NoBandwidthSaver && !r.NoPagination && !r.NoEmbedding && !r.AllowUnknown
		}},
		{"resource_title", people("", "    resource_title: folks\n"), func(r *resource.Resource) bool { return r.Title() == "folks" }},
		{"title defaults to url", people("", "    url: folk\n"), func(r *resource.Resource) bool { return r.Title() == "folk" }},
		{"additional_lookup", people("", "    additional_lookup: {url: 'regex(\"[\\w]+\")', field: username}\n"), func(r *resource.Resource) bool {
			return r.Lookup != nil && r.Lookup.Field == "username" && r.Lookup.Type == docquery.String &&
				r.Lookup.Match.MatchString("ada_1") && !r.Lookup.Match.MatchString("ada-1")
		}},
		{"item_url", people("", "    item_url: 'regex(\"[a-f0-9]{24}|[0-9]+\")'\n"), func(r *resource.Resource) bool {
			return r.ItemURL.MatchString("12") && !r.ItemURL.MatchString("x12")
		}},
		{"datasource", people("", "    datasource:\n      filter: {age: {$gte: 18}}\n      projection: {secret: 0}\n      default_sort: [[name, 1], [_updated, -1]]\n"),
			func(r *resource.Resource) bool {
				c, ok := r.Filter.(*docquery.Cond)
				return ok && c.Field == "age" && c.Op == docquery.Gte && !r.Projection.Keep("secret") && r.Projection.Keep("name") &&
					r.DefaultSort == "name,-_updated"
			}},
		{"datasource default_sort string", people("", "    datasource: {default_sort: -age, source: people}\n"), func(r *resource.Resource) bool {
			return r.DefaultSort == "-age"
		}},
		{"pagination false", people("", "    pagination: false\n"), func(r *resource.Resource) bool {
			return r.NoPagination && r.Pagination == resource.Pagination{Default: 25, Limit: 50}
		}},
		{"pagination true", people("", "    pagination: true\n"), func(r *resource.Resource) bool { return !r.NoPagination }},
		{"answer shape", people("", "    hateoas: false\n    bandwidth_saver: false\n    embedding: false\n"), func(r *resource.Resource) bool {
			return r.NoHATEOAS && r.NoBandwidthSaver && r.NoEmbedding
		}},
		{"top-level defaults", people("hateoas: false\nbandwidth_saver: false\nallow_unknown: true\n", ""), func(r *resource.Resource) bool {
			return r.NoHATEOAS && r.NoBandwidthSaver && r.AllowUnknown && r.Schema.Validate(map[string]any{"extra": 1}) == nil
		}},
		{"resource overrides top level", people("hateoas: false\nallow_unknown: true\n", "    hateoas: true\n    allow_unknown: false\n"), func(r *resource.Resource) bool {
			return !r.NoHATEOAS && !r.AllowUnknown && r.Schema.Validate(map[string]any{"extra": 1}) != nil
		}},
		{"allow_unknown, Eve schema", people("", "    allow_unknown: true\n"), func(r *resource.Resource) bool {
			return r.AllowUnknown && r.Schema.Validate(map[string]any{"extra": 1}) == nil && r.Schema.Validate(map[string]any{"age": "x"}) != nil
		}},
		{"allow_unknown false, JSON Schema", "resources:\n  things:\n    allow_unknown: false\n    schema: {type: object, properties: {a: {type: string}}}\n",
			func(r *resource.Resource) bool {
				return !r.AllowUnknown && r.Schema.Validate(map[string]any{"extra": 1}) != nil
			}},
		{"JSON Schema keeps its additionalProperties", "allow_unknown: true\nresources:\n  things:\n    schema: {type: object, additionalProperties: false}\n",
			func(r *resource.Resource) bool {
				return !r.AllowUnknown && r.Schema.Validate(map[string]any{"extra": 1}) != nil
			}},
		{"auth_field", people("", "    auth_field: owner\n"), func(r *resource.Resource) bool { return r.OwnerField == "owner" }},
		{"mongo_indexes", people("", "    mongo_indexes: {name_age: [[name, 1], [age, -1]], age_upd: [age, -_updated]}\n"), func(r *resource.Resource) bool {
			return reflect.DeepEqual(r.Indexes, []docstore.Index{
				{Name: "age_upd", Keys: []docstore.IndexKey{{Field: "age"}, {Field: "_updated", Desc: true}}},
				{Name: "name_age", Keys: []docstore.IndexKey{{Field: "name"}, {Field: "age", Desc: true}}},
			})
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := resource.Parse([]byte(tc.yaml), "test.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if r := s.Resources[0]; !tc.check(r) {
				t.Errorf("settings = %+v", r.Settings)
			}
		})
	}
}

func TestSettingsRoute(t *testing.T) {
	id := "0123456789abcdef01234567"
	tests := []struct {
		name, settings, seg string
		lookup, ok          bool
	}{
		{"id", "", id, false, true},
		{"other segment without item_url", "", "abc", false, true},
		{"lookup", "    additional_lookup: {url: 'regex(\"[a-z]+\")', field: username}\n", "ada", true, true},
		{"id wins over lookup", "    additional_lookup: {url: 'regex(\"[a-z0-9]+\")', field: username}\n", id, false, true},
		{"neither, with item_url", "    item_url: 'regex(\"[a-f0-9]{24}\")'\n", "ADA", false, false},
		{"lookup string rule", "    item_url: 'regex(\"[a-f0-9]{24}\")'\n    additional_lookup: {url: string, field: username}\n", "Ada Lovelace", true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := resource.Parse([]byte(people("", tc.settings)), "test.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if lookup, ok := s.Resources[0].Route(tc.seg); lookup != tc.lookup || ok != tc.ok {
				t.Errorf("Route(%q) = %t, %t; want %t, %t", tc.seg, lookup, ok, tc.lookup, tc.ok)
			}
		})
	}
}

func TestSettingsInvalid(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"lookup field not unique", people("", "    additional_lookup: {url: 'regex(\"[\\w]+\")', field: name}\n"),
			`test.yaml:3: resource "people": additional_lookup: field "name" must be unique`},
		{"lookup field unknown", people("", "    additional_lookup: {url: 'regex(\"[\\w]+\")', field: nope}\n"), `field "nope" must be a string or number property`},
		{"lookup without field", people("", "    additional_lookup: {url: 'regex(\"[\\w]+\")'}\n"), "additional_lookup: needs url and field"},
		{"lookup bad rule", people("", "    additional_lookup: {url: '[\\w]+', field: username}\n"), `additional_lookup: url: "[\\w]+" is not a URL rule`},
		{"lookup bad regex", people("", "    additional_lookup: {url: 'regex(\"(\")', field: username}\n"), "not a regular expression Go accepts"},
		{"lookup key misspelt", people("", "    additional_lookup: {url: string, feild: username}\n"), `unknown key "feild" (did you mean "field"?)`},
		{"item_url refusing ids", people("", "    item_url: 'regex(\"[0-9]+\")'\n"), "item_url: regex(\"[0-9]+\") does not match the store's ids"},
		{"datasource source", people("", "    datasource: {source: others}\n"), `test.yaml:3: resource "people": datasource.source: reading another resource's collection ("others") is not supported`},
		{"datasource aggregation", people("", "    datasource: {aggregation: {pipeline: []}}\n"), "aggregation endpoints are not supported"},
		{"datasource filter field", people("", "    datasource: {filter: {colour: red}}\n"), "datasource.filter: where: unknown field"},
		{"datasource projection mixed", people("", "    datasource: {projection: {name: 1, secret: 0}}\n"), "datasource.projection: projection cannot mix"},
		{"datasource sort field", people("", "    datasource: {default_sort: [[colour, 1]]}\n"), `default_sort: unknown sort field "colour"`},
		{"datasource sort shape", people("", "    datasource: {default_sort: [[name, up]]}\n"), "datasource.default_sort: want [field, 1] or [field, -1]"},
		{"two default sorts", people("", "    default_sort: name\n    datasource: {default_sort: [[name, 1]]}\n"), "set one of them"},
		{"datasource key misspelt", people("", "    datasource: {filtre: {}}\n"), `unknown key "filtre" (did you mean "filter"?)`},
		{"pagination not bool", people("", "    pagination: maybe\n"), "pagination"},
		{"auth_field and owner_field", people("", "    auth_field: a\n    owner_field: b\n"), "auth_field is Eve's name for owner_field: set one of them"},
		{"mongo_indexes and compound_indexes", people("", "    mongo_indexes: {x: [name, age]}\n    compound_indexes: {y: [name, age]}\n"), "set one of them"},
		{"mongo_indexes options", people("", "    mongo_indexes: {x: [[[name, 1]], {unique: true}]}\n"), "index options are not supported"},
		{"allow_unknown against the schema", "resources:\n  things:\n    allow_unknown: true\n    schema: {type: object, additionalProperties: false}\n",
			"allow_unknown: true disagrees with the schema's additionalProperties"},
		{"hateoas not bool", people("", "    hateoas: no way\n"), "hateoas"},
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
