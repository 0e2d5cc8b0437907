package authz

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/authz/keys"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// grant is what a token is issued for.
type grant struct {
	familyID string // authorization request ID, or the refresh family's
	clientID string
	subject  string
	scopes   []string
	authTime time.Time
	amr      []string
}

type accessToken struct {
	token     string
	id        string
	expiresAt time.Time
}

// accessClaims are the claims of an RFC 9068 JWT access token (§2.2).
type accessClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jwt.Audience     `json:"aud"`
	ClientID string           `json:"client_id"`
	Scope    string           `json:"scope,omitempty"`
	ID       string           `json:"jti"`
	IssuedAt *jwt.NumericDate `json:"iat"`
	Expiry   *jwt.NumericDate `json:"exp"`
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
}

// accessTokenType is the JOSE typ of access tokens (RFC 9068 §2.1).
const accessTokenType = "at+jwt"

// newID returns a record ID (an access token's jti, a refresh token's or an
// authorization request's ID): 32 hexadecimal digits, the time in
// milliseconds (48 bits, as in a UUIDv7) followed by 80 random bits. IDs
// made later sort later, so the rows a busy server inserts land at the end
// of each index instead of on random pages: a shared SQLite commit of tens
// of tokens writes a few pages, not one or two per token (issue 7). The
// time they show is no secret: iat says it too.
func newID(now time.Time) (string, error) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// issueAccessToken records and signs an access token for g.
func (s *Server) issueAccessToken(ctx context.Context, g grant) (accessToken, error) {
	now := s.now()
	jti, err := newID(now)
	if err != nil {
		return accessToken{}, err
	}
	family := g.familyID
	if family == "" {
		family = jti
	}
	exp := now.Add(s.cfg.AccessTokenTTL)
	rec := storage.AccessToken{
		ID: jti, FamilyID: family, ClientID: g.clientID, Subject: g.subject,
		Audience: []string{s.cfg.Audience}, Scopes: g.scopes, CreatedAt: now, ExpiresAt: exp,
	}
	// Recorded before it is handed out, so revocation and introspection
	// know every token that exists.
	if err := s.store.CreateAccessToken(ctx, rec); err != nil {
		return accessToken{}, fmt.Errorf("recording access token: %w", err)
	}
	key, err := s.keys.Signer(AccessTokenAlg, now)
	if err != nil {
		return accessToken{}, err
	}
	signer, err := s.accessSigner(key)
	if err != nil {
		return accessToken{}, err
	}
	claims := accessClaims{
		Issuer: s.cfg.Issuer, Subject: g.subject, Audience: jwt.Audience{s.cfg.Audience},
		ClientID: g.clientID, Scope: strings.Join(g.scopes, " "), ID: jti,
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(exp),
	}
	if !g.authTime.IsZero() {
		claims.AuthTime = jwt.NewNumericDate(g.authTime)
	}
	// Encoded once here: jwt.Signed(…).Claims normalizes claims through a
	// JSON round trip into a map (a fifth of the allocations of a
	// client-credentials request).
	payload, err := json.Marshal(claims)
	if err != nil {
		return accessToken{}, fmt.Errorf("encoding access token: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return accessToken{}, fmt.Errorf("signing access token: %w", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return accessToken{}, fmt.Errorf("signing access token: %w", err)
	}
	return accessToken{token: tok, id: jti, expiresAt: exp}, nil
}

// accessSigner returns the JWS signer of access tokens for key, made once
// per key: building one for every token was a tenth of a token's
// allocations. A jose.Signer is safe for concurrent use.
func (s *Server) accessSigner(key keys.Key) (jose.Signer, error) {
	if v, ok := s.signers.Load(key.ID); ok {
		return v.(jose.Signer), nil
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: key.Algorithm, Key: jose.JSONWebKey{Key: key.Private, KeyID: key.ID}},
		(&jose.SignerOptions{}).WithType(accessTokenType),
	)
	if err != nil {
		return nil, fmt.Errorf("access token signer: %w", err)
	}
	v, _ := s.signers.LoadOrStore(key.ID, signer)
	return v.(jose.Signer), nil
}

