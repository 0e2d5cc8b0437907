package sqlstore

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

const keyColumns = "id, algorithm, private_key, public_key, created_at, not_before, expires_at"

// CreateKey stores a signing key.
func (s *Store) CreateKey(ctx context.Context, k storage.SigningKey) error {
	_, err := s.exec(ctx, s.db, "INSERT INTO signing_keys ("+keyColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		k.ID, k.Algorithm, nonNil(k.PrivateKey), nonNil(k.PublicKey), micros(k.CreatedAt), micros(k.NotBefore), nullMicros(k.ExpiresAt))
	return err
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
	return s.execOne(ctx, s.db, "UPDATE signing_keys SET expires_at = ? WHERE id = ?", nullMicros(expiresAt), id)
}

// DeleteExpiredKeys removes keys whose ExpiresAt is set and before the given time.
func (s *Store) DeleteExpiredKeys(ctx context.Context, before time.Time) (int, error) {
	res, err := s.exec(ctx, s.db, "DELETE FROM signing_keys WHERE expires_at IS NOT NULL AND expires_at < ?", micros(before))
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
