package authz

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/password"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// scopeText explains scopes in plain words on the consent page.
var scopeText = map[string]string{
	"openid":         "Know who you are when you sign in",
	"profile":        "See your name and username",
	"email":          "See your email address",
	"offline_access": "Stay connected when you are not using it",
}

// pages serves the login, consent and logout pages and owns the cookies.
type pages struct {
	s       *Server
	tmpl    map[string]*template.Template
	csrfKey []byte
	session string // cookie names
	csrf    string
	secure  bool

	// hashes bounds the password verifications running at once (one
	// Limiter per Server): each argon2id verification holds its memory
	// cost (19 MiB with password.DefaultParams, more for stronger stored
	// parameters) while it runs, so a burst of sign-ins queues instead of
	// growing the process by burst × memory. Sized GOMAXPROCS: more
	// cannot compute in parallel anyway.
	hashes *password.Limiter
	// verify and verifyDummy are password.Verify and password.VerifyDummy;
	// tests replace them to count how many run at once.
	verify      func(pw, encoded string) (bool, error)
	verifyDummy func(pw string)
}

func newPages(s *Server) (*pages, error) {
	p := &pages{
		s:       s,
		tmpl:    map[string]*template.Template{},
		csrfKey: s.cfg.Secret.Derive("authz/csrf", 32),
		session: "__Host-gatehouse-session",
		csrf:    "__Host-gatehouse-csrf",
		secure:  true,

		hashes:      password.NewLimiter(runtime.GOMAXPROCS(0)),
		verify:      password.Verify,
		verifyDummy: password.VerifyDummy,
	}
	// The __Host- prefix requires Secure (RFC 6265bis §4.1.3.2). Behind a
	// TLS-terminating proxy (--insecure-http with an https issuer) the
	// browser still speaks HTTPS, so both stay; only a plain-HTTP issuer,
	// for local experiments, drops them.
	if strings.HasPrefix(s.cfg.Issuer, "http://") {
		p.session, p.csrf, p.secure = "gatehouse-session", "gatehouse-csrf", false
	}
	for _, name := range []string{"login", "consent", "logout", "message"} {
		t, err := template.ParseFS(templateFS, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		p.tmpl[name] = t
	}
	return p, nil
}

func (p *pages) static() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}

type pageData struct {
	Title, ClientName, Error, Message, CSRF, RequestID, Username string
	Scopes                                                       []string
}

func (p *pages) render(w http.ResponseWriter, status int, name string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := p.tmpl[name].ExecuteTemplate(w, name+".html", d); err != nil {
		p.s.log.Error("rendering page", "page", name, "err", err)
	}
}

func (p *pages) errorPage(w http.ResponseWriter, _ *http.Request, status int, msg string) {
	p.render(w, status, "message", pageData{Title: "Something went wrong", Message: msg, Error: "yes"})
}

// --- cookies and CSRF ---

func (p *pages) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode,
	})
}

// csrfToken returns the token a form carries: an HMAC of a random value in
// a cookie the browser holds, the form's purpose and its request. A site
// that cannot read or set the __Host- cookie cannot forge it.
func (p *pages) csrfToken(w http.ResponseWriter, r *http.Request, purpose string) string {
	var binding string
	if c, err := r.Cookie(p.csrf); err == nil && len(c.Value) >= 32 {
		binding = c.Value
	} else {
		tok, err := secret.NewToken()
		if err != nil {
			return ""
		}
		binding = tok
		p.setCookie(w, p.csrf, binding, 0)
	}
	return p.mac(binding, purpose)
}

