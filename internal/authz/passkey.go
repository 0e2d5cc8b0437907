package authz

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Passkeys (W3C Web Authentication Level 3). The role is the relying
// party of its issuer's host name; every credential is discoverable and
// verifies its user (a PIN or a biometric), so a passkey alone is two
// factors: it signs a person in without a username or password
// (/login/passkey), and it is a second factor after a password
// (/login/factor/passkey). People add passkeys on the account page.
//
// Each ceremony has two steps. The first (…/options, answered in JSON for
// the page's script) makes a challenge and keeps the ceremony's state
// sealed in a short-lived cookie; the second (a form post of the
// credential the browser made) opens that state, verifies the response
// and spends the challenge once across instances, so a response is
// accepted once. A sign-in also needs the passkey's signature counter to
// move past the stored one: the store moves it by compare-and-set, so of
// two sign-ins with one counter value (a cloned authenticator, or one
// response sent twice) one at most succeeds.

// ceremonyTTL bounds the time between a ceremony's options and its
// response; browsers time out after five minutes as well.
const ceremonyTTL = 5 * time.Minute

// passkeyRPName is the relying party's name authenticators show.
const passkeyRPName = "Gatehouse"

// maxPasskeyName bounds the name a person gives a passkey, in characters.
const maxPasskeyName = 64

// errPasskeyRefused: the response does not sign in or register. The person
// sees one message whatever the reason; the audit log has the reason.
var errPasskeyRefused = errors.New("passkey refused")

func refused(reason string) error { return fmt.Errorf("%w: %s", errPasskeyRefused, reason) }

// ceremonyKind names what a ceremony is for; a ceremony's state is sealed
// for its kind and opens only for it.
type ceremonyKind string

const (
	ceremonyRegister ceremonyKind = "register" // adding a passkey on the account page
	ceremonyLogin    ceremonyKind = "login"    // signing in without a username
	ceremonyFactor   ceremonyKind = "factor"   // a second factor after a password
)

// ceremony is a ceremony's state between its two steps.
type ceremony struct {
	// Bound is what the ceremony belongs to: the login session adding a
	// passkey, or the sign-in taking a second factor; empty for a sign-in
	// without a username.
	Bound   string `json:",omitempty"`
	Session webauthn.SessionData
	Expires time.Time
}

// passkeyStore is the part of the store passkeys use.
type passkeyStore interface {
	GetUser(ctx context.Context, id string) (storage.User, error)
	ListPasskeys(ctx context.Context, userID string) ([]storage.Passkey, error)
	UsePasskey(ctx context.Context, id []byte, oldCount, newCount uint32, backupState bool, now time.Time) (bool, error)
	UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error
}

// passkeyRP is the relying party: it begins ceremonies, keeps their state
// and verifies the responses.
type passkeyRP struct {
	wa    *webauthn.WebAuthn
	key   *secret.Key
	store passkeyStore
	pages *pages
	now   func() time.Time
}

// newPasskeyRP makes the relying party of issuer's host name. An issuer
// whose host is an IP address has none (nil): WebAuthn relying party IDs
// are domain names, and browsers offer no passkeys to an address.
func newPasskeyRP(issuer string, key *secret.Key, store passkeyStore, pg *pages, now func() time.Time) (*passkeyRP, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return nil, fmt.Errorf("authz: issuer %q: %w", issuer, err)
	}
	host := strings.ToLower(u.Hostname())
	if net.ParseIP(host) != nil {
		return nil, nil
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          host,
		RPDisplayName: passkeyRPName,
		RPOrigins:     []string{u.Scheme + "://" + u.Host},
		// No attestation: which make of authenticator holds a passkey
		// decides nothing here.
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:        protocol.ResidentKeyRequirementRequired,
			RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification:   protocol.VerificationRequired,
		},
		// No extension is asked for and none is acted on; clients that
		// report one unasked (credProps, say) still register and sign in.
		ExtensionsUnsolicitedOutputPolicy: protocol.UnsolicitedOutputPolicyIgnore,
	})
	if err != nil {
		return nil, fmt.Errorf("authz: passkeys: %w", err)
	}
	return &passkeyRP{wa: wa, key: key, store: store, pages: pg, now: now}, nil
}

