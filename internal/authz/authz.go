package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/authz/keys"
	"github.com/gatehouse-dev/gatehouse/internal/clientkeys"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Signing algorithms. An ID token is signed with the algorithm its client
// is registered with (storage.Client.IDTokenAlg, id_token_signed_response_alg
// of OpenID Connect Dynamic Client Registration 1.0 §2), one of IDTokenAlgs;
// a client registered with none gets DefaultIDTokenAlg, RS256, which that
// section names as the default and every OpenID client supports (OpenID
// Connect Core §15.1). Access tokens use ES256: it signs far faster than
// RS256-2048 and verifies quickly (BenchmarkSign, docs/performance.md).
const (
	DefaultIDTokenAlg = jose.RS256
	AccessTokenAlg    = jose.ES256
)

// IDTokenAlgs returns the algorithms ID tokens may be signed with, the
// default first. The server keeps a signing key for each of them at all
// times (see signingAlgs), so that a client's registration may name any of
// them and take effect at once.
func IDTokenAlgs() []jose.SignatureAlgorithm {
	return []jose.SignatureAlgorithm{DefaultIDTokenAlg, jose.ES256, jose.EdDSA}
}

// signingAlgs are the algorithms the server signs with: every ID token
// algorithm and the access tokens'. Each has a signing key from start-up
// on, and rotation renews them together.
func signingAlgs() []jose.SignatureAlgorithm {
	algs := IDTokenAlgs()
	if !slices.Contains(algs, AccessTokenAlg) {
		algs = append(algs, AccessTokenAlg)
	}
	return algs
}

// Lifetimes that are policy rather than configuration.
const (
	codeTTL         = 60 * time.Second // authorization codes (RFC 9700 §4.1.1 asks ≤ 10 min)
	authRequestTTL  = 15 * time.Minute // time to sign in and consent
	idTokenTTL      = time.Hour
	loginSessionTTL = 12 * time.Hour
	consentTTL      = 180 * 24 * time.Hour
	maxAccessTTL    = time.Hour
	keyLead         = 10 * time.Minute // a new key is published this long before it signs
)

// Config configures the authorization server.
type Config struct {
	Issuer         string        // public URL of this role, no trailing slash
	Store          storage.Store // the database
	Secret         *secret.Key   // server secret
	Logger         *slog.Logger  // audit events go to Logger.With("logger","audit")
	Audience       string        // the resource API's identifier, put in access tokens' aud
	ResourceScopes []string      // e.g. todos:read, todos:write

	AccessTokenTTL     time.Duration // default 5m, at most 1h
	RefreshIdleTTL     time.Duration // default 24h
	RefreshAbsoluteTTL time.Duration // default 30d
	KeyRotation        time.Duration // 0: no automatic rotation
	// KeyReload is how often keys are reloaded from the store (picking up
	// keys other instances or `gatehouse keys rotate` created, and keys
	// `gatehouse keys retire` withdrew); default 1m, shorter than the 10
	// minutes a new key is published before it signs.
	KeyReload time.Duration
	// JanitorInterval is how often expired rows are deleted; default 1m.
	// A sweep deletes until it has caught up, for at most half the interval.
	JanitorInterval time.Duration

	InsecureHTTP bool // served over plain HTTP behind a TLS proxy: cookies lose Secure and __Host-
	// TrustedProxies are the proxies whose X-Forwarded-For entries name
	// the client address that lockout counts by.
	TrustedProxies httpserver.TrustedProxies

	Now func() time.Time // nil: time.Now

	// Lockout tunes sign-in throttling; zero values take defaults.
	Lockout Lockout
	// RequirePAR makes every client push its authorization requests
	// (RFC 9126 §5); a client can be required to alone (Client.RequirePAR).
	RequirePAR bool
	// DPoPNonces, when set, makes every DPoP proof at the token, PAR and
	// userinfo endpoints carry a nonce it handed out (RFC 9449 §8), so
	// that a proof made in advance by someone holding the key for a while
	// is useless; nil: no nonces.
	DPoPNonces *dpop.Nonces
	// HTTPClient fetches the key sets of clients registered with a
	// jwks_uri (nil: an http.Client with a 10-second timeout).
	HTTPClient *http.Client
	// PasswordParams are the argon2id parameters passwords are kept under
	// (zero: password.DefaultParams). A sign-in whose stored hash was made
	// with others replaces it, so raising them reaches every account that
	// signs in.
	PasswordParams password.Params
	// RequireMFA makes everyone sign in with a second factor: a person
	// without one enrols an authenticator app at their next sign-in.
	// Without it a second factor is asked of those who have one, and of
	// everyone a client asks acr_values=aal2 for.
	RequireMFA bool
}

