// Package loopback says whether a host names this machine's loopback
// interface: the rule behind plain-http URLs being allowed for local
// development (redirect URIs, resource audiences, public URLs) and behind
// RFC 8252's loopback redirects for native apps.
package loopback