// --- users and credentials ---

// passkeyUser is a person as the WebAuthn library sees them.
type passkeyUser struct {
	user storage.User
	keys []storage.Passkey
}

// WebAuthnID is the user handle: the user ID (at most 64 bytes).
func (p passkeyUser) WebAuthnID() []byte { return []byte(p.user.ID) }

func (p passkeyUser) WebAuthnName() string { return p.user.Username }

func (p passkeyUser) WebAuthnDisplayName() string {
	if p.user.Name != "" {
		return p.user.Name
	}
	return p.user.Username
}

func (p passkeyUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(p.keys))
	for _, k := range p.keys {
		out = append(out, credentialOf(k))
	}
	return out
}

// credentialOf is the library's credential record of a stored passkey.
func credentialOf(k storage.Passkey) webauthn.Credential {
	transports := make([]protocol.AuthenticatorTransport, 0, len(k.Transports))
	for _, t := range k.Transports {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID: k.ID, PublicKey: k.PublicKey, AttestationType: k.AttestationType, Transport: transports,
		Flags: webauthn.CredentialFlags{
			UserPresent: true, UserVerified: true, BackupEligible: k.BackupEligible, BackupState: k.BackupState,
		},
		Authenticator: webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: k.SignCount},
	}
}

// knownTransports are the transports a passkey is stored with; a client
// may report others, which are dropped.
var knownTransports = []protocol.AuthenticatorTransport{
	protocol.USB, protocol.NFC, protocol.BLE, protocol.SmartCard, protocol.Hybrid, protocol.Internal,
}

func storedTransports(ts []protocol.AuthenticatorTransport) []string {
	var out []string
	for _, t := range ts {
		if slices.Contains(knownTransports, t) && !slices.Contains(out, string(t)) {
			out = append(out, string(t))
		}
	}
	return out
}

func (p *passkeyRP) loadUser(ctx context.Context, u storage.User) (passkeyUser, error) {
	keys, err := p.store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return passkeyUser{}, fmt.Errorf("listing passkeys: %w", err)
	}
	return passkeyUser{user: u, keys: keys}, nil
}

// amrOf is the method a passkey proves: swk for one that may be synced
// to other devices (backup eligible), hwk for one bound to its device.
func amrOf(k storage.Passkey) string {
	if k.BackupEligible {
		return amrSWK
	}
	return amrHWK
}

// --- ceremony state ---

func ceremonyPurpose(kind ceremonyKind) []byte {
	return []byte("gatehouse authz passkey ceremony\x00" + string(kind))
}

func (p *passkeyRP) cookie(kind ceremonyKind) string { return p.pages.ceremony + "-" + string(kind) }

// seal keeps a ceremony's state in its cookie until ceremonyTTL.
func (p *passkeyRP) seal(w http.ResponseWriter, kind ceremonyKind, bound string, sd *webauthn.SessionData) error {
	b, err := json.Marshal(ceremony{Bound: bound, Session: *sd, Expires: p.now().Add(ceremonyTTL)})
	if err != nil {
		return fmt.Errorf("encoding passkey ceremony: %w", err)
	}
	sealed, err := p.key.Seal(b, ceremonyPurpose(kind))
	if err != nil {
		return fmt.Errorf("sealing passkey ceremony: %w", err)
	}
	p.pages.setCookie(w, p.cookie(kind), base64.RawURLEncoding.EncodeToString(sealed), int(ceremonyTTL/time.Second))
	return nil
}