// Server is the authorization server: the HTTP side of every endpoint,
// built from collaborators that each own one rule and know only what they
// need (none of them holds the Server):
//
//   - clientAuth authenticates clients (client_auth.go);
//   - scopePolicy decides which scopes a client gets (scopes.go);
//   - lockout throttles sign-in attempts (lockout.go) and passwords
//     verifies passwords, a bounded number at once (login.go);
//   - totp checks authenticator-app codes and recovery codes (totp.go),
//     and passkeys is the WebAuthn relying party (passkey.go; nil when the
//     issuer's host is an IP address);
//   - issuer mints access, refresh and ID tokens (issuer.go);
//   - tokenChecker decides whether an access token is active (access_token.go);
//   - keys holds the signing keys; maintainKeys rotates and reloads them;
//   - pending seals authorization requests until the person signs in (pending.go);
//   - pages renders the HTML pages and owns cookies and CSRF (pages.go).
type Server struct {
	cfg       Config
	store     storage.Store
	audit     *slog.Logger
	log       *slog.Logger
	now       func() time.Time
	keys      *keys.Manager
	clients   *clientAuth
	scopes    scopePolicy
	lockout   *lockout
	passwords *passwordChecker
	totp      *totpFactor
	passkeys  *passkeyRP // nil: no passkeys (an issuer whose host is an IP address)
	issuer    *issuer
	checker   *tokenChecker
	pending   *pendingSealer
	dpop      *dpop.Checker
	pages     *pages
	handler   http.Handler
}

