package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
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
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar, Timeout: c.http.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return &browser{c: c, hc: hc, k: first}
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
	b.steps = append(b.steps, step{method: method, path: u.Path, role: b.role(u), status: r.status, instance: r.instance})
	if r.instance != pin {
		return r, fmt.Errorf("%s %s: served by instance %d, pinned to %d", method, u.Path, r.instance, pin)
	}
	return r, nil
}

// walk follows redirects from start, signing in as username/password on
// the login page and allowing on the consent page, until a redirect to a URL
// starting with stop (returned, not followed) or any other page.
func (b *browser) walk(ctx context.Context, start, stop, username, password string) (*url.URL, reply, error) {
	next, err := url.Parse(start)
	if err != nil {
		return nil, reply{}, err
	}
	method, form := http.MethodGet, url.Values(nil)
	for range 12 {
		r, err := b.do(ctx, method, next, form)
		if err != nil {
			return nil, r, err
		}
		page := string(r.body)
		switch {
		case r.status == http.StatusFound || r.status == http.StatusSeeOther:
			loc, err := next.Parse(r.header.Get("Location"))
			if err != nil {
				return nil, r, err
			}
			if stop != "" && strings.HasPrefix(loc.String(), stop) {
				return loc, r, nil
			}
			next, method, form = loc, http.MethodGet, nil
		case r.status == http.StatusOK && strings.Contains(page, `name="password"`):
			action, fields, err := findForm(page, "/login")
			if err != nil {
				return nil, r, err
			}
			fields.Set("username", username)
			fields.Set("password", password)
			if next, err = next.Parse(action); err != nil {
				return nil, r, err
			}
			method, form = http.MethodPost, fields
		case r.status == http.StatusOK && strings.Contains(page, `name="decision"`):
			action, fields, err := findForm(page, "/consent")
			if err != nil {
				return nil, r, err
			}
			fields.Set("decision", "allow")
			if next, err = next.Parse(action); err != nil {
				return nil, r, err
			}
			method, form = http.MethodPost, fields
		default:
			return next, r, nil
		}
	}
	return nil, reply{}, errors.New("too many steps")
}

var (
	formRE  = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input[^>]*>`)
	attrRE  = regexp.MustCompile(`([a-z_-]+)="([^"]*)"`)
)

// findForm returns the action and named inputs of the first form whose
// action path ends with suffix.
func findForm(page, suffix string) (string, url.Values, error) {
	for _, m := range formRE.FindAllStringSubmatch(page, -1) {
		action := html.UnescapeString(m[1])
		u, err := url.Parse(action)
		if err != nil || !strings.HasSuffix(u.Path, suffix) {
			continue
		}
		fields := url.Values{}
		for _, in := range inputRE.FindAllString(m[2], -1) {
			attrs := map[string]string{}
			for _, a := range attrRE.FindAllStringSubmatch(in, -1) {
				attrs[a[1]] = html.UnescapeString(a[2])
			}
			if attrs["name"] != "" {
				fields.Set(attrs["name"], attrs["value"])
			}
		}
		return action, fields, nil
	}
	return "", nil, fmt.Errorf("no form posting to %s on the page", suffix)
}

// authorizeURL is an authorization request with PKCE S256 (RFC 7636) for
// client id; it returns the URL, the state and the verifier.
func (c *cluster) authorizeURL(id, redirectURI, scope string) (string, string, string) {
	verifier, state := randomString(), randomString()
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {id}, "redirect_uri": {redirectURI},
		"scope": {scope}, "state": {state}, "nonce": {randomString()},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	return c.authz.url() + "/authorize?" + q.Encode(), state, verifier
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
