package groupcommit_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the embedded database the Writer exists for

	"github.com/gatehouse-dev/gatehouse/internal/storage/groupcommit"
)

// open returns a one-connection SQLite pool with a table t(id TEXT PRIMARY
// KEY), as sqlstore opens its writer.
func open(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "g.db")+"?_journal_mode=WAL&_txlock=immediate&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE TABLE t (id TEXT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	return db
}

func insert(id string) groupcommit.Func {
	return func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO t (id) VALUES (?)", id)
		return err
	}
}

func ids(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.Query("SELECT id FROM t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return strings.Join(out, ",")
}

// hold makes the writer busy with a write that waits for release, so that
// the writes handed over meanwhile queue up and share the next transaction.
func hold(t *testing.T, w *groupcommit.Writer) (release func()) {
	t.Helper()
	started, gate := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- w.Do(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
			close(started)
			<-gate
			_, err := tx.ExecContext(ctx, "INSERT INTO t (id) VALUES ('hold')")
			return err
		})
	}()
	<-started
	return func() {
		close(gate)
		if err := <-done; err != nil {
			t.Errorf("holding write: %v", err)
		}
	}
}

// queue hands fns to w, each from its own goroutine, in order, and returns
// their outcomes once all are known.
func queue(w *groupcommit.Writer, ctxs []context.Context, fns ...groupcommit.Func) func() []error {
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		ctx := context.Background()
		if ctxs != nil && ctxs[i] != nil {
			ctx = ctxs[i]
		}
		wg.Go(func() { errs[i] = w.Do(ctx, fn) })
		time.Sleep(20 * time.Millisecond) // keep the queue in order
	}
	return func() []error { wg.Wait(); return errs }
}

func TestDo_SharedTransaction(t *testing.T) {
	failed := errors.New("refused")
	tests := []struct {
		name      string
		fns       []groupcommit.Func
		wantIDs   string
		wantErrs  []string // "" for nil; else a substring
		maxCommit int64    // transactions after the holding one's
	}{
		{
			name:     "all commit together",
			fns:      []groupcommit.Func{insert("a"), insert("b"), insert("c")},
			wantIDs:  "a,b,c,hold",
			wantErrs: []string{"", "", ""}, maxCommit: 1,
		},
		{
			name: "a failing write is rolled back alone",
			fns: []groupcommit.Func{insert("a"), func(ctx context.Context, tx *sql.Tx) error {
				if err := insert("b")(ctx, tx); err != nil {
					return err
				}
				return failed // after writing b: b must not stay
			}, insert("c")},
			wantIDs:  "a,c,hold",
			wantErrs: []string{"", "refused", ""}, maxCommit: 1,
		},
		{
			name:     "a constraint violation fails its write only",
			fns:      []groupcommit.Func{insert("a"), insert("a"), insert("c")},
			wantIDs:  "a,c,hold",
			wantErrs: []string{"", "UNIQUE", ""}, maxCommit: 1,
		},
		{
			name: "a write sees the writes before it",
			fns: []groupcommit.Func{insert("a"), func(ctx context.Context, tx *sql.Tx) error {
				var n int
				if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM t WHERE id = 'a'").Scan(&n); err != nil {
					return err
				}
				return insert(fmt.Sprint("saw", n))(ctx, tx)
			}},
			wantIDs:  "a,hold,saw1",
			wantErrs: []string{"", ""}, maxCommit: 1,
		},
		{
			name: "a panicking write is an error, the others commit",
			fns: []groupcommit.Func{insert("a"), func(ctx context.Context, tx *sql.Tx) error {
				_ = insert("b")(ctx, tx)
				panic("boom")
			}, insert("c")},
			wantIDs:  "a,c,hold",
			wantErrs: []string{"", "panicked: boom", ""}, maxCommit: 1,
		},
		{
			name: "a write that ends the transaction fails the whole batch",
			fns: []groupcommit.Func{insert("a"), func(ctx context.Context, tx *sql.Tx) error {
				_, err := tx.ExecContext(ctx, "ROLLBACK")
				return err
			}, insert("c")},
			wantIDs:  "hold", // committed before, in a transaction of its own
			wantErrs: []string{"groupcommit", "groupcommit", "groupcommit"}, maxCommit: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := open(t)
			w := groupcommit.New(db, 0)
			defer w.Close()
			release := hold(t, w)
			wait := queue(w, nil, tt.fns...)
			_, before := w.Stats()
			release()
			errs := wait()
			for i, err := range errs {
				switch want := tt.wantErrs[i]; {
				case want == "" && err != nil:
					t.Errorf("write %d: %v", i, err)
				case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
					t.Errorf("write %d: error %v, want one containing %q", i, err, want)
				}
			}
			if got := ids(t, db); got != tt.wantIDs {
				t.Errorf("rows %q, want %q", got, tt.wantIDs)
			}
			if _, after := w.Stats(); after-before > tt.maxCommit+1 { // +1: the holding write's own
				t.Errorf("%d transactions for one batch", after-before)
			}
		})
	}
}

