package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/gatehouse-dev/gatehouse/internal/authz/keys"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2, §3).
//
// id_token_hint is verified with op's ID-token-hint verifier against the
// published keys (a hint signed by a withdrawn key is not accepted). An
// expired hint is accepted, as §2 allows, to name the client, but not the
// person. post_logout_redirect_uri must be registered by the client the
// hint names (or client_id), by the same rule as redirect_uri at the
// authorization endpoint (registeredURI); without one the person lands on
// /signed-out. The session ends at once only when an unexpired hint names
// the signed-in person; otherwise the person is asked on the /logout page,
// so a third party cannot sign people out with a link. Errors are shown on
// a page: the redirect target is not trusted until it is validated.

func (s *Server) serveEndSession(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	f := r.Form
	target, userID, clientID, err := s.endSessionTarget(ctx, f.Get("id_token_hint"), f.Get("client_id"), f.Get("post_logout_redirect_uri"))
	if err != nil {
		status, _ := s.oauthError(r, err)
		msg := "The sign-out request is not valid."
		if status >= 500 {
			msg = "The service is unavailable. Try again shortly."
		}
		s.pages.errorPage(w, status, msg)
		return
	}
	if st := f.Get("state"); st != "" {
		u, _ := url.Parse(target) // registered or ours: parses
		q := u.Query()
		q.Set("state", st)
		u.RawQuery = q.Encode()
		target = u.String()
	}
	sess, signedIn := s.currentSession(r)
	if signedIn && (userID == "" || userID != sess.UserID) {
		http.Redirect(w, r, s.cfg.Issuer+"/logout", http.StatusSeeOther)
		return
	}
	if signedIn {
		if err := s.store.DeleteLoginSession(ctx, sess.ID); err != nil {
			s.requestError(w, r, shapePage, serverError(err, "ending login session"))
			return
		}
		s.audit.InfoContext(ctx, "signed out", "event", "logout", "user_id", sess.UserID, "client_id", clientID)
		s.pages.clearSessionCookie(w)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// endSessionTarget validates an end-session request and returns where to
// send the person, the user the hint names and the client.
func (s *Server) endSessionTarget(ctx context.Context, hint, clientID, postLogout string) (target, userID, client string, err error) {
	target = s.cfg.Issuer + "/signed-out"
	if hint != "" {
		claims, expired, err := s.verifyIDTokenHint(ctx, hint)
		if err != nil {
			return "", "", "", invalidRequest("id_token_hint invalid")
		}
		if clientID != "" && clientID != claims.AuthorizedParty {
			return "", "", "", invalidRequest("client_id does not match azp of id_token_hint")
		}
		clientID = claims.AuthorizedParty
		if !expired {
			// An expired hint still names the client and so where to
			// return, but no longer vouches for the person: whoever holds
			// an old ID token could otherwise sign them out without asking.
			userID = claims.Subject
		}
	}
	if clientID == "" {
		if postLogout != "" {
			return "", "", "", invalidRequest("post_logout_redirect_uri needs client_id or id_token_hint")
		}
		return target, userID, "", nil
	}
	c, err := s.store.GetClient(ctx, clientID)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return "", "", "", invalidRequest("unknown client")
	case err != nil:
		return "", "", "", serverError(err, "loading client")
	}
	if postLogout != "" {
		if !registeredURI(c.PostLogoutRedirectURIs, c.Public, postLogout) {
			return "", "", "", invalidRequest("post_logout_redirect_uri is not registered")
		}
		target = postLogout
	}
	return target, userID, c.ID, nil
}

// verifyIDTokenHint verifies an id_token_hint: an ID token this server
// issued, signed by a published key with one of IDTokenAlgs (whichever its
// client is registered with now or was when the token was issued). An
// expired one is accepted, and said to be (OpenID Connect Core §3.1.2.1,
// RP-Initiated Logout §2).
func (s *Server) verifyIDTokenHint(ctx context.Context, hint string) (claims *oidc.IDTokenClaims, expired bool, err error) {
	v := op.NewIDTokenHintVerifier(s.cfg.Issuer, idTokenKeySet{keys: s.keys, now: s.now}, op.WithSupportedIDTokenHintSigningAlgorithms(algNames(IDTokenAlgs())...))
	claims, err = op.VerifyIDTokenHint[*oidc.IDTokenClaims](ctx, hint, v)
	if errors.As(err, &op.IDTokenHintExpiredError{}) {
		return claims, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return claims, false, nil
}

// idTokenKeySet verifies ID-token signatures against the published keys
// (oidc.KeySet for op's verifier): the key the kid names, of the
// algorithm the alg header names, one of IDTokenAlgs, so never HMAC or
// none. The typ header must be JWT, as this server's ID tokens have it:
// ES256 signs access tokens (typ at+jwt) with the same key, and one is no
// ID token (RFC 8725 §3.11).
type idTokenKeySet struct {
	keys *keys.Manager
	now  func() time.Time
}

func (k idTokenKeySet) VerifySignature(_ context.Context, jws *jose.JSONWebSignature) ([]byte, error) {
	if len(jws.Signatures) != 1 {
		return nil, errors.New("want one signature")
	}
	h := jws.Signatures[0].Header
	alg := jose.SignatureAlgorithm(h.Algorithm)
	if !slices.Contains(IDTokenAlgs(), alg) {
		return nil, fmt.Errorf("algorithm %q signs no ID tokens", h.Algorithm)
	}
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != idTokenType {
		return nil, fmt.Errorf("typ %q is not an ID token's", typ)
	}
	key, ok := k.keys.Lookup(h.KeyID, k.now())
	if !ok || key.Algorithm != alg {
		return nil, fmt.Errorf("unknown key %q", h.KeyID)
	}
	return jws.Verify(key.Public.Key)
}
