package groupcommit_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage/groupcommit"
)

// BenchmarkInsert compares 64 goroutines inserting rows one transaction
// each (what SQLite's one writer connection did before) with the same
// inserts through a Writer. The ratio is the figure: both run in one
// process, on one machine, in one run.
//
//	go test -run '^$' -bench Insert -benchtime 20000x ./internal/storage/groupcommit
func BenchmarkInsert(b *testing.B) {
	modes := []struct {
		name string
		do   func(db *sql.DB, w *groupcommit.Writer, fn groupcommit.Func) error
	}{
		{"transaction-each", func(db *sql.DB, _ *groupcommit.Writer, fn groupcommit.Func) error {
			tx, err := db.Begin()
			if err != nil {
				return err
			}
			if err := fn(context.Background(), tx); err != nil {
				_ = tx.Rollback()
				return err
			}
			return tx.Commit()
		}},
		{"group-commit", func(_ *sql.DB, w *groupcommit.Writer, fn groupcommit.Func) error {
			return w.Do(context.Background(), fn)
		}},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			db := open(b)
			w := groupcommit.New(db, 0)
			defer w.Close()
			var n atomic.Int64
			b.SetParallelism(32) // 64 goroutines on 2 cores
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := m.do(db, w, insert(fmt.Sprintf("%032x", n.Add(1)*7919))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			if writes, commits := w.Stats(); commits > 0 {
				b.ReportMetric(float64(writes)/float64(commits), "writes/commit")
			}
		})
	}
}
