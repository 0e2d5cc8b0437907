package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Tests of the sign-in in steps (signin.go): a second factor after the
// password, its enrolment, recovery codes, lockout across the steps and
// the MFA policy (Config.RequireMFA, acr_values).

// --- helpers ---

var (
	totpSecretRe   = regexp.MustCompile(`<code class="secret" id="totp-secret">([A-Z2-7]+)</code>`)
	recoveryListRe = regexp.MustCompile(`(?s)<ul class="codes" id="recovery-codes">(.*?)</ul>`)
	recoveryCodeRe = regexp.MustCompile(`<li><code>([^<]*)</code></li>`)
	recoveryLeftRe = regexp.MustCompile(`<strong id="recovery-left">(\d+)</strong>`)
	// recoveryFormat is how recovery codes are shown: three groups of four
	// characters of the unambiguous alphabet.
	recoveryFormat = regexp.MustCompile(`^[a-hjkmnp-z02-9]{4}-[a-hjkmnp-z02-9]{4}-[a-hjkmnp-z02-9]{4}$`)
)

// roomyLockout lets a test make many sign-in attempts: for tests of
// something other than the lockout.
func roomyLockout(c *Config) {
	c.Lockout = Lockout{Delay: time.Millisecond, UserLimit: 1000, AddressLimit: 1000}
}

// totpAt is the code of the authenticator with secret b32 at t.
func totpAt(t testing.TB, b32 string, at time.Time) string {
	t.Helper()
	code, err := totp.GenerateCodeCustom(b32, at, totp.ValidateOpts{
		Period: uint(totpPeriod / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		t.Fatalf("computing a TOTP code: %v", err)
	}
	return code
}

// totpCode is the authenticator's code now, by the server's clock.
func (e *env) totpCode(b32 string) string { return totpAt(e.t, b32, e.clock.Now()) }

// wrongTOTP is a six-digit code that no step the server accepts now has.
func (e *env) wrongTOTP(b32 string) string {
	e.t.Helper()
	var window []string
	for d := -totpSkew; d <= totpSkew; d++ {
		window = append(window, totpAt(e.t, b32, e.clock.Now().Add(time.Duration(d)*totpPeriod)))
	}
	for n := 0; ; n++ {
		if c := fmt.Sprintf("%06d", n); !slices.Contains(window, c) {
			return c
		}
	}
}

// enrolSecret is the secret an enrolment page shows for typing into an
// app.
func enrolSecret(t testing.TB, page string) string {
	t.Helper()
	m := totpSecretRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no TOTP secret on the page:\n%s", page)
	}
	return m[1]
}

// shownRecoveryCodes are the codes a page lists in #recovery-codes.
func shownRecoveryCodes(t testing.TB, page string) []string {
	t.Helper()
	list := recoveryListRe.FindStringSubmatch(page)
	if list == nil {
		t.Fatalf("no recovery codes on the page:\n%s", page)
	}
	var codes []string
	for _, m := range recoveryCodeRe.FindAllStringSubmatch(list[1], -1) {
		codes = append(codes, m[1])
	}
	return codes
}

// checkRecoveryCodes: recoveryCodeCount distinct codes in the shown
// format.
func checkRecoveryCodes(t testing.TB, codes []string) {
	t.Helper()
	if len(codes) != recoveryCodeCount {
		t.Fatalf("%d recovery codes, want %d: %q", len(codes), recoveryCodeCount, codes)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if !recoveryFormat.MatchString(c) {
			t.Errorf("recovery code %q is not xxxx-xxxx-xxxx", c)
		}
		if seen[c] {
			t.Errorf("recovery code %q shown twice", c)
		}
		seen[c] = true
	}
}

// recoveryLeft is the count of unused recovery codes the account page
// shows.
func recoveryLeft(t testing.TB, page string) string {
	t.Helper()
	m := recoveryLeftRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no recovery-code count on the account page:\n%s", page)
	}
	return m[1]
}

// wantEvent fails the test unless the audit log has an event of this
// name.
func (e *env) wantEvent(name string) {
	e.t.Helper()
	if !strings.Contains(e.logs.String(), `"event":"`+name+`"`) {
		e.t.Errorf("no %s audit event", name)
	}
}

