package query

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
)

// Schema tells the parsers which fields exist and their types.
type Schema interface {
	Field(name string) (docquery.Field, bool)
}

// Error is a malformed query; its message is safe to show the client.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

func errorf(format string, args ...any) error { return &Error{Msg: fmt.Sprintf(format, args...)} }

// Limits on the size of a query.
const (
	maxLen     = 4096
	maxDepth   = 10
	maxSortKey = 5
)

// MaxTerms bounds the terms of a where: its comparisons and its and/or
// groups (the implicit one of an object with several keys included), each
// counting one, as the document store counts the nodes of a filter it
// accepts (docstore refuses a larger filter).
const MaxTerms = 200

// ParseWhere parses a where parameter: a JSON object ({"done": false,
// "title": {"$in": ["a", "b"]}}) or, when it does not start with "{", an
// Eve Python-style expression (done == False and title != "x").
func ParseWhere(s string, sch Schema) (docquery.Expr, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if len(s) > maxLen {
		return nil, errorf("where is longer than %d bytes", maxLen)
	}
	if !utf8.ValidString(s) {
		return nil, errorf("where is not valid UTF-8")
	}
	var e docquery.Expr
	var err error
	if strings.HasPrefix(s, "{") {
		e, err = parseMongo(s, sch)
	} else {
		e, err = parsePython(s, sch)
	}
	if err != nil {
		return nil, errorf("where: %v", err) // the message names the parameter
	}
	if terms(e) > MaxTerms {
		return nil, errorf("where has more than %d terms (comparisons, and/or groups): narrow the query", MaxTerms)
	}
	return e, nil
}

// terms counts the nodes of e.
func terms(e docquery.Expr) int {
	n := 1
	switch x := e.(type) {
	case nil:
		return 0
	case docquery.And:
		for _, s := range x {
			n += terms(s)
		}
	case docquery.Or:
		for _, s := range x {
			n += terms(s)
		}
	}
	return n
}

// --- MongoDB-style JSON ---

func decodeJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, errorf("malformed JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errorf("malformed JSON: trailing data")
	}
	return v, nil
}

func parseMongo(s string, sch Schema) (docquery.Expr, error) {
	v, err := decodeJSON(s)
	if err != nil {
		return nil, err
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errorf("not a JSON object")
	}
	return mongoObject(obj, sch, 0)
}

func mongoObject(obj map[string]any, sch Schema, depth int) (docquery.Expr, error) {
	if depth > maxDepth {
		return nil, errorf("nested more than %d deep", maxDepth)
	}
	keys := sortedKeys(obj)
	var and docquery.And
	for _, k := range keys {
		v := obj[k]
		switch k {
		case "$and", "$or":
			list, ok := v.([]any)
			if !ok || len(list) == 0 {
				return nil, errorf("%s needs a non-empty array of objects", k)
			}
			var sub []docquery.Expr
			for _, item := range list {
				o, ok := item.(map[string]any)
				if !ok {
					return nil, errorf("%s needs a non-empty array of objects", k)
				}
				e, err := mongoObject(o, sch, depth+1)
				if err != nil {
					return nil, err
				}
				sub = append(sub, e)
			}
			if k == "$and" {
				and = append(and, docquery.And(sub))
			} else {
				and = append(and, docquery.Or(sub))
			}
			continue
		}
		if strings.HasPrefix(k, "$") {
			return nil, errorf("unknown operator %q", k)
		}
		f, ok := sch.Field(k)
		if !ok {
			return nil, errorf("unknown field %q", k)
		}
		ops, isOps := v.(map[string]any)
		if isOps && len(ops) > 0 && strings.HasPrefix(sortedKeys(ops)[0], "$") {
			for _, op := range sortedKeys(ops) {
				c, err := mongoCond(f, op, ops[op])
				if err != nil {
					return nil, err
				}
				and = append(and, c)
			}
			continue
		}
		val, err := value(f, v)
		if err != nil {
			return nil, err
		}
		and = append(and, &docquery.Cond{Field: f.Name, Op: docquery.Eq, Value: val})
	}
	if len(and) == 1 {
		return and[0], nil
	}
	return and, nil
}

