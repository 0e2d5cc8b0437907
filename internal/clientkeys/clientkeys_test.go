package clientkeys

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// testKeys are the private keys the tests use, made once per run: RSA key
// generation is slow.
type testKeys struct {
	rsa, rsa1024     *rsa.PrivateKey
	p256, p384, p521 *ecdsa.PrivateKey
	ed               ed25519.PrivateKey
}

var makeTestKeys = sync.OnceValues(func() (testKeys, error) {
	var k testKeys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return k, err
	}
	if k.rsa1024, err = rsa.GenerateKey(rand.Reader, 1024); err != nil {
		return k, err
	}
	if k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		return k, err
	}
	if k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
		return k, err
	}
	if k.p521, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader); err != nil {
		return k, err
	}
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	return k, err
})

func keysForTest(t *testing.T) testKeys {
	t.Helper()
	k, err := makeTestKeys()
	if err != nil {
		t.Fatalf("generating test keys: %v", err)
	}
	return k
}

func jwk(key any, kid string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key, KeyID: kid}
}

// withUse and withAlg return key with "use" or "alg" set.
func withUse(key jose.JSONWebKey, use string) jose.JSONWebKey { key.Use = use; return key }
func withAlg(key jose.JSONWebKey, alg string) jose.JSONWebKey { key.Algorithm = alg; return key }

// setJSON is the JSON Web Key Set of keys.
func setJSON(t *testing.T, keys ...jose.JSONWebKey) string {
	t.Helper()
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: keys})
	if err != nil {
		t.Fatalf("marshalling a key set: %v", err)
	}
	return string(b)
}

// padTo pads a JSON document with trailing spaces to n bytes.
func padTo(t *testing.T, doc string, n int) string {
	t.Helper()
	if len(doc) > n {
		t.Fatalf("document of %d bytes is already longer than %d", len(doc), n)
	}
	return doc + strings.Repeat(" ", n-len(doc))
}

func kids(keys []jose.JSONWebKey) []string {
	out := []string{}
	for _, k := range keys {
		out = append(out, k.KeyID)
	}
	return out
}

func TestAlgorithms(t *testing.T) {
	want := []jose.SignatureAlgorithm{jose.PS256, jose.ES256, jose.EdDSA, jose.RS256}
	if got := Algorithms(); !slices.Equal(got, want) {
		t.Errorf("Algorithms() = %v, want %v", got, want)
	}
	if got := AlgorithmNames(); !slices.Equal(got, []string{"PS256", "ES256", "EdDSA", "RS256"}) {
		t.Errorf("AlgorithmNames() = %v", got)
	}
}

