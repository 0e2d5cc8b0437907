package authz

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// opServer implements the token, revocation, introspection, userinfo,
// JWKS and end-session endpoints on op's request and response types, with
// Gatehouse's rules where they are stricter than op's:
//
//   - VerifyClient: wrong or missing credentials answer 401 invalid_client
//     (RFC 6749 §5.2); op answers 400.
//   - CodeExchange: codes are consumed atomically and a replay revokes what
//     the code issued (RFC 9700 §4.1.1 / OAuth 2.1 §4.1.3); op only looks
//     codes up. A verifier for a code issued without a challenge is refused
//     (RFC 9700 §2.1.1 downgrade); op checks it only when sent.
//   - RefreshToken: rotation with reuse detection (RFC 9700 §4.14.2).
//   - ClientCredentialsExchange, Introspect, Revocation, UserInfo, Keys and
//     Discovery work on Gatehouse's own token records and RFC 9068 tokens.
//
// The HTTP side (endpoints.go) is Gatehouse's own; op's provider is kept
// for ID tokens and id_token_hint verification.
type opServer struct {
	s        *Server
	storage  *opStorage
	provider *op.Provider
	// clients caches client registrations for client authentication
	// (clientcache.go): a change to a client takes effect here within
	// clientCacheTTL.
	clients *clientCache
}

func newOPServer(s *Server) (*opServer, error) {
	st := &opStorage{s: s}
	var cryptoKey [32]byte
	copy(cryptoKey[:], s.cfg.Secret.Derive("authz/op-crypto", 32))
	config := &op.Config{
		CryptoKey:                cryptoKey,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedScopes:          s.scopes,
		SupportedClaims:          []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "at_hash", "azp", "amr", "name", "preferred_username", "email", "email_verified"},
		DefaultLogoutRedirectURI: s.cfg.Issuer + "/signed-out",
	}
	var opts []op.Option
	if s.cfg.InsecureHTTP {
		opts = append(opts, op.WithAllowInsecure())
	}
	provider, err := op.NewProvider(config, st, op.StaticIssuer(s.cfg.Issuer), opts...)
	if err != nil {
		return nil, err
	}
	return &opServer{s: s, storage: st, provider: provider, clients: newClientCache(s.store.GetClient, s.now, clientCacheTTL)}, nil
}

// routes registers the endpoints. Every one checks its methods itself, so
// that a wrong method is answered in the endpoint's error shape. No CORS
// anywhere on the role (RFC 9700 §4.16 asks none on the authorization
// endpoint; browser apps use the web app's backend).
func (o *opServer) routes(mux *http.ServeMux) {
	mux.HandleFunc("/token", o.serveToken)
	mux.HandleFunc("/revoke", o.serveRevoke)
	mux.HandleFunc("/introspect", o.serveIntrospect)
	mux.HandleFunc("/userinfo", o.serveUserinfo)
	mux.HandleFunc("/jwks", o.serveJWKS)
	mux.HandleFunc("/end_session", o.serveEndSession)
}

func (o *opServer) Discovery(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	return op.NewResponse(o.s.metadata()), nil
}

func (o *opServer) Keys(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	resp := op.NewResponse(o.s.keys.JWKS(o.s.now()))
	resp.Header.Set("Cache-Control", "public, max-age=300")
	return resp, nil
}

// VerifyClient authenticates the client of a token or revocation request.
// Confidential clients use client_secret_basic or client_secret_post; public
// clients only identify themselves, and only for the code and refresh grants
// and revocation (RFC 6749 §2.3, §3.2.1).
func (o *opServer) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	cc := r.Data
	if cc.ClientAssertion != "" {
		return nil, errInvalidClient()
	}
	c, err := o.clients.get(ctx, cc.ClientID)
	if err == nil && c.Public {
		gt := oidc.GrantType(r.Form.Get("grant_type"))
		if cc.ClientSecret != "" || (gt != "" && gt != oidc.GrantTypeCode && gt != oidc.GrantTypeRefreshToken) {
			return nil, errInvalidClient()
		}
		return opClient{c}, nil
	}
	c, err = checkClientSecret(c, err, cc.ClientSecret) // one read, even for an unknown client
	if err != nil {
		o.s.audit.InfoContext(ctx, "client authentication failed", "event", "client_auth_failed", "client_id", cc.ClientID)
		return nil, err
	}
	return opClient{c}, nil
}

