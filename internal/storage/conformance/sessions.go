package conformance

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

func newLoginSession(id, userID string, expiresAt time.Time) storage.LoginSession {
	return storage.LoginSession{ID: id, UserID: userID, AuthTime: at(-time.Second), AMR: []string{"pwd"},
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
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

// testLoginSessionUserAgent: the User-Agent is kept as the bytes it was,
// up to 255 of them, even cut inside a character; a longer one is refused
// and stores nothing.
func testLoginSessionUserAgent(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	longest := strings.Repeat("Mozilla/5.0 ", 21) + "abc" // 255 bytes
	for _, tc := range []struct {
		name, ua string
	}{
		{"none", ""},
		{"255 bytes", longest},
		{"cut inside a character", "Mozilla/5.0 (Ma\xc3"},
		{"not UTF-8", "Mozilla/5.0 \xff\xfe"},
		{"trailing spaces", "Mozilla/5.0  "},
	} {
		l := newLoginSession("sess-"+tc.name, "u-alice", at(time.Hour))
		l.UserAgent = tc.ua
		must(t, s.CreateLoginSession(ctx, l), "CreateLoginSession with a User-Agent "+tc.name)
		got, err := s.GetLoginSession(ctx, l.ID, base)
		must(t, err, "GetLoginSession")
		checkEqual(t, "session with a User-Agent "+tc.name, got, l)
	}
	tooLong := newLoginSession("sess-too-long", "u-alice", at(time.Hour))
	tooLong.UserAgent = longest + "d"
	if err := s.CreateLoginSession(ctx, tooLong); err == nil {
		t.Error("CreateLoginSession with a User-Agent of 256 bytes succeeded, want an error")
	}
	_, err := s.GetLoginSession(ctx, tooLong.ID, base)
	wantErr(t, err, storage.ErrNotFound, "the session refused for its User-Agent")
}

// testListUserLoginSessions: the user's unexpired sessions, newest first;
// other users' are not listed.
func testListUserLoginSessions(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	session := func(id, user string, created, expires time.Duration) storage.LoginSession {
		l := newLoginSession(id, user, at(expires))
		l.CreatedAt, l.UserAgent = at(created), "agent of "+id
		return l
	}
	// Stored in neither time nor ID order.
	oldest := session("a-2", "u-alice", -3*time.Hour, 2*time.Hour)
	newest := session("a-1", "u-alice", -time.Hour, 2*time.Hour)
	middle := session("a-3", "u-alice", -2*time.Hour, time.Hour)
	for _, l := range []storage.LoginSession{
		middle, newest, oldest,
		session("a-expired", "u-alice", 0, -time.Minute),
		session("a-expiring", "u-alice", 0, 30*time.Minute),
		session("b-1", "u-bob", 0, time.Hour),
	} {
		must(t, s.CreateLoginSession(ctx, l), "CreateLoginSession "+l.ID)
	}
	for _, tc := range []struct {
		name string
		user string
		now  time.Time
		want []storage.LoginSession
	}{
		{"at base", "u-alice", base, []storage.LoginSession{session("a-expiring", "u-alice", 0, 30*time.Minute), newest, middle, oldest}},
		{"at the expiry of one", "u-alice", at(30 * time.Minute), []storage.LoginSession{newest, middle, oldest}},
		{"later", "u-alice", at(90 * time.Minute), []storage.LoginSession{newest, oldest}},
		{"after all expired", "u-alice", at(2 * time.Hour), nil},
		{"of a user without sessions", "u-nobody", base, nil},
	} {
		got, err := s.ListUserLoginSessions(ctx, tc.user, tc.now)
		must(t, err, "ListUserLoginSessions "+tc.name)
		checkEqual(t, "ListUserLoginSessions "+tc.name, got, tc.want)
	}
}

// testDeleteOtherLoginSessions: every session of the user but the one
// kept goes; other users' stay.
func testDeleteOtherLoginSessions(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for _, id := range []string{"a-1", "a-2", "a-3", "b-1"} {
		user := "u-alice"
		if strings.HasPrefix(id, "b-") {
			user = "u-bob"
		}
		must(t, s.CreateLoginSession(ctx, newLoginSession(id, user, at(time.Hour))), "CreateLoginSession")
	}
	// Keeping another user's session keeps nothing of this user's, and
	// does not remove that session.
	must(t, s.DeleteOtherLoginSessions(ctx, "u-alice", "b-1"), "DeleteOtherLoginSessions keeping another user's session")
	checkSessions(t, s, map[string]bool{"a-1": false, "a-2": false, "a-3": false, "b-1": true})

	for _, id := range []string{"a-1", "a-2", "a-3"} {
		must(t, s.CreateLoginSession(ctx, newLoginSession(id, "u-alice", at(time.Hour))), "CreateLoginSession")
	}
	must(t, s.DeleteOtherLoginSessions(ctx, "u-alice", "a-2"), "DeleteOtherLoginSessions")
	checkSessions(t, s, map[string]bool{"a-1": false, "a-2": true, "a-3": false, "b-1": true})
	must(t, s.DeleteOtherLoginSessions(ctx, "u-alice", "a-2"), "DeleteOtherLoginSessions again")
	checkSessions(t, s, map[string]bool{"a-2": true, "b-1": true})
	must(t, s.DeleteOtherLoginSessions(ctx, "u-nobody", "x"), "DeleteOtherLoginSessions of a user without sessions")
	checkSessions(t, s, map[string]bool{"a-2": true, "b-1": true})
}

// checkSessions checks which login sessions (by ID) exist at base.
func checkSessions(t *testing.T, s storage.Store, want map[string]bool) {
	t.Helper()
	for id, exists := range want {
		_, err := s.GetLoginSession(ctxFor(t), id, base)
		switch {
		case exists:
			must(t, err, "GetLoginSession "+id)
		default:
			wantErr(t, err, storage.ErrNotFound, "GetLoginSession "+id)
		}
	}
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

// testListUserConsents: the user's unexpired consent, by client ID;
// other users' is not listed.
func testListUserConsents(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	consent := func(user, client string, expires time.Time) storage.Consent {
		return storage.Consent{UserID: user, ClientID: client, Scopes: []string{"openid", client}, CreatedAt: at(-time.Hour), ExpiresAt: expires}
	}
	webapp := consent("u-alice", "webapp", at(2*time.Hour))
	cli := consent("u-alice", "cli", at(time.Hour))
	forever := consent("u-alice", "forever", time.Time{})
	for _, c := range []storage.Consent{
		webapp, forever, cli,
		consent("u-alice", "api", base), // expired at base
		consent("u-bob", "bobs-app", at(time.Hour)),
	} {
		must(t, s.PutConsent(ctx, c), "PutConsent")
	}
	for _, tc := range []struct {
		name string
		user string
		now  time.Time
		want []storage.Consent
	}{
		{"at base", "u-alice", base, []storage.Consent{cli, forever, webapp}},
		{"at the expiry of one", "u-alice", at(time.Hour), []storage.Consent{forever, webapp}},
		{"after the others expired", "u-alice", at(100 * 365 * 24 * time.Hour), []storage.Consent{forever}},
		{"of a user without consent", "u-nobody", base, nil},
	} {
		got, err := s.ListUserConsents(ctx, tc.user, tc.now)
		must(t, err, "ListUserConsents "+tc.name)
		checkEqual(t, "ListUserConsents "+tc.name, got, tc.want)
	}
}

// addAttempt calls AddLoginAttempt and checks the count it returns.
func addAttempt(t *testing.T, s storage.Store, key string, now time.Time, window time.Duration, want int) {
	t.Helper()
	n, err := s.AddLoginAttempt(ctxFor(t), key, now, window)
	must(t, err, "AddLoginAttempt")
	if n != want {
		t.Errorf("AddLoginAttempt(%q, base+%v) = %d, want %d", key, now.Sub(base), n, want)
	}
}

func testLoginAttempts(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	const window = 15 * time.Minute
	add := func(key string, now time.Time, want int) {
		t.Helper()
		addAttempt(t, s, key, now, window, want)
	}
	// The window starts at the first attempt and does not slide.
	add("alice", base, 1)
	add("alice", at(time.Minute), 2)
	add("alice", at(window-time.Microsecond), 3)
	add("bob", at(time.Minute), 1) // keys are separate
	add("alice", at(window), 1)    // a new window
	add("alice", at(window+time.Second), 2)
	add("alice", at(3*window), 1)

	must(t, s.ResetLoginAttempts(ctx, "alice"), "ResetLoginAttempts")
	add("alice", at(3*window), 1)
	add("bob", at(2*time.Minute), 2)
	must(t, s.ResetLoginAttempts(ctx, "nobody"), "ResetLoginAttempts of an unknown key")

	// A window that is not positive is refused and counts nothing.
	for _, w := range []time.Duration{0, -time.Minute} {
		if n, err := s.AddLoginAttempt(ctx, "bob", at(3*time.Minute), w); err == nil {
			t.Errorf("AddLoginAttempt with window %v = %d, nil; want an error", w, n)
		}
		if n, err := s.AddLoginAttempt(ctx, "carol", base, w); err == nil {
			t.Errorf("AddLoginAttempt of a new key with window %v = %d, nil; want an error", w, n)
		}
	}
	add("bob", at(3*time.Minute), 3)
	add("carol", base, 1)
}

// testLoginAttemptsRace: attempts made at once (on one or several
// instances) are all counted, and each gets its own count.
func testLoginAttemptsRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	counts := make([]int, Racers)
	errs := race(Racers, func(i int) error {
		var err error
		counts[i], err = s.AddLoginAttempt(ctx, "10.0.0.1", base, time.Hour)
		return err
	})
	for _, err := range errs {
		must(t, err, "AddLoginAttempt")
	}
	slices.Sort(counts)
	want := make([]int, Racers)
	for i := range want {
		want[i] = i + 1
	}
	checkEqual(t, "counts returned to racing AddLoginAttempt calls", counts, want)
}

// testReleaseLoginAttempt: a released attempt no longer counts; the count
// never goes below zero, and releasing what was never reserved is not an
// error and reserves nothing.
func testReleaseLoginAttempt(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	const window = 15 * time.Minute
	for i := range 3 {
		addAttempt(t, s, "alice", at(time.Duration(i)*time.Second), window, i+1)
	}
	must(t, s.ReleaseLoginAttempt(ctx, "alice", at(time.Minute)), "ReleaseLoginAttempt")
	addAttempt(t, s, "alice", at(2*time.Minute), window, 3) // 3 - 1 + 1

	for i := range 5 { // more than were reserved
		must(t, s.ReleaseLoginAttempt(ctx, "alice", at(3*time.Minute)), fmt.Sprint("ReleaseLoginAttempt ", i+1))
	}
	addAttempt(t, s, "alice", at(4*time.Minute), window, 1)
	addAttempt(t, s, "alice", at(5*time.Minute), window, 2)

	// Unknown keys, reset keys and ended windows.
	must(t, s.ReleaseLoginAttempt(ctx, "nobody", base), "ReleaseLoginAttempt of an unknown key")
	addAttempt(t, s, "nobody", base, window, 1)
	addAttempt(t, s, "bob", base, window, 1)
	must(t, s.ResetLoginAttempts(ctx, "bob"), "ResetLoginAttempts")
	must(t, s.ReleaseLoginAttempt(ctx, "bob", base), "ReleaseLoginAttempt of a reset key")
	addAttempt(t, s, "bob", base, window, 1)
	must(t, s.ReleaseLoginAttempt(ctx, "alice", at(window)), "ReleaseLoginAttempt after the window ended")
	addAttempt(t, s, "alice", at(window), window, 1) // a new window
}

// testReleaseLoginAttemptRace: releases racing each other, more than were
// reserved, leave the count at zero, not below.
func testReleaseLoginAttemptRace(t *testing.T, s storage.Store) {
	ctx := ctxFor(t)
	for i := range Racers {
		addAttempt(t, s, "10.0.0.1", base, time.Hour, i+1)
	}
	for _, err := range race(2*Racers, func(int) error { return s.ReleaseLoginAttempt(ctx, "10.0.0.1", at(time.Second)) }) {
		must(t, err, "ReleaseLoginAttempt")
	}
	addAttempt(t, s, "10.0.0.1", at(time.Minute), time.Hour, 1)
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
	addAttempt(t, s, "expired", base, time.Minute, 1)
	addAttempt(t, s, "live", base, 2*time.Hour, 1)

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
	_, err := s.GetConsent(ctx, "u-alice", "expired", base)
	wantErr(t, err, storage.ErrNotFound, "expired consent after DeleteExpiredSessions")
	_, err = s.GetLoginSession(ctx, "live", base)
	must(t, err, "live login session after DeleteExpiredSessions")
	for _, client := range []string{"live", "forever"} {
		_, err = s.GetConsent(ctx, "u-alice", client, base)
		must(t, err, client+" consent after DeleteExpiredSessions")
	}
	// The expired counter is gone: counting starts again. The live one is kept.
	addAttempt(t, s, "expired", at(30*time.Second), time.Minute, 1)
	addAttempt(t, s, "live", at(30*time.Second), time.Minute, 2)
}
