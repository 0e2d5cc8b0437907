package bearer_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/bearer/bearertest"
)

// BenchmarkJWTVerify measures what the API does for every request with
// --token-check=jwt: parse an ES256 access token, check its signature
// against the cached JWKS and its claims (RFC 9068 §4).
//
// Run with: go test -run '^$' -bench JWTVerify -benchmem ./bearer
func BenchmarkJWTVerify(b *testing.B) {
	is := bearertest.New(b, "https://api.example")
	v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
		Issuer: is.URL, Audience: is.Audience, MinRefetchInterval: time.Hour,
	})
	if err != nil {
		b.Fatal(err)
	}
	tok := is.Token(b, "user-1", "todos:read", "todos:write")
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil { // fetches the JWKS once
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(ctx, tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
