package query_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

type schema map[string]docquery.Type

func (s schema) Field(name string) (docquery.Field, bool) {
	switch name {
	case "_id":
		return docquery.Field{Name: name, Type: docquery.String}, true
	case "_created", "_updated":
		return docquery.Field{Name: name, Type: docquery.DateTime}, true
	}
	t, ok := s[name]
	return docquery.Field{Name: name, Type: t}, ok
}

var todos = schema{"title": docquery.String, "done": docquery.Boolean, "due": docquery.DateTime, "prio": docquery.Number, "tags": docquery.Array}

func c(f string, op docquery.Op, v any) *docquery.Cond {
	return &docquery.Cond{Field: f, Op: op, Value: v}
}

func TestParseWhere(t *testing.T) {
	upd := time.Date(2024, 4, 2, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want docquery.Expr
	}{
		{`{"done":false}`, c("done", docquery.Eq, false)},
		{`{"title":{"$eq":"a"}}`, c("title", docquery.Eq, "a")},
		{`{"title":{"$ne":"a"}}`, c("title", docquery.Ne, "a")},
		{`{"prio":{"$gt":1}}`, c("prio", docquery.Gt, 1.0)},
		{`{"prio":{"$gte":1.5}}`, c("prio", docquery.Gte, 1.5)},
		{`{"prio":{"$lt":-1}}`, c("prio", docquery.Lt, -1.0)},
		{`{"prio":{"$lte":1e2}}`, c("prio", docquery.Lte, 100.0)},
		{`{"title":{"$in":["a","b"]}}`, &docquery.Cond{Field: "title", Op: docquery.In, Values: []any{"a", "b"}}},
		{`{"title":{"$nin":["a",null]}}`, &docquery.Cond{Field: "title", Op: docquery.Nin, Values: []any{"a", nil}}},
		{`{"due":{"$exists":false}}`, c("due", docquery.Exists, false)},
		{`{"due":null}`, c("due", docquery.Eq, nil)},
		{`{"due":{"$gte":"2024-04-02T02:00:00+02:00"}}`, c("due", docquery.Gte, "2024-04-02T00:00:00.000Z")},
		{`{"_updated":{"$gte":"Tue, 02 Apr 2024 00:00:00 GMT"}}`, c("_updated", docquery.Gte, upd)},
		{`{"tags":"work"}`, c("tags", docquery.Eq, "work")},
		{`{"$or":[{"done":true},{"prio":{"$gt":2}}]}`, docquery.And{docquery.Or{c("done", docquery.Eq, true), c("prio", docquery.Gt, 2.0)}}[0]},
		{`{"$and":[{"done":true}],"title":"x"}`, docquery.And{docquery.And{c("done", docquery.Eq, true)}, c("title", docquery.Eq, "x")}},
		{`{"done":true,"title":"x"}`, docquery.And{c("done", docquery.Eq, true), c("title", docquery.Eq, "x")}},
		{`done==False`, c("done", docquery.Eq, false)},
		{`title == "a b" and prio >= 2`, docquery.And{c("title", docquery.Eq, "a b"), c("prio", docquery.Gte, 2.0)}},
		{`title == 'x' or (done != True and due == None)`, docquery.Or{c("title", docquery.Eq, "x"), docquery.And{c("done", docquery.Ne, true), c("due", docquery.Eq, nil)}}},
		{`prio < 3`, c("prio", docquery.Lt, 3.0)},
		{`prio <= 3`, c("prio", docquery.Lte, 3.0)},
		{`prio > 3`, c("prio", docquery.Gt, 3.0)},
		{`title in ["a", "b"]`, &docquery.Cond{Field: "title", Op: docquery.In, Values: []any{"a", "b"}}},
		{`title not in ("a",)`, &docquery.Cond{Field: "title", Op: docquery.Nin, Values: []any{"a"}}},
		{``, nil},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := query.ParseWhere(tc.in, todos)
			if err != nil {
				t.Fatalf("ParseWhere: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestParseWhereErrors(t *testing.T) {
	for _, in := range []string{
		`{"nope":1}`, `{"done":"false"}`, `{"done":{"$foo":1}}`, `{"title":{"$regex":"^a"}}`, `{"$where":"1"}`,
		`{"done":`, `[1]`, `{"done":true} x`, `{"prio":{"$gt":null}}`, `{"tags":{"$gt":"a"}}`, `{"title":{"$in":"a"}}`,
		`{"$or":[]}`, `{"$or":[1]}`, `{"due":"yesterday"}`, `{"title":{"a":1}}`, `{"prio":1e999}`,
		`done = False`, `done ==`, `nope == 1`, `(done == True`, `title == "x`, `done == False; DROP TABLE x`,
		`title == x`, `done == True and`, `title in "a"`, "title == '\xff'", `{"_id":1}`, `{"done":{"$exists":1}}`,
	} {
		e, err := query.ParseWhere(in, todos)
		switch {
		case err == nil:
			t.Errorf("ParseWhere(%q) = %#v, want an error", in, e)
		case !strings.HasPrefix(err.Error(), "where"):
			t.Errorf("ParseWhere(%q): %q does not name the parameter", in, err)
		}
	}
}

// TestParseSortAndProjectionErrors: every refusal names its parameter.
func TestParseSortAndProjectionErrors(t *testing.T) {
	tests := []struct {
		param, in string
	}{
		{"sort", `nope`},
		{"sort", `tags`},
		{"sort", `title,title`},
		{"sort", `[("title, 1)]`},
		{"sort", `[("title", 1)`},
		{"sort", `[("title", 2)]`},
		{"sort", `[("title", 1)] ?`},
		{"sort", "[(\"title\", 1)] \u00e9\xff"},
		{"projection", `{"title":`},
		{"projection", `{"title":1} x`},
		{"projection", `[1]`},
		{"projection", `{"nope":1}`},
		{"projection", `{"title":2}`},
		{"projection", `{"title":1,"done":0}`},
	}
	for _, tc := range tests {
		t.Run(tc.param+" "+tc.in, func(t *testing.T) {
			var err error
			if tc.param == "sort" {
				_, err = query.ParseSort(tc.in, todos)
			} else {
				_, err = query.ParseProjection(tc.in, todos)
			}
			var qe *query.Error
			switch {
			case !errors.As(err, &qe):
				t.Fatalf("error %v, want a *query.Error", err)
			case !strings.Contains(" "+err.Error()+" ", " "+tc.param+" ") && !strings.HasPrefix(err.Error(), tc.param+":"):
				t.Errorf("%q does not name the parameter %s", err, tc.param)
			}
		})
	}
}

// TestParseWhereTerms: a where of more than query.MaxTerms terms (each
// comparison and each and/or group) is a query error naming the limit, and
// the document store builds every where of up to MaxTerms terms (so that
// none reaches it to be refused there).
func TestParseWhereTerms(t *testing.T) {
	join := func(n int, format, sep string) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(format, i)
		}
		return strings.Join(parts, sep)
	}
	tests := []struct {
		name, where string
		terms       int // 0: refused
	}{
		{"$or of 199", `{"$or":[` + join(199, `{"tags":"t%d"}`, ",") + `]}`, 200},
		{"$or of 200", `{"$or":[` + join(200, `{"tags":"t%d"}`, ",") + `]}`, 0},
		{"$or of 250", `{"$or":[` + join(250, `{"tags":"t%d"}`, ",") + `]}`, 0},
		{"Python or of 199", join(199, `tags == %d`, " or "), 200},
		{"Python or of 250", join(250, `tags == %d`, " or "), 0},
		{"$and of 66 pairs", `{"$and":[` + join(66, `{"prio":{"$gt":%d,"$lt":1000}}`, ",") + `]}`, 1 + 66*3},
		{"$and of 67 pairs", `{"$and":[` + join(67, `{"prio":{"$gt":%d,"$lt":1000}}`, ",") + `]}`, 0},
		{"$in of 100 values is one term", `{"tags":{"$in":[` + join(100, `%d`, ",") + `]}}`, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := query.ParseWhere(tc.where, todos)
			if tc.terms == 0 {
				var qe *query.Error
				if !errors.As(err, &qe) || !strings.Contains(err.Error(), fmt.Sprintf("more than %d terms", query.MaxTerms)) {
					t.Fatalf("err = %v, want a query error naming the limit", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{"sqlite", "postgres", "mysql"} {
				if _, _, err := docstore.BuildFind(d, fuzzCollection, "o", docquery.Query{Filter: e}); err != nil {
					t.Errorf("%s: the store refuses a where of %d terms: %v", d, tc.terms, err)
				}
			}
		})
	}
}

func TestParseSort(t *testing.T) {
	tests := []struct {
		in   string
		want []docquery.SortKey
	}{
		{`-_updated,title`, []docquery.SortKey{{Field: "_updated", Desc: true}, {Field: "title"}}},
		{`[("title",1),("_updated",-1)]`, []docquery.SortKey{{Field: "title"}, {Field: "_updated", Desc: true}}},
		{`[('done', -1)]`, []docquery.SortKey{{Field: "done", Desc: true}}},
		{``, nil},
	}
	for _, tc := range tests {
		got, err := query.ParseSort(tc.in, todos)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseSort(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{`nope`, `tags`, `title,title`, `[("title",2)]`, `[("title",1)`, `[(title)]`, `a,b,c,d,e,f`, `title;drop`} {
		if _, err := query.ParseSort(in, todos); err == nil {
			t.Errorf("ParseSort(%q) succeeded", in)
		}
	}
}

func TestParseProjection(t *testing.T) {
	p, err := query.ParseProjection(`{"title":1,"_id":0}`, todos)
	if err != nil || !p.Include || !p.Keep("title") || p.Keep("done") {
		t.Errorf("include: %+v, %v", p, err)
	}
	p, err = query.ParseProjection(`{"due":0,"owner":0}`, todos, "owner")
	if err != nil || p.Include || p.Keep("due") || p.Keep("owner") || !p.Keep("title") {
		t.Errorf("exclude: %+v, %v", p, err)
	}
	for _, in := range []string{`{"title":1,"done":0}`, `{"nope":1}`, `{"title":2}`, `[1]`, `{"title":"1"}`, `{`} {
		if _, err := query.ParseProjection(in, todos); err == nil {
			t.Errorf("ParseProjection(%q) succeeded", in)
		}
	}
}
