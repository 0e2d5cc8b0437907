package dpop_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/dpop"
)

// server is a DPoP server for the Transport's tests: it checks the proof
// of every request, demands a nonce, and records what it got.
type server struct {
	*httptest.Server
	checker *dpop.Checker

	// nonce returns the nonce to hand out; default: the Checker's current
	// one.
	nonce func() string
	// always makes the server refuse every request with use_dpop_nonce.
	always bool
	// answer, when set, answers instead of the server's handler, after
	// the proof is recorded.
	answer http.HandlerFunc

	mu     sync.Mutex
	proofs []map[string]any // the claims of the proofs received
	bodies []string
}

func newServer(t *testing.T) *server {
	t.Helper()
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("s", 32)), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &server{checker: &dpop.Checker{Replays: dpop.NewMemoryReplays(), Nonces: nonces}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	proof, e := dpop.ProofFrom(r.Header)
	s.mu.Lock()
	var claims map[string]any
	if parts := strings.Split(proof, "."); len(parts) == 3 {
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(b, &claims)
	}
	s.proofs = append(s.proofs, claims)
	s.bodies = append(s.bodies, string(body))
	s.mu.Unlock()
	if s.answer != nil {
		s.answer(w, r)
		return
	}

	nonce := s.checker.Nonces.Current()
	if s.nonce != nil {
		nonce = s.nonce()
	}
	w.Header().Set(dpop.HeaderNonce, nonce)
	token := ""
	if a := r.Header.Get("Authorization"); strings.HasPrefix(a, "DPoP ") {
		token = a[5:]
	}
	if e == nil && proof == "" {
		e = &dpop.Error{Code: dpop.InvalidProof, Description: "no proof"}
	}
	if e == nil {
		_, err := s.checker.Check(r.Context(), proof, dpop.Request{Method: r.Method, URL: s.URL + r.URL.Path, AccessToken: token})
		if err != nil && !errors.As(err, &e) {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if s.always {
		e = &dpop.Error{Code: dpop.UseNonce, Description: "again"}
	}
	switch {
	case e == nil:
		fmt.Fprint(w, "ok:", string(body))
	case token != "":
		w.Header().Set("WWW-Authenticate", e.WWWAuthenticate(dpop.Algorithms()))
		w.WriteHeader(http.StatusUnauthorized)
	default:
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": e.Code, "error_description": e.Description})
	}
}

// got returns the proofs' claims and the bodies received, and forgets them.
func (s *server) got() ([]map[string]any, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, b := s.proofs, s.bodies
	s.proofs, s.bodies = nil, nil
	return p, b
}

func newTransport(t *testing.T) *dpop.Transport {
	t.Helper()
	k, err := dpop.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return &dpop.Transport{Key: k}
}

func do(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestTransportTokenEndpointNonce(t *testing.T) {
	s := newServer(t)
	tr := newTransport(t)
	// The Base records the bodies: http.Transport would itself rewind a
	// body it finds consumed.
	var sent []string
	tr.Base = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body.Close()
		sent = append(sent, string(b))
		r = r.Clone(r.Context())
		r.Body, r.GetBody, r.ContentLength = io.NopCloser(strings.NewReader(string(b))), nil, int64(len(b))
		return http.DefaultTransport.RoundTrip(r)
	})
	c := &http.Client{Transport: tr}

	req, _ := http.NewRequest("POST", s.URL+"/token?x=1", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	code, body := do(t, c, req)
	if code != http.StatusOK || body != "ok:grant_type=client_credentials" {
		t.Fatalf("answer %d %q", code, body)
	}
	proofs, bodies := s.got()
	if len(proofs) != 2 {
		t.Fatalf("%d requests, want 2 (the second with the nonce)", len(proofs))
	}
	if _, ok := proofs[0]["nonce"]; ok {
		t.Errorf("first proof has a nonce: %v", proofs[0])
	}
	if proofs[1]["nonce"] != s.checker.Nonces.Current() || proofs[1]["htu"] != s.URL+"/token" || proofs[1]["htm"] != "POST" {
		t.Errorf("second proof %v", proofs[1])
	}
	if proofs[0]["jti"] == proofs[1]["jti"] {
		t.Error("the retry reuses the jti")
	}
	if len(sent) != 2 || sent[0] != sent[1] || bodies[0] != bodies[1] {
		t.Errorf("bodies sent %q, received %q: the retry's differs", sent, bodies)
	}
	if req.Header.Get("DPoP") != "" {
		t.Error("the caller's request was modified")
	}

	// The nonce is remembered: the next request needs no retry.
	req, _ = http.NewRequest("POST", s.URL+"/token", strings.NewReader("again"))
	if code, body := do(t, c, req); code != http.StatusOK || body != "ok:again" {
		t.Fatalf("answer %d %q", code, body)
	}
	if proofs, _ := s.got(); len(proofs) != 1 || proofs[0]["nonce"] != s.checker.Nonces.Current() {
		t.Errorf("proofs %v, want one with the nonce", proofs)
	}
}

func TestTransportResourceNonce(t *testing.T) {
	s := newServer(t)
	c := &http.Client{Transport: newTransport(t)}
	req, _ := http.NewRequest("GET", s.URL+"/notes", nil)
	req.Header.Set("Authorization", "DPoP the-token")
	if code, body := do(t, c, req); code != http.StatusOK {
		t.Fatalf("answer %d %q", code, body)
	}
	proofs, _ := s.got()
	if len(proofs) != 2 {
		t.Fatalf("%d requests, want 2", len(proofs))
	}
	for i, p := range proofs {
		if p["ath"] != dpop.TokenHash("the-token") {
			t.Errorf("proof %d: ath %v", i, p["ath"])
		}
	}
	if proofs[1]["nonce"] != s.checker.Nonces.Current() {
		t.Errorf("retry's proof %v", proofs[1])
	}

	// A Bearer token gets no ath.
	req, _ = http.NewRequest("GET", s.URL+"/notes", nil)
	req.Header.Set("Authorization", "Bearer the-token")
	do(t, c, req)
	if proofs, _ := s.got(); len(proofs) == 0 || proofs[0]["ath"] != nil {
		t.Errorf("proofs %v, want no ath", proofs)
	}
}

func TestTransportRetriesOnce(t *testing.T) {
	for _, auth := range []string{"", "DPoP tok"} {
		s := newServer(t)
		s.always = true
		n := 0
		s.nonce = func() string { n++; return fmt.Sprint("nonce-", n) } // a new one each time
		c := &http.Client{Transport: newTransport(t)}
		req, _ := http.NewRequest("POST", s.URL+"/token", strings.NewReader("body"))
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		code, body := do(t, c, req)
		if proofs, _ := s.got(); len(proofs) != 2 {
			t.Errorf("auth %q: %d requests, want 2", auth, len(proofs))
		}
		want := http.StatusBadRequest
		if auth != "" {
			want = http.StatusUnauthorized
		}
		if code != want || (auth == "" && !strings.Contains(body, "use_dpop_nonce")) {
			t.Errorf("auth %q: answer %d %q, want the server's refusal", auth, code, body)
		}
	}
}

func TestTransportNoRetry(t *testing.T) {
	for _, tt := range []struct {
		name   string
		answer http.HandlerFunc
		body   func(url string) *http.Request
		want   string // the body the client must read in full
	}{
		{
			name: "body without GetBody",
			body: func(url string) *http.Request {
				req, _ := http.NewRequest("POST", url, nil)
				req.Body = io.NopCloser(strings.NewReader("once"))
				return req
			},
		},
		{
			name: "another error",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("DPoP-Nonce", "n")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":"invalid_grant","pad":"`+strings.Repeat("x", 100<<10)+`"}`)
			},
			want: `{"error":"invalid_grant","pad":"` + strings.Repeat("x", 100<<10) + `"}`,
		},
		{
			name: "use_dpop_nonce without a nonce",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":"use_dpop_nonce"}`)
			},
			want: `{"error":"use_dpop_nonce"}`,
		},
		{
			name: "use_dpop_nonce not in JSON",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("DPoP-Nonce", "n")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"error":"use_dpop_nonce"}`)
			},
			want: `{"error":"use_dpop_nonce"}`,
		},
		{
			name: "a Bearer challenge",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("DPoP-Nonce", "n")
				w.Header().Set("WWW-Authenticate", `Bearer error="use_dpop_nonce"`)
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, "no")
			},
			want: "no",
		},
		{
			name: "a DPoP challenge of another error",
			answer: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("DPoP-Nonce", "n")
				w.Header().Set("WWW-Authenticate", `DPoP error="invalid_token", error_description="use_dpop_nonce"`)
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, "no")
			},
			want: "no",
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t)
			s.answer = tt.answer
			var req *http.Request
			if tt.body != nil {
				req = tt.body(s.URL + "/token")
			} else {
				req, _ = http.NewRequest("POST", s.URL+"/token", strings.NewReader("body"))
			}
			_, body := do(t, &http.Client{Transport: newTransport(t)}, req)
			if proofs, _ := s.got(); len(proofs) != 1 {
				t.Errorf("%d requests, want 1", len(proofs))
			}
			if tt.want != "" && body != tt.want {
				t.Errorf("body of %d bytes, want the server's %d", len(body), len(tt.want))
			}
		})
	}
}

// TestTransportOrigins: a nonce is sent back only to the server that gave
// it, which the scheme, host and port name.
func TestTransportOrigins(t *testing.T) {
	a, b := newServer(t), newServer(t)
	b.checker.Nonces, _ = dpop.NewNonces([]byte(strings.Repeat("b", 32)), time.Minute, nil)
	c := &http.Client{Transport: newTransport(t)}
	for _, s := range []*server{a, b, a, b} {
		req, _ := http.NewRequest("GET", s.URL+"/x", nil)
		if code, body := do(t, c, req); code != http.StatusOK {
			t.Fatalf("answer %d %q", code, body)
		}
	}
	pa, _ := a.got()
	pb, _ := b.got()
	// a: refused, retried, then right at once; b alike, never sent a's.
	if len(pa) != 3 || len(pb) != 3 {
		t.Fatalf("%d and %d requests, want 3 and 3", len(pa), len(pb))
	}
	if pb[0]["nonce"] != nil || pb[2]["nonce"] != b.checker.Nonces.Current() {
		t.Errorf("b got nonces %v, %v", pb[0]["nonce"], pb[2]["nonce"])
	}
}

func TestTransportErrors(t *testing.T) {
	s := newServer(t)
	closed := false
	body := &closeRecorder{Reader: strings.NewReader("x"), closed: &closed}
	req, _ := http.NewRequest("POST", s.URL, body)
	if _, err := (&dpop.Transport{}).RoundTrip(req); err == nil {
		t.Error("a Transport without a Key sent a request")
	}
	if !closed {
		t.Error("the body was not closed")
	}
	// The Base's error is returned.
	down := errors.New("down")
	tr := newTransport(t)
	tr.Base = roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, down })
	req, _ = http.NewRequest("GET", s.URL, nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, down) {
		t.Errorf("RoundTrip: %v, want the Base's error", err)
	}
}

type closeRecorder struct {
	io.Reader
	closed *bool
}

func (c *closeRecorder) Close() error { *c.closed = true; return nil }

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTransportConcurrent(t *testing.T) {
	s := newServer(t)
	c := &http.Client{Transport: newTransport(t)}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(context.Background(), "POST", s.URL+"/token", strings.NewReader(fmt.Sprint(i)))
			resp, err := c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || string(b) != fmt.Sprint("ok:", i) {
				t.Errorf("answer %d %q", resp.StatusCode, b)
			}
		})
	}
	wg.Wait()
}

// TestTransportNonceChanges: the client keeps the latest nonce, from any
// answer, the retry's included, and does not retry with the nonce just
// refused.
func TestTransportNonceChanges(t *testing.T) {
	s := newServer(t)
	var mu sync.Mutex
	refuseN2 := false
	s.answer = func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_, c := decode(t, r.Header.Get("DPoP"))
		switch {
		case c["nonce"] == nil || (refuseN2 && c["nonce"] == "n2"):
			if c["nonce"] == nil {
				w.Header().Set("DPoP-Nonce", "n1")
			} else {
				w.Header().Set("DPoP-Nonce", "n2") // the same, refused
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"error":"use_dpop_nonce"}`)
		case c["nonce"] == "n1":
			w.Header().Set("DPoP-Nonce", "n2")
			fmt.Fprint(w, "ok")
		default:
			fmt.Fprint(w, "ok")
		}
	}
	c := &http.Client{Transport: newTransport(t)}
	get := func() int {
		req, _ := http.NewRequest("GET", s.URL+"/x", nil)
		code, _ := do(t, c, req)
		return code
	}
	get()
	get()
	proofs, _ := s.got()
	var nonces []any
	for _, p := range proofs {
		nonces = append(nonces, p["nonce"])
	}
	if fmt.Sprint(nonces) != "[<nil> n1 n2]" {
		t.Errorf("nonces sent %v, want [<nil> n1 n2]", nonces)
	}

	mu.Lock()
	refuseN2 = true
	mu.Unlock()
	if code := get(); code != http.StatusBadRequest {
		t.Errorf("answer %d, want the refusal", code)
	}
	if proofs, _ := s.got(); len(proofs) != 1 {
		t.Errorf("%d requests, want 1: no retry with the nonce just refused", len(proofs))
	}
}

