package conformance

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

func newLoginSession(id, userID string, expiresAt time.Time) storage.LoginSession {
	return storage.LoginSession{ID: id, UserID: userID, AuthTime: at(-time.Second), AMR: []string{"pwd"},
		CreatedAt: base, ExpiresAt: expiresAt}
}

func testLoginSessions(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	sess := newLoginSession("sess-1", "u-alice", at(time.Hour))
	must(t, s.CreateLoginSession(ctx, sess), "CreateLoginSession")
	got, err := s.GetLoginSession(ctx, sess.ID, base)
	must(t, err, "GetLoginSession")
	checkEqual(t, "GetLoginSession", got, sess)
	wantErr(t, s.CreateLoginSession(ctx, sess), storage.ErrAlreadyExists, "CreateLoginSession same ID")

	for _, tc := range []struct {
		name string
		id   string
		now  time.Time
	}{
		{"unknown", "sess-nobody", base},
		{"at expiry", sess.ID, at(time.Hour)},
		{"after expiry", sess.ID, at(2 * time.Hour)},
	} {
		_, err := s.GetLoginSession(ctx, tc.id, tc.now)
		wantErr(t, err, storage.ErrNotFound, "GetLoginSession "+tc.name)
	}

	must(t, s.DeleteLoginSession(ctx, sess.ID), "DeleteLoginSession")
	_, err = s.GetLoginSession(ctx, sess.ID, base)
	wantErr(t, err, storage.ErrNotFound, "GetLoginSession after DeleteLoginSession")
	must(t, s.DeleteLoginSession(ctx, sess.ID), "DeleteLoginSession of a deleted session (not an error)")

	for _, l := range []storage.LoginSession{
		newLoginSession("a-1", "u-alice", at(time.Hour)),
		newLoginSession("a-2", "u-alice", at(time.Hour)),
		newLoginSession("b-1", "u-bob", at(time.Hour)),
	} {
		must(t, s.CreateLoginSession(ctx, l), "CreateLoginSession")
	}
	must(t, s.DeleteUserLoginSessions(ctx, "u-alice"), "DeleteUserLoginSessions")
	for _, id := range []string{"a-1", "a-2"} {
		_, err = s.GetLoginSession(ctx, id, base)
		wantErr(t, err, storage.ErrNotFound, "GetLoginSession after DeleteUserLoginSessions")
	}
	_, err = s.GetLoginSession(ctx, "b-1", base)
	must(t, err, "another user's session after DeleteUserLoginSessions")
	must(t, s.DeleteUserLoginSessions(ctx, "u-nobody"), "DeleteUserLoginSessions of a user without sessions")
}

func testConsent(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	c := storage.Consent{UserID: "u-alice", ClientID: "cli", Scopes: []string{"openid", "profile"}, CreatedAt: base, ExpiresAt: at(time.Hour)}
	must(t, s.PutConsent(ctx, c), "PutConsent")
	got, err := s.GetConsent(ctx, c.UserID, c.ClientID, base)
	must(t, err, "GetConsent")
	checkEqual(t, "GetConsent", got, c)

	// PutConsent replaces.
	replaced := c
	replaced.Scopes, replaced.CreatedAt, replaced.ExpiresAt = []string{"openid"}, at(time.Minute), at(2*time.Hour)
	must(t, s.PutConsent(ctx, replaced), "PutConsent again")
	got, err = s.GetConsent(ctx, c.UserID, c.ClientID, at(90*time.Minute))
	must(t, err, "GetConsent after replacing")
	checkEqual(t, "GetConsent after replacing", got, replaced)
	replaced.Scopes = []string{}
	must(t, s.PutConsent(ctx, replaced), "PutConsent with no scopes")
	got, err = s.GetConsent(ctx, c.UserID, c.ClientID, base)
	must(t, err, "GetConsent")
	checkEqual(t, "GetConsent with no scopes", got, replaced)

	// Other pairs are separate.
	other := storage.Consent{UserID: "u-alice", ClientID: "webapp", Scopes: []string{"todos:read"}, CreatedAt: base, ExpiresAt: at(time.Hour)}
	must(t, s.PutConsent(ctx, other), "PutConsent other client")
	// A zero ExpiresAt never expires.
	forever := storage.Consent{UserID: "u-bob", ClientID: "cli", Scopes: []string{"openid"}, CreatedAt: base}
	must(t, s.PutConsent(ctx, forever), "PutConsent without expiry")
	got, err = s.GetConsent(ctx, forever.UserID, forever.ClientID, at(100*365*24*time.Hour))
	must(t, err, "GetConsent without expiry")
	checkEqual(t, "GetConsent without expiry", got, forever)

	for _, tc := range []struct {
		name         string
		user, client string
		now          time.Time
	}{
		{"unknown user", "u-nobody", "cli", base},
		{"unknown client", "u-alice", "nobody", base},
		{"at expiry", "u-alice", "webapp", at(time.Hour)},
		{"after expiry", "u-alice", "webapp", at(3 * time.Hour)},
	} {
		_, err := s.GetConsent(ctx, tc.user, tc.client, tc.now)
		wantErr(t, err, storage.ErrNotFound, "GetConsent "+tc.name)
	}

	must(t, s.DeleteConsent(ctx, "u-alice", "cli"), "DeleteConsent")
	_, err = s.GetConsent(ctx, "u-alice", "cli", base)
	wantErr(t, err, storage.ErrNotFound, "GetConsent after DeleteConsent")
	_, err = s.GetConsent(ctx, "u-alice", "webapp", base)
	must(t, err, "another client's consent after DeleteConsent")
	must(t, s.DeleteConsent(ctx, "u-alice", "cli"), "DeleteConsent of deleted consent (not an error)")
}

