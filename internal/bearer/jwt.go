package bearer

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/ttlcache"
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
	// MaxKeyAge is how long a fetched JWKS is trusted (default 5 minutes,
	// at most 5 minutes). The first verification after that refetches it
	// (one fetch, whatever the number of concurrent callers), and keys the
	// issuer no longer publishes are forgotten: a key it withdrew stops
	// verifying within MaxKeyAge. If the refetch fails, the old set stays in
	// use until it is 2×MaxKeyAge old, retried at most once a second; past
	// that, every verification fails (an error that is not ErrInvalidToken,
	// so a 503) until a fetch succeeds.
	MaxKeyAge time.Duration
	// CacheSize is how many verified tokens are remembered (default
	// 10,000; negative: none). A client presents the same access token on
	// many requests: a remembered one is accepted without checking its
	// signature again (only its expiry), until exp plus Leeway, and only
	// while the key set is trusted (see MaxKeyAge). Entries are keyed by a
	// hash of the token, so only the exact bytes that were verified match;
	// every fetch that changes the JWKS forgets them all, so a key withdrawn
	// from the JWKS stops accepting its tokens as soon as the verifier sees
	// it gone.
	CacheSize int
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
	cfg JWTConfig

	// fetching holds a token while a discovery or JWKS fetch runs: one at
	// a time, and callers waiting for it give up when their context ends.
	fetching chan struct{}

	mu        sync.RWMutex // guards what follows
	jwksURL   string       // "" until discovered
	keys      jose.JSONWebKeySet
	keysSum   string    // keySetSum(keys), to tell whether a fetch changed the set
	fetchedAt time.Time // last successful JWKS fetch
	failedAt  time.Time // last failed attempt
	lastErr   error     // its error

	verified *ttlcache.Cache[[32]byte, *Claims] // by token hash; nil when CacheSize < 0
}

var _ Verifier = (*JWTVerifier)(nil)

// defaultJWTCacheSize is JWTConfig.CacheSize's default: a few megabytes.
const defaultJWTCacheSize = 10000

// retryAfterFailure is the floor between two attempts to reach an issuer that
// did not answer: short, because the roles of one deployment start together
// and the issuer may simply not be up yet.
const retryAfterFailure = time.Second

// maxKeyAge is JWTConfig.MaxKeyAge's default and largest value.
const maxKeyAge = 5 * time.Minute

// staleGrace is how many MaxKeyAge a key set may reach, when it cannot be
// refreshed, before the verifier stops using it.
const staleGrace = 2

