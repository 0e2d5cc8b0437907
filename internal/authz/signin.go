package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// A sign-in in steps. The password (or nothing, for a passkey) comes
// first; a person with a second factor, or whom policy requires to have
// one, then proves it (/login/factor) or enrols one (/login/enrol) before
// the login session starts. Between the steps the sign-in is a sealed
// cookie (signInState): it holds who proved what, and the authorization
// request the sign-in continues. Only a finished sign-in starts a session,
// so a password alone never gets one for a person with a second factor.
//
// Authentication methods (RFC 8176) recorded in the session and ID
// tokens:
//
//	pwd      password
//	otp      a code of an authenticator app, or a recovery code
//	hwk/swk  a passkey bound to its device / synced between devices
//	mfa      more than one factor: password and a second factor, or a
//	         passkey with user verification (possession and a PIN or
//	         biometric)
const (
	amrPassword = "pwd"
	amrOTP      = "otp"
	amrHWK      = "hwk"
	amrSWK      = "swk"
	amrMFA      = "mfa"
)

// Authentication context classes (acr), named after NIST SP 800-63B's
// authenticator assurance levels: a client asks for a second factor with
// acr_values=ACRMultiFactor, and every ID token says which level the
// sign-in reached.
const (
	ACRSingleFactor = "aal1"
	ACRMultiFactor  = "aal2"
)

// acrOf is the class a sign-in with these methods reached.
func acrOf(amr []string) string {
	if slices.Contains(amr, amrMFA) {
		return ACRMultiFactor
	}
	return ACRSingleFactor
}

// signInTTL bounds the time between a sign-in's first step and its last.
const signInTTL = 10 * time.Minute

// maxSignInCookie bounds the sign-in cookie read: a few hundred bytes are
// written, and browsers keep no cookie above 4 KiB.
const maxSignInCookie = 4096

// signInPurpose binds sealed sign-in states to their use.
var signInPurpose = []byte("gatehouse authz sign-in in progress")

// signInState is a sign-in part way through.
type signInState struct {
	// ID names this sign-in: a finished one (Done) is continued once.
	ID       string
	UserID   string
	Username string // the lockout key for wrong codes
	// AMR are the methods proven so far.
	AMR []string
	// Request is the sealed authorization request the sign-in continues;
	// empty for a sign-in at the role itself. It is not in the cookie (a
	// sealed request can be larger than browsers keep a cookie): the pages
	// carry it, and the cookie holds its hash, RequestHash, which
	// withRequest checks it against.
	Request     string `json:"-"`
	RequestHash string `json:",omitempty"`
	// Credential fingerprints the password the sign-in began with: after
	// a password change the sign-in cannot go on (credentialStamp).
	Credential string `json:",omitempty"`
	// Return is where a sign-in without a request goes: a page of the
	// role (returnPages).
	Return string `json:",omitempty"`
	// Enrol: the person has no second factor and policy requires one.
	Enrol bool `json:",omitempty"`
	// Done: every step is proven; the sign-in finishes once the person
	// has read their new recovery codes.
	Done    bool `json:",omitempty"`
	Expires time.Time
}

// requestHash is what the cookie keeps of a sealed request.
func requestHash(sealed string) string {
	if sealed == "" {
		return ""
	}
	return secret.HashToken(sealed)
}

// withRequest attaches the sealed request a page carried to st, if it is
// the one the sign-in began with.
func (st *signInState) withRequest(sealed string) bool {
	if !secret.EqualHash(requestHash(sealed), st.RequestHash) {
		return false
	}
	st.Request = sealed
	return true
}

// credentialStamp fingerprints u's password hash: a sign-in begun before
// a password change does not finish after it.
func credentialStamp(u storage.User) string { return secret.HashToken("sign-in\x00" + u.PasswordHash) }

// signInPage is where a step of a sign-in is, with the request it
// continues in its address.
func signInPage(path string, st signInState) string {
	if st.Request == "" {
		return path
	}
	return path + "?request=" + url.QueryEscape(st.Request)
}

