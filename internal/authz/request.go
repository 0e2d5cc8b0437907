package authz

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// What every endpoint shares: reading and checking a request (RFC 6749
// §3.1, §3.2) and answering errors in the endpoint's shape (RFC 6749 §5.2
// JSON, or an HTML page for the browser-facing endpoints).

// maxFormBytes bounds every request body; the largest legitimate form here
// is a few kilobytes.
const maxFormBytes = 1 << 20

// errorShape says how an endpoint answers a malformed request: as RFC 6749
// §5.2 JSON, or as an HTML error page for the browser-facing endpoints.
type errorShape int

const (
	shapeJSON errorShape = iota
	shapePage
)

// httpError is an OAuth error with the HTTP status it is answered with.
type httpError struct {
	status int
	err    *oidc.Error
}

func (e *httpError) Error() string { return e.err.Error() }
func (e *httpError) Unwrap() error { return e.err }

func statusError(status int, err *oidc.Error) error { return &httpError{status: status, err: err} }

// readRequest checks what every endpoint of the role accepts before any
// handler sees the request, and parses the form (RFC 6749 §3.1, §3.2):
//
//   - only the given methods (HEAD too where GET is allowed);
//   - a body of at most maxFormBytes, and only application/x-www-form-urlencoded;
//   - no parameter more than once, whether in the query, the body or both
//     ("Request and response parameters MUST NOT be included more than once");
//   - names and values in valid UTF-8 (RFC 6749 Appendix A; the databases
//     refuse anything else).
//
// It answers the request itself and returns false when the request is
// malformed.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request, shape errorShape, methods ...string) bool {
	fail := func(status int, desc string) bool {
		s.requestError(w, r, shape, statusError(status, oidc.ErrInvalidRequest().WithDescription("%s", desc)))
		return false
	}
	allowed := slices.Contains(methods, r.Method) || (r.Method == http.MethodHead && slices.Contains(methods, http.MethodGet))
	if !allowed {
		w.Header().Set("Allow", strings.Join(methods, ", "))
		return fail(http.StatusMethodNotAllowed, "method not allowed")
	}
	if r.Method == http.MethodPost {
		mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return fail(http.StatusUnsupportedMediaType, "the body must be application/x-www-form-urlencoded")
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			return fail(http.StatusRequestEntityTooLarge, "request body too large")
		}
		return fail(http.StatusBadRequest, "malformed request")
	}
	if err := checkParams(r.Form); err != nil {
		return fail(http.StatusBadRequest, err.Error())
	}
	// Parameters from the query and the body together must also be unique.
	for k := range r.PostForm {
		if r.URL.Query().Has(k) {
			return fail(http.StatusBadRequest, "a parameter is included more than once")
		}
	}
	return true
}

// checkParams enforces RFC 6749 §3.1 (no repeated parameters) and valid
// UTF-8 without NUL on a parsed form (PostgreSQL stores no NUL in text, so
// one would fail the look-up instead of finding nothing). resource may
// repeat (RFC 8707 §2): the endpoints that read it refuse more than one
// with invalid_target.
func checkParams(form url.Values) error {
	for k, vs := range form {
		if len(vs) > 1 && k != "resource" {
			return errors.New("a parameter is included more than once")
		}
		if !validText(k) {
			return errors.New("parameters must be UTF-8 text without NUL")
		}
		for _, v := range vs {
			if !validText(v) {
				return errors.New("parameters must be UTF-8 text without NUL")
			}
		}
	}
	return nil
}

// validText reports whether s is UTF-8 without NUL: text every store keeps.
func validText(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }

