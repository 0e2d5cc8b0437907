package authz

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// The introspection endpoint (RFC 7662). Only confidential clients may
// call it (§2.1), and each learns only about tokens meant for it:
//
//   - a resource server (a client registered with a ResourceAudience)
//     introspects access tokens whose aud contains its audience;
//   - any client introspects its own access and refresh tokens.
//
// Everything else — unknown, expired, revoked, or another client's token —
// is just {"active": false}, without saying why (§2.2). Introspecting a
// refresh token never counts as using it.

func (s *Server) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	caller, token, ok := s.tokenRequest(w, r, useConfidential)
	if !ok {
		return
	}
	kinds := byHint(r.PostForm.Get("token_type_hint"), s.introspectAccessToken, s.introspectRefreshToken, false)
	for _, introspect := range kinds {
		resp, err := introspect(r.Context(), caller, token)
		if err != nil {
			s.requestError(w, r, shapeJSON, err)
			return
		}
		if resp != nil {
			writeJSON(w, http.StatusOK, resp)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"active": false})
}

// introspectAccessToken answers for an active access token the caller may
// see, or nil.
func (s *Server) introspectAccessToken(ctx context.Context, caller storage.Client, token string) (map[string]any, error) {
	c, err := s.checker.active(ctx, token)
	switch {
	case errors.Is(err, errInactive):
		return nil, nil
	case err != nil:
		return nil, serverError(err, "checking access token")
	}
	meantFor := c.ClientID == caller.ID || caller.ResourceAudience != "" && slices.Contains(c.Audience, caller.ResourceAudience)
	if !meantFor {
		return nil, nil
	}
	resp := map[string]any{
		"active": true, "token_type": "access_token", "scope": c.Scope,
		"client_id": c.ClientID, "sub": c.Subject, "aud": []string(c.Audience), "iss": c.Issuer,
		"exp": c.Expiry.Time().Unix(), "iat": c.IssuedAt.Time().Unix(), "jti": c.ID,
	}
	if c.AuthTime != nil {
		resp["auth_time"] = c.AuthTime.Time().Unix()
	}
	if len(c.AMR) > 0 {
		resp["acr"], resp["amr"] = c.ACR, c.AMR
	}
	if c.Confirmation != nil {
		// RFC 9449 §6.2: a resource server asking must see the binding.
		resp["cnf"] = c.Confirmation
	}
	return resp, nil
}

// introspectRefreshToken answers for an active refresh token of the
// caller's own, or nil.
func (s *Server) introspectRefreshToken(ctx context.Context, caller storage.Client, token string) (map[string]any, error) {
	rec, err := s.store.GetRefreshToken(ctx, secret.HashToken(token))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, serverError(err, "loading refresh token")
	}
	now := s.now()
	if rec.ClientID != caller.ID || rec.Used || rec.Revoked || !now.Before(rec.IdleExpiresAt) || !now.Before(rec.ExpiresAt) {
		return nil, nil
	}
	if err := s.checkUser(ctx, rec.UserID); err != nil {
		if errors.Is(err, storage.ErrUnavailable) || !isOAuthError(err) {
			return nil, err
		}
		return nil, nil
	}
	return map[string]any{
		"active": true, "token_type": "refresh_token", "scope": strings.Join(rec.Scopes, " "),
		"client_id": rec.ClientID, "sub": rec.UserID, "iss": s.cfg.Issuer,
		"exp": rec.IdleExpiresAt.Unix(), "iat": rec.CreatedAt.Unix(),
	}, nil
}
