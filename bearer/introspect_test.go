package bearer_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
)

// TestIntrospectionTokenKind: the API accepts access tokens issued for it
// only. An active answer is refused when its token_type names another kind
// of token (Gatehouse answers "refresh_token" for a refresh token) or its
// aud does not contain the configured audience.
func TestIntrospectionTokenKind(t *testing.T) {
	const audience = "https://api.example"
	tests := []struct {
		name string
		mod  func(map[string]any)
		ok   bool
	}{
		{"access_token", func(r map[string]any) { r["token_type"] = "access_token" }, true},
		{"no token_type", func(r map[string]any) { delete(r, "token_type") }, true},
		{"Bearer (RFC 7662 servers)", func(r map[string]any) { r["token_type"] = "Bearer" }, true},
		{"bearer, any case", func(r map[string]any) { r["token_type"] = "bearer" }, true},
		{"refresh_token", func(r map[string]any) { r["token_type"] = "refresh_token" }, false},
		{"Refresh_Token", func(r map[string]any) { r["token_type"] = "Refresh_Token" }, false},
		{"DPoP (sender-constrained)", func(r map[string]any) { r["token_type"] = "DPoP" }, false},
		{"N_A", func(r map[string]any) { r["token_type"] = "N_A" }, false},
		{"id_token", func(r map[string]any) { r["token_type"] = "id_token" }, false},
		{"aud in a list", func(r map[string]any) { r["aud"] = []string{"https://other.example", audience} }, true},
		{"other aud", func(r map[string]any) { r["aud"] = "https://other.example" }, false},
		{"aud list without ours", func(r map[string]any) { r["aud"] = []string{"https://other.example"} }, false},
		{"no aud", func(r map[string]any) { delete(r, "aud") }, false},
		{"empty aud", func(r map[string]any) { r["aud"] = "" }, false},
		{"aud not a string", func(r map[string]any) { r["aud"] = 42 }, false},
		{"inactive refresh token", func(r map[string]any) { r["active"], r["token_type"] = false, "refresh_token" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				resp := map[string]any{"active": true, "token_type": "access_token", "sub": "alice", "scope": "todos:read",
					"aud": audience, "exp": time.Now().Add(time.Hour).Unix(), "client_id": "web"}
				tc.mod(resp)
				_ = json.NewEncoder(w).Encode(resp)
			}))
			defer srv.Close()
			v, err := bearer.NewIntrospectionVerifier(bearer.IntrospectionConfig{
				URL: srv.URL, ClientID: "api", ClientSecret: "s3cret", Audience: audience,
			})
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(context.Background(), "tok")
			if tc.ok {
				if err != nil || c.Subject != "alice" {
					t.Fatalf("Verify = %+v, %v; want it accepted", c, err)
				}
				return
			}
			if !errors.Is(err, bearer.ErrInvalidToken) {
				t.Fatalf("Verify = %+v, %v; want ErrInvalidToken", c, err)
			}
		})
	}
}

// TestIntrospectionNeedsAudience: an introspection verifier without an
// audience would accept tokens issued for any resource server.
func TestIntrospectionNeedsAudience(t *testing.T) {
	_, err := bearer.NewIntrospectionVerifier(bearer.IntrospectionConfig{URL: "https://as.example/introspect", ClientID: "api"})
	if err == nil {
		t.Fatal("NewIntrospectionVerifier without an Audience succeeded")
	}
}

// TestIntrospectionJunkKeepsAnswers: made-up tokens, each answered
// inactive, do not push the answers for real tokens out of the cache, so a
// flood of them cannot make every real request ask the endpoint again.
func TestIntrospectionJunkKeepsAnswers(t *testing.T) {
	const audience = "https://api.example"
	var goodAsked atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("token") != "good" {
			_ = json.NewEncoder(w).Encode(map[string]any{"active": false})
			return
		}
		goodAsked.Add(1)
		_ = json.NewEncoder(w).Encode(map[string]any{"active": true, "sub": "alice", "scope": "todos:read",
			"aud": audience, "exp": time.Now().Add(time.Hour).Unix(), "client_id": "web"})
	}))
	defer srv.Close()
	v, err := bearer.NewIntrospectionVerifier(bearer.IntrospectionConfig{
		URL: srv.URL, ClientID: "api", ClientSecret: "s3cret", Audience: audience, CacheTTL: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := v.Verify(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	for i := range 50000 {
		if _, err := v.Verify(ctx, fmt.Sprintf("junk-%d", i)); !errors.Is(err, bearer.ErrInvalidToken) {
			t.Fatalf("junk token: %v", err)
		}
	}
	if _, err := v.Verify(ctx, "good"); err != nil {
		t.Fatal(err)
	}
	if n := goodAsked.Load(); n != 1 {
		t.Errorf("the real token was introspected %d times, want once (its answer cached through the junk)", n)
	}
}
