package sqlerr_test

import (
	"database/sql"
	"errors"
	"fmt"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlerr"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestIsUniqueViolation provokes real constraint failures on each database
// and classifies the drivers' own errors: a duplicate primary key and a
// duplicate unique column are unique violations, a NULL in a NOT NULL
// column is not.
func TestIsUniqueViolation(t *testing.T) {
	tests := []struct {
		name   string
		insert string // after the row (1, 'a', 'x') is in t
		want   bool
	}{
		{"duplicate primary key", "INSERT INTO t (id, u, v) VALUES (1, 'b', 'y')", true},
		{"duplicate unique column", "INSERT INTO t (id, u, v) VALUES (2, 'a', 'y')", true},
		{"not null", "INSERT INTO t (id, u, v) VALUES (3, 'c', NULL)", false},
	}
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			st, err := sqlstore.Open(t.Context(), b.DSN(t), sqlstore.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			db := st.DB()
			for _, q := range []string{
				"CREATE TABLE t (id INTEGER PRIMARY KEY, u VARCHAR(10) NOT NULL UNIQUE, v VARCHAR(10) NOT NULL)",
				"INSERT INTO t (id, u, v) VALUES (1, 'a', 'x')",
			} {
				if _, err := db.ExecContext(t.Context(), q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					_, err := db.ExecContext(t.Context(), tt.insert)
					if err == nil {
						t.Fatalf("%s succeeded", tt.insert)
					}
					wrapped := fmt.Errorf("store: insert: %w", err)
					if got := sqlerr.IsUniqueViolation(wrapped); got != tt.want {
						t.Errorf("IsUniqueViolation(%v) = %v, want %v", err, got, tt.want)
					}
				})
			}
		})
	}
}

func TestIsUniqueViolation_NotDriverErrors(t *testing.T) {
	for _, err := range []error{
		nil,
		sql.ErrNoRows,
		errors.New("UNIQUE constraint failed: t.u"), // the text alone is not the code
		&pgconn.PgError{Code: "23503"},              // foreign_key_violation
		&mysql.MySQLError{Number: 1452},             // ER_NO_REFERENCED_ROW_2
	} {
		if sqlerr.IsUniqueViolation(err) {
			t.Errorf("IsUniqueViolation(%v) = true, want false", err)
		}
	}
}
