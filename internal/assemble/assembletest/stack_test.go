package assembletest

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
)

// TestStartServesWithOperations: every role of a stack answers /readyz and
// carries a request ID, as behind serve's operational middleware.
func TestStartServesWithOperations(t *testing.T) {
	s := Start(t, Options{})
	for _, u := range []string{s.Config.IssuerURL(), s.Config.APIPublicURL(), s.Config.WebappPublicURL()} {
		res, err := s.Client.Get(u + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get(httpserver.RequestIDHeader) == "" {
			t.Errorf("GET %s/readyz: %d, request ID %q; want 200 with a request ID", u, res.StatusCode, res.Header.Get(httpserver.RequestIDHeader))
		}
	}
}
