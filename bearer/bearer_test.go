package bearer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/bearer/bearertest"
)

func newVerifier(t *testing.T, is *bearertest.Issuer) *bearer.JWTVerifier {
	t.Helper()
	v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
		Issuer: is.URL, Audience: is.Audience, MinRefetchInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestJWTVerifier covers the checks of RFC 9068 §4.
func TestJWTVerifier(t *testing.T) {
	is := bearertest.New(t, "https://api.example")
	other := bearertest.New(t, "https://api.example")
	v := newVerifier(t, is)
	now := time.Now()
	claims := func(mod func(map[string]any)) map[string]any {
		c := map[string]any{"iss": is.URL, "aud": is.Audience, "sub": "alice", "scope": "todos:read",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid", is.Sign(t, "at+jwt", claims(nil)), true},
		{"application/at+jwt", is.Sign(t, "application/at+jwt", claims(nil)), true},
		{"audience in list", is.Sign(t, "at+jwt", claims(func(c map[string]any) { c["aud"] = []string{"x", is.Audience} })), true},
		{"within leeway", is.Sign(t, "at+jwt", claims(func(c map[string]any) { c["exp"] = now.Add(-2 * time.Second).Unix() })), true},
		{"typ JWT (an ID token)", is.Sign(t, "JWT", claims(nil)), false},
		{"no typ", is.Sign(t, "", claims(nil)), false},
		{"wrong issuer", is.Sign(t, "at+jwt", claims(func(c map[string]any) { c["iss"] = "https://evil" })), false},
		{"wrong audience", is.Sign(t, "at+jwt", claims(func(c map[string]any) { c["aud"] = "https://other" })), false},
		{"expired", is.Sign(t, "at+jwt", claims(func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() })), false},
		{"not yet valid", is.Sign(t, "at+jwt", claims(func(c map[string]any) { c["nbf"] = now.Add(time.Hour).Unix() })), false},
		{"no exp", is.Sign(t, "at+jwt", claims(func(c map[string]any) { delete(c, "exp") })), false},
		{"no sub", is.Sign(t, "at+jwt", claims(func(c map[string]any) { delete(c, "sub") })), false},
		{"signed by another key", other.Sign(t, "at+jwt", claims(nil)), false},
		{"garbage", "not.a.jwt", false},
		{"alg none", "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJhbGljZSJ9.", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tc.token)
			if tc.ok {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if c.Subject != "alice" || !c.HasScope("todos:read") {
					t.Errorf("claims = %+v", c)
				}
				return
			}
			if !errors.Is(err, bearer.ErrInvalidToken) {
				t.Errorf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
}

// TestJWTLeeway: a token is accepted until exp plus the leeway, which is
// small by default (introspection calls the token inactive at exp) and
// configurable up to 5 minutes.
func TestJWTLeeway(t *testing.T) {
	is := bearertest.New(t, "https://api.example")
	now := time.Now()
	tests := []struct {
		name    string
		leeway  time.Duration
		expired time.Duration // how long ago the token expired
		ok      bool
	}{
		{"default, expired 10 s ago", 0, 10 * time.Second, false},
		{"default, expired 3 s ago", 0, 3 * time.Second, true},
		{"30 s, expired 10 s ago", 30 * time.Second, 10 * time.Second, true},
		{"30 s, expired 40 s ago", 30 * time.Second, 40 * time.Second, false},
		{"1 s, expired 3 s ago", time.Second, 3 * time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
				Issuer: is.URL, Audience: is.Audience, Leeway: tc.leeway, Now: func() time.Time { return now },
			})
			if err != nil {
				t.Fatal(err)
			}
			tok := is.Sign(t, "at+jwt", map[string]any{"iss": is.URL, "aud": is.Audience, "sub": "alice",
				"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(-tc.expired).Unix()})
			_, err = v.Verify(context.Background(), tok)
			switch {
			case tc.ok && err != nil:
				t.Errorf("Verify: %v, want the token accepted", err)
			case !tc.ok && !errors.Is(err, bearer.ErrInvalidToken):
				t.Errorf("Verify: %v, want ErrInvalidToken", err)
			}
		})
	}
	for _, bad := range []time.Duration{-time.Second, 5*time.Minute + time.Second} {
		if _, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{Issuer: is.URL, Audience: is.Audience, Leeway: bad}); err == nil {
			t.Errorf("leeway %v accepted, want an error", bad)
		}
	}
}

// TestJWKSRefetch: an unknown kid makes the verifier refetch the JWKS, but
// not more often than MinRefetchInterval.
func TestJWKSRefetch(t *testing.T) {
	is := bearertest.New(t, "aud")
	clock := time.Now()
	v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
		Issuer: is.URL, Audience: "aud", MinRefetchInterval: time.Minute, Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := is.JWKSFetches.Load(); n != 0 {
		t.Fatalf("fetches at start = %d, want none before the first token", n)
	}
	if _, err := v.Verify(context.Background(), is.Token(t, "alice")); err != nil {
		t.Fatalf("first Verify: %v", err)
	}
	if n := is.JWKSFetches.Load(); n != 1 {
		t.Fatalf("fetches after the first token = %d, want 1", n)
	}
	is.Rotate(t)
	tok := is.Token(t, "alice")
	// Within the floor: no refetch, the token is rejected.
	for range 5 {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, bearer.ErrInvalidToken) {
			t.Fatalf("Verify within floor: %v", err)
		}
	}
	if n := is.JWKSFetches.Load(); n != 1 {
		t.Fatalf("fetches within floor = %d, want 1", n)
	}
	clock = clock.Add(2 * time.Minute)
	if _, err := v.Verify(context.Background(), is.Token(t, "alice")); err != nil {
		t.Fatalf("Verify after rotation: %v", err)
	}
	if n := is.JWKSFetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
}

