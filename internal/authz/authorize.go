package authz

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// The authorization endpoint is Gatehouse's own rather than op's, because
// its rules differ from op's defaults in ways op's hooks cannot express:
// S256 PKCE is required of every client at this endpoint, the error page
// for an unknown client or redirect_uri never redirects, and every response
// to the client carries `iss` (RFC 9207), which op's responses lack.

// pkceChallenge is the form of an S256 challenge: base64url of 32 bytes.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// maxAuthorizeParam bounds each authorization request parameter; the
// request is stored until it is answered.
const maxAuthorizeParam = 2048

// authzError is an error returned to the client at its redirect URI
// (RFC 6749 §4.1.2.1).
type authzError struct {
	code, description string
}

func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.pages.errorPage(w, r, http.StatusBadRequest, "The authorization request could not be read.")
		return
	}
	q := r.Form
	// Only registered redirect URIs are ever redirected to; before they
	// are known to match, errors are shown here (RFC 6749 §4.1.2.1, RFC
	// 9700 §4.11.1: no open redirector).
	client, err := s.store.GetClient(r.Context(), q.Get("client_id"))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.pages.errorPage(w, r, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
			return
		}
		s.pages.errorPage(w, r, http.StatusBadRequest, "The application that sent you here is not registered.")
		return
	}
	redirectURI := q.Get("redirect_uri")
	if !redirectAllowed(client, redirectURI) {
		s.pages.errorPage(w, r, http.StatusBadRequest, "The application sent you here with a return address it has not registered.")
		return
	}
	state := q.Get("state")
	fail := func(e authzError) { s.redirectError(w, r, redirectURI, state, e) }
	for _, vs := range q {
		if len(vs[0]) > maxAuthorizeParam {
			fail(authzError{"invalid_request", "a parameter is too long"})
			return
		}
	}

	if q.Has("request") || q.Has("request_uri") {
		fail(authzError{"request_not_supported", "request objects are not supported"})
		return
	}
	// OAuth 2.1 §4: only the code response type; no implicit, no hybrid.
	if rt := q.Get("response_type"); rt != "code" {
		fail(authzError{"unsupported_response_type", "only response_type=code is supported"})
		return
	}
	if !slices.Contains(client.GrantTypes, "authorization_code") {
		fail(authzError{"unauthorized_client", "client may not use the authorization code grant"})
		return
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		fail(authzError{"invalid_request", "only response_mode=query is supported"})
		return
	}
	// PKCE (RFC 7636; RFC 9700 §2.1.1): S256 is required for every client,
	// unless a legacy confidential client was registered with PKCEOptional.
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && method == "" && client.PKCEOptional && !client.Public:
	case challenge == "":
		fail(authzError{"invalid_request", "code_challenge is required"})
		return
	case method != "S256":
		// An absent method means "plain" (RFC 7636 §4.3), which is refused.
		fail(authzError{"invalid_request", "code_challenge_method must be S256"})
		return
	case !pkceChallenge.MatchString(challenge):
		fail(authzError{"invalid_request", "malformed code_challenge"})
		return
	}
	scopes := s.allowedScopes(client, strings.Fields(q.Get("scope")))
	if len(scopes) == 0 {
		fail(authzError{"invalid_scope", "no requested scope is allowed for this client"})
		return
	}
	prompt := strings.Fields(q.Get("prompt"))
	if slices.Contains(prompt, "none") && len(prompt) > 1 {
		// OpenID Connect Core §3.1.2.1.
		fail(authzError{"invalid_request", "prompt=none must be alone"})
		return
	}
	var maxAge *time.Duration
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil {
			fail(authzError{"invalid_request", "malformed max_age"})
			return
		}
		d := time.Duration(n) * time.Second
		maxAge = &d
	}
	now := s.now()
	id, err := newID(now)
	if err != nil {
		fail(authzError{"server_error", ""})
		return
	}
	req := storage.AuthRequest{
		ID: id, ClientID: client.ID, RedirectURI: redirectURI, State: state, Nonce: q.Get("nonce"),
		Scopes: scopes, ResponseType: "code", ResponseMode: q.Get("response_mode"),
		CodeChallenge: challenge, CodeChallengeMethod: method, Prompt: prompt, MaxAge: maxAge,
		LoginHint: q.Get("login_hint"), CreatedAt: now, ExpiresAt: now.Add(authRequestTTL),
	}
	if challenge == "" {
		req.CodeChallengeMethod = ""
	}
	if err := s.store.CreateAuthRequest(r.Context(), req); err != nil {
		s.log.ErrorContext(r.Context(), "storing auth request", "err", err)
		fail(authzError{"server_error", ""})
		return
	}
	s.advance(w, r, req, client)
}

// newAuthRequest converts a request parsed by op; used by the op adapter.
func (s *Server) newAuthRequest(ar *oidc.AuthRequest) (storage.AuthRequest, error) {
	now := s.now()
	id, err := newID(now)
	if err != nil {
		return storage.AuthRequest{}, err
	}
	r := storage.AuthRequest{
		ID: id, ClientID: ar.ClientID, RedirectURI: ar.RedirectURI, State: ar.State, Nonce: ar.Nonce,
		Scopes: ar.Scopes, ResponseType: string(ar.ResponseType), ResponseMode: string(ar.ResponseMode),
		CodeChallenge: ar.CodeChallenge, CodeChallengeMethod: string(ar.CodeChallengeMethod),
		Prompt: ar.Prompt, LoginHint: ar.LoginHint, CreatedAt: now, ExpiresAt: now.Add(authRequestTTL),
	}
	if ar.MaxAge != nil {
		d := time.Duration(*ar.MaxAge) * time.Second
		r.MaxAge = &d
	}
	return r, nil
}