// returnPages are the pages a sign-in without an authorization request
// may return to: /login?return=account comes back to the account page.
var returnPages = map[string]string{"account": "/account"}

func (s *Server) sealSignIn(w http.ResponseWriter, st signInState) error {
	st.RequestHash = requestHash(st.Request)
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encoding sign-in state: %w", err)
	}
	sealed, err := s.cfg.Secret.Seal(b, signInPurpose)
	if err != nil {
		return fmt.Errorf("sealing sign-in state: %w", err)
	}
	s.pages.setCookie(w, s.pages.signIn, base64.RawURLEncoding.EncodeToString(sealed), int(signInTTL/time.Second))
	return nil
}

// openSignIn returns the browser's sign-in in progress, if it has one
// that has not expired. Its Request is not set: withRequest sets it from
// what the page carried.
func (s *Server) openSignIn(r *http.Request) (signInState, bool) {
	c, err := r.Cookie(s.pages.signIn)
	if err != nil || c.Value == "" || len(c.Value) > maxSignInCookie {
		return signInState{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return signInState{}, false
	}
	b, err := s.cfg.Secret.Open(raw, signInPurpose)
	if err != nil {
		return signInState{}, false
	}
	var st signInState
	if json.Unmarshal(b, &st) != nil || st.UserID == "" || !s.now().Before(st.Expires) {
		return signInState{}, false
	}
	return st, true
}

// mfaRequired reports whether the sign-in for p must take a second
// factor: the server requires one of everyone, the client was registered
// with RequireMFA (holdToClient sets its acr_values to ACRMultiFactor
// alone, whatever it sent), or the client's acr_values accept
// ACRMultiFactor and not ACRSingleFactor (acr_values are a list of
// preferences: one that also names aal1 gets a second factor from a person
// who has one, and an aal1 sign-in from one who has none, which its ID
// token's acr says).
func (s *Server) mfaRequired(p pendingRequest) bool {
	return s.cfg.RequireMFA || slices.Contains(p.ACRValues, ACRMultiFactor) && !slices.Contains(p.ACRValues, ACRSingleFactor)
}

// userFactors says which second factors a person has.
type userFactors struct {
	totp     bool
	passkeys int
}

func (f userFactors) hasAny() bool { return f.totp || f.passkeys > 0 }

func (s *Server) factorsOf(ctx context.Context, userID string) (userFactors, error) {
	var f userFactors
	switch _, err := s.store.GetTOTP(ctx, userID); {
	case err == nil:
		f.totp = true
	case !errors.Is(err, storage.ErrNotFound):
		return f, fmt.Errorf("loading second factors: %w", err)
	}
	keys, err := s.store.ListPasskeys(ctx, userID)
	if err != nil {
		return f, fmt.Errorf("loading passkeys: %w", err)
	}
	f.passkeys = len(keys)
	return f, nil
}

// afterPassword continues a sign-in whose password was right (for the
// authorization request p sealed in sealed, if any): it finishes
// it, or asks for a second factor or its enrolment. at is the attempt the
// password was counted as; it is settled only when the whole sign-in
// succeeds, so a right password does not reset the count that limits
// wrong codes.
func (s *Server) afterPassword(w http.ResponseWriter, r *http.Request, u storage.User, at attempt, sealed string, p pendingRequest, ret string) {
	ctx := r.Context()
	factors, err := s.factorsOf(ctx, u.ID)
	if err != nil {
		s.log.ErrorContext(ctx, "loading factors", "err", err, "user_id", u.ID)
		s.unavailable(w)
		return
	}
	id, err := newID(s.now())
	if err != nil {
		s.log.ErrorContext(ctx, "naming a sign-in", "err", err)
		s.unavailable(w)
		return
	}
	st := signInState{
		ID: id, UserID: u.ID, Username: u.Username, AMR: []string{amrPassword}, Request: sealed, Return: ret,
		Credential: credentialStamp(u), Expires: s.now().Add(signInTTL),
	}
	if !factors.hasAny() && !s.mfaRequired(p) {
		if err := s.lockout.succeeded(ctx, at); err != nil {
			s.log.ErrorContext(ctx, "resetting sign-in attempts", "err", err)
		}
		s.finishSignIn(w, r, st)
		return
	}
	if err := s.lockout.passwordAccepted(ctx, at); err != nil {
		s.log.ErrorContext(ctx, "giving back a sign-in attempt", "err", err)
	}
	next := "/login/factor"
	if !factors.hasAny() {
		st.Enrol, next = true, "/login/enrol"
	}
	if err := s.sealSignIn(w, st); err != nil {
		s.log.ErrorContext(ctx, "continuing sign-in", "err", err)
		s.unavailable(w)
		return
	}
	s.audit.InfoContext(ctx, "password accepted, second factor due", "event", "login_password_ok", "user_id", u.ID, "enrol", st.Enrol)
	http.Redirect(w, r, signInPage(next, st), http.StatusSeeOther)
}

// finishSignIn starts the login session of a sign-in whose every step is
// proven and goes on where it was headed.
func (s *Server) finishSignIn(w http.ResponseWriter, r *http.Request, st signInState) {
	ctx := r.Context()
	u, err := s.store.GetUser(ctx, st.UserID)
	switch {
	case err != nil && !errors.Is(err, storage.ErrNotFound):
		s.log.ErrorContext(ctx, "loading user", "err", err)
		s.unavailable(w)
		return
	case err != nil, u.Disabled:
		s.pages.clearCookie(w, s.pages.signIn)
		s.pages.errorPage(w, http.StatusForbidden, "This account cannot sign in.")
		return
	case st.Credential != "" && st.Credential != credentialStamp(u):
		// The password changed since the sign-in began.
		s.pages.clearCookie(w, s.pages.signIn)
		s.pages.errorPage(w, http.StatusBadRequest, signInExpired)
		return
	}
	var p pendingRequest
	var client storage.Client
	if st.Request != "" {
		var ok bool
		if p, client, ok = s.loginPending(w, r, st.Request); !ok {
			return
		}
	}
	if s.mfaRequired(p) && !slices.Contains(st.AMR, amrMFA) {
		// Every path here proves a second factor when one is required;
		// this holds it whatever a future path does.
		s.log.ErrorContext(ctx, "sign-in without a required second factor", "user_id", u.ID)
		s.pages.errorPage(w, http.StatusForbidden, signInExpired)
		return
	}
	// A sign-in in steps kept the username's count from its password step
	// until now. A passkey proves more than an app code: it lifts the
	// daily cap on wrong app codes too, as a recovery code does.
	reset := s.lockout.resetUser(ctx, st.Username)
	if slices.Contains(st.AMR, amrHWK) || slices.Contains(st.AMR, amrSWK) {
		reset = errors.Join(reset, s.lockout.factorSucceeded(ctx, st.Username))
	}
	if reset != nil {
		s.log.ErrorContext(ctx, "resetting sign-in attempts", "err", reset)
	}
	// A new session on every sign-in (no session fixation).
	s.endSession(ctx, w, r)
	s.pages.clearCookie(w, s.pages.signIn)
	sess, err := s.startSession(ctx, w, r, u.ID, st.AMR, s.now())
	if err != nil {
		s.log.ErrorContext(ctx, "starting session", "err", err)
		s.unavailable(w)
		return
	}
	s.audit.InfoContext(ctx, "login succeeded", "event", "login_success", "user_id", u.ID, "address", s.clientAddress(r), "amr", strings.Join(st.AMR, " "))
	if st.Request == "" {
		dest := "/"
		if page, ok := returnPages[st.Return]; ok {
			dest = page
		}
		http.Redirect(w, r, dest, http.StatusSeeOther)
		return
	}
	p.UserID, p.AuthTime, p.AMR = u.ID, sess.AuthTime, sess.AMR
	s.advance(w, r, p, client)
}

// withFactor adds a proven second factor to the methods.
func withFactor(amr []string, method string) []string {
	out := slices.Clone(amr)
	for _, m := range []string{method, amrMFA} {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

// --- the second factor ---

const (
	invalidCode   = "That code is not right, or was used already."
	signInExpired = "This sign-in has expired. Go back and sign in again."
)

// unavailable answers a failure of the store or the system.
func (s *Server) unavailable(w http.ResponseWriter) {
	s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
}

// stepSignIn opens the sign-in a page of step continues, with the
// request the page carried (sealed); it answers the request itself and
// reports false when there is none at that step.
func (s *Server) stepSignIn(w http.ResponseWriter, r *http.Request, step func(signInState) bool, sealed string) (signInState, bool) {
	st, ok := s.openSignIn(r)
	if !ok || !step(st) || !st.withRequest(sealed) {
		s.pages.errorPage(w, http.StatusBadRequest, signInExpired)
		return st, false
	}
	return st, true
}

// The steps a sign-in can be at.
func factorDue(st signInState) bool { return !st.Enrol && !st.Done }
func enrolDue(st signInState) bool  { return st.Enrol && !st.Done }
func finished(st signInState) bool  { return st.Done }

func (s *Server) factorPageData(w http.ResponseWriter, r *http.Request, st signInState) (pageData, bool) {
	factors, err := s.factorsOf(r.Context(), st.UserID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "loading factors", "err", err)
		s.unavailable(w)
		return pageData{}, false
	}
	return pageData{
		Title: "Confirm it's you", Username: st.Username, Request: st.Request,
		CSRF: s.pages.csrfToken(w, r, "factor"), HasTOTP: factors.totp, HasPasskeys: factors.passkeys > 0,
	}, true
}

func (s *Server) factorForm(w http.ResponseWriter, r *http.Request) {
	st, ok := s.stepSignIn(w, r, factorDue, r.URL.Query().Get("request"))
	if !ok {
		return
	}
	d, ok := s.factorPageData(w, r, st)
	if !ok {
		return
	}
	d.Method = r.URL.Query().Get("method")
	s.pages.render(w, http.StatusOK, "factor", d)
}

// factorPost opens a form posted at the second-factor step (a code or a
// passkey): its CSRF token, the sign-in and the page to answer with. It
// answers the request itself and reports false when it cannot go on.
func (s *Server) factorPost(w http.ResponseWriter, r *http.Request) (signInState, pageData, bool) {
	if !s.pages.checkCSRF(r, "factor") {
		s.pages.errorPage(w, http.StatusForbidden, "The form expired. Go back and try again.")
		return signInState{}, pageData{}, false
	}
	st, ok := s.stepSignIn(w, r, factorDue, r.PostFormValue("request"))
	if !ok {
		return st, pageData{}, false
	}
	d, ok := s.factorPageData(w, r, st)
	return st, d, ok
}

// factorSubmit checks a code from the authenticator app or a recovery
// code. Each try counts against the person's sign-in attempts as a
// password would, so codes cannot be guessed faster than passwords, and
// wrong app codes against a daily cap (lockout.go).
func (s *Server) factorSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st, d, ok := s.factorPost(w, r)
	if !ok {
		return
	}
	method, code := r.PostFormValue("method"), r.PostFormValue("code")
	d.Method = method
	if len(code) > 64 || (method != "totp" && method != "recovery") {
		d.Error = invalidCode
		s.pages.render(w, http.StatusUnauthorized, "factor", d)
		return
	}
	at, ok := s.reserveFactorAttempt(w, r, st, method, &d)
	if !ok {
		return
	}
	good, err := s.checkFactor(ctx, st.UserID, method, code)
	if err != nil {
		s.log.ErrorContext(ctx, "checking a second factor", "err", err)
		if err := s.lockout.abandoned(context.WithoutCancel(ctx), at); err != nil {
			s.log.ErrorContext(ctx, "giving back a sign-in attempt", "err", err)
		}
		s.unavailable(w)
		return
	}
	if !good {
		s.audit.InfoContext(ctx, "second factor failed", "event", "login_factor_failed", "user_id", st.UserID, "method", method, "address", s.clientAddress(r))
		if delay := s.lockout.failureDelay(at); delay > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
		}
		d.Error = invalidCode
		s.pages.render(w, http.StatusUnauthorized, "factor", d)
		return
	}
	if err := errors.Join(s.lockout.succeeded(ctx, at), s.lockout.factorSucceeded(ctx, st.Username)); err != nil {
		s.log.ErrorContext(ctx, "resetting sign-in attempts", "err", err)
	}
	if method == "recovery" {
		left, err := s.store.CountRecoveryCodes(ctx, st.UserID)
		if err != nil {
			s.log.ErrorContext(ctx, "counting recovery codes", "err", err)
		}
		s.audit.InfoContext(ctx, "recovery code used", "event", "recovery_code_used", "user_id", st.UserID, "left", left)
	}
	st.AMR = withFactor(st.AMR, amrOTP)
	s.finishSignIn(w, r, st)
}

