package bearer

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/ttlcache"
)

// IntrospectionConfig configures a verifier that asks the authorization
// server about every token (RFC 7662), so that revocation takes effect at
// once (within CacheTTL). Only access tokens issued for Audience are
// accepted: an active answer naming another token_type (a refresh token) or
// whose aud lacks Audience is a rejection.
type IntrospectionConfig struct {
	// URL of the introspection endpoint.
	URL string
	// ClientID and ClientSecret authenticate this resource server at the
	// endpoint (RFC 7662 §2.1, HTTP Basic).
	ClientID     string
	ClientSecret string
	// Issuer, when set, must equal the response's "iss".
	Issuer string
	// Audience is this resource server's identifier; the response's "aud"
	// must contain it (required).
	Audience string
	// HTTPClient calls the endpoint (default: a client with a 10-second
	// timeout). The verifier keeps a copy made when it is created, which
	// follows no redirect to plain http.
	HTTPClient *http.Client
	// CacheTTL is how long an answer is reused (default 10s; negative:
	// never). Never beyond the token's expiry.
	CacheTTL time.Duration
	Now      func() time.Time
}

// IntrospectionVerifier verifies tokens at an introspection endpoint.
type IntrospectionVerifier struct {
	cfg IntrospectionConfig

	// active and inactive hold the answers by token hash (tokens are not
	// kept in memory). They are apart so that made-up tokens, each cached
	// as inactive, push out only other inactive answers.
	active   *ttlcache.Cache[[32]byte, *Claims]
	inactive *ttlcache.Cache[[32]byte, struct{}]
}

var _ Verifier = (*IntrospectionVerifier)(nil)

const maxCached = 10000

// NewIntrospectionVerifier returns a verifier using cfg.
func NewIntrospectionVerifier(cfg IntrospectionConfig) (*IntrospectionVerifier, error) {
	if cfg.URL == "" || cfg.ClientID == "" || cfg.Audience == "" {
		return nil, errors.New("bearer: IntrospectionConfig needs a URL, a ClientID and an Audience")
	}
	if err := checkFetchURL(cfg.URL); err != nil {
		return nil, err
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	cfg.HTTPClient = noDowngrade(cfg.HTTPClient)
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &IntrospectionVerifier{
		cfg:      cfg,
		active:   ttlcache.New[[32]byte, *Claims](maxCached),
		inactive: ttlcache.New[[32]byte, struct{}](maxCached),
	}, nil
}

// Verify asks the endpoint whether token is active.
func (v *IntrospectionVerifier) Verify(ctx context.Context, token string) (*Claims, error) {
	key := sha256.Sum256([]byte(token))
	now := v.cfg.Now()
	var activeGen, inactiveGen ttlcache.Gen
	if v.cfg.CacheTTL > 0 {
		var c *Claims
		var ok bool
		if c, activeGen, ok = v.active.Get(key, now); ok {
			return c, nil
		}
		if _, inactiveGen, ok = v.inactive.Get(key, now); ok {
			return nil, fmt.Errorf("%w: inactive", ErrInvalidToken)
		}
	}
	claims, err := v.introspect(ctx, token)
	if err != nil && !errors.Is(err, ErrInvalidToken) {
		return nil, err
	}
	if v.cfg.CacheTTL > 0 {
		until := now.Add(v.cfg.CacheTTL)
		if claims == nil {
			v.inactive.Put(key, struct{}{}, until, now, inactiveGen)
		} else {
			if claims.Expiry.Before(until) {
				until = claims.Expiry
			}
			v.active.Put(key, claims, until, now, activeGen)
		}
	}
	return claims, err
}

type introspection struct {
	Active    bool            `json:"active"`
	TokenType string          `json:"token_type"`
	Scope     string          `json:"scope"`
	ClientID  string          `json:"client_id"`
	Sub       string          `json:"sub"`
	Exp       int64           `json:"exp"`
	Iat       int64           `json:"iat"`
	Nbf       int64           `json:"nbf"`
	Iss       string          `json:"iss"`
	Jti       string          `json:"jti"`
	Aud       json.RawMessage `json:"aud"`
}

func (v *IntrospectionVerifier) introspect(ctx context.Context, token string) (*Claims, error) {
	// RFC 7662 §2.1: POST, form-encoded token and token_type_hint.
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, v.cfg.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("bearer: introspection: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: client credentials are form-urlencoded before Basic.
	req.SetBasicAuth(url.QueryEscape(v.cfg.ClientID), url.QueryEscape(v.cfg.ClientSecret))
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("bearer: introspection: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("bearer: introspection: %s", resp.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("bearer: introspection: %w", err)
	}
	var in introspection
	var extra map[string]any
	if err := json.Unmarshal(raw, &in); err != nil {
		return nil, fmt.Errorf("bearer: introspection response: %w", err)
	}
	_ = json.Unmarshal(raw, &extra)
	// RFC 7662 §2.2: anything but "active": true means the token is not to
	// be accepted.
	if !in.Active {
		return nil, fmt.Errorf("%w: inactive", ErrInvalidToken)
	}
	now := v.cfg.Now()
	if in.Exp != 0 && !now.Before(time.Unix(in.Exp, 0)) {
		return nil, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	if in.Nbf != 0 && now.Before(time.Unix(in.Nbf, 0)) {
		return nil, fmt.Errorf("%w: not yet valid", ErrInvalidToken)
	}
	if v.cfg.Issuer != "" && in.Iss != v.cfg.Issuer {
		return nil, fmt.Errorf("%w: issuer %q", ErrInvalidToken, in.Iss)
	}
	jkt, err := confirmation(extra)
	if err != nil {
		return nil, err
	}
	if !accessTokenType(in.TokenType, jkt != "") {
		return nil, fmt.Errorf("%w: token_type %q is not an access token (or is DPoP without cnf.jkt)", ErrInvalidToken, in.TokenType)
	}
	var aud []string
	if len(in.Aud) > 0 {
		var one string
		if json.Unmarshal(in.Aud, &one) == nil {
			aud = []string{one}
		} else {
			_ = json.Unmarshal(in.Aud, &aud)
		}
	}
	if !slices.Contains(aud, v.cfg.Audience) {
		return nil, fmt.Errorf("%w: audience %v", ErrInvalidToken, aud)
	}
	if in.Sub == "" {
		return nil, fmt.Errorf("%w: no sub", ErrInvalidToken)
	}
	c := &Claims{
		Subject: in.Sub, Issuer: in.Iss, Audience: aud, ClientID: in.ClientID, TokenID: in.Jti,
		Scopes: strings.Fields(in.Scope), JKT: jkt, Extra: extra,
	}
	if in.Exp != 0 {
		c.Expiry = time.Unix(in.Exp, 0)
	}
	if in.Iat != 0 {
		c.IssuedAt = time.Unix(in.Iat, 0)
	}
	c.setAuthContext(extra)
	return c, nil
}

// accessTokenType reports whether an introspection response's token_type
// stands for an access token, bound to a DPoP key or not (bound). Gatehouse's
// authorization server answers "access_token" (or "refresh_token"); RFC 7662
// §2.2 servers answer the RFC 6749 §5.1 type: "Bearer" for a bearer access
// token, "DPoP" for one bound to a key (RFC 9449 §6.2). The member is
// optional, so its absence is accepted. "DPoP" is accepted only with the
// key's thumbprint (cnf.jkt), without which no proof can be checked.
func accessTokenType(t string, bound bool) bool {
	return t == "" || strings.EqualFold(t, "access_token") || strings.EqualFold(t, "Bearer") ||
		(bound && strings.EqualFold(t, "DPoP"))
}
