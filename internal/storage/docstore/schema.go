package docstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
)

// lockKey is the PostgreSQL advisory lock and the MySQL named lock held while
// one instance changes the document tables, so instances starting together do
// not race on CREATE TABLE.
const (
	pgLockKey    = 0x67617465646f6373 // "gatedocs"
	mysqlLock    = "gatehouse_docstore_ddl"
	mysqlLockSec = 60
)

// indexName names an index; the field or index name is at most 32 bytes and
// the collection name 24, so this stays under 63.
func indexName(c *Collection, kind, field string) string {
	return c.table() + "_" + kind + "_" + field
}

// indexColumns renders the columns of an index on (owner, keys…, id). Each
// key is rendered by the dialect's orderBy, exactly as a query sorting on it
// does (expression, direction, and on PostgreSQL the NULLS placement), and
// the id goes in the direction of the last key, as the query's tie-breaker:
// so a query with equality on the first keys and a sort on the next ones
// reads the index in order (forwards, or backwards for the opposite
// directions) and stops after one page. The keys were validated.
func indexColumns(d dialect, c *Collection, keys []IndexKey) string {
	cols := make([]string, 0, len(keys)+2)
	cols = append(cols, "owner")
	last := false
	for _, k := range keys {
		switch k.Field {
		case docquery.FieldCreated:
			cols = append(cols, d.orderBy("created", k.Desc, false))
		case docquery.FieldUpdated:
			cols = append(cols, d.orderBy("updated", k.Desc, false))
		default:
			f, _ := c.field(k.Field)
			cols = append(cols, d.orderBy(d.expr(f), k.Desc, true))
		}
		last = k.Desc
	}
	return strings.Join(append(cols, d.orderBy("id", last, false)), ", ")
}

// ddl returns the idempotent statements creating c's table and indexes on
// SQLite and PostgreSQL.
func ddl(d dialect, c *Collection) []string {
	t := c.table()
	var stmts []string
	switch d.name() {
	case "sqlite":
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+t+` (
	id TEXT NOT NULL PRIMARY KEY,
	owner TEXT NOT NULL,
	created INTEGER NOT NULL,
	updated INTEGER NOT NULL,
	etag TEXT NOT NULL,
	data TEXT NOT NULL
)`)
	case "postgres":
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+t+` (
	id TEXT NOT NULL PRIMARY KEY,
	owner TEXT NOT NULL,
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL,
	etag TEXT NOT NULL,
	data JSONB NOT NULL
)`)
	}
	for _, m := range []string{"created", "updated"} {
		stmts = append(stmts, "CREATE INDEX IF NOT EXISTS "+indexName(c, "m", m)+" ON "+t+" (owner, "+m+", id)")
	}
	for _, f := range c.Fields {
		if f.Indexed && f.Type != docquery.Array {
			stmts = append(stmts, "CREATE INDEX IF NOT EXISTS "+indexName(c, "f", f.Name)+" ON "+t+" ("+indexColumns(d, c, []IndexKey{{Field: f.Name}})+")")
		}
	}
	for _, ix := range c.Indexes {
		stmts = append(stmts, "CREATE INDEX IF NOT EXISTS "+indexName(c, "c", ix.Name)+" ON "+t+" ("+indexColumns(d, c, ix.Keys)+")")
	}
	for _, u := range c.Unique {
		f, _ := c.field(u)
		stmts = append(stmts, "CREATE UNIQUE INDEX IF NOT EXISTS "+indexName(c, "u", f.Name)+" ON "+t+" (owner, "+d.expr(f)+")")
	}
	return stmts
}

