package authz

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/authz/keys"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Token kinds. Each is its own type, and every check says which kinds it
// accepts:
//
//   - an authorization code is opaque and single-use; only its hash is
//     stored, on its authorization request (authorization_code.go);
//   - an access token is an RFC 9068 JWT (typ at+jwt) with no record of its
//     own: it names its grant (claim grant_id, absent for client
//     credentials), and is active while its signature, expiry, grant,
//     client and user are, and its ID is not on the revoked list
//     (access_token.go);
//   - a refresh token is opaque; only its hash is stored, as one link of its
//     grant's rotation chain (refresh_token.go).

// JOSE typ headers. Access tokens carry at+jwt (RFC 9068 §2.1), ID tokens
// JWT (RFC 7519 §5.1). ES256 signs both with one key, so every check of
// either kind looks at typ (RFC 8725 §3.11): an access token never passes
// for an ID token, nor an ID token for an access token.
const (
	accessTokenType = "at+jwt"
	idTokenType     = "JWT"
)

// accessClaims are the claims of an access token (RFC 9068 §2.2).
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
	// ACR and AMR say how the person signed in, as in the ID token (RFC
	// 9068 §2.2.3.1), so that a resource server can ask for a second
	// factor; absent from a client-credentials token.
	ACR string   `json:"acr,omitempty"`
	AMR []string `json:"amr,omitempty"`
	// Grant is the grant the token was issued from; empty for a
	// client-credentials token, which no person authorized.
	Grant string `json:"grant_id,omitempty"`
	// Confirmation binds the token to a DPoP key (RFC 9449 §6.1).
	Confirmation *confirmation `json:"cnf,omitempty"`
}

// confirmation is the cnf claim of a DPoP-bound token (RFC 7800 §3.1,
// RFC 9449 §6.1): the SHA-256 thumbprint of the key.
type confirmation struct {
	JKT string `json:"jkt"`
}

// jkt is the thumbprint of the key the token is bound to; "" if unbound.
func (c accessClaims) jkt() string {
	if c.Confirmation == nil {
		return ""
	}
	return c.Confirmation.JKT
}

func (c accessClaims) scopes() []string { return strings.Fields(c.Scope) }

// tokenGrant is what a set of tokens is issued for.
type tokenGrant struct {
	id       string // the grant's ID; empty for client credentials
	clientID string
	subject  string // the user's ID; bearer.ClientSubject for client credentials
	scopes   []string
	authTime time.Time
	amr      []string
	nonce    string // ID tokens from a code exchange only
	// idAlg signs the ID token: the client's algorithm (clientIDTokenAlg);
	// empty when no ID token is issued.
	idAlg jose.SignatureAlgorithm
	// jkt binds the access token to the DPoP key of this thumbprint;
	// refreshJKT binds the refresh token so. Empty: unbound.
	jkt, refreshJKT string
	// maxAccessTTL caps the access token's lifetime below the server's
	// (a client's profile); zero: the server's.
	maxAccessTTL time.Duration
	// audience is the resource the tokens are for (resources.go); empty:
	// the built-in API.
	audience string
}

// aud is the audience of g's tokens.
func (i *issuer) aud(g tokenGrant) string {
	if g.audience != "" {
		return g.audience
	}
	return i.audience
}

// fapi2AccessTTL is the longest access token lifetime the FAPI 2.0
// Security Profile allows (§5.3.2.1: at most 10 minutes for
// sender-constrained tokens).
const fapi2AccessTTL = 10 * time.Minute

// grantFor starts the tokenGrant of client with what its profile sets.
func grantFor(client storage.Client) tokenGrant {
	g := tokenGrant{clientID: client.ID}
	if client.Profile == storage.ProfileFAPI2 {
		g.maxAccessTTL = fapi2AccessTTL
	}
	return g
}

// clientIDTokenAlg is the algorithm c's ID tokens are signed with: the one
// it is registered with (id_token_signed_response_alg, OpenID Connect
// Dynamic Client Registration 1.0 §2), DefaultIDTokenAlg when it names
// none. A registration naming another algorithm (which the admin commands
// refuse to store) is an error, never a silent fallback: the client
// expects what it registered.
func clientIDTokenAlg(c storage.Client) (jose.SignatureAlgorithm, error) {
	if c.IDTokenAlg == "" {
		return DefaultIDTokenAlg, nil
	}
	alg := jose.SignatureAlgorithm(c.IDTokenAlg)
	if !slices.Contains(IDTokenAlgs(), alg) {
		return "", fmt.Errorf("client %q is registered with ID token algorithm %q, which this server does not sign with", c.ID, c.IDTokenAlg)
	}
	return alg, nil
}

