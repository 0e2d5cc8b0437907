package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Grants and their refresh families are locked in one order: a
// transaction that changes both changes (or locks) the grant row first and
// the family's refresh tokens after. RevokeGrant and RotateRefreshToken
// therefore serialise on the grant row, and a revocation cannot miss the
// token a concurrent rotation inserts (see RotateRefreshToken).

const grantColumns = "id, client_id, user_id, scopes, revoked, created_at, expires_at"

func scanGrant(g *storage.Grant) func(scanner) error {
	return func(r scanner) error {
		return r.Scan(&g.ID, &g.ClientID, &g.UserID, list(&g.Scopes), &g.Revoked, ts(&g.CreatedAt), ts(&g.ExpiresAt))
	}
}

// createGrant stores g on q; storage.ErrAlreadyExists if its ID is taken.
func (s *Store) createGrant(ctx context.Context, q querier, g storage.Grant) error {
	_, err := s.exec(ctx, q, "INSERT INTO grants ("+grantColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		g.ID, g.ClientID, g.UserID, encodeList(g.Scopes), g.Revoked, micros(g.CreatedAt), micros(g.ExpiresAt))
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
// revokeGrantsIn), in one transaction, and returns how many grants were
// not revoked before (revoking a user's grants again returns 0).
func (s *Store) RevokeUserGrants(ctx context.Context, userID string) (int, error) {
	return s.revokeGrants(ctx, userScope(userID))
}

// RevokeUserClientGrants is RevokeUserGrants limited to the grants, and
// the requests, of one client.
func (s *Store) RevokeUserClientGrants(ctx context.Context, userID, clientID string) (int, error) {
	return s.revokeGrants(ctx, userClientScope(userID, clientID))
}

// revokeGrants runs revokeGrantsIn in a transaction of its own.
func (s *Store) revokeGrants(ctx context.Context, scope grantScope) (int, error) {
	var n int
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		n, err = s.revokeGrantsIn(ctx, tx, scope)
		return err
	})
	return n, err
}

// ListUserGrants returns the user's grants that are neither revoked nor
// expired at now, newest first (the ID orders grants created at the same
// instant).
func (s *Store) ListUserGrants(ctx context.Context, userID string, now time.Time) ([]storage.Grant, error) {
	var grants []storage.Grant
	var g storage.Grant
	err := s.queryRows(ctx, s.rdb, func(r scanner) error {
		if err := scanGrant(&g)(r); err != nil {
			return err
		}
		grants = append(grants, g)
		return nil
	}, "SELECT "+grantColumns+" FROM grants WHERE user_id = ? AND revoked = FALSE AND expires_at > ? "+
		"ORDER BY created_at DESC, id", userID, micros(now))
	return grants, err
}

// grantScope is what a revocation reaches: the grants, and the
// authorization requests, whose columns cols equal args. Both tables have
// the columns user_id and client_id.
type grantScope struct {
	cols []string
	args []any
}

func userScope(userID string) grantScope {
	return grantScope{[]string{"user_id"}, []any{userID}}
}

func clientScope(clientID string) grantScope {
	return grantScope{[]string{"client_id"}, []any{clientID}}
}

func userClientScope(userID, clientID string) grantScope {
	return grantScope{[]string{"user_id", "client_id"}, []any{userID, clientID}}
}

// where returns the scope's condition, its columns prefixed by qualifier
// (a table alias and a dot, or nothing).
func (g grantScope) where(qualifier string) string {
	conds := make([]string, len(g.cols))
	for i, col := range g.cols {
		conds[i] = qualifier + col + " = ?"
	}
	return strings.Join(conds, " AND ")
}

// revokeGrantsIn revokes, on tx, every grant in scope and the refresh
// tokens of their families, and returns how many grants were not revoked
// before.
//
// It first marks the code of every authorization request in scope used: a
// code issued but not exchanged yet, or the one a request waiting for
// consent would get, then redeems with storage.ErrAlreadyUsed, as a replay,
// and creates no grant. That UPDATE comes before the grants': it waits for
// a RedeemAuthCode of such a request in progress, which holds the
// request's row locked until it commits, so the UPDATE of the grants,
// which starts after that exchange committed, reaches the grant it
// inserted (on PostgreSQL under READ COMMITTED each statement sees what
// committed before it started; on MySQL an UPDATE reads the latest
// committed rows). An exchange that comes after the first UPDATE finds the
// code used. On SQLite the transactions run one at a time. The grants then
// come before their refresh tokens (see the lock order above).
func (s *Store) revokeGrantsIn(ctx context.Context, tx *sql.Tx, scope grantScope) (int, error) {
	if len(scope.cols) == 0 {
		return 0, errors.New("sqlstore: revoking grants without a scope") // would revoke every grant
	}
	where := scope.where("")
	if _, err := s.exec(ctx, tx, "UPDATE auth_requests SET code_used = TRUE WHERE "+where, scope.args...); err != nil {
		return 0, err
	}
	res, err := s.exec(ctx, tx, "UPDATE grants SET revoked = TRUE WHERE "+where+" AND revoked = FALSE", scope.args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.d.mapErr(err)
	}
	if _, err := s.exec(ctx, tx, s.d.revokeFamiliesOfGrants(scope), scope.args...); err != nil {
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