// at reports whether resp is the page at path (after the redirects the
// browser followed), answered with status.
func at(resp *http.Response, status int, path string) bool {
	return resp.StatusCode == status && resp.Request.URL.Path == path
}

// signInAtAccount signs user in from /login?return=account: the password,
// which the server answers with the account page or the next step.
func (e *env) signInAtAccount(c *http.Client, user string) (*http.Response, string) {
	e.t.Helper()
	_, page := e.get(c, e.ts.URL+"/login?return=account")
	return e.login(c, page, user, alicePassword)
}

// enrol types the current code of the secret on an enrolment page into
// its form, which posts to path.
func (e *env) enrol(c *http.Client, page, path string) (*http.Response, string) {
	e.t.Helper()
	f := hidden(page)
	f.Set("code", e.totpCode(enrolSecret(e.t, page)))
	return e.post(c, e.ts.URL+path, f)
}

// aliceWithTOTP signs alice in in c, at the account page, and turns on
// an authenticator app: from the account page, or at the sign-in when
// the server requires a second factor. It returns the app's secret and
// the recovery codes, with the clock at the next step so that the
// current code is unused.
func (e *env) aliceWithTOTP(c *http.Client) (string, []string) {
	e.t.Helper()
	resp, page := e.signInAtAccount(c, "alice")
	var codes []string
	var b32 string
	switch {
	case at(resp, http.StatusOK, "/login/enrol"):
		b32 = enrolSecret(e.t, page)
		resp, page = e.enrol(c, page, "/login/enrol")
		if resp.StatusCode != http.StatusOK {
			e.t.Fatalf("enrolling at sign-in: %d", resp.StatusCode)
		}
		codes = shownRecoveryCodes(e.t, page)
		if resp, _ = e.post(c, e.ts.URL+"/login/continue", hidden(page)); !at(resp, http.StatusOK, "/account") {
			e.t.Fatalf("continuing after enrolment: %d at %s", resp.StatusCode, resp.Request.URL)
		}
	case at(resp, http.StatusOK, "/account"):
		_, page = e.get(c, e.ts.URL+"/account/totp")
		b32 = enrolSecret(e.t, page)
		resp, page = e.enrol(c, page, "/account/totp")
		if resp.StatusCode != http.StatusOK {
			e.t.Fatalf("enrolling from the account page: %d", resp.StatusCode)
		}
		codes = shownRecoveryCodes(e.t, page)
	default:
		e.t.Fatalf("signing in at the account page: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	checkRecoveryCodes(e.t, codes)
	e.clock.Add(totpPeriod)
	return b32, codes
}

// factorStep starts a sign-in of alice for the authorization request p
// in c and gives her password: the answer must be the second-factor page,
// which it returns.
func (e *env) factorStep(c *http.Client, p url.Values) string {
	e.t.Helper()
	_, page := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	resp, page := e.login(c, page, "alice", alicePassword)
	if !at(resp, http.StatusOK, "/login/factor") {
		e.t.Fatalf("after the password: %d at %s, want the second-factor page", resp.StatusCode, resp.Request.URL)
	}
	return page
}

// factorForm is the form of the second-factor page filled in.
func factorForm(page, method, code string) url.Values {
	f := hidden(page)
	f.Set("method", method)
	f.Set("code", code)
	return f
}

// submitFactor posts a code (method "totp" or "recovery") to the
// second-factor page.
func (e *env) submitFactor(c *http.Client, page, method, code string) (*http.Response, string) {
	e.t.Helper()
	return e.post(c, e.ts.URL+"/login/factor", factorForm(page, method, code))
}

// idClaims verifies an ID token's signature and returns its claims.
func (e *env) idClaims(raw string) map[string]any {
	e.t.Helper()
	tok, err := jwt.ParseSigned(raw, signingAlgs())
	if err != nil {
		e.t.Fatalf("ID token: %v", err)
	}
	k, ok := e.srv.keys.Lookup(tok.Headers[0].KeyID, e.clock.Now())
	if !ok {
		e.t.Fatalf("ID token signed with unknown key %q", tok.Headers[0].KeyID)
	}
	c := map[string]any{}
	if err := tok.Claims(k.Public.Key, &c); err != nil {
		e.t.Fatalf("ID token: %v", err)
	}
	return c
}

// webappClaims exchanges the code of a redirect to the web app and
// returns the ID token's claims.
func (e *env) webappClaims(resp *http.Response, verifier string) map[string]any {
	e.t.Helper()
	return e.codeClaims(resp, "gatehouse-webapp", webappSecret, webappRedir, verifier)
}

// codeClaims exchanges the code of a redirect to the client at redirect
// and returns the ID token's claims.
func (e *env) codeClaims(resp *http.Response, clientID, clientSecret, redirect, verifier string) map[string]any {
	e.t.Helper()
	q := callback(e.t, resp)
	if q.Get("error") != "" || q.Get("code") == "" {
		e.t.Fatalf("authorization response %v", q)
	}
	st, tr := e.exchange(clientID, clientSecret, q.Get("code"), redirect, verifier)
	if st != http.StatusOK {
		e.t.Fatalf("exchange: %d %s", st, tr.Error)
	}
	return e.idClaims(tr.IDToken)
}

// wantAuthn checks the acr and amr claims of an ID token: amr exactly
// amr, in any order.
func wantAuthn(t testing.TB, claims map[string]any, acr string, amr ...string) {
	t.Helper()
	got := anyStrings(claims["amr"])
	slices.Sort(got)
	amr = slices.Sorted(slices.Values(amr))
	if claims["acr"] != acr || !slices.Equal(got, amr) {
		t.Errorf("acr %v amr %v, want %s %v", claims["acr"], claims["amr"], acr, amr)
	}
}

// webappParams is an authorization request of the web app and its PKCE
// verifier.
func webappParams() (url.Values, string) {
	v, ch := pkce()
	return authParams("gatehouse-webapp", webappRedir, ch, "openid todos:read"), v
}

// isCode reports whether resp sends the browser to the web app with a
// code.
func isCode(resp *http.Response) bool {
	if resp.StatusCode != http.StatusSeeOther {
		return false
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	return err == nil && strings.HasPrefix(u.String(), webappRedir) && u.Query().Get("code") != ""
}

// authorizeError is the error an authorization request in c is answered
// with at the client ("" for a code).
func (e *env) authorizeError(c *http.Client, p url.Values) string {
	e.t.Helper()
	resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	return callback(e.t, resp).Get("error")
}

// sessionCount is how many login sessions the user has.
func (e *env) sessionCount(userID string) int {
	e.t.Helper()
	l, err := e.store.ListUserLoginSessions(context.Background(), userID, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return len(l)
}

// plantSession gives browser c a login session of the user that signed
// in with amr, as one started before the server's policy changed would
// be.
func (e *env) plantSession(c *http.Client, userID string, amr ...string) {
	e.t.Helper()
	tok, err := secret.NewToken()
	if err != nil {
		e.t.Fatal(err)
	}
	now := e.clock.Now()
	if err := e.store.CreateLoginSession(context.Background(), storage.LoginSession{
		ID: secret.HashToken(tok), UserID: userID, AuthTime: now, AMR: amr, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}); err != nil {
		e.t.Fatal(err)
	}
	u, _ := url.Parse(e.ts.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: e.srv.pages.session, Value: tok, Path: "/", Secure: true, HttpOnly: true}})
}

// formToken is the CSRF token the server would put in a form of this
// purpose for browser c (which must hold a CSRF cookie): what a page the
// server never showed would carry.
func (e *env) formToken(c *http.Client, purpose string) string {
	e.t.Helper()
	u, _ := url.Parse(e.ts.URL)
	for _, k := range c.Jar.Cookies(u) {
		if k.Name == e.srv.pages.csrf {
			return e.srv.pages.mac(k.Value, purpose)
		}
	}
	e.t.Fatal("the browser has no CSRF cookie")
	return ""
}

// --- tests ---

// TestTOTP_EnrolFromAccountAndSignIn: an authenticator app is set up from
// the account page after a recent sign-in only, its first code must be
// right, and from then on alice's sign-ins take a code and reach aal2.
func TestTOTP_EnrolFromAccountAndSignIn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	c := e.browser()
	if resp, _ := e.signInAtAccount(c, "alice"); !at(resp, http.StatusOK, "/account") {
		t.Fatalf("sign-in at the account page: %d at %s", resp.StatusCode, resp.Request.URL)
	}

	// A password alone: aal1.
	p, v := webappParams()
	resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
	wantAuthn(t, e.webappClaims(resp, v), ACRSingleFactor, amrPassword)

	// Setting up the app needs a recent sign-in, for the page and its form.
	_, page := e.get(c, e.ts.URL+"/account/totp")
	e.clock.Add(reauthWindow + time.Minute)
	for name, resp := range map[string]*http.Response{
		"GET":  first(e.get(c, e.ts.URL+"/account/totp")),
		"POST": first(e.enrol(c, page, "/account/totp")),
	} {
		if !at(resp, http.StatusOK, "/login") || resp.Request.URL.RawQuery != "return=account" {
			t.Errorf("%s /account/totp after %v: %d at %s, want /login?return=account", name, reauthWindow+time.Minute, resp.StatusCode, resp.Request.URL)
		}
	}
	if _, err := e.store.GetTOTP(ctx, "u-alice"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("an old sign-in set up an authenticator: %v", err)
	}

	if resp, _ := e.signInAtAccount(c, "alice"); !at(resp, http.StatusOK, "/account") {
		t.Fatalf("signing in again: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	_, page = e.get(c, e.ts.URL+"/account/totp")
	f := hidden(page)
	f.Set("code", e.wrongTOTP(enrolSecret(t, page)))
	resp, page = e.post(c, e.ts.URL+"/account/totp", f)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a wrong first code: %d, want 422", resp.StatusCode)
	}
	if _, err := e.store.GetTOTP(ctx, "u-alice"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a wrong first code stored the authenticator: %v", err)
	}
	if n, err := e.store.CountRecoveryCodes(ctx, "u-alice"); err != nil || n != 0 {
		t.Fatalf("a wrong first code stored %d recovery codes (%v)", n, err)
	}

	b32 := enrolSecret(t, page) // the page shows a new secret
	resp, page = e.enrol(c, page, "/account/totp")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the right first code: %d", resp.StatusCode)
	}
	checkRecoveryCodes(t, shownRecoveryCodes(t, page))
	e.wantEvent("totp_enrolled")

	// A new sign-in takes the password, then a code: pwd otp mfa, aal2.
	e.clock.Add(totpPeriod)
	c2 := e.browser()
	p, v = webappParams()
	page = e.factorStep(c2, p)
	resp, _ = e.submitFactor(c2, page, "totp", e.totpCode(b32))
	wantAuthn(t, e.webappClaims(resp, v), ACRMultiFactor, amrPassword, amrOTP, amrMFA)
}

// first is the response of a (response, body) pair.
func first(resp *http.Response, _ string) *http.Response { return resp }

// TestTOTP_CodeSignsInOnce: a code signs in once; the same code in a
// second sign-in within its step is refused, and the next step's code
// signs in.
func TestTOTP_CodeSignsInOnce(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	b32, _ := e.aliceWithTOTP(e.browser())
	code := e.totpCode(b32)

	c := e.browser()
	p, _ := webappParams()
	if resp, _ := e.submitFactor(c, e.factorStep(c, p), "totp", code); !isCode(resp) {
		t.Fatalf("the first use of a code: %d", resp.StatusCode)
	}
	c = e.browser()
	p, _ = webappParams()
	page := e.factorStep(c, p)
	if resp, _ := e.submitFactor(c, page, "totp", code); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("the same code again: %d, want 401", resp.StatusCode)
	}
	e.wantEvent("login_factor_failed")
	e.clock.Add(totpPeriod)
	if resp, _ := e.submitFactor(c, page, "totp", e.totpCode(b32)); !isCode(resp) {
		t.Fatalf("the next step's code: %d", resp.StatusCode)
	}
}

