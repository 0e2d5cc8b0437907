package webapp

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// handleLogin starts an authorization code flow (RFC 6749 §4.1) with PKCE
// S256 (RFC 7636 §4.2), a fresh one-time state bound to this browser (RFC
// 9700 §4.7.1) and an OpenID Connect nonce (Core §3.1.2.1). They are kept in
// the sealed pending sign-in cookie (pending.go), never in the session
// store, together with the local path given as ?next= (safeReturn).
//
// When the provider offers it, the request is pushed (RFC 9126) with a DPoP
// proof of the sign-in's key (dpopkey.go), which binds the code to the key,
// and the browser is sent to the authorization endpoint with only client_id
// and request_uri: the parameters never pass through it. Otherwise they go
// in the redirect, with the key's thumbprint as dpop_jkt.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	next := safeReturn(r.URL.Query().Get("next"))
	if _, _, ok := s.signedIn(ctx); ok {
		http.Redirect(w, r, next, http.StatusSeeOther)
		return
	}
	p, err := s.disc.get(ctx)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	state, err1 := secret.NewToken()
	nonce, err2 := secret.NewToken()
	if err := errors.Join(err1, err2); err != nil {
		s.renderError(w, r, err)
		return
	}
	verifier := oauth2.GenerateVerifier()
	cookie, err := s.pending.seal(pendingSignIn{
		State: state, Nonce: nonce, Verifier: verifier, Return: next,
		Expires: s.now().Add(pendingTTL).Unix(),
	})
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	key, err := signInKey(s.dpopSecret, state)
	if err != nil {
		s.renderError(w, r, err)
		return
	}
	params := url.Values{
		"response_type":         {"code"},
		"client_id":             {p.oauth2.ClientID},
		"redirect_uri":          {p.oauth2.RedirectURL},
		"scope":                 {strings.Join(p.oauth2.Scopes, " ")},
		"state":                 {state},
		"nonce":                 {nonce},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
	}
	if p.parEndpoint == "" {
		// Without PAR, dpop_jkt binds the code to the key (RFC 9449 §10);
		// a provider without DPoP ignores it (RFC 6749 §3.1).
		params.Set("dpop_jkt", key.JKT())
	} else {
		requestURI, err := s.push(ctx, p, key, params)
		if err != nil {
			s.renderError(w, r, err)
			return
		}
		params = url.Values{"client_id": {p.oauth2.ClientID}, "request_uri": {requestURI}}
	}
	s.pending.set(w, cookie)
	http.Redirect(w, r, withQuery(p.oauth2.Endpoint.AuthURL, params), http.StatusSeeOther)
}

// withQuery returns endpoint with params added to the query it may have
// (RFC 6749 §3.1 keeps it).
func withQuery(endpoint string, params url.Values) string {
	sep := "?"
	if strings.Contains(endpoint, "?") {
		sep = "&"
	}
	return endpoint + sep + params.Encode()
}

// maxPARAnswer bounds how much of the answer of the pushed authorization
// request endpoint is read.
const maxPARAnswer = 64 << 10

// parRefused is the page for a pushed authorization request the provider
// refused with the error code: the web app's request, not the person, was
// wrong. A code that is not a plain word (RFC 6749 §5.2 codes are) reads
// as "refused".
func parRefused(code string) *pageError {
	if code == "" || len(code) > 64 || strings.IndexFunc(code, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_'
	}) >= 0 {
		code = "refused"
	}
	return &pageError{Status: http.StatusBadGateway, Code: "par_" + code,
		Title:   "Sign-in could not be started",
		Message: "The sign-in service did not accept this web app's sign-in request (" + code + "). Please try again later.",
		SignIn:  true}
}

