package loadtest

import (
	"context"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
)

// codeFlow walks the authorization code flow like a browser would: the
// authorization request, the login form, the consent form when asked, up to
// the redirect carrying the code.
type codeFlow struct {
	authz  string // the authorization server's base URL
	client flowtest.Client
	scope  string
	login  flowtest.Login
}

// code runs one authorization request on browser b (see flowtest.Browser)
// and returns the grant. A browser already signed in gets it at once; one
// that is not signs in through the login form (and allows consent if asked).
func (f *codeFlow) code(ctx context.Context, b *http.Client) (flowtest.Grant, error) {
	g, _, err := flowtest.Authorize(ctx, flowtest.ClientDoer(b), f.authz, f.client, f.scope, f.login)
	return g, err
}

// exchangeBody is the token request redeeming g.
func (f *codeFlow) exchangeBody(g flowtest.Grant) []byte {
	return []byte(g.Exchange(f.client.RedirectURI).Encode())
}
