package todoclient_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/webapp/todoclient"
)

// TestTokenSchemes: a bearer token goes as "Authorization: Bearer <token>"
// without a proof; a DPoP token as "Authorization: DPoP <token>" with a
// proof of its key for the request's method, URL and token; a DPoP token
// without its key is not sent at all.
func TestTokenSchemes(t *testing.T) {
	key, err := dpop.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	checker := &dpop.Checker{Replays: dpop.NewMemoryReplays()}
	type seen struct {
		auth, jkt, err string
	}
	var (
		mu  sync.Mutex
		got []seen
	)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := seen{auth: r.Header.Get("Authorization")}
		if proof, _ := dpop.ProofFrom(r.Header); proof != "" {
			_, token, _ := strings.Cut(s.auth, " ")
			p, err := checker.Check(r.Context(), proof, dpop.Request{Method: r.Method, URL: "https://" + r.Host + r.URL.Path, AccessToken: token})
			if err != nil {
				s.err = err.Error()
			}
			s.jkt = p.JKT
		}
		mu.Lock()
		got = append(got, s)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := &todoclient.Client{BaseURL: srv.URL + "/api", HTTP: srv.Client()}

	tests := []struct {
		name    string
		token   todoclient.Token
		want    seen
		wantErr bool
	}{
		{"bearer", todoclient.Token{AccessToken: "at-1", Type: "Bearer"}, seen{auth: "Bearer at-1"}, false},
		{"no type", todoclient.Token{AccessToken: "at-2"}, seen{auth: "Bearer at-2"}, false},
		{"bearer with a key", todoclient.Token{AccessToken: "at-3", Type: "bearer", Key: key}, seen{auth: "Bearer at-3"}, false},
		{"DPoP", todoclient.Token{AccessToken: "at-4", Type: "DPoP", Key: key}, seen{auth: "DPoP at-4", jkt: key.JKT()}, false},
		{"dpop in lower case", todoclient.Token{AccessToken: "at-5", Type: "dpop", Key: key}, seen{auth: "DPoP at-5", jkt: key.JKT()}, false},
		{"DPoP without its key", todoclient.Token{AccessToken: "at-6", Type: "DPoP"}, seen{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			got = nil
			mu.Unlock()
			err := c.Delete(t.Context(), tc.token, "todo-1", "etag-1")
			mu.Lock()
			defer mu.Unlock()
			if tc.wantErr {
				if err == nil || len(got) != 0 {
					t.Fatalf("Delete = %v, %d requests; want an error and none", err, len(got))
				}
				return
			}
			if err != nil || len(got) != 1 || got[0] != tc.want {
				t.Fatalf("Delete = %v; the API saw %+v, want %+v", err, got, tc.want)
			}
		})
	}
}