// gatedUses holds calls of UseTOTPStep and UseRecoveryCode until n have
// arrived (or a second has passed), then lets them through together: the
// concurrent uses of one code reach the store at once, each having read
// the authenticator before any of them records its use, so only the
// store's conditional write can keep the code to one use.
type gatedUses struct {
	storage.Store
	g *gate
}

func (s gatedUses) UseTOTPStep(ctx context.Context, userID string, step int64) (bool, error) {
	s.g.wait()
	return s.Store.UseTOTPStep(ctx, userID, step)
}

func (s gatedUses) UseRecoveryCode(ctx context.Context, userID, hash string, now time.Time) (bool, error) {
	s.g.wait()
	return s.Store.UseRecoveryCode(ctx, userID, hash, now)
}

// gate opens once n callers wait at it.
type gate struct {
	n       int
	mu      sync.Mutex
	arrived int
	open    chan struct{}
}

func newGate(n int) *gate { return &gate{n: n, open: make(chan struct{})} }

func (g *gate) wait() {
	g.mu.Lock()
	if g.arrived++; g.arrived == g.n {
		close(g.open)
	}
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-time.After(time.Second):
	}
}

// raceCode has n browsers, each at the second-factor step, send the same
// code (method "totp" or "recovery") at once, to two instances of the
// server on one store, and returns how many signed in. code is called
// once the browsers are waiting.
func raceCode(t *testing.T, dsn, method string, code func(e *env, b32 string, codes []string) string) (*env, int) {
	const n = 8
	e := newEnvDSN(t, dsn, func(c *Config) {
		roomyLockout(c)
		c.Store = gatedUses{c.Store, newGate(n)}
	})
	b32, codes := e.aliceWithTOTP(e.browser())
	browsers := make([]*http.Client, n)
	forms := make([]url.Values, n)
	for i := range browsers {
		browsers[i] = e.browser()
		p, _ := webappParams()
		forms[i] = factorForm(e.factorStep(browsers[i], p), method, code(e, b32, codes))
	}
	var next atomic.Int32
	won := e.raceInstances(n, func(inst *env) bool {
		i := next.Add(1) - 1
		return e.postIsCode(browsers[i], inst.ts.URL+"/login/factor", forms[i])
	})
	return e, won
}

