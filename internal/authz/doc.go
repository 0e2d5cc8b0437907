// Package authz is Gatehouse's authorization server role: an OAuth 2.1 and
// OpenID Connect provider with its own HTTP side, Gatehouse's storage,
// login and consent pages, and the rules of RFC 9700. From
// github.com/zitadel/oidc it uses the protocol types and errors (oidc) and
// the ID-token-hint verifier (op); tokens are signed with go-jose.
//
// A request reads top-down: the route (authz.go) leads to the endpoint's
// handler, the handler to its grant or check, and that to storage. Files:
//
//   - authz.go: configuration, the Server and its collaborators, routes,
//     background loops (janitor, key maintenance);
//   - request.go: what every endpoint checks of a request, and errors in
//     the endpoint's shape (RFC 6749 §5.2 JSON or an HTML page);
//   - client_auth.go: client authentication (RFC 6749 §2.3), over
//     clientcache.go's cached registrations;
//   - scopes.go: which scopes a client gets, and refresh-token policy;
//   - issuer.go: the token kinds, and minting access (RFC 9068), ID and
//     refresh tokens — signing only, no writes;
//   - access_token.go: whether an access token is active (signature, grant,
//     client, user, revoked list);
//   - token_endpoint.go: the token endpoint, dispatching to one grant:
//     authorization_code.go, refresh_token.go, client_credentials.go;
//   - revocation.go (RFC 7009), introspection.go (RFC 7662), userinfo.go
//     (OpenID Connect Core §5.3), end_session.go (RP-Initiated Logout);
//   - authorize.go: the authorization endpoint; pending.go seals a request
//     until the person has signed in;
//   - login.go: sign-in, consent, sign-out and the login session;
//     lockout.go throttles sign-in attempts; pages.go renders pages and
//     owns cookies and CSRF;
//   - signin.go: a sign-in in steps (password, then a second factor or its
//     enrolment) and how a person signed in (amr, acr); totp.go: the
//     authenticator app (RFC 6238) and recovery codes; passkey.go:
//     passkeys (WebAuthn), to sign in and as a second factor;
//   - account.go: the account page (password, passkeys, authenticator
//     app, sessions, applications with access);
//   - discovery.go: discovery metadata and the JWKS; janitor.go: removal of
//     expired rows.
//
// keys/ holds the signing keys and their rotation.
package authz
