package sqlstore_test

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
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
// upgrades in place. Users and clients read back enabled, with no resource
// audience or scopes and no ID token algorithm (RS256); an authorization
// request whose code was used reads back unchanged, for the default
// audience; each refresh family becomes a grant (revoked when all its
// tokens are), so its live token can still be rotated, and revoking the
// grant reaches it; an access token that was revoked is on the revoked list,
// one that was not is not. The down migrations keep the data too.
func TestMigrateFromVersion1(t *testing.T) {
	ctx := context.Background()
	const far = 4102444800000000 // 2100-01-01 in microseconds
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s, p := openAtVersion(t, ctx, b.DSN(t), 1)
			// The columns of version 1 only; literal values, so the
			// statements are the same on every dialect.
			refreshColumns := "INSERT INTO refresh_tokens (id, token_hash, family_id, client_id, user_id, scopes, " +
				"audience, auth_time, amr, used, revoked, idle_expires_at, expires_at, created_at) VALUES "
			for _, stmt := range []string{
				"INSERT INTO auth_requests (id, client_id, redirect_uri, state, nonce, " +
					"scopes, response_type, response_mode, code_challenge, code_challenge_method, prompt, login_hint, " +
					"user_id, amr, done, code_hash, code_used, created_at, expires_at) VALUES ('ar-old', 'webapp', " +
					"'https://127.0.0.1:5000/callback', 'st', 'no', '[\"openid\"]', 'code', 'query', 'ch', 'S256', 'null', '', " +
					"'u-alice', '[\"pwd\"]', TRUE, 'code-old', TRUE, 1000000, 4102444800000000)",
				"INSERT INTO users (id, username, email, name, password_hash, created_at, updated_at) " +
					"VALUES ('u-alice', 'alice', 'alice@example.com', 'Alice', '$argon2id$x', 1000000, 2000000)",
				"INSERT INTO clients (id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, " +
					"grant_types, scopes, pkce_optional, first_party, created_at, updated_at) VALUES ('webapp', " +
					"'Web app', 'h', FALSE, '[]', '[]', '[]', '[\"openid\"]', FALSE, TRUE, 1000000, 2000000)",
				"INSERT INTO access_tokens (id, family_id, client_id, subject, audience, scopes, revoked, created_at, " +
					"expires_at) VALUES ('jti-old', 'fam-live', 'webapp', 'u-alice', '[]', '[]', FALSE, 1000000, 4102444800000000)",
				"INSERT INTO access_tokens (id, family_id, client_id, subject, audience, scopes, revoked, created_at, " +
					"expires_at) VALUES ('jti-revoked', 'fam-live', 'webapp', 'u-alice', '[]', '[]', TRUE, 1000000, 4102444800000000)",
				// A family rotated once (its first token used), and one revoked.
				refreshColumns + "('rt-1', 'hash-1', 'fam-live', 'webapp', 'u-alice', '[]', '[]', NULL, '[]', " +
					"TRUE, FALSE, 4102444800000000, 4102444800000000, 1000000)",
				refreshColumns + "('rt-2', 'hash-2', 'fam-live', 'webapp', 'u-alice', '[]', '[]', NULL, '[]', " +
					"FALSE, FALSE, 4102444800000000, 4102444800000000, 3000000)",
				refreshColumns + "('rt-3', 'hash-3', 'fam-revoked', 'cli', 'u-bob', '[]', '[]', NULL, '[]', " +
					"TRUE, TRUE, 4102444800000000, 4102444800000000, 1000000)",
				refreshColumns + "('rt-4', 'hash-4', 'fam-revoked', 'cli', 'u-bob', '[]', '[]', NULL, '[]', " +
					"FALSE, TRUE, 4102444800000000, 4102444800000000, 2000000)",
			} {
				if _, err := s.DB().ExecContext(ctx, stmt); err != nil {
					t.Fatalf("storing version-1 data: %v\n%s", err, stmt)
				}
			}

			checkRows := func(when string) {
				t.Helper()
				got, err := s.GetAuthRequestByCode(ctx, "code-old")
				if err != nil {
					t.Fatalf("%s: GetAuthRequestByCode: %v", when, err)
				}
				if got.ID != "ar-old" || got.UserID != "u-alice" || !got.Done || !got.CodeUsed || got.Resource != "" {
					t.Errorf("%s: request %+v, want ar-old of u-alice, done, used, for the default audience", when, got)
				}
				u, err := s.GetUser(ctx, "u-alice")
				if err != nil || u.Username != "alice" || u.PasswordHash != "$argon2id$x" || u.Disabled {
					t.Errorf("%s: GetUser = %+v, %v; want alice, enabled", when, u, err)
				}
				c, err := s.GetClient(ctx, "webapp")
				if err != nil || c.Name != "Web app" || !c.FirstParty || c.ResourceAudience != "" || len(c.ResourceScopes) != 0 ||
					c.Disabled || c.IDTokenAlg != "" {
					t.Errorf("%s: GetClient = %+v, %v; want the web app, enabled, without a resource audience, resource scopes or an ID token algorithm",
						when, c, err)
				}
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate from version 1: %v", err)
			}
			checkRows("after upgrading")
			for _, want := range []storage.Grant{
				{ID: "fam-live", ClientID: "webapp", UserID: "u-alice", CreatedAt: time.UnixMicro(1000000).UTC(), ExpiresAt: time.UnixMicro(far).UTC()},
				{ID: "fam-revoked", ClientID: "cli", UserID: "u-bob", Revoked: true, CreatedAt: time.UnixMicro(1000000).UTC(), ExpiresAt: time.UnixMicro(far).UTC()},
			} {
				got, err := s.GetGrant(ctx, want.ID)
				if err != nil || !sameGrant(got, want) {
					t.Errorf("grant made of family %s = %+v, %v; want %+v", want.ID, got, err, want)
				}
			}
			for jti, want := range map[string]bool{"jti-revoked": true, "jti-old": false} {
				got, err := s.AccessTokenRevoked(ctx, jti)
				if err != nil || got != want {
					t.Errorf("AccessTokenRevoked(%q) after upgrading = %v, %v; want %v", jti, got, err, want)
				}
			}
			var until int64 // the revoked token's entry ends when the token expires
			if err := s.DB().QueryRowContext(ctx, "SELECT expires_at FROM revoked_tokens WHERE id = 'jti-revoked'").Scan(&until); err != nil || until != far {
				t.Errorf("the revoked list's entry for jti-revoked expires at %d, %v; want %d", until, err, int64(far))
			}
			now := time.Now().UTC()
			next := storage.RefreshToken{ID: "rt-5", TokenHash: "hash-5", FamilyID: "fam-live", ClientID: "webapp",
				UserID: "u-alice", IdleExpiresAt: now.Add(time.Hour), ExpiresAt: time.UnixMicro(far).UTC(), CreatedAt: now}
			if _, err := s.RotateRefreshToken(ctx, "hash-2", next, now); err != nil {
				t.Fatalf("rotating a version-1 refresh token: %v", err)
			}
			if err := s.RevokeGrant(ctx, "fam-live"); err != nil {
				t.Fatal(err)
			}
			if rt, err := s.GetRefreshToken(ctx, "hash-5"); err != nil || !rt.Revoked {
				t.Errorf("the rotated token after RevokeGrant: revoked %v, %v", rt.Revoked, err)
			}

			if _, err := p.DownTo(ctx, 1); err != nil {
				t.Fatalf("migrating down to version 1: %v", err)
			}
			for table, want := range map[string]int{"auth_requests": 1, "users": 1, "clients": 1, "refresh_tokens": 5} {
				var n int
				if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil || n != want {
					t.Errorf("%s after migrating down: %d rows, %v; want %d", table, n, err, want)
				}
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate after migrating down: %v", err)
			}
			checkRows("after migrating down and up again")
		})
	}
}

