package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// dpopAlgs is the algs parameter of the API's DPoP challenges.
const dpopAlgs = `algs="ES256 EdDSA PS256 RS256"`

// TestDPoPBoundTokens: the API takes a DPoP-bound token as "DPoP <token>"
// with a proof of its key made for the API's public URL, and refuses it as
// a bearer token; a proof is accepted once across the instances sharing
// the database.
func TestDPoPBoundTokens(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			testDPoPBoundTokens(t, b)
		})
	}
}

func testDPoPBoundTokens(t *testing.T, b storagetest.Backend) {
	const public = "https://gh.test"
	in := newEnv(t, b, "")
	cfg := func() api.Config {
		return api.Config{PublicURL: public, DPoP: &dpop.Checker{Replays: api.Replays{Store: in.ss}}}
	}
	e, e2 := in.start(cfg()), in.start(cfg()) // two instances
	key, err := dpop.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	bound := in.issuer.TokenBound(t, key.JKT(), "alice", "todos:read", "todos:write")
	proof := func(method, url, token string) string {
		t.Helper()
		p, err := key.Proof(method, url, token, "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// do sends a request with the token under scheme and proof.
	do := func(e *env, method, path, scheme, token, proof, body string, hdr ...string) resp {
		t.Helper()
		hdr = append(hdr, "Authorization", scheme+" "+token)
		if proof != "" {
			hdr = append(hdr, "DPoP", proof)
		}
		return e.do(method, path, "", body, hdr...)
	}
	wantChallenge := func(r resp, status int, want string) {
		t.Helper()
		e.want(r, status)
		if got := strings.Join(r.header.Values("WWW-Authenticate"), ", "); got != want {
			t.Errorf("WWW-Authenticate =\n%q\nwant\n%q", got, want)
		}
	}

	r := do(e, "POST", "/api/todos", "DPoP", bound, proof("POST", public+"/api/todos", bound), `{"title":"bound"}`)
	e.want(r, 201)
	id, _ := r.body["_id"].(string)
	item := "/api/todos/" + id
	r = do(e, "GET", item, "DPoP", bound, proof("GET", public+item, bound), "")
	e.want(r, 200)
	if r.body["title"] != "bound" || r.body["owner"] != "alice" {
		t.Errorf("GET %s = %s", item, r.raw)
	}

	misuse := `Bearer error="invalid_token", error_description="the access token is bound to a DPoP key: send it as: DPoP <token>, with a proof", DPoP ` + dpopAlgs
	wantChallenge(do(e, "GET", item, "Bearer", bound, proof("GET", public+item, bound), ""), 401, misuse)
	wantChallenge(do(e, "GET", item, "Bearer", bound, "", ""), 401, misuse)
	wantChallenge(do(e, "GET", item, "DPoP", bound, "", ""), 401,
		`DPoP error="invalid_dpop_proof", error_description="no DPoP proof", `+dpopAlgs+`, Bearer`)
	// The proof names the public URL, not the listener's.
	wantChallenge(do(e, "GET", item, "DPoP", bound, proof("GET", e.srv.URL+item, bound), ""), 401,
		`DPoP error="invalid_dpop_proof", error_description="htu does not match the request URL", `+dpopAlgs+`, Bearer`)

	// Used once, across instances.
	p := proof("GET", public+item, bound)
	e.want(do(e, "GET", item, "DPoP", bound, p, ""), 200)
	wantChallenge(do(e2, "GET", item, "DPoP", bound, p, ""), 401,
		`DPoP error="invalid_dpop_proof", error_description="the proof was already used", `+dpopAlgs+`, Bearer`)
	e.want(do(e2, "GET", item, "DPoP", bound, proof("GET", public+item, bound), ""), 200)

	// A bearer token works as a bearer token only.
	plain := in.issuer.Token(t, "alice", "todos:read")
	e.want(do(e, "GET", item, "Bearer", plain, "", ""), 200)
	wantChallenge(do(e, "GET", item, "DPoP", plain, proof("GET", public+item, plain), ""), 401,
		`DPoP error="invalid_token", error_description="the access token is not bound to a DPoP key", `+dpopAlgs+`, Bearer`)
	wantChallenge(e.do("GET", item, "", ""), 401, "Bearer, DPoP "+dpopAlgs)

	// A bound token's missing scope is challenged under DPoP.
	readOnly := in.issuer.TokenBound(t, key.JKT(), "alice", "todos:read")
	wantChallenge(do(e, "POST", "/api/todos", "DPoP", readOnly, proof("POST", public+"/api/todos", readOnly), `{"title":"x"}`), 403,
		`DPoP error="insufficient_scope", error_description="the access token lacks the scope todos:write", scope="todos:write", `+dpopAlgs)

	// Without DPoP, a bound token is refused whatever the scheme.
	off := in.start(api.Config{PublicURL: public})
	wantChallenge(do(off, "GET", item, "Bearer", bound, "", ""), 401,
		`Bearer error="invalid_token", error_description="the access token is bound to a DPoP key, which this resource does not check"`)
	wantChallenge(do(off, "GET", item, "DPoP", bound, proof("GET", public+item, bound), ""), 401, "Bearer")
	off.want(do(off, "GET", item, "Bearer", plain, "", ""), 200)
}

// TestDPoPNonce: an API whose checker requires nonces answers a proof
// without one with 401 use_dpop_nonce and the nonce in DPoP-Nonce, which
// dpop.Transport sends again with. Without a PublicURL, the proofs name
// the URL the request reached.
func TestDPoPNonce(t *testing.T) {
	in := newEnv(t, storagetest.Backend{Name: "sqlite", DSN: storagetest.SQLite}, "")
	nonces, err := dpop.NewNonces([]byte(strings.Repeat("n", dpop.MinNonceSecret)), time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := in.start(api.Config{DPoP: &dpop.Checker{Replays: api.Replays{Store: in.ss}, Nonces: nonces}})
	key, err := dpop.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tok := in.issuer.TokenBound(t, key.JKT(), "alice", "todos:read")
	url := e.srv.URL + "/api/todos"
	p, err := key.Proof("GET", url, tok, "", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := e.do("GET", "/api/todos", "", "", "Authorization", "DPoP "+tok, "DPoP", p)
	e.want(r, 401)
	if got := r.header.Get(dpop.HeaderNonce); got != nonces.Current() {
		t.Errorf("DPoP-Nonce = %q, want %q", got, nonces.Current())
	}
	if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `DPoP error="use_dpop_nonce"`) {
		t.Errorf("WWW-Authenticate = %q", got)
	}

	client := &http.Client{Transport: &dpop.Transport{Key: key}}
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "DPoP "+tok)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("through dpop.Transport: %d %s", res.StatusCode, body)
	}
}

// TestDPoPCORS: with DPoP, a browser may send the DPoP header and read
// the challenges and nonces; without, nothing changes.
func TestDPoPCORS(t *testing.T) {
	in := newEnv(t, storagetest.Backend{Name: "sqlite", DSN: storagetest.SQLite}, `
cors: {allowed_origins: ["https://app.test"]}
resources:
  todos:
    resource_methods: [GET]
    schema: {type: object, properties: {title: {type: string}}}
`)
	tests := []struct {
		name           string
		checker        *dpop.Checker
		allow, exposed string
	}{
		{"with DPoP", &dpop.Checker{Replays: dpop.NewMemoryReplays()},
			"Authorization, Content-Type, If-Match, If-None-Match, DPoP",
			"ETag, Location, Last-Modified, X-Total-Count, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, WWW-Authenticate, DPoP-Nonce"},
		{"without", nil,
			"Authorization, Content-Type, If-Match, If-None-Match",
			"ETag, Location, Last-Modified, X-Total-Count, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := in.start(api.Config{DPoP: tc.checker})
			e.t = t
			r := e.do("OPTIONS", "/api/todos", "", "", "Origin", "https://app.test", "Access-Control-Request-Method", "GET")
			if got := r.header.Get("Access-Control-Allow-Headers"); got != tc.allow {
				t.Errorf("Access-Control-Allow-Headers = %q, want %q", got, tc.allow)
			}
			if got := r.header.Get("Access-Control-Expose-Headers"); got != tc.exposed {
				t.Errorf("Access-Control-Expose-Headers = %q, want %q", got, tc.exposed)
			}
		})
	}
}

