package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// fakeClients is a client table that counts its reads.
type fakeClients struct {
	mu      sync.Mutex
	clients map[string]storage.Client
	fail    error // returned by the next read, once
	reads   atomic.Int32
}

func (f *fakeClients) GetClient(_ context.Context, id string) (storage.Client, error) {
	f.reads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail; err != nil {
		f.fail = nil
		return storage.Client{}, err
	}
	c, ok := f.clients[id]
	if !ok {
		return storage.Client{}, fmt.Errorf("client %q: %w", id, storage.ErrNotFound)
	}
	return cloneClient(c), nil
}

func (f *fakeClients) set(c storage.Client) {
	f.mu.Lock()
	f.clients[c.ID] = c
	f.mu.Unlock()
}

func (f *fakeClients) delete(id string) {
	f.mu.Lock()
	delete(f.clients, id)
	f.mu.Unlock()
}

// TestClientCache: hits within the TTL, misses after it, changes and
// deletions seen once the entry expires, misses and errors not cached.
func TestClientCache(t *testing.T) {
	const ttl = 5 * time.Second
	app := storage.Client{ID: "app", SecretHash: "h1", Scopes: []string{"todos:read"}}
	type step struct {
		advance   time.Duration
		change    func(*fakeClients)
		id        string
		wantErr   error  // nil: found
		wantHash  string // the SecretHash returned
		wantReads int32  // store reads so far
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"hit within the TTL", []step{
			{id: "app", wantHash: "h1", wantReads: 1},
			{advance: ttl - time.Nanosecond, id: "app", wantHash: "h1", wantReads: 1},
		}},
		{"miss after expiry", []step{
			{id: "app", wantHash: "h1", wantReads: 1},
			{advance: ttl, id: "app", wantHash: "h1", wantReads: 2},
			{advance: time.Second, id: "app", wantHash: "h1", wantReads: 2},
		}},
		{"deleted client: served until the TTL, then not found", []step{
			{id: "app", wantHash: "h1", wantReads: 1},
			{change: func(f *fakeClients) { f.delete("app") }, advance: time.Second, id: "app", wantHash: "h1", wantReads: 1},
			{advance: ttl, id: "app", wantErr: storage.ErrNotFound, wantReads: 2},
			{id: "app", wantErr: storage.ErrNotFound, wantReads: 3},
		}},
		{"changed secret: the new hash after the TTL", []step{
			{id: "app", wantHash: "h1", wantReads: 1},
			{change: func(f *fakeClients) { f.set(storage.Client{ID: "app", SecretHash: "h2"}) }, id: "app", wantHash: "h1", wantReads: 1},
			{advance: ttl, id: "app", wantHash: "h2", wantReads: 2},
		}},
		{"unknown client is not cached", []step{
			{id: "new", wantErr: storage.ErrNotFound, wantReads: 1},
			{id: "new", wantErr: storage.ErrNotFound, wantReads: 2},
			{change: func(f *fakeClients) { f.set(storage.Client{ID: "new", SecretHash: "n"}) }, id: "new", wantHash: "n", wantReads: 3},
			{id: "new", wantHash: "n", wantReads: 3},
		}},
		{"store error is not cached", []step{
			{change: func(f *fakeClients) { f.fail = storage.ErrUnavailable }, id: "app", wantErr: storage.ErrUnavailable, wantReads: 1},
			{id: "app", wantHash: "h1", wantReads: 2},
			{id: "app", wantHash: "h1", wantReads: 2},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeClients{clients: map[string]storage.Client{"app": app}}
			clk := &clock{t: time.Unix(1_700_000_000, 0)}
			cc := newClientCache(f.GetClient, clk.Now, ttl)
			for i, s := range tt.steps {
				clk.Add(s.advance)
				if s.change != nil {
					s.change(f)
				}
				c, err := cc.get(context.Background(), s.id)
				switch {
				case s.wantErr != nil && !errors.Is(err, s.wantErr):
					t.Fatalf("step %d: err %v, want %v", i, err, s.wantErr)
				case s.wantErr == nil && err != nil:
					t.Fatalf("step %d: %v", i, err)
				case s.wantErr == nil && c.SecretHash != s.wantHash:
					t.Fatalf("step %d: hash %q, want %q", i, c.SecretHash, s.wantHash)
				}
				if got := f.reads.Load(); got != s.wantReads {
					t.Fatalf("step %d: %d store reads, want %d", i, got, s.wantReads)
				}
			}
		})
	}
}

