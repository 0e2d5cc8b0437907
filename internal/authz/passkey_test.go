package authz

import (
	"bytes"
	"cmp"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// These tests play the browser and the authenticator: a software
// authenticator (an ECDSA P-256 key per passkey) answers the server's
// options as a platform authenticator would, with "none" attestation.

// Authenticator data flags (WebAuthn §6.1).
const (
	flagUP = 0x01
	flagUV = 0x04
	flagBE = 0x08
	flagBS = 0x10
	flagAT = 0x40
)

// softPasskey is a passkey in the software authenticator.
type softPasskey struct {
	id     []byte
	key    *ecdsa.PrivateKey
	handle []byte // the user handle it was made for
	backup byte   // flagBE|flagBS for a synced passkey
}

func newSoftPasskey(t testing.TB, handle []byte, backup byte) *softPasskey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	return &softPasskey{id: id, key: key, handle: handle, backup: backup}
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func clientDataJSON(typ, challenge, origin string) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	return b
}

func authenticatorData(rpID string, flags byte, counter uint32, attested []byte) []byte {
	h := sha256.Sum256([]byte(rpID))
	b := append(h[:], flags)
	b = binary.BigEndian.AppendUint32(b, counter)
	return append(b, attested...)
}

// coseKey is the passkey's public key as a COSE_Key (RFC 9053 §7.1.1).
func (k *softPasskey) coseKey(t testing.TB) []byte {
	t.Helper()
	raw, err := k.key.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	b, err := webauthncbor.Marshal(map[int]any{1: 2, 3: -7, -1: 1, -2: raw[1:33], -3: raw[33:]})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// created is the credential navigator.credentials.create returns, as JSON.
func (k *softPasskey) created(t testing.TB, rpID, origin, challenge string) string {
	t.Helper()
	attested := make([]byte, 16) // AAGUID
	attested[0] = 0xAA
	attested = binary.BigEndian.AppendUint16(attested, uint16(len(k.id)))
	attested = append(append(attested, k.id...), k.coseKey(t)...)
	obj, err := webauthncbor.Marshal(map[string]any{
		"fmt": "none", "attStmt": map[string]any{},
		"authData": authenticatorData(rpID, flagUP|flagUV|flagAT|k.backup, 0, attested),
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64u(k.id), "rawId": b64u(k.id), "type": "public-key",
		// Some browsers report credProps unasked.
		"clientExtensionResults": map[string]any{"credProps": map[string]any{"rk": true}},
		"response": map[string]any{
			"clientDataJSON":    b64u(clientDataJSON("webauthn.create", challenge, origin)),
			"attestationObject": b64u(obj),
			"transports":        []string{"internal", "hybrid", "carrier-pigeon"},
		},
	})
	return string(b)
}

// assertion is what the authenticator and browser put in an assertion;
// the zero values of a field take the right value (see assert).
type assertion struct {
	challenge, origin, rpID, typ string
	flags                        byte
	counter                      uint32
	handle                       []byte
	noHandle                     bool
	signer                       *ecdsa.PrivateKey
	id                           []byte
}

// assert is the credential navigator.credentials.get returns, as JSON.
func (k *softPasskey) assert(t testing.TB, e *env, a assertion) string {
	t.Helper()
	a.origin = cmp.Or(a.origin, e.cfg.Issuer)
	a.rpID = cmp.Or(a.rpID, "localhost")
	a.typ = cmp.Or(a.typ, "webauthn.get")
	if a.flags == 0 {
		a.flags = flagUP | flagUV | k.backup
	}
	if a.handle == nil {
		a.handle = k.handle
	}
	if a.signer == nil {
		a.signer = k.key
	}
	if a.id == nil {
		a.id = k.id
	}
	cd := clientDataJSON(a.typ, a.challenge, a.origin)
	ad := authenticatorData(a.rpID, a.flags, a.counter, nil)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(slices.Clone(ad), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, a.signer, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	resp := map[string]any{"clientDataJSON": b64u(cd), "authenticatorData": b64u(ad), "signature": b64u(sig)}
	if !a.noHandle {
		resp["userHandle"] = b64u(a.handle)
	}
	b, _ := json.Marshal(map[string]any{
		"id": b64u(a.id), "rawId": b64u(a.id), "type": "public-key", "clientExtensionResults": map[string]any{}, "response": resp,
	})
	return string(b)
}

// --- the server side of the browser ---

// newPasskeyEnv is newEnv with an issuer whose host is a name
// (https://localhost:port; the browser still speaks to 127.0.0.1): relying
// party IDs are domain names.
func newPasskeyEnv(t *testing.T, tweaks ...func(*Config)) *env {
	return newPasskeyEnvDSN(t, storagetest.SQLite(t), tweaks...)
}

func newPasskeyEnvDSN(t *testing.T, dsn string, tweaks ...func(*Config)) *env {
	return newEnvDSN(t, dsn, func(c *Config) {
		u, err := url.Parse(c.Issuer)
		if err != nil {
			t.Fatal(err)
		}
		c.Issuer = "https://localhost:" + u.Port()
		for _, tw := range tweaks {
			tw(c)
		}
	})
}

// pkOptions is a ceremony's options as the server sends them.
type pkOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RPID      string `json:"rpId"`
		RP        struct {
			ID, Name string
		} `json:"rp"`
		User struct {
			ID          string `json:"id"`
			Name        string `json:"name"`
			DisplayName string `json:"displayName"`
		} `json:"user"`
		AllowCredentials       []struct{ ID string } `json:"allowCredentials"`
		ExcludeCredentials     []struct{ ID string } `json:"excludeCredentials"`
		UserVerification       string                `json:"userVerification"`
		Attestation            string                `json:"attestation"`
		AuthenticatorSelection struct {
			ResidentKey        string `json:"residentKey"`
			RequireResidentKey bool   `json:"requireResidentKey"`
			UserVerification   string `json:"userVerification"`
		} `json:"authenticatorSelection"`
	} `json:"publicKey"`
	Error string `json:"error"`
}