func TestParse(t *testing.T) {
	k := keysForTest(t)
	rsaPub, ecPub, edPub := jwk(&k.rsa.PublicKey, "r"), jwk(&k.p256.PublicKey, "e"), jwk(k.ed.Public(), "d")
	valid := setJSON(t, rsaPub, ecPub, edPub)

	tests := []struct {
		name     string
		jwks     string
		wantKids []string // when valid
		wantErr  string   // in the error when refused
	}{
		{name: "RSA-2048, EC P-256 and Ed25519", jwks: valid, wantKids: []string{"r", "e", "d"}},
		{name: "use sig and a fitting alg", jwks: setJSON(t, withUse(withAlg(rsaPub, "PS256"), "sig"), withAlg(ecPub, "ES256"), withAlg(edPub, "EdDSA")), wantKids: []string{"r", "e", "d"}},
		{name: "exactly 64 KiB", jwks: padTo(t, valid, 64<<10), wantKids: []string{"r", "e", "d"}},

		{name: "RSA private key", jwks: setJSON(t, rsaPub, jwk(k.rsa, "priv")), wantErr: `key 1 ("priv") holds a private key`},
		{name: "EC private key", jwks: setJSON(t, jwk(k.p256, "priv")), wantErr: `key 0 ("priv") holds a private key`},
		{name: "Ed25519 private key", jwks: setJSON(t, jwk(k.ed, "priv")), wantErr: `key 0 ("priv") holds a private key`},
		{name: "symmetric key", jwks: setJSON(t, jwk([]byte("a shared secret of thirty-two b!"), "oct")), wantErr: `key 0 ("oct") is a symmetric (oct) key`},
		{name: "RSA-1024", jwks: setJSON(t, jwk(&k.rsa1024.PublicKey, "small")), wantErr: `key 0 ("small") fits none`},
		{name: "EC P-384", jwks: setJSON(t, ecPub, jwk(&k.p384.PublicKey, "p384")), wantErr: `key 1 ("p384") fits none`},
		{name: "EC P-521", jwks: setJSON(t, jwk(&k.p521.PublicKey, "p521")), wantErr: `key 0 ("p521") fits none`},
		{name: "use enc", jwks: setJSON(t, withUse(rsaPub, "enc")), wantErr: `key 0 ("r") is for "enc", not sig`},
		{name: "alg RS512 on an RSA key", jwks: setJSON(t, withAlg(rsaPub, "RS512")), wantErr: `key 0 ("r") fits none`},
		{name: "alg HS256 on an EC key", jwks: setJSON(t, withAlg(ecPub, "HS256")), wantErr: `key 0 ("e") fits none`},
		{name: "alg ES256 on an RSA key", jwks: setJSON(t, withAlg(rsaPub, "ES256")), wantErr: `key 0 ("r") fits none`},
		{name: "empty set", jwks: `{"keys":[]}`, wantErr: "no keys"},
		{name: "no keys member", jwks: `{}`, wantErr: "no keys"},
		{name: "not JSON", jwks: `-----BEGIN PUBLIC KEY-----`, wantErr: "not a JSON Web Key Set"},
		{name: "a JSON array", jwks: `[]`, wantErr: "not a JSON Web Key Set"},
		{name: "over 64 KiB", jwks: padTo(t, valid, 64<<10+1), wantErr: "larger than 64 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := Parse([]byte(tt.jwks))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse: err = %v, want one containing %q", err, tt.wantErr)
				}
				if keys != nil {
					t.Errorf("Parse returned keys %v with its error", kids(keys))
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := kids(keys); !slices.Equal(got, tt.wantKids) {
				t.Errorf("Parse: key IDs %v, want %v", got, tt.wantKids)
			}
		})
	}
}

func TestFits(t *testing.T) {
	k := keysForTest(t)
	rsaPub, ecPub, edPub := jwk(&k.rsa.PublicKey, ""), jwk(&k.p256.PublicKey, ""), jwk(k.ed.Public(), "")
	// Every algorithm of Algorithms, and some a key could name that are not
	// accepted.
	algs := append(Algorithms(), jose.RS384, jose.RS512, jose.PS384, jose.PS512, jose.ES384, jose.ES512, jose.HS256)

	tests := []struct {
		name string
		key  jose.JSONWebKey
		fits []jose.SignatureAlgorithm
	}{
		{name: "RSA-2048", key: rsaPub, fits: []jose.SignatureAlgorithm{jose.PS256, jose.RS256}},
		{name: "RSA-1024", key: jwk(&k.rsa1024.PublicKey, "")},
		{name: "EC P-256", key: ecPub, fits: []jose.SignatureAlgorithm{jose.ES256}},
		{name: "EC P-384", key: jwk(&k.p384.PublicKey, "")},
		{name: "EC P-521", key: jwk(&k.p521.PublicKey, "")},
		{name: "Ed25519", key: edPub, fits: []jose.SignatureAlgorithm{jose.EdDSA}},
		{name: "RSA private key", key: jwk(k.rsa, "")},
		{name: "EC private key", key: jwk(k.p256, "")},
		{name: "Ed25519 private key", key: jwk(k.ed, "")},
		{name: "symmetric key", key: jwk([]byte("a shared secret of thirty-two b!"), "")},
		{name: "RSA-2048 naming PS256", key: withAlg(rsaPub, "PS256"), fits: []jose.SignatureAlgorithm{jose.PS256}},
		{name: "RSA-2048 naming RS256", key: withAlg(rsaPub, "RS256"), fits: []jose.SignatureAlgorithm{jose.RS256}},
		{name: "RSA-2048 naming RS512", key: withAlg(rsaPub, "RS512")},
		{name: "EC P-256 naming ES256", key: withAlg(ecPub, "ES256"), fits: []jose.SignatureAlgorithm{jose.ES256}},
		{name: "EC P-256 naming PS256", key: withAlg(ecPub, "PS256")},
		{name: "Ed25519 naming EdDSA", key: withAlg(edPub, "EdDSA"), fits: []jose.SignatureAlgorithm{jose.EdDSA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, alg := range algs {
				if got, want := Fits(tt.key, alg), slices.Contains(tt.fits, alg); got != want {
					t.Errorf("Fits(%s) = %v, want %v", alg, got, want)
				}
			}
		})
	}
}

