package webapp

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/webapp/todoclient"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

func staticHandler() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	fsrv := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// pages holds one parsed template set per page, each the layout plus the
// page's own blocks.
type pages struct {
	byName map[string]*template.Template
}

func loadPages() (*pages, error) {
	funcs := template.FuncMap{
		"add": func(a, b int) int { return a + b },
		"initial": func(u *user) string {
			n := strings.TrimSpace(u.Name)
			if n == "" {
				n = u.Email
			}
			for _, r := range n {
				return strings.ToUpper(string(r))
			}
			return "?"
		},
	}
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("webapp: parsing layout: %w", err)
	}
	p := &pages{byName: map[string]*template.Template{}}
	for _, name := range []string{"signedout", "todos", "error"} {
		t, err := layout.Clone()
		if err == nil {
			t, err = t.ParseFS(templateFS, "templates/"+name+".html")
		}
		if err != nil {
			return nil, fmt.Errorf("webapp: parsing %s page: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// pageData is what every page template sees.
type pageData struct {
	Title string
	User  *user  // nil when signed out
	CSRF  string // token for this session's forms
	Flash *flash

	// AccountURL is the person's account page at the authorization
	// server (passkeys, second factor, sessions).
	AccountURL string

	Todos *todoclient.Page // todos page
	Error *pageError       // error page
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, name string, status int, d pageData) {
	s.renderPage(w, r, name, status, d, true)
}

// renderPage renders a page; withSession is false where no session was
// loaded (before the session middleware, or when the store failed).
func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, name string, status int, d pageData, withSession bool) {
	ctx := r.Context()
	if withSession && d.User == nil {
		if u, _, ok := s.signedIn(ctx); ok {
			d.User = &u
		}
	}
	if withSession && d.User != nil && d.CSRF == "" {
		tok, err := s.csrfToken(ctx)
		if err != nil {
			s.log.ErrorContext(ctx, "making CSRF token", slog.String("error", err.Error()))
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		d.CSRF = tok
	}
	d.AccountURL = strings.TrimRight(s.disc.issuer, "/") + "/account"
	t := s.pages.byName[name]
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", d); err != nil {
		s.log.ErrorContext(ctx, "rendering page", slog.String("page", name), slog.String("error", err.Error()))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// pageError is a failure shown to a person: a status, a title, a sentence
// saying what to do, and a short code for logs and tests.
type pageError struct {
	Status  int
	Code    string
	Title   string
	Message string
	SignIn  bool // offer "Sign in again"
	Retry   bool // offer "Try again"
}

func (e *pageError) Error() string { return e.Code + ": " + e.Title }

var (
	errSessionStore = errors.New("session store unavailable")
	errCSRF         = &pageError{
		Status: http.StatusForbidden, Code: "csrf",
		Title:   "This form has expired",
		Message: "For your safety the form was not sent. Go back, reload the page and try again.",
	}
	errNotFound = &pageError{
		Status: http.StatusNotFound, Code: "not_found",
		Title:   "Page not found",
		Message: "There is nothing at this address.",
	}
	errAPIRefused = errors.New("the API refused a freshly refreshed token")
)

// describe turns an error into the page shown for it.
func describe(err error) *pageError {
	var pe *pageError
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, errSignInAgain):
		return &pageError{Status: http.StatusUnauthorized, Code: "session_expired",
			Title:   "Your session has expired",
			Message: "Please sign in again to continue. Nothing you saved was lost.", SignIn: true}
	case errors.Is(err, errAuthzUnavailable):
		return &pageError{Status: http.StatusServiceUnavailable, Code: "authz_unavailable",
			Title:   "The sign-in service is not reachable",
			Message: "Gatehouse's authorization server did not answer. Please try again in a moment.", Retry: true}
	case errors.Is(err, todoclient.ErrUnavailable):
		return &pageError{Status: http.StatusServiceUnavailable, Code: "api_unavailable",
			Title:   "Your todos cannot be reached right now",
			Message: "The todo service did not answer. You are still signed in; please try again in a moment.", Retry: true}
	case errors.As(err, new(*todoclient.ValidationError)):
		// The API's 400 or 422 for a page (forms show theirs as a message on
		// the list): the request, not the service, was wrong.
		return &pageError{Status: http.StatusBadRequest, Code: "api_bad_request",
			Title:   "The todo service did not accept this request",
			Message: "Something in the address is not valid. Go back to your todos and try again."}
	case errors.Is(err, todoclient.ErrNotFound):
		return &pageError{Status: http.StatusNotFound, Code: "api_not_found",
			Title:   "Not found",
			Message: "The todo service has nothing at this address. Go back to your todos and try again."}
	case errors.Is(err, todoclient.ErrForbidden):
		return &pageError{Status: http.StatusForbidden, Code: "insufficient_scope",
			Title:   "Not allowed",
			Message: "Your sign-in does not allow this. Sign out and sign in again to grant access to your todos."}
	case errors.Is(err, errAPIRefused):
		return &pageError{Status: http.StatusBadGateway, Code: "api_refused",
			Title:   "The todo service did not accept your sign-in",
			Message: "Please sign out and sign in again. If this keeps happening, the server is misconfigured."}
	case errors.Is(err, errSessionStore):
		return &pageError{Status: http.StatusServiceUnavailable, Code: "session_store",
			Title:   "Sessions are unavailable",
			Message: "The web app cannot reach its session store. Please try again in a moment.", Retry: true}
	default:
		return &pageError{Status: http.StatusInternalServerError, Code: "internal",
			Title:   "Something went wrong",
			Message: "An unexpected error occurred. Please try again.", Retry: true}
	}
}

func (s *Server) renderError(w http.ResponseWriter, r *http.Request, err error) {
	s.renderErrorPage(w, r, err, true)
}

// renderErrorPage shows the page for err; withSession as for renderPage.
func (s *Server) renderErrorPage(w http.ResponseWriter, r *http.Request, err error, withSession bool) {
	pe := describe(err)
	if pe.Status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", slog.String("code", pe.Code),
			slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	if pe.Status == http.StatusServiceUnavailable {
		// RFC 9110 §10.2.3: a store or a service the page needs is briefly away.
		w.Header().Set("Retry-After", "5")
	}
	s.renderPage(w, r, "error", pe.Status, pageData{Title: pe.Title, Error: pe}, withSession)
}
