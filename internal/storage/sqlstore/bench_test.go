package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Run with: go test -run '^$' -bench . -benchtime 200x ./internal/storage/sqlstore

func benchRefreshToken(id, family string, now time.Time) storage.RefreshToken {
	return storage.RefreshToken{ID: id, TokenHash: "hash-" + id, FamilyID: family, ClientID: "webapp", UserID: "u-alice",
		Scopes: []string{"openid", "offline_access", "todos:read"}, Audience: []string{"https://127.0.0.1:8001"},
		AuthTime: now, AMR: []string{"pwd"}, IdleExpiresAt: now.Add(24 * time.Hour), ExpiresAt: now.Add(30 * 24 * time.Hour),
		CreatedAt: now}
}

// issueBenchCode stores a completed authorization request id with the code
// "code-"+id, and returns the grant its exchange creates.
func issueBenchCode(tb testing.TB, s *sqlstore.Store, id string, now time.Time) storage.Grant {
	tb.Helper()
	ctx := context.Background()
	if err := s.CreateAuthRequest(ctx, storage.AuthRequest{ID: id, ClientID: "webapp", Scopes: []string{"openid"},
		ResponseType: "code", UserID: "u-alice", AuthTime: now, AMR: []string{"pwd"}, Done: true,
		CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		tb.Fatal(err)
	}
	if err := s.SetAuthCode(ctx, id, "code-"+id, now.Add(time.Minute)); err != nil {
		tb.Fatal(err)
	}
	return storage.Grant{ID: id, ClientID: "webapp", UserID: "u-alice", CreatedAt: now, ExpiresAt: now.Add(31 * 24 * time.Hour)}
}

func BenchmarkStore(b *testing.B) {
	ctx := context.Background()
	now := time.Now().UTC()
	for _, backend := range storagetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			s := open(b, backend)
			defer s.Close()

			b.Run("RotateRefreshToken", func(b *testing.B) {
				g := issueBenchCode(b, s, "rotate", now)
				prev := benchRefreshToken("rotate-start", g.ID, now)
				if _, err := s.RedeemAuthCode(ctx, "code-"+g.ID, now, g, &prev); err != nil {
					b.Fatal(err)
				}
				for i := 0; b.Loop(); i++ {
					next := benchRefreshToken(fmt.Sprint("rotate-", i), g.ID, now)
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
