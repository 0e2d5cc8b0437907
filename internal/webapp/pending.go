package webapp

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// A sign-in in progress lives in a sealed cookie, not in the session store:
// an anonymous visitor, however many times it asks for /login, never makes
// the web app write a row. The server-side session is created only when the
// callback has exchanged the code (signin.go).
//
// The cookie holds the authorization request's state, nonce and PKCE
// verifier, where to go after signing in, and an expiry, sealed with
// XChaCha20-Poly1305 under a key derived from the server secret (192-bit
// random nonces, so the number of cookies sealed under one key is not a
// concern). Every instance sharing the secret can open it.
//
// One pending sign-in per browser: a new /login replaces the cookie, so a
// tab that started signing in earlier gets "start again" at its callback. A
// callback consumes the pending sign-in whatever its outcome, so after two
// tabs both started, the first callback to arrive decides and the other tab
// starts again (one click while the authorization server's login session
// lasts).
//
// One use: the cookie is cleared by every callback, so the browser cannot
// present it twice. A copied cookie replayed with its callback URL carries an
// authorization code the authorization server has already redeemed, and the
// exchange fails (RFC 6749 §4.1.2: a code is usable once).
type pendingSignIn struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Return   string `json:"r"` // local path to go to once signed in (safeReturn)
	Expires  int64  `json:"e"` // Unix seconds
}

// Cookie names for the pending sign-in; like the session cookie's, they
// differ from the authorization server's cookies on the same host.
const (
	pendingCookieName         = "__Host-gatehouse-webapp-signin"
	insecurePendingCookieName = "gatehouse-webapp-signin"
)

const (
	// pendingTTL is how long a sign-in may take, from /login to the
	// callback: the cookie's Max-Age and the expiry sealed inside it.
	pendingTTL = 10 * time.Minute
	// maxPendingCookie bounds the cookie's value (base64 characters). A
	// longer value is refused before it is decoded; a sign-in whose return
	// path would make it longer returns to / instead.
	maxPendingCookie = 1024
	// maxReturnPath bounds the return path kept in the cookie.
	maxReturnPath = 512
	// pendingAD binds the sealed value to its purpose and format.
	pendingAD = "gatehouse webapp pending sign-in v1\x00"
)

var (
	errPendingMissing = errors.New("no pending sign-in cookie")
	errPendingInvalid = errors.New("pending sign-in cookie is not authentic")
	errPendingExpired = errors.New("pending sign-in cookie has expired")
)

// pendingCookies seals, opens, sets and clears the pending sign-in cookie.
type pendingCookies struct {
	aead   cipher.AEAD
	name   string
	secure bool
}

func newPendingCookies(key []byte, name string, secure bool) (*pendingCookies, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("webapp: sign-in cookie key: %w", err)
	}
	return &pendingCookies{aead: aead, name: name, secure: secure}, nil
}

// seal returns the cookie value for p. When the return path makes the value
// longer than maxPendingCookie, the sign-in returns to / instead.
func (pc *pendingCookies) seal(p pendingSignIn) (string, error) {
	v, err := pc.sealOnce(p)
	if err == nil && len(v) > maxPendingCookie && p.Return != "/" {
		p.Return = "/"
		v, err = pc.sealOnce(p)
	}
	if err != nil {
		return "", err
	}
	if len(v) > maxPendingCookie {
		return "", fmt.Errorf("webapp: sealed sign-in cookie is %d bytes, more than %d", len(v), maxPendingCookie)
	}
	return v, nil
}

func (pc *pendingCookies) sealOnce(p pendingSignIn) (string, error) {
	plain, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("webapp: encoding sign-in cookie: %w", err)
	}
	nonce := make([]byte, pc.aead.NonceSize(), pc.aead.NonceSize()+len(plain)+pc.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("webapp: sign-in cookie nonce: %w", err)
	}
	sealed := pc.aead.Seal(nonce, nonce, plain, pc.additionalData())
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// additionalData binds a sealed value to the cookie name it was set under.
func (pc *pendingCookies) additionalData() []byte {
	return []byte(pendingAD + pc.name)
}

// open authenticates and decodes a cookie value and checks its expiry
// against now.
func (pc *pendingCookies) open(value string, now time.Time) (pendingSignIn, error) {
	if value == "" {
		return pendingSignIn{}, errPendingMissing
	}
	if len(value) > maxPendingCookie {
		return pendingSignIn{}, fmt.Errorf("%w: %d bytes", errPendingInvalid, len(value))
	}
	raw, err := base64.RawURLEncoding.DecodeString(value)
	if err != nil || len(raw) < pc.aead.NonceSize()+pc.aead.Overhead() {
		return pendingSignIn{}, errPendingInvalid
	}
	ns := pc.aead.NonceSize()
	plain, err := pc.aead.Open(nil, raw[:ns], raw[ns:], pc.additionalData())
	if err != nil {
		return pendingSignIn{}, errPendingInvalid
	}
	var p pendingSignIn
	if err := json.Unmarshal(plain, &p); err != nil || p.State == "" || p.Nonce == "" || p.Verifier == "" {
		return pendingSignIn{}, errPendingInvalid
	}
	if !now.Before(time.Unix(p.Expires, 0)) {
		return pendingSignIn{}, errPendingExpired
	}
	return p, nil
}

// set sends the cookie: __Host- prefixed with Secure and Path=/ (both
// required by the prefix), HttpOnly, and SameSite=Lax, because the callback
// arrives as a top-level cross-site navigation from the authorization
// server, on which Strict cookies are not sent.
func (pc *pendingCookies) set(w http.ResponseWriter, value string) {
	http.SetCookie(w, &http.Cookie{
		Name: pc.name, Value: value, Path: "/", MaxAge: int(pendingTTL / time.Second),
		HttpOnly: true, Secure: pc.secure, SameSite: http.SameSiteLaxMode,
	})
}

// clear tells the browser to drop the cookie (with the attributes it was set
// with: a __Host- cookie is only replaced by one that has them too).
func (pc *pendingCookies) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: pc.name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: pc.secure, SameSite: http.SameSiteLaxMode,
	})
}

// take reads the pending sign-in of r, clears the cookie in the answer
// whatever it held, and checks that state is the one it was sent with
// (constant time).
func (pc *pendingCookies) take(w http.ResponseWriter, r *http.Request, state string, now time.Time) (pendingSignIn, error) {
	pc.clear(w)
	var value string
	if c, err := r.Cookie(pc.name); err == nil {
		value = c.Value
	}
	p, err := pc.open(value, now)
	if err != nil {
		return pendingSignIn{}, err
	}
	if subtle.ConstantTimeCompare([]byte(p.State), []byte(state)) != 1 {
		return pendingSignIn{}, errors.New("state differs from the pending sign-in's")
	}
	return p, nil
}

// safeReturn returns next when it is a path on this web app that a sign-in
// may return to, else "/". Only an absolute path is accepted: no scheme or
// host (an open redirect), no "//" or backslash (which browsers read as
// another host), no control characters, and not /login or /callback.
func safeReturn(next string) string {
	if next == "" || len(next) > maxReturnPath || next[0] != '/' ||
		strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\"") {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x21 || c >= 0x7f {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "/"
	}
	switch u.Path {
	case "/login", "/callback":
		return "/"
	}
	return next
}
