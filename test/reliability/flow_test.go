package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
)

// demo signs in as the demo user.
var demo = flowtest.Login{Username: "demo", Password: demoPassword}

// submit posts the form on page (at base) whose action ends with suffix,
// with the given fields set, and follows browser b to the next page.
func submit(ctx context.Context, b *http.Client, base string, page flowtest.Reply, suffix string, set url.Values) (flowtest.Reply, error) {
	return flowtest.Submit(ctx, flowtest.ClientDoer(b), base, page, suffix, set)
}

// authorize runs the authorization code flow with PKCE on browser b as
// the demo user and returns the grant.
func authorize(ctx context.Context, b *http.Client, authz string, c flowtest.Client, scope string) (flowtest.Grant, error) {
	g, _, err := flowtest.Authorize(ctx, flowtest.ClientDoer(b), authz, c, scope, demo)
	return g, err
}

func clientCredentials(ctx context.Context, hc *http.Client, authz string, c flowtest.Client) (flowtest.Tokens, flowtest.Reply, error) {
	return flowtest.Token(ctx, hc, authz, c, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read todos:write"}})
}

// introspect asks whether tok is active (RFC 7662 §2.2), as client c.
func introspect(ctx context.Context, hc *http.Client, authz string, c flowtest.Client, tok string) (bool, error) {
	r, err := flowtest.Send(ctx, hc, http.MethodPost, authz+"/introspect", flowtest.FormHeader(c.ID, c.Secret), []byte(url.Values{"token": {tok}}.Encode()))
	if err != nil {
		return false, err
	}
	if r.Status != http.StatusOK {
		return false, fmt.Errorf("introspection answered %d: %.200s", r.Status, r.Body)
	}
	var v struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil {
		return false, err
	}
	return v.Active, nil
}

// webappSignIn signs a new browser in to the web app (login page of the
// authorization server, callback, the signed-in page) and returns it.
func webappSignIn(ctx context.Context, hc *http.Client, webapp string) (*http.Client, error) {
	b, _, err := webappSignInPage(ctx, hc, webapp)
	return b, err
}

// webappSignInPage is webappSignIn, also returning the signed-in page.
func webappSignInPage(ctx context.Context, hc *http.Client, webapp string) (*http.Client, flowtest.Reply, error) {
	b := flowtest.Browser(hc)
	_, r, err := flowtest.Walk(ctx, flowtest.ClientDoer(b), http.MethodGet, webapp+"/login", nil, "", demo)
	if err != nil {
		return nil, r, fmt.Errorf("web app sign-in: %w", err)
	}
	if !signedIn(r) {
		return nil, r, fmt.Errorf("web app sign-in ended with %d: %.300s", r.Status, r.Body)
	}
	return b, r, nil
}

// signedIn reports whether r is a web app page for a signed-in person.
func signedIn(r flowtest.Reply) bool {
	return r.Status == http.StatusOK && strings.Contains(string(r.Body), `action="/logout"`)
}
