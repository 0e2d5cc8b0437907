package authz

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Client authentication at the token, revocation and introspection
// endpoints (RFC 6749 §2.3, §3.2.1). Each client has one method, its
// token_endpoint_auth_method: confidential clients use client_secret_basic,
// client_secret_post or private_key_jwt (client_assertion.go); public
// clients (none) only identify themselves, and only for the authorization
// code and refresh token grants and revocation. A client registered before
// clients had a method may present its secret either way. Wrong or missing
// credentials, or another method than the client's, answer 401
// invalid_client (RFC 6749 §5.2). A disabled client does not authenticate.

// credentials are what a request presents to authenticate its client.
type credentials struct {
	ClientID, ClientSecret string
	// Method is how they are presented: storage.AuthNone (client_id
	// alone), AuthSecretBasic, AuthSecretPost or AuthPrivateKeyJWT.
	Method string
	// Assertion is the signed JWT of private_key_jwt.
	Assertion string
}

// clientAuth authenticates clients against their cached registrations.
type clientAuth struct {
	issuer     string // the requested endpoint's URL is issuer + path
	cache      *clientCache
	assertions *assertionChecker
	audit      *slog.Logger
}

func newClientAuth(issuer string, cache *clientCache, assertions *assertionChecker, audit *slog.Logger) *clientAuth {
	return &clientAuth{issuer: issuer, cache: cache, assertions: assertions, audit: audit}
}

// clientUse says what a client authenticates for; public clients may only
// do some of it.
type clientUse int

const (
	useConfidential  clientUse = iota // introspection, client credentials: a secret is required
	usePublicAllowed                  // code and refresh grants, revocation: a public client may identify itself
)

// authMethod is the method c authenticates with; "" for a confidential
// client registered before clients had one (either secret method).
func authMethod(c storage.Client) string {
	if c.AuthMethod == "" && c.Public {
		return storage.AuthNone
	}
	return c.AuthMethod
}

// authenticate reads the request's client credentials and checks them.
func (a *clientAuth) authenticate(r *http.Request, use clientUse) (storage.Client, error) {
	cc, err := clientCredentials(r.Header, r.PostForm)
	if err != nil {
		var why errAssertion
		if errors.As(err, &why) {
			a.audit.InfoContext(r.Context(), "client authentication failed", "event", "client_auth_failed",
				"client_id", cc.ClientID, "method", storage.AuthPrivateKeyJWT, "reason", string(why))
			return storage.Client{}, errInvalidClient()
		}
		return storage.Client{}, err
	}
	ctx := r.Context()
	c, err := a.cache.get(ctx, cc.ClientID)
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storage.Client{}, serverError(err, "loading client")
	}
	found := err == nil && !c.Disabled
	method := authMethod(c)
	switch {
	case cc.Method == storage.AuthPrivateKeyJWT:
		reason := ""
		switch {
		case !found:
			reason = "unknown or disabled client"
		case method != storage.AuthPrivateKeyJWT:
			reason = "the client is registered with " + method
		default:
			err := a.assertions.check(ctx, c, cc.Assertion, a.issuer+r.URL.Path)
			var why errAssertion
			switch {
			case errors.As(err, &why):
				reason = string(why)
			case err != nil:
				return storage.Client{}, serverError(err, "checking a client assertion")
			}
		}
		if reason != "" {
			a.audit.InfoContext(ctx, "client authentication failed", "event", "client_auth_failed",
				"client_id", cc.ClientID, "method", cc.Method, "reason", reason)
			return storage.Client{}, errInvalidClient()
		}
		return c, nil
	case found && method == storage.AuthNone:
		// HTTP Basic with an empty password only identifies the client:
		// golang.org/x/oauth2 sends a public client's ID so.
		if cc.ClientSecret != "" || use != usePublicAllowed {
			a.audit.InfoContext(ctx, "client authentication failed", "event", "client_auth_failed",
				"client_id", cc.ClientID, "method", cc.Method, "reason", "a public client presents no credentials")
			return storage.Client{}, errInvalidClient()
		}
		return c, nil
	}
	// A secret: compared even when the client is unknown or uses another
	// method, so that neither answers sooner.
	c, err = checkClientSecret(c, err, cc.ClientSecret)
	if err == nil && method != "" && method != cc.Method {
		err = errInvalidClient()
	}
	if err != nil {
		if !errors.Is(err, storage.ErrUnavailable) {
			a.audit.InfoContext(ctx, "client authentication failed", "event", "client_auth_failed", "client_id", cc.ClientID, "method", cc.Method)
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
// revocation or introspection request: HTTP Basic, whose user and password
// are form-urlencoded client_id and client_secret (RFC 6749 §2.3.1), or
// client_id and client_secret in the body, or a JWT client assertion
// (RFC 7521 §4.2, RFC 7523 §2.2) naming the client, with client_id
// optional beside it. A request uses one method only (§2.3).
func clientCredentials(header http.Header, form url.Values) (credentials, error) {
	cc := credentials{ClientID: form.Get("client_id"), ClientSecret: form.Get("client_secret"), Method: storage.AuthNone}
	auth := header.Values("Authorization")
	if len(auth) > 1 {
		return cc, statusError(http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("more than one Authorization header"))
	}
	oneMethod := statusError(http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("client authentication must use one method"))
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		if len(auth) > 0 || form.Has("client_secret") {
			return cc, oneMethod
		}
		if form.Get("client_assertion_type") != assertionType {
			return cc, errAssertion("client_assertion_type must be " + assertionType)
		}
		id, err := assertionClientID(form.Get("client_assertion"))
		if err != nil {
			return cc, err
		}
		if cc.ClientID != "" && cc.ClientID != id {
			return cc, errAssertion("client_id differs from the assertion's sub")
		}
		cc.ClientID, cc.Assertion, cc.Method = id, form.Get("client_assertion"), storage.AuthPrivateKeyJWT
		return cc, nil
	}
	if form.Has("client_secret") {
		cc.Method = storage.AuthSecretPost
	}
	if len(auth) > 0 {
		id, secret, ok := parseBasic(auth[0])
		if !ok {
			return cc, errInvalidClient()
		}
		if form.Has("client_secret") || (form.Has("client_id") && form.Get("client_id") != id) {
			return cc, oneMethod
		}
		cc.ClientID, cc.ClientSecret, cc.Method = id, secret, storage.AuthSecretBasic
	}
	if cc.ClientID == "" || !validText(cc.ClientID) || !validText(cc.ClientSecret) {
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
	if err1 != nil || err2 != nil || id == "" || !validText(id) || !validText(secret) {
		return "", "", false
	}
	return id, secret, true
}