// TestIssuerNotUpYet: the verifier may be built before the issuer answers
// (the roles start together). Until it answers, tokens cannot be checked —
// an error that is not ErrInvalidToken, so the API answers 503, not 401 —
// and once it answers they verify without a restart.
func TestIssuerNotUpYet(t *testing.T) {
	is := bearertest.New(t, "aud")
	var up atomic.Bool
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, is.URL+r.URL.Path, http.StatusTemporaryRedirect)
	}))
	defer proxy.Close()
	clock := time.Now()
	v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
		Issuer: is.URL, Audience: "aud", JWKSURL: proxy.URL + "/jwks", Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatalf("NewJWTVerifier must not need the issuer: %v", err)
	}
	tok := is.Token(t, "alice")
	if _, err := v.Verify(context.Background(), tok); err == nil || errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("Verify while the issuer is down = %v, want an error that is not ErrInvalidToken", err)
	}
	up.Store(true)
	clock = clock.Add(2 * time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify once the issuer is up: %v", err)
	}
}

func TestJWKSMustBeHTTPS(t *testing.T) {
	_, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{Issuer: "https://x", Audience: "a", JWKSURL: "http://example.com/jwks"})
	if err == nil || !strings.Contains(err.Error(), "HTTPS") {
		t.Fatalf("err = %v", err)
	}
}

// TestMiddleware checks the RFC 6750 §3 answers.
func TestMiddleware(t *testing.T) {
	is := bearertest.New(t, "aud")
	v := newVerifier(t, is)
	h := bearer.Middleware(v)(bearer.RequireScope("todos:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := bearer.ClaimsFrom(r.Context())
		w.Write([]byte(c.Subject))
	})))
	tests := []struct {
		name      string
		header    string
		query     string
		status    int
		challenge string
	}{
		// RFC 6750 §3.1: no token (or another scheme), no error information.
		{"no token", "", "", 401, `Bearer`},
		{"token in query", "", "?access_token=" + is.Token(t, "alice", "todos:write"), 400,
			`Bearer error="invalid_request", error_description="access tokens in the URL are refused: send the token in the Authorization header"`},
		{"basic auth", "Basic YTpi", "", 401, `Bearer`},
		{"bearer without token", "Bearer ", "", 401, `Bearer error="invalid_token", error_description="the Authorization header must be: Bearer <token>"`},
		{"bad token", "Bearer nope", "", 401, `Bearer error="invalid_token", error_description="the access token is invalid or expired"`},
		{"missing scope", "Bearer " + is.Token(t, "alice", "todos:read"), "", 403, `Bearer error="insufficient_scope", error_description="the access token lacks the scope todos:write", scope="todos:write"`},
		{"ok", "bearer " + is.Token(t, "alice", "todos:read", "todos:write"), "", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/"+tc.query, nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tc.status, w.Body)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if tc.status == 200 && w.Body.String() != "alice" {
				t.Errorf("body = %q", w.Body)
			}
		})
	}
}

