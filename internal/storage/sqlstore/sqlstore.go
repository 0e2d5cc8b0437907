package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/groupcommit"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlerr"
	"github.com/gatehouse-dev/gatehouse/internal/storage/stmtcache"
)

// Options tune the connection pools. The zero value works.
type Options struct {
	// MaxOpenConns bounds the connections to PostgreSQL or MySQL (default
	// DefaultMaxOpenConns; at least 2, as migrating holds one connection
	// for the lock). On SQLite it bounds the read pool (the same default);
	// writes always use one connection.
	MaxOpenConns int
	// MaxIdleConns bounds idle connections (default: MaxOpenConns).
	MaxIdleConns int
	// SQLiteCacheKiB is SQLite's page cache in KiB for all the connections
	// together (default DefaultSQLiteCacheKiB): each connection keeps a
	// cache of its own; half goes to the writer, the readers share the
	// other half.
	SQLiteCacheKiB int
	// ConnMaxLifetime closes connections after this long (default 30
	// minutes), so a fail-over or load balancer change is picked up.
	ConnMaxLifetime time.Duration
	// ConnectTimeout bounds establishing one connection (default 10s).
	ConnectTimeout time.Duration
	// Migrate applies pending migrations at Open.
	Migrate bool
}

// Defaults of Options, which the command line's flags use as theirs.
const (
	// DefaultMaxOpenConns is the default of Options.MaxOpenConns.
	DefaultMaxOpenConns = 20
	// DefaultSQLiteCacheKiB is the default of Options.SQLiteCacheKiB.
	// SQLite's own default, 2 MiB per connection, grows with the read pool
	// (42 MiB with DefaultMaxOpenConns readers) and would dominate the
	// server's memory under the API's load; the file's pages stay in the
	// operating system's cache either way.
	DefaultSQLiteCacheKiB = 8 << 10
)

const (
	minSQLiteConnCacheKiB   = 64
	defaultConnMaxLifetime  = 30 * time.Minute
	defaultConnMaxIdleTime  = 5 * time.Minute
	defaultConnectTimeout   = 10 * time.Second
	sqliteBusyTimeoutMillis = 10000
	maxOpenConnsLimit       = 1000
)

func (o Options) withDefaults(d dialect) Options {
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = DefaultMaxOpenConns
	}
	if o.MaxOpenConns > maxOpenConnsLimit {
		o.MaxOpenConns = maxOpenConnsLimit
	}
	if d != dialectSQLite && o.MaxOpenConns < 2 {
		o.MaxOpenConns = 2
	}
	if o.MaxIdleConns <= 0 || o.MaxIdleConns > o.MaxOpenConns {
		o.MaxIdleConns = o.MaxOpenConns
	}
	if o.SQLiteCacheKiB <= 0 {
		o.SQLiteCacheKiB = DefaultSQLiteCacheKiB
	}
	if o.ConnMaxLifetime <= 0 {
		o.ConnMaxLifetime = defaultConnMaxLifetime
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = defaultConnectTimeout
	}
	return o
}

// Store is a storage.Store on a SQL database.
type Store struct {
	d   dialect
	db  *sql.DB // read-write pool; on SQLite, one connection
	rdb *sql.DB // read pool; the same as db except on SQLite
	t   *target
	// gc runs the writes on SQLite in shared transactions (nil elsewhere):
	// its one writer connection would otherwise commit them one by one.
	gc *groupcommit.Writer
	// stmts holds prepared statements on db, rstmts on rdb (the same cache
	// when they are the same pool).
	stmts, rstmts *stmtcache.Cache
}

var _ storage.Store = (*Store)(nil)

