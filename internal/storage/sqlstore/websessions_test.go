package sqlstore_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/alexedwards/scs/mysqlstore"
	"github.com/alexedwards/scs/postgresstore"
	"github.com/alexedwards/scs/sqlite3store"
	"github.com/alexedwards/scs/v2"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// WebSessions is what scs's session manager looks for to pass its requests'
// contexts down.
var (
	_ scs.CtxStore         = (*sqlstore.WebSessions)(nil)
	_ scs.IterableCtxStore = (*sqlstore.WebSessions)(nil)
	_ scs.IterableStore    = (*sqlstore.WebSessions)(nil)
)

// scsStoreFor returns scs's own session store for the store's dialect.
func scsStoreFor(s *sqlstore.Store) scsStore {
	switch s.Dialect() {
	case "postgres":
		return postgresstore.NewWithCleanupInterval(s.DB(), 0)
	case "mysql":
		return mysqlstore.NewWithCleanupInterval(s.DB(), 0)
	default:
		return sqlite3store.NewWithCleanupInterval(s.DB(), 0)
	}
}

// TestSessionTokens: the sessions table keeps tokens of every length the web
// app uses, up to 255 characters, on every backend — scs's 43-character
// session tokens, and the longer names of its refresh leases
// ("webapp-lock:" and a grant ID), which CHAR(43) on MySQL cut short or
// refused before migration 3. Both scs's own store and WebSessions write
// them and each reads what the other wrote.
func TestSessionTokens(t *testing.T) {
	tokens := []struct{ name, token string }{
		{"scs token", "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcde"},
		{"short", "s"},
		{"lease name", "webapp-lock:" + strings.Repeat("g", 64)},
		{"255 characters", strings.Repeat("t", 255)},
	}
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := open(t, b)
			defer s.Close()
			ours := s.WebSessions(0)
			defer ours.StopCleanup()
			stores := []struct {
				name string
				st   scsStore
			}{{"scs", scsStoreFor(s)}, {"WebSessions", ours}}
			for _, tok := range tokens {
				for i, w := range stores {
					r := stores[1-i]
					data := []byte("data of " + tok.name + " by " + w.name + " \x00\xff")
					if err := w.st.Commit(tok.token, data, time.Now().Add(time.Hour)); err != nil {
						t.Fatalf("%s: %s Commit: %v", tok.name, w.name, err)
					}
					for _, rd := range []struct {
						name string
						st   scsStore
					}{w, r} {
						got, found, err := rd.st.Find(tok.token)
						if err != nil || !found || !bytes.Equal(got, data) {
							t.Errorf("%s: written by %s, %s Find = %q, %v, %v; want the data", tok.name, w.name, rd.name, got, found, err)
						}
					}
					if err := r.st.Delete(tok.token); err != nil {
						t.Fatalf("%s: %s Delete: %v", tok.name, r.name, err)
					}
					if _, found, err := w.st.Find(tok.token); err != nil || found {
						t.Errorf("%s: after Delete, %s Find = found %v, %v", tok.name, w.name, found, err)
					}
				}
			}
		})
	}
}

// TestWebSessions: expiry as scs's stores have it, listing, the sweep of
// expired rows, and contexts honoured.
func TestWebSessions(t *testing.T) {
	ctx := context.Background()
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			s := open(t, b)
			defer s.Close()
			w := s.WebSessions(0)
			defer w.StopCleanup()
			theirs := scsStoreFor(s)

			if err := w.CommitCtx(ctx, "live", []byte("l"), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := w.CommitCtx(ctx, "gone", []byte("g"), time.Now().Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			if err := theirs.Commit("gone-too", []byte("g"), time.Now().Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			for _, tok := range []string{"gone", "gone-too"} {
				if _, found, err := w.FindCtx(ctx, tok); err != nil || found {
					t.Errorf("FindCtx(%s), expired = found %v, %v", tok, found, err)
				}
			}
			if _, found, err := theirs.Find("gone"); err != nil || found {
				t.Errorf("scs Find of a session WebSessions stored expired = found %v, %v", found, err)
			}
			all, err := w.AllCtx(ctx)
			if err != nil || len(all) != 1 || string(all["live"]) != "l" {
				t.Errorf("AllCtx = %q, %v; want only the live session", all, err)
			}
			// Replacing keeps one row with the new data.
			if err := w.CommitCtx(ctx, "live", []byte("l2"), time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if got, found, err := w.FindCtx(ctx, "live"); err != nil || !found || string(got) != "l2" {
				t.Errorf("FindCtx after a second commit = %q, %v, %v; want l2", got, found, err)
			}
			n, err := w.DeleteExpired(ctx)
			if err != nil || n != 2 {
				t.Errorf("DeleteExpired = %d, %v; want 2", n, err)
			}
			var rows int
			if err := s.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM sessions").Scan(&rows); err != nil || rows != 1 {
				t.Errorf("rows left = %d, %v; want 1", rows, err)
			}

			// A request whose deadline has passed gets an unavailable store,
			// which the web app answers with its 503 page.
			dead, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
			defer cancel()
			if _, _, err := w.FindCtx(dead, "live"); !errors.Is(err, storage.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("FindCtx past the deadline: %v, want storage.ErrUnavailable and context.DeadlineExceeded", err)
			}
			if err := w.CommitCtx(dead, "live", []byte("x"), time.Now().Add(time.Hour)); !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("CommitCtx past the deadline: %v, want storage.ErrUnavailable", err)
			}
		})
	}
}

// TestWebSessionsCleanup: the background sweep removes expired rows, and
// StopCleanup ends it (twice is fine).
func TestWebSessionsCleanup(t *testing.T) {
	s := open(t, storagetest.Backends()[0])
	defer s.Close()
	w := s.WebSessions(10 * time.Millisecond)
	if err := w.Commit("gone", []byte("g"), time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var rows int
		if err := s.DB().QueryRow("SELECT COUNT(*) FROM sessions").Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired session is still there after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	w.StopCleanup()
	w.StopCleanup()
}
