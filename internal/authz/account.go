package authz

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// The account page (/account): a signed-in person changes their password,
// manages their passkeys and authenticator app, and sees and ends their
// sessions and the applications they gave access. Every form carries a
// CSRF token; changes to how the person signs in also need a sign-in of
// the last reauthWindow, or the page sends them to sign in again first.
// Nothing on it needs JavaScript except adding a passkey (passkey.go).

// reauthWindow is how recent a sign-in must be for changes to the
// account's credentials.
const reauthWindow = 10 * time.Minute

// recentlyAuthenticated reports whether sess signed in within
// reauthWindow.
func (s *Server) recentlyAuthenticated(sess storage.LoginSession) bool {
	return s.now().Sub(sess.AuthTime) <= reauthWindow
}

// accountView is what the account page shows.
type accountView struct {
	User         storage.User
	Recent       bool // a sign-in recent enough for credential changes
	TOTP         bool
	RecoveryLeft int
	Passkeys     []passkeyView
	Sessions     []sessionView
	Apps         []appView
	Notice       string
}

type passkeyView struct {
	ID         string // base64url credential ID
	Name       string
	Synced     bool
	CreatedAt  time.Time
	LastUsedAt time.Time
}

type sessionView struct {
	ID        string
	AMR       string // the methods, as ID tokens name them
	Device    string // the browser and system, as deviceOf reads them
	UserAgent string
	Methods   string
	AuthTime  time.Time
	CreatedAt time.Time
	Current   bool
}

type appView struct {
	ClientID string
	Name     string
	Scopes   []string
	Since    time.Time
}

// accountNotices are what the page says after a change (?done=…).
var accountNotices = map[string]string{
	"password":        "Your password is changed. Your other sessions are signed out, and applications must ask for access again.",
	"totp-off":        "The authenticator app is removed.",
	"passkey-added":   "The passkey is added.",
	"passkey-removed": "The passkey is removed.",
	"session-ended":   "The session is signed out.",
	"app-revoked":     "The application's access is revoked.",
	"totp-on":         "The authenticator app is on.",
	"reauth":          "Sign in again to change how you sign in.",
	"totp-exists":     "An authenticator app is already on. Turn it off first to set up another.",
	"last-factor":     "This service requires a second factor: add another before removing this one.",
}

// accountSession returns the signed-in person, or sends the browser to
// sign in (and back here) and reports false. With recent, the sign-in
// must also be within reauthWindow.
func (s *Server) accountSession(w http.ResponseWriter, r *http.Request, recent bool) (storage.LoginSession, storage.User, bool) {
	sess, ok := s.currentSession(r)
	if ok {
		u, err := s.store.GetUser(r.Context(), sess.UserID)
		if err == nil && !u.Disabled {
			if !recent || s.recentlyAuthenticated(sess) {
				return sess, u, true
			}
		}
	}
	http.Redirect(w, r, "/login?return=account", http.StatusSeeOther)
	return storage.LoginSession{}, storage.User{}, false
}

// accountForm checks a form posted from the account page: its CSRF token
// and the session (recent, for credential changes).
func (s *Server) accountForm(w http.ResponseWriter, r *http.Request, recent bool) (storage.LoginSession, storage.User, bool) {
	if !s.pages.checkCSRF(r, "account") {
		s.pages.errorPage(w, http.StatusForbidden, "The form expired. Go back and try again.")
		return storage.LoginSession{}, storage.User{}, false
	}
	return s.accountSession(w, r, recent)
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	sess, u, ok := s.accountSession(w, r, false)
	if !ok {
		return
	}
	v, err := s.loadAccount(r.Context(), sess, u)
	if err != nil {
		s.log.ErrorContext(r.Context(), "loading account", "err", err, "user_id", u.ID)
		s.unavailable(w)
		return
	}
	v.Notice = accountNotices[r.URL.Query().Get("done")]
	s.renderAccount(w, r, http.StatusOK, v, "")
}

func (s *Server) renderAccount(w http.ResponseWriter, r *http.Request, status int, v accountView, errMsg string) {
	s.pages.render(w, status, "account", pageData{
		Title: "Your account", Username: v.User.Username, Error: errMsg,
		CSRF: s.pages.csrfToken(w, r, "account"), Account: &v,
	})
}

