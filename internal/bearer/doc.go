// Package bearer protects HTTP handlers with OAuth 2.0 bearer tokens issued
// by Gatehouse's authorization server (or any RFC 9068 issuer).
//
// A Verifier checks a token: NewJWTVerifier verifies JWT access tokens
// locally against the issuer's JWKS (RFC 9068), refetched once it is
// JWTConfig.MaxKeyAge old so that withdrawn keys are dropped;
// NewIntrospectionVerifier asks the issuer's introspection endpoint (RFC
// 7662) and accepts only access tokens for its audience. Middleware takes the token
// from the Authorization header only (RFC 6750 §2.1; never the query string),
// verifies it and puts the Claims in the request context; RequireScope
// rejects requests whose token lacks a scope. Failures are answered as RFC
// 6750 §3 says, with a WWW-Authenticate challenge; an ErrorHandler option
// lets an application render them in its own format.
package bearer