func testLoginFailures(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	const window = 15 * time.Minute
	add := func(key string, now time.Time, want int) {
		t.Helper()
		n, err := s.AddLoginFailure(ctx, key, now, window)
		must(t, err, "AddLoginFailure")
		if n != want {
			t.Errorf("AddLoginFailure(%q, base+%v) = %d, want %d", key, now.Sub(base), n, want)
		}
	}
	// The window starts at the first failure and does not slide.
	add("alice", base, 1)
	add("alice", at(time.Minute), 2)
	add("alice", at(window-time.Microsecond), 3)
	add("bob", at(time.Minute), 1) // keys are separate
	add("alice", at(window), 1)    // a new window
	add("alice", at(window+time.Second), 2)
	add("alice", at(3*window), 1)

	must(t, s.ResetLoginFailures(ctx, "alice"), "ResetLoginFailures")
	add("alice", at(3*window), 1)
	add("bob", at(2*time.Minute), 2)
	must(t, s.ResetLoginFailures(ctx, "nobody"), "ResetLoginFailures of an unknown key")

	// A window that is not positive is refused and counts nothing.
	for _, w := range []time.Duration{0, -time.Minute} {
		if n, err := s.AddLoginFailure(ctx, "bob", at(3*time.Minute), w); err == nil {
			t.Errorf("AddLoginFailure with window %v = %d, nil; want an error", w, n)
		}
		if n, err := s.AddLoginFailure(ctx, "carol", base, w); err == nil {
			t.Errorf("AddLoginFailure of a new key with window %v = %d, nil; want an error", w, n)
		}
	}
	if n, err := s.LoginFailures(ctx, "bob", at(3*time.Minute)); err != nil || n != 2 {
		t.Errorf("LoginFailures(bob) after refused AddLoginFailure calls = %d, %v; want 2", n, err)
	}
	if n, err := s.LoginFailures(ctx, "carol", base); err != nil || n != 0 {
		t.Errorf("LoginFailures(carol) after refused AddLoginFailure calls = %d, %v; want 0", n, err)
	}
}

// testLoginFailuresLookup: LoginFailures reads the count of the current
// window and changes nothing.
func testLoginFailuresLookup(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	const window = 15 * time.Minute
	for i := range 3 {
		_, err := s.AddLoginFailure(ctx, "alice", at(time.Duration(i)*time.Minute), window)
		must(t, err, "AddLoginFailure")
	}
	_, err := s.AddLoginFailure(ctx, "bob", base, window)
	must(t, err, "AddLoginFailure")
	must(t, s.ResetLoginFailures(ctx, "bob"), "ResetLoginFailures")

	for _, tc := range []struct {
		name string
		key  string
		now  time.Time
		want int
	}{
		{"unknown key", "nobody", base, 0},
		{"empty key", "", base, 0},
		{"reset key", "bob", base, 0},
		{"at the window's start", "alice", base, 3},
		{"within the window", "alice", at(5 * time.Minute), 3},
		{"just before the window ends", "alice", at(window - time.Microsecond), 3},
		{"when the window ends", "alice", at(window), 0},
		{"after the window", "alice", at(2 * window), 0},
		{"looked up again within the window", "alice", at(time.Minute), 3}, // the look-ups above changed nothing
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i := range 2 { // a look-up does not count
				n, err := s.LoginFailures(ctx, tc.key, tc.now)
				must(t, err, "LoginFailures")
				if n != tc.want {
					t.Errorf("LoginFailures(%q, base+%v) (call %d) = %d, want %d", tc.key, tc.now.Sub(base), i+1, n, tc.want)
				}
			}
		})
	}

	// Looking up never created a record nor started a window: the next
	// failure of an unknown key is its first, and after an ended window a
	// failure starts a new one.
	for _, tc := range []struct {
		key  string
		now  time.Time
		want int
	}{{"nobody", base, 1}, {"alice", at(time.Minute), 4}, {"alice", at(2 * window), 1}} {
		n, err := s.AddLoginFailure(ctx, tc.key, tc.now, window)
		must(t, err, "AddLoginFailure")
		if n != tc.want {
			t.Errorf("AddLoginFailure(%q, base+%v) after look-ups = %d, want %d", tc.key, tc.now.Sub(base), n, tc.want)
		}
	}
	if n, err := s.LoginFailures(ctx, "alice", at(2*window)); err != nil || n != 1 {
		t.Errorf("LoginFailures(alice) in the new window = %d, %v; want 1", n, err)
	}
}