func TestNewSetsDefaults(t *testing.T) {
	k := NewSets(nil, nil)
	if k.http == nil || k.http.Timeout != jwksFetchTimeout {
		t.Errorf("default HTTP client %+v, want one with a %s timeout", k.http, jwksFetchTimeout)
	}
	if k.now == nil || time.Since(k.now()) > time.Minute {
		t.Error("the default clock is not time.Now")
	}
}

func TestCandidatesInline(t *testing.T) {
	k := keysForTest(t)
	src := Source{ClientID: "c1", JWKS: setJSON(t,
		jwk(&k.rsa.PublicKey, "r"), jwk(&k.rsa.PublicKey, "r2"), jwk(&k.p256.PublicKey, "e"), jwk(k.ed.Public(), "d"))}
	sets := NewSets(nil, nil)

	tests := []struct {
		name string
		kid  string
		alg  jose.SignatureAlgorithm
		want []string
	}{
		{name: "by kid", kid: "e", alg: jose.ES256, want: []string{"e"}},
		{name: "by kid among keys of one type", kid: "r2", alg: jose.PS256, want: []string{"r2"}},
		{name: "no kid: every RSA key for RS256", alg: jose.RS256, want: []string{"r", "r2"}},
		{name: "no kid: every RSA key for PS256", alg: jose.PS256, want: []string{"r", "r2"}},
		{name: "no kid: the EC key for ES256", alg: jose.ES256, want: []string{"e"}},
		{name: "no kid: the Ed25519 key for EdDSA", alg: jose.EdDSA, want: []string{"d"}},
		{name: "unknown kid", kid: "nope", alg: jose.RS256, want: []string{}},
		{name: "kid of a key that does not fit alg", kid: "e", alg: jose.RS256, want: []string{}},
		{name: "no key fits an algorithm not accepted", alg: jose.RS512, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := sets.Candidates(t.Context(), src, tt.kid, tt.alg, false)
			if err != nil {
				t.Fatalf("Candidates: %v", err)
			}
			if got := kids(keys); !slices.Equal(got, tt.want) {
				t.Errorf("Candidates: key IDs %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCandidatesInlineCache(t *testing.T) {
	k := keysForTest(t)
	sets := NewSets(nil, nil)
	first := Source{ClientID: "c1", JWKS: setJSON(t, jwk(&k.rsa.PublicKey, "first"))}
	ask := func(src Source) ([]string, error) {
		keys, err := sets.Candidates(t.Context(), src, "", jose.RS256, false)
		return kids(keys), err
	}
	if got, err := ask(first); err != nil || !slices.Equal(got, []string{"first"}) {
		t.Fatalf("first use: %v, %v", got, err)
	}
	// Put a marker in the cache: an answer that has it came from the cache,
	// not from parsing the set again.
	sets.mu.Lock()
	sets.inline["c1"] = inlineSet{src: first.JWKS, keys: []jose.JSONWebKey{jwk(&k.rsa.PublicKey, "cached")}}
	sets.mu.Unlock()

	steps := []struct {
		name    string
		src     Source
		want    []string
		wantErr string
	}{
		{name: "same set: the parsed keys are reused", src: first, want: []string{"cached"}},
		{name: "another client with the same text is parsed for it", src: Source{ClientID: "c2", JWKS: first.JWKS}, want: []string{"first"}},
		{name: "the client's set changed: parsed again", src: Source{ClientID: "c1", JWKS: setJSON(t, jwk(&k.rsa.PublicKey, "second"))}, want: []string{"second"}},
		{name: "changed to an invalid set: an error, not the old keys", src: Source{ClientID: "c1", JWKS: "{"}, wantErr: "the client's registered key set: not a JSON Web Key Set"},
		{name: "the last valid set is still cached", src: Source{ClientID: "c1", JWKS: setJSON(t, jwk(&k.rsa.PublicKey, "second"))}, want: []string{"second"}},
	}
	for _, st := range steps {
		got, err := ask(st.src)
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Fatalf("%s: err = %v, want one containing %q", st.name, err, st.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, st.want) {
			t.Fatalf("%s: key IDs %v, err %v; want %v", st.name, got, err, st.want)
		}
	}
}

// testClock is a clock the test moves. onCall, if set, is called with the
// number of readings so far, after each.
type testClock struct {
	mu     sync.Mutex
	t      time.Time
	calls  int
	onCall func(calls int)
}

func newTestClock() *testClock {
	return &testClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	c.calls++
	t, n, f := c.t, c.calls, c.onCall
	c.mu.Unlock()
	if f != nil {
		f(n)
	}
	return t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// jwksServer serves a key set over TLS and counts the requests.
type jwksServer struct {
	*httptest.Server
	requests atomic.Int32

	mu     sync.Mutex
	status int
	body   string
	accept string       // the last request's Accept header
	hold   func() error // if set, called before answering; an error fails the test
}

func newJWKSServer(t *testing.T, body string) *jwksServer {
	s := &jwksServer{status: http.StatusOK, body: body}
	s.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		s.mu.Lock()
		s.accept = r.Header.Get("Accept")
		hold := s.hold
		s.mu.Unlock()
		if hold != nil {
			if err := hold(); err != nil {
				t.Error(err)
			}
		}
		s.mu.Lock()
		status, body := s.status, s.body
		s.mu.Unlock()
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(status int, body string) {
	s.mu.Lock()
	s.status, s.body = status, body
	s.mu.Unlock()
}

func TestCandidatesURICache(t *testing.T) {
	k := keysForTest(t)
	setA, setB := setJSON(t, jwk(&k.rsa.PublicKey, "a")), setJSON(t, jwk(&k.rsa.PublicKey, "b"))
	srv := newJWKSServer(t, setA)
	clk := newTestClock()
	sets := NewSets(srv.Client(), clk.now)
	src := Source{ClientID: "c1", URI: srv.URL}

	// Each step moves the clock by advance since the step before, then asks.
	steps := []struct {
		name        string
		advance     time.Duration
		serve       string // the set served from this step on, if not empty
		refresh     bool
		wantFetches int32 // in all, after the step
		want        []string
	}{
		{name: "first use fetches", wantFetches: 1, want: []string{"a"}},
		{name: "cached", advance: 10 * time.Second, serve: setB, wantFetches: 1, want: []string{"a"}},
		{name: "refresh under 30 s after the fetch uses the cache", advance: 20*time.Second - 1, refresh: true, wantFetches: 1, want: []string{"a"}},
		{name: "refresh 30 s after the fetch fetches", advance: 1, refresh: true, wantFetches: 2, want: []string{"b"}},
		{name: "refresh right after that uses the cache", advance: time.Second, refresh: true, wantFetches: 2, want: []string{"b"}},
		{name: "cached until 5 minutes after the fetch", advance: 5*time.Minute - time.Second - 1, serve: setA, wantFetches: 2, want: []string{"b"}},
		{name: "5 minutes after the fetch it is fetched again", advance: 1, wantFetches: 3, want: []string{"a"}},
		{name: "and then cached again", advance: 4 * time.Minute, wantFetches: 3, want: []string{"a"}},
	}
	for _, st := range steps {
		clk.advance(st.advance)
		if st.serve != "" {
			srv.serve(http.StatusOK, st.serve)
		}
		keys, err := sets.Candidates(t.Context(), src, "", jose.RS256, st.refresh)
		if err != nil {
			t.Fatalf("%s: Candidates: %v", st.name, err)
		}
		if got := kids(keys); !slices.Equal(got, st.want) {
			t.Errorf("%s: key IDs %v, want %v", st.name, got, st.want)
		}
		if got := srv.requests.Load(); got != st.wantFetches {
			t.Fatalf("%s: %d fetches in all, want %d", st.name, got, st.wantFetches)
		}
	}
	srv.mu.Lock()
	accept := srv.accept
	srv.mu.Unlock()
	if !strings.Contains(accept, "application/jwk-set+json") {
		t.Errorf("Accept: %q, want application/jwk-set+json", accept)
	}
	// Key selection applies to a fetched set as to a registered one.
	if keys, err := sets.Candidates(t.Context(), src, "a", jose.ES256, false); err != nil || len(keys) != 0 {
		t.Errorf("an RSA key for ES256: %v, %v; want none", kids(keys), err)
	}
}

func TestCandidatesURIErrors(t *testing.T) {
	k := keysForTest(t)
	valid := setJSON(t, jwk(&k.rsa.PublicKey, "a"))
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string
	}{
		{name: "server error", status: http.StatusInternalServerError, body: valid, wantErr: "status 500"},
		{name: "not found", status: http.StatusNotFound, body: valid, wantErr: "status 404"},
		{name: "no content", status: http.StatusNoContent, wantErr: "status 204"},
		{name: "over 64 KiB", status: http.StatusOK, body: padTo(t, valid, 64<<10+1), wantErr: "larger than 64 KiB"},
		{name: "not JSON", status: http.StatusOK, body: "<html></html>", wantErr: "not a JSON Web Key Set"},
		{name: "a private key", status: http.StatusOK, body: setJSON(t, jwk(k.rsa, "a")), wantErr: "holds a private key"},
		{name: "no keys", status: http.StatusOK, body: `{"keys":[]}`, wantErr: "no keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, tt.body)
			srv.serve(tt.status, tt.body)
			sets := NewSets(srv.Client(), newTestClock().now)
			keys, err := sets.Candidates(t.Context(), Source{ClientID: "c1", URI: srv.URL}, "", jose.RS256, false)
			if err == nil || !strings.Contains(err.Error(), "jwks_uri") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Candidates: err = %v, want one about the jwks_uri containing %q", err, tt.wantErr)
			}
			if keys != nil {
				t.Errorf("Candidates returned keys %v with its error", kids(keys))
			}
		})
	}
	t.Run("exactly 64 KiB", func(t *testing.T) {
		srv := newJWKSServer(t, padTo(t, valid, 64<<10))
		sets := NewSets(srv.Client(), newTestClock().now)
		keys, err := sets.Candidates(t.Context(), Source{ClientID: "c1", URI: srv.URL}, "", jose.RS256, false)
		if err != nil || !slices.Equal(kids(keys), []string{"a"}) {
			t.Fatalf("Candidates: %v, %v; want [a]", kids(keys), err)
		}
	})
}

func TestCandidatesURIFailedRefetch(t *testing.T) {
	k := keysForTest(t)
	srv := newJWKSServer(t, setJSON(t, jwk(&k.rsa.PublicKey, "a")))
	clk := newTestClock()
	sets := NewSets(srv.Client(), clk.now)
	src := Source{ClientID: "c1", URI: srv.URL}

	steps := []struct {
		name        string
		advance     time.Duration
		status      int
		body        string
		refresh     bool
		wantFetches int32
		want        []string
		wantErr     string
	}{
		{name: "first use fetches", status: http.StatusOK, body: setJSON(t, jwk(&k.rsa.PublicKey, "a")), wantFetches: 1, want: []string{"a"}},
		{name: "a failed refetch uses the cached set", advance: 30 * time.Second, status: http.StatusBadGateway, refresh: true, wantFetches: 2, want: []string{"a"}},
		{name: "so does an invalid set", advance: time.Minute, status: http.StatusOK, body: "{", refresh: true, wantFetches: 3, want: []string{"a"}},
		{name: "and a set over 64 KiB", advance: 3*time.Minute + 29*time.Second, status: http.StatusOK, body: padTo(t, setJSON(t, jwk(&k.rsa.PublicKey, "big")), 64<<10+1), refresh: true, wantFetches: 4, want: []string{"a"}},
		{name: "after 5 minutes the last failure is the answer, with no fetch for 30 s", advance: time.Second, status: http.StatusBadGateway, wantFetches: 4, wantErr: "larger than 64 KiB"},
		{name: "30 s after a failure a fetch is tried again", advance: 30 * time.Second, status: http.StatusBadGateway, wantFetches: 5, wantErr: "status 502"},
		{name: "but not sooner, even if it would succeed now", advance: 29 * time.Second, status: http.StatusOK, body: setJSON(t, jwk(&k.rsa.PublicKey, "new")), wantFetches: 5, wantErr: "status 502"},
		{name: "then it is fetched", advance: time.Second, status: http.StatusOK, body: setJSON(t, jwk(&k.rsa.PublicKey, "new")), wantFetches: 6, want: []string{"new"}},
		{name: "and cached", advance: time.Second, status: http.StatusBadGateway, wantFetches: 6, want: []string{"new"}},
	}
	for _, st := range steps {
		clk.advance(st.advance)
		srv.serve(st.status, st.body)
		keys, err := sets.Candidates(t.Context(), src, "", jose.RS256, st.refresh)
		switch {
		case st.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Fatalf("%s: err = %v, want one containing %q", st.name, err, st.wantErr)
			}
		case err != nil:
			t.Fatalf("%s: Candidates: %v", st.name, err)
		case !slices.Equal(kids(keys), st.want):
			t.Fatalf("%s: key IDs %v, want %v", st.name, kids(keys), st.want)
		}
		if got := srv.requests.Load(); got != st.wantFetches {
			t.Fatalf("%s: %d fetches in all, want %d", st.name, got, st.wantFetches)
		}
	}
}

// TestCandidatesURIOneFetch has many callers ask for a set not cached: the
// server answers only when every one of them has asked (read the clock), and
// there must be one fetch, whose keys they all get.
func TestCandidatesURIOneFetch(t *testing.T) {
	const callers = 16
	k := keysForTest(t)
	srv := newJWKSServer(t, setJSON(t, jwk(&k.rsa.PublicKey, "a")))
	clk := newTestClock()
	allAsked := make(chan struct{})
	clk.onCall = func(n int) {
		if n == callers {
			close(allAsked)
		}
	}
	srv.hold = func() error {
		select {
		case <-allAsked:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("not every caller asked within 10 s")
		}
	}
	sets := NewSets(srv.Client(), clk.now)
	src := Source{ClientID: "c1", URI: srv.URL}

	var wg sync.WaitGroup
	results := make([][]jose.JSONWebKey, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() {
			results[i], errs[i] = sets.Candidates(t.Context(), src, "a", jose.RS256, false)
		})
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || !slices.Equal(kids(results[i]), []string{"a"}) {
			t.Errorf("caller %d: %v, %v; want [a]", i, kids(results[i]), errs[i])
		}
	}
	if got := srv.requests.Load(); got != 1 {
		t.Errorf("%d fetches for %d callers, want 1", got, callers)
	}
}

// TestCandidatesURICancelled has the caller that started a fetch go away
// while the fetch is under way: it stops waiting, and the fetch goes on for
// the others.
func TestCandidatesURICancelled(t *testing.T) {
	k := keysForTest(t)
	srv := newJWKSServer(t, setJSON(t, jwk(&k.rsa.PublicKey, "a")))
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) }) // before the server closes
	srv.hold = func() error {
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
		return nil
	}
	sets := NewSets(srv.Client(), newTestClock().now)
	src := Source{ClientID: "c1", URI: srv.URL}
	type result struct {
		keys []jose.JSONWebKey
		err  error
	}
	ask := func(ctx context.Context) <-chan result {
		ch := make(chan result, 1)
		go func() {
			keys, err := sets.Candidates(ctx, src, "", jose.RS256, false)
			ch <- result{keys, err}
		}()
		return ch
	}
	wait := func(ch <-chan result, who string) result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-time.After(5 * time.Second):
			t.Fatalf("%s still waiting after 5 s", who)
			return result{}
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	first := ask(ctx)
	select {
	case <-arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the first caller's fetch did not reach the server")
	}
	second := ask(t.Context())
	cancel()
	if r := wait(first, "the cancelled caller"); !errors.Is(r.err, context.Canceled) {
		t.Errorf("cancelled caller: %v, %v; want context.Canceled", kids(r.keys), r.err)
	}
	releaseOnce.Do(func() { close(release) })
	if r := wait(second, "the second caller"); r.err != nil || !slices.Equal(kids(r.keys), []string{"a"}) {
		t.Errorf("second caller: %v, %v; want [a]", kids(r.keys), r.err)
	}
	if r := wait(ask(t.Context()), "a later caller"); r.err != nil || !slices.Equal(kids(r.keys), []string{"a"}) {
		t.Errorf("later caller: %v, %v; want [a]", kids(r.keys), r.err)
	}
	if got := srv.requests.Load(); got != 1 {
		t.Errorf("%d fetches, want 1: the fetch the cancelled caller started was not kept", got)
	}
}

