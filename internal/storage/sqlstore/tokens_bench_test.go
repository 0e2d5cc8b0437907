package sqlstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// BenchmarkTokenIssuance measures the store's part of issuing, checking and
// revoking tokens per backend: the exchange of a code (its grant and first
// refresh token), the look-ups that check an access token (the revoked list
// and its grant as two reads; AccessTokenState's one query of the revoked
// list, the grant and the user), a revocation, and the janitor's batch
// delete.
//
// Run with: go test -run '^$' -bench TokenIssuance -benchtime 200x ./internal/storage/sqlstore
func BenchmarkTokenIssuance(b *testing.B) {
	ctx := context.Background()
	now := time.Now().UTC()
	for _, backend := range storagetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			s := open(b, backend)
			defer s.Close()
			b.Run("RedeemAuthCode", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					b.StopTimer()
					g := issueBenchCode(b, s, fmt.Sprint("redeem-", i), now)
					first := benchRefreshToken(g.ID+"-rt", g.ID, now)
					b.StartTimer()
					if _, err := s.RedeemAuthCode(ctx, "code-"+g.ID, now, g, &first); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("RevokeAccessToken", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if err := s.RevokeAccessToken(ctx, fmt.Sprint("at-", i), now.Add(5*time.Minute)); err != nil {
						b.Fatal(err)
					}
				}
			})
			var n atomic.Int64 // across the runs of the sub-benchmark: they share the store
			b.Run("RevokeAccessTokenParallel", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := s.RevokeAccessToken(ctx, fmt.Sprint("atp-", n.Add(1)), now.Add(5*time.Minute)); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			g := issueBenchCode(b, s, "lookup", now)
			if _, err := s.RedeemAuthCode(ctx, "code-lookup", now, g, nil); err != nil {
				b.Fatal(err)
			}
			b.Run("CheckAccessToken", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if revoked, err := s.AccessTokenRevoked(ctx, "lookup-jti"); err != nil || revoked {
							b.Errorf("AccessTokenRevoked = %v, %v", revoked, err)
							return
						}
						if _, err := s.GetGrant(ctx, g.ID); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			if err := s.CreateUser(ctx, storage.User{ID: g.UserID, Username: "alice", CreatedAt: now, UpdatedAt: now}); err != nil {
				b.Fatal(err)
			}
			b.Run("AccessTokenState", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						st, err := s.AccessTokenState(ctx, "lookup-jti", g.ID, g.UserID)
						if err != nil || st.Revoked || !st.GrantFound || !st.UserFound {
							b.Errorf("AccessTokenState = %+v, %v", st, err)
							return
						}
					}
				})
			})
			b.Run("DeleteExpiredTokens500", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					b.StopTimer()
					for j := range 500 {
						if err := s.RevokeAccessToken(ctx, fmt.Sprintf("old-%d-%d", i, j), now.Add(-time.Hour)); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
					if n, err := s.DeleteExpiredTokens(ctx, now, 500); err != nil || n != 500 {
						b.Fatalf("deleted %d, %v", n, err)
					}
				}
			})
		})
	}
}