// options asks for a ceremony's options as the page's script does.
func (e *env) options(c *http.Client, path, csrf string) (int, pkOptions) {
	e.t.Helper()
	f := url.Values{}
	if csrf != "" {
		f.Set("csrf_token", csrf)
	}
	resp, body := e.post(c, e.ts.URL+path, f)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		e.t.Fatalf("POST %s: %d %s, want JSON", path, resp.StatusCode, ct)
	}
	var o pkOptions
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		e.t.Fatalf("POST %s: %v in %s", path, err, body)
	}
	return resp.StatusCode, o
}

// aliceAtAccount signs alice in with her password in c, at the account
// page, and returns the page.
func (e *env) aliceAtAccount(c *http.Client) string {
	e.t.Helper()
	_, page := e.get(c, e.ts.URL+"/login?return=account")
	resp, page := e.login(c, page, "alice", alicePassword)
	if resp.Request.URL.Path != "/account" {
		e.t.Fatalf("signed in at %s (%d), want /account", resp.Request.URL.Path, resp.StatusCode)
	}
	return page
}

// addPasskey adds k on the account page in c, which shows page; it
// returns the answer to the form.
func (e *env) addPasskey(c *http.Client, page string, k *softPasskey, name string) *http.Response {
	e.t.Helper()
	f := hidden(page)
	st, o := e.options(c, "/account/passkeys/options", f.Get("csrf_token"))
	if st != http.StatusOK {
		e.t.Fatalf("registration options: %d %s", st, o.Error)
	}
	f.Set("name", name)
	f.Set("credential", k.created(e.t, "localhost", e.cfg.Issuer, o.PublicKey.Challenge))
	resp, _ := e.post(c, e.ts.URL+"/account/passkeys", f)
	return resp
}

// registered gives alice (or bob) a passkey, added from the account page
// in a browser of its own.
func (e *env) registered(user string, backup byte) *softPasskey {
	e.t.Helper()
	c := e.browser()
	_, page := e.get(c, e.ts.URL+"/login?return=account")
	_, page = e.login(c, page, user, alicePassword)
	k := newSoftPasskey(e.t, []byte("u-"+user), backup)
	if resp := e.addPasskey(c, page, k, user+"'s key"); resp.Request.URL.String() != e.ts.URL+"/account?done=passkey-added" {
		e.t.Fatalf("adding a passkey ended at %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	return k
}

// passkeyLogin signs in without a username in c: the login page (at
// query), its options, and the credential of a as k makes it. It returns
// the answer to the form.
func (e *env) passkeyLogin(c *http.Client, query string, k *softPasskey, a assertion) (*http.Response, string) {
	e.t.Helper()
	f, challenge := e.beginPasskeyLogin(c, query)
	a.challenge = cmp.Or(a.challenge, challenge)
	f.Set("credential", k.assert(e.t, e, a))
	return e.post(c, e.ts.URL+"/login/passkey", f)
}

// beginPasskeyLogin opens the login page and asks for options: it
// returns the passkey form and the challenge.
func (e *env) beginPasskeyLogin(c *http.Client, query string) (url.Values, string) {
	e.t.Helper()
	_, page := e.get(c, e.ts.URL+"/login"+query)
	f := hidden(page)
	st, o := e.options(c, "/login/passkey/options", f.Get("csrf_token"))
	if st != http.StatusOK {
		e.t.Fatalf("sign-in options: %d %s", st, o.Error)
	}
	if len(o.PublicKey.AllowCredentials) != 0 || o.PublicKey.UserVerification != "required" || o.PublicKey.RPID != "localhost" {
		e.t.Fatalf("sign-in options %+v, want any passkey of localhost, verifying its user", o.PublicKey)
	}
	return f, o.PublicKey.Challenge
}

// session is the login session browser c holds, if any.
func (e *env) session(c *http.Client) (storage.LoginSession, bool) {
	e.t.Helper()
	u, _ := url.Parse(e.ts.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == e.srv.pages.session {
			s, err := e.store.GetLoginSession(context.Background(), secret.HashToken(ck.Value), e.clock.Now())
			return s, err == nil
		}
	}
	return storage.LoginSession{}, false
}

// wantSession checks that c holds a session of user signed in with amr.
func (e *env) wantSession(c *http.Client, user string, amr ...string) {
	e.t.Helper()
	s, ok := e.session(c)
	if !ok || s.UserID != user || !slices.Equal(s.AMR, amr) {
		e.t.Fatalf("session %+v (found %v), want one of %s with amr %v", s, ok, user, amr)
	}
}

// events are the audit records of one event.
func (e *env) events(name string) []map[string]any {
	var out []map[string]any
	for line := range strings.Lines(e.logs.String()) {
		m := map[string]any{}
		if json.Unmarshal([]byte(line), &m) == nil && m["event"] == name {
			out = append(out, m)
		}
	}
	return out
}

// refusedSignIn checks a sign-in's answer: the login page, 401, with the
// one message, and no session.
func (e *env) refusedSignIn(c *http.Client, resp *http.Response, body string) {
	e.t.Helper()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "That passkey could not sign you in.") {
		e.t.Errorf("answer %d, want 401 with the login page's passkey error", resp.StatusCode)
	}
	if s, ok := e.session(c); ok {
		e.t.Errorf("refused sign-in has a session %+v", s)
	}
}

// --- tests ---

func TestPasskey_RegisterThenSignInWithoutUsername(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { registerThenSignIn(t, newPasskeyEnvDSN(t, b.DSN(t))) })
	}
}

