package authz

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/sqlstore"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Tests of attacks on the authorization server's endpoints. Each
// runs against the real server and a real database; where timing or a
// failure must be forced, a store wrapper forces it around the real store.

// TestIntrospection_RefreshTokenNotAccessToken: the API, introspecting
// with the real resource-server verifier against the real endpoint,
// accepts access tokens only: a refresh token is not active for it.
func TestIntrospection_RefreshTokenNotAccessToken(t *testing.T) {
	e := newEnv(t)
	tr := e.webappTokensOffline()
	v, err := bearer.NewIntrospectionVerifier(bearer.IntrospectionConfig{
		URL: e.ts.URL + "/introspect", ClientID: "gatehouse-api", ClientSecret: apiSecret,
		Issuer: e.ts.URL, Audience: apiAudience, HTTPClient: e.ts.Client(), CacheTTL: -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, tr.AccessToken); err != nil {
		t.Fatalf("access token refused: %v", err)
	}
	if _, err := v.Verify(ctx, tr.RefreshToken); err == nil {
		t.Fatal("a refresh token was accepted as a bearer token")
	}
}

// webappTokensOffline signs in through the web app with offline_access:
// an access and a refresh token.
func (e *env) webappTokensOffline() tokenResp {
	e.t.Helper()
	v, ch := pkce()
	q := e.authorizeCode(e.browser(), authParams("gatehouse-webapp", webappRedir, ch, "openid offline_access todos:read"))
	st, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v)
	if st != 200 || tr.RefreshToken == "" {
		e.t.Fatalf("exchange: %d %s (refresh token %t)", st, tr.Error, tr.RefreshToken != "")
	}
	return tr
}

// TestIntrospection_OnlyWhatIsMeantForTheCaller: a resource server sees
// access tokens for its audience, a client sees its own tokens, and
// everyone else is told {"active": false} (RFC 7662 §2.2).
func TestIntrospection_OnlyWhatIsMeantForTheCaller(t *testing.T) {
	e := newEnv(t)
	tr := e.webappTokensOffline()
	ctx := context.Background()
	if err := e.store.SetClientResourceAudience(ctx, "third", "https://other-api.example", e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.clock.Add(clientCacheTTL) // past the client cache
	tests := []struct {
		name, client, secret, token string
		active                      bool
	}{
		{"resource server, access token for it", "gatehouse-api", apiSecret, tr.AccessToken, true},
		{"resource server, refresh token", "gatehouse-api", apiSecret, tr.RefreshToken, false},
		{"owner, access token", "gatehouse-webapp", webappSecret, tr.AccessToken, true},
		{"owner, refresh token", "gatehouse-webapp", webappSecret, tr.RefreshToken, true},
		{"resource server of another audience, access token", "third", thirdSecret, tr.AccessToken, false},
		{"another client, refresh token", "third", thirdSecret, tr.RefreshToken, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := e.introspectAs(tt.client, tt.secret, tt.token)
			if (m["active"] == true) != tt.active {
				t.Fatalf("introspection %v, want active=%v", m, tt.active)
			}
			if !tt.active && len(m) != 1 {
				t.Errorf("an inactive answer says more than active=false: %v", m)
			}
		})
	}
	// Introspecting a refresh token is not using it: it still refreshes.
	if st, r := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken); st != 200 {
		t.Fatalf("refresh after introspection: %d %s", st, r.Error)
	}
}

// failingStore fails chosen calls of the real store once each.
type failingStore struct {
	storage.Store
	failGetUser, failRotate atomic.Int32
}

var errInjected = errors.New("injected failure")

func (s *failingStore) GetUser(ctx context.Context, id string) (storage.User, error) {
	if s.failGetUser.Add(-1) >= 0 {
		return storage.User{}, errInjected
	}
	return s.Store.GetUser(ctx, id)
}

func (s *failingStore) RotateRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time) (storage.RefreshToken, error) {
	if s.failRotate.Add(-1) >= 0 {
		return storage.RefreshToken{}, errInjected
	}
	return s.Store.RotateRefreshToken(ctx, oldHash, next, now)
}

// TestRefresh_FailureKeepsTheToken: a refresh that fails — while its
// tokens are made (reading the user), or when the rotation is written —
// leaves the refresh token usable: the client's retry is not taken for
// reuse, the person stays signed in, and the retry rotates it once.
func TestRefresh_FailureKeepsTheToken(t *testing.T) {
	for _, step := range []string{"issuing", "rotating"} {
		t.Run(step, func(t *testing.T) {
			var fs *failingStore
			e := newEnvDSN(t, storagetest.SQLite(t), func(c *Config) {
				fs = &failingStore{Store: c.Store}
				c.Store = fs
			})
			tr := e.webappTokensOffline()
			if step == "issuing" {
				fs.failGetUser.Store(1)
			} else {
				fs.failRotate.Store(1)
			}
			if st, r := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken); st != http.StatusInternalServerError {
				t.Fatalf("refresh with an injected failure: %d %s, want 500", st, r.Error)
			}
			st, next := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken)
			if st != 200 {
				t.Fatalf("retry after the failure: %d %s", st, next.Error)
			}
			if e.introspect(next.AccessToken)["active"] != true || e.introspect(next.RefreshToken)["active"] != true {
				t.Fatal("the retry's tokens are not active")
			}
			if st, _ := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken); st != http.StatusBadRequest {
				t.Fatalf("the old token worked twice: %d", st)
			}
		})
	}
}

