package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"

	"github.com/gatehouse-dev/gatehouse/internal/assemble/assembletest"
	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
)

// localAuthz is the authorization server alone, over plain HTTP at
// http://localhost:PORT. WebAuthn needs a secure context, which localhost
// is, and a relying party ID that is a domain, which 127.0.0.1 is not. Its
// one client is the web app's registration (a confidential client with
// PKCE), whose redirect URI is a callback server that only says it was
// reached: a test reads the code from the browser's address.
type localAuthz struct {
	*stack
	url      string // http://localhost:PORT, the issuer
	callback string // the client's redirect URI
}

// startLocalAuthz starts the authorization server alone (--roles authz
// --insecure-http) with the sign-in throttling policy given, seeded as
// startStack seeds.
func startLocalAuthz(t *testing.T, lockout authz.Lockout) *localAuthz {
	t.Helper()
	cb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>Callback</title><p id="callback">The client was reached.</p>`))
	}))
	t.Cleanup(cb.Close)
	addr := gatehouseproc.MustFreeAddr(t)
	issuer := localhostURL(addr)
	callbackBase := localhostURL(cb.Listener.Addr().String())
	const apiBase = "https://api.invalid"
	gs := assembletest.Start(t, assembletest.Options{
		Args: []string{"--roles", "authz", "--insecure-http", "--authz-addr", addr, "--issuer", issuer, "--api-url", apiBase},
		Seed: func(ctx context.Context, st *sqlstore.Store, c *config.Serve) error {
			return seed(ctx, st, c.DataDir, callbackBase, apiBase, true)
		},
		Lockout: lockout,
	})
	s := &stack{t: t, store: gs.Store, key: gs.Key, audit: gs.Logs, userSub: userSub, apiURL: apiBase + "/api",
		authz: endpoint{"http://" + addr, addr}, client: &http.Client{Timeout: 10 * time.Second}}
	return &localAuthz{stack: s, url: issuer, callback: callbackBase + "/callback"}
}

// localhostURL is the plain-HTTP URL of addr with the host named localhost.
func localhostURL(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return "http://localhost:" + port
}

// authenticatorApp is the person's authenticator app. The server takes the
// code of each 30-second step once, and the codes of the steps either side
// of the current one too (clock drift): code hands out the next unused
// step's code while that is within the window, the one before the current
// step first, so that three sign-ins need no wait.
type authenticatorApp struct {
	t      *testing.T
	secret string
	last   int64 // the step whose code was handed out last
}

const totpStep = 30 // seconds

// newAuthenticatorApp is an app just set up with the secret: its first
// code is the previous step's.
func newAuthenticatorApp(t *testing.T, secret string) *authenticatorApp {
	return &authenticatorApp{t: t, secret: secret, last: time.Now().Unix()/totpStep - 2}
}

// code returns a code the server has not seen, waiting for the next step
// when every step in the window is used. Near the end of a step it waits
// for the next one, so that the code is still in the window when it
// arrives.
func (a *authenticatorApp) code() string {
	a.t.Helper()
	for {
		now := time.Now()
		cur := now.Unix() / totpStep
		if left := time.Unix((cur+1)*totpStep, 0).Sub(now); left < 2*time.Second {
			time.Sleep(left)
			continue
		}
		step := max(cur-1, a.last+1)
		if step > cur+1 {
			time.Sleep(time.Unix((cur+1)*totpStep, 0).Sub(now))
			continue
		}
		a.last = step
		return a.at(step)
	}
}

// wrong returns a code no step in the window has.
func (a *authenticatorApp) wrong() string {
	a.t.Helper()
	cur := time.Now().Unix() / totpStep
	for _, c := range []string{"000000", "111111", "222222"} {
		if c != a.at(cur-1) && c != a.at(cur) && c != a.at(cur+1) {
			return c
		}
	}
	a.t.Fatal("no wrong code found")
	return ""
}

func (a *authenticatorApp) at(step int64) string {
	a.t.Helper()
	c, err := totp.GenerateCode(a.secret, time.Unix(step*totpStep, 0))
	if err != nil {
		a.t.Fatalf("TOTP code: %v", err)
	}
	return c
}

// --- steps a person takes at the authorization server ---

// signInWithPassword fills in the login form on the page and returns the
// page it leads to.
func (c *chrome) signInWithPassword(step string) string {
	c.t.Helper()
	c.waitFor(step, "#password")
	return c.load(step,
		chromedp.SendKeys(css("#username"), username),
		chromedp.SendKeys(css("#password"), userPassword),
		chromedp.Submit(css("#password")))
}

// submitCode types code into the form on the page (the second factor or
// an enrolment) and returns the page it leads to.
func (c *chrome) submitCode(step, code string) string {
	c.t.Helper()
	c.waitFor(step, "#code")
	return c.load(step, chromedp.SetValue(css("#code"), code), chromedp.Submit(css("#code")))
}

// signOut signs out at the authorization server's /logout.
func (c *chrome) signOut(base string) {
	c.t.Helper()
	c.load("sign-out page", chromedp.Navigate(base+"/logout"))
	if p := urlPath(c.t, c.load("sign out", chromedp.Click(css(`form[action="/logout"] button[type="submit"]`)))); p != "/signed-out" {
		c.t.Fatalf("after sign-out: at %s, want /signed-out\n%s", p, c.dump())
	}
}

// enrolAuthenticator sets up an authenticator app from the account page
// and returns it and the recovery codes shown.
func (c *chrome) enrolAuthenticator() (*authenticatorApp, []string) {
	c.t.Helper()
	c.wantPage("set up an authenticator app", c.load("set up an authenticator app", chromedp.Click(css("#totp-setup"))), "/account/totp")
	secrets := c.textContent("#totp-secret")
	if len(secrets) != 1 || secrets[0] == "" {
		c.t.Fatalf("enrolment page shows secrets %q\n%s", secrets, c.dump())
	}
	if c.textContent(".qr svg") == nil {
		c.t.Errorf("enrolment page has no QR code")
	}
	app := newAuthenticatorApp(c.t, secrets[0])
	c.submitCode("first code", app.code())
	codes := c.textContent("#recovery-codes code")
	if len(codes) != 10 {
		c.t.Fatalf("recovery codes page shows %d codes, want 10\n%s", len(codes), c.dump())
	}
	c.wantPage("recovery codes saved", c.load("recovery codes saved", chromedp.Click(css("#codes-done"))), "/account")
	if left := c.text("#recovery-left"); left != "10" {
		c.t.Errorf("account page: %q recovery codes left, want 10", left)
	}
	return app, codes
}

// currentMethods is how the account page says the current session
// signed in, as ID tokens name the methods (its data-amr).
func (c *chrome) currentMethods() string {
	c.t.Helper()
	var m string
	c.eval(`(() => { for (const tr of document.querySelectorAll('#session-list tr')) {
		if (tr.querySelector('.tag') && tr.cells[0].textContent.includes('this browser')) return tr.cells[2].dataset.amr; }
		return ''; })()`, &m)
	return m
}

// TestBrowserTOTP: a person sets up an authenticator app on the account
// page, then signs in with password and code, and with password and a
// recovery code; wrong codes lock the username out, and then the right
// code is refused too.
func TestBrowserTOTP(t *testing.T) {
	c := startChrome(t, 60*time.Second)
	const userLimit = 5
	s := startLocalAuthz(t, authz.Lockout{UserLimit: userLimit, Delay: 10 * time.Millisecond})

	c.load("open", chromedp.Navigate(s.url+"/login?return=account"))
	c.wantPage("password sign-in without a second factor", c.signInWithPassword("password sign-in"), "/account")
	app, codes := c.enrolAuthenticator()

	// Password, then the code.
	c.signOut(s.url)
	c.load("open", chromedp.Navigate(s.url+"/login?return=account"))
	c.wantPage("password", c.signInWithPassword("password"), "/login/factor")
	c.wantPage("code", c.submitCode("code", app.code()), "/account")
	if m := c.currentMethods(); m != "pwd otp mfa" {
		t.Errorf("session signed in with %q, want pwd otp mfa", m)
	}

	// Password, then a recovery code, spent.
	c.signOut(s.url)
	c.load("open", chromedp.Navigate(s.url+"/login?return=account"))
	c.wantPage("password", c.signInWithPassword("password"), "/login/factor")
	c.load("recovery code form", chromedp.Click(css(`a[href="/login/factor?method=recovery"]`)))
	c.wantPage("recovery code", c.submitCode("recovery code", strings.ToUpper(codes[0])), "/account")
	if left := c.text("#recovery-left"); left != "9" {
		t.Errorf("after a recovery code: %q left, want 9", left)
	}

	// Wrong codes, counted with the password against the username's limit.
	c.signOut(s.url)
	c.load("open", chromedp.Navigate(s.url+"/login?return=account"))
	c.wantPage("password", c.signInWithPassword("password"), "/login/factor")
	for attempt := 2; attempt <= userLimit; attempt++ {
		c.wantPage("wrong code", c.submitCode("wrong code", app.wrong()), "/login/factor")
		if msg := c.text(".error"); !strings.Contains(msg, "not right") {
			t.Fatalf("attempt %d, a wrong code: %q, want the wrong-code message", attempt, msg)
		}
	}
	c.submitCode("wrong code past the limit", app.wrong())
	if msg := c.text(".error"); !strings.Contains(msg, "Too many sign-in attempts") {
		t.Fatalf("attempt %d: %q, want the lockout message", userLimit+1, msg)
	}
	c.submitCode("the right code, locked out", app.code())
	if msg := c.text(".error"); !strings.Contains(msg, "Too many sign-in attempts") {
		t.Fatalf("the right code while locked out: %q, want the lockout message", msg)
	}
	c.wantPage("account while locked out", c.load("account", chromedp.Navigate(s.url+"/account")), "/login")
}

// --- an authorization code flow whose sign-in happens in the browser ---

// codeFlow is one authorization request of the client, with PKCE.
type codeFlow struct {
	verifier, state, nonce string
}

func newCodeFlow(t *testing.T) codeFlow {
	t.Helper()
	var f codeFlow
	for _, p := range []*string{&f.verifier, &f.state, &f.nonce} {
		v, err := secret.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		*p = v
	}
	return f
}

// authorizeURL is where the client sends the browser.
func (l *localAuthz) authorizeURL(f codeFlow) string {
	sum := sha256.Sum256([]byte(f.verifier))
	return l.url + "/authorize?" + url.Values{
		"response_type":         {"code"},
		"client_id":             {webappClientID},
		"redirect_uri":          {l.callback},
		"scope":                 {"openid profile"},
		"state":                 {f.state},
		"nonce":                 {f.nonce},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}.Encode()
}

// redeem takes the browser's address at the callback, checks the state
// and exchanges the code for tokens, and returns the ID token's claims.
// The signature is not checked here: the token comes straight from the
// token endpoint over a connection the test made.
func (l *localAuthz) redeem(f codeFlow, callback string) map[string]any {
	t := l.t
	t.Helper()
	u, err := url.Parse(callback)
	if err != nil || u.Scheme+"://"+u.Host+u.Path != l.callback {
		t.Fatalf("browser at %q, want the callback %s", callback, l.callback)
	}
	q := u.Query()
	if q.Get("state") != f.state || q.Get("code") == "" {
		t.Fatalf("callback %s: want a code and the state sent", callback)
	}
	req, _ := http.NewRequest(http.MethodPost, l.url+"/token", strings.NewReader(url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {q.Get("code")},
		"redirect_uri":  {l.callback},
		"code_verifier": {f.verifier},
	}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(webappClientID, webappSecret)
	res, err := l.client.Do(req)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer res.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("token endpoint answered %d (%v)", res.StatusCode, err)
	}
	parts := strings.Split(tok.IDToken, ".")
	if len(parts) != 3 {
		t.Fatalf("ID token %q is not a JWS", tok.IDToken)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("ID token payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("ID token payload: %v", err)
	}
	if claims["nonce"] != f.nonce || claims["sub"] != l.userSub {
		t.Fatalf("ID token for %v with nonce %v, want %s and the nonce sent", claims["sub"], claims["nonce"], l.userSub)
	}
	return claims
}

// --- passkeys ---

// virtualAuthenticator gives the browser a platform authenticator, through
// the DevTools protocol's WebAuthn domain, that keeps discoverable
// credentials, verifies its user and answers at once, as a laptop's
// fingerprint reader whose owner touches it would.
func (c *chrome) virtualAuthenticator() webauthn.AuthenticatorID {
	c.t.Helper()
	id, err := chromedp.Run(c.ctx, func(ctx context.Context, t *chromedp.Target) (webauthn.AuthenticatorID, error) {
		if _, err := cdp.Call(ctx, t, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return "", fmt.Errorf("enabling WebAuthn: %w", err)
		}
		res, err := cdp.Call(ctx, t, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Ctap2version:                webauthn.Ctap2versionCtap21,
				Transport:                   webauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
		if err != nil {
			return "", fmt.Errorf("adding a virtual authenticator: %w", err)
		}
		return res.AuthenticatorID, nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return id
}

// noConditionalMediation makes the browser report, on every page from now
// on, that it offers no passkeys in autofill, as browsers without
// conditional mediation do.
func (c *chrome) noConditionalMediation() {
	c.t.Helper()
	_, err := chromedp.Run(c.ctx, func(ctx context.Context, t *chromedp.Target) (cdppage.AddScriptToEvaluateOnNewDocumentResult, error) {
		return cdp.Call(ctx, t, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{
			Source: `PublicKeyCredential.isConditionalMediationAvailable = () => Promise.resolve(false);`,
		})
	})
	if err != nil {
		c.t.Fatalf("turning conditional mediation off: %v", err)
	}
}

// credentials returns what the virtual authenticator holds.
func (c *chrome) credentials(id webauthn.AuthenticatorID) []*webauthn.Credential {
	c.t.Helper()
	res, err := chromedp.Run(c.ctx, func(ctx context.Context, t *chromedp.Target) (webauthn.GetCredentialsResult, error) {
		return cdp.Call(ctx, t, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
	})
	if err != nil {
		c.t.Fatalf("reading the authenticator's credentials: %v", err)
	}
	return res.Credentials
}

// TestBrowserPasskey: a person adds a passkey on the account page and
// then signs in with it alone, no username typed: at the role (by
// autofill, then by the passkey button), and for a client, whose ID token
// says the sign-in took two factors. With
// GATEHOUSE_SCREENSHOT_DIR set, the account page (a passkey and an
// authenticator app on) and the login page are saved there.
func TestBrowserPasskey(t *testing.T) {
	c := startChrome(t, 60*time.Second)
	s := startLocalAuthz(t, authz.Lockout{})
	shots := os.Getenv("GATEHOUSE_SCREENSHOT_DIR")
	auth := c.virtualAuthenticator()

	c.load("open", chromedp.Navigate(s.url+"/login?return=account"))
	c.wantPage("password sign-in", c.signInWithPassword("password sign-in"), "/account")
	// An authenticator app as well: a passkey sign-in asks for no code.
	c.enrolAuthenticator()

	const name = "Ada's laptop"
	c.do("passkey form", chromedp.WaitVisible(css("#passkey-add button")), chromedp.SendKeys(css("#passkey-name"), name))
	c.wantPage("add a passkey", c.load("add a passkey", chromedp.Click(css("#passkey-add button"))), "/account")
	if list := c.text("#passkey-list"); !strings.Contains(list, name) {
		t.Fatalf("passkey list shows %q, want %q\n%s", list, name, c.dump())
	}
	creds := c.credentials(auth)
	if len(creds) != 1 || !creds[0].IsResidentCredential || creds[0].RpID != "localhost" || string(creds[0].UserHandle) != s.userSub {
		t.Fatalf("authenticator holds %+v, want one discoverable credential of localhost for %s", creds, s.userSub)
	}
	added := creds[0].SignCount

	// At the role, by autofill: the login page asks for a passkey quietly
	// (conditional mediation), which the virtual authenticator answers at
	// once, as a person who picks it in the username field's suggestions.
	c.signOut(s.url)
	c.load("open", chromedp.Navigate(s.url+"/login?return=account"))
	c.waitPage("passkey sign-in by autofill", "/account")
	if m := c.currentMethods(); m != "hwk mfa" {
		t.Errorf("session signed in by autofill with %q, want hwk mfa", m)
	}

	// At the role, by the passkey button, no username typed. The browser
	// offers no autofill from here on, so only the button signs in.
	c.noConditionalMediation()
	c.signOut(s.url)
	c.load("open", chromedp.Navigate(s.url+"/login?return=account"))
	c.do("passkey button", chromedp.WaitVisible(css("#passkey-login button.passkey")))
	c.wantPage("passkey sign-in", c.load("passkey sign-in", chromedp.Click(css("#passkey-login button.passkey"))), "/account")
	if m := c.currentMethods(); m != "hwk mfa" {
		t.Errorf("session signed in with %q, want hwk mfa", m)
	}

	// For a client.
	c.signOut(s.url)
	flow := newCodeFlow(t)
	c.wantPage("authorize", c.load("authorize", chromedp.Navigate(s.authorizeURL(flow))), "/login")
	c.do("passkey button", chromedp.WaitVisible(css("#passkey-login button.passkey")))
	if shots != "" {
		c.screenshot(filepath.Join(shots, "login-passkey.png"))
	}
	claims := s.redeem(flow, c.load("passkey sign-in for the client", chromedp.Click(css("#passkey-login button.passkey"))))
	var amr []string
	if list, ok := claims["amr"].([]any); ok {
		for _, m := range list {
			if str, ok := m.(string); ok {
				amr = append(amr, str)
			}
		}
	}
	if !slices.Contains(amr, "mfa") || !slices.Contains(amr, "hwk") && !slices.Contains(amr, "swk") || slices.Contains(amr, "pwd") {
		t.Errorf("ID token amr %v, want mfa and hwk or swk, no pwd", claims["amr"])
	}
	if claims["acr"] != authz.ACRMultiFactor {
		t.Errorf("ID token acr %v, want %s", claims["acr"], authz.ACRMultiFactor)
	}

	creds = c.credentials(auth)
	switch {
	case len(creds) != 1:
		t.Errorf("the authenticator holds %d credentials, want 1", len(creds))
	case creds[0].SignCount < added+3:
		t.Errorf("after three sign-ins the authenticator's counter is %v, want at least %v", creds[0].SignCount, added+3)
	}

	c.wantPage("account", c.load("account", chromedp.Navigate(s.url+"/account")), "/account")
	if row := c.text("#passkey-list tr:nth-child(2)"); !strings.Contains(row, name) || strings.Contains(row, "never") {
		t.Errorf("passkey row %q, want %q last used now", row, name)
	}
	if shots != "" {
		c.screenshot(filepath.Join(shots, "account.png"))
	}
}
