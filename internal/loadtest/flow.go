package loadtest

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

// oauthClient is a registered client the load acts as.
type oauthClient struct {
	id, secret, redirectURI string
}

// basic returns the client_secret_basic Authorization header value (RFC
// 6749 §2.3.1: id and secret form-urlencoded first).
func (c oauthClient) basic() string {
	raw := url.QueryEscape(c.id) + ":" + url.QueryEscape(c.secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
}

// codeFlow walks the authorization code flow like a browser would: the
// authorization request, the login form, the consent form when asked, up to
// the redirect carrying the code.
type codeFlow struct {
	authz    string // the authorization server's base URL
	client   oauthClient
	scope    string
	username string
	password string
}

// grant is a code and the PKCE verifier that redeems it.
type grant struct {
	code, verifier string
}

func randomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// withJar returns a copy of c with a cookie jar of its own: one browser.
func withJar(c *http.Client) *http.Client {
	jar, _ := cookiejar.New(nil)
	b := *c
	b.Jar = jar
	return &b
}

// code runs one authorization request on browser b (a client with a jar)
// and returns the code. A browser already signed in gets it at once; one
// that is not signs in through the login form (and allows consent if asked).
func (f *codeFlow) code(ctx context.Context, b *http.Client) (grant, error) {
	verifier := randomString()
	sum := sha256.Sum256([]byte(verifier))
	state := randomString()
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {f.client.id},
		"redirect_uri":          {f.client.redirectURI},
		"scope":                 {f.scope},
		"state":                 {state},
		"nonce":                 {randomString()},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	next, err := url.Parse(f.authz + "/authorize?" + q.Encode())
	if err != nil {
		return grant{}, err
	}
	method, form := http.MethodGet, url.Values(nil)
	for range 8 {
		var body []byte
		h := http.Header{}
		if form != nil {
			body = []byte(form.Encode())
			h.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		r, err := send(ctx, b, method, next.String(), h, body)
		if err != nil {
			return grant{}, err
		}
		switch {
		case r.status == http.StatusFound || r.status == http.StatusSeeOther:
			loc, err := next.Parse(r.header.Get("Location"))
			if err != nil {
				return grant{}, fmt.Errorf("redirect: %w", err)
			}
			if strings.HasPrefix(loc.String(), f.client.redirectURI) {
				return f.callback(loc, state, verifier)
			}
			next, method, form = loc, http.MethodGet, nil
		case r.status == http.StatusOK && strings.Contains(string(r.body), `name="password"`):
			action, fields, err := findForm(string(r.body), "/login")
			if err != nil {
				return grant{}, err
			}
			fields.Set("username", f.username)
			fields.Set("password", f.password)
			if next, err = next.Parse(action); err != nil {
				return grant{}, err
			}
			method, form = http.MethodPost, fields
		case r.status == http.StatusOK && strings.Contains(string(r.body), `name="decision"`):
			action, fields, err := findForm(string(r.body), "/consent")
			if err != nil {
				return grant{}, err
			}
			fields.Set("decision", "allow")
			if next, err = next.Parse(action); err != nil {
				return grant{}, err
			}
			method, form = http.MethodPost, fields
		default:
			return grant{}, fmt.Errorf("authorization flow at %s: %w", next.Path, wantStatus(r.status, http.StatusSeeOther, r.body))
		}
	}
	return grant{}, errors.New("authorization flow: too many steps")
}

// callback checks the redirect to the client (RFC 6749 §4.1.2: code and
// the same state) and returns the grant.
func (f *codeFlow) callback(loc *url.URL, state, verifier string) (grant, error) {
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return grant{}, fmt.Errorf("authorization flow: error %q: %s", e, q.Get("error_description"))
	}
	if q.Get("state") != state {
		return grant{}, errors.New("authorization flow: state does not match")
	}
	if q.Get("code") == "" {
		return grant{}, errors.New("authorization flow: no code")
	}
	return grant{code: q.Get("code"), verifier: verifier}, nil
}

// exchangeBody is the token request redeeming g (RFC 6749 §4.1.3, RFC 7636
// §4.5).
func (f *codeFlow) exchangeBody(g grant) []byte {
	return []byte(url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {g.code},
		"redirect_uri":  {f.client.redirectURI},
		"code_verifier": {g.verifier},
	}.Encode())
}

var (
	formRE  = regexp.MustCompile(`(?s)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input[^>]*>`)
	attrRE  = regexp.MustCompile(`([a-z_-]+)="([^"]*)"`)
)

// findForm returns the action and the named inputs' values of the first
// form on page whose action path ends with suffix.
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