// TestTOTP_ConcurrentCodeSignsInOnce: browsers at the second-factor step
// sending one valid code at once, to two instances, on every backend: one
// signs in.
func TestTOTP_ConcurrentCodeSignsInOnce(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e, won := raceCode(t, b.DSN(t), "totp", func(e *env, b32 string, _ []string) string { return e.totpCode(b32) })
			if won != 1 {
				t.Fatalf("%d concurrent uses of one code signed in, want 1", won)
			}
			if got := e.sessionCount("u-alice"); got != 2 { // the enrolment's and the winner's
				t.Fatalf("%d sessions, want 2", got)
			}
		})
	}
}

// postIsCode posts form to u in c and reports whether the answer sends the
// browser to the web app with a code; any other answer must be a refusal
// (401). Safe from any goroutine.
func (e *env) postIsCode(c *http.Client, u string, form url.Values) bool {
	resp, err := c.PostForm(u, form)
	if err != nil {
		e.t.Errorf("POST %s: %v", u, err)
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if !isCode(resp) && resp.StatusCode != http.StatusUnauthorized {
		e.t.Errorf("POST %s: %d %s, want a code or 401", u, resp.StatusCode, resp.Header.Get("Location"))
	}
	return isCode(resp)
}

// TestRecovery_CodesSignInOnce: each recovery code signs in once, typed
// as shown or with spaces and capitals; the account page counts down;
// a spent code is refused however it is typed.
func TestRecovery_CodesSignInOnce(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	_, codes := e.aliceWithTOTP(e.browser())
	for i, tc := range []struct{ name, typed string }{
		{"as shown", codes[0]},
		{"capitals and spaces", strings.ToUpper(strings.ReplaceAll(codes[1], "-", " "))},
		{"no dashes, padded", "  " + strings.ReplaceAll(codes[2], "-", "") + " "},
	} {
		c := e.browser()
		p, v := webappParams()
		resp, _ := e.submitFactor(c, e.factorStep(c, p), "recovery", tc.typed)
		if !isCode(resp) {
			t.Fatalf("%s: recovery code %q: %d, want a code", tc.name, tc.typed, resp.StatusCode)
		}
		wantAuthn(t, e.webappClaims(resp, v), ACRMultiFactor, amrPassword, amrOTP, amrMFA)
		_, page := e.get(c, e.ts.URL+"/account")
		if got, want := recoveryLeft(t, page), fmt.Sprint(recoveryCodeCount-i-1); got != want {
			t.Errorf("%s: the account page shows %s recovery codes left, want %s", tc.name, got, want)
		}
	}
	e.wantEvent("recovery_code_used")

	for _, typed := range []string{codes[0], strings.ToUpper(codes[0]), codes[1], strings.ReplaceAll(codes[2], "-", " ")} {
		c := e.browser()
		p, _ := webappParams()
		if resp, _ := e.submitFactor(c, e.factorStep(c, p), "recovery", typed); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("spent recovery code %q: %d, want 401", typed, resp.StatusCode)
		}
	}
}