// open returns the state of the browser's ceremony of this kind, bound to
// bound, if it has one that has not expired, and clears its cookie. A
// client that kept the cookie may send another response within the
// ceremony's lifetime; only a valid one (made with the private key) signs
// in, and the challenge is spent once across instances when it does.
func (p *passkeyRP) open(w http.ResponseWriter, r *http.Request, kind ceremonyKind, bound string) (webauthn.SessionData, error) {
	c, err := r.Cookie(p.cookie(kind))
	if err != nil || c.Value == "" || len(c.Value) > maxSealedRequest {
		return webauthn.SessionData{}, refused("no ceremony in progress")
	}
	p.pages.clearCookie(w, p.cookie(kind))
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return webauthn.SessionData{}, refused("ceremony state unreadable")
	}
	b, err := p.key.Open(raw, ceremonyPurpose(kind))
	if err != nil {
		return webauthn.SessionData{}, refused("ceremony state unreadable")
	}
	var cer ceremony
	switch {
	case json.Unmarshal(b, &cer) != nil:
		return webauthn.SessionData{}, refused("ceremony state unreadable")
	case !p.now().Before(cer.Expires):
		return webauthn.SessionData{}, refused("ceremony expired")
	case cer.Bound != bound:
		return webauthn.SessionData{}, refused("ceremony of another session")
	}
	return cer.Session, nil
}

// spend accepts a verified response's challenge once, across instances:
// a response replayed, or sent twice at once, is refused.
func (p *passkeyRP) spend(ctx context.Context, sd webauthn.SessionData) error {
	now := p.now()
	switch err := p.store.UseOnce(ctx, "webauthn:"+sd.Challenge, now.Add(ceremonyTTL), now); {
	case errors.Is(err, storage.ErrAlreadyUsed):
		return refused("challenge already used")
	case err != nil:
		return fmt.Errorf("spending a passkey challenge: %w", err)
	}
	return nil
}

// --- verification ---

// verified is a sign-in a passkey proved.
type verified struct {
	user storage.User
	key  storage.Passkey
}

// counterAdvances reports whether an assertion's signature counter moves
// past the stored one (§6.1.1). An authenticator without a counter
// reports 0 every time; once either is non-zero, a counter that does not
// move forward comes from a copy of the authenticator.
func counterAdvances(stored, got uint32) bool {
	return got > stored || stored == 0 && got == 0
}

// accept takes an assertion verified against pu's passkey id: it spends
// the challenge, then moves the passkey's counter (and backup state) on
// from the value it was verified against.
func (p *passkeyRP) accept(ctx context.Context, sd webauthn.SessionData, pu passkeyUser, id []byte, ad protocol.AuthenticatorData) (verified, error) {
	i := slices.IndexFunc(pu.keys, func(k storage.Passkey) bool { return bytes.Equal(k.ID, id) })
	if i < 0 {
		return verified{user: pu.user}, refused("credential not the user's")
	}
	v := verified{user: pu.user, key: pu.keys[i]}
	if err := p.spend(ctx, sd); err != nil {
		return v, err
	}
	if !counterAdvances(v.key.SignCount, ad.Counter) {
		return v, errCloneSuspected
	}
	ok, err := p.store.UsePasskey(ctx, v.key.ID, v.key.SignCount, ad.Counter, ad.Flags.HasBackupState(), p.now())
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return v, refused("passkey removed")
	case err != nil:
		return v, fmt.Errorf("recording a passkey sign-in: %w", err)
	case !ok:
		// Another sign-in with this passkey moved its counter first.
		return v, refused("passkey counter moved concurrently")
	}
	return v, nil
}

// errCloneSuspected: an assertion's counter does not move past the stored
// one.
var errCloneSuspected = fmt.Errorf("%w: signature counter did not advance (cloned authenticator?)", errPasskeyRefused)

