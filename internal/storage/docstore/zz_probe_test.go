package docstore_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

func TestZZProbe(t *testing.T) {
	dsn := os.Getenv("PROBE_DSN")
	if dsn == "" {
		t.Skip()
	}
	ctx := context.Background()
	ss, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	db := ss.ReadDB()
	c := docstore.Collection{Name: "todos", Fields: []docquery.Field{{Name: "title", Type: docquery.String, Indexed: true}, {Name: "done", Type: docquery.Boolean, Indexed: true}, {Name: "due", Type: docquery.DateTime, Indexed: true}, {Name: "tags", Type: docquery.Array}},
		Indexes: []docstore.Index{{Name: "done_due", Keys: []docstore.IndexKey{{Field: "done"}, {Field: "due"}}}}}
	f := &docquery.Cond{Field: "done", Op: docquery.Eq, Value: false}
	for _, off := range []int{0, 475} {
		q, args, _ := docstore.BuildFind(ss.Dialect(), c, "load-cc", docquery.Query{Filter: f, Sort: []docquery.SortKey{{Field: "due"}}, Limit: 25, Offset: off})
		plan(t, db, q, args)
		timeit(t, "find", 50, func() {
			rows, err := db.QueryContext(ctx, q, args...)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
			}
			rows.Close()
		})
	}
	q, args, _ := docstore.BuildCount(ss.Dialect(), c, "load-cc", f)
	plan(t, db, q, args)
	timeit(t, "count", 50, func() {
		var n int
		if err := db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
	})
}

func plan(t *testing.T, db *sql.DB, q string, args []any) {
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var a, b, c2 any
		var d string
		rows.Scan(&a, &b, &c2, &d)
		t.Log(q, "\n   ", d)
	}
}

func timeit(t *testing.T, name string, n int, f func()) {
	var ds []time.Duration
	for range n {
		s := time.Now()
		f()
		ds = append(ds, time.Since(s))
	}
	min := ds[0]
	var sum time.Duration
	for _, d := range ds {
		sum += d
		if d < min {
			min = d
		}
	}
	t.Logf("%s: min %v mean %v", name, min, sum/time.Duration(n))
}

func TestZZBytecode(t *testing.T) {
	dsn := os.Getenv("PROBE_DSN")
	if dsn == "" {
		t.Skip()
	}
	ss, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ss.Close()
	rows, err := ss.ReadDB().Query("EXPLAIN SELECT COUNT(*) FROM doc_todos WHERE owner = ? AND (json_extract(data, '$.done') = ?)", "load-cc", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	for rows.Next() {
		v := make([]any, len(cols))
		p := make([]any, len(cols))
		for i := range v {
			p[i] = &v[i]
		}
		rows.Scan(p...)
		t.Log(v...)
	}
}
