package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/api/resource"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docquery"
	"github.com/gatehouse-dev/gatehouse/internal/storage/docstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// claimsVerifier maps each test token to its claims.
type claimsVerifier map[string]bearer.Claims

func (v claimsVerifier) Verify(_ context.Context, tok string) (*bearer.Claims, error) {
	c, ok := v[tok]
	if !ok {
		return nil, fmt.Errorf("%w: unknown test token", bearer.ErrInvalidToken)
	}
	c.Scopes = []string{"todos:read", "todos:write"}
	c.Expiry = time.Now().Add(time.Hour)
	return &c, nil
}

// heldStore holds every Find with a filter (a list with a where) until
// release is closed or the query's context ends, telling entered first:
// queries that stay running as long as the test wants.
type heldStore struct {
	*docstore.Store
	entered chan struct{}
	release chan struct{}
}

func (s *heldStore) Find(ctx context.Context, collection, owner string, q docquery.Query) ([]docstore.Document, error) {
	if q.Filter != nil {
		s.entered <- struct{}{}
		select {
		case <-s.release:
		case <-ctx.Done():
			return nil, fmt.Errorf("held query: %w", ctx.Err())
		}
	}
	return s.Store.Find(ctx, collection, owner, q)
}

const limitsYAML = `
query_limits: {concurrency: 2, wait: 100ms, timeout: %s}
resources:
  todos:
    resource_methods: [GET, POST]
    owner_field: owner
    schema: {type: object, properties: {title: {type: string}}}
  notes:
    resource_methods: [GET]
    public_methods: [GET]
    schema: {type: object, properties: {title: {type: string}}}
`

// newHeldAPI serves the resources of limitsYAML on SQLite through a
// heldStore, with the query timeout given.
func newHeldAPI(t *testing.T, timeout string) (http.Handler, *heldStore, *logRecorder) {
	t.Helper()
	var store *heldStore
	logs := &logRecorder{}
	e := newEnv(t, storagetest.Backend{Name: "sqlite", DSN: storagetest.SQLite}, fmt.Sprintf(limitsYAML, timeout),
		withConfig(func(e *env, c *api.Config) {
			store = &heldStore{Store: e.docs, entered: make(chan struct{}, 100), release: make(chan struct{})}
			c.Store, c.Logger, c.PublicURL = store, slog.New(logs), ""
			c.Verifier = claimsVerifier{
				"alice":        {ClientID: "app", Subject: "alice", TokenID: "j1"},
				"alice-again":  {ClientID: "app", Subject: "alice", TokenID: "j2"},
				"alice-other":  {ClientID: "other-app", Subject: "alice", TokenID: "j3"},
				"bob":          {ClientID: "app", Subject: "bob", TokenID: "j4"},
				"client-alone": {ClientID: "app", Subject: "", TokenID: "j5"},
			}
		}))
	return e.handler, store, logs
}

// request is one call of the tests: token "" is anonymous, from addr.
type request struct {
	path, token, addr string
}

func (q request) serve(h http.Handler) answer { return q.serveCtx(context.Background(), h) }

