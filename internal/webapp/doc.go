// Package webapp is Gatehouse's client web app role: a confidential OpenID
// Connect client that signs people in at the authorization server and lets
// them manage their todos through the resource API.
//
// It owns the browser-facing pages (html/template, embedded with a small
// stylesheet, no JavaScript), the authorization code flow with PKCE, state and
// nonce, pushed to the provider's PAR endpoint when it has one (signin.go),
// the sign-in's DPoP key, which binds the tokens and signs a proof for every
// token request and API call (dpopkey.go), the server-side token record and
// its serialized refresh (tokens.go; across instances through the Leases of
// lease.go, implemented in internal/webapp/leases), sign-out with revocation
// and RP-initiated logout (signout.go), CSRF protection (csrf.go) and the
// error pages.
//
// The browser holds an opaque scs session cookie, and, while it signs in,
// a sealed cookie with the sign-in's state, nonce and PKCE verifier
// (pending.go). A session exists only once someone has signed in: anonymous
// requests never write to the session store. The session keeps who is signed
// in and a CSRF seed; the tokens and the DPoP key live in a separate,
// encrypted record in the same scs store, so that a request that commits a
// stale copy of the session can never roll a rotated refresh token back.
//
// The web app talks to the other roles only over HTTP and never imports them.
package webapp
