package keys

import (
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// BenchmarkSign compares signing an access token's claims with each
// algorithm the server can use; the access-token default comes from it.
// BenchmarkVerify does the same for the resource server's side.
func BenchmarkSign(b *testing.B) {
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			k := benchKey(b, alg)
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}},
				(&jose.SignerOptions{}).WithType("at+jwt"))
			if err != nil {
				b.Fatal(err)
			}
			claims := benchClaims()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := jwt.Signed(signer).Claims(claims).Serialize(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			k := benchKey(b, alg)
			signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: k.Private, KeyID: k.ID}}, nil)
			if err != nil {
				b.Fatal(err)
			}
			tok, err := jwt.Signed(signer).Claims(benchClaims()).Serialize()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				parsed, err := jwt.ParseSigned(tok, []jose.SignatureAlgorithm{alg})
				if err != nil {
					b.Fatal(err)
				}
				var out map[string]any
				if err := parsed.Claims(k.Public.Key, &out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchKey(b *testing.B, alg jose.SignatureAlgorithm) Key {
	sealer, err := secret.New()
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	k, _, err := Generate(alg, sealer, now, now)
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func benchClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": "https://127.0.0.1:8000", "sub": "user-1", "aud": "https://127.0.0.1:8001",
		"client_id": "gatehouse-webapp", "scope": "openid todos:read todos:write",
		"jti": "0123456789abcdef", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
}
