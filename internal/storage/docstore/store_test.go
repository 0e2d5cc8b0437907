package docstore_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
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

var todos = docstore.Collection{
	Name: "todos",
	Fields: []docquery.Field{
		{Name: "title", Type: docquery.String, Indexed: true},
		{Name: "done", Type: docquery.Boolean, Indexed: true},
		{Name: "due", Type: docquery.DateTime, Indexed: true},
		{Name: "prio", Type: docquery.Number, Indexed: true},
		{Name: "tags", Type: docquery.Array},
	},
	Unique: []string{"title"},
	Indexes: []docstore.Index{
		{Name: "done_due", Keys: []docstore.IndexKey{{Field: "done"}, {Field: "due"}}},
		{Name: "prio_updated", Keys: []docstore.IndexKey{{Field: "prio"}, {Field: "_updated", Desc: true}}},
	},
}

type env struct {
	store   *docstore.Store
	db      *sql.DB
	dialect string
}

// open opens a docstore on a new database of b; with runner, its writes go
// through sqlstore's WriteTx (group commit on SQLite), as gatehouse serve
// wires it.
func open(t *testing.T, b storagetest.Backend, runner bool) env {
	t.Helper()
	ctx := context.Background()
	s, ss := openStores(t, b, runner)
	if err := s.Ensure(ctx, todos); err != nil {
		t.Fatalf("Ensure: %v", err)
	}
	// A second Ensure is a no-op.
	if err := s.Ensure(ctx, todos); err != nil {
		t.Fatalf("Ensure again: %v", err)
	}
	return env{store: s, db: ss.DB(), dialect: ss.Dialect()}
}

// openStores opens a docstore without collections on a new database of b,
// and the sqlstore under it.
func openStores(t *testing.T, b storagetest.Backend, runner bool) (*docstore.Store, *sqlstore.Store) {
	t.Helper()
	ss, err := sqlstore.Open(context.Background(), b.DSN(t), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatalf("sqlstore.Open: %v", err)
	}
	t.Cleanup(func() { ss.Close() })
	var opts []docstore.Option
	if runner {
		opts = append(opts, docstore.WithTxRunner(ss))
	}
	s, err := docstore.New(ss.DB(), ss.ReadDB(), ss.Dialect(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, ss
}

func doc(owner, id string, data string, at time.Time) docstore.Document {
	return docstore.Document{ID: id, Owner: owner, Created: at, Updated: at, ETag: "e-" + id, Data: json.RawMessage(data)}
}

func ids(docs []docstore.Document) []string {
	out := []string{}
	for _, d := range docs {
		out = append(out, d.ID)
	}
	return out
}

func TestBackends(t *testing.T) {
	for _, b := range storagetest.Backends() {
		for _, runner := range []bool{false, true} {
			name := b.Name
			if runner {
				name += "/tx-runner"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				e := open(t, b, runner)
				t.Run("CRUD", func(t *testing.T) { testCRUD(t, e) })
				t.Run("Query", func(t *testing.T) { testQuery(t, e) })
				t.Run("Explain", func(t *testing.T) { testExplain(t, e) })
				t.Run("Arrays", func(t *testing.T) { testArrays(t, e) })
				t.Run("ArrayWrites", func(t *testing.T) { testArrayWrites(t, e) })
			})
		}
	}
}

func testCRUD(t *testing.T, e env) {
	ctx := context.Background()
	s := e.store
	now := time.Now().UTC().Truncate(time.Microsecond)
	a := doc("crud-a", "c1", `{"title":"one","done":false}`, now)
	if err := s.Insert(ctx, "todos", []docstore.Document{a}); err != nil {
		t.Fatalf("Insert: %v", err)
	}
	got, err := s.Get(ctx, "todos", "crud-a", "c1")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !got.Created.Equal(now) || got.ETag != "e-c1" {
		t.Errorf("Get = %+v", got)
	}
	if _, err := s.Get(ctx, "todos", "crud-b", "c1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("other owner's Get: %v, want ErrNotFound", err)
	}
	// All or nothing: the second document's unique title is taken.
	err = s.Insert(ctx, "todos", []docstore.Document{
		doc("crud-a", "c2", `{"title":"two"}`, now), doc("crud-a", "c3", `{"title":"one"}`, now),
	})
	if !errors.Is(err, storage.ErrAlreadyExists) {
		t.Fatalf("duplicate Insert: %v, want ErrAlreadyExists", err)
	}
	if _, err := s.Get(ctx, "todos", "crud-a", "c2"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("partial insert kept c2: %v", err)
	}
	// The same title for another owner is fine.
	if err := s.Insert(ctx, "todos", []docstore.Document{doc("crud-b", "c4", `{"title":"one"}`, now)}); err != nil {
		t.Fatalf("Insert for another owner: %v", err)
	}

	upd := got
	upd.Updated = now.Add(time.Second)
	upd.ETag = "e-c1-2"
	upd.Data = json.RawMessage(`{"title":"one","done":true}`)
	if err := s.Replace(ctx, "todos", upd, "stale"); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Errorf("Replace with stale etag: %v", err)
	}
	other := upd
	other.Owner = "crud-b"
	if err := s.Replace(ctx, "todos", other, "e-c1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Replace of another owner's: %v", err)
	}
	if err := s.Replace(ctx, "todos", upd, "e-c1"); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	got, _ = s.Get(ctx, "todos", "crud-a", "c1")
	if got.ETag != "e-c1-2" || !got.Updated.Equal(upd.Updated) || !got.Created.Equal(now) || !strings.Contains(string(got.Data), "true") {
		t.Errorf("after Replace: %+v", got)
	}
	if err := s.Delete(ctx, "todos", "crud-b", "c1", "e-c1-2"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Delete of another owner's: %v", err)
	}
	if err := s.Delete(ctx, "todos", "crud-a", "c1", "e-c1"); !errors.Is(err, storage.ErrPreconditionFailed) {
		t.Errorf("Delete stale: %v", err)
	}
	if err := s.Delete(ctx, "todos", "crud-a", "c1", "e-c1-2"); err != nil {
		t.Errorf("Delete: %v", err)
	}
	if err := s.Delete(ctx, "todos", "crud-a", "c1", "e-c1-2"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Delete again: %v", err)
	}
}

