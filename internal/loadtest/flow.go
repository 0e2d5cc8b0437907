package loadtest

import (
	"context"
	"net/http"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
)

// codeFlow walks the authorization code flow like a browser would: the
// authorization request, the login form, the consent form when asked, up to
// the redirect carrying the code.
type codeFlow struct {
	authz  string // the authorization server's base URL
	client flowtest.Client
	scope  string
	logins []flowtest.Login // taken in turn
	next   atomic.Uint32
}

// signInUsers is how many people the load tool signs in as: with 64
// connections, 4 sign-ins in flight per person at most, well under the
// lockout's 10 attempts per person.
const signInUsers = 16

// code runs one authorization request on browser b (see flowtest.Browser)
// and returns the grant. A browser already signed in gets it at once; one
// that is not signs in through the login form (and allows consent if asked).
func (f *codeFlow) code(ctx context.Context, b *http.Client) (flowtest.Grant, error) {
	login := f.logins[int(f.next.Add(1))%len(f.logins)]
	g, _, err := flowtest.Authorize(ctx, flowtest.ClientDoer(b), f.authz, f.client, f.scope, login)
	return g, err
}

// exchangeBody is the token request redeeming g.
func (f *codeFlow) exchangeBody(g flowtest.Grant) []byte {
	return []byte(g.Exchange(f.client.RedirectURI).Encode())
}
