package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// TestTokenHelp: `gatehouse token --help` shows its flags, their defaults
// (the issuer of a default `serve`) and how to use the token with curl.
func TestTokenHelp(t *testing.T) {
	code, stdout, stderr := gatehouse(t, context.Background(), "", nil, "token", "--help")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	for _, want := range []string{
		"-issuer", "https://127.0.0.1:8000", "-client-id", "gatehouse-cli", "-scopes", "openid todos:read todos:write",
		"-ca-file", "-data-dir", "-no-browser", "-timeout", "5m0s", "-json", "TOKEN=$(gatehouse token)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("--help does not mention %q:\n%s", want, stdout)
		}
	}
	if code, stdout, _ := gatehouse(t, context.Background(), "", nil, "--help"); code != 0 || !strings.Contains(stdout, "  token ") {
		t.Errorf("gatehouse --help does not list token:\n%s", stdout)
	}
}

// TestTokenIssuerUnreachable: an issuer nobody answers at is one line and
// exit code 1, and nothing on standard output.
func TestTokenIssuerUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	addr := gatehouseproc.MustFreeAddr(t)
	code, stdout, stderr := gatehouse(t, ctx, "", nil, "token", "--no-browser", "--issuer", "https://"+addr, "--data-dir", t.TempDir())
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "gatehouse token: cannot use the authorization server https://"+addr) || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
}

// TestTokenTrustsTheLocalCA: the CA in --data-dir/tls is trusted, and an
// issuer whose certificate is signed by a CA not trusted is one line that
// says how to trust it.
func TestTokenTrustsTheLocalCA(t *testing.T) {
	dataDir := t.TempDir()
	files, _, err := tlsconf.EnsureLocal(filepath.Join(dataDir, "tls"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := tlsconf.ServerConfig(files.Cert, files.Key)
	if err != nil {
		t.Fatal(err)
	}
	// An issuer that is found but whose sign-in nobody finishes.
	srv := httptest.NewUnstartedServer(nil)
	srv.TLS = tlsCfg
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"issuer":%q,"authorization_endpoint":"%[1]s/authorize","token_endpoint":"%[1]s/token","jwks_uri":"%[1]s/jwks"}`, srv.URL)
	})
	srv.StartTLS()
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tt := range []struct {
		dataDir string
		want    string
	}{
		{dataDir, "gatehouse token: no answer from the browser within 200ms"},
		{t.TempDir(), "gatehouse token: cannot use the authorization server " + srv.URL},
	} {
		code, stdout, stderr := gatehouse(t, ctx, "", nil, "token", "--no-browser", "--timeout", "200ms", "--issuer", srv.URL, "--data-dir", tt.dataDir)
		lastLine := stderr[strings.LastIndex(strings.TrimSuffix(stderr, "\n"), "\n")+1:]
		if code != 1 || stdout != "" || !strings.HasPrefix(lastLine, tt.want) {
			t.Fatalf("--data-dir %s: exit %d, stdout %q, stderr %q; want %q", tt.dataDir, code, stdout, stderr, tt.want)
		}
		if tt.dataDir != dataDir && !strings.Contains(lastLine, "--ca-file") {
			t.Errorf("the refusal does not say how to trust the CA: %q", lastLine)
		}
	}
}

func TestTrustLocalCA(t *testing.T) {
	tests := []struct {
		issuer       string
		dataDirGiven bool
		want         bool
	}{
		{"https://127.0.0.1:8000", false, true},
		{"https://localhost:8000", false, true},
		{"https://[::1]:8000", false, true},
		{"https://auth.example.com", false, false},
		{"https://auth.example.com", true, true},
		{"://bad", false, false},
	}
	for _, tt := range tests {
		if got := trustLocalCA(tt.issuer, tt.dataDirGiven); got != tt.want {
			t.Errorf("trustLocalCA(%q, %v) = %v, want %v", tt.issuer, tt.dataDirGiven, got, tt.want)
		}
	}
}