func (s *Server) loadAccount(ctx context.Context, sess storage.LoginSession, u storage.User) (accountView, error) {
	now := s.now()
	v := accountView{User: u, Recent: s.recentlyAuthenticated(sess)}
	switch _, err := s.store.GetTOTP(ctx, u.ID); {
	case err == nil:
		v.TOTP = true
		n, err := s.store.CountRecoveryCodes(ctx, u.ID)
		if err != nil {
			return v, fmt.Errorf("counting recovery codes: %w", err)
		}
		v.RecoveryLeft = n
	case !errors.Is(err, storage.ErrNotFound):
		return v, fmt.Errorf("loading TOTP: %w", err)
	}
	keys, err := s.store.ListPasskeys(ctx, u.ID)
	if err != nil {
		return v, fmt.Errorf("listing passkeys: %w", err)
	}
	for _, k := range keys {
		v.Passkeys = append(v.Passkeys, passkeyView{
			ID: base64.RawURLEncoding.EncodeToString(k.ID), Name: k.Name, Synced: k.BackupEligible,
			CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt,
		})
	}
	sessions, err := s.store.ListUserLoginSessions(ctx, u.ID, now)
	if err != nil {
		return v, fmt.Errorf("listing sessions: %w", err)
	}
	for _, l := range sessions {
		v.Sessions = append(v.Sessions, sessionView{
			ID: l.ID, Device: deviceOf(l.UserAgent), UserAgent: l.UserAgent, Methods: methodsOf(l.AMR), AMR: strings.Join(l.AMR, " "),
			AuthTime: l.AuthTime, CreatedAt: l.CreatedAt, Current: l.ID == sess.ID,
		})
	}
	v.Apps, err = s.userApps(ctx, u.ID, now)
	return v, err
}

// userApps lists the clients the person gave access: those holding a
// grant or a remembered consent, by name, each with the scopes of its
// grants and consents, sorted.
func (s *Server) userApps(ctx context.Context, userID string, now time.Time) ([]appView, error) {
	apps := map[string]*appView{}
	add := func(clientID string, since time.Time, scopes []string) {
		a, ok := apps[clientID]
		if !ok {
			a = &appView{ClientID: clientID, Since: since}
			apps[clientID] = a
		}
		if since.Before(a.Since) {
			a.Since = since
		}
		for _, sc := range scopes {
			if !slices.Contains(a.Scopes, sc) {
				a.Scopes = append(a.Scopes, sc)
			}
		}
	}
	grants, err := s.store.ListUserGrants(ctx, userID, now)
	if err != nil {
		return nil, fmt.Errorf("listing grants: %w", err)
	}
	for _, g := range grants {
		add(g.ClientID, g.CreatedAt, g.Scopes)
	}
	consents, err := s.store.ListUserConsents(ctx, userID, now)
	if err != nil {
		return nil, fmt.Errorf("listing consent: %w", err)
	}
	for _, c := range consents {
		add(c.ClientID, c.CreatedAt, c.Scopes)
	}
	out := make([]appView, 0, len(apps))
	for _, a := range apps {
		slices.Sort(a.Scopes) // whatever order the grants and consents came in
		a.Name = a.ClientID
		if c, err := s.store.GetClient(ctx, a.ClientID); err == nil && c.Name != "" {
			a.Name = c.Name
		}
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b appView) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// --- password ---

// changePassword sets a new password, then ends the person's other
// sessions and revokes every grant: whoever knew the old password and
// signed in with it is out.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, u, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	pw := r.PostFormValue("new_password")
	fail := func(status int, msg string) {
		v, err := s.loadAccount(ctx, sess, u)
		if err != nil {
			s.log.ErrorContext(ctx, "loading account", "err", err)
		}
		s.renderAccount(w, r, status, v, msg)
	}
	if status, ok := s.checkCurrentPassword(w, r, u); !ok {
		if status != 0 {
			fail(status, "The current password is not right.")
		}
		return
	}
	if pw != r.PostFormValue("confirm_password") {
		fail(http.StatusUnprocessableEntity, "The two new passwords differ.")
		return
	}
	if err := password.Validate(pw); err != nil {
		fail(http.StatusUnprocessableEntity, "The new password is not accepted: "+err.Error()+".")
		return
	}
	var hash string
	var hashErr error
	if err := s.passwords.limiter.Do(ctx, func() { hash, hashErr = s.passwords.hash(pw) }); err != nil || hashErr != nil {
		s.log.ErrorContext(ctx, "hashing a password", "err", errors.Join(err, hashErr))
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is busy. Try again shortly.")
		return
	}
	now := s.now()
	if err := s.store.SetUserPassword(ctx, u.ID, hash, now); err != nil {
		s.log.ErrorContext(ctx, "setting a password", "err", err)
		s.unavailable(w)
		return
	}
	// The password is changed: what follows must happen even if the
	// browser goes away now.
	ctx = context.WithoutCancel(ctx)
	n, err := s.store.RevokeUserGrants(ctx, u.ID)
	if err == nil {
		err = s.store.DeleteOtherLoginSessions(ctx, u.ID, sess.ID)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "ending sessions after a password change", "err", err, "user_id", u.ID)
		s.pages.errorPage(w, http.StatusServiceUnavailable, "Your password is changed, but other sessions could not all be signed out. Change it again shortly.")
		return
	}
	s.audit.InfoContext(ctx, "password changed", "event", "password_changed", "user_id", u.ID, "grants_revoked", n)
	http.Redirect(w, r, "/account?done=password", http.StatusSeeOther)
}

