package authz

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// The revocation endpoint (RFC 7009). A client revokes its own tokens;
// every request with a valid client is answered 200 with an empty body,
// whether the token was known or not (§2.2), and another client's token is
// treated as unknown (§2.1). The hint only orders the look-ups.
//
//   - A refresh token revokes its whole grant: the refresh family and every
//     access token issued from it (§2.1 allows it, and the client is
//     signing out).
//   - An access token's ID goes on the revoked list until it expires.

func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	client, token, ok := s.tokenRequest(w, r, usePublicAllowed)
	if !ok {
		return
	}
	kinds := byHint(r.PostForm.Get("token_type_hint"), s.revokeAccessToken, s.revokeRefreshToken, true)
	for _, revoke := range kinds {
		found, err := revoke(r.Context(), client.ID, token)
		if err != nil {
			s.requestError(w, r, shapeJSON, err)
			return
		}
		if found {
			break
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// revokeRefreshToken revokes the grant of a refresh token issued to
// clientID. It reports whether token is a refresh token.
func (s *Server) revokeRefreshToken(ctx context.Context, clientID, token string) (bool, error) {
	rec, err := s.store.GetRefreshToken(ctx, secret.HashToken(token))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return false, nil
	case err != nil:
		return false, serverError(err, "loading refresh token")
	case rec.ClientID != clientID:
		return true, nil
	}
	if err := s.store.RevokeGrant(ctx, rec.FamilyID); err != nil {
		return true, serverError(err, "revoking grant")
	}
	s.audit.InfoContext(ctx, "refresh token revoked", "event", "revocation", "token_type", "refresh_token", "client_id", clientID, "user_id", rec.UserID)
	return true, nil
}

// revokeAccessToken puts an access token issued to clientID on the
// revoked list. It reports whether token is an access token (one that is
// no longer active counts as unknown: there is nothing left to revoke).
func (s *Server) revokeAccessToken(ctx context.Context, clientID, token string) (bool, error) {
	claims, err := s.checker.claims(token, s.now())
	if err != nil {
		return false, nil
	}
	if claims.ClientID != clientID {
		return true, nil
	}
	if err := s.store.RevokeAccessToken(ctx, claims.ID, claims.Expiry.Time()); err != nil {
		return true, serverError(err, "revoking access token")
	}
	s.audit.InfoContext(ctx, "access token revoked", "event", "revocation", "token_type", "access_token", "client_id", clientID, "user_id", claims.Subject)
	return true, nil
}
