package storagetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// Default server DSNs when the environment names none.
const (
	DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	DefaultMySQL    = "mysql://root@127.0.0.1:3306/test"
)

// Backend names a database backend and makes a fresh DSN for it.
type Backend struct {
	Name string
	// DSN returns the DSN of a new empty database, removed when t ends. It
	// skips t (or fails it, when the databases are required) if the server
	// does not answer.
	DSN func(t testing.TB) string
}

// Backends lists every supported backend, SQLite first.
func Backends() []Backend {
	return []Backend{
		{Name: "sqlite", DSN: SQLite},
		{Name: "postgres", DSN: Postgres},
		{Name: "mysql", DSN: MySQL},
	}
}

// Required reports whether missing databases fail tests instead of skipping them.
func Required() bool { return os.Getenv("GATEHOUSE_REQUIRE_DBS") == "1" }

// SQLite returns the DSN of a new SQLite database in t's temporary directory.
func SQLite(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "gatehouse.db")
}

// Postgres returns the DSN of a new, empty PostgreSQL database.
func Postgres(t testing.TB) string {
	t.Helper()
	server := envOr("GATEHOUSE_TEST_POSTGRES", DefaultPostgres)
	u, err := url.Parse(server)
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_POSTGRES: %v", err)
	}
	name := "gh_test_" + randomSuffix(t)
	admin := openOrSkip(t, "postgres", "pgx", server)
	exec(t, admin, "CREATE DATABASE "+name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("dropping %s: %v", name, err)
		}
		admin.Close()
	})
	u.Path = "/" + name
	return u.String()
}

// MySQL returns the DSN of a new, empty MySQL/MariaDB database.
func MySQL(t testing.TB) string {
	t.Helper()
	server := envOr("GATEHOUSE_TEST_MYSQL", DefaultMySQL)
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "mysql" {
		t.Fatalf("GATEHOUSE_TEST_MYSQL must be mysql://user:pass@host:port/db, got %q", server)
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	cfg.Addr = u.Host
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	name := "gh_test_" + randomSuffix(t)
	admin := openOrSkip(t, "mysql", "mysql", cfg.FormatDSN())
	exec(t, admin, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Logf("dropping %s: %v", name, err)
		}
		admin.Close()
	})
	u.Path = "/" + name
	return u.String()
}

func openOrSkip(t testing.TB, what, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err != nil {
			db.Close()
		}
	}
	if err != nil {
		msg := fmt.Sprintf("%s is not reachable (%v): set GATEHOUSE_TEST_%s to a server DSN", what, err, strings.ToUpper(what))
		if Required() {
			t.Fatalf("%s; GATEHOUSE_REQUIRE_DBS=1 makes this a failure", msg)
		}
		t.Skipf("skipping: %s", msg)
	}
	return db
}

func exec(t testing.TB, db *sql.DB, stmt string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func randomSuffix(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