// push sends an authorization request's parameters to the provider's
// pushed authorization request endpoint (RFC 9126 §2.1), authenticating as
// at the token endpoint (client_secret_basic) and with a DPoP proof of key
// (RFC 9449 §10.1), and returns the request_uri to send the browser with.
func (s *Server) push(ctx context.Context, p *provider, key *dpop.Key, params url.Values) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.parEndpoint, strings.NewReader(params.Encode()))
	if err != nil {
		return "", fmt.Errorf("pushed authorization request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(p.oauth2.ClientID), url.QueryEscape(p.oauth2.ClientSecret))
	resp, err := withProofs(s.httpClient, key).Do(req)
	if err != nil {
		return "", fmt.Errorf("%w: pushed authorization request: %w", errAuthzUnavailable, err)
	}
	defer resp.Body.Close()
	var body struct {
		RequestURI  string `json:"request_uri"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPARAnswer))
	if err != nil {
		return "", fmt.Errorf("%w: reading the pushed authorization request's answer: %w", errAuthzUnavailable, err)
	}
	jsonErr := json.Unmarshal(data, &body)
	switch {
	case resp.StatusCode == http.StatusCreated || resp.StatusCode == http.StatusOK:
		if jsonErr != nil || body.RequestURI == "" {
			return "", fmt.Errorf("%w: pushed authorization request answered %s without a request_uri", errAuthzUnavailable, resp.Status)
		}
		return body.RequestURI, nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests:
		return "", fmt.Errorf("%w: pushed authorization request answered %s: %q %q",
			parRefused(body.Error), resp.Status, body.Error, body.Description)
	default:
		return "", fmt.Errorf("%w: pushed authorization request answered %s", errAuthzUnavailable, resp.Status)
	}
}

// Pages for a callback that cannot be accepted.
func callbackRejected(code, msg string) *pageError {
	return &pageError{Status: http.StatusBadRequest, Code: code,
		Title: "Sign-in could not be completed", Message: msg, SignIn: true}
}

var errAccessDenied = &pageError{Status: http.StatusForbidden, Code: "access_denied",
	Title:   "You did not allow access",
	Message: "Gatehouse needs your permission to show your todos. You can sign in again whenever you like.",
	SignIn:  true}

// handleCallback is the redirection endpoint (RFC 6749 §3.1.2).
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) {
	if err := s.callback(w, r); err != nil {
		var pe *pageError
		if errors.As(err, &pe) && pe.Status < 500 {
			s.log.WarnContext(r.Context(), "sign-in rejected", slog.String("code", pe.Code), slog.String("error", err.Error()))
		}
		s.renderError(w, r, err)
	}
}

func (s *Server) callback(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	q := r.URL.Query()

	// The state must be the one this browser's pending sign-in cookie was
	// sent with. The cookie is cleared by every callback, whatever its
	// outcome: a callback without state, with another browser's, replayed or
	// too late is refused (RFC 6749 §10.12, RFC 9700 §4.7.1).
	state := q.Get("state")
	att, err := s.pending.take(w, r, state, s.now())
	if state == "" {
		return callbackRejected("state_missing", "The answer from the sign-in service carried no state.")
	}
	if err != nil {
		return fmt.Errorf("%w: %w", callbackRejected("state_mismatch",
			"This sign-in answer does not belong to this browser, was already used or has expired. Please start again."), err)
	}

	p, err := s.disc.get(ctx)
	if err != nil {
		return err
	}
	// RFC 9207 §2.4: the iss parameter must be present and equal the issuer
	// the request was sent to (mix-up defence, RFC 9700 §4.4.2). It is
	// checked on error responses too.
	iss := q.Get("iss")
	if iss == "" {
		return callbackRejected("iss_missing", "The answer from the sign-in service did not say who sent it.")
	}
	if subtle.ConstantTimeCompare([]byte(iss), []byte(p.issuer)) != 1 {
		return callbackRejected("iss_mismatch", "The answer came from an unexpected sign-in service.")
	}

	// RFC 6749 §4.1.2.1: error responses.
	if e := q.Get("error"); e != "" {
		if e == "access_denied" {
			return errAccessDenied
		}
		return callbackRejected(e, "The sign-in service refused the request ("+e+").")
	}
	code := q.Get("code")
	if code == "" {
		return callbackRejected("code_missing", "The answer from the sign-in service carried no code.")
	}

	// The exchange, and the userinfo request with its access token, carry
	// proofs of the sign-in's DPoP key, the key the authorization request
	// bound the code to (by the pushed request's proof, or dpop_jkt).
	key, err := signInKey(s.dpopSecret, att.State)
	if err != nil {
		return err
	}
	xctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, withProofs(s.httpClient, key)), 15*time.Second)
	defer cancel()
	tok, err := p.oauth2.Exchange(xctx, code, oauth2.VerifierOption(att.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode < 500 {
			return callbackRejected("token_"+re.ErrorCode, "The sign-in service did not accept the sign-in ("+re.ErrorCode+"). Please start again.")
		}
		return fmt.Errorf("%w: exchanging code: %w", errAuthzUnavailable, err)
	}

	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return callbackRejected("id_token_missing", "The sign-in service returned no ID token.")
	}
	// OpenID Connect Core §3.1.3.7: signature, iss, aud, exp.
	idt, err := p.verifier.Verify(xctx, raw)
	if err != nil {
		return fmt.Errorf("%w: %w", callbackRejected("id_token_invalid", "The sign-in service returned an invalid ID token."), err)
	}
	// Core §3.1.3.7 item 11: the nonce must be the one this attempt sent.
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(att.Nonce)) != 1 {
		return callbackRejected("nonce_mismatch", "The ID token was not issued for this sign-in attempt.")
	}
	// Core §3.2.2.9 / §3.3.2.9: at_hash binds the access token to the ID token.
	if idt.AccessTokenHash != "" {
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			return callbackRejected("at_hash_mismatch", "The access token does not match the ID token.")
		}
	}

	who := user{Subject: idt.Subject}
	var claims struct {
		Name              string `json:"name"`
		PreferredUsername string `json:"preferred_username"`
		Email             string `json:"email"`
	}
	_ = idt.Claims(&claims)
	who.Name, who.Email = claims.Name, claims.Email
	if who.Name == "" || who.Email == "" {
		s.fillFromUserInfo(xctx, p, tok, &who)
	}
	if who.Name == "" {
		who.Name = claims.PreferredUsername
	}

	grant := newGrantID()
	if err := s.tokens.save(ctx, grant, tokenRecord{
		AccessToken:  tok.AccessToken,
		RefreshToken: tok.RefreshToken,
		IDToken:      raw,
		Subject:      idt.Subject,
		Expiry:       tok.Expiry,
		Obtained:     s.now(),
		TokenType:    tok.TokenType,
		DPoPKey:      key,
	}); err != nil {
		return err
	}

	// The server-side session starts here, after the exchange: a fresh one
	// with a new ID (session fixation defence), so nothing of a session the
	// browser carried before survives: no earlier person's sign-in, no CSRF
	// seed.
	if old := s.sessions.GetString(ctx, keyGrant); old != "" {
		_ = s.tokens.delete(ctx, old)
	}
	if err := s.sessions.Clear(ctx); err != nil {
		return fmt.Errorf("%w: clearing session: %w", errSessionStore, err)
	}
	if err := s.sessions.RenewToken(ctx); err != nil {
		return fmt.Errorf("%w: renewing session: %w", errSessionStore, err)
	}
	s.sessions.Put(ctx, keyGrant, grant)
	s.sessions.Put(ctx, keySubject, who.Subject)
	s.sessions.Put(ctx, keyName, who.Name)
	s.sessions.Put(ctx, keyEmail, who.Email)
	s.log.InfoContext(ctx, "signed in", slog.String("sub", who.Subject))
	http.Redirect(w, r, safeReturn(att.Return), http.StatusSeeOther)
	return nil
}

// fillFromUserInfo completes name and email from the UserInfo endpoint (Core
// §5.3). Its answer counts only if its sub is the ID token's (§5.3.4).
func (s *Server) fillFromUserInfo(ctx context.Context, p *provider, tok *oauth2.Token, who *user) {
	ui, err := p.oidc.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		s.log.WarnContext(ctx, "userinfo failed", slog.String("error", err.Error()))
		return
	}
	if ui.Subject != who.Subject {
		s.log.WarnContext(ctx, "userinfo sub differs from ID token sub; ignored")
		return
	}
	var c struct {
		Name              string `json:"name"`
		PreferredUsername string `json:"preferred_username"`
	}
	_ = ui.Claims(&c)
	if who.Name == "" {
		who.Name = c.Name
		if who.Name == "" {
			who.Name = c.PreferredUsername
		}
	}
	if who.Email == "" {
		who.Email = ui.Email
	}
}