// testLoginFailuresRace: failures counted at once (on one or several
// instances) are all counted.
func testLoginFailuresRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	var mu sync.Mutex
	var counts []int
	errs := race(Racers, func(int) error {
		n, err := s.AddLoginFailure(ctx, "10.0.0.1", base, time.Hour)
		mu.Lock()
		counts = append(counts, n)
		mu.Unlock()
		return err
	})
	for _, err := range errs {
		must(t, err, "AddLoginFailure")
	}
	slices.Sort(counts)
	want := make([]int, Racers)
	for i := range want {
		want[i] = i + 1
	}
	checkEqual(t, "counts returned to racing AddLoginFailure calls", counts, want)
}

func testDeleteExpiredSessions(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	before := at(time.Hour)
	for i := range 2 {
		must(t, s.CreateLoginSession(ctx, newLoginSession(fmt.Sprint("expired-", i), "u-alice", at(time.Minute))), "CreateLoginSession")
	}
	must(t, s.CreateLoginSession(ctx, newLoginSession("live", "u-alice", at(2*time.Hour))), "CreateLoginSession")
	must(t, s.PutConsent(ctx, storage.Consent{UserID: "u-alice", ClientID: "expired", CreatedAt: base, ExpiresAt: at(time.Minute)}), "PutConsent")
	must(t, s.PutConsent(ctx, storage.Consent{UserID: "u-alice", ClientID: "live", CreatedAt: base, ExpiresAt: at(2 * time.Hour)}), "PutConsent")
	must(t, s.PutConsent(ctx, storage.Consent{UserID: "u-alice", ClientID: "forever", CreatedAt: base}), "PutConsent")
	_, err := s.AddLoginFailure(ctx, "expired", base, time.Minute)
	must(t, err, "AddLoginFailure")
	_, err = s.AddLoginFailure(ctx, "live", base, 2*time.Hour)
	must(t, err, "AddLoginFailure")

	for _, tc := range []struct{ limit, want int }{{0, 0}, {3, 3}, {3, 1}, {3, 0}} {
		n, err := s.DeleteExpiredSessions(ctx, before, tc.limit)
		must(t, err, "DeleteExpiredSessions")
		if n != tc.want {
			t.Errorf("DeleteExpiredSessions(limit %d) = %d, want %d", tc.limit, n, tc.want)
		}
	}
	for i := range 2 {
		_, err := s.GetLoginSession(ctx, fmt.Sprint("expired-", i), base)
		wantErr(t, err, storage.ErrNotFound, "expired login session after DeleteExpiredSessions")
	}
	_, err = s.GetConsent(ctx, "u-alice", "expired", base)
	wantErr(t, err, storage.ErrNotFound, "expired consent after DeleteExpiredSessions")
	_, err = s.GetLoginSession(ctx, "live", base)
	must(t, err, "live login session after DeleteExpiredSessions")
	for _, client := range []string{"live", "forever"} {
		_, err = s.GetConsent(ctx, "u-alice", client, base)
		must(t, err, client+" consent after DeleteExpiredSessions")
	}
	// The expired counter is gone: counting starts again. The live one is kept.
	for _, tc := range []struct {
		key  string
		want int
	}{{"expired", 1}, {"live", 2}} {
		n, err := s.AddLoginFailure(ctx, tc.key, at(30*time.Second), time.Minute)
		must(t, err, "AddLoginFailure")
		if n != tc.want {
			t.Errorf("AddLoginFailure(%q) after DeleteExpiredSessions = %d, want %d", tc.key, n, tc.want)
		}
	}
}
