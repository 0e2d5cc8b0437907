package authz

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/loopback"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// The authorization endpoint (RFC 6749 §3.1, §4.1.1, §4.1.2):
//
//   - only registered redirect URIs, matched exactly (RFC 9700 §4.1.3); an
//     unknown client or redirect_uri is shown an error page, never
//     redirected to (RFC 9700 §4.11.1);
//   - response_type=code only (OAuth 2.1 §4), S256 PKCE required (RFC 7636,
//     RFC 9700 §2.1.1);
//   - every response to the client carries iss (RFC 9207) and is a 303
//     (RFC 9700 §4.12);
//   - prompt and max_age as OpenID Connect Core §3.1.2.1 says.

// pkceChallenge is the form of an S256 challenge: base64url of 32 bytes.
var pkceChallenge = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// maxAuthorizeParam bounds each authorization request parameter; the
// request is sealed into the login page's address and stored once the
// person has signed in.
const maxAuthorizeParam = 2048

// authzError is an error returned to the client at its redirect URI
// (RFC 6749 §4.1.2.1).
type authzError struct {
	code, description string
}

func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.Form
	// Only registered redirect URIs are ever redirected to; before they
	// are known to match, errors are shown here (RFC 6749 §4.1.2.1, RFC
	// 9700 §4.11.1: no open redirector).
	client, err := s.store.GetClient(r.Context(), q.Get("client_id"))
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
			return
		}
		s.pages.errorPage(w, http.StatusBadRequest, "The application that sent you here is not registered.")
		return
	}
	if client.Disabled {
		s.pages.errorPage(w, http.StatusBadRequest, "The application that sent you here is disabled.")
		return
	}
	pushed := q.Has("request_uri")
	if pushed {
		// A pushed request (RFC 9126 §4): its parameters, checked when
		// they were pushed, replace the query's, and it is used once.
		if q, err = s.openPushed(r.Context(), client, q.Get("request_uri")); err != nil {
			if errors.Is(err, errPushedUnavailable) {
				s.pages.errorPage(w, http.StatusServiceUnavailable, "The service is unavailable. Try again shortly.")
				return
			}
			s.pages.errorPage(w, http.StatusBadRequest, "This sign-in request has expired or was already used. Go back to the application and start again.")
			return
		}
	}
	redirectURI := q.Get("redirect_uri")
	if !redirectAllowed(client, redirectURI) {
		s.pages.errorPage(w, http.StatusBadRequest, "The application sent you here with a return address it has not registered.")
		return
	}
	state := q.Get("state")
	fail := func(e authzError) { s.redirectError(w, r, redirectURI, state, e) }
	if !pushed && (s.cfg.RequirePAR || client.RequirePAR || client.Profile == storage.ProfileFAPI2) {
		fail(authzError{"invalid_request", "this client must push its authorization requests (RFC 9126)"})
		return
	}
	p, aerr := s.authorizationRequest(r.Context(), client, q)
	if aerr != nil {
		fail(*aerr)
		return
	}
	s.advance(w, r, p, client)
}

