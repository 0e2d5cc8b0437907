package gatehouseproc_test

import (
	"context"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestInsertTokenRows: the rows fit the store's schema (the store reads
// them back) and are what the janitor removes once they have expired: 3N
// rows, over more than one multi-row INSERT per table.
func TestInsertTokenRows(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	const expired, live = 450, 5
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s, err := sqlstore.Open(ctx, b.DSN(t), sqlstore.Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			for _, rows := range []gatehouseproc.TokenRows{
				{Prefix: "expired", N: expired, ClientID: "load", UserID: "u-load", Audience: "load", Expires: now.Add(-time.Hour)},
				{Prefix: "live", N: live, ClientID: "load", UserID: "u-load", Audience: "load", Expires: now.Add(time.Hour)},
			} {
				if err := gatehouseproc.InsertTokenRows(ctx, s.DB(), s.Dialect(), rows); err != nil {
					t.Fatalf("InsertTokenRows(%s): %v", rows.Prefix, err)
				}
			}
			for _, id := range []string{"expired-0", "expired-449", "live-4"} {
				g, err := s.GetGrant(ctx, id)
				if err != nil || g.UserID != "u-load" || g.ClientID != "load" || g.Revoked {
					t.Errorf("GetGrant(%s) = %+v, %v", id, g, err)
				}
				rt, err := s.GetRefreshToken(ctx, id)
				if err != nil || rt.FamilyID != id || len(rt.Audience) != 1 || rt.Audience[0] != "load" || rt.Used || rt.Revoked {
					t.Errorf("GetRefreshToken(%s) = %+v, %v", id, rt, err)
				}
				if revoked, err := s.AccessTokenRevoked(ctx, id); err != nil || !revoked {
					t.Errorf("AccessTokenRevoked(%s) = %v, %v", id, revoked, err)
				}
			}
			removed := 0
			for {
				n, err := s.DeleteExpiredTokens(ctx, now, 500)
				if err != nil {
					t.Fatal(err)
				}
				if n == 0 {
					break
				}
				removed += n
			}
			if removed != 3*expired {
				t.Errorf("DeleteExpiredTokens removed %d rows, want %d", removed, 3*expired)
			}
			if _, err := s.GetGrant(ctx, "live-0"); err != nil {
				t.Errorf("a live grant after the sweep: %v", err)
			}
		})
	}
}
