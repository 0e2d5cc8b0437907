package dpop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Transport is an http.RoundTripper that adds a DPoP proof made with Key to
// every request (RFC 9449 §4 and §7). When the request carries an access
// token as "Authorization: DPoP <token>", the proof carries its hash.
//
// It remembers the last DPoP-Nonce each origin sent, and puts it in the
// proofs it sends there. When a server asks for a nonce — a 400 with the
// JSON error use_dpop_nonce from a token endpoint (RFC 9449 §8), or a 401
// with a DPoP challenge with that error from a resource (§9) — and gives a
// new one, Transport sends the request again, once, with a proof carrying
// it. It can only do so for a request without a body or whose body it can
// make again (http.Request.GetBody, which http.NewRequest sets for byte
// and string readers); otherwise the server's answer is returned.
//
// Under golang.org/x/oauth2, whose tokens of type "DPoP" are sent as
// "Authorization: DPoP <token>", a Transport is the base transport of the
// client (see the package documentation). A Transport is safe for
// concurrent use, and does not modify the requests it is given.
type Transport struct {
	// Base sends the requests (default http.DefaultTransport).
	Base http.RoundTripper
	// Key signs the proofs. Required.
	Key *Key
	// Now returns the current time (default time.Now).
	Now func() time.Time

	mu     sync.Mutex
	nonces map[string]string // by origin
}

// maxErrorBody bounds how much of a 400 answer is read to look for the
// use_dpop_nonce error.
const maxErrorBody = 64 << 10

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	closeBody := func() {
		if req.Body != nil {
			req.Body.Close()
		}
	}
	if t.Key == nil {
		closeBody()
		return nil, errors.New("dpop: Transport has no Key")
	}
	if req.URL == nil {
		closeBody()
		return nil, errors.New("dpop: request has no URL")
	}
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	org := origin(req.URL)
	nonce := t.nonce(org)
	out, err := t.withProof(req, nonce)
	if err != nil {
		closeBody()
		return nil, err
	}
	resp, err := base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	t.remember(org, resp)

	fresh := resp.Header.Get(HeaderNonce)
	if fresh == "" || fresh == nonce {
		return resp, nil // nothing new to try
	}
	if req.Body != nil && req.Body != http.NoBody && req.GetBody == nil {
		return resp, nil // the body cannot be sent again
	}
	resp, asks := asksForNonce(resp)
	if !asks {
		return resp, nil
	}

	again, err := t.withProof(req, fresh)
	if err != nil {
		return resp, nil // the first answer stands
	}
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		again.Body = body
	}
	// Drain a little of the first answer so its connection can be reused.
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
	resp, err = base.RoundTrip(again)
	if err != nil {
		return nil, err
	}
	t.remember(org, resp)
	return resp, nil
}

// withProof returns a copy of req with a DPoP header holding a new proof
// carrying nonce.
func (t *Transport) withProof(req *http.Request, nonce string) (*http.Request, error) {
	now := time.Now()
	if t.Now != nil {
		now = t.Now()
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	proof, err := t.Key.Proof(method, req.URL.String(), dpopToken(req.Header), nonce, now)
	if err != nil {
		return nil, err
	}
	out := req.Clone(req.Context())
	out.Header.Set(HeaderProof, proof)
	return out, nil
}

// dpopToken returns the access token of an "Authorization: DPoP <token>"
// header (RFC 9449 §7.1), or "".
func dpopToken(h http.Header) string {
	scheme, token, ok := strings.Cut(h.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "DPoP") {
		return ""
	}
	return strings.TrimSpace(token)
}

// origin names the server of u, for the nonces: scheme and host, in lower
// case, with the port.
func origin(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	host, port := strings.ToLower(u.Hostname()), u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + host + ":" + port
}

func (t *Transport) nonce(origin string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.nonces[origin]
}

// remember keeps the nonce resp carries, if any, for origin.
func (t *Transport) remember(origin string, resp *http.Response) {
	n := resp.Header.Get(HeaderNonce)
	if n == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.nonces == nil {
		t.nonces = make(map[string]string)
	}
	t.nonces[origin] = n
}

// asksForNonce reports whether resp is a use_dpop_nonce error: a 401 with a
// DPoP challenge saying so, or a 400 with a JSON body saying so. It returns
// resp with its body intact for the caller (what was read to decide is put
// back in front of the rest).
func asksForNonce(resp *http.Response) (*http.Response, bool) {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		for _, c := range parseChallenges(resp.Header.Values("WWW-Authenticate")) {
			if strings.EqualFold(c.scheme, "DPoP") && c.params["error"] == UseNonce {
				return resp, true
			}
		}
	case http.StatusBadRequest:
		mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if mt != "application/json" || resp.Body == nil {
			return resp, false
		}
		read, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(read), errReader{err}, resp.Body), resp.Body}
		var body struct {
			Error string `json:"error"`
		}
		return resp, err == nil && json.Unmarshal(read, &body) == nil && body.Error == UseNonce
	}
	return resp, false
}

// errReader gives err, if any, in place of the rest of a body it failed to
// read; nothing when err is nil.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err != nil {
		return 0, fmt.Errorf("dpop: reading the answer: %w", r.err)
	}
	return 0, io.EOF
}

// challenge is one challenge of a WWW-Authenticate header (RFC 9110 §11.6.1).
type challenge struct {
	scheme string
	params map[string]string // by lower-case name; quoted values unquoted
}

// parseChallenges reads the challenges of WWW-Authenticate header values,
// leniently: what it cannot read it skips.
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, v := range values {
		for _, item := range splitTopLevel(v) {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			// An item is "scheme", "scheme param=value" (or "scheme
			// token68"), or "param=value" continuing the last challenge.
			name, rest, _ := strings.Cut(item, " ")
			if !strings.Contains(name, "=") && !strings.HasPrefix(strings.TrimSpace(rest), "=") {
				out = append(out, challenge{scheme: name, params: map[string]string{}})
				item = strings.TrimSpace(rest)
				if item == "" {
					continue
				}
			}
			if len(out) == 0 {
				continue
			}
			k, val, ok := strings.Cut(item, "=")
			if !ok {
				continue // token68
			}
			out[len(out)-1].params[strings.ToLower(strings.TrimSpace(k))] = unquote(strings.TrimSpace(val))
		}
	}
	return out
}

// splitTopLevel splits s at the commas outside quoted strings.
func splitTopLevel(s string) []string {
	var parts []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ',':
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

// unquote returns the content of a quoted string, or s if it is a token.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
