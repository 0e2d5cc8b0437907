package authz

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestSignIn_StaleEnrolmentReplacesNothing: an enrolment page opened
// before the person set up an app elsewhere (someone holding only the
// password, paused at /login/enrol) cannot replace that app; and an
// account-page enrolment sent twice keeps the first app and the codes
// shown for it.
func TestSignIn_StaleEnrolmentReplacesNothing(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { roomyLockout(c); c.RequireMFA = true })
	attacker := e.browser()
	resp, stale := e.signInAtAccount(attacker, "alice")
	if !at(resp, http.StatusOK, "/login/enrol") {
		t.Fatalf("after the password: %d at %s, want the enrolment page", resp.StatusCode, resp.Request.URL)
	}
	b32, codes := e.aliceWithTOTP(e.browser()) // alice enrols, from her own sign-in
	if resp, _ := e.enrol(attacker, stale, "/login/enrol"); resp.StatusCode != http.StatusConflict {
		t.Fatalf("the stale enrolment: %d, want 409", resp.StatusCode)
	}
	if e.sessionCount("u-alice") != 1 {
		t.Fatalf("%d sessions, want alice's alone", e.sessionCount("u-alice"))
	}
	// Her app and codes are hers still.
	c := e.browser()
	p, verifier := webappParams()
	page := e.factorStep(c, p)
	resp, _ = e.submitFactor(c, page, "totp", e.totpCode(b32))
	if !isCode(resp) {
		t.Fatalf("alice's own code after the stale enrolment: %d", resp.StatusCode)
	}
	wantAuthn(t, e.webappClaims(resp, verifier), ACRMultiFactor, amrPassword, amrOTP, amrMFA)
	c = e.browser()
	page = e.factorStep(c, p)
	if resp, _ := e.submitFactor(c, page, "recovery", codes[0]); !isCode(resp) {
		t.Fatalf("alice's recovery code after the stale enrolment: %d", resp.StatusCode)
	}
}

// TestAccount_EnrolmentSentTwice: the second post of one enrolment form
// changes nothing; the codes the first showed stay valid.
func TestAccount_EnrolmentSentTwice(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	c, _ := e.accountPage("alice")
	_, page := e.get(c, e.ts.URL+"/account/totp")
	f := hidden(page)
	f.Set("code", e.totpCode(enrolSecret(t, page)))
	resp, first := e.post(c, e.ts.URL+"/account/totp", f)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("enrolment: %d", resp.StatusCode)
	}
	codes := shownRecoveryCodes(t, first)
	if resp, _ := e.post(c, e.ts.URL+"/account/totp", f); !atAccount(resp, "totp-exists") {
		t.Fatalf("the same form again: %d at %s, want the account page saying an app is on", resp.StatusCode, resp.Request.URL)
	}
	e.clock.Add(totpPeriod)
	b := e.browser()
	p, _ := webappParams()
	page = e.factorStep(b, p)
	if resp, _ := e.submitFactor(b, page, "recovery", codes[0]); !isCode(resp) {
		t.Fatalf("a code the first post showed: %d", resp.StatusCode)
	}
}

// TestSignIn_LongRequestFitsTheCookie: a request as long as /authorize
// takes goes through the second step; the sign-in cookie stays well
// under what browsers keep.
func TestSignIn_LongRequestFitsTheCookie(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	b32, _ := e.aliceWithTOTP(e.browser())
	c := e.browser()
	p, verifier := webappParams()
	p.Set("state", strings.Repeat("s", maxAuthorizeParam))
	page := e.factorStep(c, p)
	u, _ := url.Parse(e.ts.URL)
	for _, k := range c.Jar.Cookies(u) {
		if k.Name == e.srv.pages.signIn && len(k.Name)+len(k.Value) > 1024 {
			t.Errorf("the sign-in cookie is %d bytes", len(k.Name)+len(k.Value))
		}
	}
	resp, _ := e.submitFactor(c, page, "totp", e.totpCode(b32))
	if !isCode(resp) {
		t.Fatalf("after the code: %d", resp.StatusCode)
	}
	if got := callback(t, resp).Get("state"); got != p.Get("state") {
		t.Errorf("state of %d bytes came back as %d", len(p.Get("state")), len(got))
	}
	e.webappClaims(resp, verifier)
}

// TestSignIn_RequestMustBeTheSignIns: a step posted with another request
// than the one the sign-in began with is refused.
func TestSignIn_RequestMustBeTheSignIns(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	b32, _ := e.aliceWithTOTP(e.browser())
	c := e.browser()
	p, _ := webappParams()
	page := e.factorStep(c, p)
	other := e.browser()
	p2, _ := webappParams()
	otherPage := e.factorStep(other, p2)
	f := factorForm(page, "totp", e.totpCode(b32))
	f.Set("request", hidden(otherPage).Get("request"))
	if resp, _ := e.post(c, e.ts.URL+"/login/factor", f); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("another sign-in's request: %d, want 400", resp.StatusCode)
	}
}