// TestTokenOutsideHeaderRefused: an access_token parameter in the query
// string, or in a form body without an Authorization header, is refused
// with 400 invalid_request saying where the token goes (RFC 9700 §4.3.2),
// never accepted; the handler sees a form body that was looked at whole.
func TestTokenOutsideHeaderRefused(t *testing.T) {
	is := bearertest.New(t, "aud")
	v := newVerifier(t, is)
	tok := is.Token(t, "alice", "todos:write")
	h := bearer.Middleware(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}))
	const form = "application/x-www-form-urlencoded"
	big := "pad=" + strings.Repeat("x", 70<<10) + "&access_token=" + tok
	tests := []struct {
		name, method, target, ctype, body, header string
		status                                    int
		desc                                      string // the error_description; "" for none
	}{
		{"query", "GET", "/?access_token=" + tok, "", "", "", 400, "access tokens in the URL are refused: send the token in the Authorization header"},
		{"empty query parameter", "GET", "/?access_token=", "", "", "", 400, "access tokens in the URL are refused: send the token in the Authorization header"},
		{"query besides the header", "GET", "/?a=1&access_token=" + tok, "", "", "Bearer " + tok, 400, "access tokens in the URL are refused: send the token in the Authorization header"},
		{"form body", "POST", "/", form, "a=1&access_token=" + tok, "", 400, "access tokens in the request body are refused: send the token in the Authorization header"},
		{"form body, charset", "POST", "/", form + "; charset=utf-8", "access_token=" + tok, "", 400, "access tokens in the request body are refused: send the token in the Authorization header"},
		{"form body, other scheme", "POST", "/", form, "access_token=" + tok, "Basic YTpi", 400, "access tokens in the request body are refused: send the token in the Authorization header"},
		{"form body without a token", "POST", "/", form, "a=1", "", 401, ""},
		{"form body too large to look at", "POST", "/", form, big, "", 401, ""},
		{"JSON body", "POST", "/", "application/json", `{"access_token":"` + tok + `"}`, "", 401, ""},
		{"form body besides the header", "POST", "/", form, "a=1&access_token=x", "Bearer " + tok, 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.method, tc.target, strings.NewReader(tc.body))
			if tc.ctype != "" {
				r.Header.Set("Content-Type", tc.ctype)
			}
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d (%s)", w.Code, tc.status, w.Body)
			}
			switch {
			case tc.status == 200:
				if w.Body.String() != tc.body {
					t.Errorf("the handler read %q, want the whole body %q", w.Body, tc.body)
				}
			case tc.desc == "":
				if got := w.Header().Get("WWW-Authenticate"); got != "Bearer" {
					t.Errorf("WWW-Authenticate = %q, want the bare challenge", got)
				}
			default:
				var body map[string]string
				if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error"] != "invalid_request" || body["error_description"] != tc.desc {
					t.Errorf("body = %s (%v), want invalid_request: %s", w.Body, err, tc.desc)
				}
				want := `Bearer error="invalid_request", error_description="` + tc.desc + `"`
				if got := w.Header().Get("WWW-Authenticate"); got != want {
					t.Errorf("WWW-Authenticate = %q, want %q", got, want)
				}
			}
		})
	}
	t.Run("a form body looked at is put back", func(t *testing.T) {
		body := "a=1&b=2"
		r := httptest.NewRequest("POST", "/", strings.NewReader(body))
		r.Header.Set("Content-Type", form)
		if _, e := bearer.TokenFromRequest(r); e == nil || e.Code != "" {
			t.Fatalf("TokenFromRequest = %v, want the error of no token", e)
		}
		if b, _ := io.ReadAll(r.Body); string(b) != body {
			t.Errorf("body after TokenFromRequest = %q, want %q", b, body)
		}
	})
}

// TestWriteErrorBodyNotHTMLEscaped: the JSON body of an error keeps <, >
// and & as they are, so that "Bearer <token>" reads as written.
func TestWriteErrorBodyNotHTMLEscaped(t *testing.T) {
	for _, e := range []*bearer.Error{
		{Status: 401, Code: "invalid_token", Description: "the Authorization header must be: Bearer <token>"},
		{Status: 400, Code: "invalid_request", Description: "a & b <c>"},
	} {
		w := httptest.NewRecorder()
		bearer.WriteError(w, httptest.NewRequest("GET", "/", nil), e)
		if !strings.Contains(w.Body.String(), `"error_description":"`+e.Description+`"`) {
			t.Errorf("body = %s, want the description %q as is", w.Body, e.Description)
		}
	}
}

