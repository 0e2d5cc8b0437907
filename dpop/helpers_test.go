package dpop_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// now is the time the tests' proofs are made and checked at.
var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func clock() time.Time { return now }

// Test keys, made once: RSA key generation is slow.
var (
	keysOnce                 sync.Once
	ecKey, ecKey2, ecP384Key *ecdsa.PrivateKey
	edKey                    ed25519.PrivateKey
	rsaKey, rsaSmallKey      *rsa.PrivateKey
)

func keys(t testing.TB) {
	t.Helper()
	keysOnce.Do(func() {
		must := func(err error) {
			if err != nil {
				panic(err)
			}
		}
		var err error
		ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		ecKey2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		must(err)
		ecP384Key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		must(err)
		_, edKey, err = ed25519.GenerateKey(rand.Reader)
		must(err)
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		must(err)
		rsaSmallKey, err = rsa.GenerateKey(rand.Reader, 1024) // too weak: refused
		must(err)
	})
}

// spec describes a proof to forge, field by field, so that each test case
// can break one thing.
type spec struct {
	alg     jose.SignatureAlgorithm
	signer  any            // the key signing it
	jwk     any            // the "jwk" header: a public key, a raw JSON value, or nil for none
	headers map[string]any // more headers; a nil value removes one
	claims  map[string]any // a nil value removes a claim
}

// validSpec is a proof of ecKey for POST https://as.example/token at now.
func validSpec(t testing.TB) spec {
	keys(t)
	return spec{
		alg:    jose.ES256,
		signer: ecKey,
		jwk:    &ecKey.PublicKey,
		claims: map[string]any{
			"jti": "jti-1",
			"htm": "POST",
			"htu": "https://as.example/token",
			"iat": now.Unix(),
		},
	}
}

// with returns a copy of s with claims (or, with a "header." prefix,
// headers) changed.
func (s spec) with(kv ...any) spec {
	c := make(map[string]any, len(s.claims))
	for k, v := range s.claims {
		c[k] = v
	}
	h := make(map[string]any, len(s.headers))
	for k, v := range s.headers {
		h[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if len(k) > 7 && k[:7] == "header." {
			h[k[7:]] = kv[i+1]
		} else {
			c[k] = kv[i+1]
		}
	}
	s.claims, s.headers = c, h
	return s
}

// sign makes the proof s describes.
func (s spec) sign(t testing.TB) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	opts.WithType("dpop+jwt")
	if s.jwk != nil {
		if raw, ok := s.jwk.(json.RawMessage); ok {
			opts.WithHeader("jwk", raw)
		} else {
			opts.WithHeader("jwk", jose.JSONWebKey{Key: s.jwk})
		}
	}
	for k, v := range s.headers {
		if v == nil {
			delete(opts.ExtraHeaders, jose.HeaderKey(k))
		} else {
			opts.WithHeader(jose.HeaderKey(k), v)
		}
	}
	claims := map[string]any{}
	for k, v := range s.claims {
		if v != nil {
			claims[k] = v
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	if s.alg == "none" {
		hdr := map[string]any{"alg": "none"}
		for k, v := range opts.ExtraHeaders {
			hdr[string(k)] = v
		}
		h, err := json.Marshal(hdr)
		if err != nil {
			t.Fatal(err)
		}
		return b64(h) + "." + b64(payload) + "."
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: s.alg, Key: s.signer}, opts)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwkJSON is k encoded as a JWK, private parts included.
func jwkJSON(t testing.TB, k any) json.RawMessage {
	t.Helper()
	b, err := jose.JSONWebKey{Key: k}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
