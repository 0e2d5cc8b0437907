// Package keys owns the authorization server's signing keys: generating them,
// keeping their private halves sealed with the server secret in the store,
// choosing which key signs, publishing the JWKS, and rotating keys so that a
// new key is published before it signs and an old one stays published until
// every token it signed has expired. A compromised key is withdrawn at once
// instead (Retire), replaced by a key that signs at once. Instances that
// start together on an empty database agree on one first key per algorithm:
// the store creates a key only while none of its algorithm can sign
// (CreateKeyIfNoSigner).
package keys