// slowRotate holds the winner of RotateRefreshToken back after its write,
// so that the losers' reuse detection runs before the winner answers.
type slowRotate struct {
	storage.Store
	delay time.Duration
}

func (s slowRotate) RotateRefreshToken(ctx context.Context, oldHash string, next storage.RefreshToken, now time.Time) (storage.RefreshToken, error) {
	r, err := s.Store.RotateRefreshToken(ctx, oldHash, next, now)
	if err == nil {
		time.Sleep(s.delay)
	}
	return r, err
}

// TestRefreshRace_OneWinnerWhoseTokensDie: many refreshes of one token at
// once, on every backend: exactly one wins; the others are reuse and revoke
// the grant, and the winner's tokens die with it, also when the winner is
// slow to answer.
func TestRefreshRace_OneWinnerWhoseTokensDie(t *testing.T) {
	for _, b := range storagetest.Backends() {
		for _, delay := range []time.Duration{0, 200 * time.Millisecond} {
			t.Run(b.Name+"/winner-delay-"+delay.String(), func(t *testing.T) {
				e := newEnvDSN(t, b.DSN(t), func(c *Config) {
					if delay > 0 {
						c.Store = slowRotate{c.Store, delay}
					}
				})
				tr := e.webappTokensOffline()
				const n = 12
				status := make([]int, n)
				results := make([]tokenResp, n)
				var wg sync.WaitGroup
				for i := range n {
					wg.Go(func() { status[i], results[i] = e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken) })
				}
				wg.Wait()
				winners := 0
				for i := range n {
					switch {
					case status[i] == 200:
						winners++
					case results[i].Error != "invalid_grant":
						t.Errorf("refresh %d: %d %q", i, status[i], results[i].Error)
					}
				}
				if winners != 1 {
					t.Fatalf("%d refreshes won, want exactly 1", winners)
				}
				for i := range n {
					if status[i] != 200 {
						continue
					}
					for _, tok := range []string{results[i].AccessToken, results[i].RefreshToken} {
						if e.introspect(tok)["active"] != false {
							t.Fatal("the winner's token survived the reuse that revoked its grant")
						}
					}
				}
			})
		}
	}
}

// TestSetPassword_EndsEverything: `gatehouse user set-password` (through
// the admin package, as the command runs it) ends the person's login
// sessions, their grants and their codes not yet exchanged: refresh tokens
// stop working, access tokens stop introspecting as active, and a code kept
// in reserve is refused. Disabling does the same and also refuses
// the right password.
func TestSetPassword_EndsEverything(t *testing.T) {
	for _, how := range []string{"set-password", "disable"} {
		t.Run(how, func(t *testing.T) {
			e := newEnv(t)
			c := e.browser()
			v, ch := pkce()
			q := e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch, "openid offline_access todos:read"))
			_, tr := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v)
			// A code issued before the reset and not yet exchanged (an
			// intruder's, kept in reserve).
			v2, ch2 := pkce()
			pendingCode := e.authorizeCode(c, authParams("gatehouse-webapp", webappRedir, ch2, "openid offline_access todos:read")).Get("code")
			ctx := context.Background()
			var err error
			if how == "set-password" {
				_, err = admin.SetPassword(ctx, e.store, "alice", "a new password for alice", admin.EndSessions, time.Now())
			} else {
				_, err = admin.DisableUser(ctx, e.store, "alice", time.Now())
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.introspect(tr.AccessToken)["active"] != false {
				t.Error("access token still active")
			}
			if st, _ := e.refresh("gatehouse-webapp", webappSecret, tr.RefreshToken); st != http.StatusBadRequest {
				t.Errorf("refresh token still works: %d", st)
			}
			if st, r := e.exchange("gatehouse-webapp", webappSecret, pendingCode, webappRedir, v2); st != http.StatusBadRequest {
				t.Errorf("a code issued before the reset was exchanged afterwards: %d (refresh token %t)", st, r.RefreshToken != "")
			}
			// The login session is gone: /authorize asks for a sign-in.
			resp, _ := e.get(c, e.ts.URL+"/authorize?"+authParams("gatehouse-webapp", webappRedir, ch, "openid").Encode())
			if resp.Request.URL.Path != "/login" {
				t.Errorf("the old login session still signs in: landed on %s", resp.Request.URL)
			}
			if how == "disable" {
				if st := e.loginAs("alice", alicePassword); st != http.StatusUnauthorized {
					t.Errorf("a disabled user signed in: %d", st)
				}
			}
		})
	}
}

