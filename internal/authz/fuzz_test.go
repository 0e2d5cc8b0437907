package authz

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// FuzzTokenEndpoint feeds arbitrary bodies, content types and
// Authorization headers to the token endpoint. Whatever arrives, the
// answer is 200 or a 4xx carrying an RFC 6749 §5.2 JSON error — never a
// 5xx or a panic. Seeds: testdata/fuzz/FuzzTokenEndpoint.
func FuzzTokenEndpoint(f *testing.F) {
	f.Add("application/x-www-form-urlencoded", "grant_type=client_credentials&scope=todos%3Aread", "Basic dGhpcmQ6dGhpcmQtc2VjcmV0LXZhbHVl")
	f.Add("application/x-www-form-urlencoded", "grant_type=authorization_code&code=abc&redirect_uri=https%3A%2F%2Fapp.example%2Fcallback&code_verifier=x", "")
	f.Add("application/x-www-form-urlencoded", "grant_type=refresh_token&refresh_token=x&client_id=native", "")
	f.Add("application/json", `{"grant_type":"client_credentials"}`, "")
	f.Add("application/x-www-form-urlencoded; charset=utf-8", "grant_type=x&grant_type=y", "Basic Og==")
	e := newEnvDSN(f, storagetest.SQLite(f), nil)
	h := e.srv.Handler()
	f.Fuzz(func(t *testing.T, ctype, body, auth string) {
		req := httptest.NewRequest(http.MethodPost, "https://auth.example/token", strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		if rec.Code == 200 {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil || m["error"] == "" || m["error"] == nil {
			t.Fatalf("status %d without a JSON error: %q", rec.Code, rec.Body.String())
		}
	})
}

// FuzzClientCredentials checks client authentication parsing (RFC 6749
// §2.3.1, HTTP Basic per RFC 7617 with form-urlencoded parts) on arbitrary
// headers and forms: it never panics, accepts only non-empty client IDs of
// UTF-8 text without NUL, reads back exactly what a conforming client
// sends, and refuses credentials with a NUL (no store keeps one in text).
func FuzzClientCredentials(f *testing.F) {
	f.Add("Basic dGhpcmQ6c2VjcmV0", "", "", "third", "s3cr:et")
	f.Add("Basic !!!", "a", "b", "a b", "%zz")
	f.Add("Bearer x", "client", "", "é", "")
	f.Add("basic Og==", "", "x", "", "")
	f.Add("Basic MCUwMDp4", "", "", "0", "\x00")
	f.Fuzz(func(t *testing.T, header, formID, formSecret, id, secret string) {
		form := url.Values{}
		if formID != "" {
			form.Set("client_id", formID)
		}
		if formSecret != "" {
			form.Set("client_secret", formSecret)
		}
		h := http.Header{}
		if header != "" {
			h.Set("Authorization", header)
		}
		cc, err := clientCredentials(h, form)
		if err == nil && (cc.ClientID == "" || !validText(cc.ClientID) || !validText(cc.ClientSecret)) {
			t.Fatalf("accepted client_id %q, secret %q", cc.ClientID, cc.ClientSecret)
		}
		// Round trip: what a conforming client sends is read back, unless
		// it holds a NUL, which is refused.
		if id == "" || !utf8.ValidString(id) || !utf8.ValidString(secret) {
			return
		}
		r := &http.Request{Header: http.Header{}}
		r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		gotID, gotSecret, ok := parseBasic(r.Header.Get("Authorization"))
		if !validText(id) || !validText(secret) {
			if ok {
				t.Fatalf("accepted %q/%q, which hold a NUL", id, secret)
			}
			return
		}
		if !ok || gotID != id || gotSecret != secret {
			t.Fatalf("round trip of %q/%q gave %q/%q (%v)", id, secret, gotID, gotSecret, ok)
		}
	})
}

// FuzzClientAssertion checks reading a client assertion's client (RFC 7523
// §3) from arbitrary input: it never panics, and what it accepts names one
// non-empty UTF-8 client as both iss and sub, equal to client_id if given.
func FuzzClientAssertion(f *testing.F) {
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJhIiwic3ViIjoiYSJ9.c2ln", "")
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJhIiwic3ViIjoiYSJ9.", "a")
	f.Add("a.b.c", "x")
	f.Add("", "")
	f.Fuzz(func(t *testing.T, assertion, clientID string) {
		form := url.Values{"client_assertion_type": {assertionType}, "client_assertion": {assertion}}
		if clientID != "" {
			form.Set("client_id", clientID)
		}
		cc, err := clientCredentials(http.Header{}, form)
		if err != nil {
			return
		}
		if cc.ClientID == "" || !validText(cc.ClientID) || cc.Method != storage.AuthPrivateKeyJWT ||
			(clientID != "" && cc.ClientID != clientID) {
			t.Fatalf("accepted %+v from client_id %q", cc, clientID)
		}
	})
}
