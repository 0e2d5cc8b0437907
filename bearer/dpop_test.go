package bearer_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/bearer/bearertest"
	"github.com/gatehouse-dev/gatehouse/dpop"
)

// dpopAlgs is the algs parameter of every DPoP challenge.
const dpopAlgs = `algs="ES256 EdDSA PS256 RS256"`

func newKey(t *testing.T) *dpop.Key {
	t.Helper()
	k, err := dpop.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// makeProof is a proof by k for a request of method to url sending token.
func makeProof(t *testing.T, k *dpop.Key, method, url, token string) string {
	t.Helper()
	p, err := k.Proof(method, url, token, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// scopeHandler answers the subject of the token, under RequireScope(scope).
func scopeHandler(scope string) http.Handler {
	return bearer.RequireScope(scope)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := bearer.ClaimsFrom(r.Context())
		w.Write([]byte(c.Subject))
	}))
}

// TestDPoP covers RFC 9449 §7 at the resource: which token is accepted under
// which scheme with which proof, and the challenges of the refusals.
func TestDPoP(t *testing.T) {
	is := bearertest.New(t, "https://api.example")
	v := newVerifier(t, is)
	key, other := newKey(t), newKey(t)
	bound := is.TokenBound(t, key.JKT(), "alice", "todos:read")
	boundNoScope := is.TokenBound(t, key.JKT(), "alice")
	plain := is.Token(t, "bob", "todos:read")
	plainNoScope := is.Token(t, "bob")
	const target = "http://api.example/todos" // the requests' URL
	const public = "https://public.example/todos"
	proof := func(k *dpop.Key, method, url, token string) string { return makeProof(t, k, method, url, token) }

	dpopErr := func(code, description string) string {
		return `DPoP error="` + code + `", error_description="` + description + `", ` + dpopAlgs
	}
	tests := []struct {
		name       string
		mode       string // "" (WithDPoP), "off" (no option), "nil" (a nil checker), "only" (DPoPOnly), "proxy" (urlOf of a public URL)
		auth       string
		proofs     []string
		repeat     bool // send the request twice: the second answer counts
		status     int
		body       string   // for 200
		challenges []string // WWW-Authenticate values, in order
	}{
		{name: "bound token with its proof", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", target, bound)},
			status: 200, body: "alice"},
		{name: "scheme in any case", auth: "dpop " + bound, proofs: []string{proof(key, "GET", target, bound)},
			status: 200, body: "alice"},
		{name: "bound token under Bearer with a proof", auth: "Bearer " + bound, proofs: []string{proof(key, "GET", target, bound)},
			status: 401, challenges: []string{
				`Bearer error="invalid_token", error_description="the access token is bound to a DPoP key: send it as: DPoP <token>, with a proof"`,
				"DPoP " + dpopAlgs}},
		{name: "bound token under Bearer without a proof", auth: "Bearer " + bound,
			status: 401, challenges: []string{
				`Bearer error="invalid_token", error_description="the access token is bound to a DPoP key: send it as: DPoP <token>, with a proof"`,
				"DPoP " + dpopAlgs}},
		{name: "bound token without a proof", auth: "DPoP " + bound,
			status: 401, challenges: []string{dpopErr("invalid_dpop_proof", "no DPoP proof"), "Bearer"}},
		{name: "proof of another key", auth: "DPoP " + bound, proofs: []string{proof(other, "GET", target, bound)},
			status: 401, challenges: []string{dpopErr("invalid_token", "the access token is not bound to the key of the DPoP proof"), "Bearer"}},
		{name: "proof for another URL", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", "http://api.example/other", bound)},
			status: 401, challenges: []string{dpopErr("invalid_dpop_proof", "htu does not match the request URL"), "Bearer"}},
		{name: "proof for another method", auth: "DPoP " + bound, proofs: []string{proof(key, "POST", target, bound)},
			status: 401, challenges: []string{dpopErr("invalid_dpop_proof", "htm 'POST' does not match the request method GET"), "Bearer"}},
		{name: "proof for another token", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", target, plain)},
			status: 401, challenges: []string{dpopErr("invalid_dpop_proof", "ath does not match the access token"), "Bearer"}},
		{name: "proof without ath", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", target, "")},
			status: 401, challenges: []string{dpopErr("invalid_dpop_proof", "the proof has no ath for the access token"), "Bearer"}},
		{name: "replayed proof", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", target, bound)}, repeat: true,
			status: 401, challenges: []string{dpopErr("invalid_dpop_proof", "the proof was already used"), "Bearer"}},
		{name: "two DPoP headers", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", target, bound), proof(key, "GET", target, bound)},
			status: 401, challenges: []string{dpopErr("invalid_dpop_proof", "more than one DPoP header"), "Bearer"}},
		{name: "invalid token under DPoP", auth: "DPoP nope", proofs: []string{proof(key, "GET", target, "nope")},
			status: 401, challenges: []string{dpopErr("invalid_token", "the access token is invalid or expired"), "Bearer"}},
		{name: "DPoP scheme without a token", auth: "DPoP ",
			status: 401, challenges: []string{dpopErr("invalid_token", "the Authorization header must be: DPoP <token>"), "Bearer"}},
		{name: "unbound token under DPoP", auth: "DPoP " + plain, proofs: []string{proof(key, "GET", target, plain)},
			status: 401, challenges: []string{dpopErr("invalid_token", "the access token is not bound to a DPoP key"), "Bearer"}},
		{name: "bearer token", auth: "Bearer " + plain, status: 200, body: "bob"},
		{name: "bearer token with a proof, ignored", auth: "Bearer " + plain, proofs: []string{proof(key, "GET", target, plain)},
			status: 200, body: "bob"},
		{name: "invalid bearer token", auth: "Bearer nope",
			status: 401, challenges: []string{`Bearer error="invalid_token", error_description="the access token is invalid or expired"`, "DPoP " + dpopAlgs}},
		{name: "no token", status: 401, challenges: []string{"Bearer", "DPoP " + dpopAlgs}},
		{name: "another scheme", auth: "Basic YTpi", status: 401, challenges: []string{"Bearer", "DPoP " + dpopAlgs}},
		{name: "bound token lacking the scope", auth: "DPoP " + boundNoScope, proofs: []string{proof(key, "GET", target, boundNoScope)},
			status: 403, challenges: []string{`DPoP error="insufficient_scope", error_description="the access token lacks the scope todos:read", scope="todos:read", ` + dpopAlgs}},
		{name: "bearer token lacking the scope", auth: "Bearer " + plainNoScope,
			status: 403, challenges: []string{`Bearer error="insufficient_scope", error_description="the access token lacks the scope todos:read", scope="todos:read"`}},

		{name: "behind a proxy: proof for the public URL", mode: "proxy", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", public, bound)},
			status: 200, body: "alice"},
		{name: "behind a proxy: proof for the listener's URL", mode: "proxy", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", target, bound)},
			status: 401, challenges: []string{dpopErr("invalid_dpop_proof", "htu does not match the request URL"), "Bearer"}},

		{name: "without DPoP: bound token under Bearer", mode: "off", auth: "Bearer " + bound,
			status: 401, challenges: []string{`Bearer error="invalid_token", error_description="the access token is bound to a DPoP key, which this resource does not check"`}},
		{name: "without DPoP: bound token under DPoP", mode: "off", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", target, bound)},
			status: 401, challenges: []string{"Bearer"}},
		{name: "without DPoP: bearer token", mode: "off", auth: "Bearer " + plain, status: 200, body: "bob"},
		{name: "nil checker: bound token under Bearer", mode: "nil", auth: "Bearer " + bound,
			status: 401, challenges: []string{`Bearer error="invalid_token", error_description="the access token is bound to a DPoP key, which this resource does not check"`}},
		{name: "nil checker: bound token under DPoP", mode: "nil", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", target, bound)},
			status: 401, challenges: []string{"Bearer"}},

		{name: "DPoP only: bound token with its proof", mode: "only", auth: "DPoP " + bound, proofs: []string{proof(key, "GET", target, bound)},
			status: 200, body: "alice"},
		{name: "DPoP only: bearer token", mode: "only", auth: "Bearer " + plain,
			status: 401, challenges: []string{dpopErr("invalid_token", "this resource accepts only access tokens bound to a DPoP key, sent as: DPoP <token>")}},
		{name: "DPoP only: unbound token under DPoP", mode: "only", auth: "DPoP " + plain, proofs: []string{proof(key, "GET", target, plain)},
			status: 401, challenges: []string{dpopErr("invalid_token", "the access token is not bound to a DPoP key")}},
		{name: "DPoP only: no token", mode: "only", status: 401, challenges: []string{"DPoP " + dpopAlgs}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checker := &dpop.Checker{Replays: dpop.NewMemoryReplays()}
			var opts []bearer.Option
			switch tc.mode {
			case "":
				opts = []bearer.Option{bearer.WithDPoP(checker, nil)}
			case "nil":
				opts = []bearer.Option{bearer.WithDPoP(nil, nil)}
			case "only":
				opts = []bearer.Option{bearer.WithDPoP(checker, nil), bearer.DPoPOnly()}
			case "proxy":
				opts = []bearer.Option{bearer.WithDPoP(checker, func(r *http.Request) string {
					return "https://public.example" + r.URL.EscapedPath()
				})}
			}
			h := bearer.Middleware(v, opts...)(scopeHandler("todos:read"))
			var w *httptest.ResponseRecorder
			for range 1 + btoi(tc.repeat) {
				r := httptest.NewRequest("GET", target, nil)
				if tc.auth != "" {
					r.Header.Set("Authorization", tc.auth)
				}
				for _, p := range tc.proofs {
					r.Header.Add("DPoP", p)
				}
				w = httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if tc.repeat && w.Code == 200 {
					tc.repeat = false
					continue
				}
			}
			if tc.repeat {
				t.Fatalf("first request: %d, want 200 (%s)", w.Code, w.Body)
			}
			if w.Code != tc.status {
				t.Fatalf("status = %d, want %d (%s; %q)", w.Code, tc.status, w.Body, w.Header().Values("WWW-Authenticate"))
			}
			if got := w.Header().Values("WWW-Authenticate"); !slices.Equal(got, tc.challenges) {
				t.Errorf("WWW-Authenticate =\n%q\nwant\n%q", got, tc.challenges)
			}
			if tc.status == 200 && w.Body.String() != tc.body {
				t.Errorf("body = %q, want %q", w.Body, tc.body)
			}
			if w.Header().Get(dpop.HeaderNonce) != "" {
				t.Errorf("DPoP-Nonce %q without nonces", w.Header().Get(dpop.HeaderNonce))
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDPoPAuthenticate: Authenticate takes the same options as Middleware,
// and returns the key's thumbprint in the claims of a bound token.
func TestDPoPAuthenticate(t *testing.T) {
	is := bearertest.New(t, "https://api.example")
	v := newVerifier(t, is)
	key := newKey(t)
	tok := is.TokenBound(t, key.JKT(), "alice", "todos:read")
	r := httptest.NewRequest("PATCH", "https://api.example/todos/1", nil)
	r.Header.Set("Authorization", "DPoP "+tok)
	r.Header.Set("DPoP", makeProof(t, key, "PATCH", "https://api.example/todos/1", tok)) // NewRequest gives an https URL TLS
	c, e := bearer.Authenticate(r, v, bearer.WithDPoP(&dpop.Checker{Replays: dpop.NewMemoryReplays()}, nil))
	if e != nil {
		t.Fatalf("Authenticate: %v", e)
	}
	if c.JKT != key.JKT() || c.Scheme() != bearer.SchemeDPoP || c.Subject != "alice" {
		t.Errorf("claims: JKT %q, scheme %q, subject %q", c.JKT, c.Scheme(), c.Subject)
	}
	// Without the option, the same request is one with another scheme.
	if _, e := bearer.Authenticate(r, v); e == nil || e.Code != "" || e.Challenge() != "Bearer" {
		t.Errorf("Authenticate without WithDPoP = %v", e)
	}
}

// TestRequestURL: WithDPoP's default URL is the one the server received.
func TestRequestURL(t *testing.T) {
	tests := []struct {
		target string
		tls    bool
		want   string
	}{
		{"http://api.example/todos?where=x", false, "http://api.example/todos"},
		{"http://api.example:8443/todos", true, "https://api.example:8443/todos"},
		{"http://api.example/a%2Fb/c%20d", false, "http://api.example/a%2Fb/c%20d"},
		{"http://api.example", false, "http://api.example/"},
	}
	for _, tc := range tests {
		r := httptest.NewRequest("GET", tc.target, nil)
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := bearer.RequestURL(r); got != tc.want {
			t.Errorf("RequestURL(%s, TLS %v) = %q, want %q", tc.target, tc.tls, got, tc.want)
		}
	}
}

// TestDPoPNonce: with a checker that requires nonces, a proof without the
// current one gets 401 use_dpop_nonce and the nonce in DPoP-Nonce; the
// request made again with it is accepted. dpop.Transport does so by
// itself.
func TestDPoPNonce(t *testing.T) {
	is := bearertest.New(t, "https://api.example")
	v := newVerifier(t, is)
	key := newKey(t)
	tok := is.TokenBound(t, key.JKT(), "alice", "todos:read")
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("k", dpop.MinNonceSecret)), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	checker := &dpop.Checker{Replays: dpop.NewMemoryReplays(), Nonces: nonces}
	var mu sync.Mutex
	var statuses []int
	h := bearer.Middleware(v, bearer.WithDPoP(checker, nil))(scopeHandler("todos:read"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		mu.Lock()
		statuses = append(statuses, rec.Code)
		mu.Unlock()
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	}))
	defer srv.Close()
	url := srv.URL + "/todos"

	send := func(nonce string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", url, nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		p, err := key.Proof("GET", url, tok, nonce, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("DPoP", p)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	first := send("")
	want := []string{`DPoP error="use_dpop_nonce", error_description="the proof needs the server's current nonce", ` + dpopAlgs, "Bearer"}
	if got := first.Header.Values("WWW-Authenticate"); first.StatusCode != 401 || !slices.Equal(got, want) {
		t.Fatalf("without a nonce: %d %q, want 401 %q", first.StatusCode, got, want)
	}
	nonce := first.Header.Get(dpop.HeaderNonce)
	if nonce == "" || nonce != nonces.Current() {
		t.Fatalf("DPoP-Nonce = %q, want the current nonce %q", nonce, nonces.Current())
	}
	if again := send(nonce); again.StatusCode != 200 {
		t.Fatalf("with the nonce: %d", again.StatusCode)
	}

	mu.Lock()
	statuses = nil
	mu.Unlock()
	client := &http.Client{Transport: &dpop.Transport{Key: key}}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "DPoP "+tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "alice" {
		t.Fatalf("through dpop.Transport: %d %q", resp.StatusCode, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(statuses, []int{401, 200}) {
		t.Errorf("the server answered %v, want [401 200] (asked for a nonce, then accepted)", statuses)
	}
}

// failingReplays is a replay store that cannot be reached.
type failingReplays struct{}

func (failingReplays) UseOnce(context.Context, string, time.Time, time.Time) error {
	return errors.New("database unreachable")
}

// TestDPoPCannotCheck: a proof that cannot be checked — the replay store
// fails, or the URL to check it against is missing — is a 503 without a
// challenge, as a token that cannot be checked.
func TestDPoPCannotCheck(t *testing.T) {
	is := bearertest.New(t, "https://api.example")
	v := newVerifier(t, is)
	key := newKey(t)
	tok := is.TokenBound(t, key.JKT(), "alice", "todos:read")
	tests := []struct {
		name string
		opt  bearer.Option
	}{
		{"replay store fails", bearer.WithDPoP(&dpop.Checker{Replays: failingReplays{}}, nil)},
		{"no URL", bearer.WithDPoP(&dpop.Checker{Replays: dpop.NewMemoryReplays()}, func(*http.Request) string { return "" })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := bearer.Middleware(v, tc.opt)(scopeHandler("todos:read"))
			r := httptest.NewRequest("GET", "http://api.example/todos", nil)
			r.Header.Set("Authorization", "DPoP "+tok)
			r.Header.Set("DPoP", makeProof(t, key, "GET", "http://api.example/todos", tok))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != 503 || w.Header().Get("WWW-Authenticate") != "" {
				t.Fatalf("%d %q, want 503 without a challenge", w.Code, w.Header().Values("WWW-Authenticate"))
			}
			var body map[string]string
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error_description"] != "the DPoP proof cannot be checked now" {
				t.Errorf("body = %s", w.Body)
			}
		})
	}
}

// TestJWTConfirmation: the JWT verifier reads cnf.jkt into Claims.JKT, and
// refuses a cnf it cannot make sense of, or that binds the token some
// other way, rather than take the token for a bearer one.
func TestJWTConfirmation(t *testing.T) {
	is := bearertest.New(t, "https://api.example")
	v := newVerifier(t, is)
	const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	tests := []struct {
		name    string
		cnf     any // absent when nil and !present
		present bool
		jkt     string // "" with ok: unbound
		ok      bool
	}{
		{name: "no cnf", ok: true},
		{name: "jkt", cnf: map[string]any{"jkt": jkt}, present: true, jkt: jkt, ok: true},
		{name: "null", cnf: nil, present: true},
		{name: "a string", cnf: jkt, present: true},
		{name: "empty object", cnf: map[string]any{}, present: true},
		{name: "empty jkt", cnf: map[string]any{"jkt": ""}, present: true},
		{name: "jkt not a string", cnf: map[string]any{"jkt": 5}, present: true},
		{name: "certificate-bound (RFC 8705)", cnf: map[string]any{"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, present: true},
		{name: "jkt and another method", cnf: map[string]any{"jkt": jkt, "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, present: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Now()
			claims := map[string]any{"iss": is.URL, "aud": is.Audience, "sub": "alice", "scope": "todos:read",
				"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
			if tc.present {
				claims["cnf"] = tc.cnf
			}
			c, err := v.Verify(context.Background(), is.Sign(t, "at+jwt", claims))
			if !tc.ok {
				if !errors.Is(err, bearer.ErrInvalidToken) {
					t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", c, err)
				}
				return
			}
			if err != nil || c.JKT != tc.jkt {
				t.Fatalf("Verify = %+v, %v; want JKT %q", c, err, tc.jkt)
			}
		})
	}
	key := newKey(t)
	if c, err := v.Verify(context.Background(), is.TokenBound(t, key.JKT(), "alice")); err != nil || c.JKT != key.JKT() {
		t.Fatalf("bearertest's TokenBound: %+v, %v", c, err)
	}
}

// TestIntrospectionConfirmation: the introspection verifier reads cnf.jkt
// (RFC 9449 §6.2) into Claims.JKT and accepts token_type DPoP with it, so
// that Authenticate takes such a token only with a proof of its key.
func TestIntrospectionConfirmation(t *testing.T) {
	key := newKey(t)
	jkt := key.JKT()
	const audience = "https://api.example"
	tests := []struct {
		name string
		mod  func(map[string]any)
		jkt  string
		ok   bool
	}{
		{"unbound", func(r map[string]any) {}, "", true},
		{"DPoP with cnf.jkt", func(r map[string]any) { r["token_type"], r["cnf"] = "DPoP", map[string]any{"jkt": jkt} }, jkt, true},
		{"access_token with cnf.jkt", func(r map[string]any) { r["cnf"] = map[string]any{"jkt": jkt} }, jkt, true},
		{"no token_type, cnf.jkt", func(r map[string]any) { delete(r, "token_type"); r["cnf"] = map[string]any{"jkt": jkt} }, jkt, true},
		{"DPoP without cnf", func(r map[string]any) { r["token_type"] = "DPoP" }, "", false},
		{"DPoP with an empty cnf", func(r map[string]any) { r["token_type"], r["cnf"] = "DPoP", map[string]any{} }, "", false},
		{"cnf null", func(r map[string]any) { r["cnf"] = nil }, "", false},
		{"cnf not an object", func(r map[string]any) { r["cnf"] = jkt }, "", false},
		{"certificate-bound", func(r map[string]any) { r["cnf"] = map[string]any{"x5t#S256": "abc"} }, "", false},
		{"refresh_token with cnf.jkt", func(r map[string]any) { r["token_type"], r["cnf"] = "refresh_token", map[string]any{"jkt": jkt} }, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				resp := map[string]any{"active": true, "token_type": "access_token", "sub": "alice", "scope": "todos:read",
					"aud": audience, "exp": time.Now().Add(time.Hour).Unix(), "client_id": "web"}
				tc.mod(resp)
				_ = json.NewEncoder(w).Encode(resp)
			}))
			defer srv.Close()
			v, err := bearer.NewIntrospectionVerifier(bearer.IntrospectionConfig{
				URL: srv.URL, ClientID: "api", ClientSecret: "s3cret", Audience: audience,
			})
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(context.Background(), "tok")
			if !tc.ok {
				if !errors.Is(err, bearer.ErrInvalidToken) {
					t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", c, err)
				}
				return
			}
			if err != nil || c.JKT != tc.jkt {
				t.Fatalf("Verify = %+v, %v; want JKT %q", c, err, tc.jkt)
			}
			if tc.jkt == "" {
				return
			}
			// Bound: refused as a bearer token, accepted with a proof.
			h := bearer.Middleware(v, bearer.WithDPoP(&dpop.Checker{Replays: dpop.NewMemoryReplays()}, nil))(scopeHandler("todos:read"))
			for _, s := range []struct {
				auth   string
				status int
			}{{"Bearer tok", 401}, {"DPoP tok", 200}} {
				r := httptest.NewRequest("GET", "http://api.example/todos", nil)
				r.Header.Set("Authorization", s.auth)
				r.Header.Set("DPoP", makeProof(t, key, "GET", "http://api.example/todos", "tok"))
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != s.status {
					t.Errorf("%s: %d, want %d (%q)", s.auth, w.Code, s.status, w.Header().Values("WWW-Authenticate"))
				}
			}
		})
	}
}

// TestErrorHeaders: SetHeaders sends each challenge in a header of its own
// and the nonce; Challenge joins them in one value; the values of the
// parameters keep to the characters RFC 6750 §3 allows.
func TestErrorHeaders(t *testing.T) {
	tests := []struct {
		name       string
		e          *bearer.Error
		challenges []string
		nonce      string
	}{
		{"bearer only", &bearer.Error{Status: 401},
			[]string{"Bearer"}, ""},
		{"both, no token", &bearer.Error{Status: 401, Schemes: []string{bearer.SchemeBearer, bearer.SchemeDPoP}},
			[]string{"Bearer", "DPoP " + dpopAlgs}, ""},
		{"DPoP only, no token", &bearer.Error{Status: 401, Schemes: []string{bearer.SchemeDPoP}},
			[]string{"DPoP " + dpopAlgs}, ""},
		{"nonce", &bearer.Error{Status: 401, Code: "use_dpop_nonce", Description: "d", Scheme: bearer.SchemeDPoP,
			Schemes: []string{bearer.SchemeBearer, bearer.SchemeDPoP}, Nonce: "n0nce"},
			[]string{`DPoP error="use_dpop_nonce", error_description="d", ` + dpopAlgs, "Bearer"}, "n0nce"},
		{"hostile description", &bearer.Error{Status: 401, Code: "invalid_dpop_proof", Description: "a \"q\" \\ é\r\nX: y", Scheme: bearer.SchemeDPoP},
			[]string{`DPoP error="invalid_dpop_proof", error_description="a 'q' ? ???X: y", ` + dpopAlgs, "Bearer"}, ""},
		{"503: no challenge", &bearer.Error{Status: 503, Description: "down", Schemes: []string{bearer.SchemeBearer, bearer.SchemeDPoP}},
			nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			bearer.WriteError(w, httptest.NewRequest("GET", "/", nil), tc.e)
			if got := w.Header().Values("WWW-Authenticate"); !slices.Equal(got, tc.challenges) {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenges)
			}
			if got := w.Header().Get(dpop.HeaderNonce); got != tc.nonce {
				t.Errorf("DPoP-Nonce = %q, want %q", got, tc.nonce)
			}
			if tc.challenges != nil {
				if got, want := tc.e.Challenge(), strings.Join(tc.challenges, ", "); got != want {
					t.Errorf("Challenge = %q, want %q", got, want)
				}
			}
		})
	}
}
