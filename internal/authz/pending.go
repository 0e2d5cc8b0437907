package authz

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// An authorization request waits for the person to sign in without a row in
// the database: /authorize seals it (encrypted and authenticated with a key
// derived from the server secret) into the login page's address, and the
// row is written only once the person has signed in. So requests from
// anyone, in any number, write nothing; a signed-in person's requests are
// written (the consent page and the code refer to them).

// maxSealedRequest bounds a sealed request, so that the login page's
// address stays well under what browsers and proxies accept. /authorize
// refuses a request that seals larger (its parameters are bounded by
// maxAuthorizeParam each, but a few long ones add up), and the login page
// opens nothing larger.
const maxSealedRequest = 16 << 10

// errRequestTooLarge: a request seals to more than maxSealedRequest.
var errRequestTooLarge = errors.New("the authorization request is too large")

// pendingPurpose binds sealed requests to their use: no other value sealed
// with the server secret opens as one.
var pendingPurpose = []byte("gatehouse authz pending authorization request")

// pendingRequest is an authorization request waiting for the person to sign
// in.
type pendingRequest struct {
	storage.AuthRequest
	// HintSubject is the person the request's id_token_hint names: only
	// they may answer it (OpenID Connect Core §3.1.2.1). Empty without a
	// hint.
	HintSubject string `json:",omitempty"`
	// ACRValues are the request's acr_values (OpenID Connect Core
	// §3.1.2.1), in order of preference: asking ACRMultiFactor makes the
	// sign-in take a second factor.
	ACRValues []string `json:",omitempty"`
}

// holdToClient applies what the client's registration requires whatever
// the request says: a client with RequireMFA gets acr_values ACRMultiFactor
// alone (a browser can strip the parameter, and a request sealed before
// the client came to require it must take it too).
func (p *pendingRequest) holdToClient(client storage.Client) {
	if client.RequireMFA {
		p.ACRValues = []string{ACRMultiFactor}
	}
}

// pendingSealer seals and opens pending authorization requests.
type pendingSealer struct {
	key *secret.Key
}

func newPendingSealer(key *secret.Key) *pendingSealer { return &pendingSealer{key: key} }

// seal returns req as an opaque URL-safe string.
func (p *pendingSealer) seal(req pendingRequest) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // <, > and & stay one byte each
	if err := enc.Encode(req); err != nil {
		return "", fmt.Errorf("encoding pending request: %w", err)
	}
	sealed, err := p.key.Seal(b.Bytes(), pendingPurpose)
	if err != nil {
		return "", fmt.Errorf("sealing pending request: %w", err)
	}
	v := base64.RawURLEncoding.EncodeToString(sealed)
	if len(v) > maxSealedRequest {
		return "", errRequestTooLarge
	}
	return v, nil
}

// open returns the request sealed in v, if it was sealed here and has not
// expired at now.
func (p *pendingSealer) open(v string, now time.Time) (pendingRequest, error) {
	if v == "" || len(v) > maxSealedRequest {
		return pendingRequest{}, errors.New("no pending request")
	}
	sealed, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil {
		return pendingRequest{}, fmt.Errorf("pending request: %w", err)
	}
	b, err := p.key.Open(sealed, pendingPurpose)
	if err != nil {
		return pendingRequest{}, fmt.Errorf("pending request: %w", err)
	}
	var req pendingRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return pendingRequest{}, fmt.Errorf("pending request: %w", err)
	}
	if !now.Before(req.ExpiresAt) {
		return pendingRequest{}, errors.New("pending request expired")
	}
	return req, nil
}
