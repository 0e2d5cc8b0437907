package authz

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// older are parameters the server no longer keeps hashes under.
var older = password.Params{Memory: 32, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// addUser stores a user whose password is hashed under p.
func (e *env) addUser(name, pw string, p password.Params) storage.User {
	e.t.Helper()
	h, err := password.HashWithParams(pw, p)
	if err != nil {
		e.t.Fatal(err)
	}
	now := time.Now().UTC()
	u := storage.User{ID: "u-" + name, Username: name, PasswordHash: h, CreatedAt: now, UpdatedAt: now}
	if err := e.store.CreateUser(context.Background(), u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

// loginForm opens the login page with no pending request in a new browser
// that does not follow the answer's redirect.
func (e *env) loginForm() (*http.Client, string) {
	e.t.Helper()
	c := e.browser()
	_, page := e.get(c, e.ts.URL+"/login")
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c, page
}

// signIn submits the login form and returns the status: 303 signed in.
func (e *env) signIn(user, pw string) int {
	e.t.Helper()
	c, page := e.loginForm()
	resp, _ := e.login(c, page, user, pw)
	return resp.StatusCode
}

func (e *env) storedHash(id string) string {
	e.t.Helper()
	u, err := e.store.GetUser(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.PasswordHash
}

// TestLogin_Rehash: a sign-in with the right password replaces a hash made
// under other parameters by one under the server's, which still verifies;
// a wrong password, a hash already under the server's parameters, or a
// failing store change nothing, and a failing store does not refuse the
// sign-in.
func TestLogin_Rehash(t *testing.T) {
	for _, tc := range []struct {
		name       string
		params     password.Params
		pw         string
		failStore  bool
		wantStatus int
		wantNew    bool
	}{
		{"older parameters", older, alicePassword, false, http.StatusSeeOther, true},
		{"wrong password", older, "not-" + alicePassword, false, http.StatusUnauthorized, false},
		{"current parameters", cheap, alicePassword, false, http.StatusSeeOther, false},
		{"store fails", older, alicePassword, true, http.StatusSeeOther, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var fs *failingRehash
			e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
				fs = &failingRehash{Store: c.Store, fail: tc.failStore}
				c.Store = fs
			})
			u := e.addUser("carol", alicePassword, tc.params)
			if st := e.signIn("carol", tc.pw); st != tc.wantStatus {
				t.Fatalf("sign-in: %d, want %d", st, tc.wantStatus)
			}
			got := e.storedHash(u.ID)
			if (got != u.PasswordHash) != tc.wantNew {
				t.Fatalf("hash replaced = %v, want %v", got != u.PasswordHash, tc.wantNew)
			}
			if p, err := password.ParseParams(got); err != nil || (tc.wantNew && p != cheap) {
				t.Fatalf("stored hash's parameters = %+v, %v; want %+v", p, err, cheap)
			}
			if ok, err := password.Verify(alicePassword, got); !ok || err != nil {
				t.Fatalf("the stored hash does not verify the password: %v %v", ok, err)
			}
			if got := strings.Count(e.logs.String(), `"event":"password_rehashed"`); got != btoi(tc.wantNew) {
				t.Fatalf("%d password_rehashed events, want %d", got, btoi(tc.wantNew))
			}
			if tc.failStore && !strings.Contains(e.logs.String(), "rehashing a password") {
				t.Fatal("the failed rehash is not logged")
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// failingRehash fails every RehashUserPassword when fail is set.
type failingRehash struct {
	storage.Store
	fail bool
}

func (s *failingRehash) RehashUserPassword(ctx context.Context, id, oldHash, newHash string, now time.Time) (bool, error) {
	if s.fail {
		return false, errInjected
	}
	return s.Store.RehashUserPassword(ctx, id, oldHash, newHash, now)
}

// TestLogin_RehashKeepsANewerPassword: a password set (an administrator's
// reset) between a sign-in's verification and its rehash stays: the old
// password does not come back, and the sign-in it was checked for starts
// no session (the password changed before it finished).
func TestLogin_RehashKeepsANewerPassword(t *testing.T) {
	e := newEnv(t)
	u := e.addUser("carol", alicePassword, older)
	reset, err := password.HashWithParams("a brand new passphrase", cheap)
	if err != nil {
		t.Fatal(err)
	}
	hash := e.srv.passwords.hash
	e.srv.passwords.hash = func(pw string) (string, error) {
		if err := e.store.SetUserPassword(context.Background(), u.ID, reset, time.Now().UTC()); err != nil {
			t.Error(err)
		}
		return hash(pw)
	}
	if st := e.signIn("carol", alicePassword); st != http.StatusBadRequest {
		t.Fatalf("sign-in across the reset: %d, want 400", st)
	}
	if n := e.sessionCount(u.ID); n != 0 {
		t.Fatalf("%d sessions from the old password", n)
	}
	if got := e.storedHash(u.ID); got != reset {
		t.Fatalf("stored hash = %s, want the reset's %s", got, reset)
	}
	if st := e.signIn("carol", alicePassword); st != http.StatusUnauthorized {
		t.Fatalf("the old password after the reset: %d, want 401", st)
	}
}

// TestLogin_RehashConcurrent: sign-ins arriving together with a hash under
// older parameters all succeed, and the hash is replaced once.
func TestLogin_RehashConcurrent(t *testing.T) {
	// Lockout counts each attempt until it succeeds: room for them all.
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { c.Lockout.UserLimit = 50 })
	u := e.addUser("carol", alicePassword, older)
	const n = 8
	type form struct {
		c    *http.Client
		page string
	}
	forms := make([]form, n)
	for i := range forms {
		c, page := e.loginForm()
		forms[i] = form{c, page}
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, f := range forms {
		wg.Go(func() {
			<-start
			resp, _ := e.login(f.c, f.page, "carol", alicePassword)
			statuses[i] = resp.StatusCode
		})
	}
	close(start)
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusSeeOther {
			t.Errorf("sign-in %d: %d", i, st)
		}
	}
	got := e.storedHash(u.ID)
	if p, err := password.ParseParams(got); err != nil || p != cheap {
		t.Fatalf("stored hash's parameters = %+v, %v; want %+v", p, err, cheap)
	}
	if n := strings.Count(e.logs.String(), `"event":"password_rehashed"`); n != 1 {
		t.Fatalf("%d password_rehashed events, want 1", n)
	}
}
