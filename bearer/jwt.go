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

	"github.com/gatehouse-dev/gatehouse/ttlcache"
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
	// client with a 10-second timeout). A fetch runs apart from the
	// verifications that need it, so that none of them can cancel it, and
	// is bounded by this client's Timeout (10 seconds when it has none).
	// A request that waits for a fetch is answered after it, so keep your
	// server's WriteTimeout above this timeout. The verifier keeps a copy
	// of the client made when it is created (redirects to plain http
	// refused): later changes to the client do not reach it.
	HTTPClient *http.Client
	// Leeway is the clock skew tolerated on exp, nbf and iat (default
	// DefaultLeeway, at most 5 minutes): a token is accepted until exp plus
	// Leeway, while the issuer's introspection already calls it inactive
	// at exp, so keep it small.
	Leeway time.Duration
	// MinRefetchInterval is the floor between two JWKS fetches caused by
	// unknown key IDs (default 30s), so forged tokens cannot make us hammer
	// the issuer.
	MinRefetchInterval time.Duration
	// MaxKeyAge is how long a fetched JWKS is trusted (default 5 minutes,
	// at most 5 minutes). The first verification after that refetches it
	// and waits for the new set; verifications that overlap the refetch do
	// not wait but go on with the old set (one fetch, whatever the number
	// of concurrent callers). Keys the issuer no longer publishes are
	// forgotten: a key it withdrew stops verifying within MaxKeyAge, plus
	// the refetch's own duration for verifications that overlap it. If the
	// refetch fails, the old set stays in use until it is 2×MaxKeyAge old,
	// retried at most once a second; past that, verifications wait for the
	// refetch, and fail (an error that is not ErrInvalidToken, so a 503)
	// until a fetch succeeds.
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

// algorithms are the JWS algorithms accepted in access tokens. "none" and
// the HMAC algorithms are not: the key must be the issuer's public key
// (RFC 8725 §3.1).
var algorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// Algorithms returns the JWS algorithms accepted in access tokens: the
// RSA, RSA-PSS, ECDSA and EdDSA ones, never "none" or HMAC.
func Algorithms() []jose.SignatureAlgorithm { return slices.Clone(algorithms) }

// JWTVerifier verifies RFC 9068 JWT access tokens locally.
type JWTVerifier struct {
	cfg JWTConfig

	mu        sync.RWMutex // guards what follows
	jwksURL   string       // "" until discovered
	keys      jose.JSONWebKeySet
	keysSum   string    // keySetSum(keys), to tell whether a fetch changed the set
	fetchedAt time.Time // end of the last successful JWKS fetch
	failedAt  time.Time // end of the last failed attempt
	lastErr   error     // its error
	flight    *flight   // the fetch in progress; nil when none

	verified *ttlcache.Cache[[32]byte, *Claims] // by token hash; nil when CacheSize < 0
}

var _ Verifier = (*JWTVerifier)(nil)

// flight is one fetch of the discovery document (when needed) and the JWKS.
// It runs in a goroutine of its own, on a context detached from the caller
// that started it and bounded by fetchTimeout, so that no caller's
// cancellation fails it and it ends by itself; callers that need its
// outcome wait for done, or for their own context.
type flight struct {
	done chan struct{} // closed once the outcome is recorded in the verifier
	err  error         // the fetch's error; read only after done is closed
}

// DefaultLeeway is JWTConfig.Leeway's default.
const DefaultLeeway = 5 * time.Second

// defaultJWTCacheSize is JWTConfig.CacheSize's default: a few megabytes.
const defaultJWTCacheSize = 10000

// retryAfterFailure is the floor between two attempts to reach an issuer that
// did not answer: short, because the roles of one deployment start together
// and the issuer may simply not be up yet.
const retryAfterFailure = time.Second

// defaultFetchTimeout bounds a fetch when JWTConfig.HTTPClient has no
// Timeout, and is the default client's.
const defaultFetchTimeout = 10 * time.Second

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
		cfg.HTTPClient = &http.Client{Timeout: defaultFetchTimeout}
	}
	cfg.HTTPClient = noDowngrade(cfg.HTTPClient)
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
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
	v := &JWTVerifier{cfg: cfg, jwksURL: cfg.JWKSURL}
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
	return fmt.Errorf("bearer: the issuer's keys and endpoints must be reached over HTTPS, not %q", raw)
}

