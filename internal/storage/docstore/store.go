package docstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqldialect"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlerr"
	"github.com/gatehouse-dev/gatehouse/internal/storage/stmtcache"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
)

// Document is one stored document.
type Document struct {
	ID      string
	Owner   string // "" for collections without owners
	Created time.Time
	Updated time.Time
	ETag    string
	// Data is the document's fields as a JSON object, without meta fields.
	Data json.RawMessage
	// Deleted is set on a soft-deleted document (Collection.SoftDelete).
	Deleted bool
	// Version is the document's version in a versioned collection: 1 when
	// inserted, one more at each Replace; 0 for a document written before
	// the collection was versioned (and in unversioned collections).
	Version int
}

// Store keeps documents in one database.
type Store struct {
	db, read *sql.DB
	tx       TxRunner // nil: writes run on db
	d        dialect
	// stmts prepares the fixed reads on read (Get): SQLite parses a query
	// in the process, a large share of an item GET's CPU if done each time.
	// queries prepares the first queryShapes texts of Find and Count, whose
	// text follows the request's filter and sort (values are arguments):
	// clients send a few shapes again and again, and a bound keeps
	// arbitrary ones from filling memory. Both are closed with the pool.
	stmts, queries *stmtcache.Cache

	mu    sync.RWMutex
	colls map[string]*Collection
}

// TxRunner runs fn in a write transaction. sqlstore.Store is one: on SQLite
// it shares the transaction with the other writes of the process (group
// commit), instead of queueing for the one writer connection.
type TxRunner interface {
	WriteTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error
}

// Option configures a Store.
type Option func(*Store)

// WithTxRunner makes the store's writes (Insert, Replace, Delete) run in
// transactions of r rather than on db; db still creates the tables.
func WithTxRunner(r TxRunner) Option { return func(s *Store) { s.tx = r } }

