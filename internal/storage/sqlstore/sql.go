package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/groupcommit"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
)

// querier is what both a pool and a transaction offer.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// prepared returns a prepared statement for query on q, or nil to run it
// unprepared: on a pool, the one cached for the pool; in SQLite's shared
// transactions, the one prepared for that transaction (shared by its
// writes). Not for other transactions and connections, nor for SQLite's
// writer pool, whose writes all run in the shared transactions (and whose
// one connection they hold, so nothing could be prepared on it).
func (s *Store) prepared(ctx context.Context, q querier, query string) *sql.Stmt {
	var st *sql.Stmt
	var err error
	switch q := q.(type) {
	case *sql.Tx:
		if s.gc != nil {
			st, err = s.gc.Stmt(ctx, q, query)
		}
	case *sql.DB:
		switch {
		case q == s.db && s.gc != nil:
			// SQLite's writer pool: its writes run in the shared
			// transactions (the case above).
		case q == s.rdb && s.rdb != s.db:
			st, err = s.rstmts.Stmt(ctx, query)
		default:
			st, err = s.stmts.Stmt(ctx, query)
		}
	}
	if err != nil {
		return nil // run unprepared: the same error, if any, comes from there
	}
	return st
}

// exec runs a statement on q, in a span of its own in a traced request
// (as queryRow and queryRows do).
func (s *Store) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	query = s.d.Rebind(query)
	ctx, end := telemetry.StartDB(ctx, s.d.Name(), query)
	var res sql.Result
	var err error
	if st := s.prepared(ctx, q, query); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = q.ExecContext(ctx, query, args...)
	}
	end(err)
	return res, s.d.mapErr(err)
}

// execOne runs a statement that must affect a row; none is ErrNotFound.
func (s *Store) execOne(ctx context.Context, q querier, query string, args ...any) error {
	res, err := s.exec(ctx, q, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.d.mapErr(err)
	}
	if n == 0 {
		return storage.ErrNotFound
	}
	return nil
}

// queryRow runs a single-row query on q and scans it with scan.
func (s *Store) queryRow(ctx context.Context, q querier, scan func(scanner) error, query string, args ...any) error {
	query = s.d.Rebind(query)
	ctx, end := telemetry.StartDB(ctx, s.d.Name(), query)
	var err error
	if st := s.prepared(ctx, q, query); st != nil {
		err = scan(st.QueryRowContext(ctx, args...))
	} else {
		err = scan(q.QueryRowContext(ctx, query, args...))
	}
	end(err)
	return s.d.mapErr(err)
}

// queryRows runs a query on q and scans each row with scan.
func (s *Store) queryRows(ctx context.Context, q querier, scan func(scanner) error, query string, args ...any) (err error) {
	query = s.d.Rebind(query)
	ctx, end := telemetry.StartDB(ctx, s.d.Name(), query)
	defer func() { end(err) }()
	var rows *sql.Rows
	if st := s.prepared(ctx, q, query); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = q.QueryContext(ctx, query, args...)
	}
	if err != nil {
		return s.d.mapErr(err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return s.d.mapErr(err)
		}
	}
	return s.d.mapErr(rows.Err())
}

// write runs a statement that changes the database: on SQLite in a shared
// transaction (see writeWith), elsewhere on the pool.
func (s *Store) write(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.writeWith(ctx, func(ctx context.Context, q querier) error {
		var err error
		res, err = s.exec(ctx, q, query, args...)
		return err
	})
	return res, err
}

// writeOne runs a statement that must change a row, as write does; none is
// ErrNotFound.
func (s *Store) writeOne(ctx context.Context, query string, args ...any) error {
	return s.writeWith(ctx, func(ctx context.Context, q querier) error {
		return s.execOne(ctx, q, query, args...)
	})
}

// writeWith runs fn's statements, which change the database. On SQLite,
// whose one writer connection commits one transaction at a time, fn runs in
// a transaction shared with the writes of other goroutines (group commit,
// package groupcommit), atomically and as if alone; elsewhere each statement
// runs on the pool and commits by itself. fn must run its statements with
// the ctx it is given.
func (s *Store) writeWith(ctx context.Context, fn func(ctx context.Context, q querier) error) error {
	if s.gc == nil {
		return fn(ctx, s.db)
	}
	return s.groupCommit(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, tx) })
}

// inTx runs fn in a transaction, committing if it returns nil: on SQLite a
// shared one (see writeWith), whose BEGIN IMMEDIATE takes the write lock
// at its start; elsewhere its own, on the read-write pool. fn must run its
// statements with the ctx it is given.
func (s *Store) inTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if s.gc != nil {
		return s.groupCommit(ctx, fn)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.d.mapErr(err)
	}
	if err := fn(ctx, tx); err != nil {
		return errors.Join(err, ignoreDone(tx.Rollback()))
	}
	return s.d.mapErr(tx.Commit())
}

// groupCommit runs fn through the group-commit writer. fn's own errors come
// back as they are; those of beginning or committing the shared transaction
// are mapped like any statement's.
func (s *Store) groupCommit(ctx context.Context, fn groupcommit.Func) error {
	var fnErr error
	err := s.gc.Do(ctx, func(ctx context.Context, tx *sql.Tx) error {
		fnErr = fn(ctx, tx)
		return fnErr
	})
	if err != nil && err != fnErr { // identity, not errors.Is: was it fn's own error?
		return s.d.mapErr(err)
	}
	return err
}

// WriteTx runs fn in a write transaction as inTx does: on SQLite shared
// with other writes (group commit). For other stores on the same database
// (docstore) whose writes would otherwise queue for SQLite's one writer
// connection one transaction at a time.
func (s *Store) WriteTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	return s.inTx(ctx, fn)
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// deleteBatches deletes at most limit rows, from each of the given batch
// statements in turn (each takes before and a limit), and returns the count.
func (s *Store) deleteBatches(ctx context.Context, before time.Time, limit int, stmts ...string) (int, error) {
	total := 0
	for _, stmt := range stmts {
		if total >= limit {
			break
		}
		res, err := s.write(ctx, stmt, micros(before), limit-total)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, s.d.mapErr(err)
		}
		total += int(n)
	}
	return total, nil
}

// Times are integer microseconds since the Unix epoch, UTC.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time { return time.UnixMicro(us).UTC() }

// nullMicros stores the zero time as NULL.
func nullMicros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromMicros(n.Int64)
}

// nullString stores the empty string as NULL (for unique columns set later).
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// Lists are JSON arrays; a nil list is stored as null, so nil and empty
// lists both round-trip.

func encodeList(l []string) string {
	b, _ := json.Marshal(l) // cannot fail for []string
	return string(b)
}

// listColumn scans a JSON list column.
type listColumn struct{ dst *[]string }

func (c listColumn) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		*c.dst = nil
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("list column: unexpected %T", src)
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("list column: %w", err)
	}
	*c.dst = l
	return nil
}

func list(dst *[]string) listColumn { return listColumn{dst} }

// timeColumn scans a NOT NULL microsecond column into a time.Time.
type timeColumn struct{ dst *time.Time }

func (c timeColumn) Scan(src any) error {
	var n sql.NullInt64
	if err := n.Scan(src); err != nil {
		return err
	}
	*c.dst = fromNullMicros(n)
	return nil
}

func ts(dst *time.Time) timeColumn { return timeColumn{dst} }
