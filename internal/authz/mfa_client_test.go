package authz

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Tests of a client registered with RequireMFA: every sign-in for it takes
// a second factor whatever its authorization request says, as if it had
// asked acr_values=aal2 in a way no one can strip; other clients are
// unaffected.

// setRequireMFA sets the client's RequireMFA, as `gatehouse client update
// --require-mfa` does.
func (e *env) setRequireMFA(clientID string, require bool) {
	e.t.Helper()
	if err := e.store.SetClientRequireMFA(context.Background(), clientID, require, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
}

// legacyParams is an authorization request of the legacy client (first
// party, so no consent) and its PKCE verifier.
func legacyParams() (url.Values, string) {
	v, ch := pkce()
	return authParams("legacy", legacyRedir, ch, "openid todos:read"), v
}

// legacyClaims exchanges the code of a redirect to the legacy client and
// returns the ID token's claims.
func (e *env) legacyClaims(resp *http.Response, verifier string) map[string]any {
	e.t.Helper()
	return e.codeClaims(resp, "legacy", legacySecret, legacyRedir, verifier)
}

// TestMFAClient_EnrolsAtSignIn: a person without a second factor who
// signs in for a client that requires one sets up an authenticator app
// after the password and reaches the client at aal2, whatever acr_values
// the request carries (none, or ones that accept aal1).
func TestMFAClient_EnrolsAtSignIn(t *testing.T) {
	for _, tc := range []struct{ name, acrValues string }{
		{"no acr_values", ""},
		{"acr_values=aal1", "aal1"},
		{"acr_values=aal2 aal1", "aal2 aal1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
			e.setRequireMFA("gatehouse-webapp", true)
			c := e.browser()
			p, verifier := webappParams()
			if tc.acrValues != "" {
				p.Set("acr_values", tc.acrValues)
			}
			_, page := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
			resp, page := e.login(c, page, "bob", alicePassword)
			if !at(resp, http.StatusOK, "/login/enrol") {
				t.Fatalf("after the password: %d at %s, want /login/enrol", resp.StatusCode, resp.Request.URL)
			}
			if n := e.sessionCount("u-bob"); n != 0 {
				t.Errorf("the password alone started %d sessions", n)
			}
			e.enrolAtSignIn(c, page, verifier)
		})
	}
}

// TestMFAClient_PushedRequest: a pushed request (RFC 9126) of a client
// that requires a second factor takes one too.
func TestMFAClient_PushedRequest(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	e.setRequireMFA("third", true)
	_, ch := pkce()
	resp := e.authorizePushed("third", e.push(pushParams(ch), nil))
	if !at(resp, http.StatusOK, "/login/enrol") {
		t.Fatalf("after the password: %d at %s, want /login/enrol", resp.StatusCode, resp.Request.URL)
	}
}

// TestMFAClient_SingleFactorSessionStepsUp: a login session that signed
// in with the password alone does not do for a client that requires a
// second factor, though its request asks for none: prompt=none gets
// login_required, and otherwise the person signs in again and is asked
// for the factor. The session that starts then does, and its ID token
// says aal2.
func TestMFAClient_SingleFactorSessionStepsUp(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	b32, _ := e.aliceWithTOTP(e.browser())
	c := e.passwordOnlyRefused()
	p, verifier := webappParams()
	resp, page := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	if !at(resp, http.StatusOK, "/login") {
		t.Fatalf("a password-only session: %d at %s, want the login page", resp.StatusCode, resp.Request.URL)
	}
	resp, page = e.login(c, page, "alice", alicePassword)
	if !at(resp, http.StatusOK, "/login/factor") {
		t.Fatalf("after the password: %d at %s, want the second-factor page", resp.StatusCode, resp.Request.URL)
	}
	resp, _ = e.submitFactor(c, page, "totp", e.totpCode(b32))
	if !isCode(resp) {
		t.Fatalf("after the code: %d", resp.StatusCode)
	}
	wantAuthn(t, e.webappClaims(resp, verifier), ACRMultiFactor, amrPassword, amrOTP, amrMFA)

	// The new session does, without another sign-in.
	p, verifier = webappParams()
	p.Set("prompt", "none")
	resp, _ = e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	if !isCode(resp) {
		t.Fatalf("prompt=none after stepping up: %d %v", resp.StatusCode, callback(t, resp))
	}
	wantAuthn(t, e.webappClaims(resp, verifier), ACRMultiFactor, amrPassword, amrOTP, amrMFA)
}

