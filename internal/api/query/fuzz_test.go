package query_test

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api/query"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
)

var fuzzCollection = docstore.Collection{Name: "todos", Fields: []docquery.Field{
	{Name: "title", Type: docquery.String, Indexed: true},
	{Name: "done", Type: docquery.Boolean, Indexed: true},
	{Name: "due", Type: docquery.DateTime},
	{Name: "prio", Type: docquery.Number},
	{Name: "tags", Type: docquery.Array},
}}

// allowedWords are every identifier the document store may write: SQL
// keywords and functions, its column names, and the declared field names.
var allowedWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`SELECT id owner created updated etag data deleted version FROM doc_todos WHERE AND OR NOT IN
		IS NULL ORDER BY ASC DESC NULLS FIRST LAST LIMIT OFFSET COUNT TRUE FALSE json_extract json_type
		json_each value EXISTS COALESCE jsonb_typeof CAST AS jsonb COLLATE C JSON_CONTAINS JSON_CONTAINS_PATH
		JSON_TYPE JSON_EXTRACT one null g_title g_done g_due g_prio docelem_todos field unnest ARRAY VALUES CROSS JOIN LATERAL DISTINCT m v e
		title done due prio tags`) {
		m[w] = true
	}
	return m
}()

var (
	stringLiteral = regexp.MustCompile(`'[^']*'`)
	word          = regexp.MustCompile(`[A-Za-z_][A-Za-z0-9_]*`)
	allowedString = regexp.MustCompile(`^'(\$\.)?(title|done|due|prio|tags|one|null)'$`)
)

// checkSQL fails when stmt contains anything but the store's own words,
// placeholders and the JSON paths of declared fields: user text may reach
// only the arguments.
func checkSQL(t *testing.T, dialect, stmt string) {
	for _, lit := range stringLiteral.FindAllString(stmt, -1) {
		if !allowedString.MatchString(lit) {
			t.Fatalf("%s: unexpected string literal %s in %s", dialect, lit, stmt)
		}
	}
	rest := stringLiteral.ReplaceAllString(stmt, "")
	rest = strings.ReplaceAll(rest, `"C"`, "")
	for _, w := range word.FindAllString(rest, -1) {
		if !allowedWords[w] {
			t.Fatalf("%s: unexpected word %q in %s", dialect, w, stmt)
		}
	}
	if strings.ContainsAny(rest, `";\`+"`") || strings.Contains(rest, "--") || strings.Contains(rest, "/*") {
		t.Fatalf("%s: unexpected characters in %s", dialect, stmt)
	}
}

func fuzzQuery(t *testing.T, where, sort, projection string) {
	s := schema{"title": docquery.String, "done": docquery.Boolean, "due": docquery.DateTime, "prio": docquery.Number, "tags": docquery.Array}
	filter, werr := query.ParseWhere(where, s)
	keys, serr := query.ParseSort(sort, s)
	_, _ = query.ParseProjection(projection, s, "owner")
	for _, err := range []error{werr, serr} {
		if err != nil {
			if _, ok := err.(*query.Error); !ok {
				t.Fatalf("error %v is not a *query.Error", err)
			}
		}
	}
	if werr != nil || serr != nil {
		return
	}
	for _, d := range []string{"sqlite", "postgres", "mysql"} {
		stmt, args, err := docstore.BuildFind(d, fuzzCollection, "owner-x", docquery.Query{Filter: filter, Sort: keys, Limit: 10, Offset: 5})
		if err != nil {
			// The store may refuse a tree the parser accepted only for its
			// cost (the API answers 400), never for its form (a 500).
			if !errors.Is(err, docquery.ErrTooComplex) {
				t.Fatalf("%s: the store refused a parsed where: %v", d, err)
			}
			continue
		}
		checkSQL(t, d, stmt)
		placeholders := strings.Count(stmt, "?")
		if d == "postgres" {
			placeholders = len(regexp.MustCompile(`\$[0-9]+`).FindAllString(stmt, -1))
		}
		if placeholders != len(args) {
			t.Fatalf("%s: %d placeholders, %d args: %s", d, placeholders, len(args), stmt)
		}
		if !slices.Contains(args, any("owner-x")) {
			t.Fatalf("%s: owner is not bound: %s", d, stmt)
		}
	}
}

func FuzzWhere(f *testing.F) {
	for _, s := range []string{
		`{"done":false}`, `{"title":{"$in":["a","b"]},"prio":{"$gte":2}}`, `done==False and title!="x"`,
		`{"title":"x' OR '1'='1"}`, `{"title":"'; DROP TABLE doc_todos; --"}`, `title == "\" OR 1=1 --"`,
		`{"title; DROP TABLE doc_todos":1}`, `{"$or":[{"tags":"a"},{"due":{"$exists":true}}]}`,
		`{"_updated":{"$gt":"Tue, 02 Apr 2024 00:00:00 GMT"}}`, `title in ['a', "b"] or prio < -1.5e3`,
		`{"prio":{"$nin":[1,null]}}`, `{"title":{"$regex":".*"}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, where string) { fuzzQuery(t, where, "", "") })
}

func FuzzSort(f *testing.F) {
	for _, s := range []string{`-_updated,title`, `[("title",1),("_updated",-1)]`, `title; DROP TABLE doc_todos`, `[("title) --",1)]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sort string) { fuzzQuery(t, "", sort, "") })
}

func FuzzProjection(f *testing.F) {
	for _, s := range []string{`{"title":1}`, `{"due":0}`, `{"title\"; DROP":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) { fuzzQuery(t, "", "", p) })
}