// TestClientCache_SlowReadAndAliases: an entry's lifetime starts when its
// read starts (a slow read does not stretch it), and a client whose ID is
// not exactly the one asked for (MySQL compares "app " equal to "app") is
// not found and not cached.
func TestClientCache_SlowReadAndAliases(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	var reads int
	load := func(_ context.Context, id string) (storage.Client, error) {
		reads++
		clk.Add(3 * time.Second) // a slow read
		return storage.Client{ID: "app", SecretHash: "h"}, nil
	}
	cc := newClientCache(load, clk.Now, 5*time.Second)
	if _, err := cc.get(context.Background(), "app"); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Second) // 5 s after the read started
	if _, err := cc.get(context.Background(), "app"); err != nil || reads != 2 {
		t.Fatalf("err %v, %d reads: want the entry expired 5 s after its read started", err, reads)
	}
	for _, alias := range []string{"app ", "APP"} {
		if _, err := cc.get(context.Background(), alias); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("get(%q): %v, want not found", alias, err)
		}
	}
	if n := cc.entries.Len(); n != 1 {
		t.Errorf("%d entries, want 1 (aliases are not cached)", n)
	}
}

// TestClientCache_ReturnsCopies: a caller changing what it got does not
// change what the next caller gets.
func TestClientCache_ReturnsCopies(t *testing.T) {
	f := &fakeClients{clients: map[string]storage.Client{"app": {ID: "app", Scopes: []string{"a"}, GrantTypes: []string{"g"}}}}
	cc := newClientCache(f.GetClient, time.Now, time.Hour)
	c, _ := cc.get(context.Background(), "app")
	c.Scopes[0], c.GrantTypes[0] = "changed", "changed"
	c, _ = cc.get(context.Background(), "app")
	if c.Scopes[0] != "a" || c.GrantTypes[0] != "g" {
		t.Fatalf("cached client changed through a returned copy: %+v", c)
	}
}

// TestClientCache_DropsExpiredEntries: once the map holds
// clientCacheSweepAt entries, a new entry first drops the expired ones, so
// clients looked up once long ago do not stay in memory.
func TestClientCache_DropsExpiredEntries(t *testing.T) {
	load := func(_ context.Context, id string) (storage.Client, error) { return storage.Client{ID: id}, nil }
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	cc := newClientCache(load, clk.Now, clientCacheTTL)
	for i := range 3 * clientCacheSweepAt {
		if _, err := cc.get(context.Background(), fmt.Sprint("c", i)); err != nil {
			t.Fatal(err)
		}
		if i%100 == 99 {
			clk.Add(clientCacheTTL)
		}
	}
	n := cc.entries.Len()
	if n > clientCacheSweepAt {
		t.Fatalf("%d entries cached, want at most %d", n, clientCacheSweepAt)
	}
}

// gatedLoader blocks every read until the test lets it finish.
type gatedLoader struct {
	reads   atomic.Int32
	release chan struct{}
	result  func(ctx context.Context, n int32) (storage.Client, error)
}

func (g *gatedLoader) load(ctx context.Context, id string) (storage.Client, error) {
	n := g.reads.Add(1)
	select {
	case <-g.release:
	case <-ctx.Done():
	}
	if g.result != nil {
		return g.result(ctx, n)
	}
	return storage.Client{ID: id, SecretHash: "h"}, nil
}