func (q request) serveCtx(ctx context.Context, h http.Handler) answer {
	req := httptest.NewRequestWithContext(ctx, "GET", "https://api.test"+q.path, nil)
	if q.token != "" {
		req.Header.Set("Authorization", "Bearer "+q.token)
	}
	if q.addr != "" {
		req.RemoteAddr = q.addr
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	_ = json.Unmarshal(a.raw, &a.body)
	return a
}

var heldWhere = "where=" + url.QueryEscape(`{"title":"x"}`)

// TestQueryConcurrencyPerPrincipal: while a principal has as many queries
// running as query_limits.concurrency allows, its next request waits, then
// answers 429 with Retry-After in Eve's envelope, without querying; a new
// token of the same client and user is the same principal; another user, or
// the same user through another client, is not held up. Public methods
// count by client network. Nothing is logged at ERROR.
func TestQueryConcurrencyPerPrincipal(t *testing.T) {
	h, store, logs := newHeldAPI(t, "1m")
	var wg sync.WaitGroup
	defer wg.Wait()
	released := false
	release := func() {
		if !released {
			close(store.release)
			released = true
		}
	}
	defer release()
	hold := func(q request) {
		t.Helper()
		wg.Go(func() {
			if a := q.serve(h); a.status != 200 {
				t.Errorf("held request %v: %d %s", q, a.status, a.raw)
			}
		})
		select {
		case <-store.entered:
		case <-time.After(10 * time.Second):
			t.Fatalf("held request %v never reached the store", q)
		}
	}
	// alice (two tokens) and the network 2001:db8:0:1::/64 each run two
	// queries, the limit.
	hold(request{path: "/api/todos?" + heldWhere, token: "alice"})
	hold(request{path: "/api/todos?" + heldWhere, token: "alice-again"})
	hold(request{path: "/api/notes?" + heldWhere, addr: "[2001:db8:0:1::1]:1000"})
	hold(request{path: "/api/notes?" + heldWhere, addr: "[2001:db8:0:1::2]:1000"})

	tests := []struct {
		name string
		q    request
		want int
	}{
		{"same token", request{path: "/api/todos", token: "alice"}, 429},
		{"new token, same client and user", request{path: "/api/todos", token: "alice-again"}, 429},
		{"same user, other client", request{path: "/api/todos", token: "alice-other"}, 200},
		{"other user", request{path: "/api/todos", token: "bob"}, 200},
		{"item of the busy principal", request{path: "/api/todos/0123456789abcdef01234567", token: "alice"}, 429},
		{"public, same /64", request{path: "/api/notes", addr: "[2001:db8:0:1::99]:2000"}, 429},
		{"public, other /64", request{path: "/api/notes", addr: "[2001:db8:0:2::1]:1000"}, 200},
		{"public, IPv4", request{path: "/api/notes", addr: "192.0.2.1:1000"}, 200},
		{"token of a client without a user", request{path: "/api/todos", token: "client-alone"}, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := tc.q.serve(h)
			if a.status != tc.want {
				t.Fatalf("%d, want %d: %s", a.status, tc.want, a.raw)
			}
			if tc.want != 429 {
				return
			}
			if msg := a.eveError(); msg != "" {
				t.Fatal(msg)
			}
			if ra := a.header.Get("Retry-After"); ra != "1" {
				t.Errorf("Retry-After %q, want 1", ra)
			}
			if msg, _ := a.body["_error"].(map[string]any)["message"].(string); !strings.Contains(msg, "at most 2") {
				t.Errorf("message %q does not give the limit", msg)
			}
		})
	}
	// Once the held queries end, their turns are free again.
	release()
	wg.Wait()
	for _, q := range []request{{path: "/api/todos", token: "alice"}, {path: "/api/notes", addr: "[2001:db8:0:1::99]:2000"}} {
		if a := q.serve(h); a.status != 200 {
			t.Errorf("%v after the held queries ended: %d %s", q, a.status, a.raw)
		}
	}
	if errs := logs.since(0, slog.LevelError); len(errs) > 0 {
		t.Errorf("logged at ERROR: %q", errs)
	}
}

// TestQueryTimeout: a query that outlasts query_limits.timeout is cancelled
// and answers 503 in Eve's envelope with Retry-After, logged at WARN, not
// ERROR; the request's turn comes back.
func TestQueryTimeout(t *testing.T) {
	h, _, logs := newHeldAPI(t, "100ms")
	q := request{path: "/api/todos?" + heldWhere, token: "alice"}
	for i := range 3 { // more than the concurrency: every turn came back
		start := time.Now()
		// The request's own deadline (the server's --request-timeout) is
		// well past the budget.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		a := q.serveCtx(ctx, h)
		cancel()
		if a.status != http.StatusServiceUnavailable || a.body["_status"] != "ERR" {
			t.Fatalf("request %d: %d %s, want 503 in Eve's envelope", i, a.status, a.raw)
		}
		if msg, _ := a.body["_error"].(map[string]any)["message"].(string); !strings.Contains(msg, "took too long") {
			t.Errorf("message %q", msg)
		}
		if a.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("request %d took %s with a budget of 100ms", i, d)
		}
	}
	if errs := logs.since(0, slog.LevelError); len(errs) > 0 {
		t.Errorf("logged at ERROR: %q", errs)
	}
	if warns := logs.since(0, slog.LevelWarn); len(warns) != 3 || !strings.Contains(warns[0], "took too long") {
		t.Errorf("warnings %q, want one per timed-out query", warns)
	}
}

// inflightStore counts the store calls running at once for each owner.
type inflightStore struct {
	*docstore.Store
	mu      sync.Mutex
	running map[string]int
	most    map[string]int
}

func (s *inflightStore) enter(owner string) func() {
	s.mu.Lock()
	s.running[owner]++
	s.most[owner] = max(s.most[owner], s.running[owner])
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		s.running[owner]--
		s.mu.Unlock()
	}
}

func (s *inflightStore) Find(ctx context.Context, collection, owner string, q docquery.Query) ([]docstore.Document, error) {
	defer s.enter(owner)()
	return s.Store.Find(ctx, collection, owner, q)
}

func (s *inflightStore) Count(ctx context.Context, collection, owner string, f docquery.Expr) (int, error) {
	defer s.enter(owner)()
	return s.Store.Count(ctx, collection, owner, f)
}