// authorizationRequest checks the parameters of an authorization request
// from client, whose redirect_uri is known to be registered, and returns
// the request, or the error to send to the client.
func (s *Server) authorizationRequest(ctx context.Context, client storage.Client, q url.Values) (pendingRequest, *authzError) {
	redirectURI, state := q.Get("redirect_uri"), q.Get("state")
	for _, vs := range q {
		if len(vs[0]) > maxAuthorizeParam {
			return pendingRequest{}, &authzError{"invalid_request", "a parameter is too long"}
		}
	}

	if q.Has("request") || q.Has("request_uri") {
		return pendingRequest{}, &authzError{"request_not_supported", "request objects are not supported"}
	}
	// OAuth 2.1 §4: only the code response type; no implicit, no hybrid.
	if rt := q.Get("response_type"); rt != "code" {
		return pendingRequest{}, &authzError{"unsupported_response_type", "only response_type=code is supported"}
	}
	if !slices.Contains(client.GrantTypes, "authorization_code") {
		return pendingRequest{}, &authzError{"unauthorized_client", "client may not use the authorization code grant"}
	}
	if rm := q.Get("response_mode"); rm != "" && rm != "query" {
		return pendingRequest{}, &authzError{"invalid_request", "only response_mode=query is supported"}
	}
	// PKCE (RFC 7636; RFC 9700 §2.1.1): S256 is required for every client,
	// unless a legacy confidential client was registered with PKCEOptional.
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	switch {
	case challenge == "" && method == "" && client.PKCEOptional && !client.Public && client.Profile == "":
	case challenge == "":
		return pendingRequest{}, &authzError{"invalid_request", "code_challenge is required"}
	case method != "S256":
		// An absent method means "plain" (RFC 7636 §4.3), which is refused.
		return pendingRequest{}, &authzError{"invalid_request", "code_challenge_method must be S256"}
	case !pkceChallenge.MatchString(challenge):
		return pendingRequest{}, &authzError{"invalid_request", "malformed code_challenge"}
	}
	target, terr, err := s.resolveResource(ctx, q["resource"])
	switch {
	case err != nil:
		s.log.ErrorContext(ctx, "loading a resource server", "err", err)
		return pendingRequest{}, &authzError{"server_error", ""}
	case terr != nil:
		return pendingRequest{}, terr
	}
	requested := strings.Fields(q.Get("scope"))
	scopes := s.scopes.allowed(client, target, requested)
	if len(scopes) == 0 {
		return pendingRequest{}, &authzError{"invalid_scope", authorizeScopeRefusal(requested, target)}
	}
	prompt := strings.Fields(q.Get("prompt"))
	if slices.Contains(prompt, "none") && len(prompt) > 1 {
		// OpenID Connect Core §3.1.2.1.
		return pendingRequest{}, &authzError{"invalid_request", "prompt=none must be alone"}
	}
	var maxAge *time.Duration
	if v := q.Get("max_age"); v != "" {
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil {
			return pendingRequest{}, &authzError{"invalid_request", "malformed max_age"}
		}
		d := time.Duration(n) * time.Second
		maxAge = &d
	}
	// dpop_jkt (RFC 9449 §10) binds the code to a DPoP key: only a proof
	// of that key exchanges it.
	jkt := q.Get("dpop_jkt")
	if jkt != "" && !jktForm.MatchString(jkt) {
		return pendingRequest{}, &authzError{"invalid_request", "malformed dpop_jkt"}
	}
	now := s.now()
	req := storage.AuthRequest{
		ClientID: client.ID, RedirectURI: redirectURI, State: state, Nonce: q.Get("nonce"),
		Scopes: scopes, ResponseType: "code", ResponseMode: q.Get("response_mode"),
		CodeChallenge: challenge, CodeChallengeMethod: method, Prompt: prompt, MaxAge: maxAge,
		LoginHint: q.Get("login_hint"), DPoPJKT: jkt, Resource: target.stored(), CreatedAt: now, ExpiresAt: now.Add(authRequestTTL),
	}
	if challenge == "" {
		req.CodeChallengeMethod = ""
	}
	p := pendingRequest{AuthRequest: req, ACRValues: strings.Fields(q.Get("acr_values"))}
	p.holdToClient(client)
	if hint := q.Get("id_token_hint"); hint != "" {
		claims, _, err := s.verifyIDTokenHint(ctx, hint)
		if err != nil {
			return pendingRequest{}, &authzError{"invalid_request", "id_token_hint invalid"}
		}
		p.HintSubject = claims.Subject
	}
	return p, nil
}

// redirectAllowed compares redirect_uri with the registered ones (see
// registeredURI).
func redirectAllowed(c storage.Client, uri string) bool {
	return registeredURI(c.RedirectURIs, c.Public, uri)
}