// verifyDiscoverable verifies a sign-in without a username: the passkey
// names its user (the user handle), who must hold it and may sign in.
// Refused, it returns what it learnt of who tried, for the audit log.
func (p *passkeyRP) verifyDiscoverable(ctx context.Context, sd webauthn.SessionData, response string) (verified, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(response))
	if err != nil {
		return verified{}, refused(describe(err))
	}
	var pu passkeyUser
	var storeErr error
	handler := func(_, userHandle []byte) (webauthn.User, error) {
		// The handle comes from the browser before any signature is
		// checked: one that no user ID can be (a WebAuthn user handle is
		// at most 64 bytes) names nobody, and is never looked up.
		if len(userHandle) == 0 || len(userHandle) > 64 || !validText(string(userHandle)) {
			return nil, errors.New("unknown user")
		}
		u, err := p.store.GetUser(ctx, string(userHandle))
		if err != nil {
			if !errors.Is(err, storage.ErrNotFound) {
				storeErr = err
			}
			return nil, errors.New("unknown user")
		}
		pu.user = u
		if u.Disabled {
			return nil, errors.New("user disabled")
		}
		if pu, err = p.loadUser(ctx, u); err != nil {
			storeErr = err
			return nil, err
		}
		// The library verifies the response with the passkey of this
		// list whose ID it names: a passkey of anyone else is unknown.
		return pu, nil
	}
	_, cred, err := p.wa.ValidatePasskeyLogin(handler, sd, parsed)
	switch {
	case storeErr != nil:
		return verified{}, fmt.Errorf("loading a passkey: %w", storeErr)
	case err != nil:
		return verified{user: pu.user}, refused(describe(err))
	}
	return p.accept(ctx, sd, pu, cred.ID, parsed.Response.AuthenticatorData)
}

// verifyFor verifies a second factor: the passkey must be one of u's.
func (p *passkeyRP) verifyFor(ctx context.Context, u storage.User, sd webauthn.SessionData, response string) (verified, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes([]byte(response))
	if err != nil {
		return verified{user: u}, refused(describe(err))
	}
	pu, err := p.loadUser(ctx, u)
	if err != nil {
		return verified{}, err
	}
	cred, err := p.wa.ValidateLogin(pu, sd, parsed)
	if err != nil {
		return verified{user: u}, refused(describe(err))
	}
	return p.accept(ctx, sd, pu, cred.ID, parsed.Response.AuthenticatorData)
}

// maxReason bounds the reason a refusal is audited with: the library's
// reasons quote what the client sent.
const maxReason = 300

// describe is the reason the library gives for refusing a response.
func describe(err error) string {
	reason := err.Error()
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.DevInfo != "" {
		reason = pe.Details + ": " + pe.DevInfo
	}
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason], "") + "…"
	}
	return reason
}

// --- JSON answers ---

// passkeyError answers a ceremony's options request with an error, in the
// shape of the role's other JSON errors.
func passkeyError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// passkeysOff answers when the server offers no passkeys, and reports
// whether it did.
func (s *Server) passkeysOff(w http.ResponseWriter) bool {
	if s.passkeys != nil {
		return false
	}
	passkeyError(w, http.StatusNotFound, "not_supported", "passkeys are not offered at this address")
	return true
}

// passkeyUser loads a person and their passkeys for a ceremony's options;
// a person unknown or disabled is answered with status, code and desc.
// It answers the request itself and reports false when it cannot go on.
func (s *Server) passkeyUser(w http.ResponseWriter, r *http.Request, userID string, status int, code, desc string) (passkeyUser, bool) {
	ctx := r.Context()
	u, err := s.store.GetUser(ctx, userID)
	switch {
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		s.log.ErrorContext(ctx, "loading user", "err", err)
		passkeyError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "")
		return passkeyUser{}, false
	case err != nil, u.Disabled:
		passkeyError(w, status, code, desc)
		return passkeyUser{}, false
	}
	pu, err := s.passkeys.loadUser(ctx, u)
	if err != nil {
		s.log.ErrorContext(ctx, "loading passkeys", "err", err)
		passkeyError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "")
		return passkeyUser{}, false
	}
	return pu, true
}

// answerOptions seals sd for kind and answers the options.
func (s *Server) answerOptions(w http.ResponseWriter, r *http.Request, kind ceremonyKind, bound string, options any, sd *webauthn.SessionData) {
	if err := s.passkeys.seal(w, kind, bound, sd); err != nil {
		s.log.ErrorContext(r.Context(), "beginning a passkey ceremony", "err", err)
		passkeyError(w, http.StatusInternalServerError, "server_error", "")
		return
	}
	writeJSON(w, http.StatusOK, options)
}

// --- adding a passkey on the account page ---