// issuer mints tokens. It signs and builds records; it writes nothing, so
// that the grants can store what it made in one transaction, after every
// step that can fail.
type issuer struct {
	issuer, audience   string
	keys               *keys.Manager
	now                func() time.Time
	accessTTL          time.Duration
	refreshIdleTTL     time.Duration
	refreshAbsoluteTTL time.Duration

	// signers holds a JWS signer per signing key and token type, by
	// "typ/kid" (a few over a process's life: rotation adds one now and
	// then). Building one per token would be a large share of a token's
	// allocations.
	signers sync.Map
}

// accessToken is a signed access token.
type accessToken struct {
	token     string
	id        string
	expiresAt time.Time
}

// newID returns a record ID (an access token's jti, a refresh token's or an
// authorization request's ID): 32 hexadecimal digits, the time in
// milliseconds (48 bits, as in a UUIDv7) followed by 80 random bits. IDs
// made later sort later, so the rows a busy server inserts land at the end
// of each index instead of on random pages. The time they show is no
// secret: iat says it too.
func newID(now time.Time) (string, error) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := rand.Read(b[6:]); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// accessToken signs an access token for g.
func (i *issuer) accessToken(g tokenGrant) (accessToken, error) {
	now := i.now()
	jti, err := newID(now)
	if err != nil {
		return accessToken{}, err
	}
	ttl := i.accessTTL
	if g.maxAccessTTL > 0 && g.maxAccessTTL < ttl {
		ttl = g.maxAccessTTL
	}
	exp := now.Add(ttl)
	claims := accessClaims{
		Issuer: i.issuer, Subject: g.subject, Audience: jwt.Audience{i.aud(g)},
		ClientID: g.clientID, Scope: strings.Join(g.scopes, " "), ID: jti,
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(exp), Grant: g.id,
	}
	if !g.authTime.IsZero() {
		claims.AuthTime = jwt.NewNumericDate(g.authTime)
	}
	if len(g.amr) > 0 {
		claims.ACR, claims.AMR = acrOf(g.amr), g.amr
	}
	if g.jkt != "" {
		claims.Confirmation = &confirmation{JKT: g.jkt}
	}
	tok, err := i.sign(AccessTokenAlg, accessTokenType, claims, now)
	if err != nil {
		return accessToken{}, fmt.Errorf("signing access token: %w", err)
	}
	return accessToken{token: tok, id: jti, expiresAt: exp}, nil
}

// idToken signs an ID token (OpenID Connect Core §2) for g with g.idAlg,
// bound to the access token (at_hash) and, from a code exchange, the code
// (c_hash). Claims about the person are served by the UserInfo endpoint:
// an access token is always issued beside the ID token.
//
// at_hash and c_hash are the left half of a hash chosen by the alg header
// (OpenID Connect Core §3.1.3.6, §3.3.2.11): SHA-256 for RS256 and ES256.
// For EdDSA, OpenID Connect Core names no hash; oidc.ClaimHash takes
// SHA-512, the hash inside Ed25519 (the only EdDSA curve go-jose signs
// with), and go-oidc's IDToken.VerifyAccessToken checks the same.
func (i *issuer) idToken(g tokenGrant, access, code string) (string, error) {
	now := i.now()
	// acr says which assurance level the sign-in reached (signin.go).
	claims := oidc.NewIDTokenClaims(i.issuer, g.subject, nil, now.Add(idTokenTTL), g.authTime, g.nonce, acrOf(g.amr), g.amr, g.clientID, 0)
	claims.IssuedAt = oidc.FromTime(now)
	var err error
	if claims.AccessTokenHash, err = oidc.ClaimHash(access, g.idAlg); err != nil {
		return "", fmt.Errorf("at_hash: %w", err)
	}
	if code != "" {
		if claims.CodeHash, err = oidc.ClaimHash(code, g.idAlg); err != nil {
			return "", fmt.Errorf("c_hash: %w", err)
		}
	}
	tok, err := i.sign(g.idAlg, idTokenType, claims, now)
	if err != nil {
		return "", fmt.Errorf("signing ID token: %w", err)
	}
	return tok, nil
}

