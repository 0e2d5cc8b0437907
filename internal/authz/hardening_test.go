package authz

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// --- shared middleware (item: httpserver.SecurityHeaders, ClientIP) ---

// TestSecurityHeaders_SharedMiddleware: the role uses the shared
// httpserver.SecurityHeaders (frame-ancestors, object-src, HSTS over TLS) and
// keeps no-store on everything but static files.
func TestSecurityHeaders_SharedMiddleware(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/login", "/authorize?client_id=nobody", "/token", "/jwks"} {
		rec := httptest.NewRecorder()
		e.srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "https://auth.example"+path, nil))
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"frame-ancestors 'none'", "object-src 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if h.Get("Strict-Transport-Security") == "" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Errorf("%s: headers %v", path, h)
		}
		if path != "/jwks" && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, h.Get("Cache-Control"))
		}
	}
}

// TestLockout_ClientIPBehindProxy: behind trusted proxies the address
// counted is the client's (the rightmost X-Forwarded-For entry that is not
// a trusted proxy), whatever proxies it passed and whatever the client
// wrote into the header itself: proxies that append (nginx's
// $proxy_add_x_forwarded_for, AWS ALB, Traefik, Caddy) keep the client's
// own entries on the left.
func TestLockout_ClientIPBehindProxy(t *testing.T) {
	proxies, err := httpserver.ParseTrustedProxies("127.0.0.0/8,::1,10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
		c.TrustedProxies = proxies
		c.Lockout = Lockout{Delay: time.Millisecond, UserLimit: 100, AddressLimit: 3}
	})
	try := func(hop int, user, pw string) int {
		c := e.browser()
		_, page := e.get(c, e.ts.URL+"/login")
		f := hidden(page)
		f.Set("username", user)
		f.Set("password", pw)
		req := formReq(e.ts.URL+"/login", f)
		// The client forges a new address of its own each time; the
		// proxies append the address they saw.
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("203.0.113.%d, 198.51.100.7, 10.0.0.%d", hop+1, hop))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for i := range 3 {
		if st := try(i, "nobody"+string(rune('a'+i)), "x"); st != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, st)
		}
	}
	if st := try(7, "alice", alicePassword); st != http.StatusTooManyRequests {
		t.Fatalf("address not locked after 3 failures through different proxies: %d", st)
	}
}

// --- code exchange race ---

// slowRedeem holds the winner of RedeemAuthCode back after its grant is
// stored, so that replays arrive before it has answered. The database is
// real; only timing is changed.
type slowRedeem struct {
	storage.Store
	delay time.Duration
}

func (s slowRedeem) RedeemAuthCode(ctx context.Context, hash string, now time.Time, g storage.Grant, first *storage.RefreshToken) (storage.AuthRequest, error) {
	r, err := s.Store.RedeemAuthCode(ctx, hash, now, g, first)
	if err == nil {
		time.Sleep(s.delay)
	}
	return r, err
}

// TestCodeExchangeRace_NoTokenSurvivesReplay: many goroutines exchange one
// code at once, on every backend. Afterwards either exactly one succeeded
// and nothing was replayed, or no token issued from the code is active —
// also when the replays revoke the family before the winner created its
// tokens (the "slow winner" case).
func TestCodeExchangeRace_NoTokenSurvivesReplay(t *testing.T) {
	for _, b := range storagetest.Backends() {
		for _, delay := range []time.Duration{0, 300 * time.Millisecond} {
			t.Run(b.Name+"/winner-delay-"+delay.String(), func(t *testing.T) {
				e := newEnvDSN(t, b.DSN(t), func(c *Config) {
					if delay > 0 {
						c.Store = slowRedeem{c.Store, delay}
					}
				})
				v, ch := pkce()
				q := e.authorizeCode(e.browser(), authParams("gatehouse-webapp", webappRedir, ch, "openid offline_access todos:read"))
				const n = 12
				var wg sync.WaitGroup
				results := make([]tokenResp, n)
				status := make([]int, n)
				for i := range n {
					wg.Add(1)
					go func() {
						defer wg.Done()
						status[i], results[i] = e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v)
					}()
				}
				wg.Wait()
				ok, replays := 0, 0
				for i := range n {
					switch {
					case status[i] == 200:
						ok++
					case results[i].Error == "invalid_grant":
						replays++
					default:
						t.Errorf("exchange %d: %d %q", i, status[i], results[i].Error)
					}
				}
				if ok > 1 {
					t.Fatalf("%d token responses for one code", ok)
				}
				if replays == 0 {
					t.Fatal("no replay happened")
				}
				for i := range n {
					if status[i] != 200 {
						continue
					}
					for _, tok := range []string{results[i].AccessToken, results[i].RefreshToken} {
						if e.introspect(tok)["active"] != false {
							t.Fatal("a token from a replayed code is active")
						}
					}
				}
			})
		}
	}
}

// --- lockout ---

// loginAs signs in through the login page from a fresh browser and
// returns the status.
func (e *env) loginAs(user, pw string) int {
	e.t.Helper()
	c := e.browser()
	_, page := e.get(c, e.ts.URL+"/login")
	resp, _ := e.login(c, page, user, pw)
	if resp.StatusCode == http.StatusOK && resp.Request.URL.Path == "/" {
		return http.StatusSeeOther // signed in and sent home
	}
	return resp.StatusCode
}