// verifyAccessToken checks an access token's signature, type, issuer and
// expiry, and that its record is neither revoked nor expired.
func (s *Server) verifyAccessToken(ctx context.Context, token string) (storage.AccessToken, error) {
	now := s.now()
	c, err := s.accessTokenClaims(token, now)
	if err != nil {
		return storage.AccessToken{}, err
	}
	rec, err := s.store.GetAccessToken(ctx, c.ID)
	if err != nil {
		return storage.AccessToken{}, err
	}
	if rec.Revoked || !now.Before(rec.ExpiresAt) {
		return storage.AccessToken{}, errors.New("token revoked or expired")
	}
	return rec, nil
}

// verifiedToken is what checking an access token's JWT found.
type verifiedToken struct {
	kid    string
	claims accessClaims
}

// verifiedTokens bounds Server.verified: a few megabytes.
const verifiedTokens = 10000

// accessTokenClaims checks an access token's signature, type, issuer and
// expiry, and returns its claims. A resource server introspects the token
// it is given on every request: the outcome is remembered by token hash
// until the token expires, so the same bytes are not checked against the
// signature again while their key is still published (checking it was a
// fifth of an introspection's CPU, issue 7).
func (s *Server) accessTokenClaims(token string, now time.Time) (accessClaims, error) {
	h := sha256.Sum256([]byte(token))
	v, gen, ok := s.verified.Get(h, now)
	if ok {
		if key, found := s.keys.Lookup(v.kid, now); found && key.Algorithm == AccessTokenAlg {
			return v.claims, nil
		}
		// The key is withdrawn: the full check below refuses the token.
	}
	parsed, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{AccessTokenAlg})
	if err != nil || len(parsed.Headers) != 1 {
		return accessClaims{}, errors.New("not a JWT")
	}
	h0 := parsed.Headers[0]
	// RFC 9068 §4: reject a JWT whose typ is not at+jwt, so an ID token can
	// never pass for an access token.
	if typ, _ := h0.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, accessTokenType) && !strings.EqualFold(typ, "application/"+accessTokenType) {
		return accessClaims{}, errors.New("not an access token")
	}
	key, found := s.keys.Lookup(h0.KeyID, now)
	if !found || key.Algorithm != AccessTokenAlg {
		return accessClaims{}, errors.New("unknown key")
	}
	var c accessClaims
	if err := parsed.Claims(key.Public.Key, &c); err != nil {
		return accessClaims{}, fmt.Errorf("bad signature: %w", err)
	}
	if c.Issuer != s.cfg.Issuer || c.Expiry == nil || !now.Before(c.Expiry.Time()) {
		return accessClaims{}, errors.New("expired or foreign token")
	}
	s.verified.Put(h, verifiedToken{kid: h0.KeyID, claims: c}, c.Expiry.Time(), now, gen)
	return c, nil
}

// issueRefreshToken starts a new refresh family for g.
func (s *Server) issueRefreshToken(ctx context.Context, g grant) (string, error) {
	now := s.now()
	tok, err := secret.NewToken()
	if err != nil {
		return "", err
	}
	id, err := newID(now)
	if err != nil {
		return "", err
	}
	abs := now.Add(s.cfg.RefreshAbsoluteTTL)
	rec := storage.RefreshToken{
		ID: id, TokenHash: secret.HashToken(tok), FamilyID: g.familyID, ClientID: g.clientID,
		UserID: g.subject, Scopes: g.scopes, Audience: []string{s.cfg.Audience},
		AuthTime: g.authTime, AMR: g.amr,
		IdleExpiresAt: minTime(now.Add(s.cfg.RefreshIdleTTL), abs), ExpiresAt: abs, CreatedAt: now,
	}
	if err := s.store.CreateRefreshToken(ctx, rec); err != nil {
		return "", fmt.Errorf("storing refresh token: %w", err)
	}
	return tok, nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// checkRefreshToken finds a refresh token that may be used. Presenting a
// token that was rotated or revoked before is reuse: the whole family is
// revoked (RFC 9700 §4.14.2, OAuth 2.1 §4.3.1).
func (s *Server) checkRefreshToken(ctx context.Context, token string) (storage.RefreshToken, error) {
	rec, err := s.store.GetRefreshToken(ctx, secret.HashToken(token))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			return rec, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
		}
		return rec, serverError(err, "loading refresh token")
	}
	if rec.Used || rec.Revoked {
		s.revokeFamilyOnReuse(ctx, rec)
		return rec, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	}
	now := s.now()
	// Idle and absolute lifetimes (RFC 9700 §4.14.2: expire after inactivity).
	if !now.Before(rec.IdleExpiresAt) || !now.Before(rec.ExpiresAt) {
		return rec, oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	}
	return rec, nil
}