func (p *pages) mac(binding, purpose string) string {
	m := hmac.New(sha256.New, p.csrfKey)
	m.Write([]byte(binding + "\x00" + purpose))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (p *pages) checkCSRF(r *http.Request, purpose string) bool {
	c, err := r.Cookie(p.csrf)
	if err != nil || c.Value == "" {
		return false
	}
	return hmac.Equal([]byte(r.PostFormValue("csrf_token")), []byte(p.mac(c.Value, purpose)))
}

// currentSession returns the browser's login session, if it has one.
func (p *pages) currentSession(r *http.Request) (storage.LoginSession, bool) {
	c, err := r.Cookie(p.session)
	if err != nil || c.Value == "" {
		return storage.LoginSession{}, false
	}
	sess, err := p.s.store.GetLoginSession(r.Context(), secret.HashToken(c.Value), p.s.now())
	if err != nil {
		return storage.LoginSession{}, false
	}
	return sess, true
}

func (p *pages) startSession(ctx context.Context, w http.ResponseWriter, userID string, now time.Time) (storage.LoginSession, error) {
	tok, err := secret.NewToken()
	if err != nil {
		return storage.LoginSession{}, err
	}
	sess := storage.LoginSession{
		ID: secret.HashToken(tok), UserID: userID, AuthTime: now, AMR: []string{"pwd"},
		CreatedAt: now, ExpiresAt: now.Add(loginSessionTTL),
	}
	if err := p.s.store.CreateLoginSession(ctx, sess); err != nil {
		return storage.LoginSession{}, err
	}
	p.setCookie(w, p.session, tok, int(loginSessionTTL/time.Second))
	return sess, nil
}

func (p *pages) endSession(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if sess, ok := p.currentSession(r); ok {
		if err := p.s.store.DeleteLoginSession(ctx, sess.ID); err != nil {
			p.s.log.ErrorContext(ctx, "deleting login session", "err", err)
		}
		p.s.audit.InfoContext(ctx, "signed out", "event", "logout", "user_id", sess.UserID)
	}
	p.setCookie(w, p.session, "", -1)
}

// pendingRequest loads an authorization request still waiting for the user.
func (p *pages) pendingRequest(w http.ResponseWriter, r *http.Request, id string) (storage.AuthRequest, storage.Client, bool) {
	req, err := p.s.store.GetAuthRequest(r.Context(), id)
	if err != nil || req.CodeHash != "" || !p.s.now().Before(req.ExpiresAt) {
		p.errorPage(w, r, http.StatusBadRequest, "This sign-in request has expired or is unknown. Go back to the application and start again.")
		return req, storage.Client{}, false
	}
	c, err := p.s.store.GetClient(r.Context(), req.ClientID)
	if err != nil {
		p.errorPage(w, r, http.StatusBadRequest, "The application that sent you here is not registered.")
		return req, c, false
	}
	return req, c, true
}

// --- login ---

func (p *pages) loginForm(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	d := pageData{Title: "Sign in", RequestID: id}
	if id != "" {
		req, c, ok := p.pendingRequest(w, r, id)
		if !ok {
			return
		}
		d.ClientName, d.Username = c.Name, req.LoginHint
	}
	d.CSRF = p.csrfToken(w, r, "login")
	p.render(w, http.StatusOK, "login", d)
}

// clientAddress is the address lockout counts by: the connection's peer,
// or behind a trusted proxy the client it names (httpserver.ClientIP).
func (p *pages) clientAddress(r *http.Request) string {
	return httpserver.ClientIP(r, p.s.cfg.TrustProxy)
}

const invalidCredentials = "Invalid username or password."

func (p *pages) loginSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := p.s
	id := r.PostFormValue("id")
	d := pageData{Title: "Sign in", RequestID: id, Username: r.PostFormValue("username")}
	if !p.checkCSRF(r, "login") {
		p.errorPage(w, r, http.StatusForbidden, "The form expired. Go back and try again.")
		return
	}
	var req storage.AuthRequest
	var client storage.Client
	if id != "" {
		var ok bool
		if req, client, ok = p.pendingRequest(w, r, id); !ok {
			return
		}
		d.ClientName = client.Name
	}
	d.CSRF = p.csrfToken(w, r, "login")
	username := strings.TrimSpace(r.PostFormValue("username"))
	pw := r.PostFormValue("password")

	if len(username) > maxUsername || len(pw) > maxPassword {
		// Longer than any account's; refused before any work.
		d.Error = invalidCredentials
		p.render(w, http.StatusUnauthorized, "login", d)
		return
	}

	// Throttling (lockout.go): only failures count, per username and per
	// client address; a success resets the username's count. A locked
	// username or address gets 429 without its password being checked.
	lo := s.cfg.Lockout
	addr := p.clientAddress(r)
	userKey, addrKey := userFailureKey(username), "addr:"+addr
	locked, err := s.anyLocked(ctx, userKey, addrKey)
	if err != nil {
		s.log.ErrorContext(ctx, "checking login lockout", "err", err)
		p.errorPage(w, r, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	if locked {
		s.audit.WarnContext(ctx, "login locked out", "event", "lockout", "username", username, "address", addr)
		w.Header().Set("Retry-After", strconv.Itoa(int(lo.Window.Seconds())))
		d.Error = "Too many sign-in attempts. Wait a while and try again."
		p.render(w, http.StatusTooManyRequests, "login", d)
		return
	}

	// No user enumeration: an unknown user costs a hash verification too,
	// and both failures read the same.
	user, err := s.store.GetUserByUsername(ctx, username)
	ok := false
	var verifyErr error
	switch {
	case err == nil:
		err = p.hashes.Do(ctx, func() { ok, verifyErr = p.verify(pw, user.PasswordHash) })
	case errors.Is(err, storage.ErrNotFound):
		err = p.hashes.Do(ctx, func() { p.verifyDummy(pw) })
	default:
		s.log.ErrorContext(ctx, "loading user", "err", err)
		p.errorPage(w, r, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	if err != nil {
		// The request ended (the browser went away) while waiting for a
		// verification slot: nothing was checked, so nothing is counted.
		s.log.InfoContext(ctx, "sign-in abandoned while waiting to verify the password", "err", err)
		p.errorPage(w, r, http.StatusServiceUnavailable, "The service is busy. Try again shortly.")
		return
	}
	if verifyErr != nil {
		s.log.ErrorContext(ctx, "verifying password", "err", verifyErr)
		ok = false
	}
	now := s.now()
	if !ok {
		s.audit.InfoContext(ctx, "login failed", "event", "login_failed", "username", username, "address", addr)
		n, err := s.loginFailed(ctx, failureCount{userKey, lo.UserLimit}, failureCount{addrKey, lo.AddressLimit})
		if err != nil {
			s.log.ErrorContext(ctx, "counting login failures", "err", err)
		}
		// Beyond SlowAfter failures each further failure is answered late.
		if excess := n - lo.SlowAfter; excess > 0 {
			delay := min(time.Duration(excess)*lo.Delay, 2*time.Second)
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
		}
		d.Error = invalidCredentials
		p.render(w, http.StatusUnauthorized, "login", d)
		return
	}
	if err := s.store.ResetLoginFailures(ctx, failuresKey(userKey)); err != nil {
		s.log.ErrorContext(ctx, "resetting login attempts", "err", err)
	}
	// A new session on every sign-in (no session fixation).
	p.endSession(ctx, w, r)
	sess, err := p.startSession(ctx, w, user.ID, now)
	if err != nil {
		s.log.ErrorContext(ctx, "starting session", "err", err)
		p.errorPage(w, r, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
		return
	}
	s.audit.InfoContext(ctx, "login succeeded", "event", "login_success", "user_id", user.ID, "address", p.clientAddress(r))
	if id == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if err := s.store.CompleteAuthRequest(ctx, req.ID, user.ID, sess.AuthTime, sess.AMR); err != nil {
		s.redirectError(w, r, req.RedirectURI, req.State, authzError{"server_error", ""})
		return
	}
	req.UserID, req.AuthTime, req.AMR = user.ID, sess.AuthTime, sess.AMR
	s.advance(w, r, req, client)
}

// --- consent ---

// consentRequest loads a request waiting for consent by the signed-in user.
func (p *pages) consentRequest(w http.ResponseWriter, r *http.Request, id string) (storage.AuthRequest, storage.Client, storage.User, bool) {
	req, c, ok := p.pendingRequest(w, r, id)
	if !ok {
		return req, c, storage.User{}, false
	}
	sess, ok := p.currentSession(r)
	if !ok || req.UserID == "" || sess.UserID != req.UserID {
		p.errorPage(w, r, http.StatusForbidden, "Sign in first. Go back to the application and start again.")
		return req, c, storage.User{}, false
	}
	u, err := p.s.store.GetUser(r.Context(), req.UserID)
	if err != nil {
		p.errorPage(w, r, http.StatusForbidden, "Sign in first. Go back to the application and start again.")
		return req, c, u, false
	}
	return req, c, u, true
}

func (p *pages) consentForm(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	req, c, u, ok := p.consentRequest(w, r, id)
	if !ok {
		return
	}
	d := pageData{Title: "Allow access?", ClientName: c.Name, RequestID: id, Username: u.Username, CSRF: p.csrfToken(w, r, "consent:"+id)}
	for _, sc := range req.Scopes {
		d.Scopes = append(d.Scopes, p.s.scopeDescription(sc))
	}
	p.render(w, http.StatusOK, "consent", d)
}

func (s *Server) scopeDescription(sc string) string {
	if t, ok := scopeText[sc]; ok {
		return t
	}
	if res, act, ok := strings.Cut(sc, ":"); ok {
		switch act {
		case "read":
			return "Read your " + res
		case "write":
			return "Create, change and delete your " + res
		}
	}
	return sc
}

func (p *pages) consentSubmit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	s := p.s
	id := r.PostFormValue("id")
	if !p.checkCSRF(r, "consent:"+id) {
		p.errorPage(w, r, http.StatusForbidden, "The form expired. Go back and try again.")
		return
	}
	req, c, _, ok := p.consentRequest(w, r, id)
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

// --- logout and home ---

func (p *pages) username(r *http.Request) string {
	sess, ok := p.currentSession(r)
	if !ok {
		return ""
	}
	u, err := p.s.store.GetUser(r.Context(), sess.UserID)
	if err != nil {
		return ""
	}
	return u.Username
}

func (p *pages) logoutForm(w http.ResponseWriter, r *http.Request) {
	p.render(w, http.StatusOK, "logout", pageData{Title: "Sign out", Username: p.username(r), CSRF: p.csrfToken(w, r, "logout")})
}

func (p *pages) logoutSubmit(w http.ResponseWriter, r *http.Request) {
	if !p.checkCSRF(r, "logout") {
		p.errorPage(w, r, http.StatusForbidden, "The form expired. Go back and try again.")
		return
	}
	p.endSession(r.Context(), w, r)
	http.Redirect(w, r, "/signed-out", http.StatusSeeOther)
}

func (p *pages) signedOut(w http.ResponseWriter, _ *http.Request) {
	p.render(w, http.StatusOK, "message", pageData{Title: "Signed out", Message: "You are signed out of Gatehouse."})
}

func (p *pages) home(w http.ResponseWriter, r *http.Request) {
	d := pageData{Title: "Gatehouse", Message: "This is the Gatehouse sign-in service.", Username: p.username(r)}
	p.render(w, http.StatusOK, "message", d)
}

// EndSession implements RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0 §2): op validates id_token_hint and post_logout_redirect_uri;
// the session ends at once when the hint names the signed-in user, and
// otherwise the user is asked on the /logout page, so a third party cannot
// sign people out with a link.
func (o *opServer) EndSession(ctx context.Context, r *op.Request[oidc.EndSessionRequest]) (*op.Redirect, error) {
	if id := r.Data.ClientID; id != "" {
		// op answers an unknown client_id with server_error.
		if _, err := o.s.store.GetClient(ctx, id); errors.Is(err, storage.ErrNotFound) {
			return nil, oidc.ErrInvalidRequest().WithDescription("unknown client")
		} else if err != nil {
			return nil, serverError(err, "loading client")
		}
	}
	// op's id_token_hint verifier reads the expected issuer from ctx.
	ctx = op.ContextWithIssuer(ctx, o.s.cfg.Issuer)
	req, err := op.ValidateEndSessionRequest(ctx, r.Data, o.provider)
	if err != nil {
		return nil, err
	}
	p := o.s.pages
	hr := &http.Request{Header: r.Header}
	hr = hr.WithContext(ctx)
	sess, signedIn := p.currentSession(hr)
	if signedIn && (req.UserID == "" || req.UserID != sess.UserID) {
		return op.NewRedirect(o.s.cfg.Issuer + "/logout"), nil
	}
	red := op.NewRedirect(req.RedirectURI)
	if signedIn {
		if err := o.s.store.DeleteLoginSession(ctx, sess.ID); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		o.s.audit.InfoContext(ctx, "signed out", "event", "logout", "user_id", sess.UserID, "client_id", req.ClientID)
		c := &http.Cookie{Name: p.session, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode}
		red.Header.Add("Set-Cookie", c.String())
	}
	return red, nil
}