func registerThenSignIn(t *testing.T, e *env) {
	ctx := context.Background()
	c := e.browser()
	page := e.aliceAtAccount(c)
	if !strings.Contains(page, `data-options="/account/passkeys/options"`) || !strings.Contains(page, `src="/static/passkey.js"`) {
		t.Fatal("the account page offers no passkey")
	}

	st, o := e.options(c, "/account/passkeys/options", hidden(page).Get("csrf_token"))
	p := o.PublicKey
	switch {
	case st != http.StatusOK:
		t.Fatalf("options: %d %s", st, o.Error)
	case p.RP.ID != "localhost" || p.RP.Name != "Gatehouse":
		t.Errorf("rp %+v", p.RP)
	case p.User.ID != b64u([]byte("u-alice")) || p.User.Name != "alice" || p.User.DisplayName != "Alice Example":
		t.Errorf("user %+v", p.User)
	case p.AuthenticatorSelection.ResidentKey != "required" || !p.AuthenticatorSelection.RequireResidentKey || p.AuthenticatorSelection.UserVerification != "required":
		t.Errorf("authenticator selection %+v", p.AuthenticatorSelection)
	case p.Attestation != "none" || len(p.ExcludeCredentials) != 0:
		t.Errorf("attestation %q, exclude %v", p.Attestation, p.ExcludeCredentials)
	}

	k := newSoftPasskey(t, []byte("u-alice"), 0)
	f := hidden(page)
	f.Set("name", "  Laptop  ")
	f.Set("credential", k.created(t, "localhost", e.cfg.Issuer, p.Challenge))
	resp, _ := e.post(c, e.ts.URL+"/account/passkeys", f)
	if resp.Request.URL.String() != e.ts.URL+"/account?done=passkey-added" {
		t.Fatalf("added at %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	keys, err := e.store.ListPasskeys(ctx, "u-alice")
	if err != nil || len(keys) != 1 {
		t.Fatalf("passkeys %v, %v", keys, err)
	}
	got := keys[0]
	switch {
	case string(got.ID) != string(k.id) || got.Name != "Laptop" || got.SignCount != 0:
		t.Errorf("stored %q %q counter %d", got.ID, got.Name, got.SignCount)
	case got.BackupEligible || got.BackupState || got.AAGUID[0] != 0xAA || got.AttestationType != "none":
		t.Errorf("stored BE %v BS %v AAGUID %x attestation %q", got.BackupEligible, got.BackupState, got.AAGUID, got.AttestationType)
	case !slices.Equal(got.Transports, []string{"internal", "hybrid"}):
		t.Errorf("stored transports %v", got.Transports)
	}
	if ev := e.events("passkey_added"); len(ev) != 1 || ev[0]["user_id"] != "u-alice" {
		t.Errorf("audit passkey_added: %v", ev)
	}

	// A second passkey: the options exclude the first.
	_, o = e.options(c, "/account/passkeys/options", hidden(page).Get("csrf_token"))
	if ex := o.PublicKey.ExcludeCredentials; len(ex) != 1 || ex[0].ID != b64u(k.id) {
		t.Errorf("exclude %v, want the first passkey", ex)
	}

	// Signing in with it, in another browser: no username, no password.
	b := e.browser()
	resp, _ = e.passkeyLogin(b, "", k, assertion{counter: 1})
	if resp.Request.URL.Path != "/" {
		t.Fatalf("signed in at %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	e.wantSession(b, "u-alice", amrHWK, amrMFA)
	for _, ck := range b.Jar.Cookies(mustURL(t, e.ts.URL)) {
		if strings.HasPrefix(ck.Name, e.srv.pages.ceremony) {
			t.Errorf("ceremony cookie %s left after the sign-in", ck.Name)
		}
	}
	if got, _ := e.store.GetPasskey(ctx, k.id); got.SignCount != 1 || !got.LastUsedAt.Equal(e.clock.Now().Truncate(time.Microsecond)) {
		t.Errorf("after the sign-in: counter %d, last used %v", got.SignCount, got.LastUsedAt)
	}
}

func TestPasskey_SyncedPasskeyIsSWK(t *testing.T) {
	e := newPasskeyEnv(t)
	k := e.registered("alice", flagBE|flagBS)
	if got, _ := e.store.GetPasskey(context.Background(), k.id); !got.BackupEligible || !got.BackupState {
		t.Fatalf("stored BE %v BS %v", got.BackupEligible, got.BackupState)
	}
	c := e.browser()
	e.passkeyLogin(c, "", k, assertion{}) // synced passkeys count nothing: 0
	e.wantSession(c, "u-alice", amrSWK, amrMFA)
}

// TestPasskey_IDToken: a passkey sign-in for a client reaches aal2 with
// amr [hwk mfa].
func TestPasskey_IDToken(t *testing.T) {
	e := newPasskeyEnv(t)
	k := e.registered("alice", 0)
	v, ch := pkce()
	c := e.browser()
	resp, _ := e.get(c, e.ts.URL+"/authorize?"+authParams("gatehouse-webapp", webappRedir, ch, "openid").Encode())
	if resp.Request.URL.Path != "/login" {
		t.Fatalf("authorize led to %s", resp.Request.URL)
	}
	resp, _ = e.passkeyLogin(c, "?"+resp.Request.URL.RawQuery, k, assertion{counter: 1})
	q := callback(t, resp)
	st, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v)
	if st != http.StatusOK {
		t.Fatalf("exchange: %d %s", st, tr.Error)
	}
	claims := e.idClaims(tr.IDToken)
	if claims["sub"] != "u-alice" {
		t.Errorf("sub %v", claims["sub"])
	}
	wantAuthn(t, claims, ACRMultiFactor, amrHWK, amrMFA)
}

// TestPasskey_ReplayRefused: an assertion, and the ceremony cookie it
// answered, sent again are refused: its challenge is spent. The passkey
// has no counter and the clock moves, so only the challenge stops it.
func TestPasskey_ReplayRefused(t *testing.T) {
	e := newPasskeyEnv(t)
	k := e.registered("alice", flagBE|flagBS)
	c := e.browser()
	f, challenge := e.beginPasskeyLogin(c, "")
	f.Set("credential", k.assert(t, e, assertion{challenge: challenge}))
	cookies := c.Jar.Cookies(mustURL(t, e.ts.URL))

	resp, _ := e.post(c, e.ts.URL+"/login/passkey", f)
	if resp.Request.URL.Path != "/" {
		t.Fatalf("first sign-in at %s (%d)", resp.Request.URL, resp.StatusCode)
	}
	e.clock.Add(time.Second)
	replay := e.browser()
	replay.Jar.SetCookies(mustURL(t, e.ts.URL), cookies)
	resp, body := e.post(replay, e.ts.URL+"/login/passkey", f)
	e.refusedSignIn(replay, resp, body)
	if ev := e.events("login_failed"); len(ev) == 0 || !strings.Contains(ev[len(ev)-1]["reason"].(string), "challenge already used") {
		t.Errorf("audit of the replay: %v", ev)
	}
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestPasskey_CounterMustAdvance: a counter that does not move past the
// stored one is refused and audited as a possible clone.
func TestPasskey_CounterMustAdvance(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { counterMustAdvance(t, newPasskeyEnvDSN(t, b.DSN(t))) })
	}
}

func counterMustAdvance(t *testing.T, e *env) {
	k := e.registered("alice", 0)
	if resp, _ := e.passkeyLogin(e.browser(), "", k, assertion{counter: 5}); resp.Request.URL.Path != "/" {
		t.Fatalf("first sign-in: %d", resp.StatusCode)
	}
	for _, tt := range []struct {
		name    string
		counter uint32
		ok      bool
	}{
		{"back", 3, false},
		{"same", 5, false},
		{"zero after non-zero", 0, false},
		{"forward", 6, true},
		{"forward again, skipping some", 40, true},
		{"back after skipping", 39, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e.clock.Add(time.Second)
			before := len(e.events("passkey_clone_suspected"))
			c := e.browser()
			resp, body := e.passkeyLogin(c, "", k, assertion{counter: tt.counter})
			if tt.ok {
				e.wantSession(c, "u-alice", amrHWK, amrMFA)
				return
			}
			e.refusedSignIn(c, resp, body)
			ev := e.events("passkey_clone_suspected")
			if len(ev) != before+1 {
				t.Fatalf("%d clone audits, want %d", len(ev), before+1)
			}
			last := ev[len(ev)-1]
			if last["level"] != "WARN" || last["user_id"] != "u-alice" || last["credential"] != b64u(k.id) {
				t.Errorf("clone audit %v", last)
			}
		})
	}
	if got, _ := e.store.GetPasskey(context.Background(), k.id); got.SignCount != 40 {
		t.Errorf("stored counter %d, want 40", got.SignCount)
	}
}

// TestPasskey_RefusedAssertions: every way an assertion can be wrong is
// refused with one message and no session; the right one signs in.
func TestPasskey_RefusedAssertions(t *testing.T) {
	e := newPasskeyEnv(t)
	alice := e.registered("alice", 0)
	bob := e.registered("bob", 0)
	stranger := newSoftPasskey(t, []byte("u-alice"), 0)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	counter := uint32(0)
	for _, tt := range []struct {
		name string
		k    *softPasskey
		a    assertion
		ok   bool
	}{
		{"unknown credential", stranger, assertion{}, false},
		{"another user's passkey, this user's handle", bob, assertion{handle: []byte("u-alice")}, false},
		{"this user's passkey, another user's handle", alice, assertion{handle: []byte("u-bob")}, false},
		{"unknown user handle", alice, assertion{handle: []byte("u-nobody")}, false},
		{"no user handle", alice, assertion{noHandle: true}, false},
		{"wrong origin", alice, assertion{origin: "https://evil.example"}, false},
		{"origin on another port", alice, assertion{origin: "https://localhost:1"}, false},
		{"wrong relying party", alice, assertion{rpID: "evil.example"}, false},
		{"user not verified", alice, assertion{flags: flagUP}, false},
		{"user not present", alice, assertion{flags: flagUV}, false},
		{"backup eligibility changed", alice, assertion{flags: flagUP | flagUV | flagBE}, false},
		{"registration type", alice, assertion{typ: "webauthn.create"}, false},
		{"another challenge", alice, assertion{challenge: b64u(make([]byte, 32))}, false},
		{"signed by another key", alice, assertion{signer: other}, false},
		{"right", alice, assertion{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			counter++
			tt.a.counter = counter
			c := e.browser()
			resp, body := e.passkeyLogin(c, "", tt.k, tt.a)
			if tt.ok {
				e.wantSession(c, "u-alice", amrHWK, amrMFA)
				return
			}
			e.refusedSignIn(c, resp, body)
		})
	}
}

// TestPasskey_HandleNoUserCanHave: a user handle that no user ID can be
// (not UTF-8, with NUL, longer than WebAuthn's 64 bytes) is an unknown
// user on every backend, refused like one, never a store failure (which
// PostgreSQL's text type would make of invalid UTF-8 or NUL).
func TestPasskey_HandleNoUserCanHave(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newPasskeyEnvDSN(t, b.DSN(t))
			alice := e.registered("alice", 0)
			for i, handle := range [][]byte{[]byte("\xff\xfe"), []byte("a\x00b"), make([]byte, 2000), bytes.Repeat([]byte("a"), 65)} {
				c := e.browser()
				resp, body := e.passkeyLogin(c, "", alice, assertion{handle: handle, counter: uint32(i + 1)})
				e.refusedSignIn(c, resp, body)
			}
		})
	}
}

