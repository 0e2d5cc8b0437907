package docstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqldialect"
)

// pgLockKey (a PostgreSQL advisory lock) and mysqlLock (a MySQL named lock,
// waited for at most mysqlLockSec) are held while one instance changes the
// document tables, so instances starting together do not race on CREATE
// TABLE.
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
	switch d.sql() {
	case sqldialect.SQLite:
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+t+` (
	id TEXT NOT NULL PRIMARY KEY,
	owner TEXT NOT NULL,
	created INTEGER NOT NULL,
	updated INTEGER NOT NULL,
	etag TEXT NOT NULL,
	data TEXT NOT NULL,
	deleted INTEGER NOT NULL DEFAULT 0,
	version INTEGER NOT NULL DEFAULT 0
)`)
	case sqldialect.Postgres:
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+t+` (
	id TEXT NOT NULL PRIMARY KEY,
	owner TEXT NOT NULL,
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL,
	etag TEXT NOT NULL,
	data JSONB NOT NULL,
	deleted INTEGER NOT NULL DEFAULT 0,
	version INTEGER NOT NULL DEFAULT 0
)`)
		// Tables created before the state columns.
		for _, col := range stateColumns {
			stmts = append(stmts, "ALTER TABLE "+t+" ADD COLUMN IF NOT EXISTS "+col.name+" "+col.postgres)
		}
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
	keep, drop := uniqueKinds(c)
	where := ""
	if c.SoftDelete {
		where = " WHERE deleted = 0"
	}
	for _, u := range c.Unique {
		f, _ := c.field(u)
		stmts = append(stmts, "CREATE UNIQUE INDEX IF NOT EXISTS "+indexName(c, keep, f.Name)+" ON "+t+" (owner, "+d.expr(f)+")"+where,
			"DROP INDEX IF EXISTS "+indexName(c, drop, f.Name))
	}
	stmts = append(stmts, versionDDL(d, c)...)
	return append(stmts, elemDDL(d, c)...)
}

// arraysTable lists, per collection, the array fields whose elements the
// side table holds for every document: Ensure fills a field's elements
// before it adds the field here. Its name cannot clash with a table of a
// collection ("doc_…") or a side table ("docelem_…").
const arraysTable = "docstore_arrays"

// elemDDL returns the idempotent statements creating the table of filled
// array fields and, if c has array fields, c's side table (see elems.go).
// The primary key (id, field, value) keeps one row per distinct element
// and serves the writes, which find a document's rows by its id; the index
// (owner, field, value, id) serves the queries.
func elemDDL(d dialect, c *Collection) []string {
	t := c.elemTable()
	var stmts []string
	switch d.sql() {
	case sqldialect.SQLite:
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+arraysTable+` (
	collection TEXT NOT NULL,
	field TEXT NOT NULL,
	PRIMARY KEY (collection, field)
) WITHOUT ROWID`)
		if len(c.arrayFields()) > 0 {
			stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+t+` (
	id TEXT NOT NULL,
	field TEXT NOT NULL,
	value TEXT NOT NULL,
	owner TEXT NOT NULL,
	PRIMARY KEY (id, field, value)
) WITHOUT ROWID`)
		}
	case sqldialect.Postgres:
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+arraysTable+` (
	collection TEXT NOT NULL,
	field TEXT NOT NULL,
	PRIMARY KEY (collection, field)
)`)
		if len(c.arrayFields()) > 0 {
			// Values compare bytewise, as elemKey expects.
			stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+t+` (
	id TEXT NOT NULL,
	field TEXT NOT NULL,
	value TEXT COLLATE "C" NOT NULL,
	owner TEXT NOT NULL,
	PRIMARY KEY (id, field, value)
)`)
		}
	case sqldialect.MySQL:
		// VARBINARY: utf8mb4_bin pads with spaces when comparing, so "a"
		// and "a " would be one value.
		stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+arraysTable+` (
	collection VARCHAR(32) NOT NULL,
	field VARCHAR(32) NOT NULL,
	PRIMARY KEY (collection, field)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`)
		if len(c.arrayFields()) > 0 {
			stmts = append(stmts, "CREATE TABLE IF NOT EXISTS "+t+` (
	id VARCHAR(32) NOT NULL,
	field VARCHAR(32) NOT NULL,
	value VARBINARY(`+strconv.Itoa(maxInlineKey)+`) NOT NULL,
	owner VARCHAR(191) NOT NULL,
	PRIMARY KEY (id, field, value),
	INDEX `+elemIndex(c)+` (owner, field, value, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`)
		}
		return stmts
	}
	if len(c.arrayFields()) > 0 {
		stmts = append(stmts, "CREATE INDEX IF NOT EXISTS "+elemIndex(c)+" ON "+t+" (owner, field, value, id)")
	}
	return stmts
}