func (s *inflightStore) Get(ctx context.Context, collection, owner, id string) (docstore.Document, error) {
	defer s.enter(owner)()
	return s.Store.Get(ctx, collection, owner, id)
}

// TestExpensiveQueriesDoNotStallOthers, on every backend: one client
// (mallory) sends 190-term queries on tags and title from 48 goroutines back
// to back, more than the read pool (10 connections) holds; meanwhile another
// client's simple GETs (bob's list and one document) must each answer 200
// within 2 s. mallory has as many documents (250, doubled up to 4,000; 5
// tags each) as make one such query take about 300 ms alone on the database
// at hand, so that without the per-principal limit its queries hold every
// connection and bob's wait for one runs into his own query budget. At most
// query_limits.concurrency (4) of mallory's queries run at once, so no
// request ever waits for a connection of the pool; mallory's others answer
// 429 or, past the query budget, 503, never a 500, and nothing is logged at
// ERROR. Then, with a query budget of 1 ms, the same query
// answers 503 on each database and is logged at WARN.
func TestExpensiveQueriesDoNotStallOthers(t *testing.T) {
	const (
		terms     = 190
		attackers = 48
		pool      = 10
		bound     = 2 * time.Second
		storm     = 2 * time.Second // and at least minGets of bob's GETs
		minGets   = 6
		target    = 300 * time.Millisecond // one attack query alone
		batch     = 250
		maxDocs   = 4000
	)
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			var store *inflightStore
			logs := &logRecorder{}
			verifier := claimsVerifier{
				"mallory": {ClientID: "scripted", Subject: "mallory"},
				"bob":     {ClientID: "webapp", Subject: "bob"},
			}
			e := newEnv(t, b, "", withDB(sqlstore.Options{MaxOpenConns: pool}), withConfig(func(e *env, c *api.Config) {
				e.set.RateLimit = nil // the per-method budget is not what is tested
				store = &inflightStore{Store: e.docs, running: map[string]int{}, most: map[string]int{}}
				c.Store, c.Verifier, c.Logger, c.PublicURL = store, verifier, slog.New(logs), ""
				c.ReadPoolSize = e.ss.ReadDB().Stats().MaxOpenConnections
			}))
			ss, set, ds, h := e.ss, e.set, e.docs, e.handler

			// Every term holds for every document (each has the tags 0-4,
			// titles are "doc N"), so the database evaluates all 190 on each
			// of mallory's documents to count the matches. Each query differs
			// (seq), as an attacker's would, so that no count is reused.
			var seq atomic.Int64
			expensive := func() request {
				n := seq.Add(1) * 1000
				parts := make([]string, terms)
				for i := range parts {
					if i%2 == 0 {
						parts[i] = fmt.Sprintf("tags != %d", n+int64(i))
					} else {
						parts[i] = fmt.Sprintf(`title != "%d"`, n+int64(i))
					}
				}
				return request{token: "mallory", path: "/api/todos?where=" + url.QueryEscape(strings.Join(parts, " and "))}
			}
			// alone times the query after a first run (plans, caches).
			alone := func() (time.Duration, int) {
				expensive().serve(h)
				start := time.Now()
				status := expensive().serve(h).status
				return time.Since(start), status
			}

			// mallory's documents, written straight to the store: a first
			// batch, then as many as make the query take about target.
			setup := time.Now()
			now := time.Now().UTC().Truncate(time.Second)
			written := 0
			insert := func(n int) {
				var docs []docstore.Document
				for range n {
					data, _ := json.Marshal(map[string]any{"title": fmt.Sprintf("doc %d", written), "done": false,
						"tags": []int{0, 1, 2, 3, 4}})
					docs = append(docs, docstore.Document{ID: docstore.NewID(), Owner: "mallory", Created: now, Updated: now,
						ETag: docstore.NewETag(), Data: data})
					written++
				}
				for len(docs) > 0 {
					k := min(len(docs), 500)
					if err := ds.Insert(ctx, "todos", docs[:k]); err != nil {
						t.Fatal(err)
					}
					docs = docs[k:]
				}
			}
			insert(batch)
			cost, status := alone()
			for cost < target && written < maxDocs {
				insert(min(written, maxDocs-written))
				cost, status = alone()
			}
			if status != 200 {
				t.Fatalf("the query alone answered %d", status)
			}

			bobDoc := request{token: "bob"}
			for i := range 3 {
				a := request{token: "bob", path: "/api/todos"}.post(h, fmt.Sprintf(`{"title":"bob %d"}`, i))
				if a.status != 201 {
					t.Fatalf("bob's POST: %d %s", a.status, a.raw)
				}
				bobDoc.path = "/api/todos/" + a.body["_id"].(string)
			}
			bobList := request{token: "bob", path: "/api/todos"}
			var baseline time.Duration
			for range 5 {
				for _, q := range []request{bobList, bobDoc} {
					start := time.Now()
					if a := q.serve(h); a.status != 200 {
						t.Fatalf("bob %s: %d %s", q.path, a.status, a.raw)
					}
					baseline = max(baseline, time.Since(start))
				}
			}
			t.Logf("setup %s: %d documents, one %d-term query alone %s; bob's slowest GET alone %s",
				time.Since(setup).Round(time.Millisecond), written, terms, cost.Round(time.Millisecond), baseline.Round(time.Millisecond))

			// The storm. Its requests are cancelled at its end, as clients
			// that hang up.
			mark := logs.mark()
			stormCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			var (
				stop     atomic.Bool
				wg       sync.WaitGroup
				mu       sync.Mutex
				statuses = map[int]int{}
				bad      []string
			)
			for range attackers {
				wg.Go(func() {
					for !stop.Load() {
						a := expensive().serveCtx(stormCtx, h)
						mu.Lock()
						statuses[a.status]++
						if a.status != 200 && (a.status != 429 && a.status != 503 || a.body["_status"] != "ERR") {
							bad = append(bad, fmt.Sprintf("%d %.200s", a.status, a.raw))
						}
						mu.Unlock()
					}
				})
			}
			time.Sleep(300 * time.Millisecond) // the storm is on
			waitsBefore := ss.ReadDB().Stats().WaitCount
			var slowest time.Duration
			var bobs, overBound int
			stormEnd := time.Now().Add(storm)
			for bobs < minGets || time.Now().Before(stormEnd) {
				for _, q := range []request{bobList, bobDoc} {
					start := time.Now()
					a := q.serve(h)
					d := time.Since(start)
					bobs++
					slowest = max(slowest, d)
					if a.status != 200 {
						t.Errorf("bob %s during the storm: %d %.300s after %s", q.path, a.status, a.raw, d.Round(time.Millisecond))
					}
					if d > bound {
						overBound++
					}
				}
			}
			poolWaits := ss.ReadDB().Stats().WaitCount - waitsBefore
			stop.Store(true)
			cancel()
			wg.Wait()
			t.Logf("storm: mallory's answers %v, at most %d of mallory's queries at once, %d waits for a connection; bob's %d GETs: slowest %s",
				statuses, store.most["mallory"], poolWaits, bobs, slowest.Round(time.Millisecond))
			if overBound > 0 {
				t.Errorf("%d of bob's %d GETs took over %s during the storm (slowest %s; alone %s)",
					overBound, bobs, bound, slowest.Round(time.Millisecond), baseline.Round(time.Millisecond))
			}
			if most := store.most["mallory"]; most > resource.DefaultConcurrency {
				t.Errorf("%d of mallory's queries ran at once, want at most %d", most, resource.DefaultConcurrency)
			}
			if poolWaits > 0 {
				// mallory's 4 queries and bob's one leave half the pool free.
				t.Errorf("%d waits for a connection of the read pool during the storm, want none", poolWaits)
			}
			if len(bad) > 0 {
				t.Errorf("%d of mallory's answers neither 200 nor 429/503 in Eve's envelope; first: %s", len(bad), bad[0])
			}
			if errs := logs.since(mark, slog.LevelError); len(errs) > 0 {
				t.Errorf("%d records at ERROR; first: %s", len(errs), errs[0])
			}

			// A query past its budget: 503, at WARN, on this database.
			set.QueryLimits.Timeout = time.Millisecond
			tight, err := api.New(ctx, api.Config{Resources: set, Store: ds, Verifier: verifier, Logger: slog.New(logs)})
			if err != nil {
				t.Fatal(err)
			}
			mark = logs.mark()
			a := expensive().serve(tight.Handler())
			if a.status != http.StatusServiceUnavailable || a.body["_status"] != "ERR" {
				t.Fatalf("query past its budget: %d %.300s, want 503 in Eve's envelope", a.status, a.raw)
			}
			if errs := logs.since(mark, slog.LevelError); len(errs) > 0 {
				t.Errorf("a query past its budget logged at ERROR: %q", errs)
			}
			if warns := logs.since(mark, slog.LevelWarn); !slices.ContainsFunc(warns, func(s string) bool { return strings.Contains(s, "took too long") }) {
				t.Errorf("a query past its budget logged %q, want a warning", warns)
			}
		})
	}
}

func (q request) post(h http.Handler, body string) answer {
	req := httptest.NewRequest("POST", "https://api.test"+q.path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+q.token)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	a := answer{status: rec.Code, header: rec.Header(), raw: rec.Body.Bytes()}
	_ = json.Unmarshal(a.raw, &a.body)
	return a
}