func testQuery(t *testing.T, e env) {
	ctx := context.Background()
	s := e.store
	base := time.Date(2024, 4, 2, 9, 0, 0, 0, time.UTC)
	docs := []docstore.Document{
		doc("q", "q1", `{"title":"alpha","done":false,"prio":1,"tags":["work","home"],"due":"2024-05-01T00:00:00.000Z"}`, base),
		doc("q", "q2", `{"title":"beta","done":true,"prio":2.5,"tags":["home"]}`, base.Add(time.Minute)),
		doc("q", "q3", `{"title":"Gamma","done":false,"prio":3,"due":null}`, base.Add(2*time.Minute)),
		doc("q", "q4", `{"title":"delta","done":true,"tags":[]}`, base.Add(3*time.Minute)),
		doc("other", "q5", `{"title":"alpha","done":false,"prio":1}`, base),
	}
	if err := s.Insert(ctx, "todos", docs); err != nil {
		t.Fatal(err)
	}
	c := func(f string, op docquery.Op, v any) *docquery.Cond {
		return &docquery.Cond{Field: f, Op: op, Value: v}
	}
	cs := func(f string, op docquery.Op, vs ...any) *docquery.Cond {
		return &docquery.Cond{Field: f, Op: op, Values: vs}
	}
	tests := []struct {
		name   string
		filter docquery.Expr
		want   []string
	}{
		{"all", nil, []string{"q1", "q2", "q3", "q4"}},
		{"eq bool", c("done", docquery.Eq, false), []string{"q1", "q3"}},
		{"ne bool", c("done", docquery.Ne, false), []string{"q2", "q4"}},
		{"eq string", c("title", docquery.Eq, "beta"), []string{"q2"}},
		{"string order is bytewise", c("title", docquery.Lt, "a"), []string{"q3"}},
		{"gt number", c("prio", docquery.Gt, 1.0), []string{"q2", "q3"}},
		{"gte number", c("prio", docquery.Gte, 2.5), []string{"q2", "q3"}},
		{"lt number", c("prio", docquery.Lt, 2.5), []string{"q1"}},
		{"lte number", c("prio", docquery.Lte, 2.5), []string{"q1", "q2"}},
		{"ne number matches missing", c("prio", docquery.Ne, 1.0), []string{"q2", "q3", "q4"}},
		{"eq null", c("prio", docquery.Eq, nil), []string{"q4"}},
		{"eq null is missing or null", c("due", docquery.Eq, nil), []string{"q2", "q3", "q4"}},
		{"ne null", c("due", docquery.Ne, nil), []string{"q1"}},
		{"in", cs("title", docquery.In, "alpha", "delta", "zeta"), []string{"q1", "q4"}},
		{"in with null", cs("prio", docquery.In, 3.0, nil), []string{"q3", "q4"}},
		{"in empty", cs("title", docquery.In), []string{}},
		{"nin", cs("prio", docquery.Nin, 1.0, 3.0), []string{"q2", "q4"}},
		{"nin with null", cs("prio", docquery.Nin, 1.0, nil), []string{"q2", "q3"}},
		{"exists", c("due", docquery.Exists, true), []string{"q1", "q3"}},
		{"not exists", c("due", docquery.Exists, false), []string{"q2", "q4"}},
		{"date-time gte", c("due", docquery.Gte, "2024-04-01T00:00:00.000Z"), []string{"q1"}},
		{"array contains", c("tags", docquery.Eq, "home"), []string{"q1", "q2"}},
		{"array not contains", c("tags", docquery.Ne, "work"), []string{"q2", "q3", "q4"}},
		{"array in", cs("tags", docquery.In, "work", "nope"), []string{"q1"}},
		{"array nin", cs("tags", docquery.Nin, "home"), []string{"q3", "q4"}},
		{"array exists", c("tags", docquery.Exists, true), []string{"q1", "q2", "q4"}},
		{"id", c("_id", docquery.Eq, "q2"), []string{"q2"}},
		{"id in", cs("_id", docquery.In, "q2", "q5"), []string{"q2"}},
		{"updated gt", c("_updated", docquery.Gt, base.Add(time.Minute)), []string{"q3", "q4"}},
		{"created lte", c("_created", docquery.Lte, base), []string{"q1"}},
		{"and", docquery.And{c("done", docquery.Eq, false), c("prio", docquery.Gt, 1.0)}, []string{"q3"}},
		{"or", docquery.Or{c("title", docquery.Eq, "alpha"), c("prio", docquery.Gte, 3.0)}, []string{"q1", "q3"}},
		{"empty or", docquery.Or{}, []string{}},
		{"empty and", docquery.And{}, []string{"q1", "q2", "q3", "q4"}},
		{"injection is a value", c("title", docquery.Eq, "x' OR '1'='1"), []string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Find(ctx, "todos", "q", docquery.Query{Filter: tc.filter, Sort: []docquery.SortKey{{Field: "_id"}}})
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("Find = %v, want %v", ids(got), tc.want)
			}
			n, err := s.Count(ctx, "todos", "q", tc.filter)
			if err != nil || n != len(tc.want) {
				t.Errorf("Count = %d, %v; want %d", n, err, len(tc.want))
			}
		})
	}
	sorts := []struct {
		name string
		sort []docquery.SortKey
		want []string
	}{
		{"updated desc", []docquery.SortKey{{Field: "_updated", Desc: true}}, []string{"q4", "q3", "q2", "q1"}},
		{"title", []docquery.SortKey{{Field: "title"}}, []string{"q3", "q1", "q2", "q4"}},
		{"missing first", []docquery.SortKey{{Field: "prio"}}, []string{"q4", "q1", "q2", "q3"}},
		{"missing last desc", []docquery.SortKey{{Field: "prio", Desc: true}}, []string{"q3", "q2", "q1", "q4"}},
		{"done then title desc", []docquery.SortKey{{Field: "done"}, {Field: "title", Desc: true}}, []string{"q1", "q3", "q4", "q2"}},
	}
	for _, tc := range sorts {
		t.Run("sort "+tc.name, func(t *testing.T) {
			got, err := s.Find(ctx, "todos", "q", docquery.Query{Sort: tc.sort})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("Find = %v, want %v", ids(got), tc.want)
			}
		})
	}
	// The queries the compound indexes serve: equality on the first key,
	// sort on the second; missing and null values first in ascending order.
	filtered := []struct {
		name   string
		filter docquery.Expr
		sort   []docquery.SortKey
		want   []string
	}{
		{"not done by due", c("done", docquery.Eq, false), []docquery.SortKey{{Field: "due"}}, []string{"q3", "q1"}},
		{"not done by due desc", c("done", docquery.Eq, false), []docquery.SortKey{{Field: "due", Desc: true}}, []string{"q1", "q3"}},
		{"done by due", c("done", docquery.Eq, true), []docquery.SortKey{{Field: "due"}}, []string{"q2", "q4"}},
		{"not done by done, due desc", docquery.And{c("done", docquery.Eq, false)}, []docquery.SortKey{{Field: "done"}, {Field: "due", Desc: true}}, []string{"q1", "q3"}},
		{"by done, due: no equality", c("done", docquery.Ne, nil), []docquery.SortKey{{Field: "done", Desc: true}, {Field: "due"}}, []string{"q2", "q4", "q3", "q1"}},
		{"prio 1 by updated desc", c("prio", docquery.Eq, 1.0), []docquery.SortKey{{Field: "_updated", Desc: true}}, []string{"q1"}},
	}
	for _, tc := range filtered {
		t.Run("filter and sort "+tc.name, func(t *testing.T) {
			got, err := s.Find(ctx, "todos", "q", docquery.Query{Filter: tc.filter, Sort: tc.sort})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tc.want) {
				t.Errorf("Find = %v, want %v", ids(got), tc.want)
			}
		})
	}
	t.Run("paging", func(t *testing.T) {
		got, err := s.Find(ctx, "todos", "q", docquery.Query{Sort: []docquery.SortKey{{Field: "_id"}}, Limit: 2, Offset: 1})
		if err != nil || !slices.Equal(ids(got), []string{"q2", "q3"}) {
			t.Errorf("page = %v, %v", ids(got), err)
		}
	})
	t.Run("more query shapes than are kept prepared", func(t *testing.T) {
		// Each number of $in values is another query text: past the bound
		// of prepared shapes, queries run unprepared, with the same answers.
		for n := 1; n <= 80; n++ {
			in := make([]any, n)
			for i := range in {
				in[i] = float64(i)
			}
			got, err := s.Find(ctx, "todos", "q", docquery.Query{Filter: c("prio", docquery.In, in), Sort: []docquery.SortKey{{Field: "_id"}}})
			if err != nil {
				t.Fatalf("shape %d: %v", n, err)
			}
			want, err := s.Count(ctx, "todos", "q", c("prio", docquery.In, in))
			if err != nil || want != len(got) {
				t.Fatalf("shape %d: %d found, count %d, %v", n, len(got), want, err)
			}
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, q := range []docquery.Query{
			{Filter: c("nope", docquery.Eq, 1.0)},
			{Filter: c("done", docquery.Eq, "yes")},
			{Filter: c("prio", docquery.Gt, nil)},
			{Filter: c("tags", docquery.Gt, "a")},
			{Sort: []docquery.SortKey{{Field: "tags"}}},
			{Sort: []docquery.SortKey{{Field: "x; DROP TABLE doc_todos"}}},
		} {
			if _, err := s.Find(ctx, "todos", "q", q); err == nil {
				t.Errorf("Find(%+v) succeeded", q)
			}
		}
	})
}

