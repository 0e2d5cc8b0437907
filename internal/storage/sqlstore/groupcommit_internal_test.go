package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// On SQLite, concurrent writes share transactions: the one writer
// connection would otherwise commit them one at a time (issue 7: token
// issuance was bound by SQLite commits).
func TestSQLiteGroupCommit(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "g.db"), Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.gc == nil {
		t.Fatal("no group-commit writer on SQLite")
	}
	now := time.Now().UTC()
	_, before := s.gc.Stats()
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id := fmt.Sprint("gc-", i)
			if err := s.CreateAccessToken(ctx, storage.AccessToken{ID: id, FamilyID: id, ClientID: "c", Subject: "c",
				CreatedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	writes, commits := s.gc.Stats()
	commits -= before
	if commits >= n {
		t.Errorf("%d transactions for %d concurrent token writes: not shared", commits, n)
	}
	for i := range n {
		if _, err := s.GetAccessToken(ctx, fmt.Sprint("gc-", i)); err != nil {
			t.Fatalf("token %d: %v", i, err)
		}
	}
	t.Logf("%d writes in %d transactions", writes, commits)
}
