package webapp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// errAuthzUnavailable marks failures to reach the authorization server
// (discovery, pushed authorization request, token, revocation or userinfo
// endpoint down).
var errAuthzUnavailable = errors.New("authorization server unavailable")

// discoveryRetryFloor is the least time between two discovery attempts after
// a failure, so a down authorization server is not hammered by every request.
const discoveryRetryFloor = 2 * time.Second

// provider is what discovery found: the OpenID provider, the OAuth
// configuration built from it and the endpoints x/oauth2 does not know.
type provider struct {
	oidc     *oidc.Provider
	oauth2   *oauth2.Config
	verifier *oidc.IDTokenVerifier
	issuer   string
	// revocationEndpoint (RFC 7009), endSessionEndpoint (OpenID Connect
	// RP-Initiated Logout 1.0 §2) and parEndpoint, the pushed authorization
	// request endpoint (RFC 9126 §5), from the metadata; empty if not
	// offered.
	revocationEndpoint string
	endSessionEndpoint string
	parEndpoint        string
}

// discovery finds the provider lazily: the roles start together, so the
// authorization server may not answer yet when the web app starts. The first
// success is cached for the life of the process; a failure is retried on a
// later request, no sooner than discoveryRetryFloor.
type discovery struct {
	issuer       string
	clientID     string
	clientSecret string
	idTokenAlg   string // the one algorithm ID tokens may be signed with
	redirectURL  string
	scopes       []string
	client       *http.Client
	baseCtx      context.Context // long-lived; carries the HTTP client for JWKS fetches
	retryFloor   time.Duration   // discoveryRetryFloor unless a test shortens it

	mu      sync.Mutex
	p       *provider
	lastErr error
	lastTry time.Time
}

func (d *discovery) get(ctx context.Context) (*provider, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.p != nil {
		return d.p, nil
	}
	if d.lastErr != nil && time.Since(d.lastTry) < d.retryFloor {
		return nil, d.lastErr
	}
	d.lastTry = time.Now()
	p, err := d.discover(ctx)
	if err != nil {
		d.lastErr = fmt.Errorf("%w: discovery at %s: %w", errAuthzUnavailable, d.issuer, err)
		return nil, d.lastErr
	}
	d.p, d.lastErr = p, nil
	return p, nil
}

func (d *discovery) discover(ctx context.Context) (*provider, error) {
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, d.client), 10*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(ctx, d.issuer)
	if err != nil {
		return nil, err
	}
	var meta struct {
		RevocationEndpoint string   `json:"revocation_endpoint"`
		EndSessionEndpoint string   `json:"end_session_endpoint"`
		PAREndpoint        string   `json:"pushed_authorization_request_endpoint"`
		CodeChallenge      []string `json:"code_challenge_methods_supported"`
	}
	if err := op.Claims(&meta); err != nil {
		return nil, fmt.Errorf("reading provider metadata: %w", err)
	}
	// RFC 9700 §2.1.1 / RFC 7636: this client only speaks S256. A server that
	// does not list it is refused rather than silently downgraded.
	s256 := false
	for _, m := range meta.CodeChallenge {
		s256 = s256 || m == "S256"
	}
	if !s256 {
		return nil, errors.New("provider does not list S256 in code_challenge_methods_supported")
	}
	endpoint := op.Endpoint()
	// client_secret_basic (RFC 6749 §2.3.1).
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	return &provider{
		oidc: op,
		oauth2: &oauth2.Config{
			ClientID:     d.clientID,
			ClientSecret: d.clientSecret,
			Endpoint:     endpoint,
			RedirectURL:  d.redirectURL,
			Scopes:       d.scopes,
		},
		// The key set outlives this request: it is fetched with the
		// long-lived context and the configured HTTP client. ID tokens
		// must be signed with the algorithm the client is registered
		// with, not whichever the provider lists (OpenID Connect Core
		// §3.1.3.7 step 7).
		verifier: op.VerifierContext(oidc.ClientContext(d.baseCtx, d.client),
			&oidc.Config{ClientID: d.clientID, SupportedSigningAlgs: []string{d.idTokenAlg}}),
		issuer:             d.issuer,
		revocationEndpoint: meta.RevocationEndpoint,
		endSessionEndpoint: meta.EndSessionEndpoint,
		parEndpoint:        meta.PAREndpoint,
	}, nil
}
