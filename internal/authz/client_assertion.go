package authz

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/clientkeys"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Client assertions: private_key_jwt (RFC 7523 §2.2 and §3, OpenID
// Connect Core §9). A client registered with private_key_jwt authenticates
// with a JWT it signs with a key from its registered JWKS, naming itself as
// iss and sub and this server as aud, used once.

const (
	// assertionType is the client_assertion_type of a JWT (RFC 7523 §2.2).
	assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// maxAssertionLifetime bounds exp from now: an assertion is meant for
	// one request (RFC 7523 §3 item 4), and its jti is remembered that long.
	maxAssertionLifetime = 10 * time.Minute
	// assertionLeeway is the clock skew allowed on exp, nbf and iat.
	assertionLeeway = 30 * time.Second
	// maxJTI bounds the jti a client may choose.
	maxJTI = 256
)

// errAssertion is why an assertion was refused, for the audit log; the
// client only ever sees invalid_client.
type errAssertion string

func (e errAssertion) Error() string { return "client assertion: " + string(e) }

// assertionClientID reads, without verifying it, the client an assertion
// names: iss and sub, which must be the same (RFC 7523 §3 items 1 and 2).
func assertionClientID(assertion string) (string, error) {
	tok, err := jwt.ParseSigned(assertion, clientkeys.Algorithms())
	if err != nil {
		return "", errAssertion("not a JWS signed with " + fmt.Sprint(clientkeys.AlgorithmNames()))
	}
	var claims jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&claims); err != nil {
		return "", errAssertion("unreadable claims")
	}
	if claims.Subject == "" || claims.Issuer != claims.Subject || !validText(claims.Subject) {
		return "", errAssertion("iss and sub must both be the client_id")
	}
	return claims.Subject, nil
}

// replayStore remembers one-time values across instances.
type replayStore interface {
	UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error
}

// assertionChecker checks client assertions.
type assertionChecker struct {
	issuer  string // this server: an accepted audience
	keys    *clientkeys.Sets
	replays replayStore
	now     func() time.Time
}

// check verifies that assertion is signed by one of c's keys, names c,
// is meant for this server (aud the issuer, the token endpoint, or
// endpoint, the URL it was sent to), is current, and was not used before.
// Errors are errAssertion, or storage.ErrUnavailable (wrapped) when the
// replay check could not be made.
func (a *assertionChecker) check(ctx context.Context, c storage.Client, assertion, endpoint string) error {
	tok, err := jwt.ParseSigned(assertion, clientkeys.Algorithms())
	if err != nil || len(tok.Headers) != 1 {
		return errAssertion("not a JWS with one signature")
	}
	h := tok.Headers[0]
	if c.Profile == storage.ProfileFAPI2 && h.Algorithm == string(jose.RS256) {
		// FAPI 2.0 §5.4.1: PS256, ES256 or EdDSA only.
		return errAssertion("RS256 is not allowed under FAPI 2.0")
	}
	var claims jwt.Claims
	var raw map[string]any
	verified := false
	src := clientkeys.Source{ClientID: c.ID, JWKS: c.JWKS, URI: c.JWKSURI}
	for refresh := range 2 {
		keys, err := a.keys.Candidates(ctx, src, h.KeyID, jose.SignatureAlgorithm(h.Algorithm), refresh == 1)
		if err != nil {
			return errAssertion(err.Error())
		}
		for _, k := range keys {
			if tok.Claims(k.Key, &claims, &raw) == nil {
				verified = true
				break
			}
		}
		if verified || c.JWKSURI == "" {
			break
		}
		// A key the cached set lacks may be new at the client's jwks_uri.
	}
	if !verified {
		return errAssertion("not signed by a key registered for the client")
	}
	now := a.now()
	switch {
	case claims.Issuer != c.ID || claims.Subject != c.ID:
		return errAssertion("iss and sub must both be the client_id")
	case !claims.Audience.Contains(a.issuer) && !claims.Audience.Contains(a.issuer+"/token") && !claims.Audience.Contains(endpoint):
		return errAssertion("aud does not name this server")
	case c.Profile == storage.ProfileFAPI2 && raw["aud"] != a.issuer:
		// FAPI 2.0 §5.3.2.1: the issuer identifier as a string, nothing
		// else, so an assertion made for another server cannot pass.
		return errAssertion("aud must be the issuer identifier, as a string")
	case claims.Expiry == nil:
		return errAssertion("no exp")
	case !now.Before(claims.Expiry.Time().Add(assertionLeeway)):
		return errAssertion("expired")
	case claims.Expiry.Time().Sub(now) > maxAssertionLifetime:
		return errAssertion(fmt.Sprintf("exp more than %s ahead", maxAssertionLifetime))
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(assertionLeeway)):
		return errAssertion("not yet valid (nbf)")
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(assertionLeeway)):
		return errAssertion("issued in the future (iat)")
	case claims.ID == "" || len(claims.ID) > maxJTI || !validText(claims.ID):
		return errAssertion(fmt.Sprintf("jti missing or longer than %d bytes", maxJTI))
	}
	// Only now, signed and current, is its jti spent: nobody without the
	// key can use up a client's jti values.
	key := "client_assertion\x00" + c.ID + "\x00" + claims.ID
	switch err := a.replays.UseOnce(ctx, key, claims.Expiry.Time().Add(assertionLeeway), now); {
	case errors.Is(err, storage.ErrAlreadyUsed):
		return errAssertion("jti already used (replay)")
	case err != nil:
		return fmt.Errorf("recording the assertion's jti: %w", err)
	}
	return nil
}
