package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Run with: go test -run '^$' -bench . -benchtime 200x ./internal/storage/sqlstore

func benchRefreshToken(id string, now time.Time) storage.RefreshToken {
	return storage.RefreshToken{ID: id, TokenHash: "hash-" + id, FamilyID: "fam", ClientID: "webapp", UserID: "u-alice",
		Scopes: []string{"openid", "offline_access", "todos:read"}, Audience: []string{"https://127.0.0.1:8001"},
		AuthTime: now, AMR: []string{"pwd"}, IdleExpiresAt: now.Add(24 * time.Hour), ExpiresAt: now.Add(30 * 24 * time.Hour),
		CreatedAt: now}
}

func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	now := time.Now().UTC()
	for _, backend := range storagetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			s := open(b, backend)
			defer s.Close()

			b.Run("CreateRefreshToken", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if err := s.CreateRefreshToken(ctx, benchRefreshToken(fmt.Sprint("create-", i), now)); err != nil {
						b.Fatal(err)
					}
				}
			})

			b.Run("RotateRefreshToken", func(b *testing.B) {
				prev := benchRefreshToken("rotate-start", now)
				if err := s.CreateRefreshToken(ctx, prev); err != nil {
					b.Fatal(err)
				}
				for i := 0; b.Loop(); i++ {
					next := benchRefreshToken(fmt.Sprint("rotate-", i), now)
					if _, err := s.RotateRefreshToken(ctx, prev.TokenHash, next, now); err != nil {
						b.Fatal(err)
					}
					prev = next
				}
			})

			c := storage.Client{ID: "webapp", Name: "Web app", RedirectURIs: []string{"https://127.0.0.1:5000/callback"},
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile"},
				CreatedAt: now, UpdatedAt: now}
			if err := s.CreateClient(ctx, c); err != nil {
				b.Fatal(err)
			}
			b.Run("GetClient", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.GetClient(ctx, c.ID); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