// TestWriteErrorWithoutToken: RFC 6750 §3.1 — when the request carries no
// token, neither the challenge nor the body has an error code or an
// error_description; every other rejection has both.
func TestWriteErrorWithoutToken(t *testing.T) {
	_, noToken := bearer.TokenFromRequest(httptest.NewRequest("GET", "/", nil))
	basic := httptest.NewRequest("GET", "/", nil)
	basic.Header.Set("Authorization", "Basic YTpi")
	_, otherScheme := bearer.TokenFromRequest(basic)
	tests := []struct {
		name      string
		e         *bearer.Error
		status    int
		challenge string
		body      map[string]string // nil: no body
	}{
		{"no Authorization header", noToken, 401, "Bearer", nil},
		{"another authentication scheme", otherScheme, 401, "Bearer", nil},
		{"no claims in the context", bearer.CheckScope(context.Background(), "todos:read"), 401, "Bearer", nil},
		{"invalid token", &bearer.Error{Status: 401, Code: "invalid_token", Description: "the access token is invalid or expired"}, 401,
			`Bearer error="invalid_token", error_description="the access token is invalid or expired"`,
			map[string]string{"error": "invalid_token", "error_description": "the access token is invalid or expired"}},
		{"token cannot be checked", &bearer.Error{Status: 503, Description: "the access token cannot be checked now"}, 503, "",
			map[string]string{"error_description": "the access token cannot be checked now"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.e == nil {
				t.Fatal("no error to write")
			}
			w := httptest.NewRecorder()
			bearer.WriteError(w, httptest.NewRequest("GET", "/", nil), tc.e)
			if w.Code != tc.status {
				t.Errorf("status = %d, want %d", w.Code, tc.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if tc.body == nil {
				if w.Body.Len() != 0 {
					t.Errorf("body = %q, want none", w.Body)
				}
				return
			}
			var got map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if !maps.Equal(got, tc.body) {
				t.Errorf("body = %v, want %v", got, tc.body)
			}
		})
	}
}

func TestIntrospectionVerifier(t *testing.T) {
	calls := 0
	active := true
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		id, secret, _ := r.BasicAuth()
		if id != "api" || secret != "s3cret" || r.PostFormValue("token") != "tok" {
			json.NewEncoder(w).Encode(map[string]any{"active": false})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"active": active, "sub": "alice", "scope": "todos:read",
			"aud": "api", "exp": time.Now().Add(time.Hour).Unix(), "client_id": "web"})
	}))
	defer srv.Close()
	clock := time.Now()
	v, err := bearer.NewIntrospectionVerifier(bearer.IntrospectionConfig{
		URL: srv.URL, ClientID: "api", ClientSecret: "s3cret", Audience: "api", CacheTTL: 5 * time.Second,
		Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), "tok")
	if err != nil || c.Subject != "alice" || !c.HasScope("todos:read") {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	if _, err := v.Verify(context.Background(), "tok"); err != nil || calls != 1 {
		t.Fatalf("cached Verify: %v, calls %d", err, calls)
	}
	active = false // revoked
	clock = clock.Add(6 * time.Second)
	if _, err := v.Verify(context.Background(), "tok"); !errors.Is(err, bearer.ErrInvalidToken) || calls != 2 {
		t.Fatalf("after revocation: %v, calls %d", err, calls)
	}
	if _, err := v.Verify(context.Background(), "other"); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("unknown token: %v", err)
	}
}