func TestPasskey_MalformedResponsesAre401(t *testing.T) {
	e := newPasskeyEnv(t)
	for _, cred := range []string{"", "null", "{}", "garbage", `{"id":"AA","rawId":"AA","type":"public-key","response":{}}`, strings.Repeat("[", 5000)} {
		c := e.browser()
		f, _ := e.beginPasskeyLogin(c, "")
		f.Set("credential", cred)
		resp, body := e.post(c, e.ts.URL+"/login/passkey", f)
		e.refusedSignIn(c, resp, body)
	}
	// No ceremony at all.
	c := e.browser()
	_, page := e.get(c, e.ts.URL+"/login")
	f := hidden(page)
	f.Set("credential", "{}")
	resp, body := e.post(c, e.ts.URL+"/login/passkey", f)
	e.refusedSignIn(c, resp, body)
}

func TestPasskey_DisabledUserRefused(t *testing.T) {
	e := newPasskeyEnv(t)
	k := e.registered("alice", 0)
	if err := e.store.SetUserDisabled(context.Background(), "u-alice", true, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	c := e.browser()
	resp, body := e.passkeyLogin(c, "", k, assertion{counter: 1})
	e.refusedSignIn(c, resp, body)
}

func TestPasskey_CeremonyExpires(t *testing.T) {
	e := newPasskeyEnv(t)
	k := e.registered("alice", 0)
	c := e.browser()
	f, challenge := e.beginPasskeyLogin(c, "")
	f.Set("credential", k.assert(t, e, assertion{challenge: challenge, counter: 1}))
	e.clock.Add(ceremonyTTL)
	resp, body := e.post(c, e.ts.URL+"/login/passkey", f)
	e.refusedSignIn(c, resp, body)
}

// TestPasskey_ConcurrentFinishesSignInOnce: one assertion (and its
// ceremony cookie) posted many times at once, to two instances, starts
// one session.
func TestPasskey_ConcurrentFinishesSignInOnce(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { concurrentFinishes(t, newPasskeyEnvDSN(t, b.DSN(t))) })
	}
}