// reserveFactorAttempt counts a code's try, as a password's and, for an
// app code, against the daily cap; past either it answers 429 itself and
// reports false.
func (s *Server) reserveFactorAttempt(w http.ResponseWriter, r *http.Request, st signInState, method string, d *pageData) (attempt, bool) {
	ctx := r.Context()
	addr := s.clientAddress(r)
	at, err := s.lockout.reserve(ctx, st.Username, addr)
	capped := false
	if err == nil && at.allowed && method == "totp" {
		capped, err = s.lockout.reserveFactor(ctx, st.Username)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "counting sign-in attempt", "err", err)
		s.unavailable(w)
		return at, false
	}
	switch {
	case !at.allowed:
		s.audit.WarnContext(ctx, "second factor locked out", "event", "lockout", "username", st.Username, "address", addr)
		w.Header().Set("Retry-After", strconv.Itoa(int(s.lockout.policy.Window.Seconds())))
		d.Error = "Too many sign-in attempts. Wait a while and try again."
	case capped:
		s.audit.WarnContext(ctx, "too many wrong app codes", "event", "factor_lockout", "username", st.Username, "address", addr)
		w.Header().Set("Retry-After", strconv.Itoa(int(s.lockout.policy.FactorWindow.Seconds())))
		d.Error = "Too many wrong codes from the app. Use a recovery code or a passkey, or try again tomorrow."
	default:
		return at, true
	}
	s.pages.render(w, http.StatusTooManyRequests, "factor", *d)
	return at, false
}

