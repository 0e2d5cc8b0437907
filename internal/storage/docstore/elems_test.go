package docstore

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
)

func TestElemKey(t *testing.T) {
	long := strings.Repeat("a", maxInlineKey)
	tests := []struct {
		name string
		a, b any
		same bool
	}{
		{"equal strings", "red", "red", true},
		{"case differs", "red", "Red", false},
		{"trailing space differs", "x", "x ", false},
		{"string is not number", "1", 1.0, false},
		{"string is not boolean", "true", true, false},
		{"boolean is not number", true, 1.0, false},
		{"false is not zero", false, 0.0, false},
		{"minus zero is zero", math.Copysign(0, -1), 0.0, true},
		{"numbers", 2.5, 2.5, true},
		{"long strings equal", long, long, true},
		{"long strings differ in the last byte", long, long[:len(long)-1] + "b", false},
		{"long string is not its prefix", long, long[:len(long)-1], false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ka, oka := elemKey(tc.a)
			kb, okb := elemKey(tc.b)
			if !oka || !okb {
				t.Fatalf("elemKey refused %v or %v", tc.a, tc.b)
			}
			if (ka == kb) != tc.same {
				t.Errorf("keys %q and %q: same = %v, want %v", ka, kb, ka == kb, tc.same)
			}
			for _, k := range []string{ka, kb} {
				if len(k) > maxInlineKey {
					t.Errorf("key of %d bytes is longer than the column", len(k))
				}
			}
		})
	}
	for _, v := range []any{nil, math.NaN(), math.Inf(1), map[string]any{}, []any{}} {
		if k, ok := elemKey(v); ok {
			t.Errorf("elemKey(%v) = %q, want refused", v, k)
		}
	}
	// Text the databases' text types cannot hold is hashed.
	for _, s := range []string{"a\x00b", "\xff\xfe"} {
		if k, _ := elemKey(s); !strings.HasPrefix(k, "h") {
			t.Errorf("elemKey(%q) = %q, want a hash", s, k)
		}
	}
}

func TestElems(t *testing.T) {
	key := func(v any) string { k, _ := elemKey(v); return k }
	tests := []struct {
		name   string
		data   string
		fields []string
		want   []elem
	}{
		{"scalars of each type", `{"tags":["b","a",1,true,false,2.5]}`, []string{"tags"},
			[]elem{{"tags", key(1.0)}, {"tags", key(2.5)}, {"tags", key(false)}, {"tags", key("a")}, {"tags", key("b")}, {"tags", key(true)}}},
		{"duplicates once", `{"tags":["a","a",1,1.0,1e0]}`, []string{"tags"}, []elem{{"tags", key(1.0)}, {"tags", key("a")}}},
		{"escapes decoded", `{"tags":["\u00e9","\u003cb\u003e"]}`, []string{"tags"}, []elem{{"tags", key("<b>")}, {"tags", key("é")}}},
		{"nested values, null and huge numbers are no elements", `{"tags":[["a"],{"k":"a"},null,1e400,"b"]}`, []string{"tags"}, []elem{{"tags", key("b")}}},
		{"a scalar field is not an array", `{"tags":"a"}`, []string{"tags"}, nil},
		{"null and missing", `{"tags":null}`, []string{"tags", "labels"}, nil},
		{"only the given fields", `{"tags":["a"],"labels":["b"],"other":["c"]}`, []string{"labels", "tags"},
			[]elem{{"labels", key("b")}, {"tags", key("a")}}},
		{"no fields, no parsing", `not json`, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := elems([]byte(tc.data), tc.fields)
			if err != nil {
				t.Fatal(err)
			}
			slices.SortFunc(tc.want, func(a, b elem) int { return strings.Compare(a.field+"\x00"+a.value, b.field+"\x00"+b.value) })
			if !slices.Equal(got, tc.want) {
				t.Errorf("elems = %q, want %q", got, tc.want)
			}
		})
	}
	for _, bad := range []string{`not json`, `[1]`, `{"tags":[1,}`} {
		if _, err := elems([]byte(bad), []string{"tags"}); err == nil {
			t.Errorf("elems(%s) succeeded", bad)
		}
	}
}