// verifyS256 checks a PKCE verifier against an S256 challenge (RFC 7636
// §4.6) in constant time.
func verifyS256(verifier, challenge string) bool {
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}

func (o *opServer) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	s := o.s
	client, _ := clientOf(r.Client)
	hash := secret.HashToken(r.Data.Code)
	req, err := s.store.GetAuthRequestByCode(ctx, hash)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return nil, oidc.ErrInvalidGrant().WithDescription("invalid code")
		}
		return nil, serverError(err, "loading code")
	}
	// RFC 6749 §4.1.3: the code was issued to this client, for this
	// redirect_uri.
	if req.ClientID != client.ID || req.RedirectURI != r.Data.RedirectURI {
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid code")
	}
	if req.CodeUsed {
		s.codeReplayed(ctx, req)
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid code")
	}
	// RFC 7636 §4.6; RFC 9700 §2.1.1: a verifier is accepted only when the
	// code was issued with a challenge (PKCE downgrade).
	switch {
	case req.CodeChallenge != "":
		if r.Data.CodeVerifier == "" || !verifyS256(r.Data.CodeVerifier, req.CodeChallenge) {
			return nil, oidc.ErrInvalidGrant().WithDescription("PKCE verification failed")
		}
	case r.Data.CodeVerifier != "":
		return nil, oidc.ErrInvalidGrant().WithDescription("code_verifier sent for a code issued without code_challenge")
	case !client.PKCEOptional:
		return nil, oidc.ErrInvalidGrant().WithDescription("PKCE required")
	}
	// One token response per code (RFC 9700 §4.1.1): exactly one caller
	// wins; a loser is a replay.
	req, err = s.store.ConsumeAuthCode(ctx, hash, s.now())
	switch {
	case errors.Is(err, storage.ErrAlreadyUsed):
		s.codeReplayed(ctx, req)
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid code")
	case errors.Is(err, storage.ErrNotFound):
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid code")
	case err != nil:
		return nil, serverError(err, "consuming code")
	}
	g := grant{familyID: req.ID, clientID: req.ClientID, subject: req.UserID, scopes: req.Scopes, authTime: req.AuthTime, amr: req.AMR}
	resp, err := o.tokenResponse(ctx, r.Client, g, authRequest{req}, r.Data.Code, o.wantsRefresh(client, req.Scopes))
	if err != nil {
		return nil, err
	}
	// A replay that arrived between ConsumeAuthCode and now revoked the
	// family before these tokens existed. It marked the request first, so
	// either it sees these tokens or this check sees the mark: revoke them.
	replayed, err := s.codeWasReplayed(ctx, req.ID)
	if err != nil {
		return nil, serverError(err, "checking for code replay")
	}
	if replayed {
		if err := s.store.RevokeFamily(ctx, req.ID); err != nil {
			return nil, serverError(err, "revoking tokens of a replayed code")
		}
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid code")
	}
	return op.NewResponse(resp), nil
}

// codeWasReplayed reports whether a replay of the request's code was seen.
// A request that is gone (removed by the janitor once its code expired)
// counts as replayed: its mark can no longer be read, so the exchange fails
// closed.
func (s *Server) codeWasReplayed(ctx context.Context, authRequestID string) (bool, error) {
	req, err := s.store.GetAuthRequest(ctx, authRequestID)
	switch {
	case err == nil:
		return req.Replayed, nil
	case errors.Is(err, storage.ErrNotFound):
		return true, nil
	default:
		return false, err
	}
}

// codeReplayed revokes every token issued from a code presented twice
// (RFC 9700 §4.1.1: "the authorization server ... SHOULD revoke all access
// tokens already issued based on that authorization code").
//
// The tokens of the exchange that won may not exist yet, so the request is
// marked replayed first and the winner reads the mark after creating its
// tokens (CodeExchange). Every step is its own committed statement: if the
// winner's read misses the mark, the mark was written after the winner's
// tokens, so the RevokeFamily below, which follows the mark, revokes them.
func (s *Server) codeReplayed(ctx context.Context, req storage.AuthRequest) {
	if err := s.store.MarkAuthCodeReplayed(ctx, req.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.ErrorContext(ctx, "marking a replayed code failed", "err", err)
	}
	if err := s.store.RevokeFamily(ctx, req.ID); err != nil {
		s.log.ErrorContext(ctx, "revoking tokens of a replayed code failed", "err", err)
	}
	s.audit.WarnContext(ctx, "authorization code reused; tokens issued from it revoked",
		"event", "code_reuse", "client_id", req.ClientID, "user_id", req.UserID)
}

