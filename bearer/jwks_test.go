package bearer_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/bearer/bearertest"
)

const jwksAudience = "https://api.example"

// jwksServer is an issuer whose published key set a test changes at will: it
// publishes the keys given to publish, answers 503 while down, and takes
// delay to answer.
type jwksServer struct {
	URL     string
	fetches atomic.Int64
	arrived chan struct{} // gets a value as each fetch arrives (dropped when full)
	down    atomic.Bool
	delay   atomic.Int64                  // nanoseconds
	hold    atomic.Pointer[chan struct{}] // when set, each fetch waits for the channel to close
	keys    atomic.Pointer[jose.JSONWebKeySet]
}

// newJWKSServer starts an issuer; when hold is not nil, each fetch waits for
// it to close.
func newJWKSServer(t *testing.T, hold chan struct{}) *jwksServer {
	t.Helper()
	s := &jwksServer{arrived: make(chan struct{}, 64)}
	if hold != nil {
		s.hold.Store(&hold)
	}
	s.keys.Store(&jose.JSONWebKeySet{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		select {
		case s.arrived <- struct{}{}:
		default:
		}
		if h := s.hold.Load(); h != nil {
			<-*h
		}
		time.Sleep(time.Duration(s.delay.Load()))
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_ = json.NewEncoder(w).Encode(s.keys.Load())
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// holdFetches makes the issuer hang: fetches, from now on and in progress
// once they arrive, wait until release is called (at the latest when the
// test ends).
func (s *jwksServer) holdFetches(t *testing.T) (release func()) {
	t.Helper()
	ch := make(chan struct{})
	s.hold.Store(&ch)
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.hold.Store(nil)
			close(ch)
		})
	}
	t.Cleanup(release) // before the server's Close, which waits for the fetches
	return release
}

// awaitFetch waits until a fetch reaches the issuer (one not awaited yet).
func (s *jwksServer) awaitFetch(t *testing.T) {
	t.Helper()
	select {
	case <-s.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no JWKS fetch reached the issuer")
	}
}

// publish makes the set exactly these keys.
func (s *jwksServer) publish(keys ...signingKey) {
	set := &jose.JSONWebKeySet{}
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: "ES256", Use: "sig"})
	}
	s.keys.Store(set)
}

type signingKey struct {
	kid  string
	priv *ecdsa.PrivateKey
}

func newSigningKey(t *testing.T, kid string) signingKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return signingKey{kid, k}
}

// token signs an access token for sub, valid for an hour from now.
func (k signingKey) token(t *testing.T, issuer, sub string, now time.Time) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), k.kid).WithType("at+jwt")
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: k.priv}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(map[string]any{
		"iss": issuer, "aud": jwksAudience, "sub": sub, "scope": "todos:read",
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// fakeClock is a clock the test moves; safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newFreshnessVerifier(t *testing.T, s *jwksServer, clock *fakeClock, maxAge time.Duration) *bearer.JWTVerifier {
	t.Helper()
	v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
		Issuer: s.URL, Audience: jwksAudience, JWKSURL: s.URL + "/jwks",
		// Unknown key IDs do not refetch within the test: every refetch
		// seen is one for the key set's age.
		MinRefetchInterval: time.Hour,
		MaxKeyAge:          maxAge,
		Now:                clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func wantInvalid(t *testing.T, v *bearer.JWTVerifier, tok, what string) {
	t.Helper()
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("%s: Verify = %v, want ErrInvalidToken", what, err)
	}
}

func wantValid(t *testing.T, v *bearer.JWTVerifier, tok, what string) {
	t.Helper()
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("%s: Verify = %v, want it accepted", what, err)
	}
}

func wantFetches(t *testing.T, s *jwksServer, n int64, when string) {
	t.Helper()
	if got := s.fetches.Load(); got != n {
		t.Fatalf("%s: %d JWKS fetches, want %d", when, got, n)
	}
}

