package authz

import (
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// pages renders the HTML pages and owns the role's cookies and CSRF
// tokens.
type pages struct {
	tmpl    map[string]*template.Template
	log     *slog.Logger
	csrfKey []byte
	session string // cookie names
	csrf    string
	signIn  string
	// ceremony prefixes the cookies of passkey ceremonies (passkey.go).
	ceremony string
	secure   bool
	// passkeys: the server offers passkeys (its issuer's host is a name);
	// render tells every page.
	passkeys bool
}

func newPages(key *secret.Key, issuer string, log *slog.Logger) (*pages, error) {
	p := &pages{
		tmpl:     map[string]*template.Template{},
		log:      log,
		csrfKey:  key.Derive("authz/csrf", 32),
		session:  "__Host-gatehouse-session",
		csrf:     "__Host-gatehouse-csrf",
		signIn:   "__Host-gatehouse-signin",
		ceremony: "__Host-gatehouse-passkey",
		secure:   true,
	}
	// The __Host- prefix requires Secure (RFC 6265bis §4.1.3.2). Behind a
	// TLS-terminating proxy (--insecure-http with an https issuer) the
	// browser still speaks HTTPS, so both stay; only a plain-HTTP issuer,
	// for local experiments, drops them.
	if strings.HasPrefix(issuer, "http://") {
		p.session, p.csrf, p.signIn, p.secure = "gatehouse-session", "gatehouse-csrf", "gatehouse-signin", false
		p.ceremony = "gatehouse-passkey"
	}
	for _, name := range []string{"login", "consent", "logout", "message", "factor", "enrol", "codes", "account"} {
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
	Title, ClientName, Error, Message, CSRF, RequestID, Request, Username string
	Scopes                                                                []string
	// Return is the page a sign-in at the role itself goes back to.
	Return string
	// Method is the second factor the factor page asks for: "recovery"
	// for a recovery code, else the authenticator app's code.
	Method string
	// Action is where the page's main form posts.
	Action string
	// The second-factor pages: which factors the person has, a TOTP
	// enrolment and recovery codes to show once.
	HasTOTP, HasPasskeys bool
	TOTP                 *totpEnrolment
	Codes                []string
	// Account is the account page's content.
	Account *accountView
	// PasskeysOn: the server offers passkeys; set by render.
	PasskeysOn bool
}

func (p *pages) render(w http.ResponseWriter, status int, name string, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	d.PasskeysOn = p.passkeys
	if err := p.tmpl[name].ExecuteTemplate(w, name+".html", d); err != nil {
		p.log.Error("rendering page", "page", name, "err", err)
	}
}

func (p *pages) errorPage(w http.ResponseWriter, status int, msg string) {
	p.render(w, status, "message", pageData{Title: "Something went wrong", Message: msg, Error: "yes"})
}

// --- cookies and CSRF ---

func (p *pages) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: p.secure, SameSite: http.SameSiteLaxMode,
	})
}

func (p *pages) clearSessionCookie(w http.ResponseWriter) { p.clearCookie(w, p.session) }

func (p *pages) clearCookie(w http.ResponseWriter, name string) { p.setCookie(w, name, "", -1) }

// sessionToken is the login session cookie's value, if any.
func (p *pages) sessionToken(r *http.Request) string {
	c, err := r.Cookie(p.session)
	if err != nil {
		return ""
	}
	return c.Value
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
