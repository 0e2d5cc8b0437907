package resource_test

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
)

// eveDomain is an Eve application's DOMAIN, as in its settings.py.
const eveDomain = `resources:
  people:
    resource_methods: [GET, POST]
    item_methods: [GET, PATCH, PUT, DELETE]
    schema:
      firstname: {type: string, minlength: 1, maxlength: 10, required: true}
      lastname:  {type: string, unique: true}
      role:      {type: list, allowed: [author, contributor, copy]}
      born:      {type: datetime}
      location:  {type: dict, schema: {address: {type: string}, city: {type: string, readonly: true}}}
      age:       {type: integer, min: 0, max: 150, readonly: true, nullable: true}
      email:     {type: string, regex: '^\S+@\S+$', empty: false}
      score:     {type: float, default: 0.5}
      tags:      {type: list, schema: {type: string}}
      friend:    {type: objectid, data_relation: {resource: people, field: _id, embeddable: true}}
  works:
    schema:
      title:   {type: string, required: true}
      authors: {type: list, schema: {type: objectid, data_relation: {resource: people}}}
      owner:   {type: string, data_relation: {resource: people, field: lastname}}
`

// doc decodes a JSON document as the API does (numbers as json.Number).
func doc(t *testing.T, s string) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

func parseOne(t *testing.T, yaml string) *resource.Resource {
	t.Helper()
	s, err := resource.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return s.Resources[0]
}

