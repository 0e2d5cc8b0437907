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
	scopes, ok := s.scopes.forClient(client, target, strings.Fields(r.PostForm.Get("scope")))
	if !ok {
		return tokenResponse{}, oidc.ErrInvalidScope().WithDescription("scope not allowed for this client")
	}
	if len(scopes) == 0 {
		// A token that permits nothing at the resource: the client is
		// registered for none of its scopes (or asked another resource's).
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
