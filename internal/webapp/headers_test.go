package webapp

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/alexedwards/scs/v2/memstore"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// TestHSTS: Strict-Transport-Security is sent for an https public URL with a
// real host name, also behind a TLS-terminating proxy, and never for
// localhost or an IP literal (its policy would pin every service of the
// person's machine to HTTPS) nor for a plain-HTTP public URL.
func TestHSTS(t *testing.T) {
	key, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		publicURL string
		insecure  bool
		want      bool
	}{
		{"https://app.example", false, true},
		{"https://app.example:8443", false, true},
		{"https://app.example", true, true}, // behind a TLS-terminating proxy
		{"https://localhost:5000", false, false},
		{"https://LocalHost.:5000", false, false},
		{"https://todos.localhost", false, false},
		{"https://127.0.0.1:5000", false, false},
		{"https://[::1]:5000", false, false},
		{"https://192.0.2.10", false, false},
		{"http://app.example", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.publicURL, func(t *testing.T) {
			app, err := New(t.Context(), Config{
				PublicURL: tt.publicURL, Issuer: "https://auth.example", APIURL: "https://api.example/api",
				ClientID: "webapp", ClientSecret: "s3cret", HTTPClient: &http.Client{}, Sessions: memstore.NewWithCleanupInterval(0),
				Secret: key, InsecureHTTP: tt.insecure,
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, path := range []string{"/", "/static/style.css", "/no-such-page"} {
				rec := httptest.NewRecorder()
				app.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.publicURL+path, nil))
				if got := rec.Header().Get("Strict-Transport-Security"); (got != "") != tt.want {
					t.Errorf("GET %s: Strict-Transport-Security = %q, want present=%v", path, got, tt.want)
				}
			}
		})
	}
}
