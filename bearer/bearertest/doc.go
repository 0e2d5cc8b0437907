// Package bearertest is a stand-in authorization server for tests: it
// publishes a discovery document and a JWKS over httptest and signs RFC 9068
// access tokens with go-jose.
package bearertest
