package docstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqldialect"
)

// Soft delete and versioning (Eve's soft_delete and versioning).
//
// Every collection table has two state columns: deleted (0 or 1) and
// version (0 in unversioned collections and for documents written before
// the collection was versioned). A versioned collection has a versions
// table, "docver_<name>", holding one row per written state of each
// document (id, version, owner, created, updated, etag, deleted, data),
// written in the transaction of the write; its name cannot clash with a
// collection's table ("doc_…") or side table ("docelem_…").

// NextVersion is the version a write gives a document stored at version v
// (0: written before versioning, which counts as version 1).
func NextVersion(v int) int { return max(v, 1) + 1 }

func (c *Collection) versionTable() string { return "docver_" + c.Name }

// versionDDL returns the idempotent statement creating c's versions table,
// if c is versioned.
func versionDDL(d dialect, c *Collection) []string {
	if !c.Versioning {
		return nil
	}
	t := c.versionTable()
	switch d.sql() {
	case sqldialect.SQLite:
		return []string{"CREATE TABLE IF NOT EXISTS " + t + ` (
	id TEXT NOT NULL,
	version INTEGER NOT NULL,
	owner TEXT NOT NULL,
	created INTEGER NOT NULL,
	updated INTEGER NOT NULL,
	etag TEXT NOT NULL,
	deleted INTEGER NOT NULL,
	data TEXT NOT NULL,
	PRIMARY KEY (id, version)
)`}
	case sqldialect.Postgres:
		return []string{"CREATE TABLE IF NOT EXISTS " + t + ` (
	id TEXT NOT NULL,
	version INTEGER NOT NULL,
	owner TEXT NOT NULL,
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL,
	etag TEXT NOT NULL,
	deleted INTEGER NOT NULL,
	data TEXT NOT NULL,
	PRIMARY KEY (id, version)
)`}
	case sqldialect.MySQL:
		return []string{"CREATE TABLE IF NOT EXISTS " + t + ` (
	id VARCHAR(32) NOT NULL,
	version INT NOT NULL,
	owner VARCHAR(191) NOT NULL,
	created BIGINT NOT NULL,
	updated BIGINT NOT NULL,
	etag VARCHAR(64) NOT NULL,
	deleted TINYINT NOT NULL,
	data LONGTEXT NOT NULL,
	PRIMARY KEY (id, version)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`}
	}
	return nil
}

// stateColumns are the columns every collection table has beyond the
// first ones, with their definitions, added to tables created without
// them.
var stateColumns = []struct{ name, sqlite, postgres, mysql string }{
	{"deleted", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0", "TINYINT NOT NULL DEFAULT 0"},
	{"version", "INTEGER NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0", "INT NOT NULL DEFAULT 0"},
}

// addStateColumns adds the state columns a table of c lacks (SQLite has no
// ADD COLUMN IF NOT EXISTS).
func addStateColumns(ctx context.Context, q execer, c *Collection) error {
	for _, col := range stateColumns {
		var n int
		if err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM pragma_table_info('"+c.table()+"') WHERE name = ?", col.name).Scan(&n); err != nil {
			return fmt.Errorf("docstore: %s: %w", c.Name, err)
		}
		if n > 0 {
			continue
		}
		if _, err := q.ExecContext(ctx, "ALTER TABLE "+c.table()+" ADD COLUMN "+col.name+" "+col.sqlite); err != nil {
			return fmt.Errorf("docstore: %s: %w", c.Name, err)
		}
	}
	return nil
}

// uniqueKinds are the index kinds of a unique field's index: "u" over
// every document, or "l" over the live ones of a soft-delete collection;
// the other one is dropped.
func uniqueKinds(c *Collection) (keep, drop string) {
	if c.SoftDelete {
		return "l", "u"
	}
	return "u", "l"
}

// mysqlLiveColumn is the generated column a unique index of a soft-delete
// collection is on in MySQL/MariaDB (which have no partial indexes): the
// field's value, NULL (never a duplicate) for a deleted document.
func mysqlLiveColumn(f string) string { return "l_" + f }

