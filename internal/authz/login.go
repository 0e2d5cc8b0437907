package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// The pages a person sees: sign-in (throttled by lockout.go), consent,
// sign-out and the role's home page, and the login session they share.

// --- login sessions ---

// currentSession returns the browser's login session, if it has one.
func (s *Server) currentSession(r *http.Request) (storage.LoginSession, bool) {
	tok := s.pages.sessionToken(r)
	if tok == "" {
		return storage.LoginSession{}, false
	}
	sess, err := s.store.GetLoginSession(r.Context(), secret.HashToken(tok), s.now())
	if err != nil {
		return storage.LoginSession{}, false
	}
	return sess, true
}

// maxUserAgent bounds the User-Agent kept with a session.
const maxUserAgent = 255

func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, userID string, amr []string, now time.Time) (storage.LoginSession, error) {
	tok, err := secret.NewToken()
	if err != nil {
		return storage.LoginSession{}, err
	}
	ua := strings.ToValidUTF8(r.UserAgent(), "")
	for len(ua) > maxUserAgent {
		_, size := utf8.DecodeLastRuneInString(ua)
		ua = ua[:len(ua)-size]
	}
	sess := storage.LoginSession{
		ID: secret.HashToken(tok), UserID: userID, AuthTime: now, AMR: amr, UserAgent: ua,
		CreatedAt: now, ExpiresAt: now.Add(loginSessionTTL),
	}
	if err := s.store.CreateLoginSession(ctx, sess); err != nil {
		return storage.LoginSession{}, err
	}
	s.pages.setCookie(w, s.pages.session, tok, int(loginSessionTTL/time.Second))
	return sess, nil
}

func (s *Server) endSession(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if sess, ok := s.currentSession(r); ok {
		if err := s.store.DeleteLoginSession(ctx, sess.ID); err != nil {
			s.log.ErrorContext(ctx, "deleting login session", "err", err)
		}
		s.audit.InfoContext(ctx, "signed out", "event", "logout", "user_id", sess.UserID)
	}
	s.pages.clearSessionCookie(w)
}

// --- password checks ---

// passwordChecker verifies passwords, a bounded number at once: each
// argon2id verification holds its memory cost (12 MiB with
// password.DefaultParams) while it runs, so a burst of sign-ins queues
// instead of growing the process by burst × memory. Sized GOMAXPROCS:
// more cannot compute in parallel anyway.
type passwordChecker struct {
	limiter *password.Limiter
	params  password.Params // what hashes are kept under
	// verify, verifyDummy and hash are password.Verify,
	// password.VerifyDummyWithParams and password.HashWithParams under
	// params; tests replace them to count or hold verifications.
	verify      func(pw, encoded string) (bool, error)
	verifyDummy func(pw string)
	hash        func(pw string) (string, error)
}

func newPasswordChecker(params password.Params) *passwordChecker {
	if params == (password.Params{}) {
		params = password.DefaultParams
	}
	return &passwordChecker{
		limiter: password.NewLimiter(runtime.GOMAXPROCS(0)),
		params:  params,
		verify:  password.Verify,
		// An unknown user costs what a known one does: a hash under the
		// parameters every account's hash moves to.
		verifyDummy: func(pw string) { password.VerifyDummyWithParams(pw, params) },
		hash:        func(pw string) (string, error) { return password.HashWithParams(pw, params) },
	}
}

// check verifies pw against the user's hash, or against nothing when the
// user is unknown (no user enumeration by timing: both cost a
// verification). An error means nothing was verified: ctx ended while
// waiting for a slot.
func (c *passwordChecker) check(ctx context.Context, u *storage.User, pw string) (bool, error) {
	ok := false
	var verifyErr error
	err := c.limiter.Do(ctx, func() {
		if u == nil {
			c.verifyDummy(pw)
			return
		}
		ok, verifyErr = c.verify(pw, u.PasswordHash)
	})
	if err != nil {
		return false, err
	}
	return ok && verifyErr == nil && !u.Disabled, nil
}

