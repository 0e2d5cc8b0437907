package authz

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// The UserInfo endpoint (OpenID Connect Core §5.3). It takes an active
// access token of a person (not a client-credentials token) with the
// openid scope, in the Authorization header or a POST body (RFC 6750 §2.1,
// §2.2), never in the query (RFC 9700 §4.3.2), and returns the claims its
// scopes allow (§5.4). A token that is not active is answered 401, an
// active one without openid (or a client's own) 403, each with RFC 6750
// §3.1's WWW-Authenticate. A DPoP-bound token is accepted only under the
// DPoP scheme with a proof of its key for this request (RFC 9449 §7),
// never as a bearer token.

func (s *Server) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	invalid := func(desc string) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf("Bearer error=%q", "invalid_token"))
		writeOAuthError(w, http.StatusUnauthorized, &oidc.Error{ErrorType: "invalid_token", Description: desc})
	}
	var token string
	underDPoP := false
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, rest, ok := strings.Cut(auth, " ")
		underDPoP = strings.EqualFold(scheme, "DPoP")
		if !ok || !(strings.EqualFold(scheme, "Bearer") || underDPoP) || r.PostForm.Has("access_token") {
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
	ctx := r.Context()
	c, err := s.checker.active(ctx, token)
	switch {
	case errors.Is(err, errInactive):
		invalid("")
		return
	case err != nil:
		s.requestError(w, r, shapeJSON, serverError(err, "checking access token"))
		return
	}
	switch jkt := c.jkt(); {
	case jkt == "" && underDPoP:
		invalid("the token is not DPoP-bound")
		return
	case jkt != "" && !underDPoP:
		invalid("a DPoP-bound token must be sent under the DPoP scheme with a proof")
		return
	case jkt != "":
		proof, perr := dpop.ProofFrom(r.Header)
		if perr == nil && proof == "" {
			perr = &dpop.Error{Code: dpop.InvalidProof, Description: "a DPoP proof is required"}
		}
		var p dpop.Proof
		if perr == nil {
			var err error
			p, err = s.dpop.Check(ctx, proof, dpop.Request{Method: r.Method, URL: s.cfg.Issuer + r.URL.Path, AccessToken: token})
			if err != nil && !errors.As(err, &perr) {
				s.requestError(w, r, shapeJSON, serverError(err, "checking a DPoP proof"))
				return
			}
		}
		if perr == nil && p.JKT != jkt {
			perr = &dpop.Error{Code: dpop.InvalidProof, Description: "the proof is of another key than the token is bound to"}
		}
		if perr != nil {
			if perr.Code == dpop.UseNonce && s.dpop.Nonces != nil {
				w.Header().Set(dpop.HeaderNonce, s.dpop.Nonces.Current())
			}
			w.Header().Set("WWW-Authenticate", perr.WWWAuthenticate(dpop.Algorithms()))
			oe := &oidc.Error{ErrorType: dpop.InvalidProof, Description: perr.Description}
			if perr.Code == dpop.UseNonce {
				oe.ErrorType = dpop.UseNonce
			}
			writeOAuthError(w, http.StatusUnauthorized, oe)
			return
		}
	}
	scopes := c.scopes()
	if c.Grant == "" || !slices.Contains(scopes, oidc.ScopeOpenID) {
		// An active token, of a client or without openid (RFC 6750 §3.1).
		w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="openid"`)
		writeOAuthError(w, http.StatusForbidden, &oidc.Error{ErrorType: "insufficient_scope", Description: "the token lacks the openid scope"})
		return
	}
	u, err := s.store.GetUser(ctx, c.Subject)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		invalid("")
		return
	case err != nil:
		s.requestError(w, r, shapeJSON, serverError(err, "loading user"))
		return
	}
	writeJSON(w, http.StatusOK, userinfo(u, scopes))
}

// userinfo is the claims the scopes allow (OpenID Connect Core §5.4).
func userinfo(u storage.User, scopes []string) *oidc.UserInfo {
	info := &oidc.UserInfo{Subject: u.ID}
	if slices.Contains(scopes, oidc.ScopeProfile) {
		info.Name = u.Name
		info.PreferredUsername = u.Username
		info.UpdatedAt = oidc.FromTime(u.UpdatedAt)
	}
	if slices.Contains(scopes, oidc.ScopeEmail) && u.Email != "" {
		info.Email = u.Email
		// Gatehouse does not verify addresses.
		info.EmailVerified = false
	}
	return info
}
