package sqlstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestGrantFamilyMismatch: a grant is the request's and a family's tokens
// are the grant's, so that revoking the grant by the request's ID reaches
// all of them. A grant or refresh token with another ID is refused, and
// the refused call writes nothing.
func TestGrantFamilyMismatch(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := open(t, b)
			defer s.Close()
			g := issueBenchCode(t, s, "ar-1", now)

			for _, tc := range []struct {
				name  string
				g     storage.Grant
				first *storage.RefreshToken
			}{
				{"a grant of another ID", storage.Grant{ID: "ar-other", ClientID: "webapp", UserID: "u-alice", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, nil},
				{"a first refresh token of another family", g, new(benchRefreshToken("rt-other", "ar-other", now))},
			} {
				_, err := s.RedeemAuthCode(ctx, "code-ar-1", now, tc.g, tc.first)
				if err == nil || errors.Is(err, storage.ErrAlreadyUsed) || errors.Is(err, storage.ErrNotFound) {
					t.Errorf("RedeemAuthCode with %s: %v, want an error", tc.name, err)
				}
				if a, err := s.GetAuthRequest(ctx, "ar-1"); err != nil || a.CodeUsed {
					t.Errorf("after RedeemAuthCode with %s: code used %v, %v; want unused", tc.name, a.CodeUsed, err)
				}
				for _, id := range []string{"ar-1", "ar-other"} {
					if _, err := s.GetGrant(ctx, id); !errors.Is(err, storage.ErrNotFound) {
						t.Errorf("after RedeemAuthCode with %s: GetGrant(%s) = %v, want ErrNotFound", tc.name, id, err)
					}
				}
				if _, err := s.GetRefreshToken(ctx, "hash-rt-other"); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("after RedeemAuthCode with %s: GetRefreshToken = %v, want ErrNotFound", tc.name, err)
				}
			}

			first := benchRefreshToken("rt-1", g.ID, now)
			if _, err := s.RedeemAuthCode(ctx, "code-ar-1", now, g, &first); err != nil {
				t.Fatal(err)
			}
			// Rotating to a token of another family.
			next := benchRefreshToken("rt-other", "ar-other", now)
			if _, err := s.RotateRefreshToken(ctx, first.TokenHash, next, now); err == nil ||
				errors.Is(err, storage.ErrAlreadyUsed) || errors.Is(err, storage.ErrNotFound) {
				t.Errorf("RotateRefreshToken to another family: %v, want an error", err)
			}
			if rt, err := s.GetRefreshToken(ctx, first.TokenHash); err != nil || rt.Used {
				t.Errorf("after RotateRefreshToken to another family: used %v, %v; want unused", rt.Used, err)
			}
			if _, err := s.GetRefreshToken(ctx, next.TokenHash); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("after RotateRefreshToken to another family: GetRefreshToken(next) = %v, want ErrNotFound", err)
			}
		})
	}
}
