package resource

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// A resource's schema is either a JSON Schema (an object with a top-level
// "type": "object") or, as in an Eve application's DOMAIN, a map of field
// name to Cerberus rules. An Eve schema is translated here into the JSON
// Schema that validates documents, so both kinds give the same validator,
// the same queryable fields and an OpenAPI document. The rules that
// are not about one document's shape are recorded on the Resource instead:
// unique (Resource.Unique), readonly (Resource.ReadOnly) and data_relation
// (Resource.Relations).

// Relation is Eve's data_relation rule: the values of the field at Path (a
// field name, dotted for a field of a nested dict; for a list of
// references, the list's path) refer to documents of the resource Resource
// by their field Field.
type Relation struct {
	Path     string
	Resource string
	// Field is the referenced field: "_id" unless the rule names another.
	Field string
	// Embeddable allows clients to ask for the referenced documents in
	// place of the references (Eve's ?embedded=).
	Embeddable bool
}

// eveRules are the Cerberus and Eve rules a field may have.
var eveRules = []string{
	"allow_unknown", "allowed", "data_relation", "default", "empty", "max", "maxlength", "min", "minlength",
	"nullable", "readonly", "regex", "required", "schema", "type", "unique", "unique_to_user",
}

// eveTypes are the Eve types and their JSON Schema.
var eveTypes = map[string]func() map[string]any{
	"string":   func() map[string]any { return map[string]any{"type": "string"} },
	"integer":  func() map[string]any { return map[string]any{"type": "integer"} },
	"float":    func() map[string]any { return map[string]any{"type": "number"} },
	"number":   func() map[string]any { return map[string]any{"type": "number"} },
	"boolean":  func() map[string]any { return map[string]any{"type": "boolean"} },
	"datetime": func() map[string]any { return map[string]any{"type": "string", "format": "date-time"} },
	"dict":     func() map[string]any { return map[string]any{"type": "object"} },
	"list":     func() map[string]any { return map[string]any{"type": "array"} },
	// Document IDs are docstore.NewID's: 24 lowercase hexadecimal digits.
	"objectid": func() map[string]any { return map[string]any{"type": "string", "pattern": "^[0-9a-f]{24}$"} },
}

// scalarTypes are the Eve types the document store can declare as a field,
// and so make unique.
var scalarTypes = []string{"string", "integer", "float", "number", "boolean", "datetime", "objectid"}

// dataRelationKeys are the keys of a data_relation rule.
var dataRelationKeys = []string{"embeddable", "field", "resource", "version"}

// maxEveDepth bounds the nesting of dict and list schemas.
const maxEveDepth = 32

// place is where a field's rules stand in an Eve schema.
type place int

const (
	placeTop    place = iota // a field of the document
	placeNested              // a field of a dict
	placeItem                // the items of a list
)

// isEveSchema tells an Eve schema from a JSON Schema. A JSON Schema has a
// top-level "type" that is not a map (Eve's rules for a field named
// "type" are), "$" keywords, or "properties" that are not one field's
// rules (their "type" is not a string).
func isEveSchema(doc map[string]any) bool {
	if len(doc) == 0 {
		return false
	}
	for k := range doc {
		if strings.HasPrefix(k, "$") {
			return false
		}
	}
	if t, ok := doc["type"]; ok {
		if _, isMap := t.(map[string]any); !isMap {
			return false
		}
	}
	if p, ok := doc["properties"]; ok {
		m, _ := p.(map[string]any)
		if _, isString := m["type"].(string); !isString {
			return false
		}
	}
	return true
}

// prepareSchema returns the JSON Schema of the resource file's schema:
// doc itself, or its translation if it is an Eve schema, whose unique,
// readonly and data_relation rules go to r. It records the read-only
// properties of either kind in r.ReadOnly.
func (r *Resource) prepareSchema(doc map[string]any) (map[string]any, error) {
	if doc == nil {
		return nil, nil
	}
	if isEveSchema(doc) {
		t := &eveTranslator{}
		js, err := t.object(doc, "", 0)
		if err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
		r.Unique = slices.Clone(r.Unique)
		for _, u := range t.unique {
			if !slices.Contains(r.Unique, u) {
				r.Unique = append(r.Unique, u)
			}
		}
		r.Relations = t.relations
		doc = js
	}
	r.ReadOnly = readOnlyPaths(doc, "", 0)
	sort.Strings(r.ReadOnly)
	return doc, nil
}

