package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqldialect"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlerr"
)

// dialect is a sqldialect.Dialect with what only this package needs: the
// migration lock, error mapping, and statements of its own schema. Queries
// are written once, with ? placeholders, and passed through Rebind.
type dialect struct {
	sqldialect.Dialect
}

var (
	dialectSQLite   = dialect{sqldialect.SQLite}
	dialectPostgres = dialect{sqldialect.Postgres}
	dialectMySQL    = dialect{sqldialect.MySQL}
)

// goose returns goose's name of the dialect.
func (d dialect) goose() goose.Dialect {
	switch d.Dialect {
	case sqldialect.Postgres:
		return goose.DialectPostgres
	case sqldialect.MySQL:
		return goose.DialectMySQL
	}
	return goose.DialectSQLite3
}

// lockMigrations takes a database-wide lock on conn so that one instance at a
// time migrates; unlock releases it. SQLite needs none: the write pool's one
// connection and BEGIN IMMEDIATE already serialise writers to the file.
func (d dialect) lockMigrations(ctx context.Context, conn *sql.Conn) (unlock func(context.Context) error, err error) {
	switch d.Dialect {
	case sqldialect.Postgres:
		// A session-level advisory lock, scoped to the current database.
		const key = 0x6761746568 // "gateh"
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			_, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", key)
			return err
		}, nil
	case sqldialect.MySQL:
		// GET_LOCK names are server-wide: qualify with the database (names
		// are at most 64 characters).
		const name = "LEFT(CONCAT('gatehouse-migrate:', DATABASE()), 64)"
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+name+", 600)").Scan(&got); err != nil {
			return nil, err
		}
		if !got.Valid || got.Int64 != 1 {
			return nil, errors.New("timed out after 10 minutes waiting for another instance's migrations")
		}
		return func(ctx context.Context) error {
			_, err := conn.ExecContext(ctx, "SELECT RELEASE_LOCK("+name+")")
			return err
		}, nil
	default:
		return func(context.Context) error { return nil }, nil
	}
}

// mapErr translates a driver error into the storage package's errors,
// keeping the original wrapped for logs.
func (d dialect) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	case sqlerr.IsUniqueViolation(err):
		return fmt.Errorf("%w: %w", storage.ErrAlreadyExists, err)
	case sqlerr.IsUnavailable(err):
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

// revokeFamiliesOfGrants returns a statement revoking the refresh tokens of
// every grant in scope (whose arguments it takes). MySQL runs it as a join,
// through the indexes on the grants' scope columns and on
// refresh_tokens.family_id: an IN (subquery) in a single-table UPDATE can
// be a scan of every refresh token there, each locked until the
// transaction ends.
func (d dialect) revokeFamiliesOfGrants(scope grantScope) string {
	if d.Dialect == sqldialect.MySQL {
		return "UPDATE refresh_tokens r JOIN grants g ON r.family_id = g.id SET r.revoked = TRUE " +
			"WHERE " + scope.where("g.") + " AND r.revoked = FALSE"
	}
	return "UPDATE refresh_tokens SET revoked = TRUE WHERE family_id IN (SELECT id FROM grants WHERE " + scope.where("") + ") " +
		"AND revoked = FALSE"
}