// TestEveRules: each rule, translated to JSON Schema, accepts and refuses
// the documents Eve would.
func TestEveRules(t *testing.T) {
	tests := []struct {
		name, rules    string
		accept, refuse []string
	}{
		{"string", "{type: string}", []string{`{"f":"x"}`, `{}`}, []string{`{"f":1}`, `{"f":null}`, `{"g":"x"}`}},
		{"integer", "{type: integer}", []string{`{"f":3}`, `{"f":-1}`}, []string{`{"f":1.5}`, `{"f":"1"}`}},
		{"float", "{type: float}", []string{`{"f":1.5}`, `{"f":2}`}, []string{`{"f":"1.5"}`, `{"f":true}`}},
		{"number", "{type: number}", []string{`{"f":1.5}`, `{"f":2}`}, []string{`{"f":"2"}`}},
		{"boolean", "{type: boolean}", []string{`{"f":true}`}, []string{`{"f":"true"}`, `{"f":0}`}},
		{"datetime", "{type: datetime}", []string{`{"f":"2026-01-02T03:04:05Z"}`}, []string{`{"f":"tomorrow"}`, `{"f":5}`}},
		{"dict", "{type: dict}", []string{`{"f":{"any":1}}`}, []string{`{"f":[1]}`, `{"f":"x"}`}},
		{"dict schema", "{type: dict, schema: {a: {type: string, required: true}, b: {type: integer}}}",
			[]string{`{"f":{"a":"x"}}`, `{"f":{"a":"x","b":2}}`}, []string{`{"f":{"b":2}}`, `{"f":{"a":1}}`, `{"f":{"a":"x","c":1}}`}},
		{"dict allow_unknown", "{type: dict, allow_unknown: true, schema: {a: {type: string}}}",
			[]string{`{"f":{"a":"x","c":1}}`}, []string{`{"f":{"a":1}}`}},
		{"list", "{type: list}", []string{`{"f":[1,"a"]}`, `{"f":[]}`}, []string{`{"f":"a"}`, `{"f":{}}`}},
		{"list schema", "{type: list, schema: {type: integer, min: 1}}", []string{`{"f":[1,2]}`}, []string{`{"f":[1,"a"]}`, `{"f":[0]}`}},
		{"list of dicts", "{type: list, schema: {type: dict, schema: {a: {type: string}}}}",
			[]string{`{"f":[{"a":"x"}]}`}, []string{`{"f":[{"b":"x"}]}`, `{"f":["x"]}`}},
		{"list allowed", "{type: list, allowed: [a, b]}", []string{`{"f":["a","b","a"]}`, `{"f":[]}`}, []string{`{"f":["c"]}`, `{"f":"a"}`}},
		{"list schema allowed", "{type: list, schema: {type: string, maxlength: 1}, allowed: [a, bb]}",
			[]string{`{"f":["a"]}`}, []string{`{"f":["bb"]}`, `{"f":["c"]}`}},
		{"string allowed", "{type: string, allowed: [a, b]}", []string{`{"f":"a"}`}, []string{`{"f":"c"}`, `{"f":null}`}},
		{"integer allowed", "{type: integer, allowed: [1, 2]}", []string{`{"f":2}`}, []string{`{"f":3}`}},
		{"objectid", "{type: objectid}", []string{`{"f":"0123456789abcdef01234567"}`},
			[]string{`{"f":"0123456789abcdef0123456"}`, `{"f":"0123456789ABCDEF01234567"}`, `{"f":"0123456789abcdef01234567a"}`, `{"f":1}`}},
		{"required", "{type: string, required: true}", []string{`{"f":"x"}`}, []string{`{}`}},
		{"required false", "{type: string, required: false}", []string{`{}`}, nil},
		{"nullable", "{type: string, nullable: true}", []string{`{"f":null}`, `{"f":"x"}`}, []string{`{"f":1}`}},
		{"nullable datetime", "{type: datetime, nullable: true}", []string{`{"f":null}`, `{"f":"2026-01-02T03:04:05Z"}`}, []string{`{"f":"x"}`}},
		{"nullable allowed", "{type: string, nullable: true, allowed: [a]}", []string{`{"f":null}`, `{"f":"a"}`}, []string{`{"f":"b"}`}},
		{"untyped", "{required: true}", []string{`{"f":1}`, `{"f":"x"}`}, []string{`{"f":null}`, `{}`}},
		{"untyped nullable", "{nullable: true}", []string{`{"f":null}`}, nil},
		{"several types", "{type: [string, integer]}", []string{`{"f":"x"}`, `{"f":1}`}, []string{`{"f":1.5}`, `{"f":null}`}},
		{"several types nullable", "{type: [string, objectid], nullable: true}", []string{`{"f":null}`}, []string{`{"f":true}`}},
		{"string minlength maxlength", "{type: string, minlength: 2, maxlength: 3}", []string{`{"f":"ab"}`, `{"f":"abc"}`}, []string{`{"f":"a"}`, `{"f":"abcd"}`}},
		{"list minlength maxlength", "{type: list, minlength: 1, maxlength: 2}", []string{`{"f":[1]}`, `{"f":[1,2]}`}, []string{`{"f":[]}`, `{"f":[1,2,3]}`}},
		{"dict maxlength", "{type: dict, maxlength: 1}", []string{`{"f":{"a":1}}`}, []string{`{"f":{"a":1,"b":2}}`}},
		{"untyped maxlength", "{maxlength: 1}", []string{`{"f":"a"}`, `{"f":[1]}`, `{"f":5}`}, []string{`{"f":"ab"}`, `{"f":[1,2]}`}},
		{"min max", "{type: integer, min: 0, max: 150}", []string{`{"f":0}`, `{"f":150}`}, []string{`{"f":-1}`, `{"f":151}`}},
		{"float min", "{type: float, min: 0.5}", []string{`{"f":0.5}`}, []string{`{"f":0.4}`}},
		{"regex", "{type: string, regex: 'ab+'}", []string{`{"f":"ab"}`, `{"f":"abbb"}`}, []string{`{"f":"xab"}`, `{"f":"abx"}`, `{"f":""}`}},
		{"regex alternatives", "{type: string, regex: 'a|b'}", []string{`{"f":"a"}`, `{"f":"b"}`}, []string{`{"f":"ab"}`, `{"f":"xb"}`}},
		{"regex objectid", "{type: objectid, regex: '0.*'}", []string{`{"f":"0123456789abcdef01234567"}`}, []string{`{"f":"1123456789abcdef01234567"}`, `{"f":"0x"}`}},
		{"empty false string", "{type: string, empty: false}", []string{`{"f":"a"}`}, []string{`{"f":""}`}},
		{"empty false list", "{type: list, empty: false}", []string{`{"f":[1]}`}, []string{`{"f":[]}`}},
		{"empty false keeps minlength", "{type: string, empty: false, minlength: 3}", []string{`{"f":"abc"}`}, []string{`{"f":"ab"}`}},
		{"empty true", "{type: string, empty: true}", []string{`{"f":""}`}, nil},
		{"default", "{type: float, default: 0.5}", []string{`{"f":1.5}`}, []string{`{"f":"x"}`}},
		{"readonly", "{type: integer, readonly: true}", []string{`{"f":1}`}, []string{`{"f":"x"}`}},
		{"unique", "{type: string, unique: true}", []string{`{"f":"x"}`}, []string{`{"f":1}`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := parseOne(t, "resources:\n  things:\n    schema:\n      f: "+tc.rules+"\n")
			for _, d := range tc.accept {
				if err := r.Schema.Validate(doc(t, d)); err != nil {
					t.Errorf("%s refused: %v", d, err)
				}
			}
			for _, d := range tc.refuse {
				if err := r.Schema.Validate(doc(t, d)); err == nil {
					t.Errorf("%s accepted", d)
				}
			}
		})
	}
}