// noDowngrade returns a copy of c that follows a redirect only to an
// address checkFetchURL accepts (https, or plain http on a loopback
// address): an https issuer cannot be redirected to plain http across a
// network, where anyone on the path could swap the keys or read the
// introspection credentials. c's own CheckRedirect, if any, still decides
// after that.
func noDowngrade(c *http.Client) *http.Client {
	next := c.CheckRedirect
	cc := *c
	cc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkFetchURL(req.URL.String()); err != nil {
			return fmt.Errorf("redirect refused: %w", err)
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &cc
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

// inGrace reports whether a key set fetched at fetchedAt may still be used
// at now while it is being refreshed, or cannot be: until it is
// staleGrace×MaxKeyAge old.
func (v *JWTVerifier) inGrace(fetchedAt, now time.Time) bool {
	age := now.Sub(fetchedAt)
	return !fetchedAt.IsZero() && age >= 0 && age < staleGrace*v.cfg.MaxKeyAge
}

// usable returns nil if a key set fetched at fetchedAt, which could not be
// refreshed because of cause, may still be used at now (see inGrace), and
// otherwise why not.
func (v *JWTVerifier) usable(fetchedAt, now time.Time, cause error) error {
	if v.inGrace(fetchedAt, now) {
		return nil
	}
	if fetchedAt.IsZero() {
		return cause
	}
	return fmt.Errorf("bearer: the JWKS fetched %v ago is too old to trust and cannot be refreshed: %w", now.Sub(fetchedAt).Round(time.Second), cause)
}

// failedRecently reports whether the last attempt, at failedAt, failed less
// than retryAfterFailure before now, after the last success at fetchedAt:
// too early to try again.
func failedRecently(fetchedAt, failedAt, now time.Time) bool {
	return failedAt.After(fetchedAt) && !now.Before(failedAt) && now.Sub(failedAt) < retryAfterFailure
}

// fetchTimeout bounds one fetch, discovery included.
func (v *JWTVerifier) fetchTimeout() time.Duration {
	if t := v.cfg.HTTPClient.Timeout; t > 0 {
		return t
	}
	return defaultFetchTimeout
}

// startFetch starts a fetch and returns it; the caller holds mu and has
// checked that none is in progress. The fetch keeps ctx's values but not
// its cancellation.
func (v *JWTVerifier) startFetch(ctx context.Context) *flight {
	f := &flight{done: make(chan struct{})}
	v.flight = f
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), v.fetchTimeout())
	go func() {
		defer cancel()
		v.fetch(ctx, f)
	}()
	return f
}

// wait waits for f to end, or for ctx to end first.
func wait(ctx context.Context, f *flight) error {
	select {
	case <-f.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bearer: waiting for the JWKS: %w", ctx.Err())
	}
}

// refresh makes sure the key set may be used: younger than MaxKeyAge, or
// being refreshed and within its grace. Fresh sets are checked under a read
// lock, so verification runs in parallel. The caller that finds the set
// stale starts one fetch and waits for it; callers that come while it runs
// go on with the old set if it is within its grace, and wait for the fetch
// (or for their context) if there is no set yet or it is past its grace.
// It fails when the set cannot be refetched and is past its grace (see
// JWTConfig.MaxKeyAge), or when the caller's context ends while it must
// wait.
func (v *JWTVerifier) refresh(ctx context.Context) error {
	v.mu.RLock()
	fetchedAt := v.fetchedAt
	v.mu.RUnlock()
	if v.fresh(fetchedAt, v.cfg.Now()) {
		return nil
	}

	v.mu.Lock()
	fetchedAt, failedAt, lastErr, f := v.fetchedAt, v.failedAt, v.lastErr, v.flight
	now := v.cfg.Now()
	switch {
	case v.fresh(fetchedAt, now): // fetched by another caller meanwhile
		v.mu.Unlock()
		return nil
	case f == nil && failedRecently(fetchedAt, failedAt, now):
		v.mu.Unlock()
		return v.usable(fetchedAt, now, lastErr)
	}
	started := f == nil
	if started {
		f = v.startFetch(ctx)
	}
	v.mu.Unlock()

	grace := v.inGrace(fetchedAt, now)
	if grace && !started {
		return nil // the old set will do until the fetch in progress replaces it
	}
	if err := wait(ctx, f); err != nil {
		if grace {
			return nil // the caller gave up on the new set, but the old one will do
		}
		return err
	}
	if f.err == nil {
		return nil
	}
	v.mu.RLock()
	fetchedAt = v.fetchedAt
	v.mu.RUnlock()
	return v.usable(fetchedAt, v.cfg.Now(), f.err)
}

