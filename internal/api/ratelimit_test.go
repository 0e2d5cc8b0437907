package api_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/api"
	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// TestRateLimitByClientAndUser: the rate limit counts by the token's client
// and user, so a new token for them (minted at will) does not refill the
// budget, while another user, or the same user through another client, has
// a budget of their own.
func TestRateLimitByClientAndUser(t *testing.T) {
	e := newEnv(t, storagetest.Backend{Name: "sqlite", DSN: storagetest.SQLite}, `
rate_limit: {GET: {requests: 2, window: 1h}}
resources:
  todos:
    resource_methods: [GET]
    owner_field: owner
    schema: {type: object, properties: {title: {type: string}}}
`)
	token := func(client, sub, jti string) string {
		now := time.Now()
		return e.issuer.Sign(t, "at+jwt", map[string]any{
			"iss": e.issuer.URL, "aud": "https://api.test", "sub": sub, "client_id": client,
			"scope": "todos:read", "jti": jti, "iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		})
	}
	steps := []struct {
		name, token string
		want        int
	}{
		{"first", token("app", "alice", "t1"), 200},
		{"second, same token", token("app", "alice", "t1"), 200},
		{"new token, same client and user", token("app", "alice", "t2"), 429},
		{"another new token", token("app", "alice", "t3"), 429},
		{"same user, other client", token("other-app", "alice", "t4"), 200},
		{"other user, same client", token("app", "bob", "t5"), 200},
	}
	for _, st := range steps {
		r := e.do("GET", "/api/todos", st.token, "")
		if r.status != st.want {
			t.Errorf("%s: %d, want %d", st.name, r.status, st.want)
		}
		if r.status == 429 && (r.body["_status"] != "ERR" || r.header.Get("Retry-After") == "") {
			t.Errorf("%s: 429 = %v %s", st.name, r.header, r.raw)
		}
	}
}

// TestRateLimitByClientBehindProxy: the public methods' per-address limit
// counts the client that the trusted proxies name, so a client behind an
// appending proxy cannot reset its budget by forging leftmost
// X-Forwarded-For entries, while other clients behind the same proxy keep
// theirs.
func TestRateLimitByClientBehindProxy(t *testing.T) {
	proxies, err := httpserver.ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	h := newEnv(t, storagetest.Backend{Name: "sqlite", DSN: storagetest.SQLite}, `
rate_limit: {GET: {requests: 2, window: 1h}}
resources:
  notes:
    resource_methods: [GET]
    public_methods: [GET]
    schema: {type: object, properties: {title: {type: string}}}
`, withConfig(func(_ *env, c *api.Config) { c.TrustedProxies, c.PublicURL = proxies, "" })).handler
	get := func(remote, xff string) int {
		req := httptest.NewRequest(http.MethodGet, "/api/notes", nil)
		req.RemoteAddr = remote
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	steps := []struct {
		name, remote, xff string
		want              int
	}{
		// 203.0.113.9 behind the proxy, a new forged address each time.
		{"first", "10.0.0.1:1111", "1.1.1.1, 203.0.113.9", 200},
		{"second, other forged address", "10.0.0.1:2222", "2.2.2.2, 203.0.113.9", 200},
		{"third, through another proxy", "10.0.0.2:3333", "3.3.3.3, 203.0.113.9, 10.0.0.7", 429},
		{"forged trusted address", "10.0.0.1:4444", "10.9.9.9, 203.0.113.9", 429},
		// Another client behind the same proxy has its own budget.
		{"other client", "10.0.0.1:5555", "1.1.1.1, 203.0.113.10", 200},
		// A peer that is not a proxy is the client, whatever it forwards.
		{"direct 1", "198.51.100.7:1", "4.4.4.4", 200},
		{"direct 2", "198.51.100.7:2", "5.5.5.5", 200},
		{"direct 3", "198.51.100.7:3", "203.0.113.11", 429},
	}
	for _, st := range steps {
		if got := get(st.remote, st.xff); got != st.want {
			t.Errorf("%s (peer %s, X-Forwarded-For %q): %d, want %d", st.name, st.remote, st.xff, got, st.want)
		}
	}
}
