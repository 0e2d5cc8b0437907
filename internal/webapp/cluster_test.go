package webapp

import (
	"crypto/rand"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/mysqlstore"
	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/redisstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"
	"github.com/gomodule/redigo/redis"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
	"github.com/gatehouse-dev/gatehouse/internal/webapp/leases"
)

// sharedStore opens, for one web app instance, its own connection to a
// store that several instances share: its session store and its leases.
type sharedStore func(t *testing.T) (scs.Store, Leases)

// sqlShared returns a sharedStore on one fresh database of a dialect; each
// instance gets a pool of its own, as separate processes would.
func sqlShared(t *testing.T, dsn string) sharedStore {
	return func(t *testing.T) (scs.Store, Leases) {
		st, err := sqlstore.Open(t.Context(), dsn, sqlstore.Options{Migrate: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		l := leases.NewSQL(st)
		switch st.Dialect() {
		case "postgres":
			return postgresstore.NewWithCleanupInterval(st.DB(), 0), l
		case "mysql":
			return mysqlstore.NewWithCleanupInterval(st.DB(), 0), l
		default:
			return sqlite3store.NewWithCleanupInterval(st.DB(), 0), l
		}
	}
}

// redisShared returns a sharedStore in Redis under a fresh key prefix,
// removed when t ends. It skips t when Redis does not answer, unless
// GATEHOUSE_REQUIRE_DBS=1.
func redisShared(t *testing.T) sharedStore {
	u := os.Getenv("GATEHOUSE_TEST_REDIS")
	if u == "" {
		u = "redis://127.0.0.1:6379/0"
	}
	dial := func() (redis.Conn, error) {
		return redis.DialURL(u, redis.DialConnectTimeout(2*time.Second),
			redis.DialReadTimeout(5*time.Second), redis.DialWriteTimeout(5*time.Second))
	}
	c, err := dial()
	if err == nil {
		_, err = c.Do("PING")
		c.Close()
	}
	if err != nil {
		msg := fmt.Sprintf("redis is not reachable at %s (%v): set GATEHOUSE_TEST_REDIS", u, err)
		if storagetest.Required() {
			t.Fatalf("%s; GATEHOUSE_REQUIRE_DBS=1 makes this a failure", msg)
		}
		t.Skip(msg)
	}
	prefix := "gh_test_" + rand.Text() + ":"
	t.Cleanup(func() {
		c, err := dial()
		if err != nil {
			return
		}
		defer c.Close()
		keys, _ := redis.Strings(c.Do("KEYS", prefix+"*"))
		for _, k := range keys {
			_, _ = c.Do("DEL", k)
		}
	})
	return func(t *testing.T) (scs.Store, Leases) {
		pool := &redis.Pool{MaxIdle: 8, Dial: dial}
		t.Cleanup(func() { pool.Close() })
		return redisstore.NewWithPrefix(pool, prefix+"session:"), &leases.Redis{Pool: pool, Prefix: prefix + "lease:"}
	}
}

// newInstance is one web app instance on a shared store, without a
// listener: the test calls accessToken directly, as every page does.
func newInstance(t *testing.T, op *fakeOP, key *secret.Key, sessions scs.Store, l Leases) *Server {
	t.Helper()
	app, err := New(t.Context(), Config{
		PublicURL:    "https://127.0.0.1:5000",
		Issuer:       op.issuer(),
		APIURL:       "https://127.0.0.1:1/api",
		ClientID:     "webapp",
		ClientSecret: "s3cret",
		HTTPClient:   op.srv.Client(),
		Sessions:     sessions,
		Leases:       l,
		Secret:       key,
	})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// TestRefreshAcrossInstances runs two web app instances on one shared
// session store, each with its own connections, and has both use one
// session in parallel for several access-token lifetimes: every refresh
// token is presented once (RFC 9700 §4.14.2 reuse detection would revoke
// the family otherwise). The control case shows the test's teeth: with the
// in-process locks alone, the instances do present a refresh token twice.
func TestRefreshAcrossInstances(t *testing.T) {
	cases := []struct {
		name      string
		shared    func(t *testing.T) sharedStore
		noLeases  bool
		wantReuse bool
	}{
		{name: "sqlite", shared: func(t *testing.T) sharedStore { return sqlShared(t, storagetest.SQLite(t)) }},
		{name: "postgres", shared: func(t *testing.T) sharedStore { return sqlShared(t, storagetest.Postgres(t)) }},
		{name: "mysql", shared: func(t *testing.T) sharedStore { return sqlShared(t, storagetest.MySQL(t)) }},
		{name: "redis", shared: redisShared},
		{name: "control: in-process locks only", shared: func(t *testing.T) sharedStore { return sqlShared(t, storagetest.SQLite(t)) },
			noLeases: true, wantReuse: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			shared := tc.shared(t)
			op := newFakeOP(t)
			op.ttl = time.Second // refreshed when a third of it is left
			op.refreshLag = 50 * time.Millisecond
			key, err := secret.New()
			if err != nil {
				t.Fatal(err)
			}
			var apps []*Server
			for range 2 {
				sessions, l := shared(t)
				if tc.noLeases {
					l = nil
				}
				apps = append(apps, newInstance(t, op, key, sessions, l))
			}

			// A signed-in session whose access token has just expired.
			ctx := t.Context()
			grant := newGrantID()
			op.addRefreshToken("rt-start")
			if err := apps[0].tokens.save(ctx, grant, tokenRecord{
				AccessToken: "at-old", RefreshToken: "rt-start", Subject: "user-1",
				Obtained: time.Now().Add(-2 * time.Second), Expiry: time.Now().Add(-time.Second),
			}); err != nil {
				t.Fatal(err)
			}

			// Eight parallel requests per instance, for three lifetimes.
			const perInstance = 8
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				errs  []error
				calls int
			)
			start := make(chan struct{})
			until := time.Now().Add(3 * time.Second)
			for i := range 2 * perInstance {
				app := apps[i%2]
				wg.Go(func() {
					<-start
					for time.Now().Before(until) {
						_, err := app.accessToken(ctx, grant, "")
						mu.Lock()
						calls++
						if err != nil {
							errs = append(errs, err)
						}
						mu.Unlock()
						if err != nil {
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				})
			}
			close(start)
			wg.Wait()

			refreshes, reuses := op.counts()
			t.Logf("%d calls on 2 instances: %d refreshes, %d refresh tokens presented twice, %d errors", calls, refreshes, reuses, len(errs))
			if tc.wantReuse {
				if reuses == 0 {
					t.Fatal("without shared leases the instances never presented a refresh token twice: the test has lost its teeth")
				}
				return
			}
			for _, err := range errs {
				t.Error(err)
			}
			if reuses != 0 {
				t.Fatalf("%d refresh tokens presented twice", reuses)
			}
			if refreshes < 3 {
				t.Fatalf("%d refreshes in three access-token lifetimes, want at least 3", refreshes)
			}
		})
	}
}