// TestJWKSMaxAge: a key the issuer stops publishing stops verifying within
// MaxKeyAge, whether its token was verified (and remembered) before or is
// presented for the first time afterwards (forged with a stolen key), while
// the keys still published go on verifying.
func TestJWKSMaxAge(t *testing.T) {
	for _, tc := range []struct {
		name   string
		maxAge time.Duration // configured; 0: the default
		age    time.Duration // effective
	}{
		{"default", 0, 5 * time.Minute},
		{"one minute", time.Minute, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newJWKSServer(t, nil)
			clock := &fakeClock{t: time.Now()}
			withdrawn, kept := newSigningKey(t, "withdrawn"), newSigningKey(t, "kept")
			s.publish(withdrawn, kept)
			v := newFreshnessVerifier(t, s, clock, tc.maxAge)

			remembered := withdrawn.token(t, s.URL, "alice", clock.Now())
			wantValid(t, v, remembered, "before the withdrawal")
			wantValid(t, v, kept.token(t, s.URL, "bob", clock.Now()), "kept key")
			wantFetches(t, s, 1, "after the first tokens")

			s.publish(kept) // the issuer withdraws a key
			clock.Add(tc.age - time.Second)
			wantValid(t, v, remembered, "within the maximum age") // the set is not refetched yet
			wantFetches(t, s, 1, "within the maximum age")

			clock.Add(time.Second)
			wantInvalid(t, v, remembered, "remembered token of the withdrawn key, at the maximum age")
			wantFetches(t, s, 2, "at the maximum age")
			wantInvalid(t, v, withdrawn.token(t, s.URL, "mallory", clock.Now()), "new token of the withdrawn key")
			wantValid(t, v, kept.token(t, s.URL, "carol", clock.Now()), "kept key after the refetch")
			wantFetches(t, s, 2, "after the refetch")
		})
	}
}

// TestJWKSMaxAgeBounds: the maximum age must be positive and at most five
// minutes.
func TestJWKSMaxAgeBounds(t *testing.T) {
	for _, tc := range []struct {
		maxAge time.Duration
		ok     bool
	}{
		{0, true}, {time.Second, true}, {5 * time.Minute, true},
		{-time.Second, false}, {5*time.Minute + time.Second, false}, {time.Hour, false},
	} {
		t.Run(tc.maxAge.String(), func(t *testing.T) {
			_, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
				Issuer: "https://issuer.example", Audience: jwksAudience, MaxKeyAge: tc.maxAge,
			})
			if (err == nil) != tc.ok {
				t.Fatalf("NewJWTVerifier with MaxKeyAge %v: %v, want ok %v", tc.maxAge, err, tc.ok)
			}
		})
	}
}

// TestJWKSStaleGrace: when the issuer cannot be reached, the old key set
// stays in use until it is twice MaxKeyAge old, refetched at most once a
// second; then no token is accepted, not even a remembered one, and the
// error is not ErrInvalidToken (the API answers 503), until the issuer
// answers again.
func TestJWKSStaleGrace(t *testing.T) {
	s := newJWKSServer(t, nil)
	clock := &fakeClock{t: time.Now()}
	key := newSigningKey(t, "k1")
	s.publish(key)
	v := newFreshnessVerifier(t, s, clock, time.Minute)
	tok := key.token(t, s.URL, "alice", clock.Now())
	wantValid(t, v, tok, "issuer up")

	s.down.Store(true)
	clock.Add(time.Minute)
	wantValid(t, v, tok, "stale, refetch failed, within grace")
	wantFetches(t, s, 2, "first failed refetch")
	clock.Add(500 * time.Millisecond)
	wantValid(t, v, tok, "within the retry floor")
	wantFetches(t, s, 2, "within the retry floor")
	clock.Add(time.Minute - 501*time.Millisecond)
	wantValid(t, v, tok, "just before twice the maximum age")
	wantFetches(t, s, 3, "after the retry floor")

	clock.Add(time.Millisecond)
	_, err := v.Verify(context.Background(), tok)
	if err == nil || errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("Verify at twice the maximum age with the issuer down = %v, want an error that is not ErrInvalidToken", err)
	}
	if _, err := v.Verify(context.Background(), key.token(t, s.URL, "bob", clock.Now())); err == nil || errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("new token past the grace = %v, want an error that is not ErrInvalidToken", err)
	}

	s.down.Store(false)
	clock.Add(2 * time.Second)
	wantValid(t, v, tok, "issuer back")
}

