package authz

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/authz/keys"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/ttlcache"
)

// Checking access tokens (RFC 9068 §4) for introspection, revocation and
// userinfo. Only access tokens pass: an ID token has another typ, a
// refresh token is not a JWT.

// errInactive: the token is not an active access token. Endpoints answer
// it without saying why (RFC 7662 §2.2, RFC 6750 §3.1).
var errInactive = errors.New("token is not active")

// checkStore is the part of the store the checks read: the revoked list,
// the grant and the user, in one query.
type checkStore interface {
	AccessTokenState(ctx context.Context, tokenID, grantID, userID string) (storage.AccessTokenState, error)
}

// tokenChecker decides whether an access token is active.
type tokenChecker struct {
	issuer  string
	keys    *keys.Manager
	store   checkStore
	clients *clientCache
	now     func() time.Time
	// verified remembers access tokens whose signature was checked, by
	// token hash (see claims).
	verified *ttlcache.Cache[[32]byte, verifiedToken]
}

// verifiedToken is what checking an access token's JWT found.
type verifiedToken struct {
	kid    string
	claims accessClaims
}

// verifiedTokens bounds tokenChecker.verified: a few megabytes.
const verifiedTokens = 10000

func newTokenChecker(issuer string, km *keys.Manager, store checkStore, clients *clientCache, now func() time.Time) *tokenChecker {
	return &tokenChecker{
		issuer: issuer, keys: km, store: store, clients: clients, now: now,
		verified: ttlcache.New[[32]byte, verifiedToken](verifiedTokens),
	}
}

// active returns the claims of an active access token: its signature,
// type, issuer and expiry check, its client is registered and enabled, its
// ID is not on the revoked list, and — for a token a person authorized —
// its grant is not revoked and the person's account exists and is
// enabled. Anything else is errInactive; other errors are the store's.
func (c *tokenChecker) active(ctx context.Context, token string) (accessClaims, error) {
	claims, err := c.claims(token, c.now())
	if err != nil {
		return accessClaims{}, errInactive
	}
	client, err := c.clients.get(ctx, claims.ClientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return accessClaims{}, errInactive
	case err != nil:
		return accessClaims{}, fmt.Errorf("loading client: %w", err)
	case client.Disabled:
		return accessClaims{}, errInactive
	}
	// A client-credentials token has no grant, and its subject is the
	// client, not a person: no user is looked up.
	userID := claims.Subject
	if claims.Grant == "" {
		userID = ""
	}
	st, err := c.store.AccessTokenState(ctx, claims.ID, claims.Grant, userID)
	if err != nil {
		return accessClaims{}, fmt.Errorf("reading the token's state: %w", err)
	}
	if st.Revoked {
		return accessClaims{}, errInactive
	}
	if claims.Grant == "" {
		// Client credentials: the subject is the client itself.
		if claims.Subject != bearer.ClientSubject(claims.ClientID) {
			return accessClaims{}, errInactive
		}
		return claims, nil
	}
	if !st.GrantFound || st.GrantRevoked || st.GrantClientID != claims.ClientID || st.GrantUserID != claims.Subject {
		return accessClaims{}, errInactive
	}
	if !st.UserFound || st.UserDisabled {
		return accessClaims{}, errInactive
	}
	return claims, nil
}

// claims checks an access token's signature, type, issuer and expiry, and
// returns its claims. A resource server introspects the token it is given
// on every request: the outcome is remembered by token hash until the
// token expires, so the same bytes are not checked against the signature
// again while their key is still published. A remembered token whose key
// has left the published set (at the end of a rotation, or retired at once
// with `gatehouse keys retire`) is checked again, and fails.
func (c *tokenChecker) claims(token string, now time.Time) (accessClaims, error) {
	h := sha256.Sum256([]byte(token))
	v, gen, ok := c.verified.Get(h, now)
	if ok {
		if key, found := c.keys.Lookup(v.kid, now); found && key.Algorithm == AccessTokenAlg {
			return v.claims, nil
		}
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
	key, found := c.keys.Lookup(h0.KeyID, now)
	if !found || key.Algorithm != AccessTokenAlg {
		return accessClaims{}, errors.New("unknown key")
	}
	var claims accessClaims
	if err := parsed.Claims(key.Public.Key, &claims); err != nil {
		return accessClaims{}, fmt.Errorf("bad signature: %w", err)
	}
	if claims.Issuer != c.issuer || claims.Expiry == nil || !now.Before(claims.Expiry.Time()) || claims.ID == "" {
		return accessClaims{}, errors.New("expired or foreign token")
	}
	c.verified.Put(h, verifiedToken{kid: h0.KeyID, claims: claims}, claims.Expiry.Time(), now, gen)
	return claims, nil
}