// NewJWTVerifier returns a verifier for tokens from cfg.Issuer. It does not
// contact the issuer: the discovery document (when cfg.JWKSURL is empty) and
// the JWKS are fetched on the first token, so the resource server and the
// authorization server may start in any order. Until the issuer answers,
// Verify fails with an error that is not ErrInvalidToken (a 503, not a 401).
func NewJWTVerifier(ctx context.Context, cfg JWTConfig) (*JWTVerifier, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("bearer: JWTConfig needs an Issuer and an Audience")
	}
	if err := checkFetchURL(cfg.Issuer); err != nil {
		return nil, fmt.Errorf("bearer: issuer: %w", err)
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
	if cfg.MaxKeyAge == 0 {
		cfg.MaxKeyAge = maxKeyAge
	}
	if cfg.MaxKeyAge < 0 || cfg.MaxKeyAge > maxKeyAge {
		return nil, fmt.Errorf("bearer: maximum JWKS age %v out of range (more than 0, at most %v)", cfg.MaxKeyAge, maxKeyAge)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.JWKSURL != "" {
		if err := checkFetchURL(cfg.JWKSURL); err != nil {
			return nil, err
		}
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = defaultJWTCacheSize
	}
	v := &JWTVerifier{cfg: cfg, jwksURL: cfg.JWKSURL, fetching: make(chan struct{}, 1)}
	if cfg.CacheSize > 0 {
		v.verified = ttlcache.New[[32]byte, *Claims](cfg.CacheSize)
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

// find returns the usable public key with the given ID; the caller holds mu.
func (v *JWTVerifier) find(kid string) *jose.JSONWebKey {
	for i, k := range v.keys.Keys {
		if (kid == "" || k.KeyID == kid) && k.Use != "enc" && k.Valid() && k.IsPublic() {
			return &v.keys.Keys[i]
		}
	}
	return nil
}

// fresh reports whether a key set fetched at fetchedAt may be used at now
// without refetching it. A clock that went back counts as stale.
func (v *JWTVerifier) fresh(fetchedAt, now time.Time) bool {
	age := now.Sub(fetchedAt)
	return !fetchedAt.IsZero() && age >= 0 && age < v.cfg.MaxKeyAge
}

// usable reports, for a key set that could not be refreshed, whether it may
// still be used at now: until it is staleGrace×MaxKeyAge old.
func (v *JWTVerifier) usable(fetchedAt, now time.Time, cause error) error {
	age := now.Sub(fetchedAt)
	if !fetchedAt.IsZero() && age >= 0 && age < staleGrace*v.cfg.MaxKeyAge {
		return nil
	}
	if fetchedAt.IsZero() {
		return cause
	}
	return fmt.Errorf("bearer: the JWKS fetched %v ago is too old to trust and cannot be refreshed: %w", age.Round(time.Second), cause)
}

// lock takes the fetching token, or gives up when ctx ends.
func (v *JWTVerifier) lock(ctx context.Context) error {
	select {
	case v.fetching <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bearer: waiting for the JWKS: %w", ctx.Err())
	}
}

func (v *JWTVerifier) unlock() { <-v.fetching }

// refresh makes sure the key set is younger than MaxKeyAge, refetching it if
// not. Fresh sets are checked under a read lock, so verification runs in
// parallel; one caller refetches a stale set while the others wait for it.
// It fails when the set is stale, cannot be refetched and is past its grace
// (see JWTConfig.MaxKeyAge).
func (v *JWTVerifier) refresh(ctx context.Context) error {
	v.mu.RLock()
	fetchedAt := v.fetchedAt
	v.mu.RUnlock()
	if v.fresh(fetchedAt, v.cfg.Now()) {
		return nil
	}

	if err := v.lock(ctx); err != nil {
		return err
	}
	defer v.unlock()
	v.mu.RLock()
	fetchedAt, failedAt, lastErr := v.fetchedAt, v.failedAt, v.lastErr
	v.mu.RUnlock()
	now := v.cfg.Now()
	switch {
	case v.fresh(fetchedAt, now): // fetched by another caller meanwhile
		return nil
	case failedAt.After(fetchedAt) && !now.Before(failedAt) && now.Sub(failedAt) < retryAfterFailure:
		return v.usable(fetchedAt, now, lastErr)
	}
	if err := v.fetch(ctx, now); err != nil {
		return v.usable(fetchedAt, now, err)
	}
	return nil
}

// key returns the public key with the given ID from a key set that refresh
// has vouched for. An unknown ID refetches the JWKS (the issuer rotated its
// keys) unless the last fetch is younger than MinRefetchInterval, so forged
// key IDs cannot make us hammer the issuer.
func (v *JWTVerifier) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	v.mu.RLock()
	k := v.find(kid)
	v.mu.RUnlock()
	if k != nil {
		return k, nil
	}

	if err := v.lock(ctx); err != nil {
		return nil, err
	}
	defer v.unlock()
	v.mu.RLock()
	k = v.find(kid)
	fetchedAt, failedAt, lastErr := v.fetchedAt, v.failedAt, v.lastErr
	v.mu.RUnlock()
	now := v.cfg.Now()
	switch {
	case k != nil: // fetched by another caller meanwhile
		return k, nil
	case failedAt.After(fetchedAt) && now.Sub(failedAt) < retryAfterFailure:
		return nil, lastErr
	case !fetchedAt.IsZero() && now.Sub(fetchedAt) < v.cfg.MinRefetchInterval:
		return nil, fmt.Errorf("%w: unknown key %q", ErrInvalidToken, kid)
	}
	if err := v.fetch(ctx, now); err != nil {
		return nil, err
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	if k := v.find(kid); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: unknown key %q", ErrInvalidToken, kid)
}

// fetch discovers the JWKS URL if needed and loads the key set in place of
// the old one; the caller holds the fetching token. A failure is recorded
// as of now. A set that differs from the old one empties the cache of
// verified tokens, so tokens of a withdrawn key are checked again (and
// refused).
func (v *JWTVerifier) fetch(ctx context.Context, now time.Time) (err error) {
	defer func() {
		if err != nil {
			v.mu.Lock()
			v.failedAt, v.lastErr = now, err
			v.mu.Unlock()
		}
	}()
	v.mu.RLock()
	u := v.jwksURL
	v.mu.RUnlock()
	if u == "" {
		if u, err = discoverJWKS(ctx, v.cfg.HTTPClient, v.cfg.Issuer); err != nil {
			return err
		}
		if err := checkFetchURL(u); err != nil {
			return err
		}
	}
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, v.cfg.HTTPClient, u, &set); err != nil {
		return fmt.Errorf("bearer: fetching JWKS: %w", err)
	}
	sum := keySetSum(set)
	v.mu.Lock()
	changed := sum == "" || sum != v.keysSum
	v.jwksURL, v.keys, v.keysSum, v.fetchedAt = u, set, sum, v.cfg.Now()
	v.mu.Unlock()
	if changed && v.verified != nil {
		v.verified.Reset()
	}
	return nil
}

// keySetSum identifies a key set by its keys, in any order; "" when a key
// cannot be encoded (or there is none), which counts as a change.
func keySetSum(set jose.JSONWebKeySet) string {
	parts := make([]string, 0, len(set.Keys))
	for _, k := range set.Keys {
		b, err := k.MarshalJSON()
		if err != nil {
			return ""
		}
		parts = append(parts, string(b))
	}
	slices.Sort(parts)
	return strings.Join(parts, "\n")
}

type atClaims struct {
	jwt.Claims
	Scope    string `json:"scope"`
	ClientID string `json:"client_id"`
}

// Verify checks the token as RFC 9068 §4 requires. The Claims returned may
// be shared with other calls for the same token: do not modify them.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (*Claims, error) {
	// First, so that no token, remembered or not, is accepted on a key set
	// older than MaxKeyAge.
	if err := v.refresh(ctx); err != nil {
		return nil, err
	}
	if v.verified == nil {
		return v.verify(ctx, token)
	}
	key := sha256.Sum256([]byte(token))
	c, gen, ok := v.verified.Get(key, v.cfg.Now())
	if ok {
		return c, nil
	}
	c, err := v.verify(ctx, token)
	if err != nil {
		return nil, err
	}
	// Accepted until exp plus the leeway, as verify would: nbf and iat only
	// grow more acceptable with time, and nothing else depends on it. Not
	// remembered if the JWKS was fetched meanwhile (gen).
	v.verified.Put(key, c, c.Expiry.Add(v.cfg.Leeway), v.cfg.Now(), gen)
	return c, nil
}

func (v *JWTVerifier) verify(ctx context.Context, token string) (*Claims, error) {
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
