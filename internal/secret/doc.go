// Package secret owns the server secret and everything made from it: the
// encryption of values at rest (signing keys, other secrets), subkeys for named
// purposes such as cookie signing and CSRF, and the random tokens Gatehouse
// hands out together with the hashes it stores in their place.
//
// The server secret is a Key. It comes from GATEHOUSE_SECRET, from a file
// named by --secret-file, or is generated once into the data directory by
// LoadOrCreate. A Key never prints its bytes: fmt, %#v and slog all show a
// redacted placeholder.
//
// Tokens (client secrets, authorization codes, refresh tokens) are 256 bits of
// randomness from NewToken. Only HashToken of a token is stored, and stored
// hashes are compared with EqualHash in constant time. A fast hash is right
// here because these values are random; people's passwords belong to package
// password instead.
package secret