// testExplain shows, with the database's EXPLAIN, that filters and sorts
// use the indexes Ensure created, that the API list query — equality on
// done, sorted by due, one page — walks the compound index (owner, done,
// due, id) in order, with no sort step, and that its count reads an index
// on (owner, done…).
func testExplain(t *testing.T, e env) {
	ctx := context.Background()
	var batch []docstore.Document
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 400 {
		due := docquery.NormalizeTime(base.Add(time.Duration(i%37) * 24 * time.Hour))
		batch = append(batch, doc(fmt.Sprintf("explain-%d", i%20), fmt.Sprintf("x%03d", i),
			fmt.Sprintf(`{"title":"t%d","done":%v,"due":%q,"prio":%d}`, i, i%10 == 0, due, i%3), base.Add(time.Duration(i)*time.Second)))
	}
	if err := e.store.Insert(ctx, "todos", batch); err != nil {
		t.Fatal(err)
	}
	conn := planConn(t, e.db, e.dialect)
	eq := func(f string, v any) *docquery.Cond { return &docquery.Cond{Field: f, Op: docquery.Eq, Value: v} }
	asc := func(f string) []docquery.SortKey { return []docquery.SortKey{{Field: f}} }
	desc := func(f string) []docquery.SortKey { return []docquery.SortKey{{Field: f, Desc: true}} }
	tests := []struct {
		name  string
		q     docquery.Query
		count bool     // EXPLAIN the count of q.Filter instead
		index []string // the plan uses one of these
		// ordered: the rows come out of the index in order (no sort step),
		// so a page reads only its rows.
		ordered bool
	}{
		{"filter done", docquery.Query{Filter: eq("done", true)}, false, []string{"doc_todos_f_done", "doc_todos_c_done_due"}, false},
		{"sort _updated", docquery.Query{Sort: desc("_updated"), Limit: 5}, false, []string{"doc_todos_m_updated"}, true},
		{"filter _updated", docquery.Query{Filter: &docquery.Cond{Field: "_updated", Op: docquery.Gt, Value: base.Add(390 * time.Second)}, Sort: asc("_updated")}, false, []string{"doc_todos_m_updated"}, true},
		{"list done by due", docquery.Query{Filter: eq("done", false), Sort: asc("due"), Limit: 25, Offset: 50}, false, []string{"doc_todos_c_done_due"}, true},
		{"list done by due desc", docquery.Query{Filter: eq("done", false), Sort: desc("due"), Limit: 25}, false, []string{"doc_todos_c_done_due"}, true},
		{"list done by done, due", docquery.Query{Filter: eq("done", true), Sort: []docquery.SortKey{{Field: "done"}, {Field: "due"}}, Limit: 25}, false, []string{"doc_todos_c_done_due"}, true},
		{"count done", docquery.Query{Filter: eq("done", false)}, true, []string{"doc_todos_f_done", "doc_todos_c_done_due"}, false},
		{"list prio by _updated desc", docquery.Query{Filter: eq("prio", 1.0), Sort: desc("_updated"), Limit: 25}, false, []string{"doc_todos_c_prio_updated"}, true},
		{"list prio by _updated", docquery.Query{Filter: eq("prio", 1.0), Sort: asc("_updated"), Limit: 25}, false, []string{"doc_todos_c_prio_updated"}, true},
		{"count prio", docquery.Query{Filter: eq("prio", 2.0)}, true, []string{"doc_todos_f_prio", "doc_todos_c_prio_updated"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var (
				q    string
				args []any
				err  error
			)
			if tc.count {
				q, args, err = docstore.BuildCount(e.dialect, todos, "explain-3", tc.q.Filter)
			} else {
				q, args, err = docstore.BuildFind(e.dialect, todos, "explain-3", tc.q)
			}
			if err != nil {
				t.Fatal(err)
			}
			checkPlan(t, conn, e.dialect, q, args, tc.index, tc.ordered)
		})
	}
}

