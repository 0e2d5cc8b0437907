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
// §2.1), verifies it and puts the [Claims] in the request context; a
// request without a valid token gets 401 and never reaches the handler. A
// token sent as an access_token parameter, in the query string or a form
// body, is refused with 400 invalid_request, which tells the client to use
// the header (RFC 9700 §4.3.2). Under it, [RequireScope] rejects requests whose token
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
// [Authenticate] and [CredentialsFromRequest] are Middleware's steps, for
// code that checks requests without wrapping a handler; [TokenFromRequest]
// reads a token of the Bearer scheme only.
//
// # DPoP-bound tokens
//
// An authorization server may bind an access token to a key the client
// holds (DPoP, RFC 9449): the token's "cnf"."jkt" ([Claims].JKT) is the
// key's thumbprint, and the client sends it as "Authorization: DPoP
// <token>" with a proof of the key in the DPoP header, made for that
// request. [WithDPoP] makes Middleware and Authenticate accept such tokens:
// a bound token only under the DPoP scheme, with a proof that a
// [dpop.Checker] accepts for the request's method, URL and token and that
// is signed with the token's key; a bearer token under the Bearer scheme as
// before ([DPoPOnly] refuses those). A bound token sent as a bearer token is
// refused, with a proof or without, and without WithDPoP every bound token
// is: it must never work as a bearer token. Refusals are 401s that
// challenge for both schemes (RFC 9449 §7.1); a proof lacking the nonce the
// checker requires gets use_dpop_nonce and the nonce in a DPoP-Nonce
// header, and a replay store that fails gets a 503.
//
//	checker := &dpop.Checker{
//		Replays: replays, // shared by the instances; dpop.NewMemoryReplays() for one
//	}
//	publicURL := "https://notes.example" // as clients reach this server
//	urlOf := func(r *http.Request) string { return publicURL + r.URL.EscapedPath() }
//	h := bearer.Middleware(v, bearer.WithDPoP(checker, urlOf))(mux)
//
// The proof must name the URL the client sent the request to; with a nil
// urlOf it is [RequestURL], the URL as this server received it, which is
// wrong behind a proxy. Under [RequireScope] and [CheckScope], a bound
// token's 403 challenges under the DPoP scheme.
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
// or 403 with WWW-Authenticate challenges ([Error.SetHeaders]), or 503 when
// the token cannot be checked (the issuer is unreachable). [WriteError]
// writes it by default; [WithErrorHandler], passed to Middleware and to
// RequireScope, lets an application render it in its own format, keeping
// the headers.
//
// # Testing
//
// Package [github.com/gatehouse-dev/gatehouse/bearer/bearertest] is a
// stand-in issuer: it serves a discovery document and a JWKS over httptest
// and signs access tokens for a chosen subject and scopes, bound to a DPoP
// key (Issuer.TokenBound) or not. The package's examples (go
// doc -http shows them) use it, and each runs as a test.
package bearer