// sign encodes claims once (jwt.Signed(…).Claims would normalise them
// through a JSON round trip into a map) and signs them with the key that
// signs alg at now.
func (i *issuer) sign(alg jose.SignatureAlgorithm, typ string, claims any, now time.Time) (string, error) {
	key, err := i.keys.Signer(alg, now)
	if err != nil {
		return "", err
	}
	signer, err := i.signer(key, typ)
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// signer returns the JWS signer of key for tokens of type typ, made once.
// A jose.Signer is safe for concurrent use.
func (i *issuer) signer(key keys.Key, typ string) (jose.Signer, error) {
	id := typ + "/" + key.ID
	if v, ok := i.signers.Load(id); ok {
		return v.(jose.Signer), nil
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: key.Algorithm, Key: jose.JSONWebKey{Key: key.Private, KeyID: key.ID}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)),
	)
	if err != nil {
		return nil, fmt.Errorf("%s signer: %w", typ, err)
	}
	v, _ := i.signers.LoadOrStore(id, signer)
	return v.(jose.Signer), nil
}

// refreshToken makes a refresh token for g: its value and the record of it.
// For the first link of a family familyExpiry is zero and the family's
// absolute lifetime starts now; a rotation passes the family's expiry on.
func (i *issuer) refreshToken(g tokenGrant, familyExpiry time.Time) (string, storage.RefreshToken, error) {
	now := i.now()
	tok, err := secret.NewToken()
	if err != nil {
		return "", storage.RefreshToken{}, err
	}
	id, err := newID(now)
	if err != nil {
		return "", storage.RefreshToken{}, err
	}
	if familyExpiry.IsZero() {
		familyExpiry = now.Add(i.refreshAbsoluteTTL)
	}
	return tok, storage.RefreshToken{
		ID: id, TokenHash: secret.HashToken(tok), FamilyID: g.id, ClientID: g.clientID,
		UserID: g.subject, Scopes: g.scopes, Audience: []string{i.aud(g)},
		AuthTime: g.authTime, AMR: g.amr, DPoPJKT: g.refreshJKT,
		IdleExpiresAt: minTime(now.Add(i.refreshIdleTTL), familyExpiry), ExpiresAt: familyExpiry, CreatedAt: now,
	}, nil
}

// grantExpiry is when nothing issued from a grant can be valid any more:
// its last refresh token's end, plus the lifetime of an access token
// issued at that moment.
func (i *issuer) grantExpiry(refresh bool) time.Time {
	end := i.now()
	if refresh {
		end = end.Add(i.refreshAbsoluteTTL)
	}
	return end.Add(i.accessTTL)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// tokenResponse is a successful token response (RFC 6749 §5.1, OpenID
// Connect Core §3.1.3.3).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
}

// issued is what one token request mints: signed tokens and, when a
// refresh token is part of it, the record the grant stores.
type issued struct {
	resp    tokenResponse
	refresh *storage.RefreshToken
}

// issue signs an access token for g and, when asked, an ID token (only
// for the openid scope) and a refresh token. code is the authorization
// code of an exchange (for c_hash); familyExpiry is passed to refreshToken.
func (i *issuer) issue(g tokenGrant, withID bool, code string, withRefresh bool, familyExpiry time.Time) (issued, error) {
	at, err := i.accessToken(g)
	if err != nil {
		return issued{}, err
	}
	tokenType := oidc.BearerToken
	if g.jkt != "" {
		tokenType = "DPoP" // RFC 9449 §5
	}
	out := issued{resp: tokenResponse{
		AccessToken: at.token, TokenType: tokenType,
		ExpiresIn: int64(at.expiresAt.Sub(i.now()).Seconds()), Scope: strings.Join(g.scopes, " "),
	}}
	if withID && slices.Contains(g.scopes, oidc.ScopeOpenID) {
		if out.resp.IDToken, err = i.idToken(g, at.token, code); err != nil {
			return issued{}, err
		}
	}
	if withRefresh {
		tok, rec, err := i.refreshToken(g, familyExpiry)
		if err != nil {
			return issued{}, err
		}
		out.resp.RefreshToken, out.refresh = tok, &rec
	}
	return out, nil
}