func (s *Server) revokeFamilyOnReuse(ctx context.Context, rec storage.RefreshToken) {
	if err := s.store.RevokeFamily(ctx, rec.FamilyID); err != nil {
		s.log.ErrorContext(ctx, "revoking refresh family after reuse failed", "err", err)
	}
	s.audit.WarnContext(ctx, "refresh token reuse detected; family revoked",
		"event", "refresh_reuse", "client_id", rec.ClientID, "user_id", rec.UserID, "family", rec.FamilyID)
}

// rotateRefreshToken replaces current with a new link of its family, with
// the same scopes and absolute expiry and a new idle expiry.
func (s *Server) rotateRefreshToken(ctx context.Context, current string, g grant) (string, error) {
	oldHash := secret.HashToken(current)
	old, err := s.store.GetRefreshToken(ctx, oldHash)
	if err != nil {
		return "", oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	}
	now := s.now()
	tok, err := secret.NewToken()
	if err != nil {
		return "", err
	}
	id, err := newID(now)
	if err != nil {
		return "", err
	}
	next := old
	next.ID, next.TokenHash, next.Used, next.Revoked, next.CreatedAt = id, secret.HashToken(tok), false, false, now
	next.IdleExpiresAt = minTime(now.Add(s.cfg.RefreshIdleTTL), old.ExpiresAt)
	prev, err := s.store.RotateRefreshToken(ctx, oldHash, next, now)
	switch {
	case errors.Is(err, storage.ErrAlreadyUsed):
		// Lost a race with another use of the same token: that is reuse too.
		s.revokeFamilyOnReuse(ctx, prev)
		return "", oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	case errors.Is(err, storage.ErrNotFound):
		return "", oidc.ErrInvalidGrant().WithDescription("invalid refresh token")
	case err != nil:
		return "", serverError(err, "rotating refresh token")
	}
	return tok, nil
}

// dummyHash is compared against when a client is unknown, so that an
// unknown client costs the same as a wrong secret.
var dummyHash = secret.HashToken("gatehouse: no such client")

// errInvalidClient is answered with 401 (RFC 6749 §5.2).
func errInvalidClient() error {
	return statusError(http.StatusUnauthorized, oidc.ErrInvalidClient().WithDescription("client authentication failed"))
}

// authenticateClient checks a confidential client's secret (RFC 6749 §2.3.1)
// in constant time. Public clients have no secret and fail here.
func (s *Server) authenticateClient(ctx context.Context, id, presented string) (storage.Client, error) {
	c, err := s.opSrv.clients.get(ctx, id) // cached for clientCacheTTL
	return checkClientSecret(c, err, presented)
}

// checkClientSecret finishes authenticateClient on a client (or lookup
// error) already read.
func checkClientSecret(c storage.Client, err error, presented string) (storage.Client, error) {
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return c, serverError(err, "loading client")
	}
	want := dummyHash
	if err == nil && !c.Public && c.SecretHash != "" {
		want = c.SecretHash
	}
	ok := secret.EqualHash(secret.HashToken(presented), want)
	if err != nil || c.Public || c.SecretHash == "" || presented == "" || !ok {
		return storage.Client{}, errInvalidClient()
	}
	return c, nil
}

// allowedScopes keeps the requested scopes that the server knows and the
// client is registered for. A client gets only scopes it is registered for.
func (s *Server) allowedScopes(c storage.Client, requested []string) []string {
	var out []string
	for _, sc := range requested {
		if slices.Contains(s.scopes, sc) && slices.Contains(c.Scopes, sc) && !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// fillUserinfo sets the claims the scopes allow (OpenID Connect Core §5.4).
func (s *Server) fillUserinfo(ctx context.Context, info *oidc.UserInfo, userID string, scopes []string) error {
	u, err := s.store.GetUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("loading user: %w", err)
	}
	info.Subject = u.ID
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = u.Name
		info.PreferredUsername = u.Username
		info.UpdatedAt = oidc.FromTime(u.UpdatedAt)
	}
	if slices.Contains(scopes, oidc.ScopeEmail) && u.Email != "" {
		info.Email = u.Email
		// Gatehouse does not verify addresses.
		info.EmailVerified = false
	}
	return nil
}