// New returns a store writing through db and reading through read (which
// may be db). dialect is "sqlite", "postgres" or "mysql".
func New(db, read *sql.DB, dialectName string, opts ...Option) (*Store, error) {
	d, err := dialectFor(dialectName)
	if err != nil {
		return nil, err
	}
	if read == nil {
		read = db
	}
	s := &Store{db: db, read: read, d: d, stmts: stmtcache.New(read, 0), queries: stmtcache.New(read, queryShapes),
		colls: map[string]*Collection{}}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// queryShapes bounds the Find and Count statements kept prepared.
const queryShapes = 64

// query runs a read through the statement c keeps for it, or unprepared
// when c has no room (or preparing failed: the same error then comes from
// running it).
func (s *Store) query(ctx context.Context, c *stmtcache.Cache, query string, args ...any) (rows *sql.Rows, err error) {
	ctx, end := telemetry.StartDB(ctx, s.d.sql().Name(), query) // a span in a traced request
	defer func() { end(err) }()
	if st, _ := c.Stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.read.QueryContext(ctx, query, args...)
}

// queryRow is query for a single row.
func (s *Store) queryRow(ctx context.Context, c *stmtcache.Cache, query string, args ...any) (row *sql.Row) {
	ctx, end := telemetry.StartDB(ctx, s.d.sql().Name(), query) // a span in a traced request
	defer func() { end(row.Err()) }()
	if st, _ := c.Stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.read.QueryRowContext(ctx, query, args...)
}

// execer is what both the pool and a transaction offer to writes.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// write runs fn's statements: in a transaction of the TxRunner when there
// is one, else in a transaction of its own if atomic, else on the pool. fn
// returns its errors wrapped already and runs its statements with the ctx
// it is given; failures to begin or commit are wrapped here, as op's.
func (s *Store) write(ctx context.Context, op string, atomic bool, fn func(ctx context.Context, q execer) error) (err error) {
	ctx, end := telemetry.StartDBOperation(ctx, s.d.sql().Name(), op) // a span in a traced request
	defer func() { end(err) }()
	if s.tx == nil && !atomic {
		return fn(ctx, s.db)
	}
	var fnErr error
	run := func(ctx context.Context, tx *sql.Tx) error {
		fnErr = fn(ctx, tx)
		return fnErr
	}
	if s.tx != nil {
		err = s.tx.WriteTx(ctx, run)
	} else {
		err = s.ownTx(ctx, run)
	}
	if err != nil && err != fnErr { // identity, not errors.Is: was it fn's own error?
		return s.wrap(op, err)
	}
	return err
}

func (s *Store) ownTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(ctx, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Ensure creates (if missing) the table and indexes of a collection, and
// makes the collection known to the store. Call it for every collection at
// start; it is idempotent and safe to run from several instances at once.
// Changing the type of an existing field is not migrated.
func (s *Store) Ensure(ctx context.Context, c Collection) error {
	c = c.clone()
	if err := c.validate(); err != nil {
		return err
	}
	if err := s.ensure(ctx, &c); err != nil {
		return err
	}
	s.mu.Lock()
	s.colls[c.Name] = &c
	s.mu.Unlock()
	return nil
}

func (s *Store) collection(name string) (*Collection, error) {
	s.mu.RLock()
	c, ok := s.colls[name]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("docstore: collection %q was not ensured", name)
	}
	return c, nil
}

// NewID returns a new random document ID: 24 hexadecimal digits, the shape
// of a MongoDB ObjectId that Eve clients expect.
func NewID() string { return randomHex(12) }

// NewETag returns a new random entity tag.
func NewETag() string { return randomHex(16) }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// Insert stores docs atomically: either all are stored or none is. A
// document whose ID or unique field is taken fails with
// storage.ErrAlreadyExists. The elements of its array fields go to the
// side table in the same transaction, and in a versioned collection its
// version 1 (Version is ignored: it is 1 there, else 0).
func (s *Store) Insert(ctx context.Context, collection string, docs []Document) error {
	c, err := s.collection(collection)
	if err != nil {
		return err
	}
	var rows []elemRow
	if arrays := c.arrayFields(); len(arrays) > 0 {
		for _, d := range docs {
			es, err := writtenElems(d.Data, arrays)
			if err != nil {
				return fmt.Errorf("docstore: insert: document %s: %w", d.ID, err)
			}
			for _, e := range es {
				rows = append(rows, elemRow{d.ID, d.Owner, e})
			}
		}
	}
	p := s.d.sql().Placeholder
	q := "INSERT INTO " + c.table() + " (id, owner, created, updated, etag, data, deleted, version) VALUES (" +
		strings.Join([]string{p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8)}, ", ") + ")"
	version := 0
	if c.Versioning {
		version = 1
	}
	return s.write(ctx, "insert", true, func(ctx context.Context, tx execer) error {
		stmt, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return s.wrap("insert", err)
		}
		defer stmt.Close()
		for _, d := range docs {
			if _, err := stmt.ExecContext(ctx, d.ID, d.Owner, d.Created.UnixMicro(), d.Updated.UnixMicro(), d.ETag, string(d.Data),
				boolInt(d.Deleted), version); err != nil {
				return s.wrap("insert", err)
			}
		}
		if c.Versioning {
			for _, d := range docs {
				d.Version = version
				if err := s.insertVersion(ctx, tx, c, d); err != nil {
					return err
				}
			}
		}
		return s.insertElems(ctx, tx, c, rows, false)
	})
}

// Get returns the owner's document with the given ID, or storage.ErrNotFound
// (also when it belongs to someone else). A soft-deleted document is
// returned, with Deleted set.
func (s *Store) Get(ctx context.Context, collection, owner, id string) (Document, error) {
	c, err := s.collection(collection)
	if err != nil {
		return Document{}, err
	}
	q := "SELECT " + docColumns + " FROM " + c.table() +
		" WHERE id = " + s.d.sql().Placeholder(1) + " AND owner = " + s.d.sql().Placeholder(2)
	d, err := scanDoc(s.queryRow(ctx, s.stmts, q, id, owner))
	if errors.Is(err, sql.ErrNoRows) {
		return Document{}, storage.ErrNotFound
	}
	if err != nil {
		return Document{}, s.wrap("get", err)
	}
	return d, nil
}

type scanner interface{ Scan(dest ...any) error }

// docColumns are the columns scanDoc reads, in its order.
const docColumns = "id, owner, created, updated, etag, data, deleted, version"

func scanDoc(r scanner) (Document, error) {
	var (
		d                Document
		created, updated int64
		data             []byte
		deleted          int
	)
	if err := r.Scan(&d.ID, &d.Owner, &created, &updated, &d.ETag, &data, &deleted, &d.Version); err != nil {
		return Document{}, err
	}
	d.Created = time.UnixMicro(created).UTC()
	d.Updated = time.UnixMicro(updated).UTC()
	d.Data = json.RawMessage(data)
	d.Deleted = deleted != 0
	return d, nil
}

// Find returns the owner's documents matching q, but for soft-deleted ones.
func (s *Store) Find(ctx context.Context, collection, owner string, q docquery.Query) ([]Document, error) {
	return s.find(ctx, collection, owner, q, false)
}

