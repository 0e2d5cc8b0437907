package resource

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"
)

// This file turns what goes wrong in a resource file into one short
// message that names the file, the line and the place in the file
// ("resource notes, pagination"), and says what would be right.

// keyError is an error about one key of a resource. Path is the key's path
// inside the resource ("pagination", or "schema", "properties", "body",
// "type"), which gives the line; where, when set, names the place for the
// message (`schema property "body"`).
type keyError struct {
	path  []string
	where string
	err   error
}

func (e *keyError) Error() string { return e.err.Error() }
func (e *keyError) Unwrap() error { return e.err }

// at ties err to the key at path inside a resource.
func at(err error, path ...string) error {
	var ke *keyError
	if err == nil || errors.As(err, &ke) {
		return err
	}
	return &keyError{path: path, err: err}
}

// locator finds the lines of a parsed file's keys and values.
type locator struct {
	name string
	root *yaml.Node
}

// errorf formats a message about the key at path, prefixed with the file
// name and the line of that key (or of its closest parent that exists).
func (l locator) errorf(path []string, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if line := l.line(path...); line > 0 {
		return fmt.Errorf("%s:%d: %s", l.name, line, msg)
	}
	return fmt.Errorf("%s: %s", l.name, msg)
}

// resourceError formats an error of buildResource about resource rn.
func (l locator) resourceError(rn string, err error) error {
	var ke *keyError
	path := []string{"resources", rn}
	where := "resource " + label(rn)
	if errors.As(err, &ke) {
		path = append(path, ke.path...)
		if ke.where != "" {
			where += ", " + ke.where
		}
	}
	return l.errorf(path, "%s: %v", where, err)
}

// line is the line of the value at path, or of its deepest parent present
// in the file; 0 when the file has no nodes.
func (l locator) line(path ...string) int {
	n := deref(l.root, nil)
	if n == nil {
		return 0
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					next = n.Content[i+1]
					line = n.Content[i].Line
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(p); err == nil && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
		}
		if next = deref(next, nil); next == nil {
			return line
		}
		if next.Kind == yaml.ScalarNode || next.Kind == yaml.SequenceNode && next.Style == yaml.FlowStyle {
			line = next.Line
		}
		n = next
	}
	return line
}

// deref follows documents and aliases; seen guards against an alias that
// contains itself.
func deref(n *yaml.Node, seen map[*yaml.Node]bool) *yaml.Node {
	for n != nil && (n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode) {
		if seen[n] {
			return nil
		}
		if seen != nil {
			seen[n] = true
		}
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			return nil
		}
	}
	return n
}

// label is a resource name as messages show it, quoted.
func label(name string) string { return strconv.Quote(name) }

// keyPlace names a path of keys for a message: "cors", "resource notes",
// "resource notes, pagination".
func keyPlace(path []string) string {
	if len(path) >= 2 && path[0] == "resources" {
		s := "resource " + label(path[1])
		if len(path) > 2 {
			s += ", " + strings.Join(path[2:], ".")
		}
		return s
	}
	return strings.Join(path, ".")
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError reports a YAML syntax error at the line where it is. The
// parser names the line where the enclosing mapping starts (often line 1)
// for an indentation mistake further down, so the line is found again as
// the shortest start of the file that fails with the same error.
func syntaxError(b []byte, name string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		msg = m[2]
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	fails := func(n int) bool {
		var node yaml.Node
		err := yaml.Unmarshal(bytes.Join(lines[:n], nil), &node)
		if err == nil {
			return false
		}
		got := strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
			got = m[2]
		}
		return got == msg
	}
	// The first prefix (in lines) that fails; the whole file does.
	n := sort.Search(len(lines), func(i int) bool { return fails(i + 1) }) + 1
	if n > len(lines) {
		n = len(lines)
	}
	hint := ""
	for _, s := range []string{"did not find expected key", "could not find expected ':'", "mapping values are not allowed"} {
		if strings.Contains(msg, s) {
			hint = " (check this line's indentation: the keys of one mapping start in the same column, a nested mapping further right)"
		}
	}
	if n > 0 && bytes.ContainsRune(lines[n-1], '\t') {
		hint = " (this line has a tab: YAML indents with spaces only)"
	}
	return fmt.Errorf("%s:%d: YAML syntax error: %s%s", name, n, msg, hint)
}

