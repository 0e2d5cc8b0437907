package leases

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SQL keeps leases as rows of the scs `sessions` table (token, data,
// expiry) that internal/storage/migrations creates for every dialect: token
// is the lease's name, data its owner, expiry its end.
type SQL struct {
	db *sql.DB
	q  sqlQueries
}

type sqlQueries struct {
	acquire, release string
	// holder, when set, reads the lease's owner back after acquire, for
	// drivers whose affected-rows count cannot tell the outcome.
	holder string
	ttl    func(time.Duration) any
}

// NewSQL returns leases kept in db, whose dialect is "postgres", "mysql" or
// "sqlite" (as sqlstore.Store.Dialect reports it).
//
// Taking a lease is one upsert: insert the row, or, if one is there, take
// it over only when it has expired. One statement keeps it atomic on every
// dialect (the primary key lets one of several concurrent callers win) and
// avoids the gap-lock deadlocks that a delete-then-insert provokes on InnoDB.
func NewSQL(db *sql.DB, dialect string) (*SQL, error) {
	ms := func(d time.Duration) any { return d.Milliseconds() }
	var q sqlQueries
	switch dialect {
	case "postgres":
		q = sqlQueries{
			acquire: `INSERT INTO sessions (token, data, expiry)
				VALUES ($1, $2, current_timestamp + $3 * interval '1 millisecond')
				ON CONFLICT (token) DO UPDATE SET data = EXCLUDED.data, expiry = EXCLUDED.expiry
				WHERE sessions.expiry <= current_timestamp`,
			release: `DELETE FROM sessions WHERE token = $1 AND data = $2`,
			ttl:     ms,
		}
	case "mysql":
		// The scs mysqlstore compares expiry with UTC_TIMESTAMP(6). The
		// assignments run left to right, so both test the old expiry.
		// sqlstore connects with clientFoundRows, so a row left as it was
		// counts 1 affected row like an insert: the owner is read back.
		q = sqlQueries{
			holder: `SELECT data FROM sessions WHERE token = ?`,
			acquire: `INSERT INTO sessions (token, data, expiry)
				VALUES (?, ?, UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND)
				ON DUPLICATE KEY UPDATE
					data = IF(expiry <= UTC_TIMESTAMP(6), VALUES(data), data),
					expiry = IF(expiry <= UTC_TIMESTAMP(6), VALUES(expiry), expiry)`,
			release: `DELETE FROM sessions WHERE token = ? AND data = ?`,
			ttl:     func(d time.Duration) any { return d.Microseconds() },
		}
	case "sqlite":
		// The scs sqlite3store keeps expiry as a Julian day number.
		q = sqlQueries{
			acquire: `INSERT INTO sessions (token, data, expiry)
				VALUES (?, ?, julianday('now') + ? / 86400000.0)
				ON CONFLICT (token) DO UPDATE SET data = excluded.data, expiry = excluded.expiry
				WHERE sessions.expiry <= julianday('now')`,
			release: `DELETE FROM sessions WHERE token = ? AND data = ?`,
			ttl:     ms,
		}
	default:
		return nil, fmt.Errorf("leases: unknown SQL dialect %q", dialect)
	}
	return &SQL{db: db, q: q}, nil
}

// Acquire implements webapp.Leases.
func (s *SQL) Acquire(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q.acquire, name, []byte(owner), s.q.ttl(ttl))
	if err != nil {
		return false, fmt.Errorf("leases: taking a lease: %w", err)
	}
	if s.q.holder != "" {
		var holder []byte
		err := s.db.QueryRowContext(ctx, s.q.holder, name).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil // taken and released by another owner meanwhile
		}
		if err != nil {
			return false, fmt.Errorf("leases: reading a lease: %w", err)
		}
		return string(holder) == owner, nil
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("leases: taking a lease: %w", err)
	}
	return n > 0, nil
}

// Release implements webapp.Leases.
func (s *SQL) Release(ctx context.Context, name, owner string) error {
	if _, err := s.db.ExecContext(ctx, s.q.release, name, []byte(owner)); err != nil {
		return fmt.Errorf("leases: releasing a lease: %w", err)
	}
	return nil
}