// elemIndex names the index of the side table the queries use.
func elemIndex(c *Collection) string { return c.elemTable() + "_value" }

// querier is what both a transaction and a connection offer to Ensure.
type querier interface {
	execer
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// fillBatch is how many documents the backfill reads at a time.
const fillBatch = 500

// syncElems makes c's side table hold the elements of exactly c's array
// fields, run by Ensure under the schema lock (on SQLite, in a write
// transaction), so that one instance fills a field while the others wait
// and then find it filled. A newly declared array field (or the first,
// when the side table was just created) is filled from every document;
// a field no longer declared as an array loses its rows, as writes stop
// keeping them, and is filled again if declared again. On PostgreSQL and
// SQLite the filling commits with the field's entry in arraysTable; on
// MySQL too (q is a transaction there, the DDL having committed before).
func (s *Store) syncElems(ctx context.Context, q querier, c *Collection) error {
	p := s.d.sql().Placeholder
	rows, err := q.QueryContext(ctx, "SELECT field FROM "+arraysTable+" WHERE collection = "+p(1), c.Name)
	if err != nil {
		return fmt.Errorf("docstore: %s: reading filled array fields: %w", c.Name, err)
	}
	filled := map[string]bool{}
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			rows.Close()
			return fmt.Errorf("docstore: %s: reading filled array fields: %w", c.Name, err)
		}
		filled[f] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("docstore: %s: reading filled array fields: %w", c.Name, err)
	}
	declared := c.arrayFields()
	var fill []string
	for _, f := range declared {
		if !filled[f] {
			fill = append(fill, f)
		}
	}
	exec := func(stmt string, args ...any) error {
		if _, err := q.ExecContext(ctx, stmt, args...); err != nil {
			return fmt.Errorf("docstore: %s: %w", c.Name, err)
		}
		return nil
	}
	for f := range filled {
		if slices.Contains(declared, f) {
			continue
		}
		if err := exec("DELETE FROM "+c.elemTable()+" WHERE field = "+p(1), f); err != nil {
			return err
		}
		if err := exec("DELETE FROM "+arraysTable+" WHERE collection = "+p(1)+" AND field = "+p(2), c.Name, f); err != nil {
			return err
		}
	}
	if len(fill) == 0 {
		return nil
	}
	for _, f := range fill {
		// Rows left by writers of another declaration are dropped first.
		if err := exec("DELETE FROM "+c.elemTable()+" WHERE field = "+p(1), f); err != nil {
			return err
		}
	}
	if err := s.fillElems(ctx, q, c, fill); err != nil {
		return err
	}
	for _, f := range fill {
		if err := exec("INSERT INTO "+arraysTable+" (collection, field) VALUES ("+p(1)+", "+p(2)+")", c.Name, f); err != nil {
			return err
		}
	}
	return nil
}

