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

// BenchmarkTokenIssuance measures the store's part of issuing and checking
// access tokens per backend: the record every issued token writes, the
// look-up introspection does, and the janitor's batch delete.
//
// Run with: go test -run '^$' -bench TokenIssuance -benchtime 200x ./internal/storage/sqlstore
func BenchmarkTokenIssuance(b *testing.B) {
	ctx := context.Background()
	now := time.Now().UTC()
	at := func(id string, exp time.Time) storage.AccessToken {
		return storage.AccessToken{ID: id, FamilyID: id, ClientID: "batch", Subject: "batch",
			Audience: []string{"https://127.0.0.1:8001"}, Scopes: []string{"todos:read"}, CreatedAt: now, ExpiresAt: exp}
	}
	for _, backend := range storagetest.Backends() {
		b.Run(backend.Name, func(b *testing.B) {
			s := open(b, backend)
			defer s.Close()
			b.Run("CreateAccessToken", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					if err := s.CreateAccessToken(ctx, at(fmt.Sprint("at-", i), now.Add(5*time.Minute))); err != nil {
						b.Fatal(err)
					}
				}
			})
			var n atomic.Int64 // across the runs of the sub-benchmark: they share the store
			b.Run("CreateAccessTokenParallel", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if err := s.CreateAccessToken(ctx, at(fmt.Sprint("atp-", n.Add(1)), now.Add(5*time.Minute))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			if err := s.CreateAccessToken(ctx, at("lookup", now.Add(time.Hour))); err != nil {
				b.Fatal(err)
			}
			b.Run("GetAccessToken", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.GetAccessToken(ctx, "lookup"); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("DeleteExpiredTokens500", func(b *testing.B) {
				for i := 0; b.Loop(); i++ {
					b.StopTimer()
					for j := range 500 {
						if err := s.CreateAccessToken(ctx, at(fmt.Sprintf("old-%d-%d", i, j), now.Add(-time.Hour))); err != nil {
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
