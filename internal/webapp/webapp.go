package webapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/crypto/chacha20poly1305"

	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/webapp/todoclient"
)

// Config is what the web app needs to run. Every field but Logger,
// IDTokenAlg and InsecureHTTP is required.
type Config struct {
	// PublicURL is where browsers reach the web app, e.g.
	// https://127.0.0.1:5000. The redirect URI is PublicURL + "/callback",
	// the post-logout redirect URI PublicURL + "/".
	PublicURL string
	// Issuer is the authorization server's issuer URL; its endpoints are
	// found by OpenID Connect discovery on first use.
	Issuer string
	// APIURL is the resource API's prefix, e.g. https://127.0.0.1:8001/api.
	APIURL string
	// ClientID and ClientSecret are this confidential client's credentials.
	ClientID, ClientSecret string
	// IDTokenAlg is the algorithm the client is registered with for its
	// ID tokens (id_token_signed_response_alg, OpenID Connect Dynamic
	// Client Registration 1.0 §2): RS256, ES256 or EdDSA; "" means RS256,
	// that section's default. ID tokens signed with any other algorithm
	// are refused.
	IDTokenAlg string
	// HTTPClient trusts the local CA; it is used for discovery, pushed
	// authorization requests, token, revocation, userinfo and API calls.
	// For all but discovery and revocation, a dpop.Transport over its
	// Transport adds DPoP proofs.
	HTTPClient *http.Client
	// Sessions is the server-side session store (SQL by default, Redis
	// with --session-store redis://…).
	Sessions scs.Store
	// Leases, when set, serializes token refreshes across every instance
	// sharing the session store (internal/webapp/leases). Without it they
	// are serialized within this process only, which is enough for a single
	// instance: several instances need it, or sticky sessions.
	Leases Leases
	// Secret is the server secret; the CSRF key, the key that seals the
	// token records and the key that seals the pending sign-in cookie are
	// derived from it.
	Secret *secret.Key
	// Logger receives errors and notable events; nil discards them.
	Logger *slog.Logger
	// InsecureHTTP allows serving plain HTTP. Behind a TLS-terminating
	// proxy (PublicURL https) cookies keep Secure and the __Host- prefix
	// and HSTS stays on; only with a plain-HTTP PublicURL, for local
	// experiments, are they dropped. HSTS is never sent when PublicURL's
	// host is localhost or an IP literal (httpserver.HSTSHost).
	InsecureHTTP bool

	// SessionLifetime is the absolute lifetime of a browser session
	// (default 12 hours); SessionIdleTimeout ends a session unused for that
	// long (default 2 hours).
	SessionLifetime, SessionIdleTimeout time.Duration
	// TodosPerPage is the page size asked of the API (default 10).
	TodosPerPage int
}

// Scopes the web app asks for: OpenID Connect identity, a refresh token,
// and read and write access to the todos resource.
var defaultScopes = []string{"openid", "profile", "email", "offline_access", "todos:read", "todos:write"}

// Cookie names. Cookies are not isolated by port (RFC 6265 §8.5), so the
// name must differ from the authorization server's cookies on the same host.
const (
	cookieName         = "__Host-gatehouse-webapp"
	insecureCookieName = "gatehouse-webapp"
)

// Server is the web app role.
type Server struct {
	publicURL   string
	redirectURI string
	sessions    *scs.SessionManager
	disc        *discovery
	tokens      *tokenStore
	locks       keyedMutex
	leases      Leases
	api         *todoclient.Client
	httpClient  *http.Client
	csrfKey     []byte
	dpopSecret  []byte // the sign-ins' DPoP keys are derived from it (dpopkey.go)
	pending     *pendingCookies
	pages       *pages
	log         *slog.Logger
	perPage     int
	handler     http.Handler
	now         func() time.Time
}