// checkFactor checks a code of the person's authenticator app (method
// totp) or one of their recovery codes.
func (s *Server) checkFactor(ctx context.Context, userID, method, code string) (bool, error) {
	if method == "recovery" {
		return s.totp.useRecoveryCode(ctx, userID, code, s.now())
	}
	good, err := s.totp.checkCode(ctx, userID, code, s.now())
	if errors.Is(err, errNoTOTP) {
		return false, nil
	}
	return good, err
}

// --- enrolment ---

func (s *Server) enrolForm(w http.ResponseWriter, r *http.Request) {
	st, ok := s.stepSignIn(w, r, enrolDue, r.URL.Query().Get("request"))
	if !ok {
		return
	}
	s.renderEnrol(w, r, enrolPage{userID: st.UserID, username: st.Username, request: st.Request}, http.StatusOK, "")
}

// enrolPage is who an enrolment page is for and where it posts: the
// sign-in step (/login/enrol) or the account page (/account/totp).
type enrolPage struct {
	userID, username string
	request          string // the sign-in's sealed request
	account          bool
}

func (s *Server) renderEnrol(w http.ResponseWriter, r *http.Request, p enrolPage, status int, msg string) {
	e, err := s.totp.enrol(p.userID, p.username)
	if err != nil {
		s.log.ErrorContext(r.Context(), "enrolling TOTP", "err", err)
		s.unavailable(w)
		return
	}
	d := pageData{
		Title: "Set up a second factor", Username: p.username, Error: msg, Request: p.request,
		CSRF: s.pages.csrfToken(w, r, "enrol"), TOTP: &e, Action: "/login/enrol",
	}
	if p.account {
		d.Title, d.CSRF, d.Action = "Set up an authenticator app", s.pages.csrfToken(w, r, "account"), "/account/totp"
	}
	s.pages.render(w, status, "enrol", d)
}

