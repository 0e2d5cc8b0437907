// Package authz is Gatehouse's authorization server role: an OAuth 2.1 and
// OpenID Connect provider built on github.com/zitadel/oidc/v3/pkg/op, with
// Gatehouse's own storage, login and consent pages and policies (RFC 9700).
//
// op supplies routing, request decoding, client-credential parsing, error
// encoding and ID tokens. Gatehouse adds around it what op does not do or
// does differently: the authorization endpoint (S256 PKCE required, exact
// redirect_uri match, `iss` in every authorization response per RFC 9207),
// single-use codes whose replay revokes what they issued, refresh-token
// rotation with family revocation on reuse, RFC 9068 access tokens, RFC 8414
// metadata, and revocation and introspection on its own token records.
//
// Files are named by concern: authorize.go (authorization endpoint),
// pages.go (login, consent, logout), lockout.go (failed-login throttling),
// endpoints.go (the HTTP side of the token, revocation, introspection,
// userinfo, JWKS and end-session endpoints: methods, body limits, repeated
// parameters, client authentication, RFC 6749 §5.2 errors), opserver.go
// (what those endpoints do), token.go (tokens and grants), discovery.go,
// adapter.go (op.Storage over storage.Store), janitor.go; keys/ holds the
// signing keys and their rotation.
package authz
