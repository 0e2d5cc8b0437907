package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqldialect"
)

const keyColumns = "id, algorithm, private_key, public_key, created_at, not_before, expires_at"

// CreateKey stores a signing key.
func (s *Store) CreateKey(ctx context.Context, k storage.SigningKey) error {
	return s.writeWith(ctx, func(ctx context.Context, q querier) error { return s.insertKey(ctx, q, k) })
}

func (s *Store) insertKey(ctx context.Context, q querier, k storage.SigningKey) error {
	_, err := s.exec(ctx, q, "INSERT INTO signing_keys ("+keyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		k.ID, k.Algorithm, nonNil(k.PrivateKey), nonNil(k.PublicKey), micros(k.CreatedAt), micros(k.NotBefore), nullMicros(k.ExpiresAt))
	return err
}

// CreateKeyIfNoSigner stores k unless a key of its algorithm can sign at
// now. The check and the insert run under a lock every instance takes (see
// withKeysLock), so that of racing callers exactly one inserts.
func (s *Store) CreateKeyIfNoSigner(ctx context.Context, k storage.SigningKey, now time.Time) (bool, error) {
	created := false
	err := s.withKeysLock(ctx, func(ctx context.Context, q querier) error {
		var n int
		if err := s.queryRow(ctx, q, func(r scanner) error { return r.Scan(&n) },
			"SELECT COUNT(*) FROM signing_keys WHERE algorithm = ? AND not_before <= ? AND (expires_at IS NULL OR expires_at > ?)",
			k.Algorithm, micros(now), micros(now)); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		if err := s.insertKey(ctx, q, k); err != nil {
			return err
		}
		created = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return created, nil
}

// withKeysLock runs fn while holding a database-wide lock on key creation,
// released only once what fn wrote is committed and visible:
//   - SQLite: a transaction; BEGIN IMMEDIATE takes the file's write lock.
//   - PostgreSQL: a transaction holding a transaction-scoped advisory lock,
//     released at commit; under READ COMMITTED each statement after it sees
//     the rows an earlier holder committed.
//   - MySQL: a named lock (GET_LOCK) on one connection, around statements
//     that commit one by one; the server drops it if the connection dies.
func (s *Store) withKeysLock(ctx context.Context, fn func(ctx context.Context, q querier) error) error {
	switch s.d.Dialect {
	case sqldialect.Postgres:
		return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
			// READ COMMITTED whatever the server's default: under REPEATABLE
			// READ the snapshot would be taken by the lock statement before it
			// waits, and miss the key the previous holder committed.
			if _, err := s.exec(ctx, tx, "SET TRANSACTION ISOLATION LEVEL READ COMMITTED"); err != nil {
				return fmt.Errorf("sqlstore: locking signing keys: %w", err)
			}
			if _, err := s.exec(ctx, tx, "SELECT pg_advisory_xact_lock(?)", keysLockID); err != nil {
				return fmt.Errorf("sqlstore: locking signing keys: %w", err)
			}
			return fn(ctx, tx)
		})
	case sqldialect.MySQL:
		return s.withMySQLKeysLock(ctx, fn)
	default:
		return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error { return fn(ctx, tx) })
	}
}

// keysLockID is the PostgreSQL advisory lock key of key creation ("ghkeys").
const keysLockID = 0x67686b657973

// mysqlKeysLock names the MySQL lock of key creation; GET_LOCK names are
// server-wide, so it is qualified with the database (at most 64 characters).
const mysqlKeysLock = "LEFT(CONCAT('gatehouse-keys:', DATABASE()), 64)"

func (s *Store) withMySQLKeysLock(ctx context.Context, fn func(ctx context.Context, q querier) error) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return s.d.mapErr(err)
	}
	defer conn.Close()
	var got sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK("+mysqlKeysLock+", 60)").Scan(&got); err != nil {
		return fmt.Errorf("sqlstore: locking signing keys: %w", s.d.mapErr(err))
	}
	if !got.Valid || got.Int64 != 1 {
		return errors.New("sqlstore: locking signing keys: timed out after 60s")
	}
	defer func() {
		// Released even when ctx has ended; should that fail, the
		// connection is dropped rather than returned to the pool holding
		// the lock (the server releases a dead session's locks).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if _, rerr := conn.ExecContext(rctx, "SELECT RELEASE_LOCK("+mysqlKeysLock+")"); rerr != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			err = errors.Join(err, fmt.Errorf("sqlstore: unlocking signing keys: %w", rerr))
		}
	}()
	return fn(ctx, conn)
}

// ListKeys returns every stored key ordered by CreatedAt.
func (s *Store) ListKeys(ctx context.Context) ([]storage.SigningKey, error) {
	var keys []storage.SigningKey
	err := s.queryRows(ctx, s.rdb, func(r scanner) error {
		var k storage.SigningKey
		if err := r.Scan(&k.ID, &k.Algorithm, &k.PrivateKey, &k.PublicKey, ts(&k.CreatedAt), ts(&k.NotBefore),
			ts(&k.ExpiresAt)); err != nil {
			return err
		}
		keys = append(keys, k)
		return nil
	}, "SELECT "+keyColumns+" FROM signing_keys ORDER BY created_at, id")
	return keys, err
}

// SetKeyExpiry sets when a key leaves the published set (zero: never).
func (s *Store) SetKeyExpiry(ctx context.Context, id string, expiresAt time.Time) error {
	return s.writeOne(ctx, "UPDATE signing_keys SET expires_at = ? WHERE id = ?", nullMicros(expiresAt), id)
}

// DeleteExpiredKeys removes keys whose ExpiresAt is set and before the given time.
func (s *Store) DeleteExpiredKeys(ctx context.Context, before time.Time) (int, error) {
	res, err := s.write(ctx, "DELETE FROM signing_keys WHERE expires_at IS NOT NULL AND expires_at < ?", micros(before))
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), s.d.mapErr(err)
}

// nonNil stores a nil byte slice as empty rather than NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
