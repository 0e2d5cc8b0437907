package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// On SQLite, concurrent writes share transactions: the one writer
// connection would otherwise commit them one at a time.
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
			if err := s.RevokeAccessToken(ctx, fmt.Sprint("gc-", i), now.Add(time.Minute)); err != nil {
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
		if revoked, err := s.AccessTokenRevoked(ctx, fmt.Sprint("gc-", i)); err != nil || !revoked {
			t.Fatalf("token %d: revoked %v, %v", i, revoked, err)
		}
	}
	t.Logf("%d writes in %d transactions", writes, commits)
}