// New builds the web app. It does not contact the authorization server:
// discovery happens on first use and is retried until it succeeds.
func New(ctx context.Context, cfg Config) (*Server, error) {
	switch {
	case cfg.PublicURL == "":
		return nil, errors.New("webapp: PublicURL is required")
	case cfg.Issuer == "":
		return nil, errors.New("webapp: Issuer is required")
	case cfg.APIURL == "":
		return nil, errors.New("webapp: APIURL is required")
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, errors.New("webapp: ClientID and ClientSecret are required")
	case cfg.HTTPClient == nil:
		return nil, errors.New("webapp: HTTPClient is required")
	case cfg.Sessions == nil:
		return nil, errors.New("webapp: Sessions store is required")
	case cfg.Secret == nil:
		return nil, errors.New("webapp: Secret is required")
	}
	idTokenAlg := cfg.IDTokenAlg
	switch idTokenAlg {
	case "":
		idTokenAlg = oidc.RS256
	case oidc.RS256, oidc.ES256, oidc.EdDSA:
	default:
		return nil, fmt.Errorf("webapp: IDTokenAlg %q is not one of RS256, ES256, EdDSA", cfg.IDTokenAlg)
	}
	pub, err := url.Parse(strings.TrimSuffix(cfg.PublicURL, "/"))
	if err != nil || pub.Host == "" || (pub.Scheme != "https" && pub.Scheme != "http") {
		return nil, fmt.Errorf("webapp: PublicURL %q is not an absolute http(s) URL", cfg.PublicURL)
	}
	if pub.Scheme == "http" && !cfg.InsecureHTTP {
		return nil, fmt.Errorf("webapp: PublicURL %q is plain HTTP; the web app needs HTTPS (or InsecureHTTP for local experiments)", cfg.PublicURL)
	}
	iss, err := url.Parse(cfg.Issuer)
	if err != nil || iss.Host == "" {
		return nil, fmt.Errorf("webapp: Issuer %q is not an absolute URL", cfg.Issuer)
	}
	csrfKey := cfg.Secret.Derive("webapp/csrf", 32)
	dpopSecret := cfg.Secret.Derive(dpopKeyPurpose, 32)
	if csrfKey == nil || dpopSecret == nil {
		return nil, errors.New("webapp: Secret is not usable")
	}
	// Cookies lose Secure and the __Host- prefix only with a plain-HTTP
	// PublicURL; behind a TLS-terminating proxy the browser speaks HTTPS.
	pendingName := pendingCookieName
	if pub.Scheme == "http" {
		pendingName = insecurePendingCookieName
	}
	pending, err := newPendingCookies(cfg.Secret.Derive("webapp/signin-cookie", chacha20poly1305.KeySize), pendingName, pub.Scheme != "http")
	if err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.SessionLifetime <= 0 {
		cfg.SessionLifetime = 12 * time.Hour
	}
	if cfg.SessionIdleTimeout <= 0 {
		cfg.SessionIdleTimeout = 2 * time.Hour
	}
	if cfg.TodosPerPage <= 0 {
		cfg.TodosPerPage = 10
	}
	pg, err := loadPages()
	if err != nil {
		return nil, err
	}

	publicURL := pub.String()
	s := &Server{
		publicURL:   publicURL,
		redirectURI: publicURL + "/callback",
		disc: &discovery{
			issuer:       cfg.Issuer,
			clientID:     cfg.ClientID,
			clientSecret: cfg.ClientSecret,
			idTokenAlg:   idTokenAlg,
			redirectURL:  publicURL + "/callback",
			scopes:       defaultScopes,
			client:       cfg.HTTPClient,
			baseCtx:      context.WithoutCancel(ctx),
			retryFloor:   discoveryRetryFloor,
		},
		tokens: &tokenStore{
			store:    cfg.Sessions,
			key:      cfg.Secret,
			lifetime: cfg.SessionLifetime,
		},
		leases:     cfg.Leases,
		api:        &todoclient.Client{BaseURL: cfg.APIURL, HTTP: cfg.HTTPClient},
		httpClient: cfg.HTTPClient,
		csrfKey:    csrfKey,
		dpopSecret: dpopSecret,
		pending:    pending,
		pages:      pg,
		log:        logger,
		perPage:    cfg.TodosPerPage,
		now:        time.Now,
	}

	sm := scs.New()
	sm.Store = cfg.Sessions
	sm.Lifetime = cfg.SessionLifetime
	sm.IdleTimeout = cfg.SessionIdleTimeout
	sm.Cookie.Name = cookieName
	sm.Cookie.HttpOnly = true
	sm.Cookie.Secure = true
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Path = "/" // required by the __Host- prefix, with Secure and no Domain
	sm.Cookie.Persist = false
	if pub.Scheme == "http" {
		sm.Cookie.Name = insecureCookieName
		sm.Cookie.Secure = false
	}
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		s.log.ErrorContext(r.Context(), "session store failed", slog.String("error", err.Error()))
		s.renderErrorPage(w, r, fmt.Errorf("%w: %w", errSessionStore, err), false)
	}
	s.sessions = sm
	s.handler = s.routes(iss, pub)
	return s, nil
}

// Handler returns the web app's HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes(issuer, public *url.URL) http.Handler {
	insecure := public.Scheme == "http"
	app := http.NewServeMux()
	app.HandleFunc("GET /{$}", s.handleHome)
	app.HandleFunc("GET /login", s.handleLogin)
	app.HandleFunc("GET /callback", s.handleCallback)
	app.HandleFunc("POST /logout", s.handleLogout)
	app.HandleFunc("POST /todos", s.handleAdd)
	app.HandleFunc("POST /todos/{id}/toggle", s.handleToggle)
	app.HandleFunc("POST /todos/{id}/title", s.handleRename)
	app.HandleFunc("POST /todos/{id}/delete", s.handleDelete)
	app.HandleFunc("/", s.handleNotFound)

	// Go's cross-origin protection (Sec-Fetch-Site / Origin) rejects
	// cross-site form posts before the CSRF token is even looked at.
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.renderErrorPage(w, r, errCSRF, false)
	}))

	root := http.NewServeMux()
	root.Handle("GET /static/", http.StripPrefix("/static/", staticHandler()))
	root.Handle("/", cop.Handler(s.sessions.LoadAndSave(httpserver.RecordRoute(app))))

	authzOrigin := issuer.Scheme + "://" + issuer.Host
	return securityHeaders(root, authzOrigin, !insecure && httpserver.HSTSHost(public.Host))
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, errNotFound)
}