// TestJWKSSingleFlight: concurrent verifications that find the key set
// missing or too old cause one fetch between them.
func TestJWKSSingleFlight(t *testing.T) {
	s := newJWKSServer(t, nil)
	s.delay.Store(int64(50 * time.Millisecond)) // so that the callers overlap
	clock := &fakeClock{t: time.Now()}
	key := newSigningKey(t, "k1")
	s.publish(key)
	v := newFreshnessVerifier(t, s, clock, time.Minute)
	const callers = 16
	toks := make([]string, callers)
	for i := range toks {
		toks[i] = key.token(t, s.URL, fmt.Sprint("user-", i), clock.Now())
	}
	burst := func() {
		t.Helper()
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, callers)
		for i := range callers {
			wg.Go(func() {
				<-start
				_, errs[i] = v.Verify(context.Background(), toks[i])
			})
		}
		close(start)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("caller %d: %v", i, err)
			}
		}
	}
	burst()
	wantFetches(t, s, 1, "first burst")
	clock.Add(time.Minute)
	burst()
	wantFetches(t, s, 2, "burst at the maximum age")
}

// TestJWKSWaitHonoursContext: a caller waiting for another's fetch gives up
// when its context ends, with an error that is not ErrInvalidToken.
func TestJWKSWaitHonoursContext(t *testing.T) {
	hold := make(chan struct{})
	s := newJWKSServer(t, hold)
	clock := &fakeClock{t: time.Now()}
	key := newSigningKey(t, "k1")
	s.publish(key)
	v := newFreshnessVerifier(t, s, clock, time.Minute)
	tok := key.token(t, s.URL, "alice", clock.Now())

	first := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), tok)
		first <- err
	}()
	for s.fetches.Load() == 0 { // the first caller is fetching
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := v.Verify(ctx, tok)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("Verify while another caller fetches, context ended = %v, want a deadline error", err)
	}
	close(hold)
	if err := <-first; err != nil {
		t.Fatalf("the fetching caller: %v", err)
	}
	if !strings.Contains(err.Error(), "JWKS") {
		t.Errorf("error %q does not say what it waited for", err)
	}
}

// TestJWKSFetchOutlivesCaller: a fetch does not depend on the caller that
// started it. Callers that hang up (a context already cancelled, or one
// that ends while the issuer is slow) get their context's error, and the
// fetch goes on for the next caller, who gets the key set instead of a
// recorded failure.
func TestJWKSFetchOutlivesCaller(t *testing.T) {
	type ctxCase struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}
	ctxs := []ctxCase{
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"50ms", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 50*time.Millisecond)
		}, context.DeadlineExceeded},
	}
	for _, state := range []struct {
		name    string
		pastAge time.Duration // how old the key set is when the callers come; 0: none fetched yet
	}{
		{"no key set yet", 0},
		{"key set past its grace", 2 * time.Minute},
	} {
		for _, cc := range ctxs {
			t.Run(state.name+"/"+cc.name, func(t *testing.T) {
				s := newJWKSServer(t, nil)
				clock := &fakeClock{t: time.Now()}
				key := newSigningKey(t, "k1")
				s.publish(key)
				v := newFreshnessVerifier(t, s, clock, time.Minute)
				tok := key.token(t, s.URL, "alice", clock.Now())
				var fetches int64
				if state.pastAge > 0 {
					wantValid(t, v, tok, "setup")
					s.awaitFetch(t)
					fetches = 1
					clock.Add(state.pastAge)
				}

				release := s.holdFetches(t) // the issuer is slow
				// Several callers hang up, so that none of them can be
				// the one a fetch on the caller's context would depend on.
				for i := range 8 {
					ctx, cancel := cc.ctx()
					_, err := v.Verify(ctx, tok)
					cancel()
					if !errors.Is(err, cc.want) || errors.Is(err, bearer.ErrInvalidToken) {
						t.Fatalf("caller %d, context %s: Verify = %v, want %v", i, cc.name, err, cc.want)
					}
				}
				next := make(chan error, 1)
				go func() {
					_, err := v.Verify(context.Background(), tok)
					next <- err
				}()
				release()
				if err := <-next; err != nil {
					t.Fatalf("the next caller: %v", err)
				}
				wantFetches(t, s, fetches+1, "after the callers")
			})
		}
	}
}

