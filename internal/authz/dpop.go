package authz

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// DPoP at the authorization server (RFC 9449). A token request may carry a
// proof of possession of a key (the DPoP header); its access token is then
// bound to that key (claim cnf.jkt, token_type DPoP), and a public client's
// refresh token too, so that using either takes the key. A client
// registered with dpop_bound_access_tokens must send a proof with every
// token request; an authorization request may name the key its code's
// exchange must prove (dpop_jkt). Proofs are used once across instances
// (the store's one-time values), and with DPoPNonces a proof must also
// carry a nonce the server handed out (use_dpop_nonce), which rotates.

// jktForm is the form of a key thumbprint: base64url of a SHA-256 hash.
var jktForm = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)

// dpopReplays adapts the store's one-time values to dpop.Replays.
type dpopReplays struct{ store replayStore }

func (d dpopReplays) UseOnce(ctx context.Context, key string, expiresAt, now time.Time) error {
	err := d.store.UseOnce(ctx, "dpop\x00"+key, expiresAt, now)
	if errors.Is(err, storage.ErrAlreadyUsed) {
		return dpop.ErrReplayed
	}
	return err
}

// dpopProof checks the DPoP proof of a token request and returns the
// thumbprint of its key: "" when there is no proof and the client does not
// need one.
func (s *Server) dpopProof(w http.ResponseWriter, r *http.Request, c storage.Client) (string, error) {
	proof, perr := dpop.ProofFrom(r.Header)
	switch {
	case perr != nil:
		return "", s.dpopRefused(w, perr)
	case proof == "" && (c.DPoPBound || c.Profile == storage.ProfileFAPI2):
		return "", s.dpopRefused(w, &dpop.Error{Code: dpop.InvalidProof, Description: "this client's token requests need a DPoP proof"})
	case proof == "":
		return "", nil
	}
	p, err := s.dpop.Check(r.Context(), proof, dpop.Request{Method: r.Method, URL: s.cfg.Issuer + r.URL.Path})
	var de *dpop.Error
	switch {
	case errors.As(err, &de):
		return "", s.dpopRefused(w, de)
	case err != nil:
		return "", serverError(err, "checking a DPoP proof")
	}
	return p.JKT, nil
}

// dpopRefused is a refused proof as the token endpoint answers it (RFC 9449
// §5, §8): 400 with the proof's error code, and the current nonce when one
// is asked for.
func (s *Server) dpopRefused(w http.ResponseWriter, e *dpop.Error) error {
	oe := &oidc.Error{ErrorType: dpop.InvalidProof, Description: e.Description}
	if e.Code == dpop.UseNonce && s.dpop.Nonces != nil {
		w.Header().Set(dpop.HeaderNonce, s.dpop.Nonces.Current())
		oe.ErrorType = dpop.UseNonce
	}
	return statusError(http.StatusBadRequest, oe)
}

// errDPoPKey refuses a token request whose proof is of another key than
// the code or refresh token is bound to.
func errDPoPKey(what string) error {
	return statusError(http.StatusBadRequest, &oidc.Error{ErrorType: dpop.InvalidProof,
		Description: what + " is bound to another DPoP key than this proof's"})
}
