package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/alexedwards/scs/mysqlstore"
	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/sqlite3store"

	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// scsStore is what the web app needs of an scs session store.
type scsStore interface {
	Find(token string) ([]byte, bool, error)
	Commit(token string, b []byte, expiry time.Time) error
	Delete(token string) error
}

// TestSCSSessions: the scs session store of each dialect works on the
// migrated database through DB(), so the web app can keep its sessions there.
func TestSCSSessions(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := open(t, b)
			defer s.Close()
			var store scsStore
			switch s.Dialect() {
			case "sqlite":
				store = sqlite3store.NewWithCleanupInterval(s.DB(), 0)
			case "postgres":
				store = postgresstore.NewWithCleanupInterval(s.DB(), 0)
			case "mysql":
				store = mysqlstore.NewWithCleanupInterval(s.DB(), 0)
			}
			token := "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde" // 43 characters, as scs makes them
			data := []byte("session data \x00\xff")
			if err := store.Commit(token, data, time.Now().Add(time.Hour)); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			got, found, err := store.Find(token)
			if err != nil || !found || !bytes.Equal(got, data) {
				t.Fatalf("Find = %q, %v, %v; want the committed data", got, found, err)
			}
			if err := store.Commit("expired-token", data, time.Now().Add(-time.Minute)); err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if _, found, err := store.Find("expired-token"); err != nil || found {
				t.Errorf("Find of an expired session = found %v, %v", found, err)
			}
			if err := store.Delete(token); err != nil {
				t.Fatalf("Delete: %v", err)
			}
		})
	}
}

// TestSQLitePragmas: WAL mode, a busy timeout and foreign keys on both
// pools, and a read pool that cannot write.
func TestSQLitePragmas(t *testing.T) {
	ctx := context.Background()
	s, err := sqlstore.Open(ctx, storagetest.SQLite(t), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, pool := range []struct {
		name string
		db   *sql.DB
	}{{"write", s.DB()}, {"read", s.ReadDB()}} {
		for pragma, want := range map[string]string{"journal_mode": "wal", "busy_timeout": "10000", "foreign_keys": "1"} {
			var got string
			if err := pool.db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil || got != want {
				t.Errorf("%s pool: PRAGMA %s = %q, %v; want %q", pool.name, pragma, got, err, want)
			}
		}
	}
	if s.DB() == s.ReadDB() || s.DB().Stats().MaxOpenConnections != 1 {
		t.Errorf("SQLite write pool: %d connections, separate read pool %v; want 1 and true",
			s.DB().Stats().MaxOpenConnections, s.DB() != s.ReadDB())
	}
	if _, err := s.ReadDB().ExecContext(ctx, "DELETE FROM users"); err == nil {
		t.Error("the read pool accepted a write")
	}
}
