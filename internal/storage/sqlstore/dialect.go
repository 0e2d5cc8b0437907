package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/migrations"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlerr"
)

// dialect holds what differs between the SQL databases. Queries are written
// once, with ? placeholders, and passed through rebind.
type dialect struct {
	name  string // migrations.SQLite, migrations.Postgres or migrations.MySQL
	goose goose.Dialect
}

var (
	dialectSQLite   = dialect{name: migrations.SQLite, goose: goose.DialectSQLite3}
	dialectPostgres = dialect{name: migrations.Postgres, goose: goose.DialectPostgres}
	dialectMySQL    = dialect{name: migrations.MySQL, goose: goose.DialectMySQL}
)

// rebind turns ? placeholders into the dialect's: $1, $2, … on PostgreSQL.
// Queries in this package never contain a literal question mark.
func (d dialect) rebind(q string) string {
	if d.name != migrations.Postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 8)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// upsert returns the clause that follows an INSERT's VALUES to update the
// existing row when the key columns conflict. Each set entry is
// "column = expression"; inside an expression, excluded(col) names the value
// the INSERT proposed and a bare column name the existing row's value.
//
// On MySQL the assignments run left to right and later ones see earlier
// results, so a column that other expressions read must be assigned last.
func (d dialect) upsert(keyCols string, set ...string) string {
	if d.name == migrations.MySQL {
		return " ON DUPLICATE KEY UPDATE " + strings.Join(set, ", ")
	}
	return " ON CONFLICT (" + keyCols + ") DO UPDATE SET " + strings.Join(set, ", ")
}

// excluded names the value an upsert's INSERT proposed for col.
func (d dialect) excluded(col string) string {
	if d.name == migrations.MySQL {
		return "VALUES(" + col + ")"
	}
	return "excluded." + col
}

// deleteBatch returns a statement deleting at most limit (the last
// placeholder) rows of table matching where; key is the table's primary key
// (a column, or a parenthesised list of columns).
func (d dialect) deleteBatch(table, key, where string) string {
	if d.name == migrations.MySQL {
		return "DELETE FROM " + table + " WHERE " + where + " LIMIT ?"
	}
	return "DELETE FROM " + table + " WHERE " + key + " IN (SELECT " + strings.Trim(key, "()") +
		" FROM " + table + " WHERE " + where + " LIMIT ?)"
}

// lockMigrations takes a database-wide lock on conn so that one instance at a
// time migrates; unlock releases it. SQLite needs none: the write pool's one
// connection and BEGIN IMMEDIATE already serialise writers to the file.
func (d dialect) lockMigrations(ctx context.Context, conn *sql.Conn) (unlock func(context.Context) error, err error) {
	switch d.name {
	case migrations.Postgres:
		// A session-level advisory lock, scoped to the current database.
		const key = 0x6761746568 // "gateh"
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			_, err := conn.ExecContext(ctx, "SELECT pg_advisory_unlock($1)", key)
			return err
		}, nil
	case migrations.MySQL:
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

// SQLite result codes (https://sqlite.org/rescode.html).
const (
	sqliteConstraintPK     = 1555
	sqliteConstraintUnique = 2067
)

// isUniqueViolation reports whether err is a unique or primary key
// constraint violation.
func (d dialect) isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	var liteErr *sqlite.Error
	switch {
	case errors.As(err, &pgErr):
		return pgErr.Code == "23505" // unique_violation
	case errors.As(err, &myErr):
		return myErr.Number == 1062 // ER_DUP_ENTRY
	case errors.As(err, &liteErr):
		return liteErr.Code() == sqliteConstraintUnique || liteErr.Code() == sqliteConstraintPK
	}
	return false
}

// mapErr translates a driver error into the storage package's errors,
// keeping the original wrapped for logs.
func (d dialect) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	case d.isUniqueViolation(err):
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
	if d.name == migrations.MySQL {
		return "UPDATE refresh_tokens r JOIN grants g ON r.family_id = g.id SET r.revoked = TRUE " +
			"WHERE " + scope.where("g.") + " AND r.revoked = FALSE"
	}
	return "UPDATE refresh_tokens SET revoked = TRUE WHERE family_id IN (SELECT id FROM grants WHERE " + scope.where("") + ") " +
		"AND revoked = FALSE"
}

// insertIgnore returns the clause that follows an INSERT's VALUES so that a
// row whose key column keyCol conflicts with a stored one is left as it
// is, without an error. (MySQL's INSERT IGNORE would also turn other errors
// into warnings.)
func (d dialect) insertIgnore(keyCol string) string {
	if d.name == migrations.MySQL {
		return " ON DUPLICATE KEY UPDATE " + keyCol + " = " + keyCol
	}
	return " ON CONFLICT (" + keyCol + ") DO NOTHING"
}
