package authz

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// The authorization code grant at the token endpoint:
//
//   - RFC 6749 §4.1.3: the code was issued to this client, for this
//     redirect_uri, and is used once;
//   - RFC 7636 §4.6 and RFC 9700 §2.1.1: the S256 verifier matches the
//     challenge, and a verifier for a code issued without a challenge is
//     refused (PKCE downgrade);
//   - RFC 9700 §4.1.1: a code presented again revokes everything issued
//     from it.
//
// The exchange starts a grant (storage.Grant, whose ID is the
// authorization request's) and, when the client gets one, its refresh
// family. Tokens are signed first; then storage.RedeemAuthCode marks the
// code used and stores the grant in one transaction. A failure before or
// during that write leaves the code unused; a loser of a race is a replay.

// exchangeCode is the authorization_code grant.
func (s *Server) exchangeCode(r *http.Request, client storage.Client, jkt string) (tokenResponse, error) {
	ctx := r.Context()
	f := r.PostForm
	code, redirectURI := f.Get("code"), f.Get("redirect_uri")
	if code == "" || redirectURI == "" {
		return tokenResponse{}, invalidRequest("code and redirect_uri are required")
	}
	hash := secret.HashToken(code)
	req, err := s.store.GetAuthRequestByCode(ctx, hash)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, invalidGrant("invalid code")
	case err != nil:
		return tokenResponse{}, serverError(err, "loading code")
	}
	if req.ClientID != client.ID || req.RedirectURI != redirectURI {
		return tokenResponse{}, invalidGrant("invalid code")
	}
	if req.CodeUsed {
		s.codeReplayed(ctx, req)
		return tokenResponse{}, invalidGrant("invalid code")
	}
	if err := checkPKCE(req, client, f.Get("code_verifier")); err != nil {
		return tokenResponse{}, err
	}
	if req.DPoPJKT != "" && req.DPoPJKT != jkt {
		// RFC 9449 §10: the code was asked for with dpop_jkt.
		return tokenResponse{}, errDPoPKey("the authorization code")
	}
	if err := s.checkUser(ctx, req.UserID); err != nil {
		return tokenResponse{}, err
	}
	target, terr, err := s.storedTarget(ctx, req.Resource)
	switch {
	case err != nil:
		return tokenResponse{}, serverError(err, "loading a resource server")
	case terr != nil:
		return tokenResponse{}, terr.tokenError()
	}
	if terr := sameTarget(f["resource"], target); terr != nil {
		return tokenResponse{}, terr.tokenError()
	}

	idAlg, err := clientIDTokenAlg(client)
	if err != nil {
		return tokenResponse{}, serverError(err, "choosing the ID token algorithm")
	}
	g := grantFor(client)
	g.id, g.subject, g.scopes, g.authTime, g.amr, g.nonce, g.idAlg = req.ID, req.UserID, req.Scopes, req.AuthTime, req.AMR, req.Nonce, idAlg
	g.jkt, g.refreshJKT, g.audience = jkt, refreshBinding(client, "", jkt), target.audience
	refresh := wantsRefresh(client, req.Scopes)
	out, err := s.issuer.issue(g, true, code, refresh, time.Time{})
	if err != nil {
		return tokenResponse{}, serverError(err, "issuing tokens")
	}
	now := s.now()
	record := storage.Grant{ID: req.ID, ClientID: req.ClientID, UserID: req.UserID, Scopes: g.scopes,
		CreatedAt: now, ExpiresAt: s.issuer.grantExpiry(refresh)}
	req, err = s.store.RedeemAuthCode(ctx, hash, now, record, out.refresh)
	switch {
	case errors.Is(err, storage.ErrAlreadyUsed):
		// Lost a race with another use of the same code: a replay. The
		// winner's grant is stored by now, so revoking it reaches the
		// winner's tokens.
		s.codeReplayed(ctx, req)
		return tokenResponse{}, invalidGrant("invalid code")
	case errors.Is(err, storage.ErrNotFound):
		return tokenResponse{}, invalidGrant("invalid code")
	case err != nil:
		return tokenResponse{}, serverError(err, "redeeming code")
	}
	s.audit.InfoContext(ctx, "tokens issued", "event", "tokens_issued", "grant_type", "authorization_code",
		"client_id", g.clientID, "user_id", g.subject, "scope", g.scopes, "refresh", out.refresh != nil, "id_token", out.resp.IDToken != "")
	return out.resp, nil
}

// pkceVerifier is the form of a code verifier (RFC 7636 §4.1): 43 to 128
// characters of the unreserved set.
var pkceVerifier = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)

// checkPKCE checks the code verifier (RFC 7636 §4.1, §4.6; RFC 9700
// §2.1.1). A verifier of another form is refused even when its hash
// matches: a short one can be guessed from the challenge.
func checkPKCE(req storage.AuthRequest, client storage.Client, verifier string) error {
	switch {
	case req.CodeChallenge != "":
		if !pkceVerifier.MatchString(verifier) {
			return invalidGrant("malformed code_verifier")
		}
		if !verifyS256(verifier, req.CodeChallenge) {
			return invalidGrant("PKCE verification failed")
		}
	case verifier != "":
		return invalidGrant("code_verifier sent for a code issued without code_challenge")
	case !client.PKCEOptional:
		return invalidGrant("PKCE required")
	}
	return nil
}

// verifyS256 checks a PKCE verifier against an S256 challenge in constant
// time.
func verifyS256(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

// codeReplayed revokes every token issued from a code presented twice
// (RFC 9700 §4.1.1: the server "SHOULD revoke all access tokens already
// issued based on that authorization code").
func (s *Server) codeReplayed(ctx context.Context, req storage.AuthRequest) {
	if err := s.store.RevokeGrant(ctx, req.ID); err != nil {
		s.log.ErrorContext(ctx, "revoking the grant of a replayed code failed", "err", err)
	}
	s.audit.WarnContext(ctx, "authorization code presented after it was used or withdrawn; tokens issued from it revoked",
		"event", "code_reuse", "client_id", req.ClientID, "user_id", req.UserID)
}

// checkUser refuses tokens for a person whose account was removed or
// disabled since they signed in.
func (s *Server) checkUser(ctx context.Context, userID string) error {
	u, err := s.store.GetUser(ctx, userID)
	switch {
	case errors.Is(err, storage.ErrNotFound), err == nil && u.Disabled:
		return invalidGrant("the account is not active")
	case err != nil:
		return serverError(err, fmt.Sprintf("loading user %q", userID))
	}
	return nil
}