// A caller whose context ends while its write waits gets ctx.Err(), and the
// write never runs.
func TestDo_ContextEndsWhileQueued(t *testing.T) {
	db := open(t)
	w := groupcommit.New(db, 0)
	defer w.Close()
	release := hold(t, w)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan error, 1)
	go func() { got <- w.Do(ctx, insert("late")) }()
	time.Sleep(20 * time.Millisecond)
	cancel()
	if err := <-got; !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want context.Canceled", err)
	}
	release()
	if err := w.Do(context.Background(), insert("after")); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, db); got != "after,hold" {
		t.Errorf("rows %q: the abandoned write ran", got)
	}
}

// One caller's context ending while its write runs must not roll back the
// transaction the others share.
func TestDo_CancelDuringWriteKeepsOthers(t *testing.T) {
	db := open(t)
	w := groupcommit.New(db, 0)
	defer w.Close()
	release := hold(t, w)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wait := queue(w, []context.Context{nil, ctx, nil}, insert("a"), func(fctx context.Context, tx *sql.Tx) error {
		cancel() // the caller gives up while its statement runs
		return insert("b")(fctx, tx)
	}, insert("c"))
	release()
	for i, err := range wait() {
		if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
	}
	if got := ids(t, db); got != "a,b,c,hold" {
		t.Errorf("rows %q, want a,b,c,hold", got)
	}
}

func TestClose(t *testing.T) {
	db := open(t)
	w := groupcommit.New(db, 0)
	release := hold(t, w)
	wait := queue(w, nil, insert("queued"))
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	release()
	<-closed
	if errs := wait(); errs[0] != nil {
		t.Errorf("queued write: %v", errs[0])
	}
	if err := w.Do(context.Background(), insert("late")); !errors.Is(err, groupcommit.ErrClosed) {
		t.Errorf("Do after Close = %v, want ErrClosed", err)
	}
	if got := ids(t, db); got != "hold,queued" {
		t.Errorf("rows %q", got)
	}
	w.Close() // twice is fine
}

// Many concurrent writers: every write lands once, in fewer transactions.
func TestDo_Concurrent(t *testing.T) {
	db := open(t)
	w := groupcommit.New(db, 16)
	defer w.Close()
	const n = 400
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if err := w.Do(context.Background(), insert(fmt.Sprintf("%04d", i))); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	var count int
	if err := db.QueryRow("SELECT count(*) FROM t").Scan(&count); err != nil {
		t.Fatal(err)
	}
	writes, commits := w.Stats()
	if count != n || writes != n {
		t.Errorf("%d rows, %d writes counted, want %d", count, writes, n)
	}
	if commits < n/16 || commits >= n {
		t.Errorf("%d transactions for %d writes (batches of at most 16)", commits, n)
	}
	t.Logf("%d writes in %d transactions", writes, commits)
}

// The writes of one transaction share the statements they prepare through
// Stmt; outside a Func there is none to give.
func TestStmt(t *testing.T) {
	db := open(t)
	w := groupcommit.New(db, 0)
	defer w.Close()
	const q = "INSERT INTO t (id) VALUES (?)"
	var mu sync.Mutex
	seen := map[*sql.Stmt]int{}
	viaStmt := func(id string) groupcommit.Func {
		return func(ctx context.Context, tx *sql.Tx) error {
			st, err := w.Stmt(ctx, tx, q)
			if err != nil || st == nil {
				return fmt.Errorf("Stmt = %v, %v", st, err)
			}
			mu.Lock()
			seen[st]++
			mu.Unlock()
			_, err = st.ExecContext(ctx, id)
			return err
		}
	}
	release := hold(t, w)
	wait := queue(w, nil, viaStmt("a"), viaStmt("b"), viaStmt("c"))
	release()
	for i, err := range wait() {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	if len(seen) != 1 {
		t.Errorf("%d statements prepared for three writes of one transaction", len(seen))
	}
	if got := ids(t, db); got != "a,b,c,hold" {
		t.Errorf("rows %q", got)
	}
	// A later transaction prepares its own (the first was closed with its
	// transaction).
	if err := w.Do(context.Background(), viaStmt("d")); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 {
		t.Errorf("%d statements after a second transaction, want 2", len(seen))
	}
	// Outside a Func: none.
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if st, err := w.Stmt(context.Background(), tx, q); st != nil || err != nil {
		t.Errorf("Stmt outside a Func = %v, %v", st, err)
	}
}
