package authz

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Tests of the account page (account.go).

// accountPage signs user in at the account page in a new browser and
// returns the browser and the page.
func (e *env) accountPage(user string) (*http.Client, string) {
	e.t.Helper()
	c := e.browser()
	resp, page := e.signInAtAccount(c, user)
	if !at(resp, http.StatusOK, "/account") {
		e.t.Fatalf("signing %s in at the account page: %d at %s", user, resp.StatusCode, resp.Request.URL)
	}
	return c, page
}

// accountPost posts a form of the account page (its CSRF token and
// fields) to path.
func (e *env) accountPost(c *http.Client, page, path string, fields url.Values) (*http.Response, string) {
	e.t.Helper()
	f := url.Values{"csrf_token": {hidden(page).Get("csrf_token")}}
	for k, vs := range fields {
		f[k] = vs
	}
	return e.post(c, e.ts.URL+path, f)
}

// atAccount reports whether resp is the account page, with this ?done=
// notice ("" for none).
func atAccount(resp *http.Response, done string) bool {
	return at(resp, http.StatusOK, "/account") && resp.Request.URL.Query().Get("done") == done
}

// atReauth reports whether resp is the login page that comes back to the
// account page.
func atReauth(resp *http.Response) bool {
	return at(resp, http.StatusOK, "/login") && resp.Request.URL.RawQuery == "return=account"
}

// signedIn reports whether browser c has a session the account page
// takes.
func (e *env) signedIn(c *http.Client) bool {
	e.t.Helper()
	resp, _ := e.get(c, e.ts.URL+"/account")
	return at(resp, http.StatusOK, "/account")
}

// sessionOf is the ID of browser c's login session.
func (e *env) sessionOf(c *http.Client) string {
	e.t.Helper()
	u, _ := url.Parse(e.ts.URL)
	for _, k := range c.Jar.Cookies(u) {
		if k.Name == e.srv.pages.session {
			return secret.HashToken(k.Value)
		}
	}
	e.t.Fatal("the browser has no session cookie")
	return ""
}

// offlineTokens runs a flow for the client in c (signed in, consenting if
// asked) and returns tokens with a refresh token.
func (e *env) offlineTokens(c *http.Client, clientID, sec, redirect, scope string) tokenResp {
	e.t.Helper()
	v, ch := pkce()
	q := e.authorizeCode(c, authParams(clientID, redirect, ch, scope))
	st, tr := e.exchange(clientID, sec, q.Get("code"), redirect, v)
	if st != http.StatusOK || tr.RefreshToken == "" {
		e.t.Fatalf("%s tokens: %d %s (refresh token %t)", clientID, st, tr.Error, tr.RefreshToken != "")
	}
	return tr
}

// TestAccount_FormsNeedCSRF: every form of the account page is refused
// without its token, or with a token of another form.
func TestAccount_FormsNeedCSRF(t *testing.T) {
	e := newEnv(t)
	c, page := e.accountPage("alice")
	_, login := e.get(c, e.ts.URL+"/login")
	for _, path := range []string{
		"/account/password", "/account/totp", "/account/totp/delete", "/account/recovery-codes",
		"/account/passkeys/delete", "/account/sessions/end", "/account/apps/revoke",
	} {
		for name, tok := range map[string]string{"no token": "", "the login form's token": hidden(login).Get("csrf_token")} {
			f := url.Values{
				"csrf_token": {tok}, "new_password": {"a brand new password"}, "confirm_password": {"a brand new password"},
				"id": {e.sessionOf(c)}, "client_id": {"gatehouse-webapp"},
			}
			if resp, _ := e.post(c, e.ts.URL+path, f); resp.StatusCode != http.StatusForbidden {
				t.Errorf("POST %s with %s: %d, want 403", path, name, resp.StatusCode)
			}
		}
	}
	if !e.signedIn(c) {
		t.Error("a refused form signed the browser out")
	}
	if resp, _ := e.accountPost(c, page, "/account/password", url.Values{"new_password": {"x"}}); resp.StatusCode == http.StatusForbidden {
		t.Error("the page's own token is refused")
	}
}

