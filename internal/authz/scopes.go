package authz

import (
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// scopePolicy decides which scopes a client is granted (RFC 6749 §3.3) and
// when it gets a refresh token.
type scopePolicy struct {
	all []string // the scopes of the built-in API and the identity scopes, for discovery
}

// identityScopes are the OpenID Connect scopes (OpenID Connect Core §5.4,
// §11).
var identityScopes = []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess}

func newScopePolicy(resource []string) scopePolicy {
	return scopePolicy{all: append(slices.Clone(identityScopes), resource...)}
}

// allowed keeps the requested scopes that the server knows for the
// target resource (the identity scopes and the resource's own) and the
// client is registered for, once each, in the order asked.
func (p scopePolicy) allowed(c storage.Client, t resourceTarget, requested []string) []string {
	var out []string
	for _, sc := range requested {
		known := slices.Contains(identityScopes, sc) || slices.Contains(t.scopes, sc)
		if known && slices.Contains(c.Scopes, sc) && !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out
}

// forClient is what a client-credentials token for the target may carry:
// the resource's scopes the client is registered for (no person is
// involved, so never openid or offline_access). With no scope requested,
// all of them.
func (p scopePolicy) forClient(c storage.Client, t resourceTarget, requested []string) ([]string, bool) {
	if len(requested) == 0 {
		requested = t.scopes
	} else if len(p.allowed(c, t, requested)) != len(requested) {
		return nil, false
	}
	got := p.allowed(c, t, requested)
	return slices.DeleteFunc(got, func(sc string) bool { return !slices.Contains(t.scopes, sc) }), true
}

// narrowed checks a refresh request's scope (RFC 6749 §6): a narrower set
// than the grant's may be asked for, never a wider one.
func narrowed(granted, requested []string) ([]string, bool) {
	if len(requested) == 0 {
		return granted, true
	}
	for _, sc := range requested {
		if !slices.Contains(granted, sc) {
			return nil, false
		}
	}
	return requested, true
}

// wantsRefresh: refresh tokens go to clients with the refresh_token grant
// that were granted offline_access, or by policy to first-party clients.
func wantsRefresh(c storage.Client, scopes []string) bool {
	if !slices.Contains(c.GrantTypes, string(oidc.GrantTypeRefreshToken)) {
		return false
	}
	return c.FirstParty || slices.Contains(scopes, oidc.ScopeOfflineAccess)
}

// scopeText explains scopes in plain words on the consent page.
var scopeText = map[string]string{
	"openid":         "Know who you are when you sign in",
	"profile":        "See your name and username",
	"email":          "See your email address",
	"offline_access": "Stay connected when you are not using it",
}

// scopeDescription is a scope in plain words.
func scopeDescription(sc string) string {
	if t, ok := scopeText[sc]; ok {
		return t
	}
	if res, act, ok := strings.Cut(sc, ":"); ok {
		switch act {
		case "read":
			return "Read your " + res
		case "write":
			return "Create, change and delete your " + res
		}
	}
	return sc
}
