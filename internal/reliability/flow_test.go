package reliability

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// newBrowser returns a client with a cookie jar of its own that does not
// follow redirects: the flows below follow them step by step.
func newBrowser(c *http.Client) *http.Client {
	jar, _ := cookiejar.New(nil)
	b := *c
	b.Jar = jar
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &b
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// walk follows a browser from start through redirects, the login form and
// the consent form (allowing), until a redirect to a URL starting with stop
// (returned, not followed) or a page that is neither (returned as reply).
func walk(ctx context.Context, b *http.Client, start, stop, username, password string) (*url.URL, reply, error) {
	return walkFrom(ctx, b, http.MethodGet, start, nil, stop, username, password)
}

// submit posts the form on page (at base) whose action ends with suffix,
// with the given fields set, and follows the browser to the next page.
func submit(ctx context.Context, b *http.Client, base string, page reply, suffix string, set url.Values) (reply, error) {
	action, fields, err := findForm(string(page.body), suffix)
	if err != nil {
		return reply{}, err
	}
	for k, v := range set {
		fields[k] = v
	}
	u, err := url.Parse(base)
	if err != nil {
		return reply{}, err
	}
	if u, err = u.Parse(action); err != nil {
		return reply{}, err
	}
	_, r, err := walkFrom(ctx, b, http.MethodPost, u.String(), fields, "", "", "")
	return r, err
}

func walkFrom(ctx context.Context, b *http.Client, method, start string, body url.Values, stop, username, password string) (*url.URL, reply, error) {
	next, err := url.Parse(start)
	if err != nil {
		return nil, reply{}, err
	}
	for range 10 {
		h := http.Header{}
		var raw []byte
		if body != nil {
			raw = []byte(body.Encode())
			h.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		r, err := send(ctx, b, method, next.String(), h, raw)
		if err != nil {
			return nil, r, fmt.Errorf("%s %s: %w", method, next.Path, err)
		}
		page := string(r.body)
		switch {
		case r.status == http.StatusFound || r.status == http.StatusSeeOther:
			loc, err := next.Parse(r.header.Get("Location"))
			if err != nil {
				return nil, r, fmt.Errorf("redirect from %s: %w", next.Path, err)
			}
			if stop != "" && strings.HasPrefix(loc.String(), stop) {
				return loc, r, nil
			}
			next, method, body = loc, http.MethodGet, nil
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
			method, body = http.MethodPost, fields
		case r.status == http.StatusOK && strings.Contains(page, `name="decision"`):
			action, fields, err := findForm(page, "/consent")
			if err != nil {
				return nil, r, err
			}
			fields.Set("decision", "allow")
			if next, err = next.Parse(action); err != nil {
				return nil, r, err
			}
			method, body = http.MethodPost, fields
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

// findForm returns the action and the named inputs of the first form on
// page whose action path ends with suffix.
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

// oauthClient is a registered confidential client.
type oauthClient struct {
	id, secret, redirectURI string
}

// tokens is a successful token response (RFC 6749 §5.1).
type tokens struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
}

// authorize runs the authorization code flow with PKCE (RFC 7636) on
// browser b, signing in and allowing consent when asked, and returns the
// code and its verifier after checking state (RFC 6749 §4.1.2).
func authorize(ctx context.Context, b *http.Client, authz string, c oauthClient, scope string) (code, verifier string, err error) {
	verifier = randomString()
	sum := sha256.Sum256([]byte(verifier))
	state := randomString()
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {c.id},
		"redirect_uri":          {c.redirectURI},
		"scope":                 {scope},
		"state":                 {state},
		"nonce":                 {randomString()},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	loc, r, err := walk(ctx, b, authz+"/authorize?"+q.Encode(), c.redirectURI, "demo", demoPassword)
	if err != nil {
		return "", "", fmt.Errorf("authorization flow: %w", err)
	}
	if loc == nil || !strings.HasPrefix(loc.String(), c.redirectURI) {
		return "", "", fmt.Errorf("authorization flow ended at %v with %d: %.200s", loc, r.status, r.body)
	}
	got := loc.Query()
	if e := got.Get("error"); e != "" {
		return "", "", fmt.Errorf("authorization flow: error %q: %s", e, got.Get("error_description"))
	}
	if got.Get("state") != state || got.Get("code") == "" {
		return "", "", errors.New("authorization flow: wrong state or no code")
	}
	return got.Get("code"), verifier, nil
}

// token posts a token request and decodes a 200 answer; any other status
// comes back as an error with the answer.
func token(ctx context.Context, hc *http.Client, authz string, c oauthClient, params url.Values) (tokens, reply, error) {
	r, err := send(ctx, hc, http.MethodPost, authz+"/token", form(c.id, c.secret), []byte(params.Encode()))
	if err != nil {
		return tokens{}, r, err
	}
	var t tokens
	if r.status != http.StatusOK {
		return t, r, fmt.Errorf("token endpoint answered %d: %.300s", r.status, r.body)
	}
	if err := json.Unmarshal(r.body, &t); err != nil || t.AccessToken == "" || !strings.EqualFold(t.TokenType, "Bearer") {
		return t, r, fmt.Errorf("token response %.300s: not a bearer token (%v)", r.body, err)
	}
	return t, r, nil
}

func clientCredentials(ctx context.Context, hc *http.Client, authz string, c oauthClient) (tokens, reply, error) {
	return token(ctx, hc, authz, c, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read todos:write"}})
}

// introspect asks whether tok is active (RFC 7662 §2.2), as client c.
func introspect(ctx context.Context, hc *http.Client, authz string, c oauthClient, tok string) (bool, error) {
	r, err := send(ctx, hc, http.MethodPost, authz+"/introspect", form(c.id, c.secret), []byte(url.Values{"token": {tok}}.Encode()))
	if err != nil {
		return false, err
	}
	if r.status != http.StatusOK {
		return false, fmt.Errorf("introspection answered %d: %.200s", r.status, r.body)
	}
	var v struct {
		Active bool `json:"active"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
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
func webappSignInPage(ctx context.Context, hc *http.Client, webapp string) (*http.Client, reply, error) {
	b := newBrowser(hc)
	_, r, err := walk(ctx, b, webapp+"/login", "", "demo", demoPassword)
	if err != nil {
		return nil, r, fmt.Errorf("web app sign-in: %w", err)
	}
	if !signedIn(r) {
		return nil, r, fmt.Errorf("web app sign-in ended with %d: %.300s", r.status, r.body)
	}
	return b, r, nil
}

// signedIn reports whether r is a web app page for a signed-in person.
func signedIn(r reply) bool {
	return r.status == http.StatusOK && strings.Contains(string(r.body), `action="/logout"`)
}
