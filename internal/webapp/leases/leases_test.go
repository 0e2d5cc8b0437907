package leases_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gomodule/redigo/redis"

	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
	"github.com/gatehouse-dev/gatehouse/internal/webapp"
	"github.com/gatehouse-dev/gatehouse/internal/webapp/leases"
)

var (
	_ webapp.Leases = (*leases.Redis)(nil)
	_ webapp.Leases = (*leases.SQL)(nil)
	_ leases.Table  = (*sqlstore.Store)(nil)
)

// backends returns a fresh lease store per backend: every SQL dialect on a
// new database, and Redis under a new key prefix.
func backends() []struct {
	name string
	open func(t *testing.T) webapp.Leases
} {
	sqlBackend := func(dsn func(testing.TB) string) func(t *testing.T) webapp.Leases {
		return func(t *testing.T) webapp.Leases {
			st, err := sqlstore.Open(t.Context(), dsn(t), sqlstore.Options{Migrate: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return leases.NewSQL(st)
		}
	}
	return []struct {
		name string
		open func(t *testing.T) webapp.Leases
	}{
		{"sqlite", sqlBackend(storagetest.SQLite)},
		{"postgres", sqlBackend(storagetest.Postgres)},
		{"mysql", sqlBackend(storagetest.MySQL)},
		{"redis", func(t *testing.T) webapp.Leases {
			return &leases.Redis{Pool: redisPool(t), Prefix: "gh_test_" + rand.Text() + ":"}
		}},
	}
}

// redisPool connects to GATEHOUSE_TEST_REDIS (default redis://127.0.0.1:6379/0)
// or skips when nothing answers, unless GATEHOUSE_REQUIRE_DBS=1.
func redisPool(t *testing.T) *redis.Pool {
	t.Helper()
	u := os.Getenv("GATEHOUSE_TEST_REDIS")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	pool := &redis.Pool{MaxIdle: 4, Dial: func() (redis.Conn, error) {
		return redis.DialURL(u, redis.DialConnectTimeout(2*time.Second),
			redis.DialReadTimeout(5*time.Second), redis.DialWriteTimeout(5*time.Second))
	}}
	c := pool.Get()
	_, err := c.Do("PING")
	c.Close()
	if err != nil {
		pool.Close()
		msg := fmt.Sprintf("redis is not reachable at %s (%v): set GATEHOUSE_TEST_REDIS", u, err)
		if storagetest.Required() {
			t.Fatalf("%s; GATEHOUSE_REQUIRE_DBS=1 makes this a failure", msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() { pool.Close() })
	return pool
}

func TestLeases(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			l := b.open(t)
			ctx := t.Context()
			must := func(ok bool, err error) bool {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			steps := []struct {
				what  string
				owner string
				ttl   time.Duration
				want  bool
			}{
				{"first owner takes a free lease", "a", time.Minute, true},
				{"a second owner is refused", "b", time.Minute, false},
			}
			for _, s := range steps {
				if got := must(l.Acquire(ctx, "n1", s.owner, s.ttl)); got != s.want {
					t.Fatalf("%s: Acquire = %v, want %v", s.what, got, s.want)
				}
			}
			if !must(l.Acquire(ctx, "n2", "b", time.Minute)) {
				t.Fatal("a lease on another name was refused")
			}
			// Release by someone else leaves the lease alone.
			if err := l.Release(ctx, "n1", "b"); err != nil {
				t.Fatal(err)
			}
			if must(l.Acquire(ctx, "n1", "c", time.Minute)) {
				t.Fatal("release by a non-holder freed the lease")
			}
			if err := l.Release(ctx, "n1", "a"); err != nil {
				t.Fatal(err)
			}
			if !must(l.Acquire(ctx, "n1", "c", 200*time.Millisecond)) {
				t.Fatal("a released lease could not be taken")
			}
			// Expiry: after the ttl another owner takes over, and the late
			// release of the expired holder does not free the new lease.
			time.Sleep(400 * time.Millisecond)
			if !must(l.Acquire(ctx, "n1", "d", time.Minute)) {
				t.Fatal("an expired lease could not be taken over")
			}
			if err := l.Release(ctx, "n1", "c"); err != nil {
				t.Fatal(err)
			}
			if must(l.Acquire(ctx, "n1", "e", time.Minute)) {
				t.Fatal("the expired holder's release freed its successor's lease")
			}
			for _, n := range []struct{ name, owner string }{{"n1", "d"}, {"n2", "b"}} {
				if err := l.Release(ctx, n.name, n.owner); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// TestLeasesExclusive races many owners for one name, over and over: the
// critical sections they enter never overlap.
func TestLeasesExclusive(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			l := b.open(t)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			var (
				inside, entered atomic.Int32
				wg              sync.WaitGroup
			)
			for i := range 8 {
				wg.Go(func() {
					owner := fmt.Sprint("owner-", i)
					for range 5 {
						for {
							ok, err := l.Acquire(ctx, "race", owner, 10*time.Second)
							if err != nil {
								t.Error(err)
								return
							}
							if ok {
								break
							}
							time.Sleep(time.Millisecond)
						}
						if n := inside.Add(1); n != 1 {
							t.Errorf("%d owners inside at once", n)
						}
						entered.Add(1)
						time.Sleep(2 * time.Millisecond)
						inside.Add(-1)
						if err := l.Release(ctx, "race", owner); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			if entered.Load() != 40 {
				t.Errorf("%d entries, want 40", entered.Load())
			}
		})
	}
}