func mongoCond(f docquery.Field, op string, v any) (*docquery.Cond, error) {
	switch o := docquery.Op(op); o {
	case docquery.Eq, docquery.Ne, docquery.Gt, docquery.Gte, docquery.Lt, docquery.Lte:
		val, err := value(f, v)
		if err != nil {
			return nil, err
		}
		if val == nil && o != docquery.Eq && o != docquery.Ne {
			return nil, errorf("%s cannot compare with null", op)
		}
		if f.Type == docquery.Array && o != docquery.Eq && o != docquery.Ne {
			return nil, errorf("%s does not apply to the array field %q", op, f.Name)
		}
		return &docquery.Cond{Field: f.Name, Op: o, Value: val}, nil
	case docquery.In, docquery.Nin:
		list, ok := v.([]any)
		if !ok {
			return nil, errorf("%s needs an array", op)
		}
		if len(list) > 100 {
			return nil, errorf("%s takes at most 100 values", op)
		}
		vals := make([]any, 0, len(list))
		for _, x := range list {
			val, err := value(f, x)
			if err != nil {
				return nil, err
			}
			vals = append(vals, val)
		}
		return &docquery.Cond{Field: f.Name, Op: o, Values: vals}, nil
	case docquery.Exists:
		b, ok := v.(bool)
		if !ok {
			return nil, errorf("$exists needs true or false")
		}
		return &docquery.Cond{Field: f.Name, Op: o, Value: b}, nil
	case "$regex":
		// A regular expression cannot be run the same way, safely (without
		// catastrophic backtracking) and with an index, on all three
		// databases.
		return nil, errorf("$regex is not supported")
	}
	return nil, errorf("unknown operator %q", op)
}

// value converts a JSON value to the Go value of f's type.
func value(f docquery.Field, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	bad := func() error { return errorf("field %q needs a %s value", f.Name, f.Type) }
	switch f.Type {
	case docquery.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, bad()
		}
		return b, nil
	case docquery.Number:
		return number(f, v)
	case docquery.String:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		return s, nil
	case docquery.DateTime:
		s, ok := v.(string)
		if !ok {
			return nil, bad()
		}
		t, err := ParseTime(s)
		if err != nil {
			return nil, errorf("field %q: %v", f.Name, err)
		}
		if f.Name == docquery.FieldCreated || f.Name == docquery.FieldUpdated {
			return t, nil
		}
		return docquery.NormalizeTime(t), nil
	case docquery.Array:
		switch x := v.(type) {
		case string, bool:
			return x, nil
		case json.Number, float64:
			return number(f, v)
		}
		return nil, errorf("field %q: compare an array field with one element value", f.Name)
	}
	return nil, bad()
}

func number(f docquery.Field, v any) (any, error) {
	var x float64
	switch n := v.(type) {
	case json.Number:
		var err error
		if x, err = n.Float64(); err != nil {
			return nil, errorf("field %q: bad number %q", f.Name, n.String())
		}
	case float64:
		x = n
	default:
		return nil, errorf("field %q needs a number", f.Name)
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil, errorf("field %q: number out of range", f.Name)
	}
	return x, nil
}

// ParseTime accepts RFC 3339 (JSON Schema's date-time) and RFC 1123 with
// GMT (Eve's date format).
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := http.ParseTime(s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (RFC 3339 or RFC 1123)", s)
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// Operators first ("$" sorts before letters), then fields, so the
	// result is deterministic.
	slices.Sort(keys)
	return keys
}

// --- sort ---