// TestRecovery_ConcurrentUseSignsInOnce: one recovery code sent by many
// browsers at once, to two instances, on every backend: one signs in.
func TestRecovery_ConcurrentUseSignsInOnce(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e, won := raceCode(t, b.DSN(t), "recovery", func(_ *env, _ string, codes []string) string { return codes[0] })
			if won != 1 {
				t.Fatalf("%d concurrent uses of one recovery code signed in, want 1", won)
			}
			if left, err := e.store.CountRecoveryCodes(context.Background(), "u-alice"); err != nil || left != recoveryCodeCount-1 {
				t.Fatalf("%d recovery codes left (%v), want %d", left, err, recoveryCodeCount-1)
			}
		})
	}
}

// TestSignIn_WrongCodesCountTowardLockout: wrong codes count as wrong
// passwords do (UserLimit 5 here), and a right password does not reset
// the count while its second factor is due. Past the limit the right
// password and the right code are both answered 429.
func TestSignIn_WrongCodesCountTowardLockout(t *testing.T) {
	type step struct {
		do   string // "password" (the right one), "wrong code", "right code"
		want int
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"wrong codes, then the right one", []step{
			{"password", 200}, {"wrong code", 401}, {"wrong code", 401}, {"wrong code", 401}, {"wrong code", 401},
			{"right code", 429},
		}},
		{"right passwords between wrong codes", []step{
			{"password", 200}, {"wrong code", 401}, {"password", 200}, {"wrong code", 401}, {"password", 200},
			{"wrong code", 429}, {"password", 429}, {"right code", 429},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			b32, _ := e.aliceWithTOTP(e.browser())
			c := e.browser()
			var page string
			for i, s := range tc.steps {
				var resp *http.Response
				switch s.do {
				case "password":
					p, _ := webappParams()
					_, login := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
					var body string
					if resp, body = e.login(c, login, "alice", alicePassword); at(resp, http.StatusOK, "/login/factor") {
						page = body
					}
				case "wrong code":
					resp, _ = e.submitFactor(c, page, "totp", e.wrongTOTP(b32))
				case "right code":
					resp, _ = e.submitFactor(c, page, "totp", e.totpCode(b32))
				}
				got := resp.StatusCode
				if isCode(resp) {
					got = http.StatusSeeOther
				}
				if got != s.want {
					t.Fatalf("step %d (%s): %d, want %d", i+1, s.do, got, s.want)
				}
			}
		})
	}
}