func TestDiffElems(t *testing.T) {
	e := func(vs ...string) []elem {
		var out []elem
		for _, v := range vs {
			out = append(out, elem{"tags", v})
		}
		return out
	}
	gone, added := diffElems(e("a", "b", "d"), e("b", "c", "d", "e"))
	if !slices.Equal(gone, e("a")) || !slices.Equal(added, e("c", "e")) {
		t.Errorf("diff = %v, %v", gone, added)
	}
	gone, added = diffElems(nil, e("a"))
	if gone != nil || !slices.Equal(added, e("a")) {
		t.Errorf("diff from nothing = %v, %v", gone, added)
	}
}

// TestArrayTermLimit: "contains" terms merged into one lookup still count
// against the filter's size limit, one term each as before.
func TestArrayTermLimit(t *testing.T) {
	c := Collection{Name: "things", Fields: []docquery.Field{{Name: "tags", Type: docquery.Array}}}
	terms := func(n int, op docquery.Op) []docquery.Expr {
		out := make([]docquery.Expr, n)
		for i := range out {
			out[i] = &docquery.Cond{Field: "tags", Op: op, Value: float64(i)}
		}
		return out
	}
	for _, d := range []string{"sqlite", "postgres", "mysql"} {
		for _, tc := range []struct {
			name   string
			filter docquery.Expr
			ok     bool
		}{
			{"or of 199", docquery.Or(terms(199, docquery.Eq)), true},
			{"or of 200", docquery.Or(terms(200, docquery.Eq)), false},
			{"and of 199", docquery.And(terms(199, docquery.Ne)), true},
			{"and of 200", docquery.And(terms(200, docquery.Ne)), false},
		} {
			_, _, err := BuildFind(d, c, "o", docquery.Query{Filter: tc.filter})
			if (err == nil) != tc.ok {
				t.Errorf("%s %s: err = %v", d, tc.name, err)
			}
		}
	}
}

// TestArrayLookupLimit: a filter is refused (docquery.ErrTooComplex) when
// it needs more than maxLookups side-table look-ups, and a value given
// again adds nothing to the query.
func TestArrayLookupLimit(t *testing.T) {
	c := Collection{Name: "things", Fields: []docquery.Field{{Name: "tags", Type: docquery.Array}, {Name: "title", Type: docquery.String}}}
	// Each arm's contains term sits in its own And: no merging.
	arms := func(n int) docquery.Expr {
		out := make(docquery.Or, n)
		for i := range out {
			out[i] = docquery.And{
				&docquery.Cond{Field: "tags", Op: docquery.Eq, Value: "x"},
				&docquery.Cond{Field: "title", Op: docquery.Ne, Value: fmt.Sprint(i)},
			}
		}
		return out
	}
	repeated := func(n int) docquery.Expr {
		vals := make([]any, n)
		for i := range vals {
			vals[i] = "x"
		}
		return &docquery.Cond{Field: "tags", Op: docquery.In, Values: vals}
	}
	for _, d := range []string{"sqlite", "postgres", "mysql"} {
		for _, tc := range []struct {
			name   string
			filter docquery.Expr
			ok     bool
		}{
			{"16 look-ups", arms(maxLookups), true},
			{"17 look-ups", arms(maxLookups + 1), false},
			{"one field's 150 values merged", docquery.Or(func() []docquery.Expr {
				var out []docquery.Expr
				for i := range 150 {
					out = append(out, &docquery.Cond{Field: "tags", Op: docquery.Eq, Value: fmt.Sprint(i)})
				}
				return out
			}()), true},
		} {
			_, _, err := BuildFind(d, c, "o", docquery.Query{Filter: tc.filter})
			if (err == nil) != tc.ok || (err != nil && !errors.Is(err, docquery.ErrTooComplex)) {
				t.Errorf("%s %s: err = %v", d, tc.name, err)
			}
		}
		one, oneArgs, err := BuildFind(d, c, "o", docquery.Query{Filter: repeated(1)})
		if err != nil {
			t.Fatal(err)
		}
		many, manyArgs, err := BuildFind(d, c, "o", docquery.Query{Filter: repeated(100)})
		if err != nil {
			t.Fatal(err)
		}
		if one != many || len(oneArgs) != len(manyArgs) {
			t.Errorf("%s: a value given 100 times makes another query than once:\n%s (%d args)\n%s (%d args)", d, one, len(oneArgs), many, len(manyArgs))
		}
	}
}
