package tokencli

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"sync/atomic"
)

// result is how the sign-in ended.
type result struct {
	token Token
	err   error
}

// callback serves the loopback redirect. Only an answer carrying this
// sign-in's state ends the wait, and only the first; the others are
// refused with a page, since any web page the person visits can make the
// browser call a loopback address.
type callback struct {
	host       string // the listener's address, the only Host accepted
	state      string
	issuer     string
	requireIss bool // the server sends iss with its answers (RFC 9207)
	out        io.Writer
	refused    atomic.Int32 // answers refused for their state, to bound the notes about them
	// redeem exchanges the code for tokens.
	redeem   func(code string) (Token, error)
	done     chan result // buffered: receives the one result
	answered atomic.Bool
}

func (c *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != callbackPath {
		http.NotFound(w, r)
		return
	}
	// A name that resolves to 127.0.0.1 (DNS rebinding) is another origin.
	if r.Host != c.host {
		page(w, http.StatusBadRequest, "Wrong address", "This page answers only at "+c.host+".")
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		page(w, http.StatusMethodNotAllowed, "Wrong method", "The sign-in comes back here with GET.")
		return
	}
	q := r.URL.Query()
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(c.state)) != 1 {
		if c.refused.Add(1) <= maxRefusedNotes { // a page hitting the port in a loop cannot flood the terminal
			fmt.Fprintln(c.out, "Refused an answer whose state is not this sign-in's; still waiting.")
		}
		page(w, http.StatusBadRequest, "Not this sign-in",
			"This answer does not carry the state of the sign-in the command started, so it was refused. "+
				"Open the address the command printed.")
		return
	}
	if !c.answered.CompareAndSwap(false, true) {
		page(w, http.StatusConflict, "Already answered", "This sign-in has finished. You can close this tab.")
		return
	}
	tok, err := c.finish(q)
	c.done <- result{tok, err}
	if err != nil {
		page(w, http.StatusBadRequest, "Sign-in failed", err.Error()+". You can close this tab.")
		return
	}
	page(w, http.StatusOK, "Signed in", "The command has its token. You can close this tab.")
}

// finish turns the authorization response (RFC 6749 §4.1.2) into tokens.
func (c *callback) finish(q url.Values) (Token, error) {
	// RFC 9207 §2.4: an answer from another issuer (a mix-up) is refused.
	if iss := q.Get("iss"); iss != "" || c.requireIss {
		if subtle.ConstantTimeCompare([]byte(iss), []byte(c.issuer)) != 1 {
			return Token{}, fmt.Errorf("the answer names issuer %q, not %s", iss, c.issuer)
		}
	}
	if e := q.Get("error"); e != "" {
		return Token{}, fmt.Errorf("the authorization server refused the sign-in: %s", describe(e, q.Get("error_description")))
	}
	code := q.Get("code")
	if code == "" {
		return Token{}, errors.New("the browser came back with neither a code nor an error")
	}
	return c.redeem(code)
}

// page answers the browser with a small page that loads nothing.
func page(w http.ResponseWriter, status int, title, text string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s – gatehouse token</title></head>\n"+
		"<body><h1>%s</h1>\n<p>%s</p></body></html>\n", html.EscapeString(title), html.EscapeString(title), html.EscapeString(text))
}

// maxRefusedNotes is how many refused answers are noted on the terminal.
const maxRefusedNotes = 5
