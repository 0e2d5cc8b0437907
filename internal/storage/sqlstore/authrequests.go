package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

const authRequestColumns = "id, client_id, redirect_uri, state, nonce, scopes, response_type, response_mode, " +
	"code_challenge, code_challenge_method, prompt, max_age_us, login_hint, user_id, auth_time, amr, done, " +
	"code_hash, code_used, dpop_jkt, resource, created_at, expires_at"

func scanAuthRequest(a *storage.AuthRequest) func(scanner) error {
	return func(r scanner) error {
		var maxAge sql.NullInt64
		var codeHash sql.NullString
		err := r.Scan(&a.ID, &a.ClientID, &a.RedirectURI, &a.State, &a.Nonce, list(&a.Scopes), &a.ResponseType,
			&a.ResponseMode, &a.CodeChallenge, &a.CodeChallengeMethod, list(&a.Prompt), &maxAge, &a.LoginHint,
			&a.UserID, ts(&a.AuthTime), list(&a.AMR), &a.Done, &codeHash, &a.CodeUsed, &a.DPoPJKT, &a.Resource, ts(&a.CreatedAt), ts(&a.ExpiresAt))
		if err != nil {
			return err
		}
		a.MaxAge = nil
		if maxAge.Valid {
			d := time.Duration(maxAge.Int64) * time.Microsecond
			a.MaxAge = &d
		}
		a.CodeHash = codeHash.String
		return nil
	}
}

// CreateAuthRequest stores a new authorization request.
func (s *Store) CreateAuthRequest(ctx context.Context, a storage.AuthRequest) error {
	var maxAge sql.NullInt64
	if a.MaxAge != nil {
		maxAge = sql.NullInt64{Int64: a.MaxAge.Microseconds(), Valid: true}
	}
	_, err := s.write(ctx, "INSERT INTO auth_requests ("+authRequestColumns+") VALUES "+
		"(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		a.ID, a.ClientID, a.RedirectURI, a.State, a.Nonce, encodeList(a.Scopes), a.ResponseType, a.ResponseMode,
		a.CodeChallenge, a.CodeChallengeMethod, encodeList(a.Prompt), maxAge, a.LoginHint, a.UserID,
		nullMicros(a.AuthTime), encodeList(a.AMR), a.Done, nullString(a.CodeHash), a.CodeUsed, a.DPoPJKT, a.Resource, micros(a.CreatedAt),
		micros(a.ExpiresAt))
	return err
}

// GetAuthRequest returns the request with the given ID, expired or not.
func (s *Store) GetAuthRequest(ctx context.Context, id string) (storage.AuthRequest, error) {
	var a storage.AuthRequest
	err := s.queryRow(ctx, s.rdb, scanAuthRequest(&a),
		"SELECT "+authRequestColumns+" FROM auth_requests WHERE id = ?", id)
	return a, err
}

// SetAuthCode stores the hash of the request's code and the code's expiry,
// which becomes the request's, on a request that has no code yet: a
// request's one code is never replaced, so a code issued before stays the
// one that finds the request (and its grant, when it comes back).
func (s *Store) SetAuthCode(ctx context.Context, id, codeHash string, expiresAt time.Time) error {
	return s.writeOne(ctx, "UPDATE auth_requests SET code_hash = ?, expires_at = ? WHERE id = ? AND code_hash IS NULL",
		nullString(codeHash), micros(expiresAt), id)
}

// GetAuthRequestByCode finds a request by its code hash, used or not.
func (s *Store) GetAuthRequestByCode(ctx context.Context, codeHash string) (storage.AuthRequest, error) {
	if codeHash == "" {
		return storage.AuthRequest{}, storage.ErrNotFound
	}
	var a storage.AuthRequest
	err := s.queryRow(ctx, s.rdb, scanAuthRequest(&a),
		"SELECT "+authRequestColumns+" FROM auth_requests WHERE code_hash = ?", codeHash)
	return a, err
}

// RedeemAuthCode marks the code used and creates the grant and its first
// refresh token, in one transaction, exactly once: the conditional UPDATE
// matches the row only while code_used is false, and the database
// serialises concurrent UPDATEs of one row, so one caller sees one affected
// row and the others none (RFC 6749 §4.1.2: the code MUST NOT be used more
// than once). The others' UPDATE waits for the winner's transaction to end
// (on SQLite, their shared transaction commits before any caller learns its
// outcome), so they return, with the request and storage.ErrAlreadyUsed,
// only after the winner's grant is committed; if the winner's transaction
// fails, the code is unused again and one of them wins. A used code gives
// storage.ErrAlreadyUsed whether or not it has expired since; an unknown
// code, or an expired one that was never used, is storage.ErrNotFound.
func (s *Store) RedeemAuthCode(ctx context.Context, codeHash string, now time.Time, g storage.Grant, first *storage.RefreshToken) (storage.AuthRequest, error) {
	if codeHash == "" {
		return storage.AuthRequest{}, storage.ErrNotFound
	}
	var a storage.AuthRequest
	var result error
	err := s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := s.exec(ctx, tx,
			"UPDATE auth_requests SET code_used = TRUE WHERE code_hash = ? AND code_used = FALSE AND expires_at > ?",
			codeHash, micros(now))
		if err != nil {
			return err
		}
		won, err := res.RowsAffected()
		if err != nil {
			return s.d.mapErr(err)
		}
		if err := s.queryRow(ctx, tx, scanAuthRequest(&a),
			"SELECT "+authRequestColumns+" FROM auth_requests WHERE code_hash = ?", codeHash); err != nil {
			return err
		}
		switch {
		case won == 1:
			return s.createGrantFamily(ctx, tx, a.ID, g, first)
		case a.CodeUsed:
			result = storage.ErrAlreadyUsed
		default:
			result = storage.ErrNotFound // expired
		}
		return nil
	})
	switch {
	case err != nil:
		return storage.AuthRequest{}, err
	case errors.Is(result, storage.ErrNotFound):
		return storage.AuthRequest{}, result
	}
	return a, result
}

// createGrantFamily stores, on tx, the grant of request requestID and, when
// first is not nil, the first refresh token of its family. A grant that is
// not the request's, or a token of another family, is refused: revoking
// the grant (by the request's ID) would not reach them.
func (s *Store) createGrantFamily(ctx context.Context, tx *sql.Tx, requestID string, g storage.Grant, first *storage.RefreshToken) error {
	if g.ID != requestID {
		return fmt.Errorf("sqlstore: grant %q for authorization request %q: the IDs must be equal", g.ID, requestID)
	}
	if err := s.createGrant(ctx, tx, g); err != nil {
		return err
	}
	if first == nil {
		return nil
	}
	if first.FamilyID != g.ID {
		return fmt.Errorf("sqlstore: first refresh token of family %q for grant %q: the IDs must be equal", first.FamilyID, g.ID)
	}
	return s.createRefreshToken(ctx, tx, *first)
}

// DeleteExpiredAuthRequests removes at most limit requests that expired
// before the given time.
func (s *Store) DeleteExpiredAuthRequests(ctx context.Context, before time.Time, limit int) (int, error) {
	return s.deleteBatches(ctx, before, limit, s.d.DeleteBatch("auth_requests", "id", "expires_at < ?"))
}
