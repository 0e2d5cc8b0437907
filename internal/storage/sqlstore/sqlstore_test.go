package sqlstore_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/conformance"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// open opens a migrated store on a fresh database of backend b.
func open(t testing.TB, b storagetest.Backend) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(context.Background(), b.DSN(t), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			conformance.RunTests(t, func(t *testing.T) storage.Store { return open(t, b) })
		})
	}
}

// TestSQLitePageCache checks that the page cache budget is shared out among
// the SQLite connections, half to the writer and half among the readers:
// each keeps its own cache, and SQLite's default (2 MiB each) would grow
// with the read pool.
func TestSQLitePageCache(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name               string
		opts               sqlstore.Options
		writer, eachReader int // PRAGMA cache_size: negative, in KiB
	}{
		{"default: 8 MiB, DefaultMaxOpenConns readers", sqlstore.Options{}, -4 << 10, -(4 << 10) / sqlstore.DefaultMaxOpenConns},
		{"20 readers", sqlstore.Options{MaxOpenConns: 20, SQLiteCacheKiB: 40 << 10}, -20 << 10, -1 << 10},
		{"a small budget keeps 64 KiB each", sqlstore.Options{MaxOpenConns: 20, SQLiteCacheKiB: 100}, -64, -64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Migrate = true
			s, err := sqlstore.Open(ctx, storagetest.SQLite(t), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, c := range []struct {
				name string
				db   *sql.DB
				want int
			}{{"writer", s.DB(), tc.writer}, {"reader", s.ReadDB(), tc.eachReader}} {
				var got int
				if err := c.db.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != c.want {
					t.Errorf("%s: cache_size %d, want %d", c.name, got, c.want)
				}
			}
		})
	}
}
