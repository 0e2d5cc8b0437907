package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

const refreshTokenColumns = "id, token_hash, family_id, client_id, user_id, scopes, audience, auth_time, amr, " +
	"used, revoked, dpop_jkt, idle_expires_at, expires_at, created_at"

func scanRefreshToken(t *storage.RefreshToken) func(scanner) error {
	return func(r scanner) error {
		return r.Scan(&t.ID, &t.TokenHash, &t.FamilyID, &t.ClientID, &t.UserID, list(&t.Scopes), list(&t.Audience),
			ts(&t.AuthTime), list(&t.AMR), &t.Used, &t.Revoked, &t.DPoPJKT, ts(&t.IdleExpiresAt), ts(&t.ExpiresAt), ts(&t.CreatedAt))
	}
}

// createRefreshToken stores a refresh token on q; storage.ErrAlreadyExists
// if its ID or hash is taken.
func (s *Store) createRefreshToken(ctx context.Context, q querier, t storage.RefreshToken) error {
	_, err := s.exec(ctx, q, "INSERT INTO refresh_tokens ("+refreshTokenColumns+") VALUES "+
		"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		t.ID, t.TokenHash, t.FamilyID, t.ClientID, t.UserID, encodeList(t.Scopes), encodeList(t.Audience),
		nullMicros(t.AuthTime), encodeList(t.AMR), t.Used, t.Revoked, t.DPoPJKT, micros(t.IdleExpiresAt), micros(t.ExpiresAt),
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
// grant (RFC 9700 §4.14.2, refresh token rotation and reuse detection);
// an unknown or expired one storage.ErrNotFound. On success it returns the
// old record, now marked used.
//
// The transaction first locks the row of the grant (next.FamilyID, which
// must be the old token's family), as RevokeGrant does before it revokes
// the family: a revocation either commits first, and the rotation then
// finds the old token revoked, or waits for the rotation to commit, and
// then revokes the token it inserted too.
func (s *Store) RotateRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time) (storage.RefreshToken, error) {
	var old storage.RefreshToken
	var result error
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.lockGrant(ctx, tx, next.FamilyID); err != nil {
			return err
		}
		res, err := s.exec(ctx, tx, "UPDATE refresh_tokens SET used = TRUE WHERE token_hash = ? AND family_id = ? "+
			"AND used = FALSE AND revoked = FALSE AND expires_at > ? AND idle_expires_at > ?",
			oldHash, next.FamilyID, micros(now), micros(now))
		if err != nil {
			return err
		}
		won, err := res.RowsAffected()
		if err != nil {
			return s.d.mapErr(err)
		}
		// On MySQL this is the transaction's first consistent read, so its
		// snapshot is taken after the UPDATE waited for any concurrent
		// rotation: it sees that rotation's outcome.
		err = s.queryRow(ctx, tx, scanRefreshToken(&old),
			"SELECT "+refreshTokenColumns+" FROM refresh_tokens WHERE token_hash = ?", oldHash)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			result = err
			return nil
		case err != nil:
			return err
		case old.FamilyID != next.FamilyID:
			return fmt.Errorf("sqlstore: rotating a refresh token of family %q to one of family %q", old.FamilyID, next.FamilyID)
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

// RevokeAccessToken adds an access token's ID to the revoked list, until
// expiresAt. Revoking an ID again leaves the stored entry as it is.
func (s *Store) RevokeAccessToken(ctx context.Context, id string, expiresAt time.Time) error {
	_, err := s.write(ctx, "INSERT INTO revoked_tokens (id, expires_at) VALUES (?, ?)"+s.d.InsertIgnore("id"),
		id, micros(expiresAt))
	return err
}

// AccessTokenRevoked reports whether the ID is on the revoked list.
func (s *Store) AccessTokenRevoked(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.queryRow(ctx, s.rdb, func(r scanner) error { return r.Scan(&one) },
		"SELECT 1 FROM revoked_tokens WHERE id = ?", id)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, err
	}
	return true, nil
}

// accessTokenStateQuery reads the revoked list, the grant and the user in
// one statement: the one-row derived table keeps a row when neither the
// grant nor the user is found, and the outer joins leave their columns
// NULL. grants.client_id is NOT NULL, so a NULL there means no grant.
const accessTokenStateQuery = "SELECT EXISTS (SELECT 1 FROM revoked_tokens WHERE id = ?), " +
	"g.revoked, g.client_id, g.user_id, u.disabled " +
	"FROM (SELECT 1 AS one) AS k " +
	"LEFT JOIN grants AS g ON g.id = ? " +
	"LEFT JOIN users AS u ON u.id = ?"

// AccessTokenState reads the revoked list, the grant and the user in one
// query. An empty grantID or userID is passed as NULL, which equals no
// row's ID, so it finds nothing. Without either (a client-credentials
// token) only the revoked list is read, by the simpler query of
// AccessTokenRevoked.
func (s *Store) AccessTokenState(ctx context.Context, tokenID, grantID, userID string) (storage.AccessTokenState, error) {
	if grantID == "" && userID == "" {
		revoked, err := s.AccessTokenRevoked(ctx, tokenID)
		return storage.AccessTokenState{Revoked: revoked}, err
	}
	var st storage.AccessTokenState
	var grantRevoked, userDisabled sql.NullBool
	var grantClient, grantUser sql.NullString
	err := s.queryRow(ctx, s.rdb, func(r scanner) error {
		return r.Scan(&st.Revoked, &grantRevoked, &grantClient, &grantUser, &userDisabled)
	}, accessTokenStateQuery, tokenID, nullString(grantID), nullString(userID))
	if err != nil {
		return storage.AccessTokenState{}, err
	}
	if grantClient.Valid {
		st.GrantFound, st.GrantRevoked = true, grantRevoked.Bool
		st.GrantClientID, st.GrantUserID = grantClient.String, grantUser.String
	}
	st.UserFound, st.UserDisabled = userDisabled.Valid, userDisabled.Bool
	return st, nil
}

// DeleteExpiredTokens removes at most limit refresh tokens, revoked-list
// entries and grants that expired before the given time; a refresh token
// has expired when either its idle or its absolute lifetime has ended. A
// grant outlives its refresh tokens (its expiry is at least the family's
// absolute one), so none is left without its grant.
func (s *Store) DeleteExpiredTokens(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.deleteBatches(ctx, before, limit,
		s.d.DeleteBatch("refresh_tokens", "id", "expires_at < ?"),
		s.d.DeleteBatch("refresh_tokens", "id", "idle_expires_at < ?"),
		s.d.DeleteBatch("revoked_tokens", "id", "expires_at < ?"),
		s.d.DeleteBatch("grants", "id", "expires_at < ?"),
	)
}
