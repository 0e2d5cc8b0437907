package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// UseOnce records key until expiresAt, or fails with storage.ErrAlreadyUsed
// if it is recorded and unexpired. The row holds the key's SHA-256, so any
// key fits and compares exactly (MySQL's PAD SPACE collations would take
// "a " for "a"). An expired record is taken over in
// place; otherwise the insert decides: of racing calls, the primary key
// lets one in. On PostgreSQL and MySQL the update locks the row and
// re-reads it, so of two callers reviving one expired key the second finds
// it unexpired and its insert collides.
func (s *Store) UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error {
	sum := sha256.Sum256([]byte(key))
	key = hex.EncodeToString(sum[:])
	return s.writeWith(ctx, func(ctx context.Context, q querier) error {
		res, err := s.exec(ctx, q, "UPDATE replays SET expires_at = ? WHERE replay_key = ? AND expires_at <= ?",
			micros(expiresAt), key, micros(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return s.d.mapErr(err)
		} else if n == 1 {
			return nil
		}
		_, err = s.exec(ctx, q, "INSERT INTO replays (replay_key, expires_at) VALUES (?, ?)", key, micros(expiresAt))
		if errors.Is(err, storage.ErrAlreadyExists) {
			return storage.ErrAlreadyUsed
		}
		return err
	})
}

// DeleteExpiredReplays removes at most limit values that expired before
// the given time.
func (s *Store) DeleteExpiredReplays(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.deleteBatches(ctx, before, limit, s.d.DeleteBatch("replays", "replay_key", "expires_at < ?"))
}