// FindWithDeleted is Find with the soft-deleted documents too (Eve's
// ?show_deleted).
func (s *Store) FindWithDeleted(ctx context.Context, collection, owner string, q docquery.Query) ([]Document, error) {
	return s.find(ctx, collection, owner, q, true)
}

func (s *Store) find(ctx context.Context, collection, owner string, q docquery.Query, withDeleted bool) ([]Document, error) {
	c, err := s.collection(collection)
	if err != nil {
		return nil, err
	}
	stmt, args, err := buildFind(s.d, c, owner, q, withDeleted)
	if err != nil {
		return nil, err
	}
	rows, err := s.query(ctx, s.queries, stmt, args...)
	if err != nil {
		return nil, s.wrap("find", err)
	}
	defer rows.Close()
	var docs []Document
	for rows.Next() {
		d, err := scanDoc(rows)
		if err != nil {
			return nil, s.wrap("find", err)
		}
		docs = append(docs, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.wrap("find", err)
	}
	return docs, nil
}

// Count returns how many of the owner's documents match filter, but for
// soft-deleted ones.
func (s *Store) Count(ctx context.Context, collection, owner string, filter docquery.Expr) (int, error) {
	return s.count(ctx, collection, owner, filter, false)
}

// CountWithDeleted is Count with the soft-deleted documents too.
func (s *Store) CountWithDeleted(ctx context.Context, collection, owner string, filter docquery.Expr) (int, error) {
	return s.count(ctx, collection, owner, filter, true)
}

func (s *Store) count(ctx context.Context, collection, owner string, filter docquery.Expr, withDeleted bool) (int, error) {
	c, err := s.collection(collection)
	if err != nil {
		return 0, err
	}
	stmt, args, err := buildCount(s.d, c, owner, filter, withDeleted)
	if err != nil {
		return 0, err
	}
	var n int
	if err := s.queryRow(ctx, s.queries, stmt, args...).Scan(&n); err != nil {
		return 0, s.wrap("count", err)
	}
	return n, nil
}

// Replace stores d (identified by d.ID and d.Owner) in place of the stored
// document, if the stored document's entity tag is ifETag: a compare-and-swap.
// It sets Updated, ETag, Data and Deleted; Created is kept. A stale ifETag is
// storage.ErrPreconditionFailed; a missing document (or another owner's)
// storage.ErrNotFound. In a versioned collection the stored version goes up
// by one (NextVersion; d.Version is ignored) and the new state is copied to
// the versions table in the same transaction, after the stored state as
// version 1 when the document predates versioning.
func (s *Store) Replace(ctx context.Context, collection string, d Document, ifETag string) error {
	c, err := s.collection(collection)
	if err != nil {
		return err
	}
	arrays := c.arrayFields()
	var next []elem
	if len(arrays) > 0 {
		if next, err = writtenElems(d.Data, arrays); err != nil {
			return fmt.Errorf("docstore: replace: document %s: %w", d.ID, err)
		}
	}
	p := s.d.sql().Placeholder
	q := "UPDATE " + c.table() + " SET updated = " + p(1) + ", etag = " + p(2) + ", data = " + p(3) + ", deleted = " + p(4)
	n := 5
	if c.Versioning {
		q += ", version = " + p(5)
		n++
	}
	q += " WHERE id = " + p(n) + " AND owner = " + p(n+1) + " AND etag = " + p(n+2)
	lock := len(arrays) > 0 || c.Versioning
	return s.write(ctx, "replace", lock, func(ctx context.Context, db execer) error {
		var (
			prev    []elem
			corrupt bool
			old     lockedDoc
			version int
		)
		if lock {
			// The stored document, locked until commit, tells which rows
			// of the side table are its (only those change) and its
			// version.
			var err error
			if old, err = s.lockDoc(ctx, db, c, d.ID, d.Owner, ifETag); err != nil {
				return err
			}
			if len(arrays) > 0 {
				prev, err = elems(old.Data, arrays)
				corrupt = err != nil
			}
		}
		if c.Versioning {
			if old.Version == 0 {
				// Written before versioning: its state becomes version 1.
				old.Version = 1
				if err := s.insertVersion(ctx, db, c, old.Document); err != nil {
					return err
				}
			}
			version = NextVersion(old.Version)
		}
		args := []any{d.Updated.UnixMicro(), d.ETag, string(d.Data), boolInt(d.Deleted)}
		if c.Versioning {
			args = append(args, version)
		}
		res, err := db.ExecContext(ctx, q, append(args, d.ID, d.Owner, ifETag)...)
		if err != nil {
			return s.wrap("replace", err)
		}
		if err := s.checkSwap(ctx, db, c, res, d.ID, d.Owner); err != nil {
			return err
		}
		if c.Versioning {
			v := d
			v.Created, v.Version = old.Created, version
			if err := s.insertVersion(ctx, db, c, v); err != nil {
				return err
			}
		}
		if len(arrays) == 0 {
			return nil
		}
		if corrupt {
			if err := s.deleteDocElems(ctx, db, c, d.ID); err != nil {
				return err
			}
		}
		gone, added := diffElems(prev, next)
		if err := s.deleteElems(ctx, db, c, d.ID, gone); err != nil {
			return err
		}
		rows := make([]elemRow, len(added))
		for i, e := range added {
			rows[i] = elemRow{d.ID, d.Owner, e}
		}
		// Rows already there are kept: the side table may hold stale rows
		// for this document (written by an instance that did not know the
		// field as an array), which must not make every update fail.
		return s.insertElems(ctx, db, c, rows, true)
	})
}

// lockedDoc is a stored document read for a compare-and-swap.
type lockedDoc struct{ Document }

// lockDoc reads the owner's document for a compare-and-swap, locking its
// row until the transaction ends (SQLite has one writer and no row locks),
// with the errors of Replace.
func (s *Store) lockDoc(ctx context.Context, db execer, c *Collection, id, owner, ifETag string) (lockedDoc, error) {
	q := "SELECT " + docColumns + " FROM " + c.table() + " WHERE id = " + s.d.sql().Placeholder(1) + " AND owner = " + s.d.sql().Placeholder(2)
	if s.d.sql() != sqldialect.SQLite {
		q += " FOR UPDATE"
	}
	d, err := scanDoc(db.QueryRowContext(ctx, q, id, owner))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return lockedDoc{}, storage.ErrNotFound
	case err != nil:
		return lockedDoc{}, s.wrap("lookup", err)
	case d.ETag != ifETag:
		return lockedDoc{}, storage.ErrPreconditionFailed
	}
	return lockedDoc{d}, nil
}