// checkCurrentPassword verifies the current password a password change
// carries (OWASP ASVS 2.1.6: a session alone, perhaps stolen, does not
// change it), counted against the sign-in attempts as a sign-in is. It
// reports false when the change must not go on, with the status to
// answer with, or 0 when it answered itself.
func (s *Server) checkCurrentPassword(w http.ResponseWriter, r *http.Request, u storage.User) (int, bool) {
	ctx := r.Context()
	pw := r.PostFormValue("current_password")
	if len(pw) > maxPassword {
		return http.StatusUnprocessableEntity, false
	}
	at, err := s.lockout.reserve(ctx, u.Username, s.clientAddress(r))
	if err != nil {
		s.log.ErrorContext(ctx, "counting sign-in attempt", "err", err)
		s.unavailable(w)
		return 0, false
	}
	if !at.allowed {
		w.Header().Set("Retry-After", strconv.Itoa(int(s.lockout.policy.Window.Seconds())))
		s.pages.errorPage(w, http.StatusTooManyRequests, "Too many attempts. Wait a while and try again.")
		return 0, false
	}
	ok, err := s.passwords.check(ctx, &u, pw)
	if err != nil {
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is busy. Try again shortly.")
		return 0, false
	}
	if !ok {
		s.audit.InfoContext(ctx, "wrong current password at a password change", "event", "password_change_failed", "user_id", u.ID)
		return http.StatusUnprocessableEntity, false
	}
	if err := s.lockout.succeeded(ctx, at); err != nil {
		s.log.ErrorContext(ctx, "resetting sign-in attempts", "err", err)
	}
	return 0, true
}

// --- authenticator app and recovery codes ---

func (s *Server) accountTOTPForm(w http.ResponseWriter, r *http.Request) {
	_, u, ok := s.accountSession(w, r, true)
	if !ok {
		return
	}
	s.renderEnrol(w, r, enrolPage{userID: u.ID, username: u.Username, account: true}, http.StatusOK, "")
}

func (s *Server) accountTOTPSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, u, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	codes, err := s.storeTOTP(ctx, u.ID, r.PostFormValue("secret"), r.PostFormValue("code"))
	switch {
	case errors.Is(err, errWrongFirstCode):
		s.renderEnrol(w, r, enrolPage{userID: u.ID, username: u.Username, account: true}, http.StatusUnprocessableEntity,
			"That code is not right. Scan the new QR code and try again.")
		return
	case errors.Is(err, storage.ErrAlreadyExists):
		// The form sent twice, or an app set up meanwhile: the codes
		// shown then stay the valid ones.
		http.Redirect(w, r, "/account?done=totp-exists", http.StatusSeeOther)
		return
	case err != nil:
		s.log.ErrorContext(ctx, "storing TOTP", "err", err)
		s.unavailable(w)
		return
	}
	s.pages.render(w, http.StatusOK, "codes", pageData{Title: "Save your recovery codes", Codes: codes})
}

// removeFactorAllowed reports whether the person may remove one factor:
// not the last one when the server requires a second factor.
func (s *Server) removeFactorAllowed(ctx context.Context, userID string) (bool, error) {
	if !s.cfg.RequireMFA {
		return true, nil
	}
	f, err := s.factorsOf(ctx, userID)
	if err != nil {
		return false, err
	}
	n := f.passkeys
	if f.totp {
		n++
	}
	return n > 1, nil
}

func (s *Server) accountTOTPDelete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, u, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	if !s.mayRemoveFactor(w, r, u.ID) {
		return
	}
	if err := s.store.DeleteTOTP(ctx, u.ID); err != nil {
		s.log.ErrorContext(ctx, "removing TOTP", "err", err)
		s.unavailable(w)
		return
	}
	s.audit.InfoContext(ctx, "authenticator app removed", "event", "totp_removed", "user_id", u.ID)
	http.Redirect(w, r, "/account?done=totp-off", http.StatusSeeOther)
}

// mayRemoveFactor answers (and reports false) when the person may not
// remove a factor now.
func (s *Server) mayRemoveFactor(w http.ResponseWriter, r *http.Request, userID string) bool {
	ok, err := s.removeFactorAllowed(r.Context(), userID)
	if err != nil {
		s.log.ErrorContext(r.Context(), "loading factors", "err", err)
		s.unavailable(w)
		return false
	}
	if !ok {
		http.Redirect(w, r, "/account?done=last-factor", http.StatusSeeOther)
	}
	return ok
}

