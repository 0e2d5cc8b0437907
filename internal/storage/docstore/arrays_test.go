package docstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// things has two array fields, for conditions on arrays.
var things = docstore.Collection{
	Name: "things",
	Fields: []docquery.Field{
		{Name: "title", Type: docquery.String, Indexed: true},
		{Name: "tags", Type: docquery.Array},
		{Name: "labels", Type: docquery.Array},
	},
	Unique: []string{"title"},
}

func eqc(f string, v any) *docquery.Cond { return &docquery.Cond{Field: f, Op: docquery.Eq, Value: v} }
func nec(f string, v any) *docquery.Cond { return &docquery.Cond{Field: f, Op: docquery.Ne, Value: v} }
func inc(f string, op docquery.Op, vs ...any) *docquery.Cond {
	return &docquery.Cond{Field: f, Op: op, Values: vs}
}

// sideRows counts the side-table rows of a document.
func sideRows(t *testing.T, db *sql.DB, dialect, table, id string) int {
	t.Helper()
	p := "?"
	if dialect == "postgres" {
		p = "$1"
	}
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table+" WHERE id = "+p, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// plant writes a side-table row for a document, as no write of the store
// would: a row the next write of that element collides with.
func plant(t *testing.T, e env, id, owner, field string, v any) func() {
	t.Helper()
	k, _ := docstore.ElemKey(v)
	ph := "?, ?, ?, ?"
	if e.dialect == "postgres" {
		ph = "$1, $2, $3, $4"
	}
	ctx := context.Background()
	if _, err := e.db.ExecContext(ctx, "INSERT INTO docelem_things (id, field, value, owner) VALUES ("+ph+")", id, field, k, owner); err != nil {
		t.Fatal(err)
	}
	return func() {
		q := "DELETE FROM docelem_things WHERE id = ? AND field = ? AND value = ?"
		if e.dialect == "postgres" {
			q = "DELETE FROM docelem_things WHERE id = $1 AND field = $2 AND value = $3"
		}
		if _, err := e.db.ExecContext(ctx, q, id, field, k); err != nil {
			t.Fatal(err)
		}
	}
}

// testArrays checks the answers of conditions on array fields: an array
// contains a value when one of its items is that JSON value (strings
// bytewise, numbers by value, booleans neither numbers nor strings); a
// missing or null array, a scalar in its place, and nested arrays or
// objects contain nothing.
func testArrays(t *testing.T, e env) {
	ctx := context.Background()
	s := e.store
	if err := s.Ensure(ctx, things); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("é", 200) // 400 bytes: stored as its hash
	now := time.Now().UTC()
	docs := []docstore.Document{
		doc("arr", "a1", `{"title":"t1","tags":["red","blue",1,true,"1","x "],"labels":["l1"]}`, now),
		doc("arr", "a2", `{"title":"t2","tags":[2.5,false,"Red"],"labels":[]}`, now),
		doc("arr", "a3", `{"title":"t3","tags":null}`, now),
		doc("arr", "a4", `{"title":"t4","labels":["l1","l2"]}`, now),
		doc("arr", "a5", `{"title":"t5","tags":["red","red"]}`, now),
		doc("arr", "a6", `{"title":"t6","tags":[["red"],{"k":"red"},null,"\u00e9"]}`, now),
		doc("arr", "a7", `{"title":"t7","tags":"red"}`, now),
		doc("arr", "a8", `{"title":"t8","tags":[1e0,100,-0]}`, now),
		doc("arr", "a9", `{"title":"t9","tags":["`+long+`","<b>"]}`, now),
		doc("arr-other", "o1", `{"title":"t1","tags":["red","blue"],"labels":["l1"]}`, now),
	}
	if err := s.Insert(ctx, things.Name, docs); err != nil {
		t.Fatal(err)
	}
	all := []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9"}
	except := func(ids ...string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(id string) bool { return slices.Contains(ids, id) })
	}
	many := docquery.Or{}
	for i := range 189 {
		many = append(many, eqc("tags", fmt.Sprintf("n%d", i)))
	}
	many = append(many, eqc("tags", "blue"))
	tests := []struct {
		name   string
		filter docquery.Expr
		want   []string
	}{
		{"contains", eqc("tags", "red"), []string{"a1", "a5"}},
		{"case matters", eqc("tags", "Red"), []string{"a2"}},
		{"trailing space matters", eqc("tags", "x"), []string{}},
		{"with trailing space", eqc("tags", "x "), []string{"a1"}},
		{"number", eqc("tags", 1.0), []string{"a1", "a8"}},
		{"number written with an exponent", eqc("tags", 100.0), []string{"a8"}},
		{"zero is minus zero", eqc("tags", math.Copysign(0, -1)), []string{"a8"}},
		{"fraction", eqc("tags", 2.5), []string{"a2"}},
		{"true is not 1", eqc("tags", true), []string{"a1"}},
		{"false is not 0", eqc("tags", false), []string{"a2"}},
		{"string is not number", eqc("tags", "1"), []string{"a1"}},
		{"escaped item", eqc("tags", "é"), []string{"a6"}},
		{"long string", eqc("tags", long), []string{"a9"}},
		{"prefix of long string", eqc("tags", long[:len(long)-2]), []string{}},
		{"HTML characters", eqc("tags", "<b>"), []string{"a9"}},
		{"NUL matches nothing", eqc("tags", "a\x00b"), []string{}},
		{"not contains", nec("tags", "red"), except("a1", "a5")},
		{"null is missing or null", eqc("tags", nil), []string{"a3", "a4"}},
		{"not null", nec("tags", nil), except("a3", "a4")},
		{"in", inc("tags", docquery.In, "blue", 2.5), []string{"a1", "a2"}},
		{"in with null", inc("tags", docquery.In, "zzz", nil), []string{"a3", "a4"}},
		{"in nothing", inc("tags", docquery.In), []string{}},
		{"nin", inc("tags", docquery.Nin, "red", true), except("a1", "a5")},
		{"nin with null", inc("tags", docquery.Nin, "red", nil), []string{"a2", "a6", "a7", "a8", "a9"}},
		{"nin nothing", inc("tags", docquery.Nin), all},
		{"or of 190", many, []string{"a1"}},
		{"or of two fields", docquery.Or{eqc("tags", "Red"), eqc("labels", "l2")}, []string{"a2", "a4"}},
		{"or with a scalar field", docquery.Or{eqc("tags", "blue"), eqc("title", "t4")}, []string{"a1", "a4"}},
		{"or with null", docquery.Or{inc("tags", docquery.In, "Red"), eqc("tags", nil)}, []string{"a2", "a3", "a4"}},
		{"or of not contains", docquery.Or{nec("tags", "red"), nec("tags", "blue")}, except("a1")},
		{"and of contains", docquery.And{eqc("tags", "red"), eqc("tags", "blue")}, []string{"a1"}},
		{"and of not contains", docquery.And{nec("tags", "red"), nec("tags", "Red")}, except("a1", "a2", "a5")},
		{"contains and not contains", docquery.And{eqc("tags", "red"), nec("tags", "blue")}, []string{"a5"}},
		{"two fields", docquery.And{eqc("labels", "l1"), inc("tags", docquery.Nin, "red")}, []string{"a4"}},
		{"and with a scalar field", docquery.And{eqc("title", "t5"), eqc("tags", "red")}, []string{"a5"}},
		{"or of ands", docquery.Or{docquery.And{eqc("tags", "red"), eqc("title", "t5")}, docquery.And{eqc("tags", "Red"), eqc("title", "t2")}}, []string{"a2", "a5"}},
		{"exists", &docquery.Cond{Field: "tags", Op: docquery.Exists, Value: true}, except("a4")},
		{"other field", eqc("labels", "l1"), []string{"a1", "a4"}},
		{"other field nin", inc("labels", docquery.Nin, "l1"), except("a1", "a4")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Find(ctx, things.Name, "arr", docquery.Query{Filter: tc.filter, Sort: []docquery.SortKey{{Field: "_id"}}})
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("Find = %v, want %v", ids(got), tc.want)
			}
			n, err := s.Count(ctx, things.Name, "arr", tc.filter)
			if err != nil || n != len(tc.want) {
				t.Errorf("Count = %d, %v; want %d", n, err, len(tc.want))
			}
			// A page of the matches, sorted on another field.
			page, err := s.Find(ctx, things.Name, "arr", docquery.Query{Filter: tc.filter, Sort: []docquery.SortKey{{Field: "title", Desc: true}}, Limit: 2})
			if err != nil {
				t.Fatalf("Find page: %v", err)
			}
			want := slices.Clone(tc.want)
			slices.Reverse(want)
			if !slices.Equal(ids(page), want[:min(2, len(want))]) {
				t.Errorf("page = %v, want the first 2 of %v", ids(page), want)
			}
		})
	}
}

