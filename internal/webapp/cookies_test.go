package webapp

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/alexedwards/scs/v2/memstore"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// TestCookiesBehindTLSProxy: with InsecureHTTP behind a TLS-terminating
// proxy (an https PublicURL) the session and pending sign-in cookies keep
// Secure and the __Host- prefix and HSTS stays on; only a plain-HTTP
// PublicURL drops them.
func TestCookiesBehindTLSProxy(t *testing.T) {
	key, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		publicURL string
		insecure  bool
		cookie    string
		pending   string
		secure    bool
	}{
		{"https", "https://app.example", false, cookieName, pendingCookieName, true},
		{"plain HTTP behind a TLS proxy", "https://app.example", true, cookieName, pendingCookieName, true},
		{"plain HTTP public URL", "http://127.0.0.1:5000", true, insecureCookieName, insecurePendingCookieName, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, err := New(t.Context(), Config{
				PublicURL: tt.publicURL, Issuer: "https://auth.example", APIURL: "https://api.example/api",
				ClientID: "webapp", ClientSecret: "s3cret", HTTPClient: &http.Client{}, Sessions: memstore.NewWithCleanupInterval(0),
				Secret: key, InsecureHTTP: tt.insecure,
			})
			if err != nil {
				t.Fatal(err)
			}
			if c := app.sessions.Cookie; c.Name != tt.cookie || c.Secure != tt.secure {
				t.Errorf("cookie %q secure=%v, want %q secure=%v", c.Name, c.Secure, tt.cookie, tt.secure)
			}
			if p := app.pending; p.name != tt.pending || p.secure != tt.secure {
				t.Errorf("pending sign-in cookie %q secure=%v, want %q secure=%v", p.name, p.secure, tt.pending, tt.secure)
			}
			rec := httptest.NewRecorder()
			app.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tt.publicURL+"/static/style.css", nil))
			if hsts := rec.Header().Get("Strict-Transport-Security") != ""; hsts != tt.secure {
				t.Errorf("Strict-Transport-Security present = %v, want %v", hsts, tt.secure)
			}
		})
	}
}