// rehashStore replaces a hash only if it is still the one verified, and
// reads the user back when it is not.
type rehashStore interface {
	RehashUserPassword(ctx context.Context, id, oldHash, newHash string, now time.Time) (bool, error)
	GetUser(ctx context.Context, id string) (storage.User, error)
}

// upgrade replaces u's hash, just verified against pw, by one under the
// checker's parameters if it was made with others. The store replaces it
// only if it is unchanged, so a password set since the verification stays.
// It reports whether the hash was replaced, and then holds the new one in
// u. When another sign-in replaced it first, u takes the stored hash if pw
// verifies against it too (a rehash of the same password, not a new
// password), so that this sign-in is not taken for one begun before a
// password change.
func (c *passwordChecker) upgrade(ctx context.Context, st rehashStore, u *storage.User, pw string, now time.Time) (bool, error) {
	if !password.NeedsRehash(u.PasswordHash, c.params) {
		return false, nil
	}
	var next string
	var hashErr error
	if err := c.limiter.Do(ctx, func() { next, hashErr = c.hash(pw) }); err != nil {
		return false, err
	}
	if hashErr != nil {
		return false, hashErr
	}
	replaced, err := st.RehashUserPassword(ctx, u.ID, u.PasswordHash, next, now)
	if err != nil {
		return false, fmt.Errorf("storing the rehashed password of %s: %w", u.ID, err)
	}
	if replaced {
		u.PasswordHash = next
		return true, nil
	}
	stored, err := st.GetUser(ctx, u.ID)
	if err != nil {
		return false, fmt.Errorf("reading back the password of %s: %w", u.ID, err)
	}
	if stored.PasswordHash != u.PasswordHash && !password.NeedsRehash(stored.PasswordHash, c.params) {
		var same bool
		if err := c.limiter.Do(ctx, func() { same, _ = c.verify(pw, stored.PasswordHash) }); err != nil {
			return false, err
		}
		if same {
			u.PasswordHash = stored.PasswordHash
		}
	}
	return false, nil
}

// --- sign-in ---

// clientAddress is the address lockout counts by: the connection's peer,
// or behind trusted proxies the client they name.
func (s *Server) clientAddress(r *http.Request) string {
	return s.cfg.TrustedProxies.ClientIP(r)
}

const invalidCredentials = "Invalid username or password."

// loginPending opens the authorization request a sign-in continues, if
// any, and its client.
func (s *Server) loginPending(w http.ResponseWriter, r *http.Request, sealed string) (req pendingRequest, client storage.Client, ok bool) {
	if sealed == "" {
		return req, client, true
	}
	req, err := s.pending.open(sealed, s.now())
	if err != nil {
		s.pages.errorPage(w, http.StatusBadRequest, "This sign-in request has expired or is unknown. Go back to the application and start again.")
		return req, client, false
	}
	client, err = s.store.GetClient(r.Context(), req.ClientID)
	switch {
	case errors.Is(err, storage.ErrNotFound), err == nil && (client.Disabled || !redirectAllowed(client, req.RedirectURI)):
		// Checked again: the registration may have changed since /authorize.
		s.pages.errorPage(w, http.StatusBadRequest, "The application that sent you here is not registered.")
		return req, client, false
	case err != nil:
		s.unavailable(w)
		return req, client, false
	}
	req.holdToClient(client) // read again: the registration may have changed since /authorize
	return req, client, true
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	sealed := r.URL.Query().Get("request")
	req, client, ok := s.loginPending(w, r, sealed)
	if !ok {
		return
	}
	d := pageData{Title: "Sign in", Request: sealed, Return: loginReturn(r.URL.Query().Get("return"), sealed), ClientName: client.Name, Username: req.LoginHint}
	d.CSRF = s.pages.csrfToken(w, r, "login")
	s.pages.render(w, http.StatusOK, "login", d)
}

// loginReturn keeps a return page only for a sign-in at the role itself.
func loginReturn(ret, sealed string) string {
	if _, ok := returnPages[ret]; !ok || sealed != "" {
		return ""
	}
	return ret
}

