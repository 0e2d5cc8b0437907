package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-dev/gatehouse/internal/authz/keys"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// opStorage translates op's large Storage interface to Gatehouse's small
// store interfaces. op reaches only part of it, because opServer replaces
// the endpoints where Gatehouse's rules differ from op's; the rest is
// implemented so the adapter is whole and honest about what it supports.
type opStorage struct {
	s *Server
}

var (
	_ op.Storage                   = (*opStorage)(nil)
	_ op.CanSetUserinfoFromRequest = (*opStorage)(nil)
)

// --- clients ---

// opClient presents a storage.Client to op.
type opClient struct {
	c storage.Client
}

var _ op.Client = opClient{}

func (c opClient) GetID() string                    { return c.c.ID }
func (c opClient) RedirectURIs() []string           { return c.c.RedirectURIs }
func (c opClient) PostLogoutRedirectURIs() []string { return c.c.PostLogoutRedirectURIs }

// ApplicationType: public clients are native apps (RFC 8252), whose loopback
// redirects may vary the port; confidential clients are web servers.
func (c opClient) ApplicationType() op.ApplicationType {
	if c.c.Public {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c opClient) AuthMethod() oidc.AuthMethod {
	if c.c.Public {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

// ResponseTypes: only "code" (OAuth 2.1 §4: no implicit or hybrid).
func (c opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c opClient) GrantTypes() []oidc.GrantType {
	var out []oidc.GrantType
	for _, g := range c.c.GrantTypes {
		out = append(out, oidc.GrantType(g))
	}
	return out
}

func (c opClient) LoginURL(id string) string           { return "/login?id=" + id }
func (c opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeJWT }
func (c opClient) IDTokenLifetime() time.Duration      { return idTokenTTL }
func (c opClient) DevMode() bool                       { return false }
func (c opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c opClient) IsScopeAllowed(scope string) bool     { return slices.Contains(c.c.Scopes, scope) }
func (c opClient) IDTokenUserinfoClaimsAssertion() bool { return false }
func (c opClient) ClockSkew() time.Duration             { return 0 }
func clientOf(c op.Client) (storage.Client, bool)       { oc, ok := c.(opClient); return oc.c, ok }
func (a *opStorage) now() time.Time                     { return a.s.now() }
func (a *opStorage) Health(ctx context.Context) error   { return a.s.store.Ping(ctx) }
func (a *opStorage) store() storage.Store               { return a.s.store }
func notFound(err error) bool                           { return errors.Is(err, storage.ErrNotFound) }
func (a *opStorage) keyManager() *keys.Manager          { return a.s.keys }
func serverError(err error, what string) *oidc.Error {
	return oidc.ErrServerError().WithParent(fmt.Errorf("%s: %w", what, err))
}

func (a *opStorage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := a.store().GetClient(ctx, id)
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("client %q: %w", id, err)
		}
		return nil, serverError(err, "loading client")
	}
	return opClient{c}, nil
}

func (a *opStorage) AuthorizeClientIDSecret(ctx context.Context, id, sec string) error {
	_, err := a.s.authenticateClient(ctx, id, sec)
	return err
}

// --- authorization requests ---

// authRequest presents a storage.AuthRequest to op (for ID tokens).
type authRequest struct {
	r storage.AuthRequest
}

var _ op.AuthRequest = authRequest{}

func (r authRequest) GetID() string          { return r.r.ID }
func (r authRequest) GetACR() string         { return "" }
func (r authRequest) GetAMR() []string       { return r.r.AMR }
func (r authRequest) GetAudience() []string  { return []string{r.r.ClientID} }
func (r authRequest) GetAuthTime() time.Time { return r.r.AuthTime }
func (r authRequest) GetClientID() string    { return r.r.ClientID }
func (r authRequest) GetNonce() string       { return r.r.Nonce }
func (r authRequest) GetRedirectURI() string { return r.r.RedirectURI }
func (r authRequest) GetScopes() []string    { return r.r.Scopes }
func (r authRequest) GetState() string       { return r.r.State }
func (r authRequest) GetSubject() string     { return r.r.UserID }
func (r authRequest) Done() bool             { return r.r.Done }
func (r authRequest) GetResponseMode() oidc.ResponseMode {
	return oidc.ResponseMode(r.r.ResponseMode)
}
func (r authRequest) GetResponseType() oidc.ResponseType {
	return oidc.ResponseType(r.r.ResponseType)
}
func (r authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if r.r.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: r.r.CodeChallenge, Method: oidc.CodeChallengeMethod(r.r.CodeChallengeMethod)}
}

