package sqlerr

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// SQLite result codes (https://sqlite.org/rescode.html): primary codes
// and the extended codes of the constraints a duplicate key violates.
const (
	sqliteBusy             = 5
	sqliteLocked           = 6
	sqliteConstraintPK     = 1555 // SQLITE_CONSTRAINT_PRIMARYKEY
	sqliteConstraintUnique = 2067 // SQLITE_CONSTRAINT_UNIQUE
)

// IsUniqueViolation reports whether err is a unique or primary key
// constraint violation, by the driver's error code: SQLSTATE 23505
// (unique_violation) on PostgreSQL, 1062 (ER_DUP_ENTRY) on MySQL and
// MariaDB, SQLITE_CONSTRAINT_UNIQUE or SQLITE_CONSTRAINT_PRIMARYKEY on
// SQLite. Other constraint failures (NOT NULL, foreign keys, checks) are
// not.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	var liteErr *sqlite.Error
	switch {
	case errors.As(err, &pgErr):
		return pgErr.Code == "23505"
	case errors.As(err, &myErr):
		return myErr.Number == 1062
	case errors.As(err, &liteErr):
		return liteErr.Code() == sqliteConstraintUnique || liteErr.Code() == sqliteConstraintPK
	}
	return false
}

// IsUnavailable reports whether err means the database cannot answer now:
// it cannot be reached (refused, reset, a dead connection, a network
// timeout, a connection that ended in the middle of an answer, which pgx
// reports as io.ErrUnexpectedEOF, or a connection pgx already closed after
// such a failure, pgconn.ErrConnClosed), it is shutting down or out of
// connections, SQLite stayed locked beyond its busy timeout, or the
// caller's deadline ran out while waiting for it (context.DeadlineExceeded,
// as when a request's deadline ends a query the database never answered).
// Callers answer such errors with 503 and Retry-After.
//
// A cancelled context on its own (context.Canceled: the client went away)
// is not counted.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	var netErr net.Error
	var connectErr *pgconn.ConnectError
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	switch {
	case errors.As(err, &pgErr): // also inside a ConnectError: a wrong password or database is not an outage
		// Class 08: connection exception; 57P01..03: shutdown, crash
		// recovery, not accepting connections; 53300: too many connections.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" ||
			pgErr.Code == "57P03" || pgErr.Code == "53300"
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.As(err, &myErr):
		// ER_CON_COUNT_ERROR, ER_SERVER_SHUTDOWN.
		return myErr.Number == 1040 || myErr.Number == 1053
	}
	return IsBusy(err)
}

// IsBusy reports whether err is SQLite's "database is busy" or "locked":
// another connection holds the lock it needed.
func IsBusy(err error) bool {
	var liteErr *sqlite.Error
	if !errors.As(err, &liteErr) {
		return false
	}
	code := liteErr.Code() & 0xff
	return code == sqliteBusy || code == sqliteLocked
}