// oneTime is a OneTimeStore answering err, and remembering the key.
type oneTime struct {
	err error
	key string
}

func (o *oneTime) UseOnce(_ context.Context, key string, _, _ time.Time) error {
	o.key = key
	return o.err
}

// TestReplays: the store's replays are dpop.ErrReplayed, its failures
// other errors (a 503), and the API's keys are its own.
func TestReplays(t *testing.T) {
	unreachable := errors.New("unreachable")
	tests := []struct {
		name     string
		err      error
		replayed bool
		fails    bool
	}{
		{"first use", nil, false, false},
		{"replay", fmt.Errorf("x: %w", storage.ErrAlreadyUsed), true, true},
		{"store fails", unreachable, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &oneTime{err: tc.err}
			err := api.Replays{Store: st}.UseOnce(context.Background(), "k", time.Now(), time.Now())
			if (err != nil) != tc.fails || errors.Is(err, dpop.ErrReplayed) != tc.replayed {
				t.Errorf("UseOnce = %v, want failure %v, replay %v", err, tc.fails, tc.replayed)
			}
			if tc.err == unreachable && !errors.Is(err, unreachable) {
				t.Errorf("UseOnce = %v, want it to wrap the store's error", err)
			}
			if st.key != "dpop-api\x00k" {
				t.Errorf("key = %q", st.key)
			}
		})
	}
}
