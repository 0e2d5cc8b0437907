package stmtcache_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	_ "modernc.org/sqlite" // a real pool to prepare on

	"github.com/gatehouse-dev/gatehouse/internal/storage/stmtcache"
)

func open(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO t (id, v) VALUES (1, 'one'), (2, 'two')"); err != nil {
		t.Fatal(err)
	}
	return db
}

func TestStmt(t *testing.T) {
	ctx := context.Background()
	const q1, q2, q3 = "SELECT v FROM t WHERE id = ?", "SELECT count(*) FROM t", "SELECT v FROM t WHERE id = ? + 0"
	tests := []struct {
		name    string
		size    int
		prepare []string // asked for first
		ask     string
		want    string // "same": the statement prepared first; "new"; "none"
	}{
		{"prepared once, then reused", 4, []string{q1}, q1, "same"},
		{"another query gets its own", 4, []string{q1}, q2, "new"},
		{"full: runs unprepared", 2, []string{q1, q2}, q3, "none"},
		{"full: the cached ones still served", 2, []string{q1, q2}, q1, "same"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := stmtcache.New(open(t), tt.size)
			defer c.Close()
			first := map[string]*sql.Stmt{}
			for _, q := range tt.prepare {
				st, err := c.Stmt(ctx, q)
				if err != nil || st == nil {
					t.Fatalf("Stmt(%q) = %v, %v", q, st, err)
				}
				first[q] = st
			}
			st, err := c.Stmt(ctx, tt.ask)
			if err != nil {
				t.Fatal(err)
			}
			switch tt.want {
			case "same":
				if st != first[tt.ask] {
					t.Error("prepared again")
				}
			case "new":
				if st == nil || st == first[tt.prepare[0]] {
					t.Errorf("Stmt = %p", st)
				}
			case "none":
				if st != nil {
					t.Error("a full cache grew")
				}
			}
			if st != nil {
				var v string
				if err := st.QueryRowContext(ctx, 1).Scan(&v); err != nil && tt.ask != q2 {
					t.Errorf("using the statement: %v", err)
				}
			}
		})
	}
}

func TestStmtErrorsAndClose(t *testing.T) {
	ctx := context.Background()
	c := stmtcache.New(open(t), 0)
	if st, err := c.Stmt(ctx, "SELECT nope FROM nowhere"); err == nil || st != nil {
		t.Errorf("bad query: %v, %v", st, err)
	}
	st, err := c.Stmt(ctx, "SELECT v FROM t WHERE id = ?")
	if err != nil || st == nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := c.Stmt(ctx, "SELECT v FROM t WHERE id = ?"); st != nil || err != nil {
		t.Errorf("after Close: %v, %v", st, err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStmtConcurrent(t *testing.T) {
	ctx := context.Background()
	c := stmtcache.New(open(t), 0)
	defer c.Close()
	var wg sync.WaitGroup
	got := make([]*sql.Stmt, 16)
	for i := range got {
		wg.Go(func() {
			st, err := c.Stmt(ctx, "SELECT v FROM t WHERE id = ?")
			if err != nil {
				t.Error(err)
				return
			}
			var v string
			if err := st.QueryRowContext(ctx, 2).Scan(&v); err != nil || v != "two" {
				t.Error(fmt.Sprint(v, err))
			}
			got[i] = st
		})
	}
	wg.Wait()
	for _, st := range got {
		if st != got[0] {
			t.Fatal("one query, several statements kept")
		}
	}
}