// TestSignIn_PasswordAloneGetsNoSession: between the password and the
// second factor the browser holds only its sign-in in progress, which
// signs nobody in, cannot skip the factor, and expires.
func TestSignIn_PasswordAloneGetsNoSession(t *testing.T) {
	e := newEnv(t)
	b32, _ := e.aliceWithTOTP(e.browser())
	sessions := e.sessionCount("u-alice")
	c := e.browser()
	p, _ := webappParams()
	page := e.factorStep(c, p)

	if got := e.sessionCount("u-alice"); got != sessions {
		t.Errorf("the password started a session: %d sessions, want %d", got, sessions)
	}
	p, _ = webappParams()
	p.Set("prompt", "none")
	if got := e.authorizeError(c, p); got != "login_required" {
		t.Errorf("prompt=none after the password alone: %q, want login_required", got)
	}
	if resp, _ := e.get(c, e.ts.URL+"/account"); !at(resp, http.StatusOK, "/login") {
		t.Errorf("/account after the password alone: %d at %s, want the login page", resp.StatusCode, resp.Request.URL)
	}
	// The other steps' forms do not take a sign-in at the factor step: it
	// can neither skip the factor nor replace it with a new one.
	other, err := e.srv.totp.enrol("u-alice", "alice")
	if err != nil {
		t.Fatal(err)
	}
	for path, purpose := range map[string]string{"/login/continue": "continue", "/login/enrol": "enrol"} {
		f := url.Values{"csrf_token": {e.formToken(c, purpose)}, "secret": {other.Sealed}, "code": {e.totpCode(other.Secret)}}
		if resp, _ := e.post(c, e.ts.URL+path, f); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("POST %s at the factor step: %d, want 400", path, resp.StatusCode)
		}
	}
	if resp, _ := e.get(c, e.ts.URL+"/login/enrol"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET /login/enrol at the factor step: %d, want 400", resp.StatusCode)
	}

	e.clock.Add(signInTTL + time.Minute)
	if resp, _ := e.get(c, e.ts.URL+"/login/factor"); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("GET /login/factor after %v: %d, want 400", signInTTL+time.Minute, resp.StatusCode)
	}
	if resp, _ := e.submitFactor(c, page, "totp", e.totpCode(b32)); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a right code after %v: %d, want 400", signInTTL+time.Minute, resp.StatusCode)
	}
	if got := e.sessionCount("u-alice"); got != sessions {
		t.Errorf("%d sessions, want %d", got, sessions)
	}
}