func concurrentFinishes(t *testing.T, e *env) {
	k := e.registered("alice", flagBE|flagBS)
	c := e.browser()
	f, challenge := e.beginPasskeyLogin(c, "")
	f.Set("credential", k.assert(t, e, assertion{challenge: challenge}))
	cookies := c.Jar.Cookies(mustURL(t, e.ts.URL))
	before := e.countSessions("u-alice")
	n := e.raceInstances(16, func(inst *env) bool {
		return postSignsIn(t, inst, "/login/passkey", f, cookies)
	})
	if n != 1 {
		t.Errorf("%d sign-ins, want 1", n)
	}
	if got := e.countSessions("u-alice") - before; got != 1 {
		t.Errorf("%d new sessions, want 1", got)
	}
}

// TestPasskey_ConcurrentSameCounterSignsInOnce: assertions of one
// passkey with one counter value, each answering its own ceremony (a
// cloned authenticator used at once), sign in once: the store moves the
// counter by compare-and-set. The store holds every sign-in until all
// have verified against the same stored counter.
func TestPasskey_ConcurrentSameCounterSignsInOnce(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) { concurrentSameCounter(t, b.DSN(t)) })
	}
}

func concurrentSameCounter(t *testing.T, dsn string) {
	const n = 16
	held := &usePasskeyBarrier{n: n, release: make(chan struct{})}
	e := newPasskeyEnvDSN(t, dsn, func(c *Config) { held.Store, c.Store = c.Store, held })
	k := e.registered("alice", 0)
	type attempt struct {
		form    url.Values
		cookies []*http.Cookie
	}
	attempts := make(chan attempt, n)
	for range n {
		c := e.browser()
		f, challenge := e.beginPasskeyLogin(c, "")
		f.Set("credential", k.assert(t, e, assertion{challenge: challenge, counter: 7}))
		attempts <- attempt{f, c.Jar.Cookies(mustURL(t, e.ts.URL))}
	}
	before := e.countSessions("u-alice")
	ok := e.raceInstances(n, func(inst *env) bool {
		a := <-attempts
		return postSignsIn(t, inst, "/login/passkey", a.form, a.cookies)
	})
	if ok != 1 || e.countSessions("u-alice")-before != 1 {
		t.Errorf("%d sign-ins, %d new sessions; want 1", ok, e.countSessions("u-alice")-before)
	}
}

// usePasskeyBarrier holds calls of UsePasskey until n have come (or a
// few seconds passed), then lets them all go at once.
type usePasskeyBarrier struct {
	storage.Store
	n       int
	mu      sync.Mutex
	arrived int
	release chan struct{}
}