// testArrayWrites checks that the side table follows every write, in the
// write's transaction: a write that fails leaves the document and its
// elements as they were.
func testArrayWrites(t *testing.T, e env) {
	ctx := context.Background()
	s := e.store
	if err := s.Ensure(ctx, things); err != nil {
		t.Fatal(err)
	}
	owner := "arr-w"
	find := func(v any) []string {
		t.Helper()
		got, err := s.Find(ctx, things.Name, owner, docquery.Query{Filter: eqc("tags", v), Sort: []docquery.SortKey{{Field: "_id"}}})
		if err != nil {
			t.Fatal(err)
		}
		return ids(got)
	}
	rows := func(id string) int { return sideRows(t, e.db, e.dialect, "docelem_things", id) }
	none := func(v any) bool { return len(find(v)) == 0 }
	now := time.Now().UTC()
	w1 := doc(owner, "w1", `{"title":"w1","tags":["a","b"],"labels":["a"]}`, now)
	if err := s.Insert(ctx, things.Name, []docstore.Document{w1}); err != nil {
		t.Fatal(err)
	}
	if got := find("a"); !slices.Equal(got, []string{"w1"}) || rows("w1") != 3 {
		t.Fatalf("after Insert: %v, %d rows", got, rows("w1"))
	}

	replace := func(d docstore.Document, data, etag, ifETag string) (docstore.Document, error) {
		d.Data, d.ETag = json.RawMessage(data), etag
		return d, s.Replace(ctx, things.Name, d, ifETag)
	}
	w1, err := replace(w1, `{"title":"w1","tags":["b","c"],"labels":["a"]}`, "e2", w1.ETag)
	if err != nil {
		t.Fatal(err)
	}
	if !none("a") || !slices.Equal(find("b"), []string{"w1"}) || !slices.Equal(find("c"), []string{"w1"}) || rows("w1") != 3 {
		t.Fatalf("after Replace: a %v, b %v, c %v, %d rows", find("a"), find("b"), find("c"), rows("w1"))
	}
	if _, err := replace(w1, `{"title":"w1","tags":["z"]}`, "e3", "stale"); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Fatalf("stale Replace: %v", err)
	}
	if !none("z") || rows("w1") != 3 {
		t.Fatalf("a stale Replace changed the elements: z %v, %d rows", find("z"), rows("w1"))
	}
	w1, err = replace(w1, `{"title":"w1"}`, "e4", w1.ETag)
	if err != nil {
		t.Fatal(err)
	}
	if !none("b") || rows("w1") != 0 {
		t.Fatalf("after Replace without arrays: b %v, %d rows", find("b"), rows("w1"))
	}
	w1, err = replace(w1, `{"title":"w1","tags":["d"]}`, "e5", w1.ETag)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, things.Name, owner, "w1", "stale"); !errors.Is(err, storage.ErrPreconditionFailed) || rows("w1") != 1 {
		t.Fatalf("stale Delete: %v, %d rows", err, rows("w1"))
	}
	if err := s.Delete(ctx, things.Name, owner, "w1", w1.ETag); err != nil {
		t.Fatal(err)
	}
	if !none("d") || rows("w1") != 0 {
		t.Fatalf("after Delete: d %v, %d rows", find("d"), rows("w1"))
	}

	t.Run("failed insert batch", func(t *testing.T) {
		// The second document's title is taken: neither is stored.
		if err := s.Insert(ctx, things.Name, []docstore.Document{doc(owner, "w0", `{"title":"w0"}`, now)}); err != nil {
			t.Fatal(err)
		}
		err := s.Insert(ctx, things.Name, []docstore.Document{
			doc(owner, "w2", `{"title":"w2","tags":["f"]}`, now), doc(owner, "w3", `{"title":"w0","tags":["f"]}`, now),
		})
		if !errors.Is(err, storage.ErrAlreadyExists) {
			t.Fatalf("Insert: %v, want ErrAlreadyExists", err)
		}
		if !none("f") || rows("w2") != 0 {
			t.Errorf("the failed batch left elements: %v, %d rows", find("f"), rows("w2"))
		}
	})
	t.Run("insert failing in the side table", func(t *testing.T) {
		// The document's row is written first, its elements next: the
		// collision with a planted row must take the document back too.
		defer plant(t, e, "w4", owner, "tags", "g")()
		err := s.Insert(ctx, things.Name, []docstore.Document{doc(owner, "w4", `{"title":"w4","tags":["g"]}`, now)})
		if err == nil {
			t.Fatal("Insert succeeded")
		}
		if _, err := s.Get(ctx, things.Name, owner, "w4"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("the document of a failed Insert is stored: %v", err)
		}
		if rows("w4") != 1 {
			t.Errorf("%d rows, want the planted one", rows("w4"))
		}
	})
	t.Run("replace meeting a stale row", func(t *testing.T) {
		// A row for an element the document does not have (left by an
		// instance that did not know the field as an array) must not make
		// the update that adds the element fail.
		w5 := doc(owner, "w5", `{"title":"w5","tags":["h"]}`, now)
		if err := s.Insert(ctx, things.Name, []docstore.Document{w5}); err != nil {
			t.Fatal(err)
		}
		defer plant(t, e, "w5", owner, "tags", "i")()
		if _, err := replace(w5, `{"title":"w5 new","tags":["i"]}`, "e6", w5.ETag); err != nil {
			t.Fatalf("Replace over a stale row: %v", err)
		}
		if !none("h") || !slices.Equal(find("i"), []string{"w5"}) || rows("w5") != 1 {
			t.Errorf("after Replace: h %v, i %v, %d rows", find("h"), find("i"), rows("w5"))
		}
	})
	t.Run("too many items", func(t *testing.T) {
		items := func(n int) string {
			v := make([]string, n)
			for i := range v {
				v[i] = strconv.Itoa(i)
			}
			return `{"title":"big ` + strconv.Itoa(n) + `","tags":[` + strings.Join(v, ",") + `]}`
		}
		if err := s.Insert(ctx, things.Name, []docstore.Document{doc(owner, "w6", items(docstore.MaxElements), now)}); err != nil {
			t.Fatalf("Insert of %d items: %v", docstore.MaxElements, err)
		}
		err := s.Insert(ctx, things.Name, []docstore.Document{doc(owner, "w7", items(docstore.MaxElements+1), now)})
		if !errors.Is(err, docstore.ErrTooManyElements) || rows("w7") != 0 {
			t.Errorf("Insert of %d items: %v, %d rows", docstore.MaxElements+1, err, rows("w7"))
		}
		w8 := doc(owner, "w8", `{"title":"w8","tags":["j"]}`, now)
		if err := s.Insert(ctx, things.Name, []docstore.Document{w8}); err != nil {
			t.Fatal(err)
		}
		if _, err := replace(w8, items(docstore.MaxElements+1), "e7", w8.ETag); !errors.Is(err, docstore.ErrTooManyElements) || rows("w8") != 1 {
			t.Errorf("Replace with %d items: %v, %d rows", docstore.MaxElements+1, err, rows("w8"))
		}
	})
}

