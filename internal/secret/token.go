package secret

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
)

// TokenBytes is the number of random bytes in a token from NewToken.
const TokenBytes = 32

// NewToken returns 256 bits of randomness, base64url encoded without padding
// (43 characters): enough for client secrets, authorization codes and refresh
// tokens (RFC 6749 §10.10 asks for a guessing probability ≤ 2^-128; RFC 6819
// §5.1.4.2.2 for high entropy).
func NewToken() (string, error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("secret: generating token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken returns the SHA-256 of token, base64url without padding: the form
// in which client secrets, codes and refresh tokens are stored (RFC 6819
// §5.1.4.1.3: store hashes, not the credentials). It is fast on purpose: the
// inputs are high-entropy random values, so there is nothing to brute-force.
// Never use it for passwords; use package password.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// EqualHash reports whether two hashes are equal, in time independent of
// where they differ (crypto/subtle).
func EqualHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