// TestAuthorize_AnonymousRequestsWriteNothing: requests from people who
// have not signed in write no rows, however many arrive; the request
// waits sealed in the login page's address.
func TestAuthorize_AnonymousRequestsWriteNothing(t *testing.T) {
	e := newEnv(t)
	count := func() int {
		var n int
		if err := e.store.(*sqlstore.Store).DB().QueryRowContext(context.Background(), "SELECT COUNT(*) FROM auth_requests").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	_, ch := pkce()
	c := e.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	u := e.ts.URL + "/authorize?" + authParams("gatehouse-webapp", webappRedir, ch, "openid todos:read").Encode()
	for i := range 2000 {
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if i == 0 && (resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login?request=")) {
			t.Fatalf("first request: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if got := count(); got != before {
		t.Fatalf("2000 anonymous requests left %d auth_requests rows, want %d", got, before)
	}
	// A tampered sealed request is refused.
	resp, _ := e.get(e.browser(), e.ts.URL+"/login?request=AAAA"+strings.Repeat("x", 40))
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("tampered request: %d", resp.StatusCode)
	}
}

// TestUserinfo_ScopeAndKind: userinfo answers a person's token with openid;
// an active token without openid, or a client's own, is 403
// insufficient_scope; an inactive one 401 (RFC 6750 §3.1).
func TestUserinfo_ScopeAndKind(t *testing.T) {
	e := newEnv(t)
	v, ch := pkce()
	q := e.authorizeCode(e.browser(), authParams("gatehouse-webapp", webappRedir, ch, "todos:read"))
	_, noOpenID := e.exchange("gatehouse-webapp", webappSecret, q.Get("code"), webappRedir, v)
	_, cc := e.token("third", thirdSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}})
	withOpenID := e.webappTokens()
	for _, tc := range []struct {
		name, token string
		status      int
		wwwAuth     string
	}{
		{"person with openid", withOpenID.AccessToken, http.StatusOK, ""},
		{"person without openid", noOpenID.AccessToken, http.StatusForbidden, "insufficient_scope"},
		{"client credentials", cc.AccessToken, http.StatusForbidden, "insufficient_scope"},
		{"not a token", "x.y.z", http.StatusUnauthorized, "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/userinfo", nil)
			req.Header.Set("Authorization", "Bearer "+tc.token)
			resp, err := e.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(resp.Header.Get("WWW-Authenticate"), tc.wwwAuth) {
				t.Fatalf("%d %q, want %d with %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.wwwAuth)
			}
		})
	}
}

// TestAuthorize_LongParametersNeverDeadEnd: however long (within each
// parameter's bound) and whatever characters, a request either reaches a
// login page that opens it or is refused to the client with
// invalid_request; never a login page that cannot read its own request.
func TestAuthorize_LongParametersNeverDeadEnd(t *testing.T) {
	e := newEnv(t)
	_, ch := pkce()
	c := e.ts.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for _, tc := range []struct {
		name        string
		state, hint string
	}{
		{"short", "s", ""},
		{"long plain", strings.Repeat("a", maxAuthorizeParam), strings.Repeat("b", maxAuthorizeParam)},
		{"long escaped", strings.Repeat("<", maxAuthorizeParam), strings.Repeat("&\"", maxAuthorizeParam/2)},
		{"control characters", strings.Repeat("\x01", maxAuthorizeParam), strings.Repeat("\x02", maxAuthorizeParam)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := authParams("gatehouse-webapp", webappRedir, ch, "openid todos:read")
			p.Set("state", tc.state)
			p.Set("nonce", strings.Repeat("n", maxAuthorizeParam))
			if tc.hint != "" {
				p.Set("login_hint", tc.hint)
			}
			resp, err := c.Get(e.ts.URL + "/authorize?" + p.Encode())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			switch {
			case strings.HasPrefix(loc, "/login?"):
				page, err := c.Get(e.ts.URL + loc)
				if err != nil {
					t.Fatal(err)
				}
				page.Body.Close()
				if page.StatusCode != http.StatusOK {
					t.Fatalf("the login page refused its own request: %d", page.StatusCode)
				}
			case strings.HasPrefix(loc, webappRedir):
				u, _ := url.Parse(loc)
				if u.Query().Get("error") != "invalid_request" {
					t.Fatalf("refused with %q", u.Query().Get("error"))
				}
			default:
				t.Fatalf("%d to %.80q", resp.StatusCode, loc)
			}
		})
	}
}
