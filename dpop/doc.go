// Package dpop makes and checks DPoP proofs (OAuth 2.0 Demonstrating Proof
// of Possession, RFC 9449), which bind access tokens to a key the client
// holds, so that a stolen token is of no use without the key.
//
// A client sends with each request a proof: a JWT signed with its key,
// carrying the public key ("jwk" header), the request's method and URL
// ("htm", "htu"), the time, a unique ID and, to a resource, the hash of the
// access token ("ath"). The authorization server checks the proof at its
// token endpoint and binds the tokens it issues to the key (their
// "cnf"."jkt" claim is the key's thumbprint); a resource checks the proof
// with each request and that the token is bound to its key.
//
// # Checking proofs
//
// A [Checker] checks a proof against the request it came with (RFC 9449
// §4.3), and remembers it in a [Replays] store so that it is accepted only
// once. [NewMemoryReplays] is a store for a server of one instance; several
// instances need a store they share. With [Nonces], the server also
// requires proofs to carry a nonce it handed out: instances that share the
// secret share the nonces, without storing them.
//
//	checker := &dpop.Checker{Replays: dpop.NewMemoryReplays()}
//	proof, e := dpop.ProofFrom(r.Header) // "" when the request has none
//	if e != nil { … }
//	p, err := checker.Check(ctx, proof, dpop.Request{
//		Method:      r.Method,
//		URL:         publicURL + r.URL.Path, // the URL the client sent to
//		AccessToken: token,                  // "" at the token endpoint
//	})
//
// A refused proof is an [*Error] (invalid_dpop_proof, or use_dpop_nonce
// with a DPoP-Nonce header): the token endpoint answers it with 400 and a
// JSON error, a resource with 401 and [Error.WWWAuthenticate]. Other errors
// mean the proof could not be checked (5xx). On success, the token endpoint
// binds the token to p.JKT; a resource refuses a token whose "cnf"."jkt" is
// not p.JKT.
//
// # Making proofs
//
// A client holds a [Key] ([GenerateKey]; [Key.MarshalJSON] and [ParseKey]
// to keep it) and sends its requests through a [Transport], which adds the
// proofs and follows the servers' nonces. Under golang.org/x/oauth2, the
// Transport goes in the HTTP client of the context, so that both the token
// requests and the API requests carry proofs; the tokens the server issues
// are of type "DPoP", which oauth2 sends as "Authorization: DPoP <token>":
//
//	key, err := dpop.GenerateKey()
//	…
//	hc := &http.Client{Transport: &dpop.Transport{Key: key}}
//	ctx = context.WithValue(ctx, oauth2.HTTPClient, hc)
//	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
//	…
//	api := conf.Client(ctx, tok) // requests to the API carry a proof with ath
//
// [Key.Proof] makes a single proof, for clients that build requests
// themselves.
package dpop
