package assemble

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// tables lists the SQLite store's tables.
func tables(t *testing.T, st *sqlstore.Store) []string {
	t.Helper()
	rows, err := st.DB().Query(`SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// redisURL is the Redis of GATEHOUSE_TEST_REDIS (default the local one);
// the test is skipped when it is not reachable, unless
// GATEHOUSE_REQUIRE_DBS is set.
func redisURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("GATEHOUSE_TEST_REDIS")
	if u == "" {
		u = "redis://127.0.0.1:6379"
	}
	p, err := url.Parse(u)
	if err != nil {
		t.Fatalf("GATEHOUSE_TEST_REDIS: %v", err)
	}
	c, err := net.DialTimeout("tcp", p.Host, 2*time.Second)
	if err != nil {
		if os.Getenv("GATEHOUSE_REQUIRE_DBS") != "" {
			t.Fatalf("redis is not reachable at %s: %v", u, err)
		}
		t.Skipf("redis is not reachable at %s: %v", u, err)
	}
	c.Close()
	return u
}

// TestRolesOpenOnlyWhatTheyUse: a start creates the resources' tables only
// when it runs the API, seeds the clients and the demo user only when it
// runs the authorization server or the web app, and adds the demo todos
// only when the API's documents are open.
func TestRolesOpenOnlyWhatTheyUse(t *testing.T) {
	ctx := context.Background()
	// The tables of the SQL store's migrations alone.
	base, err := OpenStore(ctx, &serveConfig(t, "--data-dir", t.TempDir()).Storage)
	if err != nil {
		t.Fatal(err)
	}
	migrated := tables(t, base)
	base.Close()

	tests := []struct {
		name      string
		args      []string
		resources bool // the resources' tables exist
		seeded    bool // the clients and the demo user exist
		todos     bool // the demo user has todos
	}{
		{"authz", []string{"--roles", "authz"}, false, true, false},
		{"api", []string{"--roles", "api"}, true, false, false},
		{"webapp", []string{"--roles", "webapp"}, false, true, false},
		{"webapp with redis sessions", []string{"--roles", "webapp", "--session-store", ""}, false, true, false},
		{"authz and webapp", []string{"--roles", "authz,webapp"}, false, true, false},
		{"all", nil, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args
			if i := slices.Index(args, "--session-store"); i >= 0 {
				args = slices.Clone(args)
				args[i+1] = redisURL(t)
			}
			c := serveConfig(t, append([]string{"--data-dir", t.TempDir()}, args...)...)
			a, err := New(ctx, c, Options{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			var extra []string
			for _, n := range tables(t, a.Store) {
				if !slices.Contains(migrated, n) {
					extra = append(extra, n)
				}
			}
			if got := len(extra) > 0; got != tt.resources {
				t.Errorf("tables beside the migrations' = %q, want resource tables: %v", extra, tt.resources)
			}
			if got := a.Docs != nil; got != tt.resources {
				t.Errorf("document store open = %v, want %v", got, tt.resources)
			}
			clients, err := a.Store.ListClients(ctx)
			if err != nil {
				t.Fatal(err)
			}
			_, err = a.Store.GetUserByUsername(ctx, admin.DemoUsername)
			if err != nil && !errors.Is(err, storage.ErrNotFound) {
				t.Fatal(err)
			}
			if got := len(clients) > 0 && err == nil && a.Seeded.Username == admin.DemoUsername; got != tt.seeded {
				t.Errorf("%d clients, demo user: %v, banner's user %q; want seeded %v", len(clients), err, a.Seeded.Username, tt.seeded)
			}
			todos := 0
			for _, n := range extra {
				if strings.Contains(n, "todos") {
					if err := a.Store.DB().QueryRow(`SELECT COUNT(*) FROM ` + n).Scan(&todos); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := todos > 0; got != tt.todos {
				t.Errorf("%d demo todos, want some: %v", todos, tt.todos)
			}
		})
	}
}

// TestCloseWaitsForBackgroundWork: Close stops the background work and
// waits for it before it closes the store, so a sweep in progress never
// meets a closed database.
func TestCloseWaitsForBackgroundWork(t *testing.T) {
	st, err := sqlstore.Open(context.Background(), storagetest.SQLite(t), sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	var pinged atomic.Bool
	started := make(chan struct{})
	a := &Assembly{Store: st, logger: slog.New(slog.DiscardHandler)}
	a.background = []background{{role: "authz", run: func(ctx context.Context) error {
		close(started)
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // a sweep finishing
		pinged.Store(st.Ping(context.Background()) == nil)
		return ctx.Err()
	}}}
	a.Start(context.Background())
	<-started
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if !pinged.Load() {
		t.Error("the background work met a closed store: Close did not wait for it")
	}
}