// TestEveRecordedRules: the rules that are not about one document's shape
// are recorded on the resource.
func TestEveRecordedRules(t *testing.T) {
	r := parseOne(t, `resources:
  things:
    unique: [a]
    schema:
      a: {type: string}
      b: {type: integer, unique: true, readonly: true}
      c: {type: string, unique_to_user: true, default: x}
      d: {type: dict, schema: {e: {type: string, readonly: true}, f: {type: dict, schema: {g: {type: boolean, readonly: true}}}}}
      h: {type: list, readonly: true, schema: {type: objectid, data_relation: {resource: things, embeddable: true}}}
      i: {type: objectid, data_relation: {resource: things, field: a, version: false}}
`)
	if want := []string{"a", "b", "c"}; !slices.Equal(r.Unique, want) {
		t.Errorf("Unique = %v, want %v", r.Unique, want)
	}
	if want := []string{"b", "d.e", "d.f.g", "h"}; !slices.Equal(r.ReadOnly, want) {
		t.Errorf("ReadOnly = %v, want %v", r.ReadOnly, want)
	}
	want := []resource.Relation{
		{Path: "h", Resource: "things", Field: "_id", Embeddable: true},
		{Path: "i", Resource: "things", Field: "a"},
	}
	if !reflect.DeepEqual(r.Relations, want) {
		t.Errorf("Relations = %+v, want %+v", r.Relations, want)
	}
	if want := map[string]any{"c": "x"}; !reflect.DeepEqual(r.Defaults, want) {
		t.Errorf("Defaults = %v, want %v", r.Defaults, want)
	}
	if c := r.Collection(); !slices.Equal(c.Unique, []string{"a", "b", "c"}) {
		t.Errorf("collection's unique = %v", c.Unique)
	}
	// The JSON form carries readOnly, for the OpenAPI document.
	props := r.SchemaDoc["properties"].(map[string]any)
	if ro, _ := props["b"].(map[string]any)["readOnly"].(bool); !ro {
		t.Errorf("schema of b = %v", props["b"])
	}
}

// TestJSONSchemaReadOnly: a JSON Schema's readOnly properties are read-only
// too, and a JSON Schema records no relation.
func TestJSONSchemaReadOnly(t *testing.T) {
	r := parseOne(t, `resources:
  things:
    schema:
      type: object
      properties:
        a: {type: string, readOnly: true}
        b: {type: string, readOnly: false}
        c: {type: object, properties: {d: {type: string, readOnly: true}}}
`)
	if want := []string{"a", "c.d"}; !slices.Equal(r.ReadOnly, want) {
		t.Errorf("ReadOnly = %v, want %v", r.ReadOnly, want)
	}
	if r.Relations != nil {
		t.Errorf("Relations = %v", r.Relations)
	}
}