// fillElems writes the elements of fields of every document of c, reading
// the documents in batches in id order.
func (s *Store) fillElems(ctx context.Context, q querier, c *Collection, fields []string) error {
	p := s.d.sql().Placeholder
	stmt := "SELECT id, owner, data FROM " + c.table() + " WHERE id > " + p(1) + " ORDER BY id LIMIT " + strconv.Itoa(fillBatch)
	after := ""
	for {
		type row struct {
			id, owner string
			data      []byte
		}
		var batch []row
		rows, err := q.QueryContext(ctx, stmt, after)
		if err != nil {
			return fmt.Errorf("docstore: %s: filling array elements: %w", c.Name, err)
		}
		for rows.Next() {
			var r row
			if err := rows.Scan(&r.id, &r.owner, &r.data); err != nil {
				rows.Close()
				return fmt.Errorf("docstore: %s: filling array elements: %w", c.Name, err)
			}
			batch = append(batch, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("docstore: %s: filling array elements: %w", c.Name, err)
		}
		if len(batch) == 0 {
			return nil
		}
		var out []elemRow
		for _, r := range batch {
			es, err := elems(r.data, fields)
			if err != nil {
				return fmt.Errorf("docstore: %s: document %s: %w", c.Name, r.id, err)
			}
			for _, e := range es {
				out = append(out, elemRow{r.id, r.owner, e})
			}
		}
		if err := s.insertElems(ctx, q, c, out, true); err != nil {
			return fmt.Errorf("docstore: %s: %w", c.Name, err)
		}
		after = batch[len(batch)-1].id
	}
}

// ensure creates the table and indexes of c if they are missing.
func (s *Store) ensure(ctx context.Context, c *Collection) error {
	switch s.d.sql() {
	case sqldialect.SQLite:
		// One writer at a time: the statements cannot race. The first
		// creates the table; the state columns are added to a table
		// created without them before the indexes that use them.
		for i, stmt := range ddl(s.d, c) {
			if _, err := s.db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("docstore: %s: %w", c.Name, err)
			}
			if i == 0 {
				if err := addStateColumns(ctx, s.db, c); err != nil {
					return err
				}
			}
		}
		return s.syncElemsTx(ctx, s.db.BeginTx, c)
	case sqldialect.Postgres:
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
		if err := s.syncElems(ctx, tx, c); err != nil {
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("docstore: %s: %w", c.Name, err)
		}
		return nil
	case sqldialect.MySQL:
		return s.ensureMySQL(ctx, c)
	}
	return fmt.Errorf("docstore: unknown dialect %q", s.d.sql().Name())
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
	deleted TINYINT NOT NULL DEFAULT 0,
	version INT NOT NULL DEFAULT 0,
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
	for _, col := range stateColumns {
		if ok, err := has(colQ, col.name); err != nil {
			return err
		} else if !ok {
			if err := exec("ALTER TABLE " + t + " ADD COLUMN " + col.name + " " + col.mysql); err != nil {
				return err
			}
		}
	}
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
	keep, drop := uniqueKinds(c)
	for _, u := range c.Unique {
		f, _ := c.field(u)
		col := s.d.expr(f)
		if c.SoftDelete {
			col = mysqlLiveColumn(f.Name)
			if ok, err := has(colQ, col); err != nil {
				return err
			} else if !ok {
				typ, expr := mysqlColumnParts(f)
				if err := exec("ALTER TABLE " + t + " ADD COLUMN " + col + " " + typ + " AS (CASE WHEN deleted = 0 THEN " + expr + " END) VIRTUAL"); err != nil {
					return err
				}
			}
		}
		name := indexName(c, keep, f.Name)
		if ok, err := has(idxQ, name); err != nil {
			return err
		} else if !ok {
			if err := exec("CREATE UNIQUE INDEX " + name + " ON " + t + " (owner, " + col + ")"); err != nil {
				return err
			}
		}
		name = indexName(c, drop, f.Name)
		if ok, err := has(idxQ, name); err != nil {
			return err
		} else if ok {
			if err := exec("DROP INDEX " + name + " ON " + t); err != nil {
				return err
			}
		}
	}
	for _, stmt := range versionDDL(s.d, c) {
		if err := exec(stmt); err != nil {
			return err
		}
	}
	for _, stmt := range elemDDL(s.d, c) {
		if err := exec(stmt); err != nil {
			return err
		}
	}
	return s.syncElemsTx(ctx, conn.BeginTx, c)
}

// syncElemsTx runs syncElems in a transaction of begin.
func (s *Store) syncElemsTx(ctx context.Context, begin func(context.Context, *sql.TxOptions) (*sql.Tx, error), c *Collection) error {
	tx, err := begin(ctx, nil)
	if err != nil {
		return fmt.Errorf("docstore: %s: %w", c.Name, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if err := s.syncElems(ctx, tx, c); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("docstore: %s: %w", c.Name, err)
	}
	return nil
}