// New checks cfg, makes sure signing keys exist and builds the server.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Secret == nil {
		return nil, errors.New("authz: Store and Secret are required")
	}
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	if !strings.HasPrefix(cfg.Issuer, "https://") && !(cfg.InsecureHTTP && strings.HasPrefix(cfg.Issuer, "http://")) {
		// RFC 8414 §2: the issuer is an https URL.
		return nil, fmt.Errorf("authz: issuer %q must be an https URL", cfg.Issuer)
	}
	if cfg.Audience == "" {
		return nil, errors.New("authz: Audience is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AccessTokenTTL <= 0 {
		cfg.AccessTokenTTL = 5 * time.Minute
	}
	if cfg.AccessTokenTTL > maxAccessTTL {
		return nil, fmt.Errorf("authz: access token lifetime %v exceeds %v", cfg.AccessTokenTTL, maxAccessTTL)
	}
	if cfg.RefreshIdleTTL <= 0 {
		cfg.RefreshIdleTTL = 24 * time.Hour
	}
	if cfg.RefreshAbsoluteTTL <= 0 {
		cfg.RefreshAbsoluteTTL = 30 * 24 * time.Hour
	}
	if cfg.RefreshIdleTTL > cfg.RefreshAbsoluteTTL {
		cfg.RefreshIdleTTL = cfg.RefreshAbsoluteTTL
	}
	cfg.KeyReload = orDuration(cfg.KeyReload, time.Minute)
	if cfg.KeyReload >= keyLead {
		// Every instance must load a new key before it starts signing.
		return nil, fmt.Errorf("authz: key reload interval %v must be shorter than %v, the time a new key is published before it signs", cfg.KeyReload, keyLead)
	}
	cfg.JanitorInterval = orDuration(cfg.JanitorInterval, time.Minute)
	cfg.Lockout = cfg.Lockout.withDefaults()

	now := func() time.Time { return cfg.Now().UTC() }
	audit := cfg.Logger.With("logger", "audit")
	km := keys.NewManager(cfg.Store, cfg.Secret)
	if err := km.Ensure(ctx, now(), signingAlgs()...); err != nil {
		return nil, fmt.Errorf("authz: signing keys: %w", err)
	}
	pg, err := newPages(cfg.Secret, cfg.Issuer, cfg.Logger)
	if err != nil {
		return nil, err
	}
	assertions := &assertionChecker{
		issuer: cfg.Issuer, keys: clientkeys.NewSets(cfg.HTTPClient, now), replays: cfg.Store, now: now,
	}
	clients := newClientAuth(cfg.Issuer, newClientCache(cfg.Store.GetClient, now, clientCacheTTL), assertions, audit)
	s := &Server{
		cfg:       cfg,
		store:     cfg.Store,
		audit:     audit,
		log:       cfg.Logger,
		now:       now,
		keys:      km,
		clients:   clients,
		scopes:    newScopePolicy(cfg.ResourceScopes),
		lockout:   newLockout(cfg.Store, cfg.Lockout, now),
		passwords: newPasswordChecker(cfg.PasswordParams),
		totp:      newTOTPFactor(totpIssuerName(cfg.Issuer), cfg.Secret, cfg.Store),
		issuer: &issuer{
			issuer: cfg.Issuer, audience: cfg.Audience, keys: km, now: now,
			accessTTL: cfg.AccessTokenTTL, refreshIdleTTL: cfg.RefreshIdleTTL, refreshAbsoluteTTL: cfg.RefreshAbsoluteTTL,
		},
		checker: newTokenChecker(cfg.Issuer, km, cfg.Store, clients.cache, now),
		pending: newPendingSealer(cfg.Secret),
		dpop:    &dpop.Checker{Replays: dpopReplays{cfg.Store}, Nonces: cfg.DPoPNonces, Now: now},
		pages:   pg,
	}
	if s.passkeys, err = newPasskeyRP(cfg.Issuer, cfg.Secret, cfg.Store, pg, now); err != nil {
		return nil, err
	}
	pg.passkeys = s.passkeys != nil
	s.handler = s.routes()
	return s, nil
}

