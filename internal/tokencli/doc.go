// Package tokencli gets a person's access token for a command-line user,
// the way `gh auth login` does: the authorization code flow with PKCE
// (S256) of a public client, through the person's browser and a loopback
// redirect (RFC 8252 §7.3, http://127.0.0.1:<random port>/callback).
//
// Get discovers the authorization server (OpenID Connect Discovery),
// listens on the loopback interface, shows the authorization address (and
// opens it with an injected function, SystemBrowser outside tests), waits
// for the browser to come back with a code whose state matches, redeems
// it with the PKCE verifier, and checks the ID token, if one comes back,
// and its nonce. A request to the callback with another state is refused
// with a page and does not end the wait: any web page the person visits
// could send one.
package tokencli
