package authz

import (
	"context"
	"errors"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Resource indicators (RFC 8707). A client names the API its tokens are
// for with the resource parameter at /authorize, /par and /token: the
// built-in API (Config.Audience, the default when none is named) or a
// registered resource server (a client with a ResourceAudience). The
// access token's aud is that resource alone, and its scopes are the
// identity scopes plus those the resource defines (Config.ResourceScopes
// for the built-in API, the resource server's ResourceScopes otherwise),
// so a token for one API is refused by every other and never carries
// another API's permissions (RFC 9068 §4; RFC 9700 §2.3).

// resourceTarget is the resource tokens are issued for.
type resourceTarget struct {
	audience string   // the access token's aud
	scopes   []string // the resource scopes it defines
	builtIn  bool     // the server's own API (Config.Audience)
}

// stored is how an authorization request records the target: "" for
// the built-in API.
func (t resourceTarget) stored() string {
	if t.builtIn {
		return ""
	}
	return t.audience
}

// invalidTarget is RFC 8707 §2's error for a resource the server does
// not know or will not issue tokens for.
func invalidTarget(desc string) *authzError { return &authzError{"invalid_target", desc} }

// resolveResource returns the target the resource parameter's values
// name: none is the built-in API; more than one is refused (each token
// has one audience here); a value must be an absolute URI without a
// fragment (RFC 8707 §2) naming the built-in API or an enabled resource
// server. Other errors are the store's.
func (s *Server) resolveResource(ctx context.Context, values []string) (resourceTarget, *authzError, error) {
	builtIn := resourceTarget{audience: s.cfg.Audience, scopes: s.cfg.ResourceScopes, builtIn: true}
	switch {
	case len(values) == 0:
		return builtIn, nil, nil
	case len(values) > 1:
		return resourceTarget{}, invalidTarget("one resource per request"), nil
	}
	v := values[0]
	if u, err := url.Parse(v); err != nil || !u.IsAbs() || u.Fragment != "" || u.RawFragment != "" || len(v) > maxAuthorizeParam {
		return resourceTarget{}, invalidTarget("resource must be an absolute URI without a fragment"), nil
	}
	if v == s.cfg.Audience {
		return builtIn, nil, nil
	}
	rs, err := s.store.GetResourceServer(ctx, v)
	switch {
	case errors.Is(err, storage.ErrNotFound), err == nil && rs.Disabled:
		return resourceTarget{}, invalidTarget("unknown resource"), nil
	case err != nil:
		return resourceTarget{}, nil, err
	}
	return resourceTarget{audience: rs.ResourceAudience, scopes: rs.ResourceScopes}, nil, nil
}

// storedTarget is the target an authorization request recorded.
func (s *Server) storedTarget(ctx context.Context, resource string) (resourceTarget, *authzError, error) {
	if resource == "" {
		return s.resolveResource(ctx, nil)
	}
	return s.resolveResource(ctx, []string{resource})
}

// sameTarget checks a token request's resource parameter against the
// target its grant was given for (RFC 8707 §2.2): it may repeat it, not
// change it.
func sameTarget(values []string, granted resourceTarget) *authzError {
	switch {
	case len(values) == 0:
		return nil
	case len(values) > 1:
		return invalidTarget("one resource per request")
	case values[0] != granted.audience:
		return invalidTarget("the grant is for another resource")
	}
	return nil
}

// tokenError is e in the token endpoint's shape (RFC 6749 §5.2 JSON).
func (e *authzError) tokenError() error {
	err := oidc.ErrInvalidRequest().WithDescription("%s", e.description)
	if e.code == "invalid_target" {
		err.ErrorType = "invalid_target" // RFC 8707 §2, not in oidc's list
	}
	return err
}
