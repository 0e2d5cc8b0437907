package flowtest

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// Client is a registered OAuth client.
type Client struct {
	ID, Secret, RedirectURI string
}

// Basic is the client's client_secret_basic Authorization header value.
func (c Client) Basic() string { return BasicAuth(c.ID, c.Secret) }

// AuthRequest is an authorization request with PKCE S256 (RFC 7636).
type AuthRequest struct {
	URL      string // the authorization endpoint with the request's query
	State    string
	Verifier string // redeems the code
}

// NewAuthRequest is an authorization code request for client c at the
// authorization server authz (its base URL), with a fresh state, nonce and
// PKCE verifier.
func NewAuthRequest(authz string, c Client, scope string) AuthRequest {
	a := AuthRequest{State: RandomString(), Verifier: oauth2.GenerateVerifier()}
	sum := sha256.Sum256([]byte(a.Verifier))
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.ID},
		"redirect_uri":          {c.RedirectURI},
		"scope":                 {scope},
		"state":                 {a.State},
		"nonce":                 {RandomString()},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	a.URL = authz + "/authorize?" + q.Encode()
	return a
}

// Grant is an authorization code and the PKCE verifier that redeems it.
type Grant struct {
	Code, Verifier string
}

// Exchange is the token request redeeming g for a client with the
// redirect URI redirectURI (RFC 6749 §4.1.3, RFC 7636 §4.5).
func (g Grant) Exchange(redirectURI string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {g.Code},
		"redirect_uri":  {redirectURI},
		"code_verifier": {g.Verifier},
	}
}

// Callback checks the redirect to the client (RFC 6749 §4.1.2: a code and
// the request's state) and returns the grant.
func (a AuthRequest) Callback(loc *url.URL) (Grant, error) {
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return Grant{}, fmt.Errorf("authorization flow: error %q: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != a.State {
		return Grant{}, errors.New("authorization flow: state does not match")
	}
	if q.Get("code") == "" {
		return Grant{}, errors.New("authorization flow: no code")
	}
	return Grant{Code: q.Get("code"), Verifier: a.Verifier}, nil
}

// Authorize runs the authorization code flow with PKCE for client c on a
// browser (do), signing in as login and allowing consent when asked, and
// returns the grant from the redirect to the client. A browser already
// signed in gets it at once. The reply is the last answer.
func Authorize(ctx context.Context, do Doer, authz string, c Client, scope string, login Login) (Grant, Reply, error) {
	a := NewAuthRequest(authz, c, scope)
	loc, r, err := Walk(ctx, do, http.MethodGet, a.URL, nil, c.RedirectURI, login)
	if err != nil {
		return Grant{}, r, fmt.Errorf("authorization flow: %w", err)
	}
	if loc == nil || !strings.HasPrefix(loc.String(), c.RedirectURI) {
		return Grant{}, r, fmt.Errorf("authorization flow ended at %v with %d: %.200s", loc, r.Status, r.Body)
	}
	g, err := a.Callback(loc)
	return g, r, err
}

// Tokens is a token response (RFC 6749 §5.1, or §5.2 with Error set).
type Tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	Error        string `json:"error"`
}

// Token posts a token request as client c to the authorization server
// authz and decodes a 200 answer carrying a bearer token; any other answer
// comes back as an error along with the reply.
func Token(ctx context.Context, hc *http.Client, authz string, c Client, params url.Values) (Tokens, Reply, error) {
	r, err := Send(ctx, hc, http.MethodPost, authz+"/token", FormHeader(c.ID, c.Secret), []byte(params.Encode()))
	if err != nil {
		return Tokens{}, r, fmt.Errorf("token request: %w", err)
	}
	var t Tokens
	if r.Status != http.StatusOK {
		return t, r, fmt.Errorf("token endpoint answered %d: %.300s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &t); err != nil || t.AccessToken == "" || !strings.EqualFold(t.TokenType, "Bearer") {
		return t, r, fmt.Errorf("token response %.300s: not a bearer token (%v)", r.Body, err)
	}
	return t, r, nil
}