// TestMFA_RequiredEnrolsAtSignIn: when a second factor is required (by
// the server, or by the client asking acr_values=aal2) a session without
// one does not do, and a person without one sets up an authenticator app
// after the password, reads their recovery codes and goes on to the
// client at aal2.
func TestMFA_RequiredEnrolsAtSignIn(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tweak func(*Config)
		extra url.Values
	}{
		{"RequireMFA", func(c *Config) { c.RequireMFA = true }, nil},
		{"acr_values=aal2", nil, url.Values{"acr_values": {"aal2"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvDSN(t, storagetest.SQLite(t), tc.tweak)
			params := func(prompt string) (url.Values, string) {
				p, v := webappParams()
				for k, vs := range tc.extra {
					p[k] = vs
				}
				if prompt != "" {
					p.Set("prompt", prompt)
				}
				return p, v
			}

			// A session without a second factor does not do; one with does.
			c := e.browser()
			e.plantSession(c, "u-alice", amrPassword)
			p, _ := params("none")
			if got := e.authorizeError(c, p); got != "login_required" {
				t.Errorf("prompt=none with a password-only session: %q, want login_required", got)
			}
			p, _ = params("")
			if resp, _ := e.get(c, e.ts.URL+"/authorize?"+p.Encode()); !at(resp, http.StatusOK, "/login") {
				t.Errorf("a password-only session: %d at %s, want the login page", resp.StatusCode, resp.Request.URL)
			}
			m := e.browser()
			e.plantSession(m, "u-alice", amrPassword, amrOTP, amrMFA)
			p, _ = params("none")
			if got := e.authorizeError(m, p); got != "" {
				t.Errorf("prompt=none with a two-factor session: %q", got)
			}

			// Enrolment at sign-in.
			c = e.browser()
			p, v := params("")
			_, page := e.get(c, e.ts.URL+"/authorize?"+p.Encode())
			resp, page := e.login(c, page, "alice", alicePassword)
			if !at(resp, http.StatusOK, "/login/enrol") {
				t.Fatalf("after the password: %d at %s, want /login/enrol", resp.StatusCode, resp.Request.URL)
			}
			if got := e.sessionCount("u-alice"); got != 2 { // the planted ones
				t.Errorf("the password alone started a session: %d", got)
			}
			f := hidden(page)
			f.Set("code", e.wrongTOTP(enrolSecret(t, page)))
			if resp, page = e.post(c, e.ts.URL+"/login/enrol", f); resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("a wrong first code: %d, want 422", resp.StatusCode)
			}
			e.enrolAtSignIn(c, page, v)
			e.wantEvent("totp_enrolled")
		})
	}
}