func (b *usePasskeyBarrier) UsePasskey(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, now time.Time) (bool, error) {
	b.mu.Lock()
	if b.arrived++; b.arrived == b.n {
		close(b.release)
	}
	b.mu.Unlock()
	select {
	case <-b.release:
	case <-time.After(5 * time.Second):
	}
	return b.Store.UsePasskey(ctx, id, oldCount, newCount, backupState, now)
}

func (e *env) countSessions(userID string) int {
	e.t.Helper()
	l, err := e.store.ListUserLoginSessions(context.Background(), userID, e.clock.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	return len(l)
}

// postSignsIn posts form f with these cookies to inst and reports whether
// it started a session.
func postSignsIn(t *testing.T, inst *env, path string, f url.Values, cookies []*http.Cookie) bool {
	req, err := http.NewRequest(http.MethodPost, inst.ts.URL+path, strings.NewReader(f.Encode()))
	if err != nil {
		t.Error(err)
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range cookies {
		req.AddCookie(ck)
	}
	resp, err := inst.ts.Client().Transport.RoundTrip(req)
	if err != nil {
		t.Error(err)
		return false
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.Name == inst.srv.pages.session && ck.Value != "" {
			return resp.StatusCode == http.StatusSeeOther
		}
	}
	return false
}

// TestPasskey_SecondFactor: after the password, a person with a passkey
// proves it as the second factor.
func TestPasskey_SecondFactor(t *testing.T) {
	e := newPasskeyEnv(t)
	k := e.registered("alice", 0)
	bob := e.registered("bob", 0)

	start := func() (*http.Client, url.Values, string) {
		t.Helper()
		c := e.browser()
		_, page := e.get(c, e.ts.URL+"/login")
		resp, page := e.login(c, page, "alice", alicePassword)
		if resp.Request.URL.Path != "/login/factor" || !strings.Contains(page, "Use a passkey") {
			t.Fatalf("after the password: %s, want the factor page offering the passkey", resp.Request.URL)
		}
		f := hidden(page)
		st, o := e.options(c, "/login/factor/passkey/options", f.Get("csrf_token"))
		if st != http.StatusOK {
			t.Fatalf("factor options: %d %s", st, o.Error)
		}
		if ac := o.PublicKey.AllowCredentials; len(ac) != 1 || ac[0].ID != b64u(k.id) || o.PublicKey.UserVerification != "required" {
			t.Fatalf("factor options %+v, want alice's passkey", o.PublicKey)
		}
		return c, f, o.PublicKey.Challenge
	}

	t.Run("another user's passkey", func(t *testing.T) {
		c, f, challenge := start()
		f.Set("credential", bob.assert(t, e, assertion{challenge: challenge, counter: 1}))
		resp, body := e.post(c, e.ts.URL+"/login/factor/passkey", f)
		if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "That passkey could not confirm it") {
			t.Errorf("answer %d, want 401 on the factor page", resp.StatusCode)
		}
		if _, ok := e.session(c); ok {
			t.Error("a session")
		}
	})
	t.Run("own passkey, counter back", func(t *testing.T) {
		c, f, challenge := start()
		f.Set("credential", k.assert(t, e, assertion{challenge: challenge, counter: 0}))
		if resp, _ := e.post(c, e.ts.URL+"/login/factor/passkey", f); resp.Request.URL.Path != "/" {
			t.Fatalf("counter 0, the first time: %d", resp.StatusCode) // no counter yet
		}
		e.clock.Add(time.Second)
		c, f, challenge = start()
		f.Set("credential", k.assert(t, e, assertion{challenge: challenge, counter: 3}))
		if resp, _ := e.post(c, e.ts.URL+"/login/factor/passkey", f); resp.Request.URL.Path != "/" {
			t.Fatalf("counter 3: %d", resp.StatusCode)
		}
		c, f, challenge = start()
		f.Set("credential", k.assert(t, e, assertion{challenge: challenge, counter: 2}))
		if resp, _ := e.post(c, e.ts.URL+"/login/factor/passkey", f); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("counter back: %d, want 401", resp.StatusCode)
		}
		if len(e.events("passkey_clone_suspected")) == 0 {
			t.Error("no clone audit")
		}
	})
	t.Run("own passkey", func(t *testing.T) {
		c, f, challenge := start()
		f.Set("credential", k.assert(t, e, assertion{challenge: challenge, counter: 10}))
		resp, _ := e.post(c, e.ts.URL+"/login/factor/passkey", f)
		if resp.Request.URL.Path != "/" {
			t.Fatalf("signed in at %s (%d)", resp.Request.URL, resp.StatusCode)
		}
		e.wantSession(c, "u-alice", amrPassword, amrHWK, amrMFA)
	})
	t.Run("no sign-in in progress", func(t *testing.T) {
		c := e.browser()
		e.get(c, e.ts.URL+"/login")
		tok := e.formToken(c, "factor")
		if st, o := e.options(c, "/login/factor/passkey/options", tok); st != http.StatusUnauthorized || o.Error != "login_required" {
			t.Errorf("options without a sign-in: %d %q", st, o.Error)
		}
	})
}

