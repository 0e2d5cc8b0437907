package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// JWTConfig configures a JWT access-token verifier.
type JWTConfig struct {
	// Issuer is the authorization server's issuer identifier; the "iss"
	// claim must equal it (RFC 9068 §4).
	Issuer string
	// Audience is this resource server's identifier; the "aud" claim must
	// contain it (RFC 9068 §4).
	Audience string
	// JWKSURL is where the signing keys are published. Empty: the
	// jwks_uri of the issuer's discovery document.
	JWKSURL string
	// HTTPClient fetches the discovery document and the JWKS (default: a
	// client with a 10-second timeout).
	HTTPClient *http.Client
	// Leeway tolerated on exp, nbf and iat (default 30s, at most 5 minutes).
	Leeway time.Duration
	// MinRefetchInterval is the floor between two JWKS fetches caused by
	// unknown key IDs (default 30s), so forged tokens cannot make us hammer
	// the issuer.
	MinRefetchInterval time.Duration
	// Now returns the current time (default time.Now).
	Now func() time.Time
}

// Algorithms accepted in access tokens. "none" and the HMAC algorithms are
// not: the key must be the issuer's public key (RFC 8725 §3.1).
var Algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// JWTVerifier verifies RFC 9068 JWT access tokens locally.
type JWTVerifier struct {
	cfg     JWTConfig
	jwksURL string

	mu        sync.Mutex
	keys      jose.JSONWebKeySet
	fetchedAt time.Time
}

var _ Verifier = (*JWTVerifier)(nil)

// NewJWTVerifier returns a verifier for tokens from cfg.Issuer. When
// cfg.JWKSURL is empty it reads the issuer's discovery document; it also
// fetches the JWKS once, so a misconfiguration shows at start.
func NewJWTVerifier(ctx context.Context, cfg JWTConfig) (*JWTVerifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("bearer: JWTConfig needs an Issuer and an Audience")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = 30 * time.Second
	}
	if cfg.Leeway < 0 || cfg.Leeway > 5*time.Minute {
		return nil, fmt.Errorf("bearer: leeway %v out of range (0–5m)", cfg.Leeway)
	}
	if cfg.MinRefetchInterval == 0 {
		cfg.MinRefetchInterval = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	v := &JWTVerifier{cfg: cfg, jwksURL: cfg.JWKSURL}
	if v.jwksURL == "" {
		u, err := discoverJWKS(ctx, cfg.HTTPClient, cfg.Issuer)
		if err != nil {
			return nil, err
		}
		v.jwksURL = u
	}
	if err := checkFetchURL(v.jwksURL); err != nil {
		return nil, err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := v.refreshLocked(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

// checkFetchURL requires HTTPS, except for loopback addresses (development
// and tests).
func checkFetchURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("bearer: JWKS URL: %w", err)
	}
	if u.Scheme == "https" {
		return nil
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); u.Scheme == "http" && (host == "localhost" || (ip != nil && ip.IsLoopback())) {
		return nil
	}
	return fmt.Errorf("bearer: the JWKS must be fetched over HTTPS, not %q", raw)
}

func getJSON(ctx context.Context, c *http.Client, u string, dst any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(dst)
}

func discoverJWKS(ctx context.Context, c *http.Client, issuer string) (string, error) {
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	u := strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	if err := getJSON(ctx, c, u, &doc); err != nil {
		return "", fmt.Errorf("bearer: discovery: %w", err)
	}
	// OpenID Connect Discovery §4.3: the issuer must match.
	if doc.Issuer != issuer {
		return "", fmt.Errorf("bearer: discovery document names issuer %q, want %q", doc.Issuer, issuer)
	}
	if doc.JWKSURI == "" {
		return "", errors.New("bearer: discovery document has no jwks_uri")
	}
	return doc.JWKSURI, nil
}

func (v *JWTVerifier) refreshLocked(ctx context.Context) error {
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, v.cfg.HTTPClient, v.jwksURL, &set); err != nil {
		return fmt.Errorf("bearer: fetching JWKS: %w", err)
	}
	v.keys = set
	v.fetchedAt = v.cfg.Now()
	return nil
}

// key returns the public key with the given ID, refetching the JWKS when the
// ID is unknown and the last fetch is older than MinRefetchInterval (the
// issuer rotated its keys).
func (v *JWTVerifier) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	find := func() *jose.JSONWebKey {
		for i, k := range v.keys.Keys {
			if (kid == "" || k.KeyID == kid) && k.Use != "enc" && k.Valid() && k.IsPublic() {
				return &v.keys.Keys[i]
			}
		}
		return nil
	}
	if k := find(); k != nil {
		return k, nil
	}
	if v.cfg.Now().Sub(v.fetchedAt) < v.cfg.MinRefetchInterval {
		return nil, fmt.Errorf("%w: unknown key %q", ErrInvalidToken, kid)
	}
	if err := v.refreshLocked(ctx); err != nil {
		return nil, err
	}
	if k := find(); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: unknown key %q", ErrInvalidToken, kid)
}

type atClaims struct {
	jwt.Claims
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
}

// Verify checks the token as RFC 9068 §4 requires.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (*Claims, error) {
	tok, err := jwt.ParseSigned(token, Algorithms)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	h := tok.Headers[0]
	// RFC 9068 §4: "Resource servers MUST verify that the typ header value
	// is at+jwt or application/at+jwt and reject tokens carrying any other
	// value" — so an ID token cannot be used as an access token.
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, fmt.Errorf("%w: typ %q is not at+jwt", ErrInvalidToken, typ)
	}
	k, err := v.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	if k.Algorithm != "" && k.Algorithm != h.Algorithm {
		return nil, fmt.Errorf("%w: key %q is for %s, token uses %s", ErrInvalidToken, k.KeyID, k.Algorithm, h.Algorithm)
	}
	var c atClaims
	var extra map[string]any
	if err := tok.Claims(k.Key, &c, &extra); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	// RFC 9068 §4: iss must match, aud must contain this resource, and the
	// token must not be expired (exp is REQUIRED, §2.2).
	if c.Expiry == nil {
		return nil, fmt.Errorf("%w: no exp", ErrInvalidToken)
	}
	if c.Subject == "" {
		return nil, fmt.Errorf("%w: no sub", ErrInvalidToken)
	}
	err = c.Claims.ValidateWithLeeway(jwt.Expected{
		Issuer:      v.cfg.Issuer,
		AnyAudience: jwt.Audience{v.cfg.Audience},
		Time:        v.cfg.Now(),
	}, v.cfg.Leeway)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	out := &Claims{
		Subject:  c.Subject,
		Issuer:   c.Issuer,
		Audience: c.Audience,
		ClientID: c.ClientID,
		TokenID:  c.ID,
		Scopes:   strings.Fields(c.Scope),
		Expiry:   c.Expiry.Time(),
		Extra:    extra,
	}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time()
	}
	return out, nil
}
