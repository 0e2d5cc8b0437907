// Package bearer protects HTTP handlers with OAuth 2.0 bearer tokens issued
// by Gatehouse's authorization server (or any RFC 9068 issuer).
//
// # Verifying tokens
//
// A [Verifier] checks a token. There are two:
//
//   - [NewJWTVerifier] verifies JWT access tokens locally against the
//     issuer's JWKS (RFC 9068), refetched once it is [JWTConfig].MaxKeyAge
//     old so that withdrawn keys are dropped. No request reaches the
//     issuer per token.
//   - [NewIntrospectionVerifier] asks the issuer's introspection endpoint
//     (RFC 7662), so that a revoked token is refused at once (within
//     [IntrospectionConfig].CacheTTL), and accepts only access tokens for
//     its audience.
//
// # Protecting handlers
//
// [Middleware] takes the token from the Authorization header only (RFC 6750
// §2.1; never the query string), verifies it and puts the [Claims] in the
// request context; a request without a valid token gets 401 and never
// reaches the handler. Under it, [RequireScope] rejects requests whose token
// lacks a scope (403), and [CheckScope] makes the same test inside a handler
// that chooses the scope per request:
//
//	v, err := bearer.NewJWTVerifier(ctx, bearer.JWTConfig{
//		Issuer:   "https://id.example",   // Gatehouse's issuer URL
//		Audience: "https://notes.example", // this API, the tokens' "aud"
//	})
//	if err != nil {
//		return err
//	}
//	mux := http.NewServeMux()
//	mux.Handle("GET /notes", bearer.RequireScope("notes:read")(listNotes))
//	mux.Handle("POST /notes", bearer.RequireScope("notes:write")(addNote))
//	return http.ListenAndServe(addr, bearer.Middleware(v)(mux))
//
// [Authenticate] and [TokenFromRequest] are Middleware's steps, for code
// that checks requests without wrapping a handler.
//
// # Reading the claims
//
// A handler under Middleware gets the verified claims with [ClaimsFrom]:
// the subject, the client and the scopes ([Claims.HasScope]).
// [Claims.IsClient] tells a token a client obtained for itself (the client
// credentials grant; its subject is [ClientSubject]) from one issued on a
// person's behalf. [WithClaims] puts claims in a context as Middleware does,
// for testing a handler without a token.
//
// # Errors
//
// A refused request is an [Error], answered as RFC 6750 §3 says: 400, 401
// or 403 with a WWW-Authenticate challenge ([Error.Challenge]), or 503 when
// the token cannot be checked (the issuer is unreachable). [WriteError]
// writes it by default; [WithErrorHandler], passed to Middleware and to
// RequireScope, lets an application render it in its own format, keeping
// the challenge.
//
// # Testing
//
// Package [github.com/gatehouse-dev/gatehouse/bearer/bearertest] is a
// stand-in issuer: it serves a discovery document and a JWKS over httptest
// and signs access tokens for a chosen subject and scopes. The package's
// examples (go doc -http shows them) use it, and each runs as a test.
package bearer
