package sqlerr_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlerr"
)

func TestIsUnavailable(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"request deadline", context.DeadlineExceeded, true},
		{"request deadline, wrapped", fmt.Errorf("docstore: find: %w", context.DeadlineExceeded), true},
		{"client gone", context.Canceled, false},
		{"bad connection", driver.ErrBadConn, true},
		{"mysql invalid connection", mysql.ErrInvalidConn, true},
		{"refused", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, true},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{"connection closed mid-answer (pgx)", fmt.Errorf("docstore: find: %w", io.ErrUnexpectedEOF), true},
		{"connection pgx already closed", fmt.Errorf("docstore: insert: %w", pgconn.ErrConnClosed), true},
		{"network timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, true},
		{"pg connection exception", &pgconn.PgError{Code: "08006"}, true},
		{"pg shutting down", &pgconn.PgError{Code: "57P01"}, true},
		{"pg too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"pg unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"pg syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"mysql too many connections", &mysql.MySQLError{Number: 1040}, true},
		{"mysql shutdown", &mysql.MySQLError{Number: 1053}, true},
		{"mysql duplicate entry", &mysql.MySQLError{Number: 1062}, false},
		{"no rows", sql.ErrNoRows, false},
		{"other", errors.New("boom"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sqlerr.IsUnavailable(tt.err); got != tt.want {
				t.Errorf("IsUnavailable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestIsUnavailable_ConnectRefusedByServer: PostgreSQL answering a
// connection with an error (here: no such database) is a configuration
// problem, not an outage, even though pgx reports it as a ConnectError.
func TestIsUnavailable_ConnectRefusedByServer(t *testing.T) {
	_, err := pgconn.Connect(t.Context(), "postgres://postgres@127.0.0.1:5432/gh_no_such_database?sslmode=disable&connect_timeout=3")
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		if os.Getenv("GATEHOUSE_REQUIRE_DBS") != "" {
			t.Fatalf("PostgreSQL did not answer with an error: %v", err)
		}
		t.Skipf("PostgreSQL does not answer on 127.0.0.1:5432: %v", err)
	}
	if sqlerr.IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v) = true, want false (SQLSTATE %s)", err, pgErr.Code)
	}
}

// TestIsUnavailable_ClosedConnection: a statement on a connection pgx has
// already closed (as after the database reset it in the middle of a
// transaction, before COMMIT) fails with pgx's own "conn closed" error,
// which is an outage like the reset that caused it.
func TestIsUnavailable_ClosedConnection(t *testing.T) {
	conn, err := pgconn.Connect(t.Context(), "postgres://postgres@127.0.0.1:5432/test?sslmode=disable&connect_timeout=3")
	if err != nil {
		if os.Getenv("GATEHOUSE_REQUIRE_DBS") != "" {
			t.Fatalf("PostgreSQL: %v", err)
		}
		t.Skipf("PostgreSQL does not answer on 127.0.0.1:5432: %v", err)
	}
	if err := conn.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(t.Context(), "COMMIT").ReadAll()
	if err == nil {
		t.Fatal("COMMIT on a closed connection succeeded")
	}
	if !sqlerr.IsUnavailable(err) {
		t.Errorf("IsUnavailable(%v) = false, want true", err)
	}
}
