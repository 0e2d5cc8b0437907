package authz

import (
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestSignIn_TwoStepSuccessGivesAddressAttemptsBack: a sign-in that
// succeeds with a password and a second factor leaves nothing on its
// address's count, as a password-only one does not (lockout.go), so
// people signing in behind one address are not locked out by their own
// successful sign-ins.
func TestSignIn_TwoStepSuccessGivesAddressAttemptsBack(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
		c.Lockout = Lockout{Delay: time.Millisecond, UserLimit: 1000, AddressLimit: 3}
	})
	b32, _ := e.aliceWithTOTP(e.browser())
	for i := range 5 {
		c := e.browser()
		p, _ := webappParams()
		_, page := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
		resp, page := e.login(c, page, "alice", alicePassword)
		if !at(resp, http.StatusOK, "/login/factor") {
			t.Fatalf("sign-in %d, password: %d at %s", i+1, resp.StatusCode, resp.Request.URL)
		}
		if resp, _ := e.submitFactor(c, page, "totp", e.totpCode(b32)); !isCode(resp) {
			t.Fatalf("sign-in %d, code: %d", i+1, resp.StatusCode)
		}
		e.clock.Add(totpPeriod)
	}
}

// TestSignIn_PasskeyFactorResetsUserAttempts: a sign-in finished with a
// passkey after the password ends as a password-only one does, with the
// username's count forgotten, so a person's own sign-ins never lock them
// out.
func TestSignIn_PasskeyFactorResetsUserAttempts(t *testing.T) {
	e := newPasskeyEnv(t, func(c *Config) {
		c.Lockout = Lockout{Delay: time.Millisecond, UserLimit: 2, AddressLimit: 1000}
	})
	k := e.registered("alice", 0)
	for i := range 4 {
		c := e.browser()
		_, page := e.get(c, e.ts.URL+"/login")
		resp, page := e.login(c, page, "alice", alicePassword)
		if !at(resp, http.StatusOK, "/login/factor") {
			t.Fatalf("sign-in %d, password: %d at %s", i+1, resp.StatusCode, resp.Request.URL)
		}
		f := hidden(page)
		st, o := e.options(c, "/login/factor/passkey/options", f.Get("csrf_token"))
		if st != http.StatusOK {
			t.Fatalf("sign-in %d, passkey options: %d %s", i+1, st, o.Error)
		}
		f.Set("credential", k.assert(t, e, assertion{challenge: o.PublicKey.Challenge, counter: uint32(i + 1)}))
		if resp, _ := e.post(c, e.ts.URL+"/login/factor/passkey", f); resp.Request.URL.Path != "/" {
			t.Fatalf("sign-in %d, passkey: %d at %s", i+1, resp.StatusCode, resp.Request.URL)
		}
		e.clock.Add(time.Second)
	}
}
