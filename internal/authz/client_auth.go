package authz

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"unicode/utf8"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Client authentication at the token, revocation and introspection
// endpoints (RFC 6749 §2.3, §3.2.1). Confidential clients use
// client_secret_basic or client_secret_post; public clients only identify
// themselves, and only for the authorization code and refresh token grants
// and revocation. Wrong or missing credentials answer 401 invalid_client
// (RFC 6749 §5.2). A disabled client does not authenticate.

// credentials are what a request presents to authenticate its client.
type credentials struct {
	ClientID, ClientSecret string
}

// clientAuth authenticates clients against their cached registrations.
type clientAuth struct {
	cache *clientCache
	audit *slog.Logger
}

func newClientAuth(cache *clientCache, audit *slog.Logger) *clientAuth {
	return &clientAuth{cache: cache, audit: audit}
}

// clientUse says what a client authenticates for; public clients may only
// do some of it.
type clientUse int

const (
	useConfidential  clientUse = iota // introspection, client credentials: a secret is required
	usePublicAllowed                  // code and refresh grants, revocation: a public client may identify itself
)

// authenticate reads the request's client credentials and checks them.
func (a *clientAuth) authenticate(r *http.Request, use clientUse) (storage.Client, error) {
	cc, err := clientCredentials(r.Header, r.PostForm)
	if err != nil {
		return storage.Client{}, err
	}
	ctx := r.Context()
	c, err := a.cache.get(ctx, cc.ClientID)
	if err == nil && c.Public && !c.Disabled {
		if cc.ClientSecret != "" || use != usePublicAllowed {
			return storage.Client{}, errInvalidClient()
		}
		return c, nil
	}
	c, err = checkClientSecret(c, err, cc.ClientSecret) // one read, even for an unknown client
	if err != nil {
		if !errors.Is(err, storage.ErrUnavailable) {
			a.audit.InfoContext(ctx, "client authentication failed", "event", "client_auth_failed", "client_id", cc.ClientID)
		}
		return storage.Client{}, err
	}
	return c, nil
}

// dummyHash is compared against when a client is unknown, so that an
// unknown client costs the same as a wrong secret.
var dummyHash = secret.HashToken("gatehouse: no such client")

// errInvalidClient is answered with 401 (RFC 6749 §5.2).
func errInvalidClient() error {
	return statusError(http.StatusUnauthorized, oidc.ErrInvalidClient().WithDescription("client authentication failed"))
}

// checkClientSecret checks a confidential client's secret (RFC 6749
// §2.3.1) in constant time, on a client (or lookup error) already read.
// Public and disabled clients fail here.
func checkClientSecret(c storage.Client, err error, presented string) (storage.Client, error) {
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return c, serverError(err, "loading client")
	}
	want := dummyHash
	if err == nil && !c.Public && c.SecretHash != "" {
		want = c.SecretHash
	}
	ok := secret.EqualHash(secret.HashToken(presented), want)
	if err != nil || c.Public || c.Disabled || c.SecretHash == "" || presented == "" || !ok {
		return storage.Client{}, errInvalidClient()
	}
	return c, nil
}

// clientCredentials reads a client's authentication from a token,
// revocation or introspection request (RFC 6749 §2.3.1): HTTP Basic, whose
// user and password are form-urlencoded client_id and client_secret, or
// client_id and client_secret in the body. A client uses one method only
// (§2.3); assertions (RFC 7523) are not supported.
func clientCredentials(header http.Header, form url.Values) (credentials, error) {
	cc := credentials{ClientID: form.Get("client_id"), ClientSecret: form.Get("client_secret")}
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		return cc, errInvalidClient()
	}
	if auth := header.Values("Authorization"); len(auth) > 0 {
		if len(auth) > 1 {
			return cc, statusError(http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("more than one Authorization header"))
		}
		id, secret, ok := parseBasic(auth[0])
		if !ok {
			return cc, errInvalidClient()
		}
		if form.Has("client_secret") || (form.Has("client_id") && form.Get("client_id") != id) {
			return cc, statusError(http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("client authentication must use one method"))
		}
		cc.ClientID, cc.ClientSecret = id, secret
	}
	if cc.ClientID == "" || !utf8.ValidString(cc.ClientID) || !utf8.ValidString(cc.ClientSecret) {
		return cc, errInvalidClient()
	}
	return cc, nil
}

// parseBasic parses an HTTP Basic Authorization value (RFC 7617) whose
// user-id and password are form-urlencoded (RFC 6749 §2.3.1).
func parseBasic(v string) (id, secret string, ok bool) {
	r := http.Request{Header: http.Header{"Authorization": {v}}}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil || id == "" || !utf8.ValidString(id) || !utf8.ValidString(secret) {
		return "", "", false
	}
	return id, secret, true
}
