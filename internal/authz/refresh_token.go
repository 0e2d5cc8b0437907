package authz

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// The refresh token grant at the token endpoint:
//
//   - RFC 6749 §6: the token is bound to the client it was issued to, and a
//     narrower scope may be asked for, never a wider one;
//   - RFC 9700 §4.14.2 and OAuth 2.1 §4.3.1: refresh tokens rotate, and a
//     token presented again after it was rotated is reuse, which revokes
//     its whole grant (a revoked one is simply refused); tokens also expire after a period of
//     inactivity and at the family's absolute lifetime.
//
// The new tokens are signed first; then storage.RotateRefreshToken marks
// the old token used and stores the next one in one transaction. A
// failure before or during that write leaves the old token usable, so a
// client that retries after an error is not taken for a thief. Of
// concurrent refreshes with one token exactly one wins; the others are
// reuse and revoke the grant, which reaches the winner's tokens too: its
// refresh token through the family, its access token through grant_id.

// refresh is the refresh_token grant.
func (s *Server) refresh(r *http.Request, client storage.Client, jkt string) (tokenResponse, error) {
	ctx := r.Context()
	token := r.PostForm.Get("refresh_token")
	if token == "" {
		return tokenResponse{}, invalidRequest("refresh_token is required")
	}
	hash := secret.HashToken(token)
	rec, err := s.store.GetRefreshToken(ctx, hash)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, invalidGrant("invalid refresh token")
	case err != nil:
		return tokenResponse{}, serverError(err, "loading refresh token")
	}
	if rec.ClientID != client.ID {
		return tokenResponse{}, invalidGrant("invalid refresh token")
	}
	switch {
	case rec.Used:
		s.refreshReused(ctx, rec)
		return tokenResponse{}, invalidGrant("invalid refresh token")
	case rec.Revoked:
		// Revoked already (sign-out, reuse, a password reset): nothing
		// more to revoke.
		return tokenResponse{}, invalidGrant("invalid refresh token")
	}
	now := s.now()
	if !now.Before(rec.IdleExpiresAt) || !now.Before(rec.ExpiresAt) {
		return tokenResponse{}, invalidGrant("invalid refresh token")
	}
	if (s.cfg.RequireMFA || client.RequireMFA) && !slices.Contains(rec.AMR, amrMFA) {
		// A second factor came to be required (of everyone, or for this
		// client) after this sign-in: the person signs in again, with one.
		return tokenResponse{}, invalidGrant("a second factor is required: sign in again")
	}
	if rec.DPoPJKT != "" && rec.DPoPJKT != jkt {
		// A bound token without its key: refused, and left as it is, so
		// that a thief's try does not cost the client its token.
		return tokenResponse{}, errDPoPKey("the refresh token")
	}
	requested := strings.Fields(r.PostForm.Get("scope"))
	scopes, ok := narrowed(rec.Scopes, requested)
	if !ok {
		return tokenResponse{}, oidc.ErrInvalidScope().WithDescription("%s", refreshScopeRefusal(refusedScopes(requested, rec.Scopes), rec.Scopes))
	}
	if err := s.checkUser(ctx, rec.UserID); err != nil {
		return tokenResponse{}, err
	}
	target, terr, err := s.storedTarget(ctx, grantedResource(rec, s.cfg.Audience))
	switch {
	case err != nil:
		return tokenResponse{}, serverError(err, "loading a resource server")
	case terr != nil:
		return tokenResponse{}, terr.tokenError()
	}
	if terr := sameTarget(r.PostForm["resource"], target); terr != nil {
		return tokenResponse{}, terr.tokenError()
	}

	// The access token carries the asked scopes; the next refresh token
	// keeps the whole grant's.
	idAlg, err := clientIDTokenAlg(client)
	if err != nil {
		return tokenResponse{}, serverError(err, "choosing the ID token algorithm")
	}
	g := grantFor(client)
	g.id, g.subject, g.scopes, g.authTime, g.amr, g.idAlg = rec.FamilyID, rec.UserID, scopes, rec.AuthTime, rec.AMR, idAlg
	g.jkt, g.refreshJKT, g.audience = jkt, refreshBinding(client, rec.DPoPJKT, jkt), target.audience
	out, err := s.issuer.issue(g, true, "", true, rec.ExpiresAt)
	if err != nil {
		return tokenResponse{}, serverError(err, "issuing tokens")
	}
	out.refresh.Scopes = rec.Scopes
	prev, err := s.store.RotateRefreshToken(ctx, hash, *out.refresh, now)
	switch {
	case errors.Is(err, storage.ErrAlreadyUsed):
		// Lost a race with another use of the same token: that is reuse
		// too (unless the token was revoked meanwhile).
		if prev.Used {
			s.refreshReused(ctx, prev)
		}
		return tokenResponse{}, invalidGrant("invalid refresh token")
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, invalidGrant("invalid refresh token")
	case err != nil:
		return tokenResponse{}, serverError(err, "rotating refresh token")
	}
	s.audit.InfoContext(ctx, "tokens issued", "event", "tokens_issued", "grant_type", "refresh_token",
		"client_id", g.clientID, "user_id", g.subject, "scope", g.scopes, "id_token", out.resp.IDToken != "")
	return out.resp, nil
}

// refreshBinding is the key a new refresh token of client is bound to:
// the one its predecessor was bound to, else, for a public client, the
// proof's (RFC 9449 §5). A confidential client's refresh tokens stay
// unbound: it authenticates anyway, and the access tokens it gets are
// bound by each request's proof.
func refreshBinding(client storage.Client, prev, jkt string) string {
	switch {
	case prev != "":
		return prev
	case client.Public:
		return jkt
	}
	return ""
}

// refreshReused revokes the grant of a refresh token presented after it
// was rotated or revoked.
func (s *Server) refreshReused(ctx context.Context, rec storage.RefreshToken) {
	if err := s.store.RevokeGrant(ctx, rec.FamilyID); err != nil {
		s.log.ErrorContext(ctx, "revoking the grant of a reused refresh token failed", "err", err)
	}
	s.audit.WarnContext(ctx, "refresh token reuse detected; grant revoked",
		"event", "refresh_reuse", "client_id", rec.ClientID, "user_id", rec.UserID, "grant", rec.FamilyID)
}

// grantedResource is the resource a refresh family's tokens are for, as
// an authorization request records it: "" for the built-in API (and for a
// family that names none).
func grantedResource(rec storage.RefreshToken, builtIn string) string {
	if len(rec.Audience) == 0 || rec.Audience[0] == builtIn {
		return ""
	}
	return rec.Audience[0]
}