// CreateAuthRequest stores a request op parsed. Gatehouse's own authorization
// endpoint (authorize.go) does this itself; op reaches it only through
// op.Authorize, which Gatehouse does not route.
func (a *opStorage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	r, err := a.s.newAuthRequest(req)
	if err != nil {
		return nil, err
	}
	if err := a.store().CreateAuthRequest(ctx, r); err != nil {
		return nil, serverError(err, "storing auth request")
	}
	return authRequest{r}, nil
}

func (a *opStorage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	r, err := a.store().GetAuthRequest(ctx, id)
	if err != nil {
		return nil, err
	}
	return authRequest{r}, nil
}

func (a *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	r, err := a.store().GetAuthRequestByCode(ctx, secret.HashToken(code))
	if err != nil {
		return nil, err
	}
	if r.CodeUsed || !a.now().Before(r.ExpiresAt) {
		return nil, oidc.ErrInvalidGrant()
	}
	return authRequest{r}, nil
}

func (a *opStorage) SaveAuthCode(ctx context.Context, id, code string) error {
	return a.store().SetAuthCode(ctx, id, secret.HashToken(code), a.now().Add(codeTTL))
}

// DeleteAuthRequest keeps the request: it must outlive its code so that a
// replayed code is recognised (RFC 9700 §4.1.1 ... "revoke all tokens");
// the janitor removes it when it expires.
func (a *opStorage) DeleteAuthRequest(context.Context, string) error { return nil }

// --- tokens ---

// tokenRequestGrant turns what op hands to CreateAccessToken into a grant.
func tokenRequestGrant(req op.TokenRequest) (grant, error) {
	switch r := req.(type) {
	case authRequest:
		return grant{familyID: r.r.ID, clientID: r.r.ClientID, subject: r.r.UserID, scopes: r.r.Scopes, authTime: r.r.AuthTime, amr: r.r.AMR}, nil
	case *refreshRequest:
		return grant{familyID: r.rec.FamilyID, clientID: r.rec.ClientID, subject: r.rec.UserID, scopes: r.scopes, authTime: r.rec.AuthTime, amr: r.rec.AMR}, nil
	case clientCredentialsRequest:
		return grant{clientID: r.clientID, subject: r.clientID, scopes: r.scopes}, nil
	default:
		return grant{}, fmt.Errorf("unsupported token request %T", req)
	}
}

// CreateAccessToken records and signs an access token; op's own JWT
// signing is not used because RFC 9068 access tokens need a typ header op
// does not set and a key op does not choose (see token.go).
func (a *opStorage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	g, err := tokenRequestGrant(req)
	if err != nil {
		return "", time.Time{}, err
	}
	at, err := a.s.issueAccessToken(ctx, g)
	if err != nil {
		return "", time.Time{}, err
	}
	return at.id, at.expiresAt, nil
}

func (a *opStorage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	g, err := tokenRequestGrant(req)
	if err != nil {
		return "", "", time.Time{}, err
	}
	var rt string
	if current != "" {
		rt, err = a.s.rotateRefreshToken(ctx, current, g)
	} else {
		rt, err = a.s.issueRefreshToken(ctx, g)
	}
	if err != nil {
		return "", "", time.Time{}, err
	}
	at, err := a.s.issueAccessToken(ctx, g)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return at.id, rt, at.expiresAt, nil
}

// refreshRequest presents a refresh token to op.
type refreshRequest struct {
	rec    storage.RefreshToken
	scopes []string
}

var _ op.RefreshTokenRequest = (*refreshRequest)(nil)