// TestSignIn_AppCodesCapped: past FactorLimit wrong app codes even the
// right one is refused, however slowly they came; a recovery code still
// signs in, and ends the run.
func TestSignIn_AppCodesCapped(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
		c.Lockout = Lockout{Delay: time.Millisecond, UserLimit: 1000, AddressLimit: 1000, FactorLimit: 3, Window: time.Minute}
	})
	b32, codes := e.aliceWithTOTP(e.browser())
	p, _ := webappParams()
	for i := range 3 {
		c := e.browser()
		page := e.factorStep(c, p)
		if resp, _ := e.submitFactor(c, page, "totp", e.wrongTOTP(b32)); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong code %d: %d", i+1, resp.StatusCode)
		}
		e.clock.Add(2 * time.Minute) // past the per-window limit each time
	}
	c := e.browser()
	page := e.factorStep(c, p)
	resp, body := e.submitFactor(c, page, "totp", e.totpCode(b32))
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Use a recovery code") {
		t.Fatalf("the right code past the cap: %d, want 429 pointing to a recovery code", resp.StatusCode)
	}
	if resp, _ := e.submitFactor(c, page, "recovery", codes[0]); !isCode(resp) {
		t.Fatalf("a recovery code past the cap: %d", resp.StatusCode)
	}
	e.clock.Add(totpPeriod)
	c = e.browser()
	page = e.factorStep(c, p)
	if resp, _ := e.submitFactor(c, page, "totp", e.totpCode(b32)); !isCode(resp) {
		t.Fatalf("the app after a recovery code: %d", resp.StatusCode)
	}
}

// TestSignIn_PasskeyLiftsAppCodeCap: past the daily cap on wrong app
// codes, a passkey sign-in lifts it as a recovery code does: the app works
// again afterwards.
func TestSignIn_PasskeyLiftsAppCodeCap(t *testing.T) {
	e := newPasskeyEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
		c.Lockout = Lockout{Delay: time.Millisecond, UserLimit: 1000, AddressLimit: 1000, FactorLimit: 3, Window: time.Minute}
	})
	own := e.browser()
	b32, _ := e.aliceWithTOTP(own)
	_, page := e.get(own, e.ts.URL+"/account")
	k := newSoftPasskey(t, []byte("u-alice"), 0)
	if resp := e.addPasskey(own, page, k, "alice's key"); resp.Request.URL.String() != e.ts.URL+"/account?done=passkey-added" {
		t.Fatalf("adding a passkey ended at %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	p, _ := webappParams()
	for range 3 {
		c := e.browser()
		e.submitFactor(c, e.factorStep(c, p), "totp", e.wrongTOTP(b32))
		e.clock.Add(2 * time.Minute)
	}
	c := e.browser()
	if resp, _ := e.submitFactor(c, e.factorStep(c, p), "totp", e.totpCode(b32)); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("the right code past the cap: %d, want 429", resp.StatusCode)
	}
	c = e.browser()
	e.passkeyLogin(c, "", k, assertion{counter: 1})
	e.wantSession(c, "u-alice", amrHWK, amrMFA)
	e.clock.Add(totpPeriod)
	c = e.browser()
	if resp, _ := e.submitFactor(c, e.factorStep(c, p), "totp", e.totpCode(b32)); !isCode(resp) {
		t.Fatalf("the app after a passkey sign-in: %d, want a code", resp.StatusCode)
	}
}

// TestSignIn_PasswordChangeEndsSignInsUnderWay: a sign-in paused at its
// second step when the password changes does not finish.
func TestSignIn_PasswordChangeEndsSignInsUnderWay(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	b32, _ := e.aliceWithTOTP(e.browser())
	c := e.browser()
	p, _ := webappParams()
	page := e.factorStep(c, p)

	e.clock.Add(totpPeriod)
	a := e.browser()
	_, factorPage := e.signInAtAccount(a, "alice")
	resp, acct := e.submitFactor(a, factorPage, "totp", e.totpCode(b32))
	if !at(resp, http.StatusOK, "/account") {
		t.Fatalf("alice's own sign-in: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	resp, _ = e.accountPost(a, acct, "/account/password", url.Values{
		"current_password": {alicePassword}, "new_password": {"a brand new password"}, "confirm_password": {"a brand new password"},
	})
	if !atAccount(resp, "password") {
		t.Fatalf("password change: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	e.clock.Add(totpPeriod)
	if resp, _ := e.submitFactor(c, page, "totp", e.totpCode(b32)); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("the paused sign-in after the change: %d, want 400", resp.StatusCode)
	}
}

// TestMFA_ACRValuesArePreferences: acr_values that accept aal1 too force
// no enrolment; the ID token says aal1.
func TestMFA_ACRValuesArePreferences(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	c := e.browser()
	p, verifier := webappParams()
	p.Set("acr_values", "aal2 aal1")
	_, page := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	resp, _ := e.login(c, page, "alice", alicePassword)
	if !isCode(resp) {
		t.Fatalf("after the password: %d at %s, want a code", resp.StatusCode, resp.Request.URL)
	}
	wantAuthn(t, e.webappClaims(resp, verifier), ACRSingleFactor, amrPassword)
}

// failingFactors is a store whose factor look-ups fail.
type failingFactors struct{ storage.Store }

func (failingFactors) GetTOTP(context.Context, string) (storage.TOTP, error) {
	return storage.TOTP{}, errInjected
}

// TestSignIn_StoreFailureIs503: a sign-in whose factors cannot be read
// answers 503 and starts no session.
func TestSignIn_StoreFailureIs503(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { roomyLockout(c); c.Store = failingFactors{c.Store} })
	c := e.browser()
	resp, _ := e.signInAtAccount(c, "alice")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("sign-in with the store failing: %d, want 503", resp.StatusCode)
	}
	if n := e.sessionCount("u-alice"); n != 0 {
		t.Fatalf("%d sessions", n)
	}
}
