package httpserver_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
)

func TestDebugHandler(t *testing.T) {
	srv := httptest.NewServer(httpserver.DebugHandler())
	defer srv.Close()
	tests := []struct {
		method, path string
		status       int
		want         string // in the body
	}{
		{"GET", "/debug/pprof/", 200, "goroutine"},
		{"GET", "/debug/pprof/heap?debug=1", 200, "heap profile"},
		{"GET", "/debug/pprof/goroutine?debug=1", 200, "goroutine profile"},
		{"GET", "/debug/pprof/cmdline", 200, ""},
		{"GET", "/debug/pprof/profile?seconds=1", 200, ""},
		{"GET", "/debug/pprof/trace?seconds=0.1", 200, ""},
		{"GET", "/debug/pprof/nonesuch", 404, "Unknown profile"},
		{"DELETE", "/debug/pprof/heap", 405, ""},
		{"GET", "/metrics", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %.200s", resp.StatusCode, tt.status, body)
			}
			if !strings.Contains(string(body), tt.want) {
				t.Errorf("body does not contain %q: %.200s", tt.want, body)
			}
		})
	}
}
