package authz

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestSignIn_ReauthenticationTakesTheSameFactors: prompt=login and an
// exceeded max_age sign a person with an authenticator app in again with
// the password and the app, not the password alone, and the new ID token
// says so.
func TestSignIn_ReauthenticationTakesTheSameFactors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		param string
		value string
	}{
		{"prompt=login", "prompt", "login"},
		{"max_age exceeded", "max_age", "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
			c := e.browser()
			b32, _ := e.aliceWithTOTP(c)
			if e.sessionCount("u-alice") == 0 {
				t.Fatal("alice has no session to re-authenticate from")
			}
			e.clock.Add(2 * totpPeriod)
			p, verifier := webappParams()
			p.Set(tc.param, tc.value)
			page := e.factorStep(c, p) // the password is not enough
			resp, _ := e.submitFactor(c, page, "totp", e.totpCode(b32))
			if !isCode(resp) {
				t.Fatalf("after the code: %d", resp.StatusCode)
			}
			wantAuthn(t, e.webappClaims(resp, verifier), ACRMultiFactor, amrPassword, amrOTP, amrMFA)
		})
	}
}
