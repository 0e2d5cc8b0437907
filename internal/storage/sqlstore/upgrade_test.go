package sqlstore_test

import (
	"context"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/gatehouse-dev/gatehouse/internal/storage/migrations"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// gooseDialects maps a store's dialect to goose's.
var gooseDialects = map[string]goose.Dialect{
	migrations.SQLite:   goose.DialectSQLite3,
	migrations.Postgres: goose.DialectPostgres,
	migrations.MySQL:    goose.DialectMySQL,
}

// TestMigrateFromVersion1: a database at schema version 1 that holds data
// (an authorization request whose code was used) upgrades in place; the
// request reads back unchanged and not replayed, and can be marked. The
// down migration keeps the data too.
func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s, err := sqlstore.Open(ctx, b.DSN(t), sqlstore.Options{})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			fsys, err := migrations.FS(s.Dialect())
			if err != nil {
				t.Fatal(err)
			}
			p, err := goose.NewProvider(gooseDialects[s.Dialect()], s.DB(), fsys, goose.WithDisableGlobalRegistry(true))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := p.UpTo(ctx, 1); err != nil {
				t.Fatalf("migrating to version 1: %v", err)
			}
			// The columns of version 1 only; literal values, so the
			// statement is the same on every dialect.
			if _, err := s.DB().ExecContext(ctx, "INSERT INTO auth_requests (id, client_id, redirect_uri, state, nonce, "+
				"scopes, response_type, response_mode, code_challenge, code_challenge_method, prompt, login_hint, "+
				"user_id, amr, done, code_hash, code_used, created_at, expires_at) VALUES ('ar-old', 'webapp', "+
				"'https://127.0.0.1:5000/callback', 'st', 'no', '[\"openid\"]', 'code', 'query', 'ch', 'S256', 'null', '', "+
				"'u-alice', '[\"pwd\"]', TRUE, 'code-old', TRUE, 1000000, 4102444800000000)"); err != nil {
				t.Fatalf("storing a version-1 request: %v", err)
			}

			check := func(when string, wantReplayed bool) {
				t.Helper()
				got, err := s.GetAuthRequestByCode(ctx, "code-old")
				if err != nil {
					t.Fatalf("%s: GetAuthRequestByCode: %v", when, err)
				}
				if got.ID != "ar-old" || got.UserID != "u-alice" || !got.Done || !got.CodeUsed || got.Replayed != wantReplayed {
					t.Errorf("%s: request %+v, want ar-old of u-alice, done, used, replayed %v", when, got, wantReplayed)
				}
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate from version 1: %v", err)
			}
			check("after upgrading", false)
			if err := s.MarkAuthCodeReplayed(ctx, "ar-old"); err != nil {
				t.Fatalf("MarkAuthCodeReplayed: %v", err)
			}
			check("after marking", true)

			if _, err := p.DownTo(ctx, 1); err != nil {
				t.Fatalf("migrating down to version 1: %v", err)
			}
			var n int
			if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM auth_requests WHERE id = 'ar-old'").Scan(&n); err != nil || n != 1 {
				t.Fatalf("the request after migrating down: %d rows, %v; want 1", n, err)
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate after migrating down: %v", err)
			}
			check("after migrating down and up again", false)
		})
	}
}