// TestMFAClient_OtherClientsUnaffected: the requirement is the client's
// alone. In the browser whose password-only session that client refuses,
// another client gets a code at once, at aal1; a person without a second
// factor signs in for another client, or at the server itself, without
// enrolling one; and once the client no longer requires a factor, the
// password-only session does for it again.
func TestMFAClient_OtherClientsUnaffected(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	c := e.passwordOnlyRefused()
	lp, verifier := legacyParams()
	lp.Set("prompt", "none")
	resp, _ := e.get(c, e.ts.URL+"/authorize?"+lp.Encode())
	wantAuthn(t, e.legacyClaims(resp, verifier), ACRSingleFactor, amrPassword)

	b := e.browser()
	lp, verifier = legacyParams()
	_, page := e.get(b, e.ts.URL+"/authorize?"+lp.Encode())
	resp, _ = e.login(b, page, "bob", alicePassword)
	wantAuthn(t, e.legacyClaims(resp, verifier), ACRSingleFactor, amrPassword)
	if resp, _ := e.signInAtAccount(e.browser(), "bob"); !at(resp, http.StatusOK, "/account") {
		t.Errorf("a sign-in at the server itself: %d at %s, want the account page", resp.StatusCode, resp.Request.URL)
	}

	e.setRequireMFA("gatehouse-webapp", false)
	p, verifier := webappParams()
	p.Set("prompt", "none")
	resp, _ = e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	if !isCode(resp) {
		t.Fatalf("prompt=none once the client no longer requires a factor: %d %v", resp.StatusCode, callback(t, resp))
	}
	wantAuthn(t, e.webappClaims(resp, verifier), ACRSingleFactor, amrPassword)
}

// passwordOnlyRefused makes the web app require a second factor and
// returns a browser signed in as alice with her password alone, after
// checking that the web app's prompt=none refuses that session.
func (e *env) passwordOnlyRefused() *http.Client {
	e.t.Helper()
	e.setRequireMFA("gatehouse-webapp", true)
	c := e.browser()
	e.plantSession(c, "u-alice", amrPassword)
	p, _ := webappParams()
	p.Set("prompt", "none")
	if got := e.authorizeError(c, p); got != "login_required" {
		e.t.Errorf("the client requiring a factor, prompt=none with a password-only session: %q, want login_required", got)
	}
	return c
}

// TestMFA_TurnedOnMidway: once a second factor is required — of the web
// app by its registration, or of everyone by a server restarted with
// --require-mfa — a sign-in whose login page was opened before takes one,
// and refresh tokens from password-only sign-ins stop working (the person
// signs in again); a refresh token from a sign-in with a second factor
// goes on.
func TestMFA_TurnedOnMidway(t *testing.T) {
	for _, tc := range []struct {
		name   string
		turnOn func(e *env) *env // the instance that requires it
	}{
		{"the client's registration", func(e *env) *env {
			e.setRequireMFA("gatehouse-webapp", true)
			e.clock.Add(clientCacheTTL + time.Second)
			return e
		}},
		{"the server's policy", func(e *env) *env {
			cfg := e.cfg
			cfg.RequireMFA = true
			return e.siblingWith(cfg)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
			b32, _ := e.aliceWithTOTP(e.browser())
			const scope = "openid offline_access todos:read"
			// Bob (no second factor) signs in with his password: a
			// refresh token at aal1. Alice signs in with her app: one at
			// aal2.
			bc := e.browser()
			e.plantSession(bc, "u-bob", amrPassword)
			bob := e.offlineTokens(bc, "gatehouse-webapp", webappSecret, webappRedir, scope)
			c := e.browser()
			p, v := webappParams()
			p.Set("scope", scope)
			resp, _ := e.submitFactor(c, e.factorStep(c, p), "totp", e.totpCode(b32))
			st, alice := e.exchange("gatehouse-webapp", webappSecret, callback(t, resp).Get("code"), webappRedir, v)
			if st != http.StatusOK || alice.RefreshToken == "" {
				t.Fatalf("alice signing in: %d, refresh token %t", st, alice.RefreshToken != "")
			}
			// A login page opened now, before a factor is required.
			early := e.browser()
			p, _ = webappParams()
			p.Set("scope", scope)
			_, page := e.get(early, e.ts.URL+"/authorize?"+p.Encode())

			strict := tc.turnOn(e)
			page = strings.ReplaceAll(page, e.ts.URL, strict.ts.URL) // the same page, served by the instance that requires it
			// (The browser follows redirects on the first instance only:
			// the second one's redirect to enrolment is read as it is.)
			resp, _ = strict.login(early, page, "bob", alicePassword)
			if !at(resp, http.StatusOK, "/login/enrol") && !strings.HasPrefix(resp.Header.Get("Location"), "/login/enrol?") {
				t.Errorf("the password on a login page opened before: %d at %s (to %q), want the enrolment page", resp.StatusCode, resp.Request.URL, resp.Header.Get("Location"))
			}
			if st, tr := strict.refresh("gatehouse-webapp", webappSecret, bob.RefreshToken); st != http.StatusBadRequest || tr.Error != "invalid_grant" {
				t.Errorf("a password-only sign-in's refresh token: %d %q, want 400 invalid_grant", st, tr.Error)
			}
			if st, tr := strict.refresh("gatehouse-webapp", webappSecret, alice.RefreshToken); st != http.StatusOK {
				t.Errorf("a refresh token from a sign-in with a second factor: %d %s", st, tr.Error)
			}
		})
	}
}
