package authz

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Tests of the background loops: the janitor and key reloading.

// insertTokenRows writes n units of token rows expiring at expires — a
// grant, its refresh token and a revoked access-token ID each, 3n rows —
// with multi-row INSERTs (through the store tens of thousands of rows would
// take long).
func insertTokenRows(t *testing.T, st storage.Store, prefix string, n int, expires time.Time) {
	t.Helper()
	s, ok := st.(*sqlstore.Store)
	if !ok {
		t.Fatalf("store is a %T, want *sqlstore.Store", st)
	}
	ctx := context.Background()
	tx, err := s.DB().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := gatehouseproc.InsertTokenRows(ctx, tx, s.Dialect(), gatehouseproc.TokenRows{
		Prefix: prefix, N: n, ClientID: "gatehouse-webapp", UserID: "u-alice", Audience: apiAudience, Expires: expires,
	}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// countTokenRows counts the rows of the token tables.
func countTokenRows(t *testing.T, st storage.Store) int {
	t.Helper()
	total := 0
	for _, table := range []string{"grants", "refresh_tokens", "revoked_tokens"} {
		var n int
		if err := st.(*sqlstore.Store).DB().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	return total
}

// TestSweep_CatchesUp: one sweep removes every expired row, however many
// (21,000 here: 42 batches of 500), in batches, and leaves what has not
// expired. (The interval is long so that the budget cannot interfere.)
func TestSweep_CatchesUp(t *testing.T) {
	const expired, live = 7_000, 100 // units of 3 rows
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnvDSN(t, b.DSN(t), func(c *Config) { c.JanitorInterval = 24 * time.Hour })
			now := e.clock.Now()
			insertTokenRows(t, e.store, "expired", expired, now.Add(-time.Hour))
			insertTokenRows(t, e.store, "live", live, now.Add(time.Hour))
			// Expired refresh tokens and requests are swept in the same turns.
			for i := range 3 {
				id := fmt.Sprint("req-", i)
				if err := e.store.CreateAuthRequest(context.Background(), storage.AuthRequest{
					ID: id, ClientID: "gatehouse-webapp", CreatedAt: now.Add(-time.Hour), ExpiresAt: now.Add(-time.Minute),
				}); err != nil {
					t.Fatal(err)
				}
			}

			// So are one-time values.
			ctx := context.Background()
			for i := range 2 {
				if err := e.store.UseOnce(ctx, fmt.Sprint("jti-", i), now.Add(-time.Minute), now.Add(-time.Hour)); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.store.UseOnce(ctx, "jti-live", now.Add(time.Hour), now); err != nil {
				t.Fatal(err)
			}

			removed := e.srv.Sweep(context.Background())
			if removed != 3*expired+3+2 {
				t.Errorf("Sweep removed %d rows, want %d", removed, 3*expired+3+2)
			}
			if err := e.store.UseOnce(ctx, "jti-live", now.Add(time.Hour), now); !errors.Is(err, storage.ErrAlreadyUsed) {
				t.Errorf("a live one-time value after the sweep: %v, want ErrAlreadyUsed", err)
			}
			if n := countTokenRows(t, e.store); n != 3*live {
				t.Fatalf("%d token rows left after one sweep, want the %d that have not expired", n, 3*live)
			}
			if _, err := e.store.GetAuthRequest(context.Background(), "req-0"); err == nil {
				t.Error("expired authorization request not removed")
			}
			if removed := e.srv.Sweep(context.Background()); removed != 0 {
				t.Errorf("a second sweep removed %d rows, want 0", removed)
			}
		})
	}
}

// TestSweep_Stops: a sweep stops when its context ends, and once its budget
// (half of JanitorInterval) is spent after a first batch of every table; the
// rest is left for the next sweep.
func TestSweep_Stops(t *testing.T) {
	const expired = 2 * janitorBatch // rows: units of 3 below
	tests := []struct {
		name     string
		interval time.Duration
		cancel   bool
		removed  int
	}{
		{"context ended", time.Hour, true, 0},
		{"budget spent", time.Nanosecond, false, janitorBatch},
		{"within budget", time.Hour, false, 3 * expired / 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { c.JanitorInterval = tc.interval })
			insertTokenRows(t, e.store, "expired", expired/2, e.clock.Now().Add(-time.Hour))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			if removed := e.srv.Sweep(ctx); removed != tc.removed {
				t.Errorf("Sweep removed %d rows, want %d", removed, tc.removed)
			}
			if n := countTokenRows(t, e.store); n != 3*expired/2-tc.removed {
				t.Errorf("%d token rows left, want %d", n, 3*expired/2-tc.removed)
			}
		})
	}
}

// runInBackground runs the server's background loops until the test ends.
func runInBackground(t *testing.T, s *Server) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// poll calls cond until it holds, failing the test after a generous deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after 30s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRun_JanitorInterval: Run sweeps every JanitorInterval.
func TestRun_JanitorInterval(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { c.JanitorInterval = 20 * time.Millisecond })
	runInBackground(t, e.srv)
	insertTokenRows(t, e.store, "expired", 50, e.clock.Now().Add(-time.Hour))
	poll(t, "expired tokens removed by Run", func() bool { return countTokenRows(t, e.store) == 0 })
}

// TestRun_KeyReload: keys another instance (here `gatehouse keys rotate`)
// creates show in this instance's JWKS within KeyReload.
func TestRun_KeyReload(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { c.KeyReload = 20 * time.Millisecond })
	runInBackground(t, e.srv)
	kids, err := RotateKeys(context.Background(), e.store, e.secret, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	poll(t, "rotated keys in JWKS", func() bool {
		published := e.jwks()
		for kid := range strings.SplitSeq(kids, ",") {
			if !slices.Contains(published, kid) {
				return false
			}
		}
		return true
	})
}

// TestNew_KeyReloadShorterThanLead: KeyReload must be shorter than the time
// a new key is published before it signs, or an instance could still serve
// a JWKS without a key the others already sign with.
func TestNew_KeyReloadShorterThanLead(t *testing.T) {
	for _, tc := range []struct {
		reload time.Duration
		ok     bool
	}{
		{0, true}, // default
		{keyLead - time.Second, true},
		{keyLead, false},
		{time.Hour, false},
	} {
		t.Run(tc.reload.String(), func(t *testing.T) {
			e := newEnv(t)
			cfg := e.cfg
			cfg.KeyReload = tc.reload
			_, err := New(context.Background(), cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New with KeyReload %v: error %v, want ok=%v", tc.reload, err, tc.ok)
			}
		})
	}
}

// TestEvery_DeadlinePerRun: a background run stuck on the database (here:
// waiting for its context) ends at its deadline, and the loop goes on.
func TestEvery_DeadlinePerRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		calls := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			every(ctx, time.Second, func(run context.Context) {
				calls++
				if _, ok := run.Deadline(); !ok {
					t.Error("a run without a deadline")
				}
				if calls < 3 {
					<-run.Done() // stuck until the deadline
					return
				}
				cancel()
			})
		}()
		<-done
		if calls != 3 {
			t.Fatalf("%d runs, want 3: a stuck run stopped the loop", calls)
		}
	})
}