func (r *refreshRequest) GetAMR() []string            { return r.rec.AMR }
func (r *refreshRequest) GetAudience() []string       { return []string{r.rec.ClientID} }
func (r *refreshRequest) GetAuthTime() time.Time      { return r.rec.AuthTime }
func (r *refreshRequest) GetClientID() string         { return r.rec.ClientID }
func (r *refreshRequest) GetScopes() []string         { return r.scopes }
func (r *refreshRequest) GetSubject() string          { return r.rec.UserID }
func (r *refreshRequest) SetCurrentScopes(s []string) { r.scopes = s }

func (a *opStorage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	rec, err := a.s.checkRefreshToken(ctx, token)
	if err != nil {
		return nil, err
	}
	return &refreshRequest{rec: rec, scopes: rec.Scopes}, nil
}

type clientCredentialsRequest struct {
	clientID string
	scopes   []string
}

func (r clientCredentialsRequest) GetSubject() string    { return r.clientID }
func (r clientCredentialsRequest) GetAudience() []string { return nil }
func (r clientCredentialsRequest) GetScopes() []string   { return r.scopes }

func (a *opStorage) TerminateSession(ctx context.Context, userID, _ string) error {
	return a.store().DeleteUserLoginSessions(ctx, userID)
}

func (a *opStorage) RevokeToken(ctx context.Context, token, _, clientID string) *oidc.Error {
	if err := a.s.revoke(ctx, clientID, token, ""); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

func (a *opStorage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	rec, err := a.store().GetRefreshToken(ctx, secret.HashToken(token))
	if err != nil || rec.ClientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return rec.UserID, rec.ID, nil
}

// --- keys ---

type signingKey struct{ k keys.Key }

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.k.Algorithm }
func (k signingKey) Key() any                                    { return k.k.Private }
func (k signingKey) ID() string                                  { return k.k.ID }

type publicKey struct{ k keys.Key }

func (k publicKey) ID() string                         { return k.k.ID }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return k.k.Algorithm }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.k.Public.Key }

// SigningKey is the ID-token key: op signs ID tokens, Gatehouse signs access
// tokens itself with AccessTokenAlg.
func (a *opStorage) SigningKey(context.Context) (op.SigningKey, error) {
	k, err := a.keyManager().Signer(IDTokenAlg, a.now())
	if err != nil {
		return nil, err
	}
	return signingKey{k}, nil
}

func (a *opStorage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{IDTokenAlg}, nil
}

func (a *opStorage) KeySet(context.Context) ([]op.Key, error) {
	var out []op.Key
	for _, k := range a.keyManager().Published(a.now()) {
		out = append(out, publicKey{k})
	}
	return out, nil
}

// --- claims ---

// SetUserinfoFromScopes is deprecated in op; SetUserinfoFromRequest does the work.
func (a *opStorage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (a *opStorage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return a.s.fillUserinfo(ctx, info, req.GetSubject(), scopes)
}

func (a *opStorage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, _ string) error {
	at, err := a.store().GetAccessToken(ctx, tokenID)
	if err != nil || at.Revoked || !a.now().Before(at.ExpiresAt) || at.Subject != subject {
		return errors.New("token is not active")
	}
	return a.s.fillUserinfo(ctx, info, subject, at.Scopes)
}

func (a *opStorage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, _ string) error {
	at, err := a.store().GetAccessToken(ctx, tokenID)
	if err != nil || at.Revoked || !a.now().Before(at.ExpiresAt) || at.Subject != subject {
		return errors.New("token is not active")
	}
	resp.Active = true
	resp.Scope = at.Scopes
	resp.ClientID = at.ClientID
	resp.Subject = at.Subject
	resp.Audience = at.Audience
	resp.Expiration = oidc.FromTime(at.ExpiresAt)
	resp.IssuedAt = oidc.FromTime(at.CreatedAt)
	resp.Issuer = a.s.cfg.Issuer
	resp.TokenType = oidc.BearerToken
	return nil
}

// GetPrivateClaimsFromScopes adds nothing: access tokens are built in token.go.
func (a *opStorage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID: private_key_jwt client authentication and the JWT
// profile grant are not offered.
func (a *opStorage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrInvalidClient().WithDescription("private_key_jwt is not supported")
}

func (a *opStorage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}