// TestEveDomain loads an Eve DOMAIN unchanged.
func TestEveDomain(t *testing.T) {
	s, err := resource.Parse([]byte(eveDomain), "domain.yaml")
	if err != nil {
		t.Fatal(err)
	}
	people, ok := s.ByURL("people")
	if !ok {
		t.Fatal("no people")
	}
	if !slices.Equal(people.Unique, []string{"lastname"}) {
		t.Errorf("Unique = %v", people.Unique)
	}
	if !slices.Equal(people.ReadOnly, []string{"age", "location.city"}) {
		t.Errorf("ReadOnly = %v", people.ReadOnly)
	}
	if want := []resource.Relation{{Path: "friend", Resource: "people", Field: "_id", Embeddable: true}}; !reflect.DeepEqual(people.Relations, want) {
		t.Errorf("Relations = %+v", people.Relations)
	}
	if want := map[string]any{"score": 0.5}; !reflect.DeepEqual(people.Defaults, want) {
		t.Errorf("Defaults = %v", people.Defaults)
	}
	works, _ := s.ByURL("works")
	wantWorks := []resource.Relation{
		{Path: "authors", Resource: "people", Field: "_id"},
		{Path: "owner", Resource: "people", Field: "lastname"},
	}
	if !reflect.DeepEqual(works.Relations, wantWorks) {
		t.Errorf("works' relations = %+v", works.Relations)
	}
	good := `{"firstname":"Ada","lastname":"Lovelace","role":["author","copy"],"born":"1815-12-10T00:00:00Z",
		"location":{"address":"St James's Square","city":"London"},"age":null,"email":"ada@example.com","score":1,
		"tags":["maths"],"friend":"0123456789abcdef01234567"}`
	if err := people.Schema.Validate(doc(t, good)); err != nil {
		t.Errorf("a good person refused: %v", err)
	}
	for _, bad := range []string{
		`{"lastname":"Lovelace"}`,
		`{"firstname":""}`,
		`{"firstname":"Augusta Ada King"}`,
		`{"firstname":"Ada","role":["editor"]}`,
		`{"firstname":"Ada","born":"yesterday"}`,
		`{"firstname":"Ada","location":{"town":"London"}}`,
		`{"firstname":"Ada","age":151}`,
		`{"firstname":"Ada","email":""}`,
		`{"firstname":"Ada","email":"ada at example.com"}`,
		`{"firstname":"Ada","score":"high"}`,
		`{"firstname":"Ada","tags":[1]}`,
		`{"firstname":"Ada","friend":"ada"}`,
		`{"firstname":"Ada","nickname":"A"}`,
	} {
		if err := people.Schema.Validate(doc(t, bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestEveFieldTypes: an Eve schema gives the fields, indexes and
// collection of the equivalent JSON Schema.
func TestEveFieldTypes(t *testing.T) {
	eve := parseOne(t, `resources:
  things:
    compound_indexes: {n_d: [n, d]}
    schema:
      s: {type: string}
      i: {type: integer}
      f: {type: float}
      n: {type: number, nullable: true}
      b: {type: boolean}
      d: {type: datetime}
      dn: {type: datetime, nullable: true}
      o: {type: objectid}
      l: {type: list, schema: {type: string}}
      m: {type: dict, schema: {x: {type: string}}}
      u: {type: [string, integer]}
      any: {}
`)
	js := parseOne(t, `resources:
  things:
    compound_indexes: {n_d: [n, d]}
    schema:
      type: object
      properties:
        s: {type: string}
        i: {type: integer}
        f: {type: number}
        n: {type: [number, "null"]}
        b: {type: boolean}
        d: {type: string, format: date-time}
        dn: {type: [string, "null"], format: date-time}
        o: {type: string, pattern: "^[0-9a-f]{24}$"}
        l: {type: array, items: {type: string}}
        m: {type: object, properties: {x: {type: string}}}
        u: {anyOf: [{type: string}, {type: integer}]}
        any: {}
`)
	if !reflect.DeepEqual(eve.Fields, js.Fields) {
		t.Errorf("fields:\n eve  %+v\n json %+v", eve.Fields, js.Fields)
	}
	if !reflect.DeepEqual(eve.Collection(), js.Collection()) {
		t.Errorf("collection:\n eve  %+v\n json %+v", eve.Collection(), js.Collection())
	}
	if len(eve.Fields) != 9 {
		t.Errorf("%d fields: %+v", len(eve.Fields), eve.Fields)
	}
}

// TestSchemaKind tells Eve schemas from JSON Schemas, including Eve fields
// named "type" and "properties".
func TestSchemaKind(t *testing.T) {
	tests := []struct {
		name, schema, accept, refuse string
	}{
		{"json schema", "{type: object, properties: {a: {type: string}}}", `{"a":"x","b":1}`, `{"a":1}`},
		{"json schema without properties", "{type: object, required: [a]}", `{"a":1}`, `{}`},
		{"eve field named type", "{type: {type: string}, a: {type: integer}}", `{"type":"x","a":1}`, `{"type":1}`},
		{"eve field named properties", "{properties: {type: dict}}", `{"properties":{}}`, `{"properties":1}`},
		{"eve single field", "{a: {type: string}}", `{"a":"x"}`, `{"b":"x"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := parseOne(t, "resources:\n  things:\n    schema: "+tc.schema+"\n")
			if err := r.Schema.Validate(doc(t, tc.accept)); err != nil {
				t.Errorf("%s refused: %v", tc.accept, err)
			}
			if err := r.Schema.Validate(doc(t, tc.refuse)); err == nil {
				t.Errorf("%s accepted", tc.refuse)
			}
		})
	}
}

// TestEveErrors: a bad rule is refused with a message naming it.
func TestEveErrors(t *testing.T) {
	one := func(rules string) string { return "resources:\n  things:\n    schema:\n      f: " + rules + "\n" }
	deep := "{type: string}"
	for range 40 {
		deep = "{type: dict, schema: {a: " + deep + "}}"
	}
	tests := []struct{ name, yaml, want string }{
		{"unknown rule", one("{type: string, coerce: int}"),
			`schema: field "f": unknown rule "coerce"; the supported rules are allow_unknown, allowed, data_relation`},
		{"unknown nested rule", one("{type: dict, schema: {g: {type: string, excludes: h}}}"), `field "f.g": unknown rule "excludes"`},
		{"unknown type", one("{type: media}"), `field "f": rule type: unknown type "media"; the supported types are boolean, datetime, dict`},
		{"unknown type in list", one("{type: [string, point]}"), `unknown type "point"`},
		{"type not a string", one("{type: 5}"), "rule type: want a type or a list of types, not the number 5"},
		{"no types", one("{type: []}"), "the list of types is empty"},
		{"rules not a map", one("string"), `field "f": its rules must be a map such as {type: string}, not the string "string"`},
		{"json schema keyword without type", "resources:\n  things:\n    schema: {additionalProperties: false}\n", "a JSON Schema has type: object at the top"},
		{"required not a bool", one("{type: string, required: yes please}"), `field "f": rule required: want true or false`},
		{"nullable not a bool", one("{nullable: 1}"), "rule nullable: want true or false"},
		{"schema on a string", one("{type: string, schema: {a: {type: string}}}"), "rule schema: needs type dict"},
		{"schema not a map", one("{type: list, schema: [string]}"), "rule schema: want a map, not a list"},
		{"list items unknown rule", one("{type: list, schema: {a: {type: string}}}"), `field "f": unknown rule "a"`},
		{"allowed not a list", one("{type: string, allowed: a}"), "rule allowed: want a list"},
		{"allow_unknown on a string", one("{type: string, allow_unknown: true}"), "rule allow_unknown: applies to dict fields"},
		{"minlength negative", one("{type: string, minlength: -1}"), "rule minlength: want a whole number of at least 0"},
		{"maxlength on integer", one("{type: integer, maxlength: 3}"), "rule maxlength: applies to string, list and dict fields, not integer"},
		{"empty on boolean", one("{type: boolean, empty: false}"), "rule empty: applies to string"},
		{"min on a string", one("{type: string, min: a}"), "rule min: want a number"},
		{"max on a datetime", one("{type: datetime, max: 5}"), "rule max: applies to integer, float and number fields, not datetime"},
		{"bad regex", one("{type: string, regex: '(?<=a)b'}"), `rule regex: "(?<=a)b" is not a regular expression Go accepts`},
		{"regex on a list", one("{type: list, regex: a}"), "rule regex: applies to string fields"},
		{"readonly on items", one("{type: list, schema: {type: string, readonly: true}}"), `the items of list "f": rule readonly`},
		{"unique nested", one("{type: dict, schema: {g: {type: string, unique: true}}}"), `field "f.g": rule unique: only top-level fields`},
		{"unique list", one("{type: list, unique: true}"), "rule unique: only fields of one type of string"},
		{"unique dict", one("{type: dict, unique_to_user: true}"), "rule unique_to_user: only fields of one type"},
		{"relation not a map", one("{type: objectid, data_relation: people}"), "rule data_relation: want a map"},
		{"relation without resource", one("{type: objectid, data_relation: {field: _id}}"), "rule data_relation: resource must name"},
		{"relation unknown key", one("{type: objectid, data_relation: {resource: things, embedable: true}}"), `rule data_relation: unknown key "embedable"`},
		{"relation version", one("{type: objectid, data_relation: {resource: things, version: true}}"), "version: references to document versions are not supported"},
		{"relation embeddable", one("{type: objectid, data_relation: {resource: things, embeddable: yes}}"), "embeddable: want true or false"},
		{"relation to nothing", one("{type: objectid, data_relation: {resource: people}}"),
			`resource "things": field "f": data_relation: resource "people" is not declared`},
		{"relation to a missing field", one("{type: string, data_relation: {resource: things, field: name}}"),
			`data_relation: "name" is neither _id nor a queryable field of "things"`},
		{"bad field name", "resources:\n  things:\n    schema: {\"a b\": {type: string}}\n", `property "a b"`},
		{"too deep", one(deep), "nested more than 32 deep"},
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

// TestJSONSchemaWithoutType: a JSON Schema that lacks its top-level type is
// told so, not read as an Eve schema with a field named "properties".
func TestJSONSchemaWithoutType(t *testing.T) {
	_, err := resource.Parse([]byte("resources:\n  things:\n    schema: {properties: {a: {type: string}}}\n"), "test.yaml")
	if err == nil || strings.Contains(err.Error(), "rule") || !strings.Contains(err.Error(), "object") {
		t.Fatalf("err = %v, want the JSON Schema's missing type: object", err)
	}
}