// wantsRefresh: refresh tokens go to clients with the refresh_token grant
// that were granted offline_access, or by policy to first-party clients.
func (o *opServer) wantsRefresh(c storage.Client, scopes []string) bool {
	if !slices.Contains(c.GrantTypes, string(oidc.GrantTypeRefreshToken)) {
		return false
	}
	return c.FirstParty || slices.Contains(scopes, oidc.ScopeOfflineAccess)
}

func (o *opServer) tokenResponse(ctx context.Context, client op.Client, g grant, idReq op.IDTokenRequest, code string, refresh bool) (*oidc.AccessTokenResponse, error) {
	s := o.s
	at, err := s.issueAccessToken(ctx, g)
	if err != nil {
		return nil, serverError(err, "issuing access token")
	}
	resp := &oidc.AccessTokenResponse{
		AccessToken: at.token,
		TokenType:   oidc.BearerToken,
		ExpiresIn:   uint64(at.expiresAt.Sub(s.now()).Seconds()),
		Scope:       g.scopes,
	}
	if refresh {
		if resp.RefreshToken, err = s.issueRefreshToken(ctx, g); err != nil {
			return nil, serverError(err, "issuing refresh token")
		}
	}
	if idReq != nil && slices.Contains(g.scopes, oidc.ScopeOpenID) {
		resp.IDToken, err = op.CreateIDToken(ctx, s.cfg.Issuer, idReq, idTokenTTL, at.token, code, o.storage, client)
		if err != nil {
			return nil, serverError(err, "issuing ID token")
		}
	}
	s.audit.InfoContext(ctx, "tokens issued", "event", "tokens_issued", "client_id", g.clientID,
		"user_id", g.subject, "scope", g.scopes, "refresh", resp.RefreshToken != "", "id_token", resp.IDToken != "")
	return resp, nil
}

func (o *opServer) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	s := o.s
	rec, err := s.checkRefreshToken(ctx, r.Data.RefreshToken)
	if err != nil {
		return nil, err
	}
	// RFC 6749 §6: the refresh token is bound to the client it was issued to.
	if rec.ClientID != r.Client.GetID() {
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	}
	scopes := rec.Scopes
	if len(r.Data.Scopes) > 0 {
		// RFC 6749 §6: a narrower scope may be asked for, never a wider one.
		for _, sc := range r.Data.Scopes {
			if !slices.Contains(rec.Scopes, sc) {
				return nil, oidc.ErrInvalidScope().WithDescription("scope exceeds the original grant")
			}
		}
		scopes = r.Data.Scopes
	}
	next, err := s.rotateRefreshToken(ctx, r.Data.RefreshToken, grant{})
	if err != nil {
		return nil, err
	}
	g := grant{familyID: rec.FamilyID, clientID: rec.ClientID, subject: rec.UserID, scopes: scopes, authTime: rec.AuthTime, amr: rec.AMR}
	resp, err := o.tokenResponse(ctx, r.Client, g, &refreshRequest{rec: rec, scopes: scopes}, "", false)
	if err != nil {
		return nil, err
	}
	resp.RefreshToken = next
	return op.NewResponse(resp), nil
}

func (o *opServer) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	s := o.s
	client, _ := clientOf(r.Client)
	if client.Public {
		return nil, errInvalidClient()
	}
	var scopes []string
	if len(r.Data.Scope) == 0 {
		scopes = s.allowedScopes(client, s.cfg.ResourceScopes)
	} else {
		scopes = s.allowedScopes(client, r.Data.Scope)
		if len(scopes) != len(r.Data.Scope) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope not allowed for this client")
		}
	}
	// No user is involved: only resource scopes, never openid or offline_access.
	scopes = slices.DeleteFunc(scopes, func(sc string) bool { return !slices.Contains(s.cfg.ResourceScopes, sc) })
	resp, err := o.tokenResponse(ctx, r.Client, grant{clientID: client.ID, subject: client.ID, scopes: scopes}, nil, "", false)
	if err != nil {
		return nil, err
	}
	return op.NewResponse(resp), nil
}

