package authz

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Pushed authorization requests (RFC 9126). A client posts its
// authorization request's parameters to /par, authenticating as at the
// token endpoint; they are checked as /authorize would check them, and the
// answer is a request_uri the client sends the person's browser to
// /authorize with, beside its client_id. The parameters never travel
// through the browser, where they could be read or changed.
//
// The request_uri holds the parameters sealed with the server secret (as a
// pending request is: pending.go), so any instance can open it; it is used
// once (the store's one-time values), within parLifetime. A DPoP proof at
// /par binds the code to its key, as dpop_jkt would (RFC 9449 §10.1).

const (
	// requestURIPrefix begins every request_uri (RFC 9126 §2.2).
	requestURIPrefix = "urn:ietf:params:oauth:request_uri:"
	// parLifetime is how long a request_uri can be used: long enough for a
	// redirect, short as RFC 9126 §2.2 advises.
	parLifetime = 60 * time.Second
	// parPurpose separates sealed pushed requests from other sealed values.
	parPurpose = "gatehouse pushed authorization request"
)

// errPushedUnavailable: whether a request_uri was used could not be
// checked.
var errPushedUnavailable = errors.New("pushed request: the store is unavailable")

// pushedRequest is what a request_uri seals.
type pushedRequest struct {
	ID        string     `json:"id"` // used once
	ClientID  string     `json:"client_id"`
	Params    url.Values `json:"params"`
	ExpiresAt time.Time  `json:"exp"`
}

// servePAR is the pushed authorization request endpoint (RFC 9126 §2).
func (s *Server) servePAR(w http.ResponseWriter, r *http.Request) {
	if len(r.URL.RawQuery) > 0 {
		s.requestError(w, r, shapeJSON, invalidRequest("parameters must be sent in the body"))
		return
	}
	client, err := s.clients.authenticate(r, usePublicAllowed)
	if err != nil {
		s.requestError(w, r, shapeJSON, err)
		return
	}
	// The authorization request's parameters: the body without the
	// client's credentials.
	params := url.Values{}
	for k, v := range r.PostForm {
		switch k {
		case "client_secret", "client_assertion", "client_assertion_type":
		default:
			params[k] = v
		}
	}
	params.Set("client_id", client.ID)
	if params.Has("request_uri") {
		// RFC 9126 §2.1: a pushed request cannot point to another.
		s.requestError(w, r, shapeJSON, invalidRequest("request_uri is not allowed in a pushed request"))
		return
	}
	// A DPoP proof binds the code to its key (RFC 9449 §10.1).
	proof, perr := dpop.ProofFrom(r.Header)
	if perr != nil {
		s.requestError(w, r, shapeJSON, s.dpopRefused(w, perr))
		return
	}
	if proof != "" {
		p, err := s.dpop.Check(r.Context(), proof, dpop.Request{Method: r.Method, URL: s.cfg.Issuer + r.URL.Path})
		var de *dpop.Error
		switch {
		case errors.As(err, &de):
			s.requestError(w, r, shapeJSON, s.dpopRefused(w, de))
			return
		case err != nil:
			s.requestError(w, r, shapeJSON, serverError(err, "checking a DPoP proof"))
			return
		}
		if jkt := params.Get("dpop_jkt"); jkt != "" && jkt != p.JKT {
			s.requestError(w, r, shapeJSON, statusError(http.StatusBadRequest, &oidc.Error{ErrorType: dpop.InvalidProof,
				Description: "dpop_jkt names another key than the proof's"}))
			return
		}
		params.Set("dpop_jkt", p.JKT)
	}
	if !redirectAllowed(client, params.Get("redirect_uri")) {
		s.requestError(w, r, shapeJSON, invalidRequest("redirect_uri is not registered for this client"))
		return
	}
	if _, aerr := s.authorizationRequest(r.Context(), client, params); aerr != nil {
		s.requestError(w, r, shapeJSON, statusError(http.StatusBadRequest, authzErrorAsOAuth(*aerr)))
		return
	}
	uri, err := s.sealPushed(client.ID, params)
	if err != nil {
		s.requestError(w, r, shapeJSON, serverError(err, "sealing a pushed request"))
		return
	}
	s.audit.InfoContext(r.Context(), "authorization request pushed", "event", "par", "client_id", client.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"request_uri": uri, "expires_in": int(parLifetime.Seconds())})
}

// authzErrorAsOAuth is an authorization error as a JSON error (RFC 9126
// §2.3 answers with the authorization endpoint's error codes).
func authzErrorAsOAuth(e authzError) *oidc.Error {
	oe := oidc.ErrInvalidRequest().WithDescription("%s", e.description)
	switch e.code {
	case "invalid_scope":
		oe = oidc.ErrInvalidScope().WithDescription("%s", e.description)
	case "unauthorized_client":
		oe = oidc.ErrUnauthorizedClient().WithDescription("%s", e.description)
	case "unsupported_response_type":
		oe = &oidc.Error{ErrorType: "unsupported_response_type", Description: e.description}
	case "request_not_supported":
		oe = oidc.ErrRequestNotSupported().WithDescription("%s", e.description)
	}
	return oe
}

// sealPushed returns the request_uri of params pushed by clientID.
func (s *Server) sealPushed(clientID string, params url.Values) (string, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	b, err := json.Marshal(pushedRequest{
		ID: base64.RawURLEncoding.EncodeToString(id), ClientID: clientID, Params: params, ExpiresAt: s.now().Add(parLifetime),
	})
	if err != nil {
		return "", err
	}
	sealed, err := s.cfg.Secret.Seal(b, []byte(parPurpose))
	if err != nil {
		return "", err
	}
	return requestURIPrefix + base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openPushed returns the parameters a request_uri sealed for client,
// using it up: a request_uri sealed here, for this client, unexpired and
// not used before. errPushedUnavailable if the store could not say
// whether it was used.
func (s *Server) openPushed(ctx context.Context, client storage.Client, uri string) (url.Values, error) {
	v, ok := strings.CutPrefix(uri, requestURIPrefix)
	if !ok || len(v) > maxSealedRequest {
		return nil, errors.New("pushed request: not a request_uri of this server")
	}
	sealed, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("pushed request: %w", err)
	}
	b, err := s.cfg.Secret.Open(sealed, []byte(parPurpose))
	if err != nil {
		return nil, fmt.Errorf("pushed request: %w", err)
	}
	var p pushedRequest
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("pushed request: %w", err)
	}
	now := s.now()
	if p.ClientID != client.ID || !now.Before(p.ExpiresAt) {
		return nil, errors.New("pushed request: another client's, or expired")
	}
	switch err := s.store.UseOnce(ctx, "par\x00"+p.ID, p.ExpiresAt, now); {
	case errors.Is(err, storage.ErrAlreadyUsed):
		s.audit.WarnContext(ctx, "request_uri used twice", "event", "par_reuse", "client_id", client.ID)
		return nil, errors.New("pushed request: already used")
	case err != nil:
		s.log.ErrorContext(ctx, "recording a request_uri's use", "err", err)
		return nil, errPushedUnavailable
	}
	return p.Params, nil
}
