package flowtest

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Doer makes one browser request: a GET when form is nil, else a POST of
// form.
type Doer func(ctx context.Context, method string, u *url.URL, form url.Values) (Reply, error)

// ClientDoer is the Doer of browser b (see Browser).
func ClientDoer(b *http.Client) Doer {
	return func(ctx context.Context, method string, u *url.URL, form url.Values) (Reply, error) {
		var body []byte
		h := http.Header{}
		if form != nil {
			body = []byte(form.Encode())
			h.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		r, err := Send(ctx, b, method, u.String(), h, body)
		if err != nil {
			return r, fmt.Errorf("%s %s: %w", method, u.Path, err)
		}
		return r, nil
	}
}

// Login is who signs in on the login page.
type Login struct {
	Username, Password string
}

// maxSteps bounds the requests of one Walk.
const maxSteps = 12

// Walk follows a browser from start (a GET, or a POST when form is set)
// through redirects, the login form (signing in as login) and the consent
// form (allowing), until a redirect to a URL starting with stop (returned,
// not followed) or a page that is neither (its URL and the page returned).
func Walk(ctx context.Context, do Doer, method, start string, form url.Values, stop string, login Login) (*url.URL, Reply, error) {
	next, err := url.Parse(start)
	if err != nil {
		return nil, Reply{}, fmt.Errorf("start URL: %w", err)
	}
	for range maxSteps {
		r, err := do(ctx, method, next, form)
		if err != nil {
			return nil, r, err
		}
		page := string(r.Body)
		var (
			suffix string
			set    url.Values
		)
		switch {
		case r.Status == http.StatusFound || r.Status == http.StatusSeeOther:
			loc, err := next.Parse(r.Header.Get("Location"))
			if err != nil {
				return nil, r, fmt.Errorf("redirect from %s: %w", next.Path, err)
			}
			if stop != "" && strings.HasPrefix(loc.String(), stop) {
				return loc, r, nil
			}
			next, method, form = loc, http.MethodGet, nil
			continue
		case r.Status == http.StatusOK && strings.Contains(page, `name="password"`):
			suffix, set = "/login", url.Values{"username": {login.Username}, "password": {login.Password}}
		case r.Status == http.StatusOK && strings.Contains(page, `name="decision"`):
			suffix, set = "/consent", url.Values{"decision": {"allow"}}
		default:
			return next, r, nil
		}
		if next, form, err = fill(next, page, suffix, set); err != nil {
			return nil, r, err
		}
		method = http.MethodPost
	}
	return nil, Reply{}, errors.New("too many steps")
}

// fill finds the form on page (at base) whose action ends with suffix and
// sets the fields in set; it returns where the form posts and its fields.
func fill(base *url.URL, page, suffix string, set url.Values) (*url.URL, url.Values, error) {
	action, fields, err := FindForm(page, suffix)
	if err != nil {
		return nil, nil, err
	}
	for k, v := range set {
		fields[k] = v
	}
	u, err := base.Parse(action)
	if err != nil {
		return nil, nil, fmt.Errorf("form action %q: %w", action, err)
	}
	return u, fields, nil
}

// Submit posts the form on page (found at base) whose action ends with
// suffix, with the fields in set, and walks on to the next page (see Walk,
// without signing in).
func Submit(ctx context.Context, do Doer, base string, page Reply, suffix string, set url.Values) (Reply, error) {
	b, err := url.Parse(base)
	if err != nil {
		return Reply{}, fmt.Errorf("page URL: %w", err)
	}
	u, fields, err := fill(b, string(page.Body), suffix, set)
	if err != nil {
		return Reply{}, err
	}
	_, r, err := Walk(ctx, do, http.MethodPost, u.String(), fields, "", Login{})
	return r, err
}

var (
	formRE  = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input[^>]*>`)
	attrRE  = regexp.MustCompile(`([a-z_-]+)="([^"]*)"`)
)

// FindForm returns the action and the named inputs' values of the first
// form on page whose action path ends with suffix.
func FindForm(page, suffix string) (string, url.Values, error) {
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