func (o *opServer) UserInfo(ctx context.Context, r *op.Request[oidc.UserInfoRequest]) (*op.Response, error) {
	rec, err := o.s.verifyAccessToken(ctx, r.Data.AccessToken)
	if err != nil || !slices.Contains(rec.Scopes, oidc.ScopeOpenID) || rec.Subject == rec.ClientID {
		// RFC 6750 §3.1.
		return nil, statusError(http.StatusUnauthorized, oidc.ErrAccessDenied().WithDescription("invalid_token"))
	}
	info := new(oidc.UserInfo)
	if err := o.s.fillUserinfo(ctx, info, rec.Subject, rec.Scopes); err != nil {
		return nil, statusError(http.StatusUnauthorized, oidc.ErrAccessDenied().WithDescription("invalid_token"))
	}
	return op.NewResponse(info), nil
}

// Introspect answers RFC 7662 requests from authenticated confidential
// clients (the resource API has its own). Anything not active is just
// {"active": false}, without saying why (§2.2).
func (o *opServer) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	s := o.s
	if _, err := s.authenticateClient(ctx, r.Data.ClientID, r.Data.ClientSecret); err != nil {
		return nil, err
	}
	inactive := op.NewResponse(map[string]any{"active": false})
	token := r.Data.Token
	if rec, err := s.verifyAccessToken(ctx, token); err == nil {
		return op.NewResponse(map[string]any{
			"active": true, "token_type": "access_token", "scope": spaceJoin(rec.Scopes),
			"client_id": rec.ClientID, "sub": rec.Subject, "aud": rec.Audience, "iss": s.cfg.Issuer,
			"exp": rec.ExpiresAt.Unix(), "iat": rec.CreatedAt.Unix(), "jti": rec.ID,
		}), nil
	}
	rec, err := s.store.GetRefreshToken(ctx, secret.HashToken(token))
	now := s.now()
	if err != nil || rec.Used || rec.Revoked || !now.Before(rec.IdleExpiresAt) || !now.Before(rec.ExpiresAt) {
		return inactive, nil
	}
	return op.NewResponse(map[string]any{
		"active": true, "token_type": "refresh_token", "scope": spaceJoin(rec.Scopes),
		"client_id": rec.ClientID, "sub": rec.UserID, "aud": rec.Audience, "iss": s.cfg.Issuer,
		"exp": rec.IdleExpiresAt.Unix(), "iat": rec.CreatedAt.Unix(),
	}), nil
}

// Revocation implements RFC 7009: 200 for every token, known or not
// (§2.2); the hint only orders the look-ups (§2.1).
func (o *opServer) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	if err := o.s.revoke(ctx, r.Client.GetID(), r.Data.Token, r.Data.TokenTypeHint); err != nil {
		return nil, op.RevocationError(oidc.ErrServerError().WithParent(err))
	}
	return op.NewResponse(nil), nil
}

func (s *Server) revoke(ctx context.Context, clientID, token, hint string) error {
	tryRefresh := func() (bool, error) {
		rec, err := s.store.GetRefreshToken(ctx, secret.HashToken(token))
		if errors.Is(err, storage.ErrNotFound) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		// RFC 7009 §2.1: only the client the token was issued to may
		// revoke it; for anyone else the token is treated as unknown.
		if rec.ClientID != clientID {
			return true, nil
		}
		// Revoking a refresh token revokes its family, and the access
		// tokens issued from it (RFC 7009 §2.1).
		if err := s.store.RevokeFamily(ctx, rec.FamilyID); err != nil {
			return true, err
		}
		s.audit.InfoContext(ctx, "refresh token revoked", "event", "revocation", "token_type", "refresh_token", "client_id", clientID, "user_id", rec.UserID)
		return true, nil
	}
	tryAccess := func() (bool, error) {
		rec, err := s.verifyAccessToken(ctx, token)
		if err != nil {
			return false, nil
		}
		if rec.ClientID != clientID {
			return true, nil
		}
		if err := s.store.RevokeAccessToken(ctx, rec.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return true, err
		}
		s.audit.InfoContext(ctx, "access token revoked", "event", "revocation", "token_type", "access_token", "client_id", clientID, "user_id", rec.Subject)
		return true, nil
	}
	order := []func() (bool, error){tryRefresh, tryAccess}
	if hint == "access_token" {
		order = []func() (bool, error){tryAccess, tryRefresh}
	}
	for _, try := range order {
		found, err := try()
		if err != nil {
			return err
		}
		if found {
			return nil
		}
	}
	return nil
}

func spaceJoin(s []string) string { return strings.Join(s, " ") }
