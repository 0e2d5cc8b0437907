// Package clientkeys holds what the authorization server knows of the
// public keys clients sign with (private_key_jwt, RFC 7523 and OpenID
// Connect Core §9): which algorithms are accepted, parsing and checking a
// client's JSON Web Key Set when it is registered and when it is used, and
// Sets, which gives each client's keys from its registration or, fetched
// and cached, from its jwks_uri.
package clientkeys