// registeredURI compares a redirect address with the registered ones by
// exact string match (RFC 9700 §4.1.3). Only for a public native client's
// loopback address may the port differ (RFC 8252 §7.3): same scheme (http),
// same loopback IP literal, same path and query, no user information and
// no fragment. The authorization endpoint and end-session apply it alike.
func registeredURI(registered []string, public bool, uri string) bool {
	if uri == "" {
		return false
	}
	if slices.Contains(registered, uri) {
		return true
	}
	if !public {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || !loopback.IP(u.Hostname()) || u.User != nil || u.Fragment != "" || strings.Contains(uri, "#") {
		return false
	}
	for _, reg := range registered {
		ru, err := url.Parse(reg)
		if err != nil || ru.Scheme != "http" || !loopback.IP(ru.Hostname()) {
			continue
		}
		if ru.Hostname() == u.Hostname() && ru.EscapedPath() == u.EscapedPath() && ru.RawQuery == u.RawQuery {
			return true
		}
	}
	return false
}

// advance moves an authorization request on: sign-in, then consent, then
// the code. It is called from /authorize and after each page. Until the
// person has signed in the request is sealed into the login page's
// address (pending.go); after that it has a row, whose ID the consent page
// carries.
//
// A request with an id_token_hint is answered only for the person it
// names (OpenID Connect Core §3.1.2.1): someone else's session counts as
// none (prompt=none gets login_required), and a sign-in as anyone else
// ends the request with login_required.
func (s *Server) advance(w http.ResponseWriter, r *http.Request, p pendingRequest, client storage.Client) {
	ctx := r.Context()
	req := p.AuthRequest
	none := slices.Contains(req.Prompt, "none")
	if req.UserID == "" {
		sess, ok := s.currentSession(r)
		// prompt=login and max_age force a fresh sign-in (OpenID Connect
		// Core §3.1.2.1).
		// A session without a second factor is not enough when one is
		// required (the server's policy, the client's, or acr_values
		// asking aal2).
		fresh := slices.Contains(req.Prompt, "login") ||
			(ok && req.MaxAge != nil && s.now().Sub(sess.AuthTime) > *req.MaxAge) ||
			(ok && s.mfaRequired(p) && !slices.Contains(sess.AMR, amrMFA)) ||
			(ok && p.HintSubject != "" && sess.UserID != p.HintSubject)
		if !ok || fresh {
			if none {
				s.redirectError(w, r, req.RedirectURI, req.State, authzError{"login_required", ""})
				return
			}
			sealed, err := s.pending.seal(p)
			switch {
			case errors.Is(err, errRequestTooLarge):
				s.redirectError(w, r, req.RedirectURI, req.State, authzError{"invalid_request", err.Error()})
				return
			case err != nil:
				s.log.ErrorContext(ctx, "sealing authorization request", "err", err)
				s.redirectError(w, r, req.RedirectURI, req.State, authzError{"server_error", ""})
				return
			}
			http.Redirect(w, r, "/login?request="+url.QueryEscape(sealed), http.StatusSeeOther)
			return
		}
		req.UserID, req.AuthTime, req.AMR = sess.UserID, sess.AuthTime, sess.AMR
	}
	if p.HintSubject != "" && req.UserID != p.HintSubject {
		s.redirectError(w, r, req.RedirectURI, req.State, authzError{"login_required", "signed in as another person than id_token_hint names"})
		return
	}
	consent := s.needsConsent(ctx, req, client)
	if consent && none {
		s.redirectError(w, r, req.RedirectURI, req.State, authzError{"consent_required", ""})
		return
	}
	if req.ID == "" {
		// The person has signed in: the request gets its row, with its
		// code when no consent is needed (one write).
		id, err := newID(s.now())
		if err != nil {
			s.redirectError(w, r, req.RedirectURI, req.State, authzError{"server_error", ""})
			return
		}
		req.ID, req.Done = id, true
		var code string
		if !consent {
			if code, err = s.newCode(&req); err != nil {
				s.redirectError(w, r, req.RedirectURI, req.State, authzError{"server_error", ""})
				return
			}
		}
		if err := s.store.CreateAuthRequest(ctx, req); err != nil {
			s.log.ErrorContext(ctx, "storing auth request", "err", err)
			s.redirectError(w, r, req.RedirectURI, req.State, authzError{"server_error", ""})
			return
		}
		if !consent {
			s.sendCode(w, r, req, code)
			return
		}
	}
	if consent {
		http.Redirect(w, r, "/consent?id="+url.QueryEscape(req.ID), http.StatusSeeOther)
		return
	}
	s.issueCode(w, r, req)
}

// needsConsent says whether the person is asked before the client gets a
// code:
//   - prompt=consent always asks, first-party clients included (OpenID
//     Connect Core §3.1.2.1);
//   - a public client always asks: its identity cannot be assured, since
//     any program on the person's computer can use its ID and a loopback
//     redirect, so remembered consent is never applied to it without the
//     person (RFC 8252 §8.6, RFC 6749 §10.2);
//   - first-party confidential clients never ask otherwise;
//   - other clients ask when the remembered consent does not cover every
//     requested scope.
func (s *Server) needsConsent(ctx context.Context, req storage.AuthRequest, c storage.Client) bool {
	switch {
	case slices.Contains(req.Prompt, "consent"), c.Public:
		return true
	case c.FirstParty:
		return false
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

// newCode makes a code for req, valid for codeTTL and bound to the
// request's client, redirect URI and challenge, and sets its hash and
// expiry on req.
func (s *Server) newCode(req *storage.AuthRequest) (string, error) {
	code, err := secret.NewToken()
	if err != nil {
		return "", err
	}
	req.CodeHash, req.ExpiresAt = secret.HashToken(code), s.now().Add(codeTTL)
	return code, nil
}

// issueCode stores a new code for a request that has its row (after
// consent) and sends it to the client.
func (s *Server) issueCode(w http.ResponseWriter, r *http.Request, req storage.AuthRequest) {
	code, err := s.newCode(&req)
	if err != nil {
		s.redirectError(w, r, req.RedirectURI, req.State, authzError{"server_error", ""})
		return
	}
	switch err := s.store.SetAuthCode(r.Context(), req.ID, req.CodeHash, req.ExpiresAt); {
	case errors.Is(err, storage.ErrNotFound):
		// Answered already (the consent form sent twice) or gone.
		s.pages.errorPage(w, http.StatusBadRequest, "This sign-in request was already answered. Go back to the application.")
		return
	case err != nil:
		s.log.ErrorContext(r.Context(), "storing code", "err", err)
		s.redirectError(w, r, req.RedirectURI, req.State, authzError{"server_error", ""})
		return
	}
	s.sendCode(w, r, req, code)
}

// sendCode sends the authorization response (RFC 6749 §4.1.2).
func (s *Server) sendCode(w http.ResponseWriter, r *http.Request, req storage.AuthRequest, code string) {
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
		s.pages.errorPage(w, http.StatusBadRequest, "The return address is malformed.")
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