// TestJWKSStaleDoesNotWait: while a key set older than MaxKeyAge but within
// its grace is refetched from an issuer that hangs, the caller that started
// the refetch waits for it, and every other verification goes on at once
// with the old set, without a second fetch. The new set, once there,
// replaces the old one and what was remembered with it.
func TestJWKSStaleDoesNotWait(t *testing.T) {
	s := newJWKSServer(t, nil)
	clock := &fakeClock{t: time.Now()}
	withdrawn, kept := newSigningKey(t, "withdrawn"), newSigningKey(t, "kept")
	s.publish(withdrawn)
	v := newFreshnessVerifier(t, s, clock, time.Minute)
	const callers = 16
	toks := make([]string, callers)
	for i := range toks {
		toks[i] = withdrawn.token(t, s.URL, fmt.Sprint("user-", i), clock.Now())
	}
	first := withdrawn.token(t, s.URL, "alice", clock.Now())
	wantValid(t, v, first, "issuer up")
	s.awaitFetch(t)

	s.publish(kept)             // withdrawn leaves the set...
	clock.Add(time.Minute)      // ...which the verifier's copy is now too old to show,
	release := s.holdFetches(t) // and the issuer hangs.
	starter := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), first)
		starter <- err
	}()
	s.awaitFetch(t) // the refetch is in flight

	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { _, errs[i] = v.Verify(context.Background(), toks[i]) })
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	// The fetch cannot end before they all return: callers that waited for
	// it would never return.
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		release()
		t.Fatal("verifications waited for the refetch of a key set within its grace")
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d, old key set within its grace: %v", i, err)
		}
	}
	select {
	case err := <-starter:
		t.Fatalf("the caller that started the refetch returned before it ended: %v", err)
	default:
	}
	wantFetches(t, s, 2, "during the refetch")

	release()
	if err := <-starter; !errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("the caller that started the refetch: Verify = %v, want ErrInvalidToken (its key was withdrawn)", err)
	}
	wantInvalid(t, v, toks[0], "token remembered from the old set")
	wantValid(t, v, kept.token(t, s.URL, "bob", clock.Now()), "key of the new set")
	wantFetches(t, s, 2, "after the refetch")
}

// TestJWKSPastGraceWaits: once the key set is past its grace, callers wait
// for the refetch (or for their context) and, if the issuer stays down, get
// an error that is not ErrInvalidToken.
func TestJWKSPastGraceWaits(t *testing.T) {
	s := newJWKSServer(t, nil)
	clock := &fakeClock{t: time.Now()}
	key := newSigningKey(t, "k1")
	s.publish(key)
	v := newFreshnessVerifier(t, s, clock, time.Minute)
	tok := key.token(t, s.URL, "alice", clock.Now())
	wantValid(t, v, tok, "issuer up")
	s.awaitFetch(t)

	s.down.Store(true)
	clock.Add(2 * time.Minute)
	release := s.holdFetches(t)
	const callers = 4
	results := make(chan error, callers)
	for range callers {
		go func() {
			_, err := v.Verify(context.Background(), tok)
			results <- err
		}()
	}
	s.awaitFetch(t)

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := v.Verify(ctx, tok); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, bearer.ErrInvalidToken) {
		t.Fatalf("Verify past the grace, context ended while waiting = %v, want a deadline error", err)
	}
	select {
	case err := <-results:
		t.Fatalf("a caller returned before the refetch ended: %v", err)
	default:
	}
	release()
	for range callers {
		if err := <-results; err == nil || errors.Is(err, bearer.ErrInvalidToken) {
			t.Fatalf("Verify past the grace with the issuer down = %v, want an error that is not ErrInvalidToken", err)
		}
	}
	wantFetches(t, s, 2, "after the callers")
}

