package authz

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

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
