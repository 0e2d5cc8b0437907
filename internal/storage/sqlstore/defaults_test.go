package sqlstore_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestOpen_DefaultPool: Options' zero value gives every dialect the pool
// DefaultMaxOpenConns bounds, the default the command line passes too (on
// SQLite the read pool; its writer is one connection).
func TestOpen_DefaultPool(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st, err := sqlstore.Open(t.Context(), b.DSN(t), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			if got := st.ReadDB().Stats().MaxOpenConnections; got != sqlstore.DefaultMaxOpenConns {
				t.Errorf("read pool bounded at %d connections, want %d", got, sqlstore.DefaultMaxOpenConns)
			}
			wantWriters := sqlstore.DefaultMaxOpenConns
			if b.Name == "sqlite" {
				wantWriters = 1
			}
			if got := st.DB().Stats().MaxOpenConnections; got != wantWriters {
				t.Errorf("read-write pool bounded at %d connections, want %d", got, wantWriters)
			}
		})
	}
}