// Delete removes the owner's document if its entity tag is ifETag, with the
// errors of Replace, its rows of the side table and, in a versioned
// collection, its versions.
func (s *Store) Delete(ctx context.Context, collection, owner, id, ifETag string) error {
	c, err := s.collection(collection)
	if err != nil {
		return err
	}
	arrays := c.arrayFields()
	p := s.d.sql().Placeholder
	q := "DELETE FROM " + c.table() + " WHERE id = " + p(1) + " AND owner = " + p(2) + " AND etag = " + p(3)
	return s.write(ctx, "delete", len(arrays) > 0 || c.Versioning, func(ctx context.Context, db execer) error {
		var (
			prev    []elem
			corrupt bool
		)
		if len(arrays) > 0 {
			old, err := s.lockDoc(ctx, db, c, id, owner, ifETag)
			if err != nil {
				return err
			}
			prev, err = elems(old.Data, arrays)
			corrupt = err != nil
		}
		res, err := db.ExecContext(ctx, q, id, owner, ifETag)
		if err != nil {
			return s.wrap("delete", err)
		}
		if err := s.checkSwap(ctx, db, c, res, id, owner); err != nil {
			return err
		}
		if c.Versioning {
			if err := s.deleteVersions(ctx, db, c, id, owner); err != nil {
				return err
			}
		}
		if corrupt {
			return s.deleteDocElems(ctx, db, c, id)
		}
		return s.deleteElems(ctx, db, c, id, prev)
	})
}

func (s *Store) checkSwap(ctx context.Context, db execer, c *Collection, res sql.Result, id, owner string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return s.wrap("rows affected", err)
	}
	if n > 0 {
		return nil
	}
	var one int
	q := "SELECT 1 FROM " + c.table() + " WHERE id = " + s.d.sql().Placeholder(1) + " AND owner = " + s.d.sql().Placeholder(2)
	err = db.QueryRowContext(ctx, q, id, owner).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrNotFound
	case err != nil:
		return s.wrap("lookup", err)
	}
	return storage.ErrPreconditionFailed
}

// wrap maps driver errors to storage errors, keeping the driver's error
// wrapped for logs.
func (s *Store) wrap(op string, err error) error {
	switch {
	case sqlerr.IsUniqueViolation(err):
		return fmt.Errorf("docstore: %s: %w", op, storage.ErrAlreadyExists)
	case sqlerr.IsUnavailable(err):
		return fmt.Errorf("docstore: %s: %w: %w", op, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("docstore: %s: %w", op, err)
}
