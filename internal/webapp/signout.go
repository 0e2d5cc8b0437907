package webapp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// handleLogout signs the person out everywhere it can: it revokes the
// refresh token at the authorization server (RFC 7009), which revokes its
// whole family, ends the local session, and sends the browser to the
// end_session_endpoint (OpenID Connect RP-Initiated Logout 1.0 §2) to end the
// login session there, which sends it back to the signed-out page.
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	_, grant, ok := s.signedIn(ctx)
	if !ok {
		// Nothing to sign out of; the session may have expired meanwhile.
		// A visitor without a session is sent on without touching the
		// store.
		if s.sessions.Token(ctx) != "" {
			_ = s.sessions.Destroy(ctx)
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	if !s.checkCSRF(r) {
		s.renderError(w, r, errCSRF)
		return
	}

	rec, recErr := s.tokens.load(ctx, grant)
	p, discErr := s.disc.get(ctx)
	if recErr == nil && discErr == nil {
		// Hold the refresh lock so an in-flight refresh cannot save a new
		// refresh token after it was revoked here.
		if unlock, err := s.locks.lock(ctx, grant); err == nil {
			if cur, err := s.tokens.load(ctx, grant); err == nil {
				rec = cur
			}
			if rec.RefreshToken != "" {
				if err := s.revoke(ctx, p, rec.RefreshToken, "refresh_token"); err != nil {
					s.log.WarnContext(ctx, "revoking refresh token", slog.String("error", err.Error()))
				}
			}
			if err := s.tokens.delete(ctx, grant); err != nil {
				s.log.WarnContext(ctx, "deleting tokens", slog.String("error", err.Error()))
			}
			unlock()
		}
	} else if err := s.tokens.delete(ctx, grant); err != nil {
		s.log.WarnContext(ctx, "deleting tokens", slog.String("error", err.Error()))
	}
	if discErr != nil {
		s.log.WarnContext(ctx, "signing out without the authorization server", slog.String("error", discErr.Error()))
	}
	if err := s.sessions.Destroy(ctx); err != nil {
		s.renderError(w, r, fmt.Errorf("%w: %w", errSessionStore, err))
		return
	}

	target := "/"
	if discErr == nil && p.endSessionEndpoint != "" {
		if u, err := url.Parse(p.endSessionEndpoint); err == nil {
			q := u.Query()
			if recErr == nil && rec.IDToken != "" {
				q.Set("id_token_hint", rec.IDToken)
			}
			q.Set("client_id", p.oauth2.ClientID)
			q.Set("post_logout_redirect_uri", s.publicURL+"/")
			u.RawQuery = q.Encode()
			target = u.String()
		}
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// revoke asks the authorization server to revoke token (RFC 7009 §2.1),
// authenticating as this client with client_secret_basic (RFC 6749 §2.3.1:
// the ID and secret are form-encoded before going into Basic).
func (s *Server) revoke(ctx context.Context, p *provider, token, hint string) error {
	if p.revocationEndpoint == "" {
		return fmt.Errorf("provider offers no revocation_endpoint")
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {hint}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.revocationEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(p.oauth2.ClientID), url.QueryEscape(p.oauth2.ClientSecret))
	resp, err := s.httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("%w: revocation: %w", errAuthzUnavailable, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	// RFC 7009 §2.2: 200 whether or not the token was known.
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("revocation endpoint answered %s", resp.Status)
	}
	return nil
}