func (s *Server) loginSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !s.pages.checkCSRF(r, "login") {
		s.pages.errorPage(w, http.StatusForbidden, "The form expired. Go back and try again.")
		return
	}
	sealed := r.PostFormValue("request")
	req, client, ok := s.loginPending(w, r, sealed)
	if !ok {
		return
	}
	ret := loginReturn(r.PostFormValue("return"), sealed)
	d := pageData{Title: "Sign in", Request: sealed, Return: ret, ClientName: client.Name, Username: r.PostFormValue("username")}
	d.CSRF = s.pages.csrfToken(w, r, "login")
	username := strings.TrimSpace(r.PostFormValue("username"))
	pw := r.PostFormValue("password")
	if len(username) > maxUsername || len(pw) > maxPassword {
		// Longer than any account's; refused before any work.
		d.Error = invalidCredentials
		s.pages.render(w, http.StatusUnauthorized, "login", d)
		return
	}

	// The attempt is counted before the password is checked: past a
	// limit, nothing reaches the check (lockout.go).
	addr := s.clientAddress(r)
	at, err := s.lockout.reserve(ctx, username, addr)
	if err != nil {
		s.log.ErrorContext(ctx, "counting sign-in attempt", "err", err)
		s.unavailable(w)
		return
	}
	if !at.allowed {
		s.audit.WarnContext(ctx, "login locked out", "event", "lockout", "username", username, "address", addr)
		w.Header().Set("Retry-After", strconv.Itoa(int(s.lockout.policy.Window.Seconds())))
		d.Error = "Too many sign-in attempts. Wait a while and try again."
		s.pages.render(w, http.StatusTooManyRequests, "login", d)
		return
	}

	var user *storage.User
	switch u, err := s.store.GetUserByUsername(ctx, username); {
	case err == nil:
		user = &u
	case !errors.Is(err, storage.ErrNotFound):
		s.log.ErrorContext(ctx, "loading user", "err", err)
		s.unavailable(w)
		return
	}
	ok, err = s.passwords.check(ctx, user, pw)
	if err != nil {
		// The request ended (the browser went away) while waiting for a
		// verification slot: nothing was checked, so nothing is counted.
		s.log.InfoContext(ctx, "sign-in abandoned while waiting to verify the password", "err", err)
		if err := s.lockout.abandoned(context.WithoutCancel(ctx), at); err != nil {
			s.log.ErrorContext(ctx, "giving back a sign-in attempt", "err", err)
		}
		s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is busy. Try again shortly.")
		return
	}
	if !ok {
		s.audit.InfoContext(ctx, "login failed", "event", "login_failed", "username", username, "address", addr)
		if delay := s.lockout.failureDelay(at); delay > 0 {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
		}
		d.Error = invalidCredentials
		s.pages.render(w, http.StatusUnauthorized, "login", d)
		return
	}
	// A hash under older parameters is replaced now, while the password is
	// at hand; failing to is no reason to refuse the sign-in.
	if replaced, err := s.passwords.upgrade(ctx, s.store, user, pw, s.now()); err != nil {
		s.log.ErrorContext(ctx, "rehashing a password", "err", err, "user_id", user.ID)
	} else if replaced {
		s.audit.InfoContext(ctx, "password rehashed", "event", "password_rehashed", "user_id", user.ID)
	}
	s.afterPassword(w, r, *user, at, sealed, req, ret)
}

// --- consent ---