// TestArrayPlans shows with the databases' EXPLAIN that a filter of many
// "contains" terms reads the side table's index (owner, field, value, id)
// and fetches the matching documents by primary key, without walking the
// owner's documents through one of the owner's indexes — with and without
// the database's statistics — so that its cost follows the number of
// matching elements, not of the owner's documents.
func TestArrayPlans(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			testArrayPlans(t, open(t, b, false))
		})
	}
}

func testArrayPlans(t *testing.T, e env) {
	ctx := context.Background()
	owner := "arr-explain"
	now := time.Now().UTC()
	for n := 0; n < 12000; n += 1000 {
		var batch []docstore.Document
		for i := n; i < n+1000; i++ {
			o := owner
			if i%3 == 0 {
				o = fmt.Sprintf("arr-explain-%d", i%30)
			}
			batch = append(batch, doc(o, fmt.Sprintf("ax%05d", i), fmt.Sprintf(`{"title":"ax%d","done":%v,"tags":["b%d","x"]}`, i, i%2 == 0, i%300), now.Add(time.Duration(i)*time.Second)))
		}
		if err := e.store.Insert(ctx, "todos", batch); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := e.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	or := docquery.Or{}
	for i := range 190 {
		or = append(or, eqc("tags", fmt.Sprintf("a%d", i)))
	}
	in := inc("tags", docquery.In)
	for i := range 190 {
		in.Values = append(in.Values, fmt.Sprintf("a%d", i))
	}
	page := func(f docquery.Expr) docquery.Query {
		return docquery.Query{Filter: f, Sort: []docquery.SortKey{{Field: "_updated", Desc: true}}, Limit: 25}
	}
	tests := []struct {
		name  string
		q     docquery.Query
		count bool
	}{
		{"or of 190", page(or), false},
		{"count or of 190", page(or), true},
		{"in of 190", page(in), false},
		{"one value", page(eqc("tags", "b7")), false},
		{"with a scalar condition", docquery.Query{Filter: docquery.And{eqc("done", false), eqc("tags", "b7")}, Sort: []docquery.SortKey{{Field: "due"}}, Limit: 25}, false},
		{"count with a scalar condition", docquery.Query{Filter: docquery.And{eqc("done", false), eqc("tags", "b7")}}, true},
	}
	for _, analyzed := range []bool{false, true} {
		if analyzed {
			stmts := map[string][]string{
				"sqlite":   {"ANALYZE"},
				"postgres": {"ANALYZE doc_todos", "ANALYZE docelem_todos"},
				"mysql":    {"ANALYZE TABLE doc_todos, docelem_todos"},
			}[e.dialect]
			for _, stmt := range stmts {
				if _, err := conn.ExecContext(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
		}
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/analyzed=%v", tc.name, analyzed), func(t *testing.T) {
				var (
					q    string
					args []any
					err  error
				)
				if tc.count {
					q, args, err = docstore.BuildCount(e.dialect, todos, owner, tc.q.Filter)
				} else {
					q, args, err = docstore.BuildFind(e.dialect, todos, owner, tc.q)
				}
				if err != nil {
					t.Fatal(err)
				}
				prefix := "EXPLAIN "
				if e.dialect == "sqlite" {
					prefix = "EXPLAIN QUERY PLAN "
				}
				plan := explain(t, conn, prefix+q, args)
				if problem := arrayPlanProblem(e.dialect, plan); problem != "" {
					t.Errorf("%s:\n%s\n%s", problem, q, plan)
				}
				t.Logf("%s\n%s", q, plan)
			})
		}
	}
}

