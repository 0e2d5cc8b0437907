package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

const accessTokenColumns = "id, family_id, client_id, subject, audience, scopes, revoked, created_at, expires_at"

func scanAccessToken(t *storage.AccessToken) func(scanner) error {
	return func(r scanner) error {
		return r.Scan(&t.ID, &t.FamilyID, &t.ClientID, &t.Subject, list(&t.Audience), list(&t.Scopes), &t.Revoked,
			ts(&t.CreatedAt), ts(&t.ExpiresAt))
	}
}

// CreateAccessToken records an issued access token.
func (s *Store) CreateAccessToken(ctx context.Context, t storage.AccessToken) error {
	_, err := s.write(ctx, "INSERT INTO access_tokens ("+accessTokenColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		t.ID, t.FamilyID, t.ClientID, t.Subject, encodeList(t.Audience), encodeList(t.Scopes), t.Revoked,
		micros(t.CreatedAt), micros(t.ExpiresAt))
	return err
}

// GetAccessToken returns the record of the access token with the given ID.
func (s *Store) GetAccessToken(ctx context.Context, id string) (storage.AccessToken, error) {
	var t storage.AccessToken
	err := s.queryRow(ctx, s.rdb, scanAccessToken(&t), "SELECT "+accessTokenColumns+" FROM access_tokens WHERE id = ?", id)
	return t, err
}

// RevokeAccessToken marks one access token revoked.
func (s *Store) RevokeAccessToken(ctx context.Context, id string) error {
	return s.writeOne(ctx, "UPDATE access_tokens SET revoked = TRUE WHERE id = ?", id)
}

const refreshTokenColumns = "id, token_hash, family_id, client_id, user_id, scopes, audience, auth_time, amr, " +
	"used, revoked, idle_expires_at, expires_at, created_at"

func scanRefreshToken(t *storage.RefreshToken) func(scanner) error {
	return func(r scanner) error {
		return r.Scan(&t.ID, &t.TokenHash, &t.FamilyID, &t.ClientID, &t.UserID, list(&t.Scopes), list(&t.Audience),
			ts(&t.AuthTime), list(&t.AMR), &t.Used, &t.Revoked, ts(&t.IdleExpiresAt), ts(&t.ExpiresAt), ts(&t.CreatedAt))
	}
}

// CreateRefreshToken stores a refresh token; storage.ErrAlreadyExists if its
// ID or hash is taken.
func (s *Store) CreateRefreshToken(ctx context.Context, t storage.RefreshToken) error {
	return s.writeWith(ctx, func(ctx context.Context, q querier) error { return s.createRefreshToken(ctx, q, t) })
}

func (s *Store) createRefreshToken(ctx context.Context, q querier, t storage.RefreshToken) error {
	_, err := s.exec(ctx, q, "INSERT INTO refresh_tokens ("+refreshTokenColumns+") VALUES "+
		"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		t.ID, t.TokenHash, t.FamilyID, t.ClientID, t.UserID, encodeList(t.Scopes), encodeList(t.Audience),
		nullMicros(t.AuthTime), encodeList(t.AMR), t.Used, t.Revoked, micros(t.IdleExpiresAt), micros(t.ExpiresAt),
		micros(t.CreatedAt))
	return err
}

// GetRefreshToken returns the refresh token with the given hash, whatever
// its state.
func (s *Store) GetRefreshToken(ctx context.Context, tokenHash string) (storage.RefreshToken, error) {
	var t storage.RefreshToken
	err := s.queryRow(ctx, s.rdb, scanRefreshToken(&t),
		"SELECT "+refreshTokenColumns+" FROM refresh_tokens WHERE token_hash = ?", tokenHash)
	return t, err
}

// RotateRefreshToken marks the token with oldHash used and stores next, in
// one transaction. The conditional UPDATE matches only an unused, unrevoked,
// unexpired token, so of N racing callers exactly one sees an affected row
// and goes on to insert next. A token used or revoked before gives
// storage.ErrAlreadyUsed with the old record, so the caller can revoke the
// family (RFC 9700 §4.14.2, refresh token rotation and reuse detection);
// an unknown or expired one storage.ErrNotFound. On success it returns the
// old record, now marked used.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time) (storage.RefreshToken, error) {
	var old storage.RefreshToken
	var result error
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, "UPDATE refresh_tokens SET used = TRUE WHERE token_hash = ? "+
			"AND used = FALSE AND revoked = FALSE AND expires_at > ? AND idle_expires_at > ?",
			oldHash, micros(now), micros(now))
		if err != nil {
			return err
		}
		won, err := res.RowsAffected()
		if err != nil {
			return s.d.mapErr(err)
		}
		if err := s.queryRow(ctx, tx, scanRefreshToken(&old),
			"SELECT "+refreshTokenColumns+" FROM refresh_tokens WHERE token_hash = ?", oldHash); err != nil {
			return err
		}
		switch {
		case won == 1:
			return s.createRefreshToken(ctx, tx, next)
		case old.Used || old.Revoked:
			result = storage.ErrAlreadyUsed
		default:
			result = storage.ErrNotFound // expired
		}
		return nil
	})
	switch {
	case err != nil:
		return storage.RefreshToken{}, err
	case errors.Is(result, storage.ErrNotFound):
		return storage.RefreshToken{}, result
	}
	return old, result
}

// RevokeFamily revokes every refresh and access token of a family.
func (s *Store) RevokeFamily(ctx context.Context, familyID string) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, "UPDATE refresh_tokens SET revoked = TRUE WHERE family_id = ?", familyID); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, "UPDATE access_tokens SET revoked = TRUE WHERE family_id = ?", familyID)
		return err
	})
}

// DeleteExpiredTokens removes at most limit access and refresh tokens that
// expired before the given time; a refresh token has expired when either
// its idle or its absolute lifetime has ended.
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.deleteBatches(ctx, before, limit,
		s.d.deleteBatch("access_tokens", "id", "expires_at < ?"),
		s.d.deleteBatch("refresh_tokens", "id", "expires_at < ?"),
		s.d.deleteBatch("refresh_tokens", "id", "idle_expires_at < ?"),
	)
}
