package dpop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/cryptosigner"
)

// Key is a client's DPoP key: it signs proofs. Make one with GenerateKey,
// NewKey or ParseKey. A Key is safe for concurrent use.
type Key struct {
	signer crypto.Signer
	alg    jose.SignatureAlgorithm
	public jose.JSONWebKey
	jkt    string
	jws    jose.Signer
}

// GenerateKey makes a new ES256 key (ECDSA on P-256), the algorithm every
// DPoP server is expected to accept.
func GenerateKey() (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("dpop: generating a key: %w", err)
	}
	return NewKey(priv)
}

// NewKey makes a Key of a private key: ECDSA on P-256 (signing with ES256),
// Ed25519 (EdDSA) or RSA of at least 2048 bits (PS256). The signer may be
// opaque (a key in a hardware module), but only *ecdsa.PrivateKey,
// ed25519.PrivateKey and *rsa.PrivateKey can be marshalled.
func NewKey(signer crypto.Signer) (*Key, error) {
	if signer == nil {
		return nil, errors.New("dpop: no key")
	}
	var alg jose.SignatureAlgorithm
	switch pub := signer.Public().(type) {
	case *ecdsa.PublicKey:
		if pub.Curve != elliptic.P256() {
			return nil, errors.New("dpop: an ECDSA key must be on P-256")
		}
		alg = jose.ES256
	case ed25519.PublicKey:
		alg = jose.EdDSA
	case *rsa.PublicKey:
		if pub.N.BitLen() < minRSABits {
			return nil, fmt.Errorf("dpop: RSA key of %d bits, less than %d", pub.N.BitLen(), minRSABits)
		}
		alg = jose.PS256
	default:
		return nil, fmt.Errorf("dpop: unsupported key type %T", pub)
	}
	public := jose.JSONWebKey{Key: signer.Public(), Algorithm: string(alg)}
	jkt, err := Thumbprint(public)
	if err != nil {
		return nil, err
	}
	var key any
	switch signer.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey:
		key = signer
	default:
		key = cryptosigner.Opaque(pssSaltEqualsHash{signer})
	}
	opts := (&jose.SignerOptions{EmbedJWK: true}).WithType(proofType)
	jws, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	return &Key{signer: signer, alg: alg, public: public, jkt: jkt, jws: jws}, nil
}

// pssSaltEqualsHash makes an opaque signer's PS256 signatures use a salt as
// long as the hash, as RFC 7518 §3.5 requires and go-jose does for the keys
// it holds (cryptosigner asks for the longest salt).
type pssSaltEqualsHash struct{ crypto.Signer }

func (s pssSaltEqualsHash) Sign(r io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	if pss, ok := opts.(*rsa.PSSOptions); ok {
		opts = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: pss.Hash}
	}
	return s.Signer.Sign(r, digest, opts)
}

// JKT is the key's RFC 7638 thumbprint: the "cnf"."jkt" of tokens bound to
// it, and the dpop_jkt of an authorization request (RFC 9449 §10).
func (k *Key) JKT() string { return k.jkt }

// Algorithm is the algorithm the key signs proofs with.
func (k *Key) Algorithm() jose.SignatureAlgorithm { return k.alg }

// Public is the key's public half, as proofs carry it.
func (k *Key) Public() jose.JSONWebKey { return k.public }

// proofClaims are the payload of the proofs a Key makes.
type proofClaims struct {
	JTI   string `json:"jti"`
	HTM   string `json:"htm"`
	HTU   string `json:"htu"`
	IAT   int64  `json:"iat"`
	ATH   string `json:"ath,omitempty"`
	Nonce string `json:"nonce,omitempty"`
}

// Proof makes a proof for a request of method to rawURL, made at now: its
// jti is 128 random bits, its htu rawURL without query and fragment. With
// an accessToken (a request to a resource), it carries the token's hash
// (ath); with a nonce (the last DPoP-Nonce from that server), the nonce.
func (k *Key) Proof(method, rawURL, accessToken, nonce string, now time.Time) (string, error) {
	if method == "" {
		return "", errors.New("dpop: proof for no method")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("dpop: proof URL: %w", err)
	}
	if !u.IsAbs() || u.Host == "" {
		return "", fmt.Errorf("dpop: proof URL %q is not absolute", rawURL)
	}
	u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
	c := proofClaims{
		JTI:   rand.Text(), // 128 bits in base32 (26 characters)
		HTM:   method,
		HTU:   u.String(),
		IAT:   now.Unix(),
		Nonce: nonce,
	}
	if accessToken != "" {
		c.ATH = TokenHash(accessToken)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("dpop: %w", err)
	}
	jws, err := k.jws.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("dpop: signing a proof: %w", err)
	}
	return jws.CompactSerialize()
}

// MarshalJSON encodes the private key as a JWK (RFC 7517), so that a
// client (or the session of a web app acting as one) can keep it. The
// result is a secret.
func (k *Key) MarshalJSON() ([]byte, error) {
	switch k.signer.(type) {
	case *ecdsa.PrivateKey, ed25519.PrivateKey, *rsa.PrivateKey:
	default:
		return nil, fmt.Errorf("dpop: a key of type %T cannot be marshalled", k.signer)
	}
	b, err := jose.JSONWebKey{Key: k.signer, Algorithm: string(k.alg)}.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("dpop: %w", err)
	}
	return b, nil
}

// UnmarshalJSON decodes a key encoded by MarshalJSON, as ParseKey does.
func (k *Key) UnmarshalJSON(b []byte) error {
	p, err := ParseKey(b)
	if err != nil {
		return err
	}
	*k = *p
	return nil
}

// ParseKey decodes a private key encoded as a JWK (by Key.MarshalJSON).
func ParseKey(b []byte) (*Key, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(b); err != nil {
		return nil, fmt.Errorf("dpop: parsing a key: %w", err)
	}
	signer, ok := jwk.Key.(crypto.Signer)
	if !ok || !jwk.Valid() || jwk.IsPublic() {
		return nil, errors.New("dpop: parsing a key: not an asymmetric private key")
	}
	k, err := NewKey(signer)
	if err != nil {
		return nil, err
	}
	if jwk.Algorithm != "" && jwk.Algorithm != string(k.alg) {
		return nil, fmt.Errorf("dpop: parsing a key: alg %q, want %s", jwk.Algorithm, k.alg)
	}
	return k, nil
}
