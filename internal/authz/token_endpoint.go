package authz

import (
	"net/http"
	"slices"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// The token endpoint (RFC 6749 §3.2): POST with a form body, client
// authentication (client_auth.go), the DPoP proof if any (dpop.go), then
// one grant, given the proof's key thumbprint:
// authorization_code.go, refresh_token.go or client_credentials.go. Each
// grant reads and checks what it needs, mints its tokens (issuer.go) and
// stores them in one write, last, so that a failure anywhere leaves
// nothing half done.

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.RawQuery) > 0 {
		// RFC 6749 §3.2: parameters are sent in the body; credentials and
		// codes in URLs end up in logs (RFC 9700 §4.3).
		s.requestError(w, r, shapeJSON, invalidRequest("parameters must be sent in the body"))
		return
	}
	gt := r.PostForm.Get("grant_type")
	use := usePublicAllowed
	switch gt {
	case string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken):
	case string(oidc.GrantTypeClientCredentials):
		use = useConfidential
	case "":
		s.requestError(w, r, shapeJSON, invalidRequest("grant_type is required"))
		return
	default:
		s.requestError(w, r, shapeJSON, oidc.ErrUnsupportedGrantType().WithDescription("unsupported grant_type"))
		return
	}
	client, err := s.clients.authenticate(r, use)
	if err != nil {
		s.requestError(w, r, shapeJSON, err)
		return
	}
	if !slices.Contains(client.GrantTypes, gt) {
		s.requestError(w, r, shapeJSON, oidc.ErrUnauthorizedClient().WithDescription("grant_type not allowed for this client"))
		return
	}
	jkt, err := s.dpopProof(w, r, client)
	if err != nil {
		s.requestError(w, r, shapeJSON, err)
		return
	}
	var grant func(*http.Request, storage.Client, string) (tokenResponse, error)
	switch gt {
	case string(oidc.GrantTypeCode):
		grant = s.exchangeCode
	case string(oidc.GrantTypeRefreshToken):
		grant = s.refresh
	default:
		grant = s.clientCredentials
	}
	resp, err := grant(r, client, jkt)
	if err != nil {
		s.requestError(w, r, shapeJSON, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}
