package sqlstore

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

// target is a parsed DSN: which database, and how to reach it.
type target struct {
	dialect dialect
	// addr names the database in messages: a file path or host:port.
	addr string
	// secret is the password in the DSN, scrubbed from every message.
	secret string

	sqlitePath string          // SQLite
	pg         *pgx.ConnConfig // PostgreSQL
	my         *mysql.Config   // MySQL
}

// dsnError is a DSN that cannot be used. Its message never contains the
// password.
type dsnError struct{ msg string }

func (e *dsnError) Error() string { return "invalid database DSN: " + e.msg }

func badDSN(format string, args ...any) error {
	return &dsnError{msg: fmt.Sprintf(format, args...)}
}

// parseDSN understands sqlite:PATH, postgres://…, postgresql://… and
// mysql://user:pass@host:port/db?params.
func parseDSN(dsn string, connectTimeout time.Duration) (*target, error) {
	scheme, rest, ok := strings.Cut(dsn, ":")
	if !ok || scheme == "" {
		// Not echoed: a key=value DSN would show its password.
		return nil, badDSN("no scheme (want sqlite:PATH, postgres://…, or mysql://…)")
	}
	switch strings.ToLower(scheme) {
	case "sqlite", "sqlite3":
		return parseSQLite(rest)
	case "postgres", "postgresql":
		return parsePostgres(dsn, connectTimeout)
	case "mysql", "mariadb":
		return parseMySQL(dsn, connectTimeout)
	}
	return nil, badDSN("unsupported scheme %q (want sqlite:PATH, postgres://…, postgresql://…, or mysql://…)", scheme)
}

func parseSQLite(path string) (*target, error) {
	// Accept sqlite:///abs/path and sqlite://rel/path as well as sqlite:PATH.
	path = strings.TrimPrefix(path, "//")
	switch {
	case path == "":
		return nil, badDSN("sqlite: needs a file path, as in sqlite:./gatehouse-data/gatehouse.db")
	case path == ":memory:" || strings.Contains(path, "mode=memory"):
		return nil, badDSN("in-memory SQLite is not supported: give a file path")
	case strings.ContainsAny(path, "?#"):
		return nil, badDSN("sqlite path %q must not contain ? or #", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, badDSN("sqlite path %q: %v", path, err)
	}
	return &target{dialect: dialectSQLite, addr: abs, sqlitePath: abs}, nil
}

func parsePostgres(dsn string, connectTimeout time.Duration) (*target, error) {
	u, err := parseURL(dsn)
	if err != nil {
		return nil, err
	}
	secret, _ := u.User.Password()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, badDSN("%s", scrub(oneLine(unwrapAll(err).Error()), secret))
	}
	if cfg.ConnectTimeout == 0 || cfg.ConnectTimeout > connectTimeout {
		cfg.ConnectTimeout = connectTimeout
	}
	return &target{
		dialect: dialectPostgres,
		addr:    net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port)),
		secret:  secret,
		pg:      cfg,
	}, nil
}

func parseMySQL(dsn string, connectTimeout time.Duration) (*target, error) {
	u, err := parseURL(dsn)
	if err != nil {
		return nil, err
	}
	secret, _ := u.User.Password()
	// Let the driver parse and validate the parameters (tls, timeouts,
	// system variables, …) the way it documents them.
	cfg, err := mysql.ParseDSN("/?" + u.RawQuery)
	if err != nil {
		return nil, badDSN("mysql parameters: %s", scrub(oneLine(err.Error()), secret))
	}
	if u.User == nil || u.User.Username() == "" {
		return nil, badDSN("mysql DSN needs a user, as in mysql://user:password@host:3306/gatehouse")
	}
	db := strings.TrimPrefix(u.Path, "/")
	if db == "" || strings.Contains(db, "/") {
		return nil, badDSN("mysql DSN needs a database name, as in mysql://user:password@host:3306/gatehouse")
	}
	host := u.Hostname()
	if host == "" {
		return nil, badDSN("mysql DSN needs a host, as in mysql://user:password@host:3306/gatehouse")
	}
	port := u.Port()
	if port == "" {
		port = "3306"
	}
	cfg.User = u.User.Username()
	cfg.Passwd = secret
	cfg.Net = "tcp"
	cfg.Addr = net.JoinHostPort(host, port)
	cfg.DBName = db
	// What the store relies on: UTC sessions (for the scs session table's
	// TIMESTAMP column), and UPDATE counting matched rather than changed
	// rows, so "no such record" is told apart from "nothing changed".
	cfg.Loc = time.UTC
	cfg.ClientFoundRows = true
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	cfg.Params["time_zone"] = "'+00:00'"
	if cfg.Timeout == 0 || cfg.Timeout > connectTimeout {
		cfg.Timeout = connectTimeout
	}
	return &target{dialect: dialectMySQL, addr: cfg.Addr, secret: secret, my: cfg}, nil
}

// parseURL parses a URL DSN without ever echoing its password.
func parseURL(dsn string) (*url.URL, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, badDSN("malformed URL %q: %v", redactDSN(dsn), err)
	}
	if u.Opaque != "" {
		// Not echoed: the password is not where redactDSN looks for it.
		return nil, badDSN("malformed URL: want %s://user:password@host:port/database", u.Scheme)
	}
	return u, nil
}

// redactDSN hides the password in a DSN of the form scheme://user:pass@host…,
// even one too malformed for net/url.
func redactDSN(dsn string) string {
	i := strings.Index(dsn, "://")
	if i < 0 {
		return dsn
	}
	rest := dsn[i+3:]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	at := strings.LastIndex(rest[:end], "@")
	if at < 0 {
		// The password may itself contain '/', '?' or '#'.
		at = strings.LastIndex(rest, "@")
		if at < 0 {
			return dsn
		}
	}
	colon := strings.Index(rest[:at], ":")
	if colon < 0 {
		return dsn
	}
	return dsn[:i+3] + rest[:colon] + ":xxxxx" + rest[at:]
}

// scrub removes secret (and its URL-escaped form) from msg.
func scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	msg = strings.ReplaceAll(msg, secret, "xxxxx")
	if esc := url.QueryEscape(secret); esc != secret {
		msg = strings.ReplaceAll(msg, esc, "xxxxx")
	}
	if esc := url.PathEscape(secret); esc != secret {
		msg = strings.ReplaceAll(msg, esc, "xxxxx")
	}
	return msg
}

// oneLine collapses runs of white space, so a message stays on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// unwrapAll returns the innermost error of a chain of single wraps.
func unwrapAll(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// checkDir reports a missing parent directory of a SQLite file clearly.
func checkDir(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("cannot open sqlite database %s: directory %s does not exist", path, dir)
	case err != nil:
		return fmt.Errorf("cannot open sqlite database %s: %v", path, err)
	case !fi.IsDir():
		return fmt.Errorf("cannot open sqlite database %s: %s is not a directory", path, dir)
	}
	return nil
}