// readOnlyPaths returns the properties of a JSON Schema object marked
// "readOnly": true, of the top level and of nested objects (dotted).
func readOnlyPaths(doc map[string]any, prefix string, depth int) []string {
	props, _ := doc["properties"].(map[string]any)
	if depth > maxEveDepth {
		return nil
	}
	var out []string
	for n, p := range props {
		pm, _ := p.(map[string]any)
		if ro, _ := pm["readOnly"].(bool); ro {
			out = append(out, prefix+n)
		}
		out = append(out, readOnlyPaths(pm, prefix+n+".", depth+1)...)
	}
	return out
}

// eveTranslator translates an Eve schema, collecting the rules that are
// not JSON Schema.
type eveTranslator struct {
	unique    []string
	relations []Relation
}

// object translates a map of field name to rules into a JSON Schema object
// that refuses other fields (Eve's default, allow_unknown: false).
func (t *eveTranslator) object(fields map[string]any, prefix string, depth int) (map[string]any, error) {
	if depth > maxEveDepth {
		return nil, fmt.Errorf("dict schemas are nested more than %d deep", maxEveDepth)
	}
	pl := placeTop
	if prefix != "" {
		pl = placeNested
	}
	props := map[string]any{}
	var required []string
	for _, name := range sortedKeys(fields) {
		path := prefix + name
		rules, ok := fields[name].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("field %q: its rules must be a map such as {type: string}, not %s "+
				"(a JSON Schema has type: object at the top)", path, describe(fields[name]))
		}
		s, req, err := t.field(path, rules, pl, depth)
		if err != nil {
			return nil, err
		}
		props[name] = s
		if req {
			required = append(required, name)
		}
	}
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out, nil
}