// TestMFA_DiscoveryListsACR: the levels a client may ask for, and the acr
// claim.
func TestMFA_DiscoveryListsACR(t *testing.T) {
	e := newEnv(t)
	d := e.discovery()
	if got := anyStrings(d["acr_values_supported"]); !slices.Equal(got, []string{ACRSingleFactor, ACRMultiFactor}) {
		t.Errorf("acr_values_supported %v", got)
	}
	if !slices.Contains(anyStrings(d["claims_supported"]), "acr") {
		t.Errorf("claims_supported %v lacks acr", d["claims_supported"])
	}
}

// TestAccessTokenSaysHowThePersonSignedIn: a person's access tokens carry
// the sign-in's acr and amr, as the ID token does (RFC 9068 §2.2.3.1), from
// the code exchange and from a refresh, and introspection reports them, so
// that a resource server can ask for a second factor. A client's own token
// carries neither.
func TestAccessTokenSaysHowThePersonSignedIn(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), roomyLockout)
	b32, _ := e.aliceWithTOTP(e.browser())
	e.clock.Add(totpPeriod)
	c := e.browser()
	p, v := webappParams()
	p.Set("scope", "openid offline_access todos:read")
	resp, _ := e.submitFactor(c, e.factorStep(c, p), "totp", e.totpCode(b32))
	q := callback(t, resp)
	st, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v)
	if st != http.StatusOK || tr.RefreshToken == "" {
		t.Fatalf("exchange: %d %s, refresh token %t", st, tr.Error, tr.RefreshToken != "")
	}
	st, refreshed := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken)
	if st != http.StatusOK {
		t.Fatalf("refresh: %d %s", st, refreshed.Error)
	}
	for name, tok := range map[string]string{"from the code": tr.AccessToken, "from a refresh": refreshed.AccessToken} {
		ac := e.unsafeClaims(tok)
		wantAuthn(t, map[string]any{"acr": ac.ACR, "amr": anySlice(ac.AMR)}, ACRMultiFactor, amrPassword, amrOTP, amrMFA)
		in := e.introspectAs("gatehouse-api", apiSecret, tok)
		if in["active"] != true {
			t.Fatalf("%s: introspection %v", name, in)
		}
		wantAuthn(t, in, ACRMultiFactor, amrPassword, amrOTP, amrMFA)
	}

	st, cc := e.token("third", thirdSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}})
	if st != http.StatusOK {
		t.Fatalf("client credentials: %d %s", st, cc.Error)
	}
	if ac := e.unsafeClaims(cc.AccessToken); ac.ACR != "" || ac.AMR != nil || ac.AuthTime != nil {
		t.Errorf("a client's own token says how someone signed in: acr %q amr %v auth_time %v", ac.ACR, ac.AMR, ac.AuthTime)
	}
	in := e.introspectAs("third", thirdSecret, cc.AccessToken)
	_, acr := in["acr"]
	_, amr := in["amr"]
	if in["active"] != true || acr || amr {
		t.Errorf("introspecting a client's own token: %v, want it active without acr or amr", in)
	}
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// enrolAtSignIn sets up an app on the enrolment page of a web app
// sign-in, checks the recovery codes shown, continues, and checks that the
// ID token says aal2 with the password and a code.
func (e *env) enrolAtSignIn(c *http.Client, page, verifier string) {
	e.t.Helper()
	resp, page := e.enrol(c, page, "/login/enrol")
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("enrolling: %d", resp.StatusCode)
	}
	checkRecoveryCodes(e.t, shownRecoveryCodes(e.t, page))
	resp, _ = e.post(c, e.ts.URL+"/login/continue", hidden(page))
	wantAuthn(e.t, e.webappClaims(resp, verifier), ACRMultiFactor, amrPassword, amrOTP, amrMFA)
}