// TestClientCache_ConcurrentMissesReadOnce: callers that miss while a read
// of the same client is in progress wait for it instead of reading too.
func TestClientCache_ConcurrentMissesReadOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &gatedLoader{release: make(chan struct{})}
		clk := &clock{t: time.Unix(1_700_000_000, 0)}
		cc := newClientCache(g.load, clk.Now, clientCacheTTL)
		const n = 32
		var wg sync.WaitGroup
		for i := range n {
			id := "app"
			if i%4 == 0 {
				id = "other"
			}
			wg.Go(func() {
				c, err := cc.get(context.Background(), id)
				if err != nil || c.ID != id {
					t.Errorf("get(%q) = %+v, %v", id, c, err)
				}
			})
		}
		synctest.Wait() // every caller is now waiting: two readers, the rest on them
		if got := g.reads.Load(); got != 2 {
			t.Fatalf("%d reads in progress for 2 clients, want 2", got)
		}
		close(g.release)
		wg.Wait()
		if got := g.reads.Load(); got != 2 {
			t.Fatalf("%d reads for 2 clients, want 2", got)
		}
	})
}

// TestClientCache_WaiterContext: a caller whose request ends stops
// waiting with a 503; the shared read goes on and serves the others.
func TestClientCache_WaiterContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := &gatedLoader{release: make(chan struct{})}
		g.result = func(ctx context.Context, n int32) (storage.Client, error) {
			if err := ctx.Err(); err != nil {
				return storage.Client{}, fmt.Errorf("reading: %w", err)
			}
			return storage.Client{ID: "app", SecretHash: "h"}, nil
		}
		cc := newClientCache(g.load, time.Now, clientCacheTTL)

		firstCtx, cancelFirst := context.WithCancel(context.Background())
		firstErr := make(chan error, 1)
		go func() { _, err := cc.get(firstCtx, "app"); firstErr <- err }()
		synctest.Wait()

		// A caller whose own request has ended returns at once.
		gone, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := cc.get(gone, "app"); !errors.Is(err, context.Canceled) || !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("ended caller: %v, want storage.ErrUnavailable (a 503) wrapping context.Canceled", err)
		}

		// A live caller is served by the read the first caller started,
		// although the first caller's request ends before it completes.
		waiter := make(chan error, 1)
		go func() {
			c, err := cc.get(context.Background(), "app")
			if err == nil && c.SecretHash != "h" {
				err = fmt.Errorf("got %+v", c)
			}
			waiter <- err
		}()
		synctest.Wait()
		cancelFirst()
		if err := <-firstErr; !errors.Is(err, context.Canceled) || !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("first caller: %v, want storage.ErrUnavailable wrapping context.Canceled", err)
		}
		close(g.release)
		if err := <-waiter; err != nil {
			t.Fatalf("waiter: %v", err)
		}
		if got := g.reads.Load(); got != 1 {
			t.Fatalf("%d reads, want 1: an ended request does not cancel the shared read", got)
		}
	})
}

// TestClientCache_LoadPanics: a panic in the shared read is an error for
// its callers, not the end of the process.
func TestClientCache_LoadPanics(t *testing.T) {
	cc := newClientCache(func(context.Context, string) (storage.Client, error) { panic("boom") }, time.Now, clientCacheTTL)
	if _, err := cc.get(context.Background(), "app"); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("get: %v, want an error saying the read panicked", err)
	}
}

// TestClientCache_Race: lookups of a few clients from many goroutines while
// the clock moves past the TTL again and again (run with -race).
func TestClientCache_Race(t *testing.T) {
	f := &fakeClients{clients: map[string]storage.Client{}}
	for i := range 4 {
		f.set(storage.Client{ID: fmt.Sprint("c", i), SecretHash: fmt.Sprint("h", i), Scopes: []string{"s"}})
	}
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	cc := newClientCache(f.GetClient, clk.Now, clientCacheTTL)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 200 {
				n := (g + i) % 5 // c4 does not exist
				c, err := cc.get(context.Background(), fmt.Sprint("c", n))
				switch {
				case n == 4 && !errors.Is(err, storage.ErrNotFound):
					t.Errorf("unknown client: %v", err)
					return
				case n < 4 && (err != nil || c.SecretHash != fmt.Sprint("h", n)):
					t.Errorf("c%d: %+v, %v", n, c, err)
					return
				}
				if g == 0 && i%20 == 0 {
					clk.Add(clientCacheTTL)
				}
			}
		})
	}
	wg.Wait()
}