// TestRedirectToPlainHTTPRefused: an https issuer whose key set or
// introspection endpoint redirects to plain http is not followed there,
// where anyone on the path could swap the keys or read the resource
// server's credentials.
func TestRedirectToPlainHTTPRefused(t *testing.T) {
	const plain = "http://198.51.100.7" // TEST-NET-2: never reached
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" {
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/jwks"})
			return
		}
		http.Redirect(w, r, plain+r.URL.Path, http.StatusTemporaryRedirect)
	})
	hc := srv.Client()
	hc.Timeout = 2 * time.Second

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("at+jwt").WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	token, err := jwt.Signed(sig).Claims(map[string]any{"iss": srv.URL, "aud": jwksAudience, "sub": "alice",
		"client_id": "web", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}).Serialize()
	if err != nil {
		t.Fatal(err)
	}

	jv, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{Issuer: srv.URL, Audience: jwksAudience, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	iv, err := bearer.NewIntrospectionVerifier(bearer.IntrospectionConfig{
		URL: srv.URL + "/introspect", ClientID: "api", ClientSecret: "s3cret", Audience: jwksAudience, HTTPClient: hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]bearer.Verifier{"jwks": jv, "introspection": iv} {
		_, err := v.Verify(context.Background(), token)
		if err == nil || errors.Is(err, bearer.ErrInvalidToken) || !strings.Contains(err.Error(), "redirect refused") {
			t.Errorf("%s: Verify = %v; want the redirect to %s refused (an unavailable issuer, not a bad token)", name, err, plain)
		}
	}
}

// TestRedirectWithinHTTPSFollowed: a key set moved to another https
// address is still found, and a client's own CheckRedirect still decides.
func TestRedirectWithinHTTPSFollowed(t *testing.T) {
	is := bearertest.New(t, jwksAudience)
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "jwks_uri": srv.URL + "/old-jwks"})
		case "/old-jwks":
			http.Redirect(w, r, "/jwks", http.StatusMovedPermanently)
		case "/jwks":
			resp, err := http.Get(is.URL + "/jwks")
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			_, _ = io.Copy(w, resp.Body)
		}
	})
	now := time.Now()
	token := is.Sign(t, "at+jwt", map[string]any{"iss": srv.URL, "aud": jwksAudience, "sub": "alice",
		"client_id": "web", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	for _, tc := range []struct {
		name  string
		check func(*http.Request, []*http.Request) error
		ok    bool
	}{
		{"followed", nil, true},
		{"the client's own CheckRedirect refuses", func(*http.Request, []*http.Request) error { return errors.New("no redirects here") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := srv.Client()
			hc.CheckRedirect = tc.check
			v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{Issuer: srv.URL, Audience: jwksAudience, HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(context.Background(), token)
			if tc.ok && (err != nil || c.Subject != "alice") {
				t.Fatalf("Verify = %v, %v", c, err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), "no redirects here")) {
				t.Fatalf("Verify = %v, want the client's own refusal", err)
			}
		})
	}
}

// TestAlgorithmsIsACopy: changing the returned list changes nothing the
// verifiers accept.
func TestAlgorithmsIsACopy(t *testing.T) {
	algs := bearer.Algorithms()
	for i := range algs {
		algs[i] = "HS256"
	}
	if got := bearer.Algorithms(); slices.Contains(got, "HS256") || !slices.Contains(got, jose.ES256) {
		t.Fatalf("Algorithms() = %v after changing a copy", got)
	}
}