// TestAccount_CredentialChangesNeedRecentSignIn: changing how one signs
// in needs a sign-in of the last reauthWindow; an older one is sent to
// sign in again, and comes back to the account page.
func TestAccount_CredentialChangesNeedRecentSignIn(t *testing.T) {
	e := newEnv(t)
	b32, _ := e.aliceWithTOTP(e.browser())
	ctx := context.Background()
	hash := e.storedHash("u-alice")
	codes, err := e.store.CountRecoveryCodes(ctx, "u-alice")
	if err != nil {
		t.Fatal(err)
	}
	c := e.browser()
	p, _ := webappParams()
	if resp, _ := e.submitFactor(c, e.factorStep(c, p), "totp", e.totpCode(b32)); !isCode(resp) {
		t.Fatalf("signing in: %d", resp.StatusCode)
	}
	_, page := e.get(c, e.ts.URL+"/account")
	e.clock.Add(reauthWindow + time.Minute)
	for _, tc := range []struct {
		path   string
		fields url.Values
	}{
		{"/account/password", url.Values{"new_password": {"a brand new password"}, "confirm_password": {"a brand new password"}}},
		{"/account/totp/delete", nil},
		{"/account/recovery-codes", nil},
	} {
		if resp, _ := e.accountPost(c, page, tc.path, tc.fields); !atReauth(resp) {
			t.Errorf("POST %s after %v: %d at %s, want /login?return=account", tc.path, reauthWindow+time.Minute, resp.StatusCode, resp.Request.URL)
		}
	}
	if e.storedHash("u-alice") != hash {
		t.Error("an old sign-in changed the password")
	}
	if _, err := e.store.GetTOTP(ctx, "u-alice"); err != nil {
		t.Errorf("an old sign-in removed the authenticator: %v", err)
	}
	if n, _ := e.store.CountRecoveryCodes(ctx, "u-alice"); n != codes {
		t.Errorf("%d recovery codes, want %d", n, codes)
	}
	// The old session still shows the page, and signing in again comes
	// back to it.
	if !e.signedIn(c) {
		t.Fatal("the old session lost the account page")
	}
	_, login := e.get(c, e.ts.URL+"/login?return=account")
	resp, page := e.login(c, login, "alice", alicePassword)
	if !at(resp, http.StatusOK, "/login/factor") {
		t.Fatalf("signing in again: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	if resp, _ = e.submitFactor(c, page, "totp", e.totpCode(b32)); !atAccount(resp, "") {
		t.Fatalf("after the second factor: %d at %s, want the account page", resp.StatusCode, resp.Request.URL)
	}
}

// TestAccount_ChangePassword: a new password needs a recent sign-in and
// passes the policy; once set it signs out every other session and ends
// every application's access, and the old password stops working.
func TestAccount_ChangePassword(t *testing.T) {
	const newPassword = "a brand new password"
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	a, page := e.accountPage("alice")
	b, _ := e.accountPage("alice")
	tr := e.offlineTokens(a, "gatehouse-webapp", webappSecret, webappRedir, "openid offline_access todos:read")
	hash := e.storedHash("u-alice")

	for _, tc := range []struct {
		name                  string
		current, new, confirm string
		want                  int
		wantReauth            bool
		clockForward          time.Duration
	}{
		{name: "current password wrong", current: "not the password", new: newPassword, confirm: newPassword, want: http.StatusUnprocessableEntity},
		{name: "current password missing", new: newPassword, confirm: newPassword, want: http.StatusUnprocessableEntity},
		{name: "confirmation differs", current: alicePassword, new: newPassword, confirm: newPassword + "!", want: http.StatusUnprocessableEntity},
		{name: "too short", current: alicePassword, new: "short", confirm: "short", want: http.StatusUnprocessableEntity},
		{name: "sign-in too old", current: alicePassword, new: newPassword, confirm: newPassword, want: http.StatusOK, wantReauth: true, clockForward: reauthWindow + time.Minute},
	} {
		e.clock.Add(tc.clockForward)
		resp, _ := e.accountPost(a, page, "/account/password", url.Values{"current_password": {tc.current}, "new_password": {tc.new}, "confirm_password": {tc.confirm}})
		if resp.StatusCode != tc.want || atReauth(resp) != tc.wantReauth {
			t.Errorf("%s: %d at %s, want %d (sent to sign in again: %t)", tc.name, resp.StatusCode, resp.Request.URL, tc.want, tc.wantReauth)
		}
		if e.storedHash("u-alice") != hash {
			t.Fatalf("%s: the password changed", tc.name)
		}
	}

	a, page = e.accountPage("alice")
	resp, _ := e.accountPost(a, page, "/account/password", url.Values{"current_password": {alicePassword}, "new_password": {newPassword}, "confirm_password": {newPassword}})
	if !atAccount(resp, "password") {
		t.Fatalf("changing the password: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	e.wantEvent("password_changed")
	if !e.signedIn(a) {
		t.Error("the browser that changed the password was signed out")
	}
	if e.signedIn(b) {
		t.Error("another session survived the password change")
	}
	if st, _ := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken); st != http.StatusBadRequest {
		t.Errorf("a refresh token from before the change: %d, want 400", st)
	}
	if st := e.loginAs("alice", alicePassword); st != http.StatusUnauthorized {
		t.Errorf("the old password: %d, want 401", st)
	}
	if st := e.signIn("alice", newPassword); st != http.StatusSeeOther {
		t.Errorf("the new password: %d, want 303", st)
	}
}

// TestAccount_Sessions: the page lists the person's sessions and signs
// out the one asked; an ID of someone else's session does nothing.
func TestAccount_Sessions(t *testing.T) {
	e := newEnv(t)
	a, _ := e.accountPage("alice")
	b, _ := e.accountPage("alice")
	bob, _ := e.accountPage("bob")
	bobs, err := e.store.ListUserLoginSessions(context.Background(), "u-bob", e.clock.Now())
	if err != nil || len(bobs) != 1 {
		t.Fatalf("bob's sessions: %v %v", bobs, err)
	}

	_, page := e.get(a, e.ts.URL+"/account")
	for name, id := range map[string]string{"this": e.sessionOf(a), "the other": e.sessionOf(b)} {
		if !strings.Contains(page, `name="id" value="`+id+`"`) {
			t.Errorf("the page does not list %s session", name)
		}
	}
	if strings.Contains(page, bobs[0].ID) {
		t.Error("the page lists bob's session")
	}

	if resp, _ := e.accountPost(a, page, "/account/sessions/end", url.Values{"id": {bobs[0].ID}}); !atAccount(resp, "") {
		t.Errorf("ending bob's session: %d at %s, want the account page without a notice", resp.StatusCode, resp.Request.URL)
	}
	if !e.signedIn(bob) {
		t.Error("alice signed bob out")
	}

	if resp, _ := e.accountPost(a, page, "/account/sessions/end", url.Values{"id": {e.sessionOf(b)}}); !atAccount(resp, "session-ended") {
		t.Errorf("ending the other session: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	e.wantEvent("session_ended")
	if e.signedIn(b) {
		t.Error("the other session survived")
	}
	if !e.signedIn(a) {
		t.Error("ending the other session ended this one")
	}

	if resp, _ := e.accountPost(a, page, "/account/sessions/end", url.Values{"id": {e.sessionOf(a)}}); !at(resp, http.StatusOK, "/signed-out") {
		t.Errorf("ending this session: %d at %s, want /signed-out", resp.StatusCode, resp.Request.URL)
	}
	if e.signedIn(a) {
		t.Error("this session survived")
	}
	if got := e.sessionCount("u-alice"); got != 0 {
		t.Errorf("%d sessions of alice left", got)
	}
}

// TestAccount_RevokeApp: an application alice consented to is listed;
// revoking it ends its tokens and its remembered consent, and leaves
// other applications' grants alone.
func TestAccount_RevokeApp(t *testing.T) {
	e := newEnv(t)
	c, _ := e.accountPage("alice")
	third := e.offlineTokens(c, "third", thirdSecret, thirdRedir, "openid offline_access todos:read")
	webapp := e.offlineTokens(c, "gatehouse-webapp", webappSecret, webappRedir, "openid offline_access todos:read")
	_, page := e.get(c, e.ts.URL+"/account")
	for _, name := range []string{"Third Party Planner", "Gatehouse Web App"} {
		if !strings.Contains(page, "<td>"+name+"</td>") {
			t.Errorf("the page does not list %s", name)
		}
	}

	resp, page := e.accountPost(c, page, "/account/apps/revoke", url.Values{"client_id": {"third"}})
	if !atAccount(resp, "app-revoked") {
		t.Fatalf("revoking: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	e.wantEvent("app_revoked")
	if strings.Contains(page, "Third Party Planner") {
		t.Error("the revoked application is still listed")
	}
	if st, _ := e.refresh("third", thirdSecret, third.RefreshToken); st != http.StatusBadRequest {
		t.Errorf("the revoked application's refresh token: %d, want 400", st)
	}
	if e.introspect(third.AccessToken)["active"] != false {
		t.Error("the revoked application's access token is active")
	}
	if st, _ := e.refresh("gatehouse-webapp", webappSecret, webapp.RefreshToken); st != http.StatusOK {
		t.Errorf("another application's refresh token: %d, want 200", st)
	}
	_, ch := pkce()
	if resp, _ := e.get(c, e.ts.URL+"/authorize?"+authParams("third", thirdRedir, ch, "openid offline_access todos:read").Encode()); !at(resp, http.StatusOK, "/consent") {
		t.Errorf("the revoked application's next request: %d at %s, want the consent page", resp.StatusCode, resp.Request.URL)
	}
}

// TestAccount_RemoveAuthenticator: the authenticator app comes off, unless
// the server requires a second factor and it is the person's only one.
func TestAccount_RemoveAuthenticator(t *testing.T) {
	for _, tc := range []struct {
		name       string
		requireMFA bool
		done       string
		kept       bool
	}{
		{"second factor optional", false, "totp-off", false},
		{"second factor required", true, "last-factor", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { c.RequireMFA = tc.requireMFA })
			c := e.browser()
			e.aliceWithTOTP(c)
			_, page := e.get(c, e.ts.URL+"/account")
			if resp, _ := e.accountPost(c, page, "/account/totp/delete", nil); !atAccount(resp, tc.done) {
				t.Errorf("removing the authenticator: %d at %s, want done=%s", resp.StatusCode, resp.Request.URL, tc.done)
			}
			_, err := e.store.GetTOTP(context.Background(), "u-alice")
			if kept := err == nil; kept != tc.kept || (err != nil && !errors.Is(err, storage.ErrNotFound)) {
				t.Errorf("authenticator kept: %t (%v), want %t", kept, err, tc.kept)
			}
		})
	}
}

// TestRecovery_NewCodesReplaceOld: new recovery codes from the account
// page replace every old one.
func TestRecovery_NewCodesReplaceOld(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	c := e.browser()
	_, old := e.aliceWithTOTP(c)
	_, page := e.get(c, e.ts.URL+"/account")
	resp, page := e.accountPost(c, page, "/account/recovery-codes", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("new recovery codes: %d", resp.StatusCode)
	}
	codes := shownRecoveryCodes(t, page)
	checkRecoveryCodes(t, codes)
	for _, code := range codes {
		if slices.Contains(old, code) {
			t.Fatalf("code %s given again", code)
		}
	}
	for _, tc := range []struct {
		code string
		ok   bool
	}{{old[0], false}, {old[9], false}, {codes[0], true}} {
		c := e.browser()
		p, _ := webappParams()
		if resp, _ := e.submitFactor(c, e.factorStep(c, p), "recovery", tc.code); isCode(resp) != tc.ok {
			t.Errorf("recovery code %s: %d, want signed in %t", tc.code, resp.StatusCode, tc.ok)
		}
	}
}

// TestAccount_RemovePasskey: a passkey comes off from a recent sign-in;
// an old sign-in is sent to sign in again first, and under a required
// second factor the person's last factor stays.
func TestAccount_RemovePasskey(t *testing.T) {
	for _, tc := range []struct {
		name       string
		requireMFA bool
		withApp    bool          // the app is on, then removed first (allowed: the passkey stays)
		wait       time.Duration // since the sign-in
		done       string        // "" for the sign-in page
		kept       bool
	}{
		{"recent sign-in", false, false, 0, "passkey-removed", false},
		{"old sign-in", false, false, reauthWindow + time.Minute, "", true},
		{"the last factor, second factor required", true, true, 0, "last-factor", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newPasskeyEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
				c.RequireMFA = tc.requireMFA
				roomyLockout(c)
			})
			c := e.browser()
			var page string
			if tc.withApp {
				e.aliceWithTOTP(c)
				_, page = e.get(c, e.ts.URL+"/account")
			} else {
				_, page = e.get(c, e.ts.URL+"/login?return=account")
				_, page = e.login(c, page, "alice", alicePassword)
			}
			k := newSoftPasskey(t, []byte("u-alice"), 0)
			if resp := e.addPasskey(c, page, k, "alice's key"); !atAccount(resp, "passkey-added") {
				t.Fatalf("adding a passkey: %d at %s", resp.StatusCode, resp.Request.URL)
			}
			_, page = e.get(c, e.ts.URL+"/account")
			if tc.withApp {
				if resp, _ := e.accountPost(c, page, "/account/totp/delete", nil); !atAccount(resp, "totp-off") {
					t.Fatalf("removing the app beside a passkey: %d at %s", resp.StatusCode, resp.Request.URL)
				}
				_, page = e.get(c, e.ts.URL+"/account")
			}
			e.clock.Add(tc.wait)
			resp, _ := e.accountPost(c, page, "/account/passkeys/delete", url.Values{"id": {base64.RawURLEncoding.EncodeToString(k.id)}})
			if tc.done == "" && !atReauth(resp) || tc.done != "" && !atAccount(resp, tc.done) {
				t.Errorf("removing the passkey: %d at %s, want done=%q (\"\": the sign-in page)", resp.StatusCode, resp.Request.URL, tc.done)
			}
			keys, err := e.store.ListPasskeys(context.Background(), "u-alice")
			if err != nil {
				t.Fatal(err)
			}
			if kept := len(keys) == 1; kept != tc.kept {
				t.Errorf("passkey kept: %t, want %t", kept, tc.kept)
			}
		})
	}
}

// TestAccount_AppScopes: an application that signed the person in without
// asking for consent (the first-party web app) is listed with the scopes
// its grants hold, those of every sign-in merged, in sorted order.
func TestAccount_AppScopes(t *testing.T) {
	e := newEnv(t)
	c, _ := e.accountPage("alice")
	for _, scope := range []string{"todos:read openid", "profile openid"} {
		v, ch := pkce()
		q := e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch, scope))
		if st, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v); st != http.StatusOK {
			t.Fatalf("web app tokens for %q: %d %s", scope, st, tr.Error)
		}
	}
	consents, err := e.store.ListUserConsents(context.Background(), "u-alice", e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(consents) != 0 {
		t.Fatalf("consents %+v, want none: the web app is first-party", consents)
	}
	_, page := e.get(c, e.ts.URL+"/account")
	_, apps, _ := strings.Cut(page, `id="apps"`)
	if want := "<td>Gatehouse Web App</td><td>openid, profile, todos:read</td>"; !strings.Contains(apps, want) {
		t.Errorf("the account page does not list the web app as %s:\n%s", want, apps)
	}
}
