package authz

import (
	"log/slog"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
)

// TestCookiesBehindTLSProxy: --insecure-http behind a TLS-terminating proxy
// (https issuer) keeps Secure and the __Host- prefix; only a plain-HTTP
// issuer drops them.
func TestCookiesBehindTLSProxy(t *testing.T) {
	key, err := secret.New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		issuer   string
		insecure bool
		session  string
		secure   bool
	}{
		{"https", "https://auth.example", false, "__Host-gatehouse-session", true},
		{"plain HTTP behind a TLS proxy", "https://auth.example", true, "__Host-gatehouse-session", true},
		{"plain HTTP issuer", "http://127.0.0.1:8000", true, "gatehouse-session", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := newPages(key, tt.issuer, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if p.session != tt.session || p.secure != tt.secure {
				t.Errorf("cookie %q secure=%v, want %q secure=%v", p.session, p.secure, tt.session, tt.secure)
			}
		})
	}
}