// arrayPlanProblem says what is wrong with the plan of a query driven by a
// condition on tags, if anything.
func arrayPlanProblem(dialect, plan string) string {
	if !strings.Contains(plan, "docelem_todos_value") {
		return "the side table's index is not used"
	}
	switch dialect {
	case "sqlite":
		// SEARCH doc_todos USING INDEX sqlite_autoindex_doc_todos_1 (id=?)
		for _, line := range strings.Split(plan, "\n") {
			if strings.Contains(line, " doc_todos ") && !strings.Contains(line, "sqlite_autoindex_doc_todos_1 (id=?)") {
				return "doc_todos is not read by id"
			}
		}
	case "postgres":
		if !strings.Contains(plan, "Index Scan using doc_todos_pkey") {
			return "doc_todos is not read by primary key"
		}
		if strings.Contains(plan, "Seq Scan on doc_todos") || strings.Contains(plan, "on doc_todos_m_") ||
			strings.Contains(plan, "on doc_todos_c_") || strings.Contains(plan, "on doc_todos_f_") || strings.Contains(plan, "on doc_todos_u_") {
			return "doc_todos is walked"
		}
	case "mysql":
		for _, line := range strings.Split(plan, "\n") {
			if strings.Contains(line, "table=doc_todos ") && !strings.Contains(line, "type=eq_ref") {
				return "doc_todos is not read by primary key"
			}
		}
	}
	return ""
}

