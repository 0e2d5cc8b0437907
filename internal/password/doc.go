// Package password owns people's passwords: hashing them with argon2id into
// self-describing PHC strings, verifying them in constant time, telling when a
// stored hash should be upgraded to stronger parameters, and the minimum
// policy a new password must meet.
//
// Random, high-entropy credentials such as client secrets and refresh tokens
// are not passwords; package secret hashes those.
package password