// enrolSubmit stores the authenticator app the person just set up, once
// they have typed a code of it, and shows their recovery codes.
func (s *Server) enrolSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.pages.checkCSRF(r, "enrol") {
		s.pages.errorPage(w, http.StatusForbidden, "The form expired. Go back and try again.")
		return
	}
	st, ok := s.stepSignIn(w, r, enrolDue, r.PostFormValue("request"))
	if !ok {
		return
	}
	page := enrolPage{userID: st.UserID, username: st.Username, request: st.Request}
	codes, err := s.storeTOTP(ctx, st.UserID, r.PostFormValue("secret"), r.PostFormValue("code"))
	switch {
	case errors.Is(err, errWrongFirstCode):
		s.renderEnrol(w, r, page, http.StatusUnprocessableEntity, "That code is not right. Scan the new QR code and try again.")
		return
	case errors.Is(err, storage.ErrAlreadyExists):
		// An app was set up meanwhile (this form sent twice, or the
		// account page): never replaced from here.
		s.pages.clearCookie(w, s.pages.signIn)
		s.pages.errorPage(w, http.StatusConflict, "An authenticator app is already set up for this account. Sign in again with it.")
		return
	case err != nil:
		s.log.ErrorContext(ctx, "storing TOTP", "err", err)
		s.unavailable(w)
		return
	}
	st.AMR, st.Enrol, st.Done = withFactor(st.AMR, amrOTP), false, true
	if err := s.sealSignIn(w, st); err != nil {
		s.log.ErrorContext(ctx, "continuing sign-in", "err", err)
		s.unavailable(w)
		return
	}
	s.pages.render(w, http.StatusOK, "codes", pageData{
		Title: "Save your recovery codes", Codes: codes, Request: st.Request,
		CSRF: s.pages.csrfToken(w, r, "continue"), Action: "/login/continue",
	})
}