// consentRequest loads a request waiting for the signed-in person's
// consent.
func (s *Server) consentRequest(w http.ResponseWriter, r *http.Request, id string) (storage.AuthRequest, storage.Client, storage.User, bool) {
	ctx := r.Context()
	req, err := s.store.GetAuthRequest(ctx, id)
	// A request with a code was answered; one whose code is marked used
	// before it has one was ended by a revocation (a password reset).
	if err != nil || req.CodeHash != "" || req.CodeUsed || !s.now().Before(req.ExpiresAt) {
		s.pages.errorPage(w, http.StatusBadRequest, "This sign-in request has expired or is unknown. Go back to the application and start again.")
		return req, storage.Client{}, storage.User{}, false
	}
	c, err := s.store.GetClient(ctx, req.ClientID)
	if err != nil || c.Disabled {
		s.pages.errorPage(w, http.StatusBadRequest, "The application that sent you here is not registered.")
		return req, c, storage.User{}, false
	}
	sess, ok := s.currentSession(r)
	if !ok || req.UserID == "" || sess.UserID != req.UserID {
		s.pages.errorPage(w, http.StatusForbidden, "Sign in first. Go back to the application and start again.")
		return req, c, storage.User{}, false
	}
	u, err := s.store.GetUser(ctx, req.UserID)
	if err != nil || u.Disabled {
		s.pages.errorPage(w, http.StatusForbidden, "Sign in first. Go back to the application and start again.")
		return req, c, u, false
	}
	return req, c, u, true
}

func (s *Server) consentForm(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	req, c, u, ok := s.consentRequest(w, r, id)
	if !ok {
		return
	}
	d := pageData{Title: "Allow access?", ClientName: c.Name, RequestID: id, Username: u.Username, CSRF: s.pages.csrfToken(w, r, "consent:"+id)}
	for _, sc := range req.Scopes {
		d.Scopes = append(d.Scopes, scopeDescription(sc))
	}
	s.pages.render(w, http.StatusOK, "consent", d)
}

func (s *Server) consentSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PostFormValue("id")
	if !s.pages.checkCSRF(r, "consent:"+id) {
		s.pages.errorPage(w, http.StatusForbidden, "The form expired. Go back and try again.")
		return
	}
	req, c, _, ok := s.consentRequest(w, r, id)
	if !ok {
		return
	}
	if r.PostFormValue("decision") != "allow" {
		s.audit.InfoContext(ctx, "consent denied", "event", "consent_denied", "user_id", req.UserID, "client_id", c.ID, "scope", req.Scopes)
		s.redirectError(w, r, req.RedirectURI, req.State, authzError{"access_denied", "the user denied the request"})
		return
	}
	now := s.now()
	scopes := req.Scopes
	if prev, err := s.store.GetConsent(ctx, req.UserID, c.ID, now); err == nil {
		for _, sc := range prev.Scopes {
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	if err := s.store.PutConsent(ctx, storage.Consent{UserID: req.UserID, ClientID: c.ID, Scopes: scopes, CreatedAt: now, ExpiresAt: now.Add(consentTTL)}); err != nil {
		s.log.ErrorContext(ctx, "storing consent", "err", err)
		s.redirectError(w, r, req.RedirectURI, req.State, authzError{"server_error", ""})
		return
	}
	s.audit.InfoContext(ctx, "consent granted", "event", "consent_granted", "user_id", req.UserID, "client_id", c.ID, "scope", req.Scopes)
	s.issueCode(w, r, req)
}

// --- sign-out and home ---

func (s *Server) username(r *http.Request) string {
	sess, ok := s.currentSession(r)
	if !ok {
		return ""
	}
	u, err := s.store.GetUser(r.Context(), sess.UserID)
	if err != nil {
		return ""
	}
	return u.Username
}

func (s *Server) logoutForm(w http.ResponseWriter, r *http.Request) {
	s.pages.render(w, http.StatusOK, "logout", pageData{Title: "Sign out", Username: s.username(r), CSRF: s.pages.csrfToken(w, r, "logout")})
}

func (s *Server) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	if !s.pages.checkCSRF(r, "logout") {
		s.pages.errorPage(w, http.StatusForbidden, "The form expired. Go back and try again.")
		return
	}
	s.endSession(r.Context(), w, r)
	http.Redirect(w, r, "/signed-out", http.StatusSeeOther)
}

func (s *Server) signedOut(w http.ResponseWriter, _ *http.Request) {
	s.pages.render(w, http.StatusOK, "message", pageData{Title: "Signed out", Message: "You are signed out of Gatehouse."})
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	d := pageData{Title: "Gatehouse", Message: "This is the Gatehouse sign-in service.", Username: s.username(r)}
	s.pages.render(w, http.StatusOK, "message", d)
}