// TestFetchSharedRechecks covers a caller that found no usable set just
// before another caller's fetch stored one, and so did not share that fetch:
// the stored set answers it unless it is too old for the caller's request.
func TestFetchSharedRechecks(t *testing.T) {
	k := keysForTest(t)
	tests := []struct {
		name      string
		age       time.Duration // of the stored set
		refresh   bool
		wantFetch bool
	}{
		{name: "just stored", wantFetch: false},
		{name: "refresh, stored under 30 s ago", age: 30*time.Second - 1, refresh: true, wantFetch: false},
		{name: "refresh, stored 30 s ago", age: 30 * time.Second, refresh: true, wantFetch: true},
		{name: "stored 5 minutes ago", age: 5 * time.Minute, wantFetch: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newJWKSServer(t, setJSON(t, jwk(&k.rsa.PublicKey, "a")))
			clk := newTestClock()
			sets := NewSets(srv.Client(), clk.now)
			if _, err := sets.Candidates(t.Context(), Source{ClientID: "c1", URI: srv.URL}, "", jose.RS256, false); err != nil {
				t.Fatalf("first use: %v", err)
			}
			clk.advance(tt.age)
			keys, err := sets.fetchShared(t.Context(), srv.URL, clk.now(), tt.refresh)
			if err != nil || !slices.Equal(kids(keys), []string{"a"}) {
				t.Fatalf("fetchShared: %v, %v; want [a]", kids(keys), err)
			}
			want := int32(1)
			if tt.wantFetch {
				want = 2
			}
			if got := srv.requests.Load(); got != want {
				t.Errorf("%d fetches in all, want %d", got, want)
			}
		})
	}
}
