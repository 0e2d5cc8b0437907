package tokencli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCallback: only a GET of /callback at the listener's own address,
// with this sign-in's state, ends the wait, and only once; an answer that
// does so ends it with the code's tokens or with what went wrong.
func TestCallback(t *testing.T) {
	const host, state, issuer = "127.0.0.1:41234", "the-state", "https://127.0.0.1:8000"
	ok := "/callback?state=" + state + "&iss=https%3A%2F%2F127.0.0.1%3A8000&code=the-code"
	tests := []struct {
		name       string
		method     string
		host       string
		target     string
		requireIss bool
		status     int
		page       string
		ends       bool   // the wait ends
		err        string // the wait ends with this error
	}{
		{"the code", "GET", host, ok, true, 200, "You can close this tab", true, ""},
		{"no iss from a server that sends none", "GET", host, "/callback?state=" + state + "&code=the-code", false, 200, "You can close this tab", true, ""},
		{"another path", "GET", host, "/favicon.ico", true, 404, "not found", false, ""},
		{"another host", "GET", "evil.example:41234", ok, true, 400, "answers only at " + host, false, ""},
		{"a POST", "POST", host, ok, true, 405, "Wrong method", false, ""},
		{"a wrong state", "GET", host, "/callback?state=other&code=the-code", true, 400, "Not this sign-in", false, ""},
		{"no state", "GET", host, "/callback?code=the-code", true, 400, "Not this sign-in", false, ""},
		{"a wrong state's error", "GET", host, "/callback?state=other&error=access_denied", true, 400, "Not this sign-in", false, ""},
		{"access denied", "GET", host, "/callback?state=" + state + "&iss=https%3A%2F%2F127.0.0.1%3A8000&error=access_denied&error_description=the+user+denied+the+request", true, 400, "access_denied (the user denied the request)", true, "refused the sign-in: access_denied (the user denied the request)"},
		{"another issuer (mix-up)", "GET", host, "/callback?state=" + state + "&iss=https%3A%2F%2Fevil.example&code=the-code", true, 400, "Sign-in failed", true, `names issuer "https://evil.example"`},
		{"no iss from a server that sends it", "GET", host, "/callback?state=" + state + "&code=the-code", true, 400, "Sign-in failed", true, `names issuer ""`},
		{"neither code nor error", "GET", host, "/callback?state=" + state + "&iss=https%3A%2F%2F127.0.0.1%3A8000", true, 400, "Sign-in failed", true, "neither a code nor an error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var redeemed []string
			c := &callback{
				host: host, state: state, issuer: issuer, requireIss: tt.requireIss, out: io.Discard, done: make(chan result, 1),
				redeem: func(code string) (Token, error) {
					redeemed = append(redeemed, code)
					return Token{AccessToken: "at-" + code}, nil
				},
			}
			serve := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest(tt.method, "http://"+tt.host+tt.target, nil)
				w := httptest.NewRecorder()
				c.ServeHTTP(w, req)
				return w
			}
			w := serve()
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.page) {
				t.Fatalf("answered %d %q, want %d with %q", w.Code, w.Body, tt.status, tt.page)
			}
			select {
			case r := <-c.done:
				switch {
				case !tt.ends:
					t.Fatalf("the wait ended: %+v", r)
				case tt.err == "" && (r.err != nil || r.token.AccessToken != "at-the-code" || len(redeemed) != 1):
					t.Fatalf("ended with %+v, %v; redeemed %v", r.token, r.err, redeemed)
				case tt.err != "" && (r.err == nil || !strings.Contains(r.err.Error(), tt.err) || len(redeemed) != 0):
					t.Fatalf("ended with %v, want %q; redeemed %v", r.err, tt.err, redeemed)
				}
				// The wait is over: another answer is not taken.
				if w := serve(); w.Code != http.StatusConflict || len(c.done) != 0 {
					t.Fatalf("a second answer: %d", w.Code)
				}
			default:
				if tt.ends {
					t.Fatal("the wait goes on")
				}
			}
		})
	}
}