// TestPasskey_RegistrationNeedsRecentSignIn: adding a passkey needs a
// sign-in of the last reauthWindow, in the options and at the finish.
func TestPasskey_RegistrationNeedsRecentSignIn(t *testing.T) {
	e := newPasskeyEnv(t)
	c := e.browser()
	page := e.aliceAtAccount(c)
	csrf := hidden(page).Get("csrf_token")
	st, o := e.options(c, "/account/passkeys/options", csrf)
	if st != http.StatusOK {
		t.Fatalf("options: %d", st)
	}
	k := newSoftPasskey(t, []byte("u-alice"), 0)
	e.clock.Add(reauthWindow + time.Second)
	if st, o := e.options(c, "/account/passkeys/options", csrf); st != http.StatusUnauthorized || o.Error != "login_required" {
		t.Errorf("options after the window: %d %q", st, o.Error)
	}
	f := hidden(page)
	f.Set("credential", k.created(t, "localhost", e.cfg.Issuer, o.PublicKey.Challenge))
	resp, _ := e.post(c, e.ts.URL+"/account/passkeys", f)
	if resp.Request.URL.Path != "/login" {
		t.Errorf("finish after the window led to %s", resp.Request.URL)
	}
	if keys, _ := e.store.ListPasskeys(context.Background(), "u-alice"); len(keys) != 0 {
		t.Errorf("%d passkeys stored", len(keys))
	}
	// Without any session.
	b := e.browser()
	e.get(b, e.ts.URL+"/login")
	if st, o := e.options(b, "/account/passkeys/options", e.formToken(b, "account")); st != http.StatusUnauthorized || o.Error != "login_required" {
		t.Errorf("options without a session: %d %q", st, o.Error)
	}
}

// TestPasskey_RegistrationRefusals: a registration that does not answer
// the session's own ceremony, or answers it wrongly, adds nothing.
func TestPasskey_RegistrationRefusals(t *testing.T) {
	e := newPasskeyEnv(t)
	for _, tt := range []struct {
		name   string
		mutate func(c *http.Client, challenge string, k *softPasskey) string
	}{
		{"wrong origin", func(_ *http.Client, ch string, k *softPasskey) string {
			return k.created(t, "localhost", "https://evil.example", ch)
		}},
		{"wrong relying party", func(_ *http.Client, ch string, k *softPasskey) string {
			return k.created(t, "evil.example", e.cfg.Issuer, ch)
		}},
		{"another challenge", func(_ *http.Client, _ string, k *softPasskey) string {
			return k.created(t, "localhost", e.cfg.Issuer, b64u(make([]byte, 32)))
		}},
		{"ceremony of an earlier session", func(c *http.Client, ch string, k *softPasskey) string {
			e.aliceAtAccount(c) // signs in again: a new session
			return k.created(t, "localhost", e.cfg.Issuer, ch)
		}},
		{"malformed", func(*http.Client, string, *softPasskey) string { return `{"id":"AA"}` }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.browser()
			page := e.aliceAtAccount(c)
			csrf := hidden(page).Get("csrf_token")
			_, o := e.options(c, "/account/passkeys/options", csrf)
			k := newSoftPasskey(t, []byte("u-alice"), 0)
			f := url.Values{"csrf_token": {csrf}, "credential": {tt.mutate(c, o.PublicKey.Challenge, k)}}
			resp, body := e.post(c, e.ts.URL+"/account/passkeys", f)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "That passkey could not be added.") {
				t.Errorf("answer %d, want 400 on the account page", resp.StatusCode)
			}
			if _, err := e.store.GetPasskey(context.Background(), k.id); err == nil {
				t.Error("passkey stored")
			}
		})
	}
}

// TestPasskey_CSRF: every passkey endpoint needs its form's token.
func TestPasskey_CSRF(t *testing.T) {
	e := newPasskeyEnv(t)
	c := e.browser()
	e.aliceAtAccount(c)
	for _, path := range []string{"/account/passkeys/options", "/login/passkey/options", "/login/factor/passkey/options"} {
		for _, tok := range []string{"", e.formToken(c, "consent")} {
			if st, o := e.options(c, path, tok); st != http.StatusForbidden || o.Error == "" {
				t.Errorf("%s with token %q: %d %q, want 403", path, tok, st, o.Error)
			}
		}
	}
	for _, path := range []string{"/account/passkeys", "/login/passkey", "/login/factor/passkey"} {
		resp, _ := e.post(c, e.ts.URL+path, url.Values{"credential": {"{}"}})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s without a token: %d, want 403", path, resp.StatusCode)
		}
	}
}

// TestPasskey_JSONErrors: the options endpoints answer malformed requests
// in JSON, never with a server error.
func TestPasskey_JSONErrors(t *testing.T) {
	e := newPasskeyEnv(t)
	for _, tt := range []struct {
		method, ctype string
		want          int
	}{
		{http.MethodGet, "", http.StatusMethodNotAllowed},
		{http.MethodPost, "application/json", http.StatusUnsupportedMediaType},
		{http.MethodPost, "application/x-www-form-urlencoded", http.StatusForbidden},
	} {
		req, _ := http.NewRequest(tt.method, e.ts.URL+"/login/passkey/options", strings.NewReader("{}"))
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		resp, err := e.ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s: %d %s, want %d JSON", tt.method, tt.ctype, resp.StatusCode, resp.Header.Get("Content-Type"), tt.want)
		}
	}
}

// TestPasskey_OffForAddressIssuer: an issuer whose host is an IP address
// offers no passkeys (relying party IDs are domain names).
func TestPasskey_OffForAddressIssuer(t *testing.T) {
	e := newEnv(t)
	c := e.browser()
	_, page := e.get(c, e.ts.URL+"/login")
	if strings.Contains(page, "passkey.js") || strings.Contains(page, "/login/passkey") {
		t.Error("the login page offers passkeys")
	}
	if st, o := e.options(c, "/login/passkey/options", hidden(page).Get("csrf_token")); st != http.StatusNotFound || o.Error != "not_supported" {
		t.Errorf("options: %d %q", st, o.Error)
	}
}