// sameGrant: a and b are equal, a nil list equal to an empty one.
func sameGrant(a, b storage.Grant) bool {
	if !slices.Equal(a.Scopes, b.Scopes) {
		return false
	}
	a.Scopes, b.Scopes = nil, nil
	return reflect.DeepEqual(a, b)
}

// TestMigrateGrantScopes: upgrading from version 10, a grant takes the
// scopes of the newest refresh token of its family that is not revoked; a
// grant whose tokens are all revoked, or that has none, has no scopes.
// Other columns are kept.
func TestMigrateGrantScopes(t *testing.T) {
	ctx := context.Background()
	const far = 4102444800000000 // 2100-01-01 in microseconds
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s, _ := openAtVersion(t, ctx, b.DSN(t), 10)
			grant := func(id string, revoked bool) string {
				return fmt.Sprintf("INSERT INTO grants (id, client_id, user_id, revoked, created_at, expires_at) "+
					"VALUES ('%s', 'webapp', 'u-alice', %t, 1000000, %d)", id, revoked, int64(far))
			}
			refresh := func(id, family, scopes string, revoked bool, created int64) string {
				return fmt.Sprintf("INSERT INTO refresh_tokens (id, token_hash, family_id, client_id, user_id, scopes, "+
					"audience, auth_time, amr, used, revoked, idle_expires_at, expires_at, created_at) VALUES "+
					"('%s', 'hash-%[1]s', '%s', 'webapp', 'u-alice', '%s', '[]', NULL, '[\"pwd\"]', FALSE, %t, %d, %[5]d, %d)",
					id, family, scopes, revoked, int64(far), created)
			}
			for _, stmt := range []string{
				grant("g-rotated", false),
				refresh("rt-rotated-1", "g-rotated", `["openid"]`, false, 1000000),
				refresh("rt-rotated-3", "g-rotated", `["openid","offline_access","api:read"]`, false, 3000000),
				refresh("rt-rotated-2", "g-rotated", `["openid","offline_access"]`, false, 2000000),
				grant("g-newest-revoked", false),
				refresh("rt-newest-revoked-1", "g-newest-revoked", `["openid","email"]`, false, 1000000),
				refresh("rt-newest-revoked-2", "g-newest-revoked", `["openid","profile"]`, true, 2000000),
				grant("g-revoked", true),
				refresh("rt-revoked", "g-revoked", `["openid"]`, true, 1000000),
				grant("g-no-refresh", false),
			} {
				if _, err := s.DB().ExecContext(ctx, stmt); err != nil {
					t.Fatalf("storing version-10 data: %v\n%s", err, stmt)
				}
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("Migrate from version 10: %v", err)
			}
			for _, tc := range []struct {
				id      string
				revoked bool
				scopes  []string
			}{
				{"g-rotated", false, []string{"openid", "offline_access", "api:read"}},
				{"g-newest-revoked", false, []string{"openid", "email"}},
				{"g-revoked", true, nil},
				{"g-no-refresh", false, nil},
			} {
				want := storage.Grant{ID: tc.id, ClientID: "webapp", UserID: "u-alice", Scopes: tc.scopes, Revoked: tc.revoked,
					CreatedAt: time.UnixMicro(1000000).UTC(), ExpiresAt: time.UnixMicro(far).UTC()}
				got, err := s.GetGrant(ctx, tc.id)
				if err != nil || !sameGrant(got, want) {
					t.Errorf("grant %s after upgrading = %+v, %v; want %+v", tc.id, got, err, want)
				}
			}
		})
	}
}

// openAtVersion opens a store on dsn migrated up to version only, and the
// goose provider that migrates it further; the store closes when t ends.
func openAtVersion(t *testing.T, ctx context.Context, dsn string, version int64) (*sqlstore.Store, *goose.Provider) {
	t.Helper()
	s, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	fsys, err := migrations.FS(s.Dialect())
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(gooseDialects[s.Dialect()], s.DB(), fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, version); err != nil {
		t.Fatalf("migrating to version %d: %v", version, err)
	}
	return s, p
}