// TestEnsureFillsArrays: Ensure fills the side table from the documents
// already stored when a collection gains array fields (or a database has
// documents from before the side table), once, with several instances
// starting at once; and drops the rows of fields no longer declared, so
// that declaring one again fills it afresh.
func TestEnsureFillsArrays(t *testing.T) {
	v1 := things
	v1.Fields = v1.Fields[:1] // title only
	tagsOnly := things
	tagsOnly.Fields = things.Fields[:2]
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ss, err := sqlstore.Open(ctx, b.DSN(t), sqlstore.Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			defer ss.Close()
			e := env{db: ss.DB(), dialect: ss.Dialect()}
			store := func(c docstore.Collection) *docstore.Store {
				t.Helper()
				s, err := docstore.New(ss.DB(), ss.ReadDB(), ss.Dialect())
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Ensure(ctx, c); err != nil {
					t.Fatalf("Ensure: %v", err)
				}
				return s
			}
			exec := func(stmt string) {
				t.Helper()
				if _, err := e.db.ExecContext(ctx, stmt); err != nil {
					t.Fatal(err)
				}
			}
			total := func() int {
				t.Helper()
				var n int
				if err := e.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM docelem_things").Scan(&n); err != nil {
					t.Fatal(err)
				}
				return n
			}
			// More documents than the fill reads at a time.
			const n = 1100
			old := store(v1)
			var batch []docstore.Document
			now := time.Now().UTC()
			for i := range n {
				batch = append(batch, doc("fill", fmt.Sprintf("f%04d", i), fmt.Sprintf(`{"title":"f%d","tags":["k%d","all"],"labels":["l%d"]}`, i, i%10, i%2), now))
			}
			if err := old.Insert(ctx, things.Name, batch); err != nil {
				t.Fatal(err)
			}
			check := func(s *docstore.Store, label string, want int) {
				t.Helper()
				for _, tc := range []struct {
					f    docquery.Expr
					want int
				}{
					{eqc("tags", "all"), n}, {eqc("tags", "k3"), n / 10}, {eqc(label, "l1"), want},
					{docquery.Or{eqc("tags", "k1"), eqc("tags", "k2")}, n / 5},
				} {
					got, err := s.Count(ctx, things.Name, "fill", tc.f)
					if err != nil || got != tc.want {
						t.Errorf("Count(%v) = %d, %v; want %d", tc.f, got, err, tc.want)
					}
				}
			}

			// The collection gains tags; several instances start at once.
			var wg sync.WaitGroup
			stores := make([]*docstore.Store, 4)
			for i := range stores {
				wg.Go(func() { stores[i] = store(tagsOnly) })
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			check(stores[0], "tags", 0)
			if got := total(); got != 2*n {
				t.Errorf("%d rows after filling tags, want %d", got, 2*n)
			}
			// Then labels.
			s := store(things)
			check(s, "labels", n/2)
			if got := total(); got != 3*n {
				t.Errorf("%d rows after filling labels, want %d", got, 3*n)
			}

			// A database with documents from before the side table.
			exec("DROP TABLE docelem_things")
			exec("DELETE FROM docstore_arrays WHERE collection = 'things'")
			s = store(things)
			check(s, "labels", n/2)

			// An instance that does not declare tags drops their rows and
			// does not keep them; declaring tags again fills them afresh.
			s = store(v1)
			if got := total(); got != 0 {
				t.Errorf("%d rows left of fields no longer declared", got)
			}
			d, err := s.Get(ctx, things.Name, "fill", "f0003")
			if err != nil {
				t.Fatal(err)
			}
			d.Data = json.RawMessage(`{"title":"f3","tags":["new"]}`)
			if err := s.Replace(ctx, things.Name, d, d.ETag); err != nil {
				t.Fatal(err)
			}
			s = store(things)
			for v, want := range map[string]int{"new": 1, "k3": n/10 - 1, "all": n - 1} {
				if got, err := s.Count(ctx, things.Name, "fill", eqc("tags", v)); err != nil || got != want {
					t.Errorf("after filling again, Count(tags=%s) = %d, %v; want %d", v, got, err, want)
				}
			}
		})
	}
}