// insertVersion copies d, at d.Version, to c's versions table.
func (s *Store) insertVersion(ctx context.Context, db execer, c *Collection, d Document) error {
	p := s.d.sql().Placeholder
	q := "INSERT INTO " + c.versionTable() + " (id, version, owner, created, updated, etag, deleted, data) VALUES (" +
		p(1) + ", " + p(2) + ", " + p(3) + ", " + p(4) + ", " + p(5) + ", " + p(6) + ", " + p(7) + ", " + p(8) + ")"
	if _, err := db.ExecContext(ctx, q, d.ID, d.Version, d.Owner, d.Created.UnixMicro(), d.Updated.UnixMicro(), d.ETag,
		boolInt(d.Deleted), string(d.Data)); err != nil {
		return s.wrap("insert version", err)
	}
	return nil
}

// deleteVersions removes the versions of the owner's document id.
func (s *Store) deleteVersions(ctx context.Context, db execer, c *Collection, id, owner string) error {
	q := "DELETE FROM " + c.versionTable() + " WHERE id = " + s.d.sql().Placeholder(1) + " AND owner = " + s.d.sql().Placeholder(2)
	if _, err := db.ExecContext(ctx, q, id, owner); err != nil {
		return s.wrap("delete versions", err)
	}
	return nil
}

// versioned returns the collection named name if it is versioned.
func (s *Store) versioned(name string) (*Collection, error) {
	c, err := s.collection(name)
	if err != nil {
		return nil, err
	}
	if !c.Versioning {
		return nil, fmt.Errorf("docstore: collection %q is not versioned", name)
	}
	return c, nil
}

// GetVersion returns version v of the owner's document id, or
// storage.ErrNotFound (also when the document is someone else's). A
// document written before versioning has no stored versions: its state is
// its version 1 (see Get).
func (s *Store) GetVersion(ctx context.Context, collection, owner, id string, v int) (Document, error) {
	c, err := s.versioned(collection)
	if err != nil {
		return Document{}, err
	}
	p := s.d.sql().Placeholder
	q := "SELECT " + docColumns + " FROM " + c.versionTable() + " WHERE id = " + p(1) + " AND version = " + p(2) + " AND owner = " + p(3)
	d, err := scanDoc(s.queryRow(ctx, s.stmts, q, id, v, owner))
	if errors.Is(err, sql.ErrNoRows) {
		return Document{}, storage.ErrNotFound
	}
	if err != nil {
		return Document{}, s.wrap("get version", err)
	}
	return d, nil
}

// FindVersions returns the stored versions of the owner's document id in
// version order, at most limit (0: all) from offset.
func (s *Store) FindVersions(ctx context.Context, collection, owner, id string, limit, offset int) ([]Document, error) {
	c, err := s.versioned(collection)
	if err != nil {
		return nil, err
	}
	if limit < 0 || offset < 0 {
		return nil, fmt.Errorf("docstore: negative limit or offset")
	}
	if limit == 0 {
		limit = 1<<31 - 1
	}
	p := s.d.sql().Placeholder
	q := "SELECT " + docColumns + " FROM " + c.versionTable() + " WHERE id = " + p(1) + " AND owner = " + p(2) +
		" ORDER BY version LIMIT " + p(3) + " OFFSET " + p(4)
	rows, err := s.query(ctx, s.stmts, q, id, owner, int64(limit), int64(offset))
	if err != nil {
		return nil, s.wrap("find versions", err)
	}
	defer rows.Close()
	var out []Document
	for rows.Next() {
		d, err := scanDoc(rows)
		if err != nil {
			return nil, s.wrap("find versions", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("find versions", err)
	}
	return out, nil
}

// CountVersions returns how many versions of the owner's document id are
// stored.
func (s *Store) CountVersions(ctx context.Context, collection, owner, id string) (int, error) {
	c, err := s.versioned(collection)
	if err != nil {
		return 0, err
	}
	q := "SELECT COUNT(*) FROM " + c.versionTable() + " WHERE id = " + s.d.sql().Placeholder(1) + " AND owner = " + s.d.sql().Placeholder(2)
	var n int
	if err := s.queryRow(ctx, s.stmts, q, id, owner).Scan(&n); err != nil {
		return 0, s.wrap("count versions", err)
	}
	return n, nil
}
