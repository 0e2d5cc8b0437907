package authz

import (
	"fmt"
	"slices"
	"strings"
)

// The descriptions of invalid_scope errors name the scopes refused, so that
// a developer sees which one to drop or to have registered. They name only
// what the request itself asked for, and, where the client authenticated
// (the token endpoint), what that client may have: never another client's
// registration, nor, at the unauthenticated /authorize, whether a refused
// scope exists at all.

// Bounds on the refused scopes a description names: the request's own
// text, echoed, should not make an error page or redirect URL long. The
// scopes a client may have come from its registration and are all named.
const (
	maxNamedScopes  = 5
	maxNamedScopeLn = 64
)

// refusedScopes is what of requested is not in granted, each once, in the
// order asked. A set keeps it linear: the request's scope parameter may be
// long.
func refusedScopes(requested, granted []string) []string {
	var out []string
	seen := make(map[string]bool)
	for _, sc := range requested {
		if !seen[sc] && !slices.Contains(granted, sc) {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out
}

// scopeNames is scopes for an error description, space-separated as in a
// scope parameter. A description may hold only printable ASCII but '"' and
// '\' (RFC 6749 §5.2), which is what a scope token may hold (§3.3): a
// token with any other character is named "(a malformed scope)". Long
// tokens are cut, and past limit (if not 0) the rest are counted.
func scopeNames(scopes []string, limit int) string {
	names := make([]string, 0, len(scopes))
	for i, sc := range scopes {
		if limit > 0 && i == limit {
			names = append(names, fmt.Sprintf("and %d more", len(scopes)-i))
			break
		}
		switch {
		case !isScopeToken(sc):
			sc = "(a malformed scope)"
		case len(sc) > maxNamedScopeLn:
			sc = sc[:maxNamedScopeLn] + "..."
		}
		names = append(names, sc)
	}
	return strings.Join(names, " ")
}

// isScopeToken reports whether s is a scope-token of RFC 6749 §3.3:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

// scopeNoun is "scope" or "scopes", as n asks.
func scopeNoun(n int) string {
	if n == 1 {
		return "scope"
	}
	return "scopes"
}

// authorizeScopeRefusal describes an authorization request none of whose
// scopes the client may be granted for the target. The endpoint takes no
// client authentication, so it names only the scopes asked for: not the
// client's registration, nor whether a scope is defined anywhere.
func authorizeScopeRefusal(requested []string, t resourceTarget) string {
	refused := refusedScopes(requested, nil)
	if len(refused) == 0 {
		return "no scope requested: name at least one in the scope parameter, such as openid"
	}
	where := ""
	if !t.builtIn {
		where = " for this resource"
	}
	return fmt.Sprintf("the client may not be granted the %s %s%s", scopeNoun(len(refused)), scopeNames(refused, maxNamedScopes), where)
}

// clientScopeRefusal describes a client_credentials request refused for
// its scopes: refused are those asked for that the token may not carry,
// allowed what it may (the resource's scopes the authenticated client is
// registered for). identityOnly says the refused ones are identity scopes
// the client is registered for, which a token with no person in it does
// not carry.
func clientScopeRefusal(refused, allowed []string, t resourceTarget, identityOnly bool) string {
	var b strings.Builder
	n := len(refused)
	switch {
	case identityOnly:
		fmt.Fprintf(&b, "%s %s %s not among the resource's scopes, the only ones a client_credentials token carries", scopeNoun(n), scopeNames(refused, maxNamedScopes), isAre(n))
	case t.builtIn:
		fmt.Fprintf(&b, "%s %s %s not allowed for this client", scopeNoun(n), scopeNames(refused, maxNamedScopes), isAre(n))
	default:
		fmt.Fprintf(&b, "%s %s %s not allowed for this client at this resource", scopeNoun(n), scopeNames(refused, maxNamedScopes), isAre(n))
	}
	if len(allowed) == 0 {
		b.WriteString("; it may have none of this resource's scopes")
	} else {
		b.WriteString("; allowed: " + scopeNames(allowed, 0))
	}
	return b.String()
}

// refreshScopeRefusal describes a refresh request asking for scopes its
// grant does not hold; the grant's scopes are the client's own.
func refreshScopeRefusal(refused, granted []string) string {
	n := len(refused)
	return fmt.Sprintf("%s %s %s not in the original grant; granted: %s", scopeNoun(n), scopeNames(refused, maxNamedScopes), isAre(n), scopeNames(granted, 0))
}

func isAre(n int) string {
	if n == 1 {
		return "is"
	}
	return "are"
}