// passkeyRegisterOptions begins adding a passkey: it needs the person
// signed in within reauthWindow. The options exclude their passkeys, so
// an authenticator that holds one says so instead of making another.
func (s *Server) passkeyRegisterOptions(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.passkeysOff(w) {
		return
	}
	if !s.pages.checkCSRF(r, "account") {
		passkeyError(w, http.StatusForbidden, "invalid_request", "the form expired; reload the page")
		return
	}
	sess, ok := s.currentSession(r)
	if !ok || !s.recentlyAuthenticated(sess) {
		passkeyError(w, http.StatusUnauthorized, "login_required", "sign in again to add a passkey")
		return
	}
	pu, ok := s.passkeyUser(w, r, sess.UserID, http.StatusUnauthorized, "login_required", "sign in again to add a passkey")
	if !ok {
		return
	}
	exclude := webauthn.Credentials(pu.WebAuthnCredentials()).CredentialDescriptors()
	creation, sd, err := s.passkeys.wa.BeginRegistration(pu, webauthn.WithExclusions(exclude))
	if err != nil {
		s.log.ErrorContext(ctx, "beginning a passkey registration", "err", err, "user_id", pu.user.ID)
		passkeyError(w, http.StatusInternalServerError, "server_error", "")
		return
	}
	s.answerOptions(w, r, ceremonyRegister, sess.ID, creation, sd)
}

// passkeyRegisterSubmit verifies the new credential and stores it.
func (s *Server) passkeyRegisterSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, u, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	if s.passkeys == nil {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	k, err := s.verifyNewPasskey(w, r, sess, u)
	if err == nil {
		err = s.store.AddPasskey(ctx, k)
	}
	switch {
	case errors.Is(err, errPasskeyRefused), errors.Is(err, storage.ErrAlreadyExists):
		s.audit.InfoContext(ctx, "passkey not added", "event", "passkey_refused", "user_id", u.ID, "reason", err.Error())
		v, lerr := s.loadAccount(ctx, sess, u)
		if lerr != nil {
			s.log.ErrorContext(ctx, "loading account", "err", lerr)
		}
		s.renderAccount(w, r, http.StatusBadRequest, v, "That passkey could not be added. Try again.")
		return
	case err != nil:
		s.log.ErrorContext(ctx, "adding a passkey", "err", err)
		s.unavailable(w)
		return
	}
	s.audit.InfoContext(ctx, "passkey added", "event", "passkey_added", "user_id", u.ID,
		"credential", base64.RawURLEncoding.EncodeToString(k.ID), "synced", k.BackupEligible)
	http.Redirect(w, r, "/account?done=passkey-added", http.StatusSeeOther)
}

// verifyNewPasskey verifies a registration response of the ceremony the
// session began and returns the passkey to store.
func (s *Server) verifyNewPasskey(w http.ResponseWriter, r *http.Request, sess storage.LoginSession, u storage.User) (storage.Passkey, error) {
	ctx := r.Context()
	sd, err := s.passkeys.open(w, r, ceremonyRegister, sess.ID)
	if err != nil {
		return storage.Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes([]byte(r.PostFormValue("credential")))
	if err != nil {
		return storage.Passkey{}, refused(describe(err))
	}
	pu, err := s.passkeys.loadUser(ctx, u)
	if err != nil {
		return storage.Passkey{}, err
	}
	cred, err := s.passkeys.wa.CreateCredential(pu, sd, parsed)
	if err != nil {
		return storage.Passkey{}, refused(describe(err))
	}
	if err := s.passkeys.spend(ctx, sd); err != nil {
		return storage.Passkey{}, err
	}
	return storage.Passkey{
		ID: cred.ID, UserID: u.ID, Name: passkeyName(r.PostFormValue("name")),
		PublicKey: cred.PublicKey, AttestationType: cred.AttestationType, AAGUID: cred.Authenticator.AAGUID,
		Transports: storedTransports(cred.Transport), SignCount: cred.Authenticator.SignCount,
		BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState, CreatedAt: s.now(),
	}, nil
}

// passkeyName is the name a passkey is listed by: what the person typed,
// trimmed and cut to maxPasskeyName characters, or "Passkey".
func passkeyName(name string) string {
	// Control characters (tabs, line breaks, escapes) and line or
	// paragraph separators become spaces, invisible format characters
	// (bidirectional overrides among them) go, and runs of spaces become
	// one: the name is shown in pages and written to the audit log.
	name = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		switch {
		case unicode.IsControl(r), unicode.In(r, unicode.Zl, unicode.Zp):
			return ' '
		case unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, name)), " ")
	if utf8.RuneCountInString(name) > maxPasskeyName {
		name = strings.TrimSpace(string([]rune(name)[:maxPasskeyName]))
	}
	if name == "" {
		return "Passkey"
	}
	return name
}