// continueSubmit finishes a sign-in whose person enrolled a second factor
// on the way and has read their recovery codes.
func (s *Server) continueSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.pages.checkCSRF(r, "continue") {
		s.pages.errorPage(w, http.StatusForbidden, "The form expired. Go back and try again.")
		return
	}
	st, ok := s.stepSignIn(w, r, finished, r.PostFormValue("request"))
	if !ok {
		return
	}
	// The finished state is in a cookie until it expires: it starts one
	// session, once across instances.
	switch err := s.store.UseOnce(r.Context(), "signin:"+st.ID, st.Expires, s.now()); {
	case errors.Is(err, storage.ErrAlreadyUsed):
		s.pages.errorPage(w, http.StatusBadRequest, signInExpired)
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "continuing sign-in", "err", err)
		s.unavailable(w)
		return
	}
	s.finishSignIn(w, r, st)
}

// errWrongFirstCode: the code typed at enrolment is not one of the new
// secret's.
var errWrongFirstCode = errors.New("wrong first TOTP code")

// storeTOTP checks the first code of a secret being enrolled and stores
// the authenticator with new recovery codes, which it returns. The store
// takes both at once and only as the person's first app: a form sent
// twice, or a stale one, is storage.ErrAlreadyExists and changes nothing.
func (s *Server) storeTOTP(ctx context.Context, userID, sealedSecret, code string) ([]string, error) {
	stored, b32, err := s.totp.openEnrolment(userID, sealedSecret)
	if err != nil {
		return nil, errWrongFirstCode
	}
	now := s.now()
	step, ok := stepOf(b32, code, now)
	if !ok {
		return nil, errWrongFirstCode
	}
	codes, hashes, err := s.totp.newRecoveryCodes(userID)
	if err != nil {
		return nil, err
	}
	if err := s.store.EnrolTOTP(ctx, storage.TOTP{UserID: userID, Secret: stored, LastStep: step, CreatedAt: now}, hashes, now); err != nil {
		return nil, fmt.Errorf("storing TOTP: %w", err)
	}
	s.audit.InfoContext(ctx, "authenticator app enrolled", "event", "totp_enrolled", "user_id", userID)
	return codes, nil
}