// key returns the public key with the given ID from a key set that refresh
// has vouched for. An unknown ID refetches the JWKS (the issuer rotated its
// keys) unless the last fetch is younger than MinRefetchInterval, so forged
// key IDs cannot make us hammer the issuer; a fetch already in progress is
// waited for, as it may bring the key.
func (v *JWTVerifier) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	v.mu.RLock()
	k := v.find(kid)
	v.mu.RUnlock()
	if k != nil {
		return k, nil
	}

	v.mu.Lock()
	k = v.find(kid)
	fetchedAt, failedAt, lastErr, f := v.fetchedAt, v.failedAt, v.lastErr, v.flight
	now := v.cfg.Now()
	switch {
	case k != nil: // fetched by another caller meanwhile
		v.mu.Unlock()
		return k, nil
	case f != nil: // in progress: wait for it below
	case failedRecently(fetchedAt, failedAt, now):
		v.mu.Unlock()
		return nil, lastErr
	case !fetchedAt.IsZero() && now.Sub(fetchedAt) < v.cfg.MinRefetchInterval:
		v.mu.Unlock()
		return nil, fmt.Errorf("%w: unknown key %q", ErrInvalidToken, kid)
	default:
		f = v.startFetch(ctx)
	}
	v.mu.Unlock()

	if err := wait(ctx, f); err != nil {
		return nil, err
	}
	v.mu.RLock()
	k = v.find(kid)
	v.mu.RUnlock()
	switch {
	case k != nil:
		return k, nil
	case f.err != nil:
		return nil, f.err
	}
	return nil, fmt.Errorf("%w: unknown key %q", ErrInvalidToken, kid)
}

// fetch runs flight f: it discovers the JWKS URL if needed, loads the key
// set and records the outcome, then closes f.done. A new set replaces the
// old one, and when it differs empties the cache of verified tokens (in the
// same step, so no caller sees the new set with the old cache), so tokens
// of a withdrawn key are checked again (and refused). A failure is recorded
// as of its end and leaves the old set in place.
func (v *JWTVerifier) fetch(ctx context.Context, f *flight) {
	defer close(f.done)
	v.mu.RLock()
	u := v.jwksURL
	v.mu.RUnlock()
	set, u, err := v.load(ctx, u)

	v.mu.Lock()
	defer v.mu.Unlock()
	v.flight, f.err = nil, err
	if err != nil {
		v.failedAt, v.lastErr = v.cfg.Now(), err
		return
	}
	sum := keySetSum(set)
	changed := sum == "" || sum != v.keysSum
	v.jwksURL, v.keys, v.keysSum, v.fetchedAt = u, set, sum, v.cfg.Now()
	if changed && v.verified != nil {
		v.verified.Reset()
	}
}

// load fetches the key set from u, discovering u first when it is "".
func (v *JWTVerifier) load(ctx context.Context, u string) (jose.JSONWebKeySet, string, error) {
	var set jose.JSONWebKeySet
	if u == "" {
		var err error
		if u, err = discoverJWKS(ctx, v.cfg.HTTPClient, v.cfg.Issuer); err != nil {
			return set, "", err
		}
		if err := checkFetchURL(u); err != nil {
			return set, "", err
		}
	}
	if err := getJSON(ctx, v.cfg.HTTPClient, u, &set); err != nil {
		return set, "", fmt.Errorf("bearer: fetching JWKS: %w", err)
	}
	return set, u, nil
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
	// older than MaxKeyAge, except by verifications that overlap its
	// refetch while it is within its grace (see JWTConfig.MaxKeyAge).
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
	tok, err := jwt.ParseSigned(token, algorithms)
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
	jkt, err := confirmation(extra)
	if err != nil {
		return nil, err
	}
	out := &Claims{
		Subject:  c.Subject,
		Issuer:   c.Issuer,
		Audience: c.Audience,
		ClientID: c.ClientID,
		TokenID:  c.ID,
		Scopes:   strings.Fields(c.Scope),
		Expiry:   c.Expiry.Time(),
		JKT:      jkt,
		Extra:    extra,
	}
	if c.IssuedAt != nil {
		out.IssuedAt = c.IssuedAt.Time()
	}
	out.setAuthContext(extra)
	return out, nil
}