// --- signing in without a username ---

// What a refused passkey is answered with, whatever the reason.
const (
	passkeyLoginFailed  = "That passkey could not sign you in."
	passkeyFactorFailed = "That passkey could not confirm it's you."
)

// passkeyLoginOptions begins a sign-in with any passkey of this site the
// browser can find (no allowCredentials): the page's script asks with
// conditional mediation, so the username field's autofill offers them, or
// when the person presses the passkey button.
func (s *Server) passkeyLoginOptions(w http.ResponseWriter, r *http.Request) {
	if s.passkeysOff(w) {
		return
	}
	if !s.pages.checkCSRF(r, "login") {
		passkeyError(w, http.StatusForbidden, "invalid_request", "the form expired; reload the page")
		return
	}
	assertion, sd, err := s.passkeys.wa.BeginDiscoverableLogin()
	if err != nil {
		s.log.ErrorContext(r.Context(), "beginning a passkey sign-in", "err", err)
		passkeyError(w, http.StatusInternalServerError, "server_error", "")
		return
	}
	s.answerOptions(w, r, ceremonyLogin, "", assertion, sd)
}

// passkeyLoginSubmit signs in with a passkey: no password and no further
// factor, a passkey that verified its user being two factors.
func (s *Server) passkeyLoginSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.pages.checkCSRF(r, "login") {
		s.pages.errorPage(w, http.StatusForbidden, "The form expired. Go back and try again.")
		return
	}
	sealed := r.PostFormValue("request")
	_, client, ok := s.loginPending(w, r, sealed)
	if !ok {
		return
	}
	ret := loginReturn(r.PostFormValue("return"), sealed)
	fail := func(status int, msg string) {
		s.pages.render(w, status, "login", pageData{
			Title: "Sign in", Request: sealed, Return: ret, ClientName: client.Name,
			CSRF: s.pages.csrfToken(w, r, "login"), Error: msg,
		})
	}
	if s.passkeys == nil {
		fail(http.StatusNotFound, passkeyLoginFailed)
		return
	}
	v, err := s.verifyLogin(w, r)
	if err != nil {
		if s.passkeyRefused(w, r, err, v, "login_failed") {
			fail(http.StatusUnauthorized, passkeyLoginFailed)
		}
		return
	}
	id, err := newID(s.now())
	if err != nil {
		s.unavailable(w)
		return
	}
	s.finishSignIn(w, r, signInState{
		ID: id, UserID: v.user.ID, Username: v.user.Username, AMR: []string{amrOf(v.key), amrMFA},
		Request: sealed, Return: ret, Expires: s.now().Add(signInTTL),
	})
}

// verifyLogin verifies the passkey posted to the browser's sign-in
// ceremony.
func (s *Server) verifyLogin(w http.ResponseWriter, r *http.Request) (verified, error) {
	sd, err := s.passkeys.open(w, r, ceremonyLogin, "")
	if err != nil {
		return verified{}, err
	}
	return s.passkeys.verifyDiscoverable(r.Context(), sd, r.PostFormValue("credential"))
}