func TestPasskey_LoginPageOffersPasskeys(t *testing.T) {
	e := newPasskeyEnv(t)
	_, page := e.get(e.browser(), e.ts.URL+"/login")
	for _, want := range []string{`action="/login/passkey"`, `class="passkey"`, `data-options="/login/passkey/options"`, `<script src="/static/passkey.js" defer></script>`, `autocomplete="username webauthn"`} {
		if !strings.Contains(page, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	resp, js := e.get(e.browser(), e.ts.URL+"/static/passkey.js")
	if resp.StatusCode != http.StatusOK || !strings.Contains(js, "isConditionalMediationAvailable") {
		t.Errorf("passkey.js: %d", resp.StatusCode)
	}
}

func TestPasskeyName(t *testing.T) {
	long := strings.Repeat("é", 70)
	for _, tt := range []struct{ in, want string }{
		{"", "Passkey"},
		{"   ", "Passkey"},
		{"  Phone ", "Phone"},
		{long, strings.Repeat("é", 64)},
		{strings.Repeat("a", 63) + " b", strings.Repeat("a", 63)},
		{"Work\tlaptop\r\n", "Work laptop"},
		{"\x1b[31mred\u0085", "[31mred"},
		{"a\t\tb\u2028c  d", "a b c d"},
		{"\u202egnp.exe", "gnp.exe"},
	} {
		if got := passkeyName(tt.in); got != tt.want {
			t.Errorf("passkeyName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCounterAdvances(t *testing.T) {
	for _, tt := range []struct {
		stored, got uint32
		want        bool
	}{
		{0, 0, true}, // no counter
		{0, 1, true},
		{1, 2, true},
		{1, 1, false},
		{2, 1, false},
		{5, 0, false},
	} {
		if got := counterAdvances(tt.stored, tt.got); got != tt.want {
			t.Errorf("counterAdvances(%d, %d) = %v, want %v", tt.stored, tt.got, got, tt.want)
		}
	}
}

// TestPasskey_AuditReasonBounded: the reason a refusal is audited with
// quotes the client, and is cut short.
func TestPasskey_AuditReasonBounded(t *testing.T) {
	e := newPasskeyEnv(t)
	k := e.registered("alice", 0)
	c := e.browser()
	resp, body := e.passkeyLogin(c, "", k, assertion{counter: 1, origin: "https://" + strings.Repeat("x", 100_000) + ".example"})
	e.refusedSignIn(c, resp, body)
	ev := e.events("login_failed")
	if len(ev) == 0 {
		t.Fatal("no audit")
	}
	if r := ev[len(ev)-1]["reason"].(string); len(r) > maxReason+len("…")+len("passkey refused: ") {
		t.Errorf("reason of %d bytes", len(r))
	}
}

// TestPasskey_FactorOnlyWhileFactorDue: a sign-in that is enrolling a
// factor, or has proven every step, takes no passkey factor.
func TestPasskey_FactorOnlyWhileFactorDue(t *testing.T) {
	e := newPasskeyEnv(t)
	k := e.registered("alice", 0)
	for _, tt := range []struct {
		name        string
		enrol, done bool
	}{
		{"enrolling", true, false},
		{"done", false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := e.browser()
			e.get(c, e.ts.URL+"/login")
			rec := httptest.NewRecorder()
			st := signInState{ID: "s-" + tt.name, UserID: "u-alice", Username: "alice", AMR: []string{amrPassword},
				Enrol: tt.enrol, Done: tt.done, Expires: e.clock.Now().Add(signInTTL)}
			if err := e.srv.sealSignIn(rec, st); err != nil {
				t.Fatal(err)
			}
			c.Jar.SetCookies(mustURL(t, e.ts.URL), rec.Result().Cookies())
			tok := e.formToken(c, "factor")
			if st, o := e.options(c, "/login/factor/passkey/options", tok); st != http.StatusUnauthorized {
				t.Errorf("options: %d %q, want 401", st, o.Error)
			}
			f := url.Values{"csrf_token": {tok}, "credential": {k.assert(t, e, assertion{challenge: b64u(make([]byte, 32)), counter: 1})}}
			if resp, _ := e.post(c, e.ts.URL+"/login/factor/passkey", f); resp.StatusCode != http.StatusBadRequest {
				t.Errorf("finish: %d, want 400", resp.StatusCode)
			}
		})
	}
}

// TestPasskey_CeremonyCookie: a ceremony's state is a short-lived cookie
// of the role's kind: __Host-, Secure, HttpOnly, Lax, five minutes.
func TestPasskey_CeremonyCookie(t *testing.T) {
	e := newPasskeyEnv(t)
	c := e.browser()
	_, page := e.get(c, e.ts.URL+"/login")
	req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/login/passkey/options", strings.NewReader(url.Values{"csrf_token": {hidden(page).Get("csrf_token")}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var got *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "__Host-gatehouse-passkey-login" {
			got = ck
		}
	}
	switch {
	case got == nil:
		t.Fatalf("no ceremony cookie in %v", resp.Cookies())
	case !got.Secure || !got.HttpOnly || got.SameSite != http.SameSiteLaxMode || got.Path != "/" || got.MaxAge != int(ceremonyTTL/time.Second):
		t.Errorf("cookie %+v", got)
	case len(got.Value) > 3000:
		t.Errorf("cookie of %d bytes", len(got.Value))
	}

	key, _ := secret.New()
	p, err := newPages(key, "http://localhost:8000", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if p.ceremony != "gatehouse-passkey" {
		t.Errorf("plain-HTTP ceremony cookie %q", p.ceremony)
	}
}