// A verified token is remembered: the next Verify of the same bytes checks
// only its expiry, not its signature again (ECDSA verification is a large
// share of an API request's CPU, see docs/performance.md).
func TestJWTVerifierCache(t *testing.T) {
	is := bearertest.New(t, "https://api.example")
	now := time.Now()
	clock := func() time.Time { return now }
	newV := func(size int) *bearer.JWTVerifier {
		v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
			Issuer: is.URL, Audience: is.Audience, MinRefetchInterval: time.Nanosecond, CacheSize: size, Now: clock,
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tok := is.Sign(t, "at+jwt", map[string]any{"iss": is.URL, "aud": is.Audience, "sub": "alice", "scope": "todos:read",
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	ctx := context.Background()

	t.Run("a remembered token costs no signature check", func(t *testing.T) {
		cached, uncached := newV(0), newV(-1)
		for _, v := range []*bearer.JWTVerifier{cached, uncached} {
			if _, err := v.Verify(ctx, tok); err != nil {
				t.Fatal(err)
			}
		}
		allocs := func(v *bearer.JWTVerifier) float64 {
			return testing.AllocsPerRun(50, func() {
				if _, err := v.Verify(ctx, tok); err != nil {
					t.Fatal(err)
				}
			})
		}
		// A full check parses the JWS and its claims: dozens of allocations.
		if got, full := allocs(cached), allocs(uncached); got > 2 || full < 20 {
			t.Errorf("allocations per Verify: %v remembered, %v checked in full", got, full)
		}
	})
	t.Run("expiry still applies", func(t *testing.T) {
		v := newV(0)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		defer func(saved time.Time) { now = saved }(now)
		now = now.Add(time.Minute + bearer.DefaultLeeway - time.Second) // within the leeway
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatalf("within leeway: %v", err)
		}
		now = now.Add(2 * time.Second)
		if _, err := v.Verify(ctx, tok); !errors.Is(err, bearer.ErrInvalidToken) {
			t.Fatalf("past exp + leeway: %v, want ErrInvalidToken", err)
		}
	})
	t.Run("a key withdrawn from the JWKS is not trusted from memory", func(t *testing.T) {
		v := newV(0)
		if _, err := v.Verify(ctx, tok); err != nil {
			t.Fatal(err)
		}
		is.Rotate(t) // the old key leaves the JWKS
		defer func(saved time.Time) { now = saved }(now)
		now = now.Add(time.Second) // past MinRefetchInterval
		// A token of the new key makes the verifier fetch the JWKS again.
		if _, err := v.Verify(ctx, is.Token(t, "bob", "todos:read")); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, tok); !errors.Is(err, bearer.ErrInvalidToken) {
			t.Fatalf("token of the withdrawn key: %v, want ErrInvalidToken", err)
		}
	})
	t.Run("a bounded number is remembered", func(t *testing.T) {
		v := newV(3)
		for i := range 10 {
			tok := is.Token(t, fmt.Sprint("user-", i), "todos:read")
			for range 2 {
				if c, err := v.Verify(ctx, tok); err != nil || c.Subject != fmt.Sprint("user-", i) {
					t.Fatalf("token %d: %v, %v", i, c, err)
				}
			}
		}
	})
}

// TestAuthContext: auth_time, acr and amr are read from a JWT and from an
// introspection answer alike; a claim of the wrong type is left out, and
// the token still verifies.
func TestAuthContext(t *testing.T) {
	is := bearertest.New(t, "https://api.example")
	v := newVerifier(t, is)
	now := time.Now()
	signed := time.Unix(now.Add(-time.Minute).Unix(), 0)
	tests := []struct {
		name     string
		extra    map[string]any
		authTime time.Time
		acr      string
		amr      []string
	}{
		{"two factors", map[string]any{"auth_time": signed.Unix(), "acr": "aal2", "amr": []string{"pwd", "otp", "mfa"}}, signed, "aal2", []string{"pwd", "otp", "mfa"}},
		{"a client's own token", nil, time.Time{}, "", nil},
		{"wrong types", map[string]any{"auth_time": "yesterday", "acr": 2, "amr": "pwd"}, time.Time{}, "", nil},
		{"amr with a number in it", map[string]any{"amr": []any{"hwk", 7, "mfa"}}, time.Time{}, "", []string{"hwk", "mfa"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			claims := map[string]any{"iss": is.URL, "aud": is.Audience, "sub": "alice", "scope": "todos:read",
				"client_id": "web", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
			for k, x := range tc.extra {
				claims[k] = x
			}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				answer := map[string]any{"active": true}
				for k, x := range claims {
					answer[k] = x
				}
				_ = json.NewEncoder(w).Encode(answer)
			}))
			defer srv.Close()
			iv, err := bearer.NewIntrospectionVerifier(bearer.IntrospectionConfig{
				URL: srv.URL, ClientID: "api", ClientSecret: "s3cret", Audience: is.Audience,
			})
			if err != nil {
				t.Fatal(err)
			}
			token := is.Sign(t, "at+jwt", claims)
			for name, v := range map[string]bearer.Verifier{"jwt": v, "introspection": iv} {
				c, err := v.Verify(context.Background(), token)
				if err != nil {
					t.Fatalf("%s: Verify: %v", name, err)
				}
				if !c.AuthTime.Equal(tc.authTime) || c.ACR != tc.acr || !slices.Equal(c.AMR, tc.amr) {
					t.Errorf("%s: auth_time %v acr %q amr %v; want %v %q %v", name, c.AuthTime, c.ACR, c.AMR, tc.authTime, tc.acr, tc.amr)
				}
				if got, want := c.HasAMR("mfa"), slices.Contains(tc.amr, "mfa"); got != want {
					t.Errorf("%s: HasAMR(mfa) = %t", name, got)
				}
			}
		})
	}
}