// TestLockout_CountsOnlyFailures: successful sign-ins never count toward
// the address or username limits; failures do.
func TestLockout_CountsOnlyFailures(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
		c.Lockout = Lockout{Delay: time.Millisecond, UserLimit: 3, AddressLimit: 3}
	})
	for i := range 6 {
		if st := e.loginAs("alice", alicePassword); st != http.StatusSeeOther {
			t.Fatalf("sign-in %d: %d", i, st)
		}
	}
	for _, u := range []string{"x1", "x2", "x3"} {
		if st := e.loginAs(u, "wrong"); st != http.StatusUnauthorized {
			t.Fatalf("failure for %s: %d", u, st)
		}
	}
	if st := e.loginAs("alice", alicePassword); st != http.StatusTooManyRequests {
		t.Fatalf("address not locked after 3 failures: %d", st)
	}
}

// TestLockout_SuccessResetsUsername: failures below the limit are
// forgotten after a successful sign-in.
func TestLockout_SuccessResetsUsername(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
		c.Lockout = Lockout{Delay: time.Millisecond, UserLimit: 3, AddressLimit: 100}
	})
	for round := range 3 {
		for range 2 {
			if st := e.loginAs("alice", "wrong"); st != http.StatusUnauthorized {
				t.Fatalf("round %d: failure answered %d", round, st)
			}
		}
		if st := e.loginAs("alice", alicePassword); st != http.StatusSeeOther {
			t.Fatalf("round %d: sign-in %d", round, st)
		}
	}
	for range 3 {
		e.loginAs("alice", "wrong")
	}
	if st := e.loginAs("alice", alicePassword); st != http.StatusTooManyRequests {
		t.Fatalf("username not locked after 3 failures: %d", st)
	}
}

// TestLockout_AcrossInstances: failures on one instance lock the username
// on another (the counters are in the shared store).
func TestLockout_AcrossInstances(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnvDSN(t, b.DSN(t), func(c *Config) {
				c.Lockout = Lockout{Delay: time.Millisecond, UserLimit: 3, AddressLimit: 100}
			})
			other := e.sibling()
			for range 3 {
				if st := e.loginAs("bob", "wrong"); st != http.StatusUnauthorized {
					t.Fatalf("failure: %d", st)
				}
			}
			if st := other.loginAs("bob", alicePassword); st != http.StatusTooManyRequests {
				t.Fatalf("other instance: %d", st)
			}
			if st := other.loginAs("alice", alicePassword); st != http.StatusSeeOther {
				t.Fatalf("another user on the other instance: %d", st)
			}
		})
	}
}

// --- key rotation ---

func (e *env) keyCount(alg jose.SignatureAlgorithm) int {
	e.t.Helper()
	recs, err := e.store.ListKeys(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	n := 0
	for _, r := range recs {
		if r.Algorithm == string(alg) && (r.ExpiresAt.IsZero() || e.clock.Now().Before(r.ExpiresAt)) {
			n++
		}
	}
	return n
}

// TestKeys_AutomaticRotation: with KeyRotation set, a key older than the
// period is replaced: the new one is published at once and signs after the
// lead time; nothing happens before the period.
func TestKeys_AutomaticRotation(t *testing.T) {
	e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) { c.KeyRotation = 24 * time.Hour })
	ctx := context.Background()
	oldKid := kidOf(t, e.webappTokens().AccessToken)
	e.clock.Add(23 * time.Hour)
	e.srv.maintainKeys(ctx)
	if n := e.keyCount(AccessTokenAlg); n != 1 {
		t.Fatalf("rotated before the period: %d keys", n)
	}
	e.clock.Add(2 * time.Hour)
	e.srv.maintainKeys(ctx)
	if n := e.keyCount(AccessTokenAlg); n != 2 {
		t.Fatalf("after the period: %d published ES256 keys, want 2", n)
	}
	for _, alg := range IDTokenAlgs() {
		if n := e.keyCount(alg); n != 2 {
			t.Fatalf("after the period: %d published %s keys, want 2", n, alg)
		}
	}
	if !strings.Contains(e.logs.String(), `"event":"key_rotated"`) {
		t.Error("no audit event")
	}
	if kid := kidOf(t, e.webappTokens().AccessToken); kid != oldKid {
		t.Fatal("new key signs before its lead time")
	}
	e.clock.Add(keyLead + time.Second)
	e.srv.maintainKeys(ctx)
	if kid := kidOf(t, e.webappTokens().AccessToken); kid == oldKid {
		t.Fatal("new key does not sign after its lead time")
	}
}

// TestKeys_ConcurrentRotationOneKeyPerPeriod: instances rotating at the
// same moment add one key per algorithm, not one each.
func TestKeys_ConcurrentRotationOneKeyPerPeriod(t *testing.T) {
	for _, b := range storagetest.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			e := newEnvDSN(t, b.DSN(t), func(c *Config) { c.KeyRotation = time.Hour })
			instances := []*Server{e.srv, e.sibling().srv, e.sibling().srv}
			e.clock.Add(2 * time.Hour)
			var wg sync.WaitGroup
			for _, s := range instances {
				wg.Add(1)
				go func() { defer wg.Done(); s.maintainKeys(context.Background()) }()
			}
			wg.Wait()
			for _, alg := range signingAlgs() {
				if n := e.keyCount(alg); n != 2 {
					t.Errorf("%s: %d published keys after concurrent rotation, want 2 (old + one new)", alg, n)
				}
			}
		})
	}
}

// --- logging ---

// TestLogging_NothingOnDefaultLogger: neither start-up nor requests write
// to the process-wide default slog logger (op's router did).
func TestLogging_NothingOnDefaultLogger(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	t.Cleanup(func() { slog.SetDefault(prev) })
	e := newEnv(t)
	e.token("third", "wrong", url.Values{"grant_type": {"client_credentials"}})
	e.token("third", thirdSecret, url.Values{"grant_type": {"bogus"}})
	e.webappTokens()
	e.get(e.ts.Client(), e.ts.URL+"/end_session?client_id=nobody")
	if buf.Len() > 0 {
		t.Fatalf("written to the default logger:\n%s", buf.String())
	}
}
