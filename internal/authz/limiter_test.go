package authz

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// hashCounter replaces the password verification of the login page: every
// call counts itself as running, records the peak, and waits for a token on
// release before it answers.
type hashCounter struct {
	running, peak, calls atomic.Int32
	release              chan struct{}
}

func (h *hashCounter) enter() {
	h.calls.Add(1)
	n := h.running.Add(1)
	for p := h.peak.Load(); n > p && !h.peak.CompareAndSwap(p, n); p = h.peak.Load() {
	}
	<-h.release
	h.running.Add(-1)
}

func (h *hashCounter) install(p *passwordChecker) {
	p.verify = func(pw, encoded string) (bool, error) { h.enter(); return password.Verify(pw, encoded) }
	p.verifyDummy = func(string) { h.enter() }
}

// waitFor polls cond; the deadline only keeps a broken build from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestLogin_PasswordVerificationsBounded: with a limit of n, no more than n
// password verifications (known users and the dummy for unknown ones) run at
// once, however many sign-ins arrive together, and every sign-in is still
// answered correctly.
func TestLogin_PasswordVerificationsBounded(t *testing.T) {
	e, cs := newCountingEnv(t)
	const limit, users = 2, 6
	h := &hashCounter{release: make(chan struct{})}
	e.srv.passwords.limiter = password.NewLimiter(limit)
	h.install(e.srv.passwords)

	ctx := context.Background()
	ph, err := password.HashWithParams(alicePassword, cheap)
	if err != nil {
		t.Fatal(err)
	}
	type attempt struct {
		c        *http.Client
		form     string
		user     string
		wantCode int
	}
	var attempts []attempt
	for i := range users {
		user := fmt.Sprintf("user%d", i)
		want := http.StatusSeeOther
		if i%2 == 0 {
			now := time.Now().UTC()
			if err := e.store.CreateUser(ctx, storage.User{ID: "u-" + user, Username: user, PasswordHash: ph, CreatedAt: now, UpdatedAt: now}); err != nil {
				t.Fatal(err)
			}
		} else {
			want = http.StatusUnauthorized // unknown: the dummy verification
		}
		c := e.browser()
		_, page := e.get(c, e.ts.URL+"/login")
		attempts = append(attempts, attempt{c: c, form: page, user: user, wantCode: want})
	}
	cs.userReads.Store(0)

	var wg sync.WaitGroup
	for _, a := range attempts {
		wg.Go(func() {
			f := hidden(a.form)
			f.Set("username", a.user)
			f.Set("password", alicePassword)
			c := *a.c
			c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			resp, err := c.PostForm(e.ts.URL+"/login", f)
			if err != nil {
				t.Errorf("%s: %v", a.user, err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != a.wantCode {
				t.Errorf("%s: status %d, want %d", a.user, resp.StatusCode, a.wantCode)
			}
		})
	}
	// Every sign-in has looked its user up and is at the limiter or in a
	// verification; let them through one at a time.
	waitFor(t, "every sign-in to reach password verification", func() bool {
		return cs.userReads.Load() == users && h.running.Load() >= limit
	})
	for range users {
		h.release <- struct{}{}
	}
	wg.Wait()
	if got := h.calls.Load(); got != users {
		t.Fatalf("%d verifications for %d sign-ins", got, users)
	}
	if p := h.peak.Load(); p > limit {
		t.Fatalf("%d verifications ran at once, limit %d", p, limit)
	}
}

// TestLogin_WaitingForVerificationStopsWithRequest: a sign-in waiting for a
// verification slot stops when its request ends, verifies nothing and counts
// no failure; once the slot is free the same sign-in succeeds.
func TestLogin_WaitingForVerificationStopsWithRequest(t *testing.T) {
	e, cs := newCountingEnv(t)
	p := e.srv.pages
	pc := e.srv.passwords
	pc.limiter = password.NewLimiter(1)
	h := &hashCounter{release: make(chan struct{}, 1)}
	h.install(pc)
	h.release <- struct{}{} // the one verification that is let through

	// Hold the only slot.
	held, free := make(chan struct{}), make(chan struct{})
	go func() { _ = pc.limiter.Do(context.Background(), func() { close(held); <-free }) }()
	<-held

	binding := strings.Repeat("b", 43)
	post := func(ctx context.Context) *httptest.ResponseRecorder {
		form := url.Values{"username": {"alice"}, "password": {alicePassword}, "csrf_token": {p.mac(binding, "login")}}
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, e.ts.URL+"/login", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.AddCookie(&http.Cookie{Name: p.csrf, Value: binding})
		w := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(w, r)
		return w
	}

	// The request ends (the browser goes away) once its user is loaded,
	// while it waits for the slot.
	ctx, cancel := context.WithCancel(context.Background())
	cs.onUserRead = cancel
	w := post(ctx)
	cs.onUserRead = nil
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("abandoned sign-in: status %d, want 503", w.Code)
	}
	if got := h.calls.Load(); got != 0 {
		t.Fatalf("%d verifications ran for an abandoned sign-in", got)
	}
	// The attempt was given back: the next one counted is the first.
	if n, err := e.store.AddLoginAttempt(context.Background(), userAttemptKey("alice"), e.srv.now(), time.Minute); err != nil || n != 1 {
		t.Fatalf("attempt counted for an abandoned sign-in: next count %d, %v", n, err)
	}

	close(free)
	if w := post(context.Background()); w.Code != http.StatusSeeOther {
		t.Fatalf("sign-in after the slot is free: status %d, want 303", w.Code)
	}
	if got := h.calls.Load(); got != 1 {
		t.Fatalf("%d verifications, want 1", got)
	}
}