// valueAt is a scalar value seen in the file, with its key path.
type valueAt struct {
	line  int
	value string
	path  []string
}

// keyChecker checks every mapping of the file against the keys its Go type
// declares, and notes where each scalar value is.
type keyChecker struct {
	loc    locator
	seen   map[*yaml.Node]bool
	values []valueAt
}

// check walks n, the value at path, which decodes into t.
func (c *keyChecker) check(n *yaml.Node, t reflect.Type, path []string) error {
	if n = deref(n, c.seen); n == nil {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case n.Kind == yaml.ScalarNode:
		c.values = append(c.values, valueAt{n.Line, n.Value, slices.Clone(path)})
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		keys := yamlKeys(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Tag == "!!merge" {
				if err := c.check(v, t, path); err != nil {
					return err
				}
				continue
			}
			f, ok := keys[k.Value]
			if !ok {
				return c.unknownKey(k, path, keys)
			}
			if err := c.check(v, f, append(slices.Clone(path), k.Value)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map && n.Kind == yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := append(slices.Clone(path), k.Value)
			if k.Tag == "!!merge" {
				sub = path
			}
			if t.Elem().Kind() == reflect.Interface {
				continue // free-form (the schema): JSON Schema checks it
			}
			if err := c.check(v, t.Elem(), sub); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, v := range n.Content {
			if err := c.check(v, t.Elem(), append(slices.Clone(path), strconv.Itoa(i))); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *keyChecker) unknownKey(k *yaml.Node, path []string, keys map[string]reflect.Type) error {
	valid := make([]string, 0, len(keys))
	for n := range keys {
		valid = append(valid, n)
	}
	sort.Strings(valid)
	where := ""
	if p := keyPlace(path); p != "" {
		where = p + ": "
	}
	hint := ""
	if best := closest(k.Value, valid); best != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", best)
	}
	return fmt.Errorf("%s:%d: %sunknown key %q%s; valid keys: %s", c.loc.name, k.Line, where, k.Value, hint, strings.Join(valid, ", "))
}

// yamlKeys maps the yaml keys of struct type t to their types.
func yamlKeys(t reflect.Type) map[string]reflect.Type {
	keys := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if opts == "inline" && f.Type.Kind() == reflect.Struct {
			maps.Copy(keys, yamlKeys(f.Type))
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		keys[name] = f.Type
	}
	return keys
}

// closest is the key of valid nearest to s by edit distance, when it is
// near enough to be the one meant; "" otherwise.
func closest(s string, valid []string) string {
	best, bestD := "", 1+len(s)/3
	if bestD < 2 {
		bestD = 2
	}
	for _, v := range valid {
		if d := editDistance(strings.ToLower(s), v); d <= bestD && (best == "" || d < editDistance(strings.ToLower(s), best)) {
			best = v
		}
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of two neighbours each count 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range rb {
		d[0][j+1] = j + 1
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

var typeErrorRE = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) `(.*)` into (.*)$")

// decodeError reports the decoder's errors (a value of the wrong type, a
// key given twice) with the file name, line and key.
func (c *keyChecker) decodeError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) || len(te.Errors) == 0 {
		return fmt.Errorf("%s: %w", c.loc.name, err)
	}
	msgs := make([]string, 0, len(te.Errors))
	for _, e := range te.Errors {
		m := typeErrorRE.FindStringSubmatch(e)
		if m == nil {
			line, rest, ok := strings.Cut(strings.TrimPrefix(e, "line "), ": ")
			if !ok {
				msgs = append(msgs, c.loc.name+": "+e)
			} else {
				msgs = append(msgs, c.loc.name+":"+line+": "+rest)
			}
			continue
		}
		line, _ := strconv.Atoi(m[1])
		msg := fmt.Sprintf("%q is a %s, want %s", m[3], yamlKind(m[2]), goKind(m[4]))
		for _, v := range c.values {
			if v.line == line && v.value == m[3] {
				msg = keyPlace(v.path) + ": " + msg
				break
			}
		}
		msgs = append(msgs, fmt.Sprintf("%s:%s: %s", c.loc.name, m[1], msg))
	}
	return errors.New(strings.Join(msgs, "; "))
}

func yamlKind(tag string) string {
	switch tag {
	case "str":
		return "string"
	case "int":
		return "number"
	case "seq":
		return "list"
	case "map":
		return "mapping"
	}
	return tag
}

func goKind(t string) string {
	switch {
	case strings.HasPrefix(t, "int") || strings.HasPrefix(t, "uint"):
		return "a whole number"
	case t == "time.Duration":
		return "a duration such as 1m or 500ms"
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map[") || strings.HasPrefix(t, "resource."):
		return "a mapping"
	}
	return t
}

// jsonTypes are the names JSON Schema's "type" accepts.
var jsonTypes = []string{"string", "number", "integer", "boolean", "object", "array", "null"}

// schemaError turns a schema that does not compile into a short message
// tied to the offending keyword. A schema that breaks the metaschema is
// reported at its deepest failing keyword: the "type" keyword with the
// names it accepts, any other with the metaschema's own words.
func schemaError(err error, doc map[string]any) error {
	var sve *jsonschema.SchemaValidationError
	var ve *jsonschema.ValidationError
	if !errors.As(err, &sve) || !errors.As(sve.Err, &ve) {
		return at(fmt.Errorf("schema: %w", err), "schema")
	}
	leaf := deepest(ve)
	loc := leaf.InstanceLocation
	if k := typeKeyword(loc); k >= 0 {
		return &keyError{
			path:  append([]string{"schema"}, loc...),
			where: schemaPlace(loc[:k]),
			err:   errors.New(typeMessage(valueIn(doc, loc[:k+1]))),
		}
	}
	msg := leaf.Error()
	if _, rest, ok := strings.Cut(msg, "': "); ok && strings.HasPrefix(msg, "at '") {
		msg = rest
	}
	where, kw := schemaPlace(loc), ""
	if len(loc) > 0 {
		where, kw = schemaPlace(loc[:len(loc)-1]), loc[len(loc)-1]+": "
	}
	return &keyError{path: append([]string{"schema"}, loc...), where: where, err: errors.New(kw + msg)}
}

// deepest is the innermost cause of e at the deepest place in the
// instance (the first of those when several are as deep).
func deepest(e *jsonschema.ValidationError) *jsonschema.ValidationError {
	if len(e.Causes) == 0 {
		return e
	}
	var best *jsonschema.ValidationError
	for _, c := range e.Causes {
		if d := deepest(c); best == nil || len(d.InstanceLocation) > len(best.InstanceLocation) {
			best = d
		}
	}
	return best
}

// typeKeyword is the index in loc of a "type" keyword the location is in
// (the keyword or one of its list's items), or -1.
func typeKeyword(loc []string) int {
	for k := len(loc) - 1; k >= 0 && k >= len(loc)-2; k-- {
		if loc[k] != "type" {
			continue
		}
		if k > 0 && slices.Contains([]string{"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}, loc[k-1]) {
			return -1 // a property named "type"
		}
		return k
	}
	return -1
}

func typeMessage(v any) string {
	valid := strings.Join(jsonTypes, ", ")
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("type %q is not one of %s", v, valid)
	case []any:
		for _, x := range v {
			if s, ok := x.(string); !ok || !slices.Contains(jsonTypes, s) {
				return fmt.Sprintf("type %s in the list is not one of %s", quoteAny(x), valid)
			}
		}
		return fmt.Sprintf("type: the list must name each of %s at most once", valid)
	}
	return fmt.Sprintf("type must be one of %s (or a list of them), not %s", valid, quoteAny(v))
}

// quoteAny shows a string quoted, any other value as it is.
func quoteAny(v any) string {
	if s, ok := v.(string); ok {
		return strconv.Quote(s)
	}
	return fmt.Sprint(v)
}

// schemaPlace names a place in a schema: `schema property "body"`,
// `schema property "address.city"`, `schema property "tags", items`.
func schemaPlace(loc []string) string {
	var props []string
	i := 0
	for ; i+1 < len(loc) && loc[i] == "properties"; i += 2 {
		props = append(props, loc[i+1])
	}
	s := "schema"
	if len(props) > 0 {
		s += fmt.Sprintf(" property %q", strings.Join(props, "."))
	}
	if i < len(loc) {
		s += ", " + strings.Join(loc[i:], ".")
	}
	return s
}

// valueIn is the value at loc in a JSON document.
func valueIn(doc any, loc []string) any {
	for _, p := range loc {
		switch d := doc.(type) {
		case map[string]any:
			doc = d[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(d) {
				return nil
			}
			doc = d[i]
		default:
			return nil
		}
	}
	return doc
}
