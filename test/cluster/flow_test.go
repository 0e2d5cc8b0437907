package cluster

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
)

// step is one browser request and the instance that answered it.
type step struct {
	method, path string
	role         string
	status       int
	instance     int
}

func (s step) String() string {
	return fmt.Sprintf("%-6s %-4s %-28s → %d on instance %d", s.role, s.method, s.path, s.status, s.instance)
}

// browser is a cookie jar that follows redirects by hand and sends request
// number k to instance k mod 3 (+1) of whichever role it goes to, so that
// consecutive steps land on different instances.
type browser struct {
	c     *cluster
	hc    *http.Client
	steps []step
	k     int
}

func (c *cluster) newBrowser(first int) *browser {
	return &browser{c: c, hc: flowtest.Browser(&http.Client{Timeout: c.http.Timeout}), k: first}
}

func (b *browser) role(u *url.URL) string {
	for _, p := range []*proxy{b.c.authz, b.c.api, b.c.webapp} {
		if strings.HasPrefix(u.String(), p.url()) {
			return p.role
		}
	}
	return "?"
}

func (b *browser) do(ctx context.Context, method string, u *url.URL, form url.Values) (reply, error) {
	pin := b.k%instances + 1
	b.k++
	var body []byte
	h := http.Header{}
	if form != nil {
		body = []byte(form.Encode())
		h.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	r, err := send(ctx, b.hc, method, u.String(), h, body, pin)
	if err != nil {
		return r, fmt.Errorf("%s %s: %w", method, u.Path, err)
	}
	b.steps = append(b.steps, step{method: method, path: u.Path, role: b.role(u), status: r.Status, instance: r.instance})
	if r.instance != pin {
		return r, fmt.Errorf("%s %s: served by instance %d, pinned to %d", method, u.Path, r.instance, pin)
	}
	return r, nil
}

// walk follows redirects from start, signing in as username/password on
// the login page and allowing on the consent page (see flowtest.Walk), each
// request pinned to the next instance; the reply is from the last step.
func (b *browser) walk(ctx context.Context, start, stop, username, password string) (*url.URL, reply, error) {
	do := func(ctx context.Context, method string, u *url.URL, form url.Values) (flowtest.Reply, error) {
		r, err := b.do(ctx, method, u, form)
		return r.Reply, err
	}
	loc, r, err := flowtest.Walk(ctx, do, http.MethodGet, start, nil, stop, flowtest.Login{Username: username, Password: password})
	last := reply{Reply: r}
	if len(b.steps) > 0 {
		last.instance = b.steps[len(b.steps)-1].instance
	}
	return loc, last, err
}

// authorizeURL is an authorization request with PKCE S256 (RFC 7636) for
// client id; it returns the URL, the state and the verifier.
func (c *cluster) authorizeURL(id, redirectURI, scope string) (string, string, string) {
	a := flowtest.NewAuthRequest(c.authz.url(), flowtest.Client{ID: id, RedirectURI: redirectURI}, scope)
	return a.URL, a.State, a.Verifier
}