// field translates one field's rules; required tells whether the field
// must be present in its object.
func (t *eveTranslator) field(path string, rules map[string]any, pl place, depth int) (s map[string]any, required bool, err error) {
	fail := func(rule, format string, args ...any) error {
		where := fmt.Sprintf("field %q", path)
		if pl == placeItem {
			where = fmt.Sprintf("the items of list %q", path)
		}
		return fmt.Errorf("%s: rule %s: %s", where, rule, fmt.Sprintf(format, args...))
	}
	names := sortedKeys(rules)
	for _, k := range names {
		if !slices.Contains(eveRules, k) {
			return nil, false, fmt.Errorf("field %q: unknown rule %q; the supported rules are %s", path, k, strings.Join(eveRules, ", "))
		}
	}
	flag := func(rule string) (bool, error) {
		v, ok := rules[rule]
		if !ok {
			return false, nil
		}
		b, isBool := v.(bool)
		if !isBool {
			return false, fail(rule, "want true or false, not %s", describe(v))
		}
		return b, nil
	}
	flags := map[string]bool{}
	for _, rule := range []string{"allow_unknown", "empty", "nullable", "readonly", "required", "unique", "unique_to_user"} {
		if flags[rule], err = flag(rule); err != nil {
			return nil, false, err
		}
	}
	types, err := typeNames(rules)
	if err != nil {
		return nil, false, fail("type", "%v", err)
	}
	is := func(ty string) bool { return len(types) == 1 && types[0] == ty }

	s = map[string]any{}
	switch len(types) {
	case 0:
		// Cerberus refuses null unless the field is nullable.
		if !flags["nullable"] {
			s["not"] = map[string]any{"type": "null"}
		}
	case 1:
		s = eveTypes[types[0]]()
		if flags["nullable"] {
			s["type"] = []any{s["type"], "null"}
		}
	default:
		var alts []any
		for _, ty := range types {
			alts = append(alts, eveTypes[ty]())
		}
		if flags["nullable"] {
			alts = append(alts, map[string]any{"type": "null"})
		}
		s["anyOf"] = alts
	}

	if v, ok := rules["schema"]; ok {
		m, isMap := v.(map[string]any)
		switch {
		case !isMap:
			return nil, false, fail("schema", "want a map, not %s", describe(v))
		case is("dict"):
			obj, err := t.object(m, path+".", depth+1)
			if err != nil {
				return nil, false, err
			}
			for k, x := range obj {
				if k != "type" {
					s[k] = x
				}
			}
		case is("list"):
			if depth+1 > maxEveDepth {
				return nil, false, fmt.Errorf("list schemas are nested more than %d deep", maxEveDepth)
			}
			items, _, err := t.field(path, m, placeItem, depth+1)
			if err != nil {
				return nil, false, err
			}
			s["items"] = items
		default:
			return nil, false, fail("schema", "needs type dict (the schema of its fields) or list (the rules of its items)")
		}
	}
	if flags["allow_unknown"] {
		if !is("dict") {
			return nil, false, fail("allow_unknown", "applies to dict fields")
		}
		delete(s, "additionalProperties")
	}

	if v, ok := rules["allowed"]; ok {
		list, isList := v.([]any)
		if !isList {
			return nil, false, fail("allowed", "want a list of values, not %s", describe(v))
		}
		if is("list") {
			// Each item of the list is one of the values.
			items, _ := s["items"].(map[string]any)
			if items == nil {
				s["items"] = map[string]any{"enum": list}
			} else {
				s["items"] = map[string]any{"allOf": []any{items, map[string]any{"enum": list}}}
			}
		} else {
			enum := slices.Clone(list)
			if flags["nullable"] {
				enum = append(enum, nil)
			}
			s["enum"] = enum
		}
	}

	// minlength, maxlength and empty bound a string's characters, a list's
	// items or a dict's keys.
	lengthKeys := func(minOrMax string) []string {
		switch {
		case is("string"):
			return []string{minOrMax + "Length"}
		case is("list"):
			return []string{minOrMax + "Items"}
		case is("dict"):
			return []string{minOrMax + "Properties"}
		case len(types) == 0 || len(types) > 1:
			return []string{minOrMax + "Length", minOrMax + "Items", minOrMax + "Properties"}
		}
		return nil
	}
	for _, rule := range []string{"minlength", "maxlength"} {
		v, ok := rules[rule]
		if !ok {
			continue
		}
		n, isInt := v.(int)
		if !isInt || n < 0 {
			return nil, false, fail(rule, "want a whole number of at least 0, not %s", describe(v))
		}
		keys := lengthKeys(strings.TrimSuffix(rule, "length"))
		if keys == nil {
			return nil, false, fail(rule, "applies to string, list and dict fields, not %s", strings.Join(types, ", "))
		}
		for _, k := range keys {
			s[k] = n
		}
	}
	if _, ok := rules["empty"]; ok && !flags["empty"] {
		keys := lengthKeys("min")
		if keys == nil {
			return nil, false, fail("empty", "applies to string, list and dict fields, not %s", strings.Join(types, ", "))
		}
		for _, k := range keys {
			if n, _ := s[k].(int); n < 1 {
				s[k] = 1
			}
		}
	}

	for _, rule := range []string{"min", "max"} {
		v, ok := rules[rule]
		if !ok {
			continue
		}
		switch v.(type) {
		case int, int64, uint64, float64:
		default:
			return nil, false, fail(rule, "want a number, not %s", describe(v))
		}
		for _, ty := range types {
			if !slices.Contains([]string{"integer", "float", "number"}, ty) {
				return nil, false, fail(rule, "applies to integer, float and number fields, not %s "+
					"(comparing strings or datetimes is not supported)", ty)
			}
		}
		s[rule+"imum"] = v
	}

	if v, ok := rules["regex"]; ok {
		re, isString := v.(string)
		if !isString {
			return nil, false, fail("regex", "want a string, not %s", describe(v))
		}
		// Cerberus matches the whole value; a JSON Schema pattern matches
		// anywhere in it.
		full := "^(?:" + re + ")$"
		if _, err := regexp.Compile(full); err != nil {
			return nil, false, fail("regex", "%q is not a regular expression Go accepts: %v", re, err)
		}
		if is("list") || is("dict") {
			return nil, false, fail("regex", "applies to string fields")
		}
		if _, taken := s["pattern"]; taken {
			// objectid has its own pattern: both must match.
			s["allOf"] = []any{map[string]any{"pattern": full}}
		} else {
			s["pattern"] = full
		}
	}

	if v, ok := rules["default"]; ok {
		s["default"] = v
	}

	if flags["readonly"] {
		if pl == placeItem {
			return nil, false, fail("readonly", "mark the list field read-only, not its items")
		}
		s["readOnly"] = true
	}

	for _, rule := range []string{"unique", "unique_to_user"} {
		if !flags[rule] {
			continue
		}
		if pl != placeTop {
			return nil, false, fail(rule, "only top-level fields can be unique")
		}
		if len(types) != 1 || !slices.Contains(scalarTypes, types[0]) {
			return nil, false, fail(rule, "only fields of one type of %s can be unique", strings.Join(scalarTypes, ", "))
		}
		if !slices.Contains(t.unique, path) {
			t.unique = append(t.unique, path)
		}
	}

	if v, ok := rules["data_relation"]; ok {
		rel, err := dataRelation(path, v)
		if err != nil {
			return nil, false, fail("data_relation", "%v", err)
		}
		t.relations = append(t.relations, rel)
	}
	return s, flags["required"], nil
}