// ensure creates the table and indexes of c if they are missing.
func (s *Store) ensure(ctx context.Context, c *Collection) error {
	switch s.d.name() {
	case "sqlite":
		// One writer at a time: the statements cannot race.
		for _, stmt := range ddl(s.d, c) {
			if _, err := s.db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("docstore: %s: %w", c.Name, err)
			}
		}
		return nil
	case "postgres":
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("docstore: %s: %w", c.Name, err)
		}
		defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(pgLockKey)); err != nil {
			return fmt.Errorf("docstore: %s: taking the schema lock: %w", c.Name, err)
		}
		for _, stmt := range ddl(s.d, c) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("docstore: %s: %w", c.Name, err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("docstore: %s: %w", c.Name, err)
		}
		return nil
	case "mysql":
		return s.ensureMySQL(ctx, c)
	}
	return fmt.Errorf("docstore: unknown dialect %q", s.d.name())
}

// ensureMySQL works on MySQL 8 as on MariaDB, which lack (respectively) ADD
// COLUMN IF NOT EXISTS and functional indexes: it looks the columns and
// indexes up in information_schema, under a named lock.
func (s *Store) ensureMySQL(ctx context.Context, c *Collection) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("docstore: %s: %w", c.Name, err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", mysqlLock, mysqlLockSec).Scan(&got); err != nil {
		return fmt.Errorf("docstore: %s: taking the schema lock: %w", c.Name, err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("docstore: %s: timed out waiting for the schema lock", c.Name)
	}
	defer func() {
		if _, rerr := conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK(?)", mysqlLock); rerr != nil && err == nil {
			err = fmt.Errorf("docstore: %s: releasing the schema lock: %w", c.Name, rerr)
		}
	}()
	t := c.table()
	exec := func(stmt string) error {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("docstore: %s: %w", c.Name, err)
		}
		return nil
	}
	if err := exec("CREATE TABLE IF NOT EXISTS " + t + ` (
	id VARCHAR(32) NOT NULL PRIMARY KEY,
	owner VARCHAR(191) NOT NULL,
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL,
	etag VARCHAR(64) NOT NULL,
	data LONGTEXT NOT NULL,
	INDEX ` + indexName(c, "m", "created") + ` (owner, created, id),
	INDEX ` + indexName(c, "m", "updated") + ` (owner, updated, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`); err != nil {
		return err
	}
	has := func(q, name string) (bool, error) {
		var n int
		if err := conn.QueryRowContext(ctx, q, t, name).Scan(&n); err != nil {
			return false, fmt.Errorf("docstore: %s: %w", c.Name, err)
		}
		return n > 0, nil
	}
	const colQ = "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?"
	const idxQ = "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ?"
	for _, f := range c.Fields {
		if f.Type == docquery.Array {
			continue
		}
		col := s.d.expr(f)
		ok, err := has(colQ, col)
		if err != nil {
			return err
		}
		if !ok {
			if err := exec("ALTER TABLE " + t + " ADD COLUMN " + col + " " + mysqlColumn(f)); err != nil {
				return err
			}
		}
		if f.Indexed {
			name := indexName(c, "f", f.Name)
			if ok, err := has(idxQ, name); err != nil {
				return err
			} else if !ok {
				if err := exec("CREATE INDEX " + name + " ON " + t + " (" + indexColumns(s.d, c, []IndexKey{{Field: f.Name}}) + ")"); err != nil {
					return err
				}
			}
		}
	}
	for _, ix := range c.Indexes {
		name := indexName(c, "c", ix.Name)
		if ok, err := has(idxQ, name); err != nil {
			return err
		} else if !ok {
			if err := exec("CREATE INDEX " + name + " ON " + t + " (" + indexColumns(s.d, c, ix.Keys) + ")"); err != nil {
				return err
			}
		}
	}
	for _, u := range c.Unique {
		f, _ := c.field(u)
		name := indexName(c, "u", f.Name)
		if ok, err := has(idxQ, name); err != nil {
			return err
		} else if !ok {
			if err := exec("CREATE UNIQUE INDEX " + name + " ON " + t + " (owner, " + s.d.expr(f) + ")"); err != nil {
				return err
			}
		}
	}
	return nil
}
