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
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// The token, revocation, introspection, userinfo, JWKS and end-session
// endpoints are routed here rather than through op's router: op's router
// logs through the process-wide default slog logger (and has no option to
// take another), answers malformed requests in shapes RFC 6749 does not
// know, and accepts repeated parameters. The handlers below read and check
// the request themselves and then call the opServer methods.

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
// UTF-8 on a parsed form.
func checkParams(form url.Values) error {
	for k, vs := range form {
		if len(vs) > 1 {
			return errors.New("a parameter is included more than once")
		}
		if !utf8.ValidString(k) {
			return errors.New("parameters must be UTF-8")
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return errors.New("parameters must be UTF-8")
			}
		}
	}
	return nil
}

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
		s.pages.errorPage(w, r, status, msg)
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

func (s *Server) writeResponse(w http.ResponseWriter, resp *op.Response) {
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	if resp.Data == nil {
		// RFC 7009 §2.2: an empty 200.
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	writeJSON(w, http.StatusOK, resp.Data)
}

// clientCredentials reads a client's authentication from a token,
// revocation or introspection request (RFC 6749 §2.3.1): HTTP Basic, whose
// user and password are form-urlencoded client_id and client_secret, or
// client_id and client_secret in the body. A client uses one method only
// (§2.3); assertions (RFC 7523) are not supported.
func clientCredentials(header http.Header, form url.Values) (op.ClientCredentials, error) {
	cc := op.ClientCredentials{ClientID: form.Get("client_id"), ClientSecret: form.Get("client_secret")}
	if form.Has("client_assertion") || form.Has("client_assertion_type") {
		return cc, errInvalidClient()
	}
	if auth := header.Values("Authorization"); len(auth) > 0 {
		if len(auth) > 1 {
			return cc, statusError(http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("more than one Authorization header"))
		}
		id, secret, ok := parseBasic(auth[0])
		if !ok {
			return cc, errInvalidClient()
		}
		if form.Has("client_secret") || (form.Has("client_id") && form.Get("client_id") != id) {
			return cc, statusError(http.StatusBadRequest, oidc.ErrInvalidRequest().WithDescription("client authentication must use one method"))
		}
		cc.ClientID, cc.ClientSecret = id, secret
	}
	if cc.ClientID == "" || !utf8.ValidString(cc.ClientID) || !utf8.ValidString(cc.ClientSecret) {
		return cc, errInvalidClient()
	}
	return cc, nil
}

// parseBasic parses an HTTP Basic Authorization value (RFC 7617) whose
// user-id and password are form-urlencoded (RFC 6749 §2.3.1).
func parseBasic(v string) (id, secret string, ok bool) {
	r := http.Request{Header: http.Header{"Authorization": {v}}}
	user, pass, ok := r.BasicAuth()
	if !ok {
		return "", "", false
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil || id == "" || !utf8.ValidString(id) || !utf8.ValidString(secret) {
		return "", "", false
	}
	return id, secret, true
}

func newRequest[T any](r *http.Request, data *T) *op.Request[T] {
	return &op.Request[T]{Method: r.Method, URL: r.URL, Header: r.Header, Form: r.Form, PostForm: r.PostForm, Data: data}
}

// verifiedClient authenticates the client of r.
func (o *opServer) verifiedClient(r *http.Request) (op.Client, error) {
	cc, err := clientCredentials(r.Header, r.PostForm)
	if err != nil {
		return nil, err
	}
	return o.VerifyClient(r.Context(), newRequest(r, &cc))
}

// serveToken is the token endpoint (RFC 6749 §3.2): POST, form body,
// client authentication, and one of the grants Gatehouse offers.
func (o *opServer) serveToken(w http.ResponseWriter, r *http.Request) {
	s := o.s
	if !s.readRequest(w, r, shapeJSON, http.MethodPost) {
		return
	}
	if len(r.URL.RawQuery) > 0 {
		// RFC 6749 §3.2: parameters are sent in the body; credentials and
		// codes in URLs end up in logs (RFC 9700 §4.3).
		s.requestError(w, r, shapeJSON, oidc.ErrInvalidRequest().WithDescription("parameters must be sent in the body"))
		return
	}
	f := r.PostForm
	gt := oidc.GrantType(f.Get("grant_type"))
	switch gt {
	case oidc.GrantTypeCode, oidc.GrantTypeRefreshToken, oidc.GrantTypeClientCredentials:
	case "":
		s.requestError(w, r, shapeJSON, oidc.ErrInvalidRequest().WithDescription("grant_type is required"))
		return
	default:
		s.requestError(w, r, shapeJSON, oidc.ErrUnsupportedGrantType().WithDescription("unsupported grant_type"))
		return
	}
	client, err := o.verifiedClient(r)
	if err != nil {
		s.requestError(w, r, shapeJSON, err)
		return
	}
	if !op.ValidateGrantType(client, gt) {
		s.requestError(w, r, shapeJSON, oidc.ErrUnauthorizedClient().WithDescription("grant_type not allowed for this client"))
		return
	}
	var resp *op.Response
	switch gt {
	case oidc.GrantTypeCode:
		if f.Get("code") == "" || f.Get("redirect_uri") == "" {
			err = oidc.ErrInvalidRequest().WithDescription("code and redirect_uri are required")
			break
		}
		data := &oidc.AccessTokenRequest{Code: f.Get("code"), RedirectURI: f.Get("redirect_uri"), CodeVerifier: f.Get("code_verifier"), ClientID: client.GetID()}
		resp, err = o.CodeExchange(r.Context(), &op.ClientRequest[oidc.AccessTokenRequest]{Request: newRequest(r, data), Client: client})
	case oidc.GrantTypeRefreshToken:
		if f.Get("refresh_token") == "" {
			err = oidc.ErrInvalidRequest().WithDescription("refresh_token is required")
			break
		}
		data := &oidc.RefreshTokenRequest{RefreshToken: f.Get("refresh_token"), Scopes: strings.Fields(f.Get("scope")), ClientID: client.GetID()}
		resp, err = o.RefreshToken(r.Context(), &op.ClientRequest[oidc.RefreshTokenRequest]{Request: newRequest(r, data), Client: client})
	case oidc.GrantTypeClientCredentials:
		data := &oidc.ClientCredentialsRequest{GrantType: gt, Scope: strings.Fields(f.Get("scope")), ClientID: client.GetID()}
		resp, err = o.ClientCredentialsExchange(r.Context(), &op.ClientRequest[oidc.ClientCredentialsRequest]{Request: newRequest(r, data), Client: client})
	}
	if err != nil {
		s.requestError(w, r, shapeJSON, err)
		return
	}
	s.writeResponse(w, resp)
}

// serveRevoke is the revocation endpoint (RFC 7009 §2).
func (o *opServer) serveRevoke(w http.ResponseWriter, r *http.Request) {
	s := o.s
	if !s.readRequest(w, r, shapeJSON, http.MethodPost) {
		return
	}
	client, err := o.verifiedClient(r)
	if err != nil {
		s.requestError(w, r, shapeJSON, err)
		return
	}
	f := r.PostForm
	if f.Get("token") == "" {
		s.requestError(w, r, shapeJSON, oidc.ErrInvalidRequest().WithDescription("token is required"))
		return
	}
	resp, err := o.Revocation(r.Context(), &op.ClientRequest[oidc.RevocationRequest]{
		Request: newRequest(r, &oidc.RevocationRequest{Token: f.Get("token"), TokenTypeHint: f.Get("token_type_hint")}), Client: client,
	})
	if err != nil {
		s.requestError(w, r, shapeJSON, err)
		return
	}
	s.writeResponse(w, resp)
}

// serveIntrospect is the introspection endpoint (RFC 7662 §2).
func (o *opServer) serveIntrospect(w http.ResponseWriter, r *http.Request) {
	s := o.s
	if !s.readRequest(w, r, shapeJSON, http.MethodPost) {
		return
	}
	cc, err := clientCredentials(r.Header, r.PostForm)
	if err != nil {
		s.requestError(w, r, shapeJSON, err)
		return
	}
	if r.PostForm.Get("token") == "" {
		s.requestError(w, r, shapeJSON, oidc.ErrInvalidRequest().WithDescription("token is required"))
		return
	}
	data := &op.IntrospectionRequest{ClientCredentials: &cc, IntrospectionRequest: &oidc.IntrospectionRequest{Token: r.PostForm.Get("token")}}
	resp, err := o.Introspect(r.Context(), newRequest(r, data))
	if err != nil {
		s.requestError(w, r, shapeJSON, err)
		return
	}
	s.writeResponse(w, resp)
}

// serveUserinfo is the UserInfo endpoint (OpenID Connect Core §5.3). The
// access token comes in the Authorization header or a POST body (RFC 6750
// §2.1, §2.2), never in the query (RFC 9700 §4.3.2).
func (o *opServer) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	s := o.s
	if !s.readRequest(w, r, shapeJSON, http.MethodGet, http.MethodPost) {
		return
	}
	invalid := func(desc string) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer error=%q", "invalid_token"))
		writeOAuthError(w, http.StatusUnauthorized, &oidc.Error{ErrorType: "invalid_token", Description: desc})
	}
	var token string
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, rest, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || r.PostForm.Has("access_token") {
			invalid("malformed Authorization header")
			return
		}
		token = strings.TrimSpace(rest)
	} else {
		token = r.PostForm.Get("access_token")
	}
	if token == "" || r.URL.Query().Has("access_token") {
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
		writeOAuthError(w, http.StatusUnauthorized, &oidc.Error{ErrorType: "invalid_request", Description: "access token required in the Authorization header"})
		return
	}
	resp, err := o.UserInfo(r.Context(), newRequest(r, &oidc.UserInfoRequest{AccessToken: token}))
	if err != nil {
		if status, _ := s.oauthError(r, err); status == http.StatusUnauthorized {
			invalid("")
			return
		}
		s.requestError(w, r, shapeJSON, err)
		return
	}
	s.writeResponse(w, resp)
}

