package webapp

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// setCookie returns the cookie named name that r sets, or nil.
func setCookie(r resp, name string) *http.Cookie {
	for _, line := range r.header.Values("Set-Cookie") {
		if c, err := http.ParseSetCookie(line); err == nil && c.Name == name {
			return c
		}
	}
	return nil
}

// clearsPending reports whether r tells the browser to drop the pending
// sign-in cookie, with the attributes the __Host- prefix requires.
func clearsPending(r resp) bool {
	c := setCookie(r, pendingCookieName)
	return c != nil && c.Value == "" && c.MaxAge < 0 && c.Path == "/" && c.Secure
}

// jarCookie returns the value of the cookie named name in c's jar.
func (h *harness) jarCookie(c *http.Client, name string) string {
	u, _ := url.Parse(h.srv.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// putJarCookie stores a cookie in c's jar as the web app would have set it.
func (h *harness) putJarCookie(c *http.Client, name, value string) {
	u, _ := url.Parse(h.srv.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/", Secure: true, HttpOnly: true}})
}

func newTestPendingCookies(t *testing.T, name string) *pendingCookies {
	t.Helper()
	key, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	pc, err := newPendingCookies(key.Derive("webapp/signin-cookie", 32), name, true)
	if err != nil {
		t.Fatal(err)
	}
	return pc
}

// TestPendingCookieOpen: only a value this web app sealed, for this cookie,
// unexpired and of bounded size, opens.
func TestPendingCookieOpen(t *testing.T) {
	now := time.Now()
	pc := newTestPendingCookies(t, pendingCookieName)
	good := pendingSignIn{State: "st", Nonce: "no", Verifier: "ve", Return: "/?page=2", Expires: now.Add(pendingTTL).Unix()}
	mustSeal := func(pc *pendingCookies, p pendingSignIn) string {
		t.Helper()
		v, err := pc.sealOnce(p)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	valid := mustSeal(pc, good)
	flip := func(v string, i int) string {
		c := byte('A')
		if v[i] == 'A' {
			c = 'B'
		}
		return v[:i] + string(c) + v[i+1:]
	}
	expired := good
	expired.Expires = now.Unix()
	noState := good
	noState.State = ""
	huge := good
	huge.Return = "/" + strings.Repeat("a", maxPendingCookie)

	tests := []struct {
		name  string
		value string
		want  error
	}{
		{"valid", valid, nil},
		{"empty", "", errPendingMissing},
		{"tampered ciphertext", flip(valid, len(valid)/2), errPendingInvalid},
		{"tampered nonce", flip(valid, 3), errPendingInvalid},
		{"truncated", valid[:len(valid)-4], errPendingInvalid},
		{"too short", valid[:20], errPendingInvalid},
		{"not base64", "!!" + valid[2:], errPendingInvalid},
		{"another server secret", mustSeal(newTestPendingCookies(t, pendingCookieName), good), errPendingInvalid},
		{"sealed for another cookie name", mustSeal(&pendingCookies{aead: pc.aead, name: insecurePendingCookieName}, good), errPendingInvalid},
		{"expired", mustSeal(pc, expired), errPendingExpired},
		{"no state", mustSeal(pc, noState), errPendingInvalid},
		{"larger than the bound", mustSeal(pc, huge), errPendingInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pc.open(tc.value, now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("open = %v, want %v", err, tc.want)
			}
			if tc.want == nil && got != good {
				t.Fatalf("open = %+v, want %+v", got, good)
			}
		})
	}

	t.Run("seal bounds the size", func(t *testing.T) {
		long := good
		long.Return = "/" + strings.Repeat("a", maxReturnPath-1)
		v, err := pc.seal(long)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := pc.open(v, now); err != nil || p.Return != long.Return {
			t.Fatalf("a %d-byte return path: %v, return %q", maxReturnPath, err, p.Return)
		}
		v, err = pc.seal(huge)
		if err != nil {
			t.Fatal(err)
		}
		if len(v) > maxPendingCookie {
			t.Fatalf("sealed %d bytes, bound %d", len(v), maxPendingCookie)
		}
		if p, err := pc.open(v, now); err != nil || p.Return != "/" {
			t.Fatalf("an oversized return path: %v, return %q; want it replaced by /", err, p.Return)
		}
	})
}

func TestSafeReturn(t *testing.T) {
	tests := []struct{ next, want string }{
		{"", "/"},
		{"/", "/"},
		{"/?page=2", "/?page=2"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"}, // a path on this host
		{"//evil.example", "/"},
		{"///evil.example", "/"},
		{"/\\evil.example", "/"},
		{"\\\\evil.example", "/"},
		{"https://evil.example/", "/"},
		{"evil.example", "/"},
		{"javascript:alert(1)", "/"},
		{"/\t/evil.example", "/"},
		{"/x\r\nSet-Cookie: a=b", "/"},
		{"/caf\u00e9", "/"},
		{"/a b", "/"},
		{"/login?next=/", "/"},
		{"/callback?code=x", "/"},
		{"/" + strings.Repeat("a", maxReturnPath), "/"},
	}
	for _, tc := range tests {
		if got := safeReturn(tc.next); got != tc.want {
			t.Errorf("safeReturn(%q) = %q, want %q", tc.next, got, tc.want)
		}
	}
}

// TestPendingSignIn drives the pending sign-in cookie through the web app:
// its attributes, the return path, and the refusals of a tampered, expired
// or replayed cookie.
func TestPendingSignIn(t *testing.T) {
	op := newFakeOP(t)
	h := newHarness(t, op, op.issuer())
	callback := func(q url.Values, code string) string {
		return "/callback?" + url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {op.issuer()}}.Encode()
	}
	login := func(c *http.Client, path string) (resp, url.Values, string) {
		t.Helper()
		r := h.do(c, "GET", path, nil)
		if r.status != http.StatusSeeOther {
			t.Fatalf("GET %s = %d → %q", path, r.status, r.location)
		}
		q := h.authParams(r.location)
		return r, q, op.issueCode(q.Get("nonce"), q.Get("code_challenge"))
	}
	signedIn := func(c *http.Client) bool {
		return !strings.Contains(h.do(c, "GET", "/", nil).body, `id="signed-out"`)
	}

	t.Run("cookie attributes", func(t *testing.T) {
		r, _, _ := login(h.newBrowser(), "/login")
		ck := setCookie(r, pendingCookieName)
		if ck == nil {
			t.Fatalf("GET /login sets no %s cookie: %q", pendingCookieName, r.header.Values("Set-Cookie"))
		}
		if !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Domain != "" ||
			ck.MaxAge != int(pendingTTL/time.Second) || len(ck.Value) > maxPendingCookie {
			t.Errorf("pending sign-in cookie %q: want HttpOnly, Secure, SameSite=Lax, Path=/, no Domain, Max-Age=600, bounded", ck.String())
		}
		if setCookie(r, cookieName) != nil {
			t.Error("GET /login sets a session cookie")
		}
	})

	t.Run("return path", func(t *testing.T) {
		for next, want := range map[string]string{
			"/?page=2":              "/?page=2",
			"https://evil.example/": "/",
			"//evil.example/":       "/",
			"/\\evil.example":       "/",
		} {
			c := h.newBrowser()
			_, q, code := login(c, "/login?"+url.Values{"next": {next}}.Encode())
			r := h.do(c, "GET", callback(q, code), nil)
			if r.status != http.StatusSeeOther || r.location != want {
				t.Errorf("next=%q: callback = %d → %q, want 303 → %q", next, r.status, r.location, want)
			}
			if !clearsPending(r) {
				t.Errorf("next=%q: the callback does not clear the pending sign-in cookie", next)
			}
			// Signed in, /login goes straight to the return path.
			if r := h.do(c, "GET", "/login?"+url.Values{"next": {next}}.Encode(), nil); r.location != want {
				t.Errorf("next=%q, signed in: /login → %q, want %q", next, r.location, want)
			}
		}
	})

	t.Run("tampered cookie", func(t *testing.T) {
		c := h.newBrowser()
		_, q, code := login(c, "/login")
		v := h.jarCookie(c, pendingCookieName)
		i := len(v) / 2
		b := byte('A')
		if v[i] == 'A' {
			b = 'B'
		}
		h.putJarCookie(c, pendingCookieName, v[:i]+string(b)+v[i+1:])
		r := h.do(c, "GET", callback(q, code), nil)
		if r.status != http.StatusBadRequest || errorCode(r.body) != "state_mismatch" || !clearsPending(r) {
			t.Fatalf("callback = %d %q, want 400 state_mismatch clearing the cookie", r.status, errorCode(r.body))
		}
		if signedIn(c) {
			t.Error("signed in with a tampered cookie")
		}
	})

	t.Run("expired cookie", func(t *testing.T) {
		c := h.newBrowser()
		_, q, code := login(c, "/login")
		// The browser still sends it (its clock disagrees, or it was
		// copied): the sealed expiry decides.
		h.app.now = func() time.Time { return time.Now().Add(pendingTTL + time.Second) }
		defer func() { h.app.now = time.Now }()
		r := h.do(c, "GET", callback(q, code), nil)
		if r.status != http.StatusBadRequest || errorCode(r.body) != "state_mismatch" {
			t.Fatalf("callback = %d %q, want 400 state_mismatch", r.status, errorCode(r.body))
		}
		if signedIn(c) {
			t.Error("signed in with an expired cookie")
		}
	})

	t.Run("replayed callback", func(t *testing.T) {
		c := h.newBrowser()
		_, q, code := login(c, "/login")
		copied := h.jarCookie(c, pendingCookieName)
		if r := h.do(c, "GET", callback(q, code), nil); r.status != http.StatusSeeOther {
			t.Fatalf("first callback = %d %q", r.status, errorCode(r.body))
		}
		// The same browser: the cookie is gone.
		if r := h.do(c, "GET", callback(q, code), nil); r.status != http.StatusBadRequest || errorCode(r.body) != "state_mismatch" {
			t.Fatalf("replayed callback = %d %q, want 400 state_mismatch", r.status, errorCode(r.body))
		}
		// Another browser with a copy of the cookie: the code is spent.
		other := h.newBrowser()
		h.putJarCookie(other, pendingCookieName, copied)
		r := h.do(other, "GET", callback(q, code), nil)
		if r.status != http.StatusBadRequest || errorCode(r.body) != "token_invalid_grant" || !clearsPending(r) {
			t.Fatalf("callback replayed with a copied cookie = %d %q, want 400 token_invalid_grant", r.status, errorCode(r.body))
		}
		if signedIn(other) {
			t.Error("a replayed callback signed a browser in")
		}
	})

	// One pending sign-in per browser: the newest /login replaces the
	// cookie, and the first callback to arrive consumes it.
	t.Run("several tabs", func(t *testing.T) {
		c := h.newBrowser()
		_, q1, code1 := login(c, "/login")
		_, q2, code2 := login(c, "/login")
		if r := h.do(c, "GET", callback(q2, code2), nil); r.status != http.StatusSeeOther {
			t.Fatalf("newest tab's callback = %d %q, want 303", r.status, errorCode(r.body))
		}
		if r := h.do(c, "GET", callback(q1, code1), nil); r.status != http.StatusBadRequest || errorCode(r.body) != "state_mismatch" {
			t.Fatalf("older tab's callback = %d %q, want 400 state_mismatch", r.status, errorCode(r.body))
		}
		if !signedIn(c) {
			t.Error("the older tab's refused callback signed the browser out")
		}

		c = h.newBrowser()
		_, q1, code1 = login(c, "/login")
		_, q2, code2 = login(c, "/login")
		if r := h.do(c, "GET", callback(q1, code1), nil); r.status != http.StatusBadRequest || errorCode(r.body) != "state_mismatch" {
			t.Fatalf("older tab's callback first = %d %q, want 400 state_mismatch", r.status, errorCode(r.body))
		}
		if r := h.do(c, "GET", callback(q2, code2), nil); r.status != http.StatusBadRequest || errorCode(r.body) != "state_mismatch" {
			t.Fatalf("newest tab's callback after it = %d %q, want 400 state_mismatch (the pending sign-in was consumed)", r.status, errorCode(r.body))
		}
		login(c, "/login") // starting again works
	})

	// The session starts at the callback, fresh and under a new ID: a
	// session planted in the browser beforehand is neither kept nor carried
	// over (session fixation, RFC 9700 §4.7 / OWASP).
	t.Run("session fixation", func(t *testing.T) {
		ctx := t.Context()
		planted, err := h.app.sessions.Load(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		h.app.sessions.Put(planted, "planted", "by the attacker")
		plantedID, _, err := h.app.sessions.Commit(planted)
		if err != nil {
			t.Fatal(err)
		}
		victim := h.newBrowser()
		h.putJarCookie(victim, cookieName, plantedID)
		_, q, code := login(victim, "/login")
		if r := h.do(victim, "GET", callback(q, code), nil); r.status != http.StatusSeeOther {
			t.Fatalf("callback = %d %q", r.status, errorCode(r.body))
		}
		got := sessionCookie(t, victim, h.srv.URL)
		if got == "" || got == plantedID {
			t.Fatalf("victim's session ID %q, planted %q: want a new one", got, plantedID)
		}
		if _, found, err := h.app.tokens.store.Find(plantedID); err != nil || found {
			t.Errorf("planted session still stored (found=%v, %v)", found, err)
		}
		sctx, err := h.app.sessions.Load(ctx, got)
		if err != nil {
			t.Fatal(err)
		}
		if h.app.sessions.Exists(sctx, "planted") {
			t.Error("the planted session's data was carried into the new session")
		}
		if h.app.sessions.GetString(sctx, keyGrant) == "" {
			t.Error("the new session is not signed in")
		}
	})
}
