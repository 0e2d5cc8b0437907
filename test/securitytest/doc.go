// Package securitytest walks the OAuth 2.0 Security Best Current Practice
// (RFC 9700) and the OAuth 2.1 requirements point by point against the real
// roles: the authorization server, the resource API and the web app started
// together in one process as `gatehouse serve` runs them (built by package
// assemble through internal/assemble/assembletest, each behind the
// middleware the binary puts in front of it, served over HTTPS on free
// loopback ports) over one SQLite store, and driven over HTTP the way a browser, a client and an attacker would.
//
// Every point is one test named TestChecklist_<Point>; docs/security.md maps
// the checklist to these names and to the role packages' own tests.
//
// The package has no code outside its tests.
package securitytest
