package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Grants and their refresh families are locked in one order: a
// transaction that changes both changes (or locks) the grant row first and
// the family's refresh tokens after. RevokeGrant and RotateRefreshToken
// therefore serialise on the grant row, and a revocation cannot miss the
// token a concurrent rotation inserts (see RotateRefreshToken).

const grantColumns = "id, client_id, user_id, revoked, created_at, expires_at"

func scanGrant(g *storage.Grant) func(scanner) error {
	return func(r scanner) error {
		return r.Scan(&g.ID, &g.ClientID, &g.UserID, &g.Revoked, ts(&g.CreatedAt), ts(&g.ExpiresAt))
	}
}

// createGrant stores g on q; storage.ErrAlreadyExists if its ID is taken.
func (s *Store) createGrant(ctx context.Context, q querier, g storage.Grant) error {
	_, err := s.exec(ctx, q, "INSERT INTO grants ("+grantColumns+") VALUES (?, ?, ?, ?, ?, ?)",
		g.ID, g.ClientID, g.UserID, g.Revoked, micros(g.CreatedAt), micros(g.ExpiresAt))
	return err
}

// GetGrant returns the grant with the given ID, revoked or not.
func (s *Store) GetGrant(ctx context.Context, id string) (storage.Grant, error) {
	var g storage.Grant
	err := s.queryRow(ctx, s.rdb, scanGrant(&g), "SELECT "+grantColumns+" FROM grants WHERE id = ?", id)
	return g, err
}

// RevokeGrant revokes the grant and every refresh token of its family, in
// one transaction; an unknown or revoked grant is not an error. The UPDATE
// of the grant row comes first: it waits for a rotation of the family that
// holds the row (RotateRefreshToken), so the UPDATE of the family, a
// statement that starts after that rotation committed, reaches the token it
// inserted.
func (s *Store) RevokeGrant(ctx context.Context, id string) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if _, err := s.exec(ctx, tx, "UPDATE grants SET revoked = TRUE WHERE id = ?", id); err != nil {
			return err
		}
		_, err := s.exec(ctx, tx, "UPDATE refresh_tokens SET revoked = TRUE WHERE family_id = ? AND revoked = FALSE", id)
		return err
	})
}

// RevokeUserGrants revokes every grant of the user and their refresh
// tokens, and marks the code of every request of the user used (see
// revokeGrantsWhere), in one transaction, and returns how many grants were
// not revoked before (revoking a user's grants again returns 0).
func (s *Store) RevokeUserGrants(ctx context.Context, userID string) (int, error) {
	var n int
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		n, err = s.revokeGrantsWhere(ctx, tx, "user_id", userID)
		return err
	})
	return n, err
}

// revokeGrantsWhere revokes, on tx, every grant whose column col (user_id
// or client_id) is value and the refresh tokens of their families, and
// returns how many grants were not revoked before.
//
// It first marks the code of every authorization request whose col is value
// used: a code issued but not exchanged yet, or the one a request waiting
// for consent would get, then redeems with storage.ErrAlreadyUsed, as a
// replay, and creates no grant. That UPDATE comes before the grants': it
// waits for a RedeemAuthCode of such a request in progress, which holds the
// request's row locked until it commits, so the UPDATE of the grants, which
// starts after that exchange committed, reaches the grant it inserted (on
// PostgreSQL under READ COMMITTED each statement sees what committed before
// it started; on MySQL an UPDATE reads the latest committed rows). An
// exchange that comes after the first UPDATE finds the code used. On SQLite
// the transactions run one at a time. The grants then come before their
// refresh tokens (see the lock order above).
func (s *Store) revokeGrantsWhere(ctx context.Context, tx *sql.Tx, col, value string) (int, error) {
	if col != "user_id" && col != "client_id" {
		return 0, fmt.Errorf("sqlstore: revoking grants by %q", col) // a column name goes into the query
	}
	if _, err := s.exec(ctx, tx, "UPDATE auth_requests SET code_used = TRUE WHERE "+col+" = ?", value); err != nil {
		return 0, err
	}
	res, err := s.exec(ctx, tx, "UPDATE grants SET revoked = TRUE WHERE "+col+" = ? AND revoked = FALSE", value)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.d.mapErr(err)
	}
	if _, err := s.exec(ctx, tx, s.d.revokeFamiliesOfGrants(col), value); err != nil {
		return 0, err
	}
	return int(n), nil
}

// lockGrant locks the grant row id on tx until the transaction ends (see
// the lock order above); a missing row locks nothing. On SQLite, whose
// write transactions run one at a time, there is nothing to lock.
func (s *Store) lockGrant(ctx context.Context, tx *sql.Tx, id string) error {
	if s.d == dialectSQLite {
		return nil
	}
	var one int
	err := s.queryRow(ctx, tx, func(r scanner) error { return r.Scan(&one) },
		"SELECT 1 FROM grants WHERE id = ? FOR UPDATE", id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}
