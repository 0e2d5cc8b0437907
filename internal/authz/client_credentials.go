package authz

import (
	"net/http"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// The client credentials grant (RFC 6749 §4.4): a confidential client
// asks for an access token for itself. No person is involved, so the
// token carries only resource scopes the client is registered for, no
// refresh token (§4.4.3) and no ID token, and it names no grant. Its
// subject is the client's, in a namespace of its own (bearer.ClientSubject;
// RFC 9700 §4.15), so that no client ID can pass for a person at a resource
// server. Nothing is written: the token is checked later from its
// signature, its client and the revoked list (access_token.go).

// clientCredentials is the client_credentials grant.
func (s *Server) clientCredentials(r *http.Request, client storage.Client, jkt string) (tokenResponse, error) {
	target, terr, err := s.resolveResource(r.Context(), r.PostForm["resource"])
	switch {
	case err != nil:
		return tokenResponse{}, serverError(err, "loading a resource server")
	case terr != nil:
		return tokenResponse{}, terr.tokenError()
	}
	requested := strings.Fields(r.PostForm.Get("scope"))
	scopes, ok := s.scopes.forClient(client, target, requested)
	if !ok || len(scopes) == 0 {
		// Refused, naming what the client asked for and what it may have
		// (it authenticated: its own registration is no secret to it).
		allowed, _ := s.scopes.forClient(client, target, nil)
		switch {
		case !ok:
			refused := refusedScopes(requested, s.scopes.allowed(client, target, requested))
			return tokenResponse{}, oidc.ErrInvalidScope().WithDescription("%s", clientScopeRefusal(refused, allowed, target, false))
		case len(requested) > 0:
			// Identity scopes only: a token with no person in it does
			// not carry them.
			return tokenResponse{}, oidc.ErrInvalidScope().WithDescription("%s", clientScopeRefusal(refusedScopes(requested, nil), allowed, target, true))
		}
		// A token that permits nothing at the resource: the client is
		// registered for none of its scopes.
		return tokenResponse{}, oidc.ErrInvalidScope().WithDescription("the client may have none of this resource's scopes")
	}
	g := grantFor(client)
	g.subject, g.scopes, g.jkt, g.audience = bearer.ClientSubject(client.ID), scopes, jkt, target.audience
	out, err := s.issuer.issue(g, false, "", false, time.Time{})
	if err != nil {
		return tokenResponse{}, serverError(err, "issuing access token")
	}
	s.audit.InfoContext(r.Context(), "tokens issued", "event", "tokens_issued", "grant_type", "client_credentials",
		"client_id", client.ID, "scope", scopes, "aud", target.audience)
	return out.resp, nil
}
