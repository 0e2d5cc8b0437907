package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

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
// Authentication methods (RFC 8176) recorded in the session, ID tokens
// and introspection:
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
	// empty for a sign-in at the role itself.
	Request string `json:",omitempty"`
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

// returnPages are the pages a sign-in without an authorization request
// may return to: /login?return=account comes back to the account page.
var returnPages = map[string]string{"account": "/account"}

func (s *Server) sealSignIn(w http.ResponseWriter, st signInState) error {
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
// that has not expired.
func (s *Server) openSignIn(r *http.Request) (signInState, bool) {
	c, err := r.Cookie(s.pages.signIn)
	if err != nil || c.Value == "" || len(c.Value) > maxSealedRequest*2 {
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
// factor: the server requires one of everyone, or the client asked for
// ACRMultiFactor.
func (s *Server) mfaRequired(p pendingRequest) bool {
	return s.cfg.RequireMFA || slices.Contains(p.ACRValues, ACRMultiFactor)
}

// userFactors says which second factors a person has.
type userFactors struct {
	totp     bool
	passkeys int
}

func (f userFactors) any() bool { return f.totp || f.passkeys > 0 }

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
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	id, err := newID(s.now())
	if err != nil {
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	st := signInState{ID: id, UserID: u.ID, Username: u.Username, AMR: []string{amrPassword}, Request: sealed, Return: ret, Expires: s.now().Add(signInTTL)}
	if !factors.any() && !s.mfaRequired(p) {
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
	if !factors.any() {
		st.Enrol, next = true, "/login/enrol"
	}
	if err := s.sealSignIn(w, st); err != nil {
		s.log.ErrorContext(ctx, "continuing sign-in", "err", err)
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	s.audit.InfoContext(ctx, "password accepted, second factor due", "event", "login_password_ok", "user_id", u.ID, "enrol", st.Enrol)
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// finishSignIn starts the login session of a sign-in whose every step is
// proven and goes on where it was headed.
func (s *Server) finishSignIn(w http.ResponseWriter, r *http.Request, st signInState) {
	ctx := r.Context()
	u, err := s.store.GetUser(ctx, st.UserID)
	if err != nil || u.Disabled {
		s.pages.clearCookie(w, s.pages.signIn)
		s.pages.errorPage(w, http.StatusForbidden, "This account cannot sign in.")
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
	if st.ID != "" {
		// A sign-in in steps kept the username's count from its password
		// step until now.
		if err := s.lockout.resetUser(ctx, st.Username); err != nil {
			s.log.ErrorContext(ctx, "resetting sign-in attempts", "err", err)
		}
	}
	// A new session on every sign-in (no session fixation).
	s.endSession(ctx, w, r)
	s.pages.clearCookie(w, s.pages.signIn)
	sess, err := s.startSession(ctx, w, r, u.ID, st.AMR, s.now())
	if err != nil {
		s.log.ErrorContext(ctx, "starting session", "err", err)
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
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

const invalidCode = "That code is not right, or was used already."

func (s *Server) factorPageData(w http.ResponseWriter, r *http.Request, st signInState) (pageData, error) {
	factors, err := s.factorsOf(r.Context(), st.UserID)
	if err != nil {
		return pageData{}, err
	}
	return pageData{
		Title: "Confirm it's you", Username: st.Username,
		CSRF: s.pages.csrfToken(w, r, "factor"), HasTOTP: factors.totp, HasPasskeys: factors.passkeys > 0,
	}, nil
}

func (s *Server) factorForm(w http.ResponseWriter, r *http.Request) {
	st, ok := s.openSignIn(r)
	if !ok || st.Enrol || st.Done {
		s.pages.errorPage(w, http.StatusBadRequest, "This sign-in has expired. Go back and sign in again.")
		return
	}
	d, err := s.factorPageData(w, r, st)
	if err != nil {
		s.log.ErrorContext(r.Context(), "loading factors", "err", err)
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	d.Message = r.URL.Query().Get("method")
	s.pages.render(w, http.StatusOK, "factor", d)
}

// factorSubmit checks a code from the authenticator app or a recovery
// code. Each try counts against the person's sign-in attempts as a
// password would, so codes cannot be guessed faster than passwords.
func (s *Server) factorSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.pages.checkCSRF(r, "factor") {
		s.pages.errorPage(w, http.StatusForbidden, "The form expired. Go back and try again.")
		return
	}
	st, ok := s.openSignIn(r)
	if !ok || st.Enrol || st.Done {
		s.pages.errorPage(w, http.StatusBadRequest, "This sign-in has expired. Go back and sign in again.")
		return
	}
	d, err := s.factorPageData(w, r, st)
	if err != nil {
		s.log.ErrorContext(ctx, "loading factors", "err", err)
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	method := r.PostFormValue("method")
	d.Message = method
	code := r.PostFormValue("code")
	if len(code) > 64 || (method != "totp" && method != "recovery") {
		d.Error = invalidCode
		s.pages.render(w, http.StatusUnauthorized, "factor", d)
		return
	}
	addr := s.clientAddress(r)
	at, err := s.lockout.reserve(ctx, st.Username, addr)
	if err != nil {
		s.log.ErrorContext(ctx, "counting sign-in attempt", "err", err)
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	if !at.allowed {
		s.audit.WarnContext(ctx, "second factor locked out", "event", "lockout", "username", st.Username, "address", addr)
		w.Header().Set("Retry-After", strconv.Itoa(int(s.lockout.policy.Window.Seconds())))
		d.Error = "Too many sign-in attempts. Wait a while and try again."
		s.pages.render(w, http.StatusTooManyRequests, "factor", d)
		return
	}
	var good bool
	if method == "totp" {
		good, err = s.totp.checkCode(ctx, st.UserID, code, s.now())
		if errors.Is(err, errNoTOTP) {
			good, err = false, nil
		}
	} else {
		good, err = s.totp.useRecoveryCode(ctx, st.UserID, code, s.now())
	}
	if err != nil {
		s.log.ErrorContext(ctx, "checking a second factor", "err", err)
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	if !good {
		s.audit.InfoContext(ctx, "second factor failed", "event", "login_factor_failed", "user_id", st.UserID, "method", method, "address", addr)
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
	if err := s.lockout.succeeded(ctx, at); err != nil {
		s.log.ErrorContext(ctx, "resetting sign-in attempts", "err", err)
	}
	if method == "recovery" {
		left, _ := s.store.CountRecoveryCodes(ctx, st.UserID)
		s.audit.InfoContext(ctx, "recovery code used", "event", "recovery_code_used", "user_id", st.UserID, "left", left)
	}
	st.AMR = withFactor(st.AMR, amrOTP)
	s.finishSignIn(w, r, st)
}

// --- enrolment at sign-in ---

func (s *Server) enrolForm(w http.ResponseWriter, r *http.Request) {
	st, ok := s.openSignIn(r)
	if !ok || !st.Enrol || st.Done {
		s.pages.errorPage(w, http.StatusBadRequest, "This sign-in has expired. Go back and sign in again.")
		return
	}
	s.renderEnrol(w, r, st, http.StatusOK, "")
}

func (s *Server) renderEnrol(w http.ResponseWriter, r *http.Request, st signInState, status int, msg string) {
	e, err := s.totp.enrol(st.UserID, st.Username)
	if err != nil {
		s.log.ErrorContext(r.Context(), "enrolling TOTP", "err", err)
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	s.pages.render(w, status, "enrol", pageData{
		Title: "Set up a second factor", Username: st.Username, Error: msg,
		CSRF: s.pages.csrfToken(w, r, "enrol"), TOTP: &e, Action: "/login/enrol",
	})
}

// enrolSubmit stores the authenticator app the person just set up, once
// they have typed a code of it, and shows their recovery codes.
func (s *Server) enrolSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.pages.checkCSRF(r, "enrol") {
		s.pages.errorPage(w, http.StatusForbidden, "The form expired. Go back and try again.")
		return
	}
	st, ok := s.openSignIn(r)
	if !ok || !st.Enrol || st.Done {
		s.pages.errorPage(w, http.StatusBadRequest, "This sign-in has expired. Go back and sign in again.")
		return
	}
	codes, err := s.storeTOTP(ctx, st.UserID, r.PostFormValue("secret"), r.PostFormValue("code"))
	switch {
	case errors.Is(err, errWrongFirstCode):
		s.renderEnrol(w, r, st, http.StatusUnprocessableEntity, "That code is not right. Scan the new QR code and try again.")
		return
	case err != nil:
		s.log.ErrorContext(ctx, "storing TOTP", "err", err)
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	st.AMR, st.Enrol, st.Done = withFactor(st.AMR, amrOTP), false, true
	if err := s.sealSignIn(w, st); err != nil {
		s.log.ErrorContext(ctx, "continuing sign-in", "err", err)
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	s.pages.render(w, http.StatusOK, "codes", pageData{
		Title: "Save your recovery codes", Codes: codes, CSRF: s.pages.csrfToken(w, r, "continue"), Action: "/login/continue",
	})
}

// continueSubmit finishes a sign-in whose person enrolled a second factor
// on the way and has read their recovery codes.
func (s *Server) continueSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.pages.checkCSRF(r, "continue") {
		s.pages.errorPage(w, http.StatusForbidden, "The form expired. Go back and try again.")
		return
	}
	st, ok := s.openSignIn(r)
	if !ok || !st.Done {
		s.pages.errorPage(w, http.StatusBadRequest, "This sign-in has expired. Go back and sign in again.")
		return
	}
	// The finished state is in a cookie until it expires: it starts one
	// session, once across instances.
	switch err := s.store.UseOnce(r.Context(), "signin:"+st.ID, st.Expires, s.now()); {
	case errors.Is(err, storage.ErrAlreadyUsed):
		s.pages.errorPage(w, http.StatusBadRequest, "This sign-in has expired. Go back and sign in again.")
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "continuing sign-in", "err", err)
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	s.finishSignIn(w, r, st)
}

// errWrongFirstCode: the code typed at enrolment is not one of the new
// secret's.
var errWrongFirstCode = errors.New("wrong first TOTP code")

// storeTOTP checks the first code of a secret being enrolled and stores
// the authenticator with new recovery codes, which it returns.
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
	// The codes first: an authenticator stored without them would be on
	// with codes the person never saw.
	if err := s.store.SetRecoveryCodes(ctx, userID, hashes, now); err != nil {
		return nil, fmt.Errorf("storing recovery codes: %w", err)
	}
	if err := s.store.SetTOTP(ctx, storage.TOTP{UserID: userID, Secret: stored, LastStep: step, CreatedAt: now}); err != nil {
		return nil, fmt.Errorf("storing TOTP: %w", err)
	}
	s.audit.InfoContext(ctx, "authenticator app enrolled", "event", "totp_enrolled", "user_id", userID)
	return codes, nil
}