// countingStore counts the store reads the endpoints make.
type countingStore struct {
	storage.Store
	clientReads atomic.Int32
	userReads   atomic.Int32
	onUserRead  func() // called after GetUserByUsername, if set
}

func (s *countingStore) GetClient(ctx context.Context, id string) (storage.Client, error) {
	s.clientReads.Add(1)
	return s.Store.GetClient(ctx, id)
}

func (s *countingStore) GetUserByUsername(ctx context.Context, username string) (storage.User, error) {
	u, err := s.Store.GetUserByUsername(ctx, username)
	s.userReads.Add(1)
	if s.onUserRead != nil {
		s.onUserRead()
	}
	return u, err
}

func newCountingEnv(t *testing.T) (*env, *countingStore) {
	t.Helper()
	var cs *countingStore
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
		cs = &countingStore{Store: c.Store}
		c.Store = cs
	})
	return e, cs
}

// TestClientAuth_Cached: the token and introspection endpoints read a
// client once per clientCacheTTL; a removed client or a rotated secret
// takes effect when the entry expires.
func TestClientAuth_Cached(t *testing.T) {
	e, cs := newCountingEnv(t)
	ctx := context.Background()
	cc := url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}}
	tokenStatus := func(sec string) int {
		st, _ := e.token("third", sec, url.Values{"grant_type": cc["grant_type"], "scope": cc["scope"]})
		return st
	}

	var tok string
	for range 3 {
		st, tr := e.token("third", thirdSecret, url.Values{"grant_type": cc["grant_type"], "scope": cc["scope"]})
		if st != http.StatusOK {
			t.Fatalf("client credentials: %d %s", st, tr.Error)
		}
		tok = tr.AccessToken
	}
	for range 3 {
		if m := e.introspect(tok); m["active"] != true {
			t.Fatalf("introspection: %v", m)
		}
	}
	if got := cs.clientReads.Load(); got != 2 {
		t.Fatalf("%d client reads for 3 token and 3 introspection requests by 2 clients, want 2", got)
	}

	// A wrong secret against a cached client is still refused.
	if st := tokenStatus("wrong"); st != http.StatusUnauthorized {
		t.Fatalf("wrong secret: %d", st)
	}

	// Rotated secret: the old one works until the entry expires.
	const newSecret = "third-secret-rotated"
	if err := e.store.SetClientSecret(ctx, "third", secret.HashToken(newSecret), time.Now()); err != nil {
		t.Fatal(err)
	}
	if st := tokenStatus(thirdSecret); st != http.StatusOK {
		t.Fatalf("old secret within the TTL: %d", st)
	}
	e.clock.Add(clientCacheTTL)
	if st := tokenStatus(thirdSecret); st != http.StatusUnauthorized {
		t.Fatalf("old secret after the TTL: %d, want 401", st)
	}
	if st := tokenStatus(newSecret); st != http.StatusOK {
		t.Fatalf("new secret after the TTL: %d", st)
	}

	// Removed client: refused once the entry expires.
	if err := e.store.DeleteClient(ctx, "third"); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(clientCacheTTL)
	if st := tokenStatus(newSecret); st != http.StatusUnauthorized {
		t.Fatalf("removed client after the TTL: %d, want 401", st)
	}
	// Unknown clients are read every time, not cached.
	before := cs.clientReads.Load()
	tokenStatus(newSecret)
	if n := cs.clientReads.Load() - before; n != 1 {
		t.Fatalf("%d client reads for one request by an unknown client, want 1 (not cached, read once)", n)
	}
}