// serveJWKS publishes the signing keys (RFC 7517).
func (o *opServer) serveJWKS(w http.ResponseWriter, r *http.Request) {
	if !o.s.readRequest(w, r, shapeJSON, http.MethodGet) {
		return
	}
	resp, _ := o.Keys(r.Context(), nil)
	w.Header().Set("Content-Type", "application/json")
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	_ = json.NewEncoder(w).Encode(resp.Data)
}

// serveEndSession is RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0 §2). Errors are shown on a page: the redirect target is not
// trusted until it is validated.
func (o *opServer) serveEndSession(w http.ResponseWriter, r *http.Request) {
	s := o.s
	if !s.readRequest(w, r, shapePage, http.MethodGet, http.MethodPost) {
		return
	}
	f := r.Form
	req := &oidc.EndSessionRequest{
		IdTokenHint: f.Get("id_token_hint"), LogoutHint: f.Get("logout_hint"), ClientID: f.Get("client_id"),
		PostLogoutRedirectURI: f.Get("post_logout_redirect_uri"), State: f.Get("state"),
	}
	red, err := o.EndSession(r.Context(), newRequest(r, req))
	if err != nil {
		status, _ := s.oauthError(r, err)
		msg := "The sign-out request is not valid."
		if status >= 500 {
			msg = "The service is unavailable. Try again shortly."
		}
		s.pages.errorPage(w, r, status, msg)
		return
	}
	for k, vs := range red.Header {
		w.Header()[k] = vs
	}
	http.Redirect(w, r, red.URL, http.StatusSeeOther)
}