// Open connects to the database named by dsn — sqlite:PATH, postgres://…
// (or postgresql://…), or mysql://user:pass@host:port/db?params — checks that
// it answers and that its schema is not newer than this binary knows, and
// applies migrations when opts.Migrate is set.
//
// Errors are one line naming the problem, never containing the password; one
// caused by an unreachable database wraps storage.ErrUnavailable.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	connectTimeout := opts.ConnectTimeout
	if connectTimeout <= 0 {
		connectTimeout = defaultConnectTimeout
	}
	t, err := parseDSN(dsn, connectTimeout)
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults(t.dialect)
	s := &Store{d: t.dialect, t: t}
	switch t.dialect {
	case dialectSQLite:
		if err := checkDir(t.sqlitePath); err != nil {
			return nil, err
		}
		s.db, s.rdb = openSQLite(t.sqlitePath, opts)
		s.gc = groupcommit.New(s.db, 0)
	case dialectPostgres:
		s.db = stdlib.OpenDB(*t.pg)
		s.rdb = s.db
	case dialectMySQL:
		conn, err := mysql.NewConnector(t.my)
		if err != nil {
			return nil, badDSN("mysql: %s", scrub(oneLine(err.Error()), t.secret))
		}
		s.db = sql.OpenDB(conn)
		s.rdb = s.db
	}
	s.stmts, s.rstmts = stmtcache.New(s.db, 0), stmtcache.New(s.rdb, 0)
	if s.rdb == s.db {
		s.rstmts = s.stmts
	}
	if t.dialect != dialectSQLite {
		s.db.SetMaxOpenConns(opts.MaxOpenConns)
		s.db.SetMaxIdleConns(opts.MaxIdleConns)
		s.db.SetConnMaxLifetime(opts.ConnMaxLifetime)
		s.db.SetConnMaxIdleTime(defaultConnMaxIdleTime)
	}

	pingCtx, cancel := context.WithTimeout(ctx, opts.ConnectTimeout)
	err = s.pingAtOpen(pingCtx)
	cancel()
	if err == nil {
		if opts.Migrate {
			err = s.Migrate(ctx)
		} else {
			err = s.checkSchema(ctx)
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openSQLite opens the two pools on one SQLite file. Every connection gets
// a busy timeout, foreign keys and its share of the page cache; the writer
// also WAL mode (which is persistent) and BEGIN IMMEDIATE, so a transaction
// that will write takes the write lock at its start instead of failing to
// upgrade later.
func openSQLite(path string, opts Options) (db, rdb *sql.DB) {
	common := url.Values{}
	common.Set("_busy_timeout", fmt.Sprint(sqliteBusyTimeoutMillis))
	common.Set("_foreign_keys", "1")
	common.Set("_synchronous", "NORMAL")
	// A negative cache_size is in KiB. Every connection fills its own
	// cache up to its limit, so the total is what bounds memory. Half goes
	// to the one writer: a shared commit dirties index pages all over the
	// file, and a writer whose cache cannot hold them spills them to the
	// WAL and reads them back; the readers share the other half.
	writerKiB := max(opts.SQLiteCacheKiB/2, minSQLiteConnCacheKiB)
	readerKiB := max(opts.SQLiteCacheKiB/2/opts.MaxOpenConns, minSQLiteConnCacheKiB)

	w := url.Values{}
	for k, v := range common {
		w[k] = v
	}
	w.Add("_pragma", fmt.Sprintf("cache_size(-%d)", writerKiB))
	w.Set("_journal_mode", "WAL")
	w.Set("_txlock", "immediate")
	db, _ = sql.Open("sqlite", path+"?"+w.Encode()) // sql.Open only validates the driver name
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)

	r := url.Values{}
	for k, v := range common {
		r[k] = v
	}
	r.Add("_pragma", fmt.Sprintf("cache_size(-%d)", readerKiB))
	r.Set("_query_only", "1")
	rdb, _ = sql.Open("sqlite", path+"?"+r.Encode())
	rdb.SetMaxOpenConns(opts.MaxOpenConns)
	rdb.SetMaxIdleConns(opts.MaxIdleConns)
	rdb.SetConnMaxLifetime(opts.ConnMaxLifetime)
	return db, rdb
}

// DB returns the read-write pool, for other stores sharing the database (the
// web app's scs session store). On SQLite it has one connection: never hold a
// transaction on it while waiting for another.
func (s *Store) DB() *sql.DB { return s.db }

// ReadDB returns the pool for reads: on SQLite a separate pool of read-only
// connections, elsewhere the same as DB.
func (s *Store) ReadDB() *sql.DB { return s.rdb }

// Dialect returns "sqlite", "postgres" or "mysql".
func (s *Store) Dialect() string { return s.d.Name() }

// Ping reports whether the database answers; a failure wraps
// storage.ErrUnavailable.
func (s *Store) Ping(ctx context.Context) error { return s.ping(ctx) }

// pingAtOpen pings, and on SQLite tries again while the file is busy: a
// connection's first statements (switching to WAL, reading the WAL index
// another process is creating) can meet SQLITE_BUSY without the busy
// timeout applying, when several processes open a new database at once.
func (s *Store) pingAtOpen(ctx context.Context) error {
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := s.ping(ctx)
		if s.d != dialectSQLite || !sqlerr.IsBusy(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

func (s *Store) ping(ctx context.Context) error {
	err := s.db.PingContext(ctx)
	if err == nil && s.rdb != s.db {
		err = s.rdb.PingContext(ctx)
	}
	if err != nil {
		return s.connectError(ctx, err)
	}
	return nil
}

// Close commits the writes already handed over and closes the pools.
func (s *Store) Close() error {
	if s.gc != nil {
		_ = s.gc.Close() // always nil
	}
	err := errors.Join(s.stmts.Close(), s.rstmts.Close())
	err = errors.Join(err, s.db.Close())
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// connectError is a failure to reach the database, as one line naming the
// database and the reason, without the password.
type connectError struct {
	msg string
	err error
}

func (e *connectError) Error() string { return e.msg }

func (e *connectError) Unwrap() []error { return []error{storage.ErrUnavailable, e.err} }

func (s *Store) connectError(ctx context.Context, err error) error {
	verb := "cannot connect to " + s.d.Name() + " at "
	if s.d == dialectSQLite {
		verb = "cannot open sqlite database "
	}
	return &connectError{
		msg: verb + s.t.addr + ": " + scrub(oneLine(reason(ctx, err)), s.t.secret),
		err: err,
	}
}

// reason is the part of a connection error a person acts on.
func reason(ctx context.Context, err error) string {
	var pgErr *pgconn.PgError
	var myErr *mysql.MySQLError
	var liteErr *sqlite.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	switch {
	case errors.As(err, &pgErr):
		return pgErr.Message
	case errors.As(err, &myErr):
		return myErr.Message
	case errors.As(err, &liteErr):
		return liteErr.Error()
	case errors.As(err, &dnsErr):
		return "cannot resolve host " + dnsErr.Name + ": " + dnsErr.Err
	case errors.As(err, &opErr) && opErr.Timeout(), errors.Is(err, context.DeadlineExceeded),
		ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "timed out"
	case errors.As(err, &opErr):
		return unwrapAll(opErr).Error()
	}
	return err.Error()
}
