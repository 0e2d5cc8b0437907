package dpop

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// TestKeyFits covers keyFits apart from parse, since go-jose already
// refuses private and symmetric jwk headers, and most mismatches fail the
// signature anyway.
func TestKeyFits(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsa2048, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		key  jose.JSONWebKey
		alg  jose.SignatureAlgorithm
		ok   bool
	}{
		{"P-256 ES256", jose.JSONWebKey{Key: &p256.PublicKey}, jose.ES256, true},
		{"Ed25519 EdDSA", jose.JSONWebKey{Key: edPub}, jose.EdDSA, true},
		{"RSA PS256", jose.JSONWebKey{Key: &rsa2048.PublicKey}, jose.PS256, true},
		{"RSA RS256", jose.JSONWebKey{Key: &rsa2048.PublicKey}, jose.RS256, true},
		{"alg named", jose.JSONWebKey{Key: &p256.PublicKey, Algorithm: "ES256"}, jose.ES256, true},
		{"another alg named", jose.JSONWebKey{Key: &p256.PublicKey, Algorithm: "ES384"}, jose.ES256, false},
		{"P-384 ES256", jose.JSONWebKey{Key: &p384.PublicKey}, jose.ES256, false},
		{"P-256 private", jose.JSONWebKey{Key: p256}, jose.ES256, false},
		{"Ed25519 private", jose.JSONWebKey{Key: edPriv}, jose.EdDSA, false},
		{"RSA private", jose.JSONWebKey{Key: rsa2048}, jose.PS256, false},
		{"symmetric", jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef")}, jose.ES256, false},
		{"none", jose.JSONWebKey{}, jose.ES256, false},
		{"RSA without modulus", jose.JSONWebKey{Key: &rsa.PublicKey{E: 65537}}, jose.RS256, false},
		{"P-256 RS256", jose.JSONWebKey{Key: &p256.PublicKey}, jose.RS256, false},
		{"Ed25519 ES256", jose.JSONWebKey{Key: edPub}, jose.ES256, false},
		{"RSA EdDSA", jose.JSONWebKey{Key: &rsa2048.PublicKey}, jose.EdDSA, false},
		{"RSA ES256", jose.JSONWebKey{Key: &rsa2048.PublicKey}, jose.ES256, false},
	} {
		if err := keyFits(tt.key, tt.alg); (err == nil) != tt.ok {
			t.Errorf("%s: %v, want ok %v", tt.name, err, tt.ok)
		}
	}
}
