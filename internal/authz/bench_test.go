package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// The token and introspection endpoints in process, without the network:
// what one request costs the authorization server itself. Profile with
//
//	go test -run '^$' -bench 'Endpoint' -benchtime 3s -cpuprofile /tmp/authz.cpu ./internal/authz
//	go tool pprof -top /tmp/authz.cpu

func benchRequest(h http.Handler, b *testing.B, path, user, pass string, form url.Values, want int) {
	body := form.Encode()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.SetBasicAuth(user, pass)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != want {
				b.Errorf("%s: %d %s", path, w.Code, w.Body.String())
				return
			}
		}
	})
}

func BenchmarkEndpointClientCredentials(b *testing.B) {
	e := newEnvDSN(b, storagetest.SQLite(b), nil)
	benchRequest(e.srv.Handler(), b, "/token", "third", thirdSecret,
		url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}}, http.StatusOK)
}

func BenchmarkEndpointIntrospect(b *testing.B) {
	e := newEnvDSN(b, storagetest.SQLite(b), nil)
	_, tr := e.token("third", thirdSecret, url.Values{"grant_type": {"client_credentials"}, "scope": {"todos:read"}})
	if tr.AccessToken == "" {
		b.Fatal("no token")
	}
	benchRequest(e.srv.Handler(), b, "/introspect", "gatehouse-api", apiSecret, url.Values{"token": {tr.AccessToken}}, http.StatusOK)
}

// BenchmarkEndpointIntrospectUser introspects an access token a person
// authorized: besides the revoked list, its grant and its user are checked.
func BenchmarkEndpointIntrospectUser(b *testing.B) {
	e := newEnvDSN(b, storagetest.SQLite(b), nil)
	tr := e.webappTokens()
	if m := e.introspectAs("gatehouse-api", apiSecret, tr.AccessToken); m["active"] != true {
		b.Fatalf("token not active: %v", m)
	}
	benchRequest(e.srv.Handler(), b, "/introspect", "gatehouse-api", apiSecret, url.Values{"token": {tr.AccessToken}}, http.StatusOK)
}

// The cost of each ID token algorithm, in one run so that the ratios
// compare like with like: a refresh through the token endpoint (an access
// token, an ID token and a refresh token signed, the rotation stored in
// SQLite) for a client registered with each, and the ID token's signing
// alone. Run with
//
//	go test -run '^$' -bench 'IDTokenAlg' -benchtime 3s ./internal/authz

func BenchmarkIDTokenAlgRefresh(b *testing.B) {
	e := newEnvDSN(b, storagetest.SQLite(b), nil)
	ctx := context.Background()
	for _, alg := range IDTokenAlgs() {
		id := "bench-" + strings.ToLower(string(alg))
		redirect := "https://" + id + ".example/cb"
		_, sec, err := admin.AddClient(ctx, e.store, admin.NewClient{
			ID: id, RedirectURIs: []string{redirect}, FirstParty: true, IDTokenAlg: string(alg),
		}, e.clock.Now())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(alg), func(b *testing.B) {
			// Each goroutine refreshes a grant of its own, each time with
			// the refresh token the previous refresh returned.
			chains := make(chan string, runtime.GOMAXPROCS(0))
			for range cap(chains) {
				v, ch := pkce()
				q := e.authorizeCode(e.browser(), authParams(id, redirect, ch, "openid offline_access"))
				st, tr := e.exchange(id, sec, q.Get("code"), redirect, v)
				if st != http.StatusOK || tr.RefreshToken == "" {
					b.Fatalf("exchange: %d %s", st, tr.Error)
				}
				chains <- tr.RefreshToken
			}
			h := e.srv.Handler()
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				rt := <-chains
				for pb.Next() {
					body := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}.Encode()
					r := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(body))
					r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					r.SetBasicAuth(id, sec)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, r)
					var tr tokenResp
					if err := json.Unmarshal(w.Body.Bytes(), &tr); w.Code != http.StatusOK || err != nil || tr.IDToken == "" {
						b.Errorf("refresh: %d %s", w.Code, w.Body.String())
						return
					}
					rt = tr.RefreshToken
				}
			})
		})
	}
}

func BenchmarkIDTokenAlgSign(b *testing.B) {
	e := newEnvDSN(b, storagetest.SQLite(b), nil)
	now := e.clock.Now()
	for _, alg := range IDTokenAlgs() {
		b.Run(string(alg), func(b *testing.B) {
			g := tokenGrant{id: "grant", clientID: "gatehouse-webapp", subject: "u-alice", scopes: []string{"openid"},
				authTime: now, amr: []string{"pwd"}, nonce: "n-1", idAlg: alg}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := e.srv.issuer.idToken(g, "an-access-token", "a-code"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