func orDuration(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Handler serves every endpoint of the authorization server.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	get := func(h http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodGet: h}
	}
	getPost := func(h http.HandlerFunc) map[string]http.HandlerFunc {
		return map[string]http.HandlerFunc{http.MethodGet: h, http.MethodPost: h}
	}
	mux.HandleFunc("/.well-known/openid-configuration", s.jsonEndpoint(s.serveDiscovery))
	mux.HandleFunc("/.well-known/oauth-authorization-server", s.jsonEndpoint(s.serveDiscovery))
	mux.HandleFunc("/jwks", s.jsonEndpoint(s.serveJWKS))
	mux.HandleFunc("/authorize", s.page(getPost(s.serveAuthorize)))
	mux.HandleFunc("/login", s.page(map[string]http.HandlerFunc{http.MethodGet: s.loginForm, http.MethodPost: s.loginSubmit}))
	mux.HandleFunc("/login/factor", s.page(map[string]http.HandlerFunc{http.MethodGet: s.factorForm, http.MethodPost: s.factorSubmit}))
	mux.HandleFunc("/login/enrol", s.page(map[string]http.HandlerFunc{http.MethodGet: s.enrolForm, http.MethodPost: s.enrolSubmit}))
	mux.HandleFunc("/login/continue", s.page(map[string]http.HandlerFunc{http.MethodPost: s.continueSubmit}))
	mux.HandleFunc("/account", s.page(get(s.accountPage)))
	mux.HandleFunc("/account/password", s.page(map[string]http.HandlerFunc{http.MethodPost: s.changePassword}))
	mux.HandleFunc("/account/totp", s.page(map[string]http.HandlerFunc{http.MethodGet: s.accountTOTPForm, http.MethodPost: s.accountTOTPSubmit}))
	mux.HandleFunc("/account/totp/delete", s.page(map[string]http.HandlerFunc{http.MethodPost: s.accountTOTPDelete}))
	mux.HandleFunc("/account/recovery-codes", s.page(map[string]http.HandlerFunc{http.MethodPost: s.accountRecoveryCodes}))
	mux.HandleFunc("/login/passkey", s.page(map[string]http.HandlerFunc{http.MethodPost: s.passkeyLoginSubmit}))
	mux.HandleFunc("/login/passkey/options", s.apiEndpoint(s.passkeyLoginOptions, http.MethodPost))
	mux.HandleFunc("/login/factor/passkey", s.page(map[string]http.HandlerFunc{http.MethodPost: s.passkeyFactorSubmit}))
	mux.HandleFunc("/login/factor/passkey/options", s.apiEndpoint(s.passkeyFactorOptions, http.MethodPost))
	mux.HandleFunc("/account/passkeys", s.page(map[string]http.HandlerFunc{http.MethodPost: s.passkeyRegisterSubmit}))
	mux.HandleFunc("/account/passkeys/options", s.apiEndpoint(s.passkeyRegisterOptions, http.MethodPost))
	mux.HandleFunc("/account/passkeys/delete", s.page(map[string]http.HandlerFunc{http.MethodPost: s.accountPasskeyDelete}))
	mux.HandleFunc("/account/sessions/end", s.page(map[string]http.HandlerFunc{http.MethodPost: s.accountSessionEnd}))
	mux.HandleFunc("/account/apps/revoke", s.page(map[string]http.HandlerFunc{http.MethodPost: s.accountAppRevoke}))
	mux.HandleFunc("/consent", s.page(map[string]http.HandlerFunc{http.MethodGet: s.consentForm, http.MethodPost: s.consentSubmit}))
	mux.HandleFunc("/logout", s.page(map[string]http.HandlerFunc{http.MethodGet: s.logoutForm, http.MethodPost: s.logoutSubmit}))
	mux.HandleFunc("/end_session", s.page(getPost(s.serveEndSession)))
	mux.HandleFunc("/signed-out", s.page(get(s.signedOut)))
	mux.HandleFunc("/{$}", s.page(get(s.home)))
	mux.Handle("GET /static/", s.pages.static())
	// The token, revocation, introspection and userinfo endpoints answer
	// RFC 6749 §5.2 JSON errors, a wrong method included.
	mux.HandleFunc("/token", s.apiEndpoint(s.serveToken, http.MethodPost))
	mux.HandleFunc("/par", s.apiEndpoint(s.servePAR, http.MethodPost))
	mux.HandleFunc("/revoke", s.apiEndpoint(s.serveRevoke, http.MethodPost))
	mux.HandleFunc("/introspect", s.apiEndpoint(s.serveIntrospect, http.MethodPost))
	mux.HandleFunc("/userinfo", s.apiEndpoint(s.serveUserinfo, http.MethodGet, http.MethodPost))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.pages.errorPage(w, http.StatusNotFound, "There is nothing at this address.")
	})
	return httpserver.Chain(mux, httpserver.SecurityHeaders, noStore)
}

// page serves a browser-facing endpoint: readRequest checks the request,
// and errors are shown as a page; then the handler for the method runs.
func (s *Server) page(byMethod map[string]http.HandlerFunc) http.HandlerFunc {
	methods := slices.Sorted(maps.Keys(byMethod))
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.readRequest(w, r, shapePage, methods...) {
			return
		}
		h, ok := byMethod[r.Method]
		if !ok { // HEAD
			h = byMethod[http.MethodGet]
		}
		h(w, r)
	}
}

