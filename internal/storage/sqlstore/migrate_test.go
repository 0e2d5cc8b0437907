package sqlstore_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// tables the migrations create.
var tables = []string{"users", "clients", "auth_requests", "grants", "refresh_tokens", "revoked_tokens",
	"login_sessions", "consents", "login_failures", "signing_keys", "sessions", "passkeys", "totp_authenticators",
	"recovery_codes"}

func TestMigrate(t *testing.T) {
	ctx := context.Background()
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			s, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
			if err != nil {
				t.Fatalf("Open without migrating: %v", err)
			}
			defer s.Close()
			current, known, err := s.SchemaVersion(ctx)
			if err != nil || current != 0 || known < 1 {
				t.Fatalf("SchemaVersion of an empty database = %d, %d, %v; want 0, ≥1, nil", current, known, err)
			}
			for i := range 2 { // the second run is a no-op
				if err := s.Migrate(ctx); err != nil {
					t.Fatalf("Migrate (run %d): %v", i+1, err)
				}
				current, _, err := s.SchemaVersion(ctx)
				if err != nil || current != known {
					t.Fatalf("SchemaVersion after Migrate (run %d) = %d, %v; want %d", i+1, current, err, known)
				}
			}
			for _, table := range tables {
				var n int
				if err := s.ReadDB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
					t.Errorf("table %s: %v", table, err)
				}
			}

			// A database migrated by a newer gatehouse is refused.
			if _, err := s.DB().ExecContext(ctx, "INSERT INTO goose_db_version (version_id, is_applied) VALUES (999999, TRUE)"); err != nil {
				t.Fatalf("recording a newer version: %v", err)
			}
			if err := s.Migrate(ctx); !errors.Is(err, sqlstore.ErrSchemaTooNew) {
				t.Errorf("Migrate of a newer schema: %v, want ErrSchemaTooNew", err)
			}
			for _, migrate := range []bool{false, true} {
				s2, err := sqlstore.Open(ctx, dsn, sqlstore.Options{Migrate: migrate})
				if !errors.Is(err, sqlstore.ErrSchemaTooNew) {
					t.Errorf("Open(Migrate: %v) of a newer schema: %v, want ErrSchemaTooNew", migrate, err)
				}
				if err == nil {
					s2.Close()
				} else {
					t.Logf("Open(Migrate: %v): %v", migrate, err)
				}
			}
		})
	}
}

// TestMigrateConcurrently starts several instances on one empty database
// at once: one migrates, the others wait and find nothing to do.
func TestMigrateConcurrently(t *testing.T) {
	ctx := context.Background()
	const instances = 4
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			dsn := b.DSN(t)
			var wg sync.WaitGroup
			errs := make([]error, instances)
			stores := make([]*sqlstore.Store, instances)
			for i := range instances {
				wg.Add(1)
				go func() {
					defer wg.Done()
					stores[i], errs[i] = sqlstore.Open(ctx, dsn, sqlstore.Options{Migrate: true})
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("instance %d: Open: %v", i, err)
					continue
				}
				current, known, err := stores[i].SchemaVersion(ctx)
				if err != nil || current != known {
					t.Errorf("instance %d: SchemaVersion = %d, %d, %v; want equal versions", i, current, known, err)
				}
				stores[i].Close()
			}
		})
	}
}
