package webapp

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/webapp/todoclient"
)

// maxTitle matches the API's schema for todos (1–200 characters).
const maxTitle = 200

// maxPage is the highest page number the API accepts (internal/api answers
// 400 above it).
const maxPage = 1_000_000

// errBadPage is a ?page= that is not a page number the API accepts.
var errBadPage = &pageError{Status: http.StatusBadRequest, Code: "bad_page",
	Title:   "There is no such page",
	Message: "The page number in the address is not valid: it must be a whole number from 1 to 1,000,000. Go back to your todos and use the page links."}

// parsePage reads the ?page= of the list: absent means the first page;
// otherwise it must be a whole number from 1 to maxPage.
func parsePage(raw string) (int, bool) {
	if raw == "" {
		return 1, true
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxPage {
		return 0, false
	}
	return n, true
}

// handleHome shows the signed-out page, or the person's todos.
func (s *Server) handleHome(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, grant, ok := s.signedIn(ctx)
	if !ok {
		s.render(w, r, "signedout", http.StatusOK, pageData{Title: "Welcome", Flash: s.popFlash(ctx)})
		return
	}
	page, ok := parsePage(r.URL.Query().Get("page"))
	if !ok {
		s.renderError(w, r, errBadPage)
		return
	}
	var list todoclient.Page
	err := s.withToken(ctx, grant, func(tok todoclient.Token) error {
		var err error
		list, err = s.api.List(ctx, tok, page, s.perPage)
		return err
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.render(w, r, "todos", http.StatusOK, pageData{Title: "Your todos", User: &u, Flash: s.popFlash(ctx), Todos: &list})
}

// withToken calls fn with a current access token. When the API refuses the
// token (it may have expired on the way, or been revoked), fn is called once
// more with a freshly refreshed one; a 401 never means a new write because
// the API refused the request before doing anything.
func (s *Server) withToken(ctx context.Context, grant string, fn func(token todoclient.Token) error) error {
	rec, err := s.accessToken(ctx, grant, "")
	if err != nil {
		return err
	}
	err = fn(rec.apiToken())
	if !errors.Is(err, todoclient.ErrUnauthorized) {
		return err
	}
	if rec, err = s.accessToken(ctx, grant, rec.AccessToken); err != nil {
		return err
	}
	if err = fn(rec.apiToken()); errors.Is(err, todoclient.ErrUnauthorized) {
		return errAPIRefused
	}
	return err
}

// fail shows the page for err; when the sign-in is gone it is dropped from
// the session first, so the page offers to sign in again. A request the API
// refused as invalid is the person's input (or a disagreement between the
// web app and the API about what is valid): a 400 page and a warning, not
// an error.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errSignInAgain) {
		s.forget(r.Context())
	}
	if errors.As(err, new(*todoclient.ValidationError)) {
		s.log.WarnContext(r.Context(), "the API refused the request", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	s.renderError(w, r, err)
}

// action runs a state-changing form post: it checks that the session is
// signed in and the CSRF token, runs do with an access token, turns the
// friendly failures (stale ETag, gone, invalid) into a message on the list,
// and redirects back to the list (POST/redirect/GET).
func (s *Server) action(w http.ResponseWriter, r *http.Request, okMsg string, do func(ctx context.Context, tok todoclient.Token) error) {
	ctx := r.Context()
	_, grant, ok := s.signedIn(ctx)
	if !ok {
		s.renderError(w, r, errSignInAgain)
		return
	}
	if !s.checkCSRF(r) {
		s.renderError(w, r, errCSRF)
		return
	}
	err := s.withToken(ctx, grant, func(tok todoclient.Token) error { return do(ctx, tok) })
	var ve *todoclient.ValidationError
	switch {
	case err == nil:
		if okMsg != "" {
			s.setFlash(ctx, "ok", okMsg)
		}
	case errors.Is(err, todoclient.ErrPreconditionFailed):
		// Eve's 412: someone changed the todo since this page was loaded.
		s.setFlash(ctx, "error", "That todo was changed elsewhere (another tab or device) after this page was loaded, "+
			"so nothing was saved. The list below is current: please check it and try again.")
	case errors.Is(err, todoclient.ErrNotFound):
		s.setFlash(ctx, "error", "That todo no longer exists; it may have been deleted elsewhere.")
	case errors.As(err, &ve):
		s.setFlash(ctx, "error", "The todo was not saved: "+validationText(ve))
	case errors.As(err, new(*userError)):
		s.setFlash(ctx, "error", err.Error())
	default:
		s.fail(w, r, err)
		return
	}
	http.Redirect(w, r, listURL(r.PostFormValue("page")), http.StatusSeeOther)
}

// userError is a form value refused before it reached the API.
type userError struct{ msg string }

func (e *userError) Error() string { return e.msg }

func validationText(ve *todoclient.ValidationError) string {
	if len(ve.Issues) == 0 {
		return ve.Message
	}
	keys := make([]string, 0, len(ve.Issues))
	for k := range ve.Issues {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+": "+ve.Issues[k])
	}
	return strings.Join(parts, "; ")
}

func listURL(page string) string {
	if n, ok := parsePage(page); ok && n > 1 {
		return "/?" + url.Values{"page": {strconv.Itoa(n)}}.Encode()
	}
	return "/"
}

func checkTitle(raw string) (string, error) {
	t := strings.TrimSpace(raw)
	switch {
	case t == "":
		return "", &userError{"A todo needs a title."}
	case utf8.RuneCountInString(t) > maxTitle:
		return "", &userError{"A title can be at most 200 characters long."}
	}
	return t, nil
}

func (s *Server) handleAdd(w http.ResponseWriter, r *http.Request) {
	s.action(w, r, "Todo added.", func(ctx context.Context, tok todoclient.Token) error {
		title, err := checkTitle(r.PostFormValue("title"))
		if err != nil {
			return err
		}
		_, err = s.api.Create(ctx, tok, title)
		return err
	})
}

func (s *Server) handleToggle(w http.ResponseWriter, r *http.Request) {
	done := r.PostFormValue("done") == "true"
	msg := "Marked as not done."
	if done {
		msg = "Marked as done."
	}
	s.action(w, r, msg, func(ctx context.Context, tok todoclient.Token) error {
		return s.api.Patch(ctx, tok, r.PathValue("id"), r.PostFormValue("etag"), map[string]any{"done": done})
	})
}

func (s *Server) handleRename(w http.ResponseWriter, r *http.Request) {
	s.action(w, r, "Title saved.", func(ctx context.Context, tok todoclient.Token) error {
		title, err := checkTitle(r.PostFormValue("title"))
		if err != nil {
			return err
		}
		return s.api.Patch(ctx, tok, r.PathValue("id"), r.PostFormValue("etag"), map[string]any{"title": title})
	})
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	s.action(w, r, "Todo deleted.", func(ctx context.Context, tok todoclient.Token) error {
		return s.api.Delete(ctx, tok, r.PathValue("id"), r.PostFormValue("etag"))
	})
}