// jsonEndpoint serves a GET-only JSON document.
func (s *Server) jsonEndpoint(h http.HandlerFunc) http.HandlerFunc {
	return s.apiEndpoint(h, http.MethodGet)
}

// apiEndpoint serves an endpoint that answers in JSON: readRequest checks
// the request, and errors are RFC 6749 §5.2 JSON.
func (s *Server) apiEndpoint(h http.HandlerFunc, methods ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.readRequest(w, r, shapeJSON, methods...) {
			h(w, r)
		}
	}
}

// noStore keeps every response of the role out of shared caches (RFC 6749
// §5.1 asks no-store for tokens; pages carry codes and CSRF tokens). Static
// files and public documents set their own Cache-Control.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/static/") {
			w.Header().Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// Run runs the background loops until ctx ends: the janitor every
// JanitorInterval and, every KeyReload, key reloading and (when configured)
// automatic key rotation. The loops run apart, so a long sweep does not
// delay keys.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { every(ctx, s.cfg.JanitorInterval, func(ctx context.Context) { s.Sweep(ctx) }) })
	wg.Go(func() { every(ctx, s.cfg.KeyReload, s.maintainKeys) })
	wg.Wait()
	return nil
}

// every runs fn each interval until ctx ends; a tick that comes while fn
// still runs is dropped. Each run gets a deadline (the interval, at least
// minRunTimeout), so a query stuck on a lock or a dead connection cannot
// stop the loop: the next tick tries again.
func every(ctx context.Context, interval time.Duration, fn func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			runCtx, cancel := context.WithTimeout(ctx, max(interval, minRunTimeout))
			fn(runCtx)
			cancel()
		}
	}
}

// minRunTimeout is the shortest deadline of one background run.
const minRunTimeout = 30 * time.Second

// maintainKeys rotates the signing keys when automatic rotation is due and
// reloads them from the store (picking up keys other instances or
// `gatehouse keys rotate` created, and dropping keys `gatehouse keys
// retire` withdrew: the JWKS, introspection and the remembered token checks
// stop trusting them from this reload on).
func (s *Server) maintainKeys(ctx context.Context) {
	now := s.now()
	if s.cfg.KeyRotation > 0 {
		// Decided from the store, not this instance's copy, so that
		// instances agree; keys.RotateIfDue keeps concurrent rotations to
		// one new key per algorithm.
		kids, err := keys.RotateIfDue(ctx, s.store, s.cfg.Secret, now, s.cfg.KeyRotation, rotateOptions(), signingAlgs()...)
		if err != nil {
			s.log.ErrorContext(ctx, "automatic key rotation failed", "err", err)
		}
		if len(kids) > 0 {
			s.audit.InfoContext(ctx, "key rotation", "event", "key_rotated", "kid", strings.Join(kids, ","), "automatic", true)
		}
	}
	if err := s.keys.Ensure(ctx, now, signingAlgs()...); err != nil {
		s.log.ErrorContext(ctx, "reloading signing keys failed", "err", err)
	}
}

// rotateOptions: a new key is published keyLead before it signs; an old
// key stays published as long as the longest-lived token it signed.
func rotateOptions() keys.RotateOptions {
	return keys.RotateOptions{Lead: keyLead, MaxTokenLifetime: max(idTokenTTL, maxAccessTTL)}
}

// RotateKeys creates a new key for every algorithm the server signs with
// (signingAlgs), published now and signing from now+10m, and schedules the
// current keys to leave JWKS once every token they may still sign has
// expired. It returns the new kids, comma-separated. Used by `gatehouse keys rotate`; running instances pick
// the keys up within their KeyReload interval (a minute by default).
func RotateKeys(ctx context.Context, store storage.Store, key *secret.Key, now time.Time) (kid string, err error) {
	kids, err := keys.Rotate(ctx, store, key, now, rotateOptions(), signingAlgs()...)
	if err != nil {
		return "", fmt.Errorf("authz: rotating keys: %w", err)
	}
	return strings.Join(kids, ","), nil
}