func (s *Server) accountRecoveryCodes(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, u, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	switch _, err := s.store.GetTOTP(ctx, u.ID); {
	case errors.Is(err, storage.ErrNotFound):
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	case err != nil:
		s.log.ErrorContext(ctx, "loading TOTP", "err", err)
		s.unavailable(w)
		return
	}
	codes, hashes, err := s.totp.newRecoveryCodes(u.ID)
	if err == nil {
		err = s.store.SetRecoveryCodes(ctx, u.ID, hashes, s.now())
	}
	if err != nil {
		s.log.ErrorContext(ctx, "replacing recovery codes", "err", err)
		s.unavailable(w)
		return
	}
	s.audit.InfoContext(ctx, "recovery codes replaced", "event", "recovery_codes_replaced", "user_id", u.ID)
	s.pages.render(w, http.StatusOK, "codes", pageData{Title: "Save your recovery codes", Codes: codes})
}

// --- passkeys ---

func (s *Server) accountPasskeyDelete(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, u, ok := s.accountForm(w, r, true)
	if !ok {
		return
	}
	id, err := base64.RawURLEncoding.DecodeString(r.PostFormValue("id"))
	if err != nil || len(id) == 0 {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	if !s.mayRemoveFactor(w, r, u.ID) {
		return
	}
	switch err := s.store.DeletePasskey(ctx, u.ID, id); {
	case errors.Is(err, storage.ErrNotFound):
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	case err != nil:
		s.log.ErrorContext(ctx, "removing a passkey", "err", err)
		s.unavailable(w)
		return
	}
	s.audit.InfoContext(ctx, "passkey removed", "event", "passkey_removed", "user_id", u.ID, "credential", r.PostFormValue("id"))
	http.Redirect(w, r, "/account?done=passkey-removed", http.StatusSeeOther)
}

// --- sessions and applications ---

// accountSessionEnd signs out one of the person's sessions (this one
// included).
func (s *Server) accountSessionEnd(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, u, ok := s.accountForm(w, r, false)
	if !ok {
		return
	}
	id := r.PostFormValue("id")
	sessions, err := s.store.ListUserLoginSessions(ctx, u.ID, s.now())
	if err != nil {
		s.log.ErrorContext(ctx, "listing sessions", "err", err)
		s.unavailable(w)
		return
	}
	// Only the person's own sessions: an ID from anywhere else is ignored.
	if !slices.ContainsFunc(sessions, func(l storage.LoginSession) bool { return l.ID == id }) {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	if err := s.store.DeleteLoginSession(ctx, id); err != nil {
		s.log.ErrorContext(ctx, "ending a session", "err", err)
		s.unavailable(w)
		return
	}
	s.audit.InfoContext(ctx, "session signed out from the account page", "event", "session_ended", "user_id", u.ID, "current", id == sess.ID)
	if id == sess.ID {
		s.pages.clearSessionCookie(w)
		http.Redirect(w, r, "/signed-out", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account?done=session-ended", http.StatusSeeOther)
}

// accountAppRevoke withdraws one application's access: its grants (and
// every token issued from them) and the remembered consent.
func (s *Server) accountAppRevoke(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, u, ok := s.accountForm(w, r, false)
	if !ok {
		return
	}
	clientID := r.PostFormValue("client_id")
	if clientID == "" {
		http.Redirect(w, r, "/account", http.StatusSeeOther)
		return
	}
	n, err := s.store.RevokeUserClientGrants(ctx, u.ID, clientID)
	if err == nil {
		err = s.store.DeleteConsent(ctx, u.ID, clientID)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "revoking an application", "err", err)
		s.unavailable(w)
		return
	}
	s.audit.InfoContext(ctx, "application access revoked", "event", "app_revoked", "user_id", u.ID, "client_id", clientID, "grants_revoked", n)
	http.Redirect(w, r, "/account?done=app-revoked", http.StatusSeeOther)
}

// deviceOf names the browser and system a User-Agent header describes,
// for a person recognising their sessions ("Firefox on Windows"); the
// whole header is shown beside it on hover.
func deviceOf(ua string) string {
	browser := "Unknown browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"},
		{"Chromium/", "Chromium"}, {"Safari/", "Safari"}, {"curl/", "curl"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iPadOS"}, {"Windows", "Windows"},
		{"Mac OS X", "macOS"}, {"CrOS", "ChromeOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
}

// methodsOf says in words how a session signed in ("password + code").
func methodsOf(amr []string) string {
	names := map[string]string{
		amrPassword: "password", amrOTP: "code", amrHWK: "passkey", amrSWK: "synced passkey",
	}
	var parts []string
	for _, m := range amr {
		if n, ok := names[m]; ok {
			parts = append(parts, n)
		}
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, " + ")
}
