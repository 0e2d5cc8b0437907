package authz

import (
	"encoding/json"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/clientkeys"
)

// Discovery (OpenID Connect Discovery 1.0, RFC 8414) and the JWKS.

// metadata is the server's metadata, served both as OpenID Connect
// Discovery 1.0 and as RFC 8414 authorization server metadata (RFC 8414 §3
// allows one document for both).
func (s *Server) metadata() map[string]any {
	iss := s.cfg.Issuer
	return map[string]any{
		"issuer":                 iss,
		"authorization_endpoint": iss + "/authorize",
		"token_endpoint":         iss + "/token",
		"userinfo_endpoint":      iss + "/userinfo",
		"jwks_uri":               iss + "/jwks",
		"revocation_endpoint":    iss + "/revoke",
		"introspection_endpoint": iss + "/introspect",
		"end_session_endpoint":   iss + "/end_session",
		"scopes_supported":       s.scopes.all,
		// OAuth 2.1: code only, no implicit or hybrid response types.
		"response_types_supported": []string{"code"},
		"response_modes_supported": []string{"query"},
		// No password grant (RFC 9700 §2.4), no implicit (§2.1.2).
		"grant_types_supported":                                    []string{"authorization_code", "refresh_token", "client_credentials"},
		"token_endpoint_auth_methods_supported":                    []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"token_endpoint_auth_signing_alg_values_supported":         clientkeys.AlgorithmNames(),
		"revocation_endpoint_auth_methods_supported":               []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"revocation_endpoint_auth_signing_alg_values_supported":    clientkeys.AlgorithmNames(),
		"introspection_endpoint_auth_methods_supported":            []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"introspection_endpoint_auth_signing_alg_values_supported": clientkeys.AlgorithmNames(),
		"code_challenge_methods_supported":                         []string{"S256"}, // RFC 9700 §2.1.1
		"authorization_response_iss_parameter_supported":           true,             // RFC 9207 §3
		"subject_types_supported":                                  []string{"public"},
		"id_token_signing_alg_values_supported":                    algNames(IDTokenAlgs()),
		"claims_supported":                                         []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash", "azp", "acr", "amr", "name", "preferred_username", "email", "email_verified"},
		"prompt_values_supported":                                  []string{"none", "login", "consent"},
		"acr_values_supported":                                     []string{ACRSingleFactor, ACRMultiFactor},
		"request_parameter_supported":                              false,
		"request_uri_parameter_supported":                          false,
		"claims_parameter_supported":                               false,
		"backchannel_logout_supported":                             false,
		"frontchannel_logout_supported":                            false,
		"access_token_signing_alg_values_supported":                []string{string(AccessTokenAlg)},
		"dpop_signing_alg_values_supported":                        algNames(dpop.Algorithms()),
		"pushed_authorization_request_endpoint":                    iss + "/par",
		"require_pushed_authorization_requests":                    s.cfg.RequirePAR,
	}
}

func (s *Server) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writePublicJSON(w, s.metadata())
}

// serveJWKS publishes the signing keys (RFC 7517): every key from when it
// is created (before it signs) until the tokens it signed have expired, or
// until it is retired.
func (s *Server) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	writePublicJSON(w, s.keys.JWKS(s.now()))
}

// writePublicJSON writes a public document that caches may keep for a
// minute: short beside a verifier's own JWKS age (bearer.JWTConfig.MaxKeyAge,
// 5 minutes), so that a caching proxy adds little to the time a withdrawn
// key stays trusted.
func writePublicJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_ = json.NewEncoder(w).Encode(v)
}

// algNames lists algorithms by name, in their order (IDTokenAlgs puts
// RS256 first: OpenID Connect Discovery 1.0 §3 asks
// id_token_signing_alg_values_supported to include it).
func algNames(algs []jose.SignatureAlgorithm) []string {
	names := make([]string, len(algs))
	for i, a := range algs {
		names[i] = string(a)
	}
	return names
}