// TestTransportUnderOAuth2 follows the package documentation: under
// golang.org/x/oauth2, the token request and the API requests carry proofs,
// the API's with the hash of the DPoP token, and both servers' nonces are
// followed.
func TestTransportUnderOAuth2(t *testing.T) {
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("s", 32)), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	checker := &dpop.Checker{Replays: dpop.NewMemoryReplays(), Nonces: nonces}
	key, err := dpop.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	var srv *httptest.Server
	var bound atomic.Bool
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(dpop.HeaderNonce, nonces.Current())
		token := ""
		if r.URL.Path == "/api" {
			token = strings.TrimPrefix(r.Header.Get("Authorization"), "DPoP ")
		}
		p, err := checker.Check(r.Context(), r.Header.Get("DPoP"), dpop.Request{Method: r.Method, URL: srv.URL + r.URL.Path, AccessToken: token})
		var e *dpop.Error
		switch {
		case errors.As(err, &e) && r.URL.Path == "/token":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": e.Code, "error_description": e.Description})
		case errors.As(err, &e):
			w.Header().Set("WWW-Authenticate", e.WWWAuthenticate(dpop.Algorithms()))
			w.WriteHeader(http.StatusUnauthorized)
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		case r.URL.Path == "/token":
			bound.Store(p.JKT == key.JKT())
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"at-1","token_type":"DPoP","expires_in":300}`)
		case token == "at-1":
			fmt.Fprint(w, "the notes")
		default:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()

	hc := &http.Client{Transport: &dpop.Transport{Key: key}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, hc)
	conf := clientcredentials.Config{ClientID: "c", ClientSecret: "s", TokenURL: srv.URL + "/token"}
	resp, err := conf.Client(ctx).Get(srv.URL + "/api")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != "the notes" || !bound.Load() {
		t.Errorf("answer %d %q, token bound to the key: %v", resp.StatusCode, body, bound.Load())
	}
}
