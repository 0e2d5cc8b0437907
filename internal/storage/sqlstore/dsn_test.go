package sqlstore_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

const secret = "s3cr3t-p4ss"

func TestOpenBadDSN(t *testing.T) {
	missingDir := filepath.Join(t.TempDir(), "missing", "gatehouse.db")
	for _, tc := range []struct {
		dsn  string
		want string // a part of the one-line message
	}{
		{"", "no scheme"},
		{"gatehouse.db", "no scheme"},
		{"host=localhost password=" + secret + " dbname=gatehouse", "no scheme"},
		{"redis://localhost:6379/0", `unsupported scheme "redis"`},
		{"sqlite:", "needs a file path"},
		{"sqlite::memory:", "in-memory SQLite is not supported"},
		{"sqlite:gatehouse.db?mode=ro", "must not contain ?"},
		{"sqlite:" + missingDir, "does not exist"},
		{"postgres://gh:" + secret + "@db.example:port/gatehouse", "malformed URL"},
		{"postgres://gh:" + secret + "@127.0.0.1:5432/gatehouse?sslmode=sometimes", "sslmode"},
		{"postgresql://gh:" + secret + "@[::1/gatehouse", "malformed URL"},
		{"mysql://gh:" + secret + "@/gatehouse", "needs a host"},
		{"mysql://gh:" + secret + "@127.0.0.1:3306", "needs a database name"},
		{"mysql://gh:" + secret + "@127.0.0.1:3306/", "needs a database name"},
		{"mysql://:" + secret + "@127.0.0.1:3306/gatehouse", "needs a user"},
		{"mysql://gh:" + secret + "@127.0.0.1:3306/gatehouse?timeout=soon", "mysql parameters"},
		{"mysql:gh:" + secret + "@tcp(127.0.0.1:3306)/gatehouse", "malformed URL"},
	} {
		t.Run(tc.dsn, func(t *testing.T) {
			s, err := sqlstore.Open(context.Background(), tc.dsn, sqlstore.Options{ConnectTimeout: time.Second})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			checkMessage(t, err, tc.want)
		})
	}
}

// TestOpenUnreachable: a server that does not answer gives one clear line,
// quickly, wrapping storage.ErrUnavailable.
func TestOpenUnreachable(t *testing.T) {
	// A local port nothing listens on.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://gh:" + secret + "@" + addr + "/gatehouse?sslmode=disable", "cannot connect to postgres at " + addr + ": "},
		{"mysql://gh:" + secret + "@" + addr + "/gatehouse", "cannot connect to mysql at " + addr + ": "},
	} {
		t.Run(tc.dsn, func(t *testing.T) {
			start := time.Now()
			s, err := sqlstore.Open(context.Background(), tc.dsn, sqlstore.Options{ConnectTimeout: 2 * time.Second})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Open took %v to give up", took)
			}
			checkMessage(t, err, tc.want)
			if !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("error does not wrap storage.ErrUnavailable: %v", err)
			}
			if !strings.Contains(err.Error(), "refused") {
				t.Errorf("error %q does not give the reason", err)
			}
		})
	}
}

func checkMessage(t *testing.T, err error, want string) {
	t.Helper()
	msg := err.Error()
	t.Log(msg)
	if !strings.Contains(msg, want) {
		t.Errorf("error %q does not contain %q", msg, want)
	}
	if strings.Contains(msg, secret) {
		t.Errorf("error %q contains the password", msg)
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error %q is not one line", msg)
	}
}