// requestError answers err in the endpoint's shape.
func (s *Server) requestError(w http.ResponseWriter, r *http.Request, shape errorShape, err error) {
	status, oe := s.oauthError(r, err)
	if shape == shapePage {
		msg := "The request could not be read."
		switch status {
		case http.StatusMethodNotAllowed:
			msg = "This address does not accept that kind of request."
		case http.StatusRequestEntityTooLarge:
			msg = "The request is too large."
		case http.StatusServiceUnavailable, http.StatusInternalServerError:
			msg = "The service is unavailable. Try again shortly."
		}
		s.pages.errorPage(w, status, msg)
		return
	}
	writeOAuthError(w, status, oe)
}

// oauthError maps an error from a handler to its status and OAuth error.
// A server error is logged here, with its cause, and answered without it.
func (s *Server) oauthError(r *http.Request, err error) (int, *oidc.Error) {
	if he := (*httpError)(nil); errors.As(err, &he) {
		return he.status, he.err
	}
	// A request that ran out of its deadline (--request-timeout) waited on
	// the database or on another request that did.
	if errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
		s.log.ErrorContext(r.Context(), "request failed: storage unavailable", "path", r.URL.Path, "err", err)
		return http.StatusServiceUnavailable, oidc.ErrServerError().WithDescription("temporarily unavailable")
	}
	oe := oidc.DefaultToServerError(err, "")
	if oe.ErrorType == oidc.ServerError {
		s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", err)
		return http.StatusInternalServerError, oidc.ErrServerError()
	}
	if oe.ErrorType == oidc.InvalidClient {
		return http.StatusUnauthorized, oe
	}
	return http.StatusBadRequest, oe
}

// writeOAuthError writes an RFC 6749 §5.2 error response.
func writeOAuthError(w http.ResponseWriter, status int, e *oidc.Error) {
	h := w.Header()
	switch status {
	case http.StatusUnauthorized:
		// RFC 6749 §5.2: a 401 names the authentication scheme.
		if h.Get("WWW-Authenticate") == "" {
			h.Set("WWW-Authenticate", `Basic realm="gatehouse"`)
		}
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "5")
	}
	writeJSON(w, status, map[string]string{"error": string(e.ErrorType), "error_description": e.Description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	// RFC 6749 §5.1: token responses are not cached.
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// serverError wraps a failure the client cannot act on; oauthError logs
// it with its cause and answers server_error (or 503 when the database is
// unavailable).
func serverError(err error, what string) error {
	return fmt.Errorf("%s: %w", what, err)
}

// invalidGrant is RFC 6749 §5.2 invalid_grant.
func invalidGrant(desc string) error {
	return oidc.ErrInvalidGrant().WithDescription("%s", desc)
}

// invalidRequest is RFC 6749 §5.2 invalid_request.
func invalidRequest(desc string) error {
	return oidc.ErrInvalidRequest().WithDescription("%s", desc)
}

// isOAuthError reports whether err is an OAuth error to answer as it is
// (not a server error).
func isOAuthError(err error) bool {
	var oe *oidc.Error
	return errors.As(err, &oe)
}

// tokenRequest authenticates the client of a revocation or introspection
// request and reads the token it is about (RFC 7009 §2.1, RFC 7662 §2.1).
// It answers the request itself and returns false when either fails.
func (s *Server) tokenRequest(w http.ResponseWriter, r *http.Request, use clientUse) (storage.Client, string, bool) {
	client, err := s.clients.authenticate(r, use)
	if err != nil {
		s.requestError(w, r, shapeJSON, err)
		return client, "", false
	}
	token := r.PostForm.Get("token")
	if token == "" {
		s.requestError(w, r, shapeJSON, invalidRequest("token is required"))
		return client, "", false
	}
	return client, token, true
}

// byHint orders the look-ups of a token whose kind is not known: the kind
// token_type_hint names first, otherwise the refresh token's first when
// refreshFirst. The hint only orders them, never leaves one out (RFC 7009
// §2.1, RFC 7662 §2.1).
func byHint[F any](hint string, access, refresh F, refreshFirst bool) []F {
	if hint == "refresh_token" || hint != "access_token" && refreshFirst {
		return []F{refresh, access}
	}
	return []F{access, refresh}
}