// planConn returns a connection of db on which EXPLAIN shows the indexes
// the doc_todos queries can use: the table is small, so on PostgreSQL it is
// analyzed and the planner kept from a sequential scan, a bitmap or a sort
// step wherever an index can serve; on MySQL it is analyzed.
func planConn(t *testing.T, db *sql.DB, dialect string) *sql.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	stmts := map[string][]string{
		"postgres": {"ANALYZE doc_todos", "SET enable_seqscan = off", "SET enable_bitmapscan = off", "SET enable_sort = off"},
		"mysql":    {"ANALYZE TABLE doc_todos"},
	}[dialect]
	for _, stmt := range stmts {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	return conn
}

// checkPlan EXPLAINs q and checks that the plan uses one of the indexes
// and, if ordered, that the rows come out of it in order (no sort step),
// so that a page reads only its rows.
func checkPlan(t *testing.T, conn *sql.Conn, dialect, q string, args []any, index []string, ordered bool) {
	t.Helper()
	prefix := "EXPLAIN "
	if dialect == "sqlite" {
		prefix = "EXPLAIN QUERY PLAN "
	}
	plan := explain(t, conn, prefix+q, args)
	if !slices.ContainsFunc(index, func(ix string) bool { return strings.Contains(plan, ix) }) {
		t.Errorf("plan for %s uses none of %v:\n%s", q, index, plan)
	}
	if ordered {
		// SQLite: "USE TEMP B-TREE FOR ORDER BY"; PostgreSQL: a Sort or
		// Incremental Sort node; MySQL: "Using filesort".
		for _, sortStep := range []string{"TEMP B-TREE", "Sort", "filesort"} {
			if strings.Contains(plan, sortStep) {
				t.Errorf("plan for %s sorts (%s):\n%s", q, sortStep, plan)
			}
		}
	}
	t.Logf("%s\n%s", q, plan)
}

func explain(t *testing.T, conn *sql.Conn, q string, args []any) string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var sb strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			fmt.Fprintf(&sb, "%s=%v ", cols[i], v)
		}
		sb.WriteByte('\n')
	}
	return sb.String()
}

// TestConcurrentEnsure starts several "instances" on one database at once.
func TestConcurrentEnsure(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ss, err := sqlstore.Open(ctx, b.DSN(t), sqlstore.Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			defer ss.Close()
			var wg sync.WaitGroup
			errs := make(chan error, 4)
			for range 4 {
				wg.Go(func() {
					s, err := docstore.New(ss.DB(), ss.ReadDB(), ss.Dialect())
					if err == nil {
						err = s.Ensure(ctx, todos)
					}
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
}