// passkeyRefused audits a passkey that did not prove a sign-in, as event
// (v is what is known of who tried), and reports whether it was refused,
// for the caller to answer 401 with one message whatever the reason.
// Otherwise the store failed: it answers 503 itself.
func (s *Server) passkeyRefused(w http.ResponseWriter, r *http.Request, err error, v verified, event string) bool {
	ctx := r.Context()
	if !errors.Is(err, errPasskeyRefused) {
		s.log.ErrorContext(ctx, "verifying a passkey", "err", err)
		s.unavailable(w)
		return false
	}
	if errors.Is(err, errCloneSuspected) {
		s.audit.WarnContext(ctx, "passkey counter did not advance: the authenticator may be cloned", "event", "passkey_clone_suspected",
			"user_id", v.user.ID, "credential", base64.RawURLEncoding.EncodeToString(v.key.ID), "address", s.clientAddress(r))
	} else {
		s.audit.InfoContext(ctx, "passkey sign-in failed", "event", event, "method", "passkey",
			"user_id", v.user.ID, "reason", err.Error(), "address", s.clientAddress(r))
	}
	return true
}

// --- a passkey as the second factor ---

// passkeyFactorOptions begins a second factor after a password: any of
// the person's passkeys.
func (s *Server) passkeyFactorOptions(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.passkeysOff(w) {
		return
	}
	if !s.pages.checkCSRF(r, "factor") {
		passkeyError(w, http.StatusForbidden, "invalid_request", "the form expired; reload the page")
		return
	}
	// The options need only who signs in; the request the sign-in
	// continues is checked when the passkey's answer is posted.
	st, ok := s.openSignIn(r)
	if !ok || !factorDue(st) {
		passkeyError(w, http.StatusUnauthorized, "login_required", "this sign-in has expired; sign in again")
		return
	}
	pu, ok := s.passkeyUser(w, r, st.UserID, http.StatusForbidden, "access_denied", "this account cannot sign in")
	if !ok {
		return
	}
	if len(pu.keys) == 0 {
		passkeyError(w, http.StatusBadRequest, "invalid_request", "this account has no passkey")
		return
	}
	assertion, sd, err := s.passkeys.wa.BeginLogin(pu)
	if err != nil {
		s.log.ErrorContext(ctx, "beginning a passkey second factor", "err", err, "user_id", pu.user.ID)
		passkeyError(w, http.StatusInternalServerError, "server_error", "")
		return
	}
	// The credential is checked against the person's passkeys at the
	// finish; the cookie need not carry the list.
	sd.AllowedCredentialIDs = nil
	s.answerOptions(w, r, ceremonyFactor, st.ID, assertion, sd)
}

// passkeyFactorSubmit proves the second factor with one of the person's
// passkeys and finishes the sign-in.
func (s *Server) passkeyFactorSubmit(w http.ResponseWriter, r *http.Request) {
	st, d, ok := s.factorPost(w, r)
	if !ok {
		return
	}
	if s.passkeys == nil {
		d.Error = passkeyFactorFailed
		s.pages.render(w, http.StatusNotFound, "factor", d)
		return
	}
	v, err := s.verifyFactor(w, r, st)
	if err != nil {
		if s.passkeyRefused(w, r, err, v, "login_factor_failed") {
			d.Error = passkeyFactorFailed
			s.pages.render(w, http.StatusUnauthorized, "factor", d)
		}
		return
	}
	st.AMR = withFactor(st.AMR, amrOf(v.key))
	s.finishSignIn(w, r, st)
}

// verifyFactor verifies the passkey posted to the ceremony of sign-in st:
// one of the person's.
func (s *Server) verifyFactor(w http.ResponseWriter, r *http.Request, st signInState) (verified, error) {
	ctx := r.Context()
	sd, err := s.passkeys.open(w, r, ceremonyFactor, st.ID)
	if err != nil {
		return verified{}, err
	}
	u, err := s.store.GetUser(ctx, st.UserID)
	switch {
	case errors.Is(err, storage.ErrNotFound), err == nil && u.Disabled:
		return verified{user: u}, refused("user unknown or disabled")
	case err != nil:
		return verified{}, fmt.Errorf("loading user: %w", err)
	}
	return s.passkeys.verifyFor(ctx, u, sd, r.PostFormValue("credential"))
}
