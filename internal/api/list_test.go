package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
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

// listEnv is an API on SQLite whose store counts Count calls, with a clock
// the test moves.
type listEnv struct {
	*env
	store *countingStore
	now   atomic.Int64 // Unix seconds
}

func newListEnv(t *testing.T) *listEnv {
	t.Helper()
	le := &listEnv{}
	le.now.Store(time.Date(2024, 4, 2, 9, 0, 0, 0, time.UTC).Unix())
	le.env = newEnv(t, storagetest.Backend{Name: "sqlite", DSN: storagetest.SQLite}, "",
		withConfig(func(e *env, c *api.Config) {
			le.store = &countingStore{Store: e.docs}
			c.Store = le.store
			c.Now = func() time.Time { return time.Unix(le.now.Load(), 0) }
		}))
	return le
}

// list lists alice's todos and reports _meta.total, the number of items and
// whether the store counted.
func (le *listEnv) list(query string) (total float64, items int, counted bool) {
	le.t.Helper()
	before := le.store.counts.Load()
	r := le.do("GET", "/api/todos?"+strings.ReplaceAll(query, `"`, "%22"), le.alice, "")
	le.want(r, http.StatusOK)
	total, _ = r.body["_meta"].(map[string]any)["total"].(float64)
	return total, len(r.body["_items"].([]any)), le.store.counts.Load() > before
}

// TestListTotal: _meta.total is exact on every page, and the list counts
// the matches only when the page does not tell the total (a full page, or
// an empty one past the first).
func TestListTotal(t *testing.T) {
	le := newListEnv(t)
	for i := range 5 {
		le.post(le.alice, fmt.Sprintf(`{"title":"t%d","done":%v,"due":"2024-05-0%dT00:00:00Z"}`, i, i == 4, i+1))
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
			le.t = t
			le.now.Add(60) // past the cache of totals
			total, items, counted := le.list(tc.query)
			if total != tc.total || items != tc.items || counted != tc.counted {
				t.Errorf("total %v, %d items, counted %v; want %v, %d, %v", total, items, counted, tc.total, tc.items, tc.counted)
			}
		})
	}
}

// TestListTotalCache: a total is counted once per (owner, where) for a
// second, and the owner's writes through the API drop it at once.
func TestListTotalCache(t *testing.T) {
	le := newListEnv(t)
	for i := range 5 {
		le.post(le.alice, fmt.Sprintf(`{"title":"t%d","done":%v}`, i, i == 4))
	}
	var lastID, lastETag string
	steps := []struct {
		name    string
		before  func()
		query   string
		total   float64
		counted bool
	}{
		{"first page counts", nil, "max_results=2", 5, true},
		{"next page reuses the total", nil, "max_results=2&page=2", 5, false},
		{"another where counts", nil, `max_results=2&where={"done":false}`, 4, true},
		{"the owner's POST drops it", func() {
			r := le.post(le.alice, `{"title":"t5"}`)
			lastID, lastETag = r.body["_id"].(string), r.body["_etag"].(string)
		}, "max_results=2", 6, true},
		{"another owner's POST does not", func() { le.post(le.bob, `{"title":"b"}`) }, "max_results=2", 6, false},
		{"the owner's PATCH drops it", func() {
			r := le.do("PATCH", "/api/todos/"+lastID, le.alice, `{"done":true}`, "If-Match", lastETag)
			le.want(r, http.StatusOK)
			lastETag = r.body["_etag"].(string)
		}, `max_results=2&where={"done":false}`, 4, true},
		{"the owner's DELETE drops it", func() {
			le.want(le.do("DELETE", "/api/todos/"+lastID, le.alice, "", "If-Match", lastETag), http.StatusNoContent)
		}, "max_results=2", 5, true},
		{"a write elsewhere shows within a second", func() {
			// Another instance on the same database: not seen at once...
			err := le.store.Insert(context.Background(), "todos", []docstore.Document{{ID: docstore.NewID(), Owner: "alice",
				Created: time.Now(), Updated: time.Now(), ETag: "x", Data: []byte(`{"title":"elsewhere","done":false}`)}})
			if err != nil {
				t.Fatal(err)
			}
		}, "max_results=2", 5, false},
		{"... but once the total expires", func() { le.now.Add(1) }, "max_results=2", 6, true},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			le.t = t
			if st.before != nil {
				st.before()
			}
			total, _, counted := le.list(st.query)
			if total != st.total || counted != st.counted {
				t.Errorf("total %v, counted %v; want %v, %v", total, counted, st.total, st.counted)
			}
		})
	}
}
