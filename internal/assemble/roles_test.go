package assemble

import (
	"context"
	"flag"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer/bearertest"
	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// apiURL is the API's public URL in the API role's tests.
const apiURL = "https://api.example.com"

// apiRoleWiring is the wiring of the API role on a fresh data directory
// with serve's flags and a test issuer of tokens for apiURL.
func apiRoleWiring(t *testing.T, flags ...string) (*wiring, *bearertest.Issuer) {
	t.Helper()
	ctx := context.Background()
	var c config.Serve
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse(append([]string{"--data-dir", t.TempDir(), "--api-url", apiURL}, flags...)); err != nil {
		t.Fatal(err)
	}
	is := bearertest.New(t, apiURL)
	c.Issuer = is.URL
	st, err := OpenStore(ctx, &c.Storage)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	res, err := LoadResources(&c)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := OpenDocuments(ctx, st, res)
	if err != nil {
		t.Fatal(err)
	}
	return &wiring{cfg: &c, logger: slog.New(slog.DiscardHandler), store: st, docs: docs, resources: res, client: http.DefaultClient}, is
}

// TestAPIRoleChecksDPoPProofs: the API role accepts a DPoP-bound token
// with a proof made for its public URL (--api-url), refuses it as a bearer
// token, and records proofs in the database, so that two instances accept
// a proof once between them.
func TestAPIRoleChecksDPoPProofs(t *testing.T) {
	ctx := context.Background()
	w, is := apiRoleWiring(t)
	instance := func() *httptest.Server {
		r, err := w.api(ctx)
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(r.server.Handler)
		t.Cleanup(srv.Close)
		return srv
	}
	a, b := instance(), instance()

	key, err := dpop.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tok := is.TokenBound(t, key.JKT(), "alice", "todos:read")
	proof, err := key.Proof("GET", apiURL+"/api/todos", tok, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	get := func(srv *httptest.Server, auth, proof string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+"/api/todos", nil)
		req.Header.Set("Authorization", auth)
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, s := range []struct {
		name      string
		srv       *httptest.Server
		auth      string
		status    int
		challenge string // what WWW-Authenticate starts with
	}{
		{"bound token as a bearer token", a, "Bearer " + tok, 401, `Bearer error="invalid_token"`},
		{"bound token with its proof", a, "DPoP " + tok, 200, ""},
		{"the proof again, at another instance", b, "DPoP " + tok, 401, `DPoP error="invalid_dpop_proof", error_description="the proof was already used"`},
	} {
		resp := get(s.srv, s.auth, proof)
		if got := resp.Header.Get("WWW-Authenticate"); resp.StatusCode != s.status || !strings.HasPrefix(got, s.challenge) {
			t.Errorf("%s: %d %q, want %d %q…", s.name, resp.StatusCode, got, s.status, s.challenge)
		}
	}
}

// TestAPIRoleDPoPNonces: with --dpop-nonces the API asks for the server's
// nonce (use_dpop_nonce with a DPoP-Nonce header) and accepts the proof
// that carries it; the nonces come from the server secret, so the
// authorization server, given the same, hands out the same.
func TestAPIRoleDPoPNonces(t *testing.T) {
	ctx := context.Background()
	w, is := apiRoleWiring(t, "--dpop-nonces")
	key, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	nonces, err := newDPoPNonces(w.cfg, key)
	if err != nil || nonces == nil {
		t.Fatalf("newDPoPNonces with --dpop-nonces: %v, %v", nonces, err)
	}
	w.key, w.dpopNonces = key, nonces
	r, err := w.api(ctx)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r.server.Handler)
	defer srv.Close()

	dk, err := dpop.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tok := is.TokenBound(t, dk.JKT(), "alice", "todos:read")
	get := func(nonce string) *http.Response {
		t.Helper()
		proof, err := dk.Proof("GET", apiURL+"/api/todos", tok, nonce, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("GET", srv.URL+"/api/todos", nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", proof)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get("")
	nonce := resp.Header.Get("DPoP-Nonce")
	if resp.StatusCode != 401 || nonce != nonces.Current() || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="use_dpop_nonce"`) {
		t.Fatalf("without a nonce: %d, DPoP-Nonce %q, %q", resp.StatusCode, nonce, resp.Header.Get("WWW-Authenticate"))
	}
	if resp := get(nonce); resp.StatusCode != 200 {
		t.Fatalf("with the nonce: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if n, err := newDPoPNonces(&config.Serve{}, key); n != nil || err != nil {
		t.Fatalf("newDPoPNonces without --dpop-nonces: %v, %v", n, err)
	}
}

// TestAPIRoleJWTLeeway: the API role accepts a JWT until its exp plus
// --jwt-leeway: a token expired 10 s ago is refused with the default
// leeway (5 s) and accepted with --jwt-leeway 30s.
func TestAPIRoleJWTLeeway(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		flags  []string
		status int
	}{
		{"default leeway", nil, http.StatusUnauthorized},
		{"--jwt-leeway 30s", []string{"--jwt-leeway", "30s"}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, is := apiRoleWiring(t, tc.flags...)
			r, err := w.api(ctx)
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(r.server.Handler)
			defer srv.Close()
			now := time.Now()
			tok := is.Sign(t, "at+jwt", map[string]any{"iss": is.URL, "aud": apiURL, "sub": "alice", "scope": "todos:read",
				"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(-10 * time.Second).Unix()})
			req, _ := http.NewRequest("GET", srv.URL+"/api/todos", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Errorf("a token expired 10 s ago: %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}
