package webapp

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestAnonymousRequestsWriteNoSession: requests of visitors who are not
// signed in — starting a sign-in, the start page, failed callbacks, unknown
// session cookies, static files, error pages, forms — leave the session
// table empty and write nothing to it, on every database through the store
// the web app runs on. Rows appear only at a completed sign-in: exactly
// two, the session and its token record, and sign-out removes both.
func TestAnonymousRequestsWriteNoSession(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			// Thousands on SQLite; hundreds are enough to see a row per
			// request on the database servers.
			many := 2000
			if b.Name != "sqlite" {
				many = 200
			}
			testAnonymousRequestsWriteNoSession(t, b.DSN(t), many)
		})
	}
}

func testAnonymousRequestsWriteNoSession(t *testing.T, dsn string, many int) {
	ctx := t.Context()
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() }) // after the harness's server, registered later
	sessions := &countingStore{WebSessions: st.WebSessions(0)}
	op := newFakeOP(t)
	h := newHarnessOn(t, op, op.issuer(), sessions)

	// rows counts every row of the sessions table, expired or not, and the
	// token records among them.
	rows := func() (all, tokens int) {
		t.Helper()
		if err := st.DB().QueryRowContext(ctx, "SELECT COUNT(*) FROM sessions").Scan(&all); err != nil {
			t.Fatal(err)
		}
		recs, err := sessions.AllCtx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for k := range recs {
			if strings.HasPrefix(k, tokenKeyPrefix) {
				tokens++
			}
		}
		return all, tokens
	}

	anon := *h.srv.Client() // no cookie jar: every request is a new visitor
	anon.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	send := func(c *http.Client, method, path string, cookie *http.Cookie, wantStatus int) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, h.srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if cookie != nil {
			req.AddCookie(cookie)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != wantStatus {
			t.Fatalf("%s %s = %d, want %d", method, path, res.StatusCode, wantStatus)
		}
	}

	for range many {
		send(&anon, "GET", "/login", nil, http.StatusSeeOther)
	}
	for range many {
		send(&anon, "GET", "/", nil, http.StatusOK)
	}
	// A browser that keeps its cookies and starts over and over, and whose
	// callbacks fail after the state check (the provider refuses the code).
	b := h.newBrowser()
	for range 50 {
		q := h.startLogin(b)
		r := h.do(b, "GET", "/callback?"+url.Values{"code": {"unknown"}, "state": {q.Get("state")}, "iss": {op.issuer()}}.Encode(), nil)
		if r.status != http.StatusBadRequest || errorCode(r.body) != "token_invalid_grant" {
			t.Fatalf("callback with a refused code = %d %q", r.status, errorCode(r.body))
		}
	}
	unknown := &http.Cookie{Name: cookieName, Value: "an-unknown-session-id-aaaaaaaaaaaaaaaaaaaaaa"}
	for range 100 {
		send(&anon, "GET", "/", unknown, http.StatusOK)
		send(&anon, "GET", "/login", unknown, http.StatusSeeOther)
		send(&anon, "GET", "/callback?state=forged&code=x&iss="+url.QueryEscape(op.issuer()), nil, http.StatusBadRequest)
		send(&anon, "GET", "/static/style.css", nil, http.StatusOK)
		send(&anon, "GET", "/no-such-page", unknown, http.StatusNotFound)
		send(&anon, "POST", "/logout", unknown, http.StatusSeeOther)
		send(&anon, "POST", "/todos", nil, http.StatusUnauthorized)
		send(&anon, "GET", "/?page=1000001", unknown, http.StatusOK)
		send(&anon, "GET", "/login?next=%2F%3Fpage%3D2", nil, http.StatusSeeOther)
	}
	if all, _ := rows(); all != 0 {
		t.Fatalf("%d session rows after %d anonymous requests, want 0", all, 2*many+50*2+9*100)
	}
	if n := sessions.writes.Load(); n != 0 {
		t.Fatalf("%d writes to the session store for anonymous requests, want 0", n)
	}

	// The count sees a sign-in: one session and its token record.
	c := h.newBrowser()
	h.signIn(c)
	if all, tokens := rows(); all != 2 || tokens != 1 {
		t.Fatalf("after a sign-in: %d rows, %d token records; want 2 and 1", all, tokens)
	}
	page := h.do(c, "GET", "/", nil) // the API is down: an error page, with the sign-out form
	tok := csrfRE.FindStringSubmatch(page.body)
	if tok == nil {
		t.Fatalf("no sign-out form on %d %q", page.status, errorCode(page.body))
	}
	if r := h.do(c, "POST", "/logout", url.Values{"csrf": {tok[1]}}); r.status != http.StatusSeeOther {
		t.Fatalf("POST /logout = %d", r.status)
	}
	if all, _ := rows(); all != 0 {
		t.Fatalf("%d session rows after sign-out, want 0", all)
	}
}

// countingStore is the web app's SQL session store, counting the writes
// (commits and deletes) made through it.
type countingStore struct {
	*sqlstore.WebSessions
	writes atomic.Int64
}

func (c *countingStore) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	c.writes.Add(1)
	return c.WebSessions.CommitCtx(ctx, token, b, expiry)
}

func (c *countingStore) DeleteCtx(ctx context.Context, token string) error {
	c.writes.Add(1)
	return c.WebSessions.DeleteCtx(ctx, token)
}

func (c *countingStore) Commit(token string, b []byte, expiry time.Time) error {
	c.writes.Add(1)
	return c.WebSessions.Commit(token, b, expiry)
}

func (c *countingStore) Delete(token string) error {
	c.writes.Add(1)
	return c.WebSessions.Delete(token)
}
