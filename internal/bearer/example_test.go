package bearer_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/bearer/bearertest"
)

// ExampleRequireScope protects a handler: any valid Gatehouse token may
// reach /hello, only tokens with todos:write may reach /write.
func ExampleRequireScope() {
	// A stand-in authorization server; in production Issuer is Gatehouse's
	// issuer URL and the JWKS is found through its discovery document.
	t := &testing.T{}
	issuer := bearertest.New(t, "https://api.example")

	v, err := bearer.NewJWTVerifier(context.Background(), bearer.JWTConfig{
		Issuer:   issuer.URL,
		Audience: "https://api.example",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/write", bearer.RequireScope("todos:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := bearer.ClaimsFrom(r.Context())
		fmt.Fprintf(w, "written by %s", c.Subject)
	})))
	srv := httptest.NewServer(bearer.Middleware(v)(mux))
	defer srv.Close()

	for _, scope := range []string{"todos:read", "todos:write"} {
		req, _ := http.NewRequest("POST", srv.URL+"/write", nil)
		req.Header.Set("Authorization", "Bearer "+issuer.Token(t, "alice", scope))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			fmt.Println(resp.StatusCode, string(body))
		} else {
			fmt.Println(resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	// Output:
	// 403 Bearer error="insufficient_scope", error_description="the access token lacks the scope todos:write", scope="todos:write"
	// 200 written by alice
}
