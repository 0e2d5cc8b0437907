package flowtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
)

// Reply is a complete answer.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
}

// Send makes one request with the header h and body (none when nil) and
// reads the whole answer. An answer cut short is an error, not a reply.
func Send(ctx context.Context, c *http.Client, method, target string, h http.Header, body []byte) (Reply, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return Reply{}, fmt.Errorf("request %s %s: %w", method, target, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := c.Do(req)
	if err != nil {
		return Reply{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return Reply{}, fmt.Errorf("reading the answer: %w", err)
	}
	return Reply{Status: res.StatusCode, Header: res.Header, Body: b}, nil
}

// Browser returns a copy of c with a cookie jar of its own that does not
// follow redirects: Walk follows them step by step.
func Browser(c *http.Client) *http.Client {
	jar, _ := cookiejar.New(nil) // never fails without options
	b := *c
	b.Jar = jar
	b.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &b
}

// RandomString is 24 random bytes, base64url-encoded: a state, nonce or
// PKCE verifier.
func RandomString() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// BasicAuth is the client_secret_basic Authorization header value (RFC
// 6749 §2.3.1: id and secret form-urlencoded first).
func BasicAuth(id, secret string) string {
	raw := url.QueryEscape(id) + ":" + url.QueryEscape(secret)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(raw))
}

// FormHeader is the header of a form-encoded request, with
// client_secret_basic credentials when id is set.
func FormHeader(id, secret string) http.Header {
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	if id != "" {
		h.Set("Authorization", BasicAuth(id, secret))
	}
	return h
}

// Bearer is the header of a JSON request carrying access token tok.
func Bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}
}