// redirectAllowed compares redirect_uri with the registered ones by exact
// string match (RFC 9700 §4.1.3). Only for a public native client's
// loopback redirect may the port differ (RFC 8252 §7.3).
func redirectAllowed(c storage.Client, uri string) bool {
	if uri == "" {
		return false
	}
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	if !c.Public {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || !isLoopbackIP(u.Hostname()) {
		return false
	}
	for _, reg := range c.RedirectURIs {
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || !isLoopbackIP(ru.Hostname()) {
			continue
		}
		if ru.Hostname() == u.Hostname() && ru.EscapedPath() == u.EscapedPath() &&
			ru.RawQuery == u.RawQuery && u.Fragment == "" && u.User == nil {
			return true
		}
	}
	return false
}

// isLoopbackIP: RFC 8252 §8.3 recommends the loopback IP literal over
// "localhost".
func isLoopbackIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// advance moves an authorization request on: sign-in, then consent, then
// the code. It is called from /authorize and after each page.
func (s *Server) advance(w http.ResponseWriter, r *http.Request, req storage.AuthRequest, client storage.Client) {
	ctx := r.Context()
	none := slices.Contains(req.Prompt, "none")
	if req.UserID == "" {
		sess, ok := s.pages.currentSession(r)
		// prompt=login and max_age force a fresh sign-in (OpenID Connect
		// Core §3.1.2.1).
		fresh := slices.Contains(req.Prompt, "login") ||
			(ok && req.MaxAge != nil && s.now().Sub(sess.AuthTime) > *req.MaxAge)
		if !ok || fresh {
			if none {
				s.redirectError(w, r, req.RedirectURI, req.State, authzError{"login_required", ""})
				return
			}
			http.Redirect(w, r, "/login?id="+url.QueryEscape(req.ID), http.StatusSeeOther)
			return
		}
		if err := s.store.CompleteAuthRequest(ctx, req.ID, sess.UserID, sess.AuthTime, sess.AMR); err != nil {
			s.redirectError(w, r, req.RedirectURI, req.State, authzError{"server_error", ""})
			return
		}
		req.UserID, req.AuthTime, req.AMR = sess.UserID, sess.AuthTime, sess.AMR
	}
	if s.needsConsent(ctx, req, client) {
		if none {
			s.redirectError(w, r, req.RedirectURI, req.State, authzError{"consent_required", ""})
			return
		}
		http.Redirect(w, r, "/consent?id="+url.QueryEscape(req.ID), http.StatusSeeOther)
		return
	}
	s.issueCode(w, r, req)
}

// needsConsent: first-party clients never ask; others ask when prompt=consent
// or when the remembered consent does not cover every requested scope.
func (s *Server) needsConsent(ctx context.Context, req storage.AuthRequest, c storage.Client) bool {
	if c.FirstParty {
		return false
	}
	if slices.Contains(req.Prompt, "consent") {
		return true
	}
	got, err := s.store.GetConsent(ctx, req.UserID, req.ClientID, s.now())
	if err != nil {
		return true
	}
	for _, sc := range req.Scopes {
		if !slices.Contains(got.Scopes, sc) {
			return true
		}
	}
	return false
}

// issueCode stores the hash of a new code, valid for 60 s and bound to the
// request's client, redirect URI and challenge, and sends it to the client.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, req storage.AuthRequest) {
	code, err := secret.NewToken()
	if err != nil {
		s.redirectError(w, r, req.RedirectURI, req.State, authzError{"server_error", ""})
		return
	}
	if err := s.store.SetAuthCode(r.Context(), req.ID, secret.HashToken(code), s.now().Add(codeTTL)); err != nil {
		s.log.ErrorContext(r.Context(), "storing code", "err", err)
		s.redirectError(w, r, req.RedirectURI, req.State, authzError{"server_error", ""})
		return
	}
	s.redirectResponse(w, r, req.RedirectURI, url.Values{"code": {code}, "state": {req.State}})
}

func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, redirectURI, state string, e authzError) {
	v := url.Values{"error": {e.code}, "state": {state}}
	if e.description != "" {
		v.Set("error_description", e.description)
	}
	s.redirectResponse(w, r, redirectURI, v)
}

// redirectResponse sends an authorization response: the state unchanged
// (RFC 6749 §4.1.2) and iss (RFC 9207 §2), with 303 so that a POSTed form
// is never replayed to the client (RFC 9700 §4.12).
func (s *Server) redirectResponse(w http.ResponseWriter, r *http.Request, redirectURI string, v url.Values) {
	u, err := url.Parse(redirectURI)
	if err != nil {
		s.pages.errorPage(w, r, http.StatusBadRequest, "The return address is malformed.")
		return
	}
	if v.Get("state") == "" {
		v.Del("state")
	}
	v.Set("iss", s.cfg.Issuer)
	q := u.Query()
	for k, vals := range v {
		q[k] = vals
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusSeeOther)
}
