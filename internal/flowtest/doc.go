// Package flowtest is the client side of Gatehouse's OAuth flows, driven
// over HTTP the way a browser or a client application would: one request
// read whole (Send), a browser with a cookie jar of its own that follows
// redirects step by step (Browser, Walk), the login and consent forms
// (FindForm, Submit), the authorization code flow with PKCE (Authorize) and
// token requests (Token).
//
// It is shared by the load tool (internal/loadtest) and the tests that run
// gatehouse processes (test/cluster, test/reliability). It knows
// the roles only by their URLs: it imports none of them.
package flowtest
