package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/bearer/bearertest"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// countingStore counts the Count calls of the store it wraps.
type countingStore struct {
	*docstore.Store
	counts atomic.Int64
}

func (s *countingStore) Count(ctx context.Context, collection, owner string, filter docquery.Expr) (int, error) {
	s.counts.Add(1)
	return s.Store.Count(ctx, collection, owner, filter)
}

// TestListTotal: _meta.total is exact on every page, and the list counts
// the matches only when the page does not tell the total (a full page, or
// an empty one past the first).
func TestListTotal(t *testing.T) {
	ctx := context.Background()
	ss, err := sqlstore.Open(ctx, storagetest.SQLite(t), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	ds, err := docstore.New(ss.DB(), ss.ReadDB(), ss.Dialect())
	if err != nil {
		t.Fatal(err)
	}
	store := &countingStore{Store: ds}
	set, err := resource.Default()
	if err != nil {
		t.Fatal(err)
	}
	is := bearertest.New(t, "https://api.test")
	v, err := bearer.NewJWTVerifier(ctx, bearer.JWTConfig{Issuer: is.URL, Audience: "https://api.test"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := api.New(ctx, api.Config{Resources: set, Store: store, Verifier: v, PublicURL: "https://gh.test"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	e := &env{t: t, srv: srv, issuer: is, alice: is.Token(t, "alice", "todos:read", "todos:write")}
	for i := range 5 {
		e.want(e.post(e.alice, fmt.Sprintf(`{"title":"t%d","done":%v,"due":"2024-05-0%dT00:00:00Z"}`, i, i == 4, i+1)), http.StatusCreated)
	}
	tests := []struct {
		query   string
		total   float64
		items   int
		counted bool
	}{
		{"", 5, 5, false},
		{`where={"done":false}&sort=due`, 4, 4, false},
		{`where={"done":true}`, 1, 1, false},
		{`where={"title":"none"}`, 0, 0, false},
		{"max_results=2", 5, 2, true},
		{"max_results=2&page=2", 5, 2, true},
		{"max_results=2&page=3", 5, 1, false},
		{"max_results=2&page=4", 5, 0, true},
		{"max_results=5", 5, 5, true},
		{`max_results=3&page=2&where={"done":false}`, 4, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			e.t = t
			before := store.counts.Load()
			r := e.do("GET", "/api/todos?"+strings.ReplaceAll(tc.query, `"`, "%22"), e.alice, "")
			e.want(r, http.StatusOK)
			meta := r.body["_meta"].(map[string]any)
			if meta["total"] != tc.total || len(r.body["_items"].([]any)) != tc.items {
				t.Errorf("total %v, %d items; want %v, %d: %s", meta["total"], len(r.body["_items"].([]any)), tc.total, tc.items, r.raw)
			}
			if counted := store.counts.Load() > before; counted != tc.counted {
				t.Errorf("counted = %v, want %v", counted, tc.counted)
			}
		})
	}
}