// ParseSort parses Eve's sort parameter: "-_updated,title" or
// [("title", 1), ("_updated", -1)].
func ParseSort(s string, sch Schema) ([]docquery.SortKey, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	if len(s) > maxLen {
		return nil, errorf("sort is longer than %d bytes", maxLen)
	}
	if !utf8.ValidString(s) {
		return nil, errorf("sort is not valid UTF-8")
	}
	var keys []docquery.SortKey
	if strings.HasPrefix(s, "[") {
		var err error
		if keys, err = parsePythonSort(s); err != nil {
			return nil, err
		}
	} else {
		for _, part := range strings.Split(s, ",") {
			part = strings.TrimSpace(part)
			k := docquery.SortKey{Field: part}
			if strings.HasPrefix(part, "-") {
				k = docquery.SortKey{Field: part[1:], Desc: true}
			} else if strings.HasPrefix(part, "+") {
				k.Field = part[1:]
			}
			keys = append(keys, k)
		}
	}
	if len(keys) > maxSortKey {
		return nil, errorf("sort takes at most %d fields", maxSortKey)
	}
	seen := map[string]bool{}
	for _, k := range keys {
		f, ok := sch.Field(k.Field)
		if !ok {
			return nil, errorf("unknown sort field %q", k.Field)
		}
		if f.Type == docquery.Array {
			return nil, errorf("cannot sort by the array field %q", k.Field)
		}
		if seen[k.Field] {
			return nil, errorf("sort field %q given twice", k.Field)
		}
		seen[k.Field] = true
	}
	return keys, nil
}

func parsePythonSort(s string) ([]docquery.SortKey, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, errorf("sort: %v", err)
	}
	p := &parser{toks: toks}
	bad := errorf(`sort must look like [("field", 1), ("other", -1)]`)
	if !p.accept(tokPunct, "[") {
		return nil, bad
	}
	var keys []docquery.SortKey
	for !p.accept(tokPunct, "]") {
		if len(keys) > 0 && !p.accept(tokPunct, ",") {
			return nil, bad
		}
		if p.accept(tokPunct, "]") {
			break
		}
		if !p.accept(tokPunct, "(") {
			return nil, bad
		}
		name := p.next()
		if name.kind != tokString && name.kind != tokIdent {
			return nil, bad
		}
		if !p.accept(tokPunct, ",") {
			return nil, bad
		}
		dir := p.next()
		if dir.kind != tokNumber || (dir.text != "1" && dir.text != "-1") {
			return nil, errorf("sort direction must be 1 or -1")
		}
		if !p.accept(tokPunct, ")") {
			return nil, bad
		}
		keys = append(keys, docquery.SortKey{Field: name.text, Desc: dir.text == "-1"})
		if len(keys) > maxSortKey {
			return nil, errorf("sort takes at most %d fields", maxSortKey)
		}
	}
	if p.peek().kind != tokEOF {
		return nil, bad
	}
	return keys, nil
}

// --- projection ---

// Projection selects the fields returned. Meta fields are always returned.
type Projection struct {
	// Include: only Fields are returned; otherwise Fields are left out.
	Include bool
	Fields  map[string]bool
}

// Keep reports whether a document field is returned.
func (p Projection) Keep(field string) bool {
	if len(p.Fields) == 0 {
		return true
	}
	return p.Fields[field] == p.Include
}

// ParseProjection parses {"title": 1} (only title) or {"due": 0} (all but
// due). extra names fields that may be projected although they cannot be
// queried (the owner field).
func ParseProjection(s string, sch Schema, extra ...string) (Projection, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Projection{}, nil
	}
	if len(s) > maxLen {
		return Projection{}, errorf("projection is longer than %d bytes", maxLen)
	}
	v, err := decodeJSON(s)
	if err != nil {
		return Projection{}, errorf("projection: %v", err)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return Projection{}, errorf("projection must be a JSON object")
	}
	p := Projection{Fields: map[string]bool{}}
	mode := -1
	for _, k := range sortedKeys(obj) {
		_, known := sch.Field(k)
		for _, e := range extra {
			known = known || k == e
		}
		if !known {
			return Projection{}, errorf("unknown projection field %q", k)
		}
		var on int
		switch x := obj[k].(type) {
		case bool:
			on = map[bool]int{true: 1, false: 0}[x]
		case json.Number:
			switch x.String() {
			case "1":
				on = 1
			case "0":
				on = 0
			default:
				return Projection{}, errorf("projection values are 1 or 0")
			}
		default:
			return Projection{}, errorf("projection values are 1 or 0")
		}
		if strings.HasPrefix(k, "_") {
			continue // meta fields are always returned
		}
		if mode >= 0 && mode != on {
			return Projection{}, errorf("projection cannot mix inclusion and exclusion")
		}
		mode = on
		p.Fields[k] = true
	}
	p.Include = mode == 1
	return p, nil
}