// typeNames returns the field's types: none, one, or several (Cerberus
// accepts a value of any of them).
func typeNames(rules map[string]any) ([]string, error) {
	v, ok := rules["type"]
	if !ok {
		return nil, nil
	}
	var names []string
	switch x := v.(type) {
	case string:
		names = []string{x}
	case []any:
		for _, e := range x {
			s, isString := e.(string)
			if !isString {
				return nil, fmt.Errorf("want a type or a list of types, not %s", describe(v))
			}
			if !slices.Contains(names, s) {
				names = append(names, s)
			}
		}
	default:
		return nil, fmt.Errorf("want a type or a list of types, not %s", describe(v))
	}
	if len(names) == 0 {
		return nil, errors.New("the list of types is empty")
	}
	for _, n := range names {
		if _, ok := eveTypes[n]; !ok {
			return nil, fmt.Errorf("unknown type %q; the supported types are %s", n, strings.Join(sortedKeys(eveTypes), ", "))
		}
	}
	return names, nil
}

// dataRelation reads a data_relation rule.
func dataRelation(path string, v any) (Relation, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Relation{}, fmt.Errorf("want a map such as {resource: people}, not %s", describe(v))
	}
	for _, k := range sortedKeys(m) {
		if !slices.Contains(dataRelationKeys, k) {
			return Relation{}, fmt.Errorf("unknown key %q; the keys are %s", k, strings.Join(dataRelationKeys, ", "))
		}
	}
	rel := Relation{Path: path, Field: "_id"}
	rel.Resource, ok = m["resource"].(string)
	if !ok || rel.Resource == "" {
		return Relation{}, fmt.Errorf("resource must name the referenced resource, not %s", describe(m["resource"]))
	}
	if f, ok := m["field"]; ok {
		if rel.Field, ok = f.(string); !ok || rel.Field == "" {
			return Relation{}, fmt.Errorf("field must name a field, not %s", describe(f))
		}
	}
	if e, ok := m["embeddable"]; ok {
		if rel.Embeddable, ok = e.(bool); !ok {
			return Relation{}, fmt.Errorf("embeddable: want true or false, not %s", describe(e))
		}
	}
	if ver, ok := m["version"]; ok {
		if b, isBool := ver.(bool); !isBool || b {
			return Relation{}, errors.New("version: references to document versions are not supported (documents are not versioned)")
		}
	}
	return rel, nil
}

// checkRelations checks that each data_relation refers to a declared
// resource and to its _id or a queryable field of it.
func checkRelations(resources []*Resource) error {
	byName := map[string]*Resource{}
	for _, r := range resources {
		byName[r.Name] = r
	}
	for _, r := range resources {
		for _, rel := range r.Relations {
			target, ok := byName[rel.Resource]
			if !ok {
				return fmt.Errorf("resource %q: field %q: data_relation: resource %q is not declared", r.Name, rel.Path, rel.Resource)
			}
			if _, ok := target.field(rel.Field); !ok && rel.Field != "_id" {
				return fmt.Errorf("resource %q: field %q: data_relation: %q is neither _id nor a queryable field of %q", r.Name, rel.Path, rel.Field, rel.Resource)
			}
		}
	}
	return nil
}

// describe names a YAML value's kind for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "nothing"
	case string:
		return fmt.Sprintf("the string %q", x)
	case bool:
		return fmt.Sprintf("%t", x)
	case int, int64, uint64, float64:
		return fmt.Sprintf("the number %v", x)
	case []any:
		return "a list"
	case map[string]any:
		return "a map"
	case map[any]any:
		return "a map with keys that are not strings"
	}
	return fmt.Sprintf("a %T", v)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
