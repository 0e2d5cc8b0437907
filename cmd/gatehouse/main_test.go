package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/dpop"
	"github.com/gatehouse-dev/gatehouse/internal/admin"
	"github.com/gatehouse-dev/gatehouse/internal/assemble"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// syncBuffer is a bytes.Buffer safe for a command writing while a test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gatehouse runs one command line in-process.
func gatehouse(t *testing.T, ctx context.Context, stdin string, environ map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut syncBuffer
	e := env{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		lookup:         func(k string) (string, bool) { v, ok := environ[k]; return v, ok },
		setMemoryLimit: func(int64) {},
	}
	code = run(ctx, args, e)
	return code, out.String(), errOut.String()
}

// TestErrorsAreOneClearLine: bad settings, bad DSNs, an occupied port and
// a missing certificate file each give one clear line and a non-zero exit
// code. A flag the command line gets wrong adds a hint to --help:
// TestFlagMistakes covers those.
func TestErrorsAreOneClearLine(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	closed := gatehouseproc.MustFreeAddr(t)

	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown command", []string{"frobnicate"}, nil, `unknown command "frobnicate"`},
		{"bad role", []string{"serve", "--roles", "authz,ftp"}, nil, `unknown role "ftp"`},
		{"removed trust-proxy in env", []string{"serve"}, map[string]string{"GATEHOUSE_TRUST_PROXY": "true"}, "--trusted-proxies"},
		{"bad duration in env", []string{"migrate"}, map[string]string{"GATEHOUSE_DB_MAX_OPEN_CONNS": "many"}, "GATEHOUSE_DB_MAX_OPEN_CONNS"},
		{"bad DSN scheme", []string{"migrate", "--db", "oracle://x"}, nil, "oracle"},
		{"malformed DSN", []string{"migrate", "--db", "postgres://%zz"}, nil, "DSN"},
		{"unreachable postgres", []string{"migrate", "--db", "postgres://gatehouse:hunter2@" + closed + "/gh?connect_timeout=2"}, nil, closed},
		{"unreachable mysql", []string{"migrate", "--db", "mysql://root:hunter2@" + closed + "/gh?timeout=2s"}, nil, closed},
		{"occupied port", []string{"serve", "--roles", "api", "--api-addr", busy.Addr().String()}, nil, "api: cannot listen on " + busy.Addr().String()},
		{"missing certificate", []string{"serve", "--roles", "api", "--api-addr", gatehouseproc.MustFreeAddr(t), "--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/key.pem"}, nil, "/nonexistent/cert.pem"},
		{"missing secret file", []string{"serve", "--secret-file", "/nonexistent/secret"}, nil, "/nonexistent/secret"},
		{"user add without password", []string{"user", "add", "--username", "x"}, nil, "--password-stdin"},
		{"bad redirect", []string{"client", "add", "--id", "c", "--redirect-uri", "/relative"}, nil, "is relative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			args := tt.args
			if len(args) > 0 && args[0] != "frobnicate" {
				args = append(args, "--data-dir", t.TempDir())
			}
			code, _, stderr := gatehouse(t, ctx, "", tt.env, args...)
			if code == 0 {
				t.Fatalf("exit code 0, stderr %q", stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.want)
			}
			if n := strings.Count(strings.TrimSpace(stderr), "\n"); n != 0 {
				t.Errorf("stderr has %d lines, want one: %q", n+1, stderr)
			}
			if strings.Contains(stderr, "hunter2") {
				t.Errorf("stderr reveals the DSN's password: %q", stderr)
			}
			if strings.Contains(stderr, "goroutine ") {
				t.Errorf("stderr has a stack trace: %q", stderr)
			}
		})
	}
}

func TestHelpHasExamples(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--help"}, {"migrate", "--help"}, {"seed", "--help"}, {"keys", "rotate", "--help"},
		{"user", "add", "--help"}, {"user", "list", "--help"}, {"user", "remove", "--help"}, {"user", "set-password", "--help"},
		{"user", "disable", "--help"}, {"user", "enable", "--help"}, {"user", "reset-mfa", "--help"},
		{"client", "add", "--help"}, {"client", "list", "--help"}, {"client", "remove", "--help"}, {"client", "rotate-secret", "--help"},
		{"client", "update", "--help"}, {"client", "disable", "--help"}, {"client", "enable", "--help"}, {"client", "set-auth", "--help"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := gatehouse(t, context.Background(), "", nil, args...)
			if code != 0 || !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, "gatehouse ") {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			if n := strings.Count(stdout, "Usage:"); n != 1 {
				t.Errorf("usage printed %d times", n)
			}
		})
	}
}

// TestAdminCommands drives the admin CLI end to end on a fresh data directory.
func TestAdminCommands(t *testing.T) {
	ctx := context.Background()
	dir := []string{"--data-dir", t.TempDir()}
	steps := []struct {
		args   []string
		stdin  string
		code   int
		stdout string // regexp
	}{
		{[]string{"migrate"}, "", 0, "up to date"},
		{[]string{"user", "add", "--username", "alice", "--email", "alice@example.com", "--password-stdin"}, "correct horse battery\n", 0, "added user alice"},
		{[]string{"user", "add", "--username", "alice", "--password-stdin"}, "another password\n", 1, ""},
		{[]string{"user", "list"}, "", 0, `(?m)^alice\s+alice@example.com`},
		{[]string{"user", "set-password", "--username", "alice", "--password-stdin"}, "a better password\n", 0,
			`(?s)set the password of alice\nended the login sessions of alice\nrevoked 0 grants of alice`},
		{[]string{"user", "set-password", "--username", "alice", "--password-stdin", "--keep-sessions"}, "a fine password\n", 0,
			`^set the password of alice \(its login sessions and grants are kept\)\n$`},
		{[]string{"user", "disable", "--username", "alice"}, "", 0, `(?s)^disabled user alice\nended the login sessions of alice\nrevoked 0 grants`},
		{[]string{"user", "list"}, "", 0, `(?m)^USERNAME\s+EMAIL\s+NAME\s+SUB\s+DISABLED\s+CREATED\n^alice\s+alice@example.com\s+[0-9a-f]{32}\s+yes\s`},
		{[]string{"user", "list", "--json"}, "", 0, `"username":"alice","email":"alice@example.com","disabled":true`},
		{[]string{"user", "enable", "--username", "alice"}, "", 0, "^enabled user alice\n$"},
		{[]string{"user", "reset-mfa", "--username", "alice"}, "", 0, `(?s)^removed 0 second factors of alice \(passkeys and authenticator app\) and their recovery codes\nended the login sessions of alice\n`},
		{[]string{"user", "reset-mfa", "--username", "alice", "--keep-sessions"}, "", 0, `^removed 0 second factors of alice \(passkeys and authenticator app\) and their recovery codes\n$`},
		{[]string{"user", "reset-mfa", "--username", "nobody"}, "", 1, ""},
		{[]string{"user", "reset-mfa"}, "", 2, ""},
		{[]string{"user", "list", "--json"}, "", 0, `"username":"alice","email":"alice@example.com","disabled":false`},
		{[]string{"user", "disable", "--username", "nobody"}, "", 1, ""},
		{[]string{"user", "enable"}, "", 2, ""},
		{[]string{"user", "remove", "--username", "alice"}, "", 0, "removed user alice"},
		{[]string{"user", "remove", "--username", "alice"}, "", 1, ""},
		{[]string{"client", "add", "--id", "app", "--name", "App", "--redirect-uri", "https://app.example.com/cb", "--json"}, "", 0, `^\{"client_id":"app","client_secret":"[A-Za-z0-9_-]{43,}"\}`},
		{[]string{"client", "add", "--id", "app", "--redirect-uri", "https://app.example.com/cb"}, "", 1, ""},
		{[]string{"client", "add", "--id", "cli", "--public", "--redirect-uri", "http://127.0.0.1/cb"}, "", 0, "added client cli\n$"},
		{[]string{"client", "list", "--json"}, "", 0, `"client_id":"app"`},
		{[]string{"client", "add", "--id", "reports", "--grant-types", "", "--scopes", "", "--resource-server", "https://reports.example.com"}, "", 0, "added client reports"},
		{[]string{"client", "add", "--id", "r2", "--grant-types", "", "--resource-server", "http://reports.example.com"}, "", 1, ""},
		{[]string{"client", "add", "--id", "r3", "--public", "--redirect-uri", "http://127.0.0.1/cb", "--resource-server", "https://reports.example.com"}, "", 1, ""},
		{[]string{"client", "list", "--json"}, "", 0, `"client_id":"reports","name":"reports","public":false,"redirect_uris":null,"grant_types":\[\],"scopes":\[\],"resource_audience":"https://reports.example.com","disabled":false`},
		{[]string{"client", "list"}, "", 0, `(?m)^CLIENT ID\s+NAME\s+TYPE\s+AUTH METHOD\s+GRANTS\s+SCOPES\s+RESOURCE SERVER FOR\s+ID TOKEN ALG\s+DISABLED\s+REDIRECT URIS\n(?s:.*)^reports\s+reports\s+confidential\s+client_secret_basic\s+-\s+-\s+https://reports.example.com\s+RS256\s+no\s+-$`},
		{[]string{"client", "update", "--id", "reports", "--resource-scopes", "reports:read,reports:write"}, "", 0, "^resource server reports defines the scopes reports:read,reports:write\n$"},
		{[]string{"client", "list", "--json"}, "", 0, `"client_id":"reports",[^}]*"resource_audience":"https://reports.example.com","resource_scopes":\["reports:read","reports:write"\]`},
		{[]string{"client", "list"}, "", 0, `(?m)^reports\s+reports\s+confidential\s+client_secret_basic\s+-\s+-\s+https://reports.example.com \(reports:read,reports:write\)\s+RS256`},
		{[]string{"client", "add", "--id", "reports2", "--grant-types", "", "--scopes", "", "--resource-server", "https://reports.example.com"}, "", 1, ""},
		{[]string{"client", "add", "--id", "notrs", "--resource-scopes", "reports:read", "--redirect-uri", "https://app.example.com/cb"}, "", 1, ""},
		{[]string{"client", "update", "--id", "reports", "--resource-scopes", "openid"}, "", 1, ""},
		{[]string{"client", "update", "--id", "app", "--resource-server", "https://app-api.example.com"}, "", 0, "client app is a resource server for https://app-api.example.com"},
		{[]string{"client", "update", "--id", "app", "--resource-server", "https://reports.example.com"}, "", 1, ""},
		{[]string{"client", "list", "--json"}, "", 0, `"client_id":"app",[^}]*"resource_audience":"https://app-api.example.com"`},
		{[]string{"client", "update", "--id", "app", "--resource-server", ""}, "", 0, "client app is no resource server"},
		{[]string{"client", "list", "--json"}, "", 0, `"client_id":"app",[^}]*"resource_audience":""`},
		{[]string{"client", "update", "--id", "app"}, "", 2, ""},
		{[]string{"client", "update", "--id", "app", "--resource-server", "https://app-api.example.com/"}, "", 1, ""},
		{[]string{"client", "update", "--id", "cli", "--resource-server", "https://app-api.example.com"}, "", 1, ""},
		{[]string{"client", "update", "--id", "nope", "--resource-server", "https://app-api.example.com"}, "", 1, ""},
		{[]string{"client", "disable", "--id", "app"}, "", 0, "^disabled client app\n$"},
		{[]string{"client", "list", "--json"}, "", 0, `"client_id":"app",[^}]*"disabled":true`},
		{[]string{"client", "list"}, "", 0, `(?m)^app\s+App\s+confidential\s+client_secret_basic\s+authorization_code,refresh_token\s+openid,profile,email,offline_access\s+-\s+RS256\s+yes\s+https://app.example.com/cb$`},
		{[]string{"client", "enable", "--id", "app"}, "", 0, "^enabled client app\n$"},
		{[]string{"client", "list", "--json"}, "", 0, `"client_id":"app",[^}]*"disabled":false`},
		{[]string{"client", "disable", "--id", "nope"}, "", 1, ""},
		{[]string{"client", "rotate-secret", "--id", "app"}, "", 0, "shown once"},
		{[]string{"client", "rotate-secret", "--id", "cli"}, "", 1, ""},
		{[]string{"client", "remove", "--id", "app"}, "", 0, "removed client app"},
		{[]string{"client", "remove", "--id", "nope"}, "", 1, ""},
		{[]string{"seed", "--api-url", "https://api.example.com"}, "", 0, "demo"},
		{[]string{"client", "list", "--json"}, "", 0, `"client_id":"gatehouse-api",[^}]*"resource_audience":"https://api.example.com"`},
		{[]string{"client", "list", "--json"}, "", 0, `"client_id":"gatehouse-webapp",[^}]*"id_token_signed_response_alg":"ES256"`},
		{[]string{"client", "list", "--json"}, "", 0, `"client_id":"gatehouse-api",[^}]*"id_token_signed_response_alg":"RS256"`},
		{[]string{"seed", "--api-url", "https://api2.example.com"}, "", 1, ""},
	}
	for _, s := range steps {
		code, stdout, stderr := gatehouse(t, ctx, s.stdin, nil, append(s.args, dir...)...)
		if code != s.code {
			t.Fatalf("%v: exit %d, want %d (stderr %q)", s.args, code, s.code, stderr)
		}
		if s.stdout != "" && !regexp.MustCompile(s.stdout).MatchString(stdout) {
			t.Fatalf("%v: stdout %q does not match %q", s.args, stdout, s.stdout)
		}
		if strings.Contains(stdout+stderr, "correct horse") {
			t.Fatalf("%v printed a password", s.args)
		}
	}
}

// TestServeFreshAndRestart starts every role on a fresh data directory: it
// must create the database, certificates and secret, seed the demo setup,
// print the URLs, CA and demo login, serve /healthz and /readyz over HTTPS
// with the generated CA, shut down cleanly on cancel, and reuse everything on
// the next start.
func TestServeFreshAndRestart(t *testing.T) {
	dataDir := t.TempDir()
	addrs := map[string]string{"authz": gatehouseproc.MustFreeAddr(t), "api": gatehouseproc.MustFreeAddr(t), "webapp": gatehouseproc.MustFreeAddr(t)}
	args := []string{"serve", "--data-dir", dataDir,
		"--authz-addr", addrs["authz"], "--api-addr", addrs["api"], "--webapp-addr", addrs["webapp"], "--shutdown-timeout", "5s"}

	// start runs serve with extra flags until it is ready, runs check (if
	// any) against it, and stops it.
	start := func(extra []string, check func(client *http.Client)) (stdout string) {
		ctx, cancel := context.WithCancel(context.Background())
		args := append(slices.Clone(args), extra...)
		var out, errOut syncBuffer
		done := make(chan int, 1)
		var memoryLimit atomic.Int64
		go func() {
			done <- run(ctx, args, env{strings.NewReader(""), &out, &errOut, func(string) (string, bool) { return "", false }, memoryLimit.Store})
		}()
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(out.String(), "Press Ctrl-C") {
			select {
			case code := <-done:
				cancel()
				t.Fatalf("serve exited early with %d: %s", code, errOut.String())
			default:
			}
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("serve did not start: %s %s", out.String(), errOut.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if got := memoryLimit.Load(); got != config.DefaultMemoryLimit {
			t.Errorf("serve set the Go memory limit to %d, want the default %d", got, config.DefaultMemoryLimit)
		}
		client := httpsClient(t, filepath.Join(dataDir, "tls", tlsconf.CACertFile))
		for role, addr := range addrs {
			for _, path := range []string{"/healthz", "/readyz"} {
				resp, err := client.Get("https://" + addr + path)
				if err != nil {
					t.Fatalf("%s %s: %v", role, path, err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("%s %s: %d", role, path, resp.StatusCode)
				}
				if resp.ProtoMajor != 2 {
					t.Errorf("%s %s: HTTP/%d, want HTTP/2", role, path, resp.ProtoMajor)
				}
			}
		}
		if check != nil {
			check(client)
		}
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Fatalf("serve exited with %d after Ctrl-C: %s", code, errOut.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatal("serve did not shut down")
		}
		return out.String()
	}

	// The banners, with what differs from run to run replaced by names:
	// the ports, the data directory and the generated demo password.
	deterministic := func(banner string) string {
		banner = regexp.MustCompile(`password "[^"]+"`).ReplaceAllString(banner, `password "DEMO_PASSWORD"`)
		for role, addr := range addrs {
			// \b: one port may begin with another.
			banner = regexp.MustCompile(regexp.QuoteMeta(addr)+`\b`).ReplaceAllString(banner, "127.0.0.1:"+strings.ToUpper(role)+"_PORT")
		}
		return strings.ReplaceAll(banner, dataDir, "DATA_DIR")
	}
	first := start(nil, nil)
	golden(t, "serve-first-start", deterministic(first))
	for _, f := range []string{"secret", "gatehouse.db", "tls/" + tlsconf.CACertFile, "tls/" + tlsconf.CAKeyFile, "clients/gatehouse-webapp.secret"} {
		fi, err := os.Stat(filepath.Join(dataDir, f))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if strings.Contains(f, "secret") || strings.Contains(f, "key") {
			if fi.Mode().Perm()&0o077 != 0 {
				t.Errorf("%s is readable by others: %v", f, fi.Mode().Perm())
			}
		}
	}
	ca1, _ := os.ReadFile(filepath.Join(dataDir, "tls", tlsconf.CACertFile))
	secret1, _ := os.ReadFile(filepath.Join(dataDir, "secret"))

	// The second start with --require-par and --dpop-nonces: discovery
	// says every request must be pushed, and a DPoP proof without the
	// server's nonce is answered use_dpop_nonce.
	second := start([]string{"--require-par", "--dpop-nonces"}, func(client *http.Client) {
		authz := "https://" + addrs["authz"]
		resp, err := client.Get(authz + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err != nil || m["require_pushed_authorization_requests"] != true {
			t.Errorf("discovery with --require-par: %v %v", m["require_pushed_authorization_requests"], err)
		}
		key, err := dpop.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		proof, err := key.Proof(http.MethodPost, authz+"/token", "", "", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		webappSecret, err := os.ReadFile(filepath.Join(dataDir, "clients", "gatehouse-webapp.secret"))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, authz+"/token", strings.NewReader("grant_type=refresh_token&refresh_token=x"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("gatehouse-webapp", strings.TrimSpace(string(webappSecret)))
		req.Header.Set("DPoP", proof)
		resp, err = client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		m = nil
		_ = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || m["error"] != "use_dpop_nonce" || resp.Header.Get("DPoP-Nonce") == "" {
			t.Errorf("a DPoP proof without a nonce with --dpop-nonces: %d %v", resp.StatusCode, m)
		}
	})
	if strings.Contains(second, "password \"") {
		t.Errorf("second start printed a password again:\n%s", second)
	}
	golden(t, "serve-later-start", deterministic(second))
	ca2, _ := os.ReadFile(filepath.Join(dataDir, "tls", tlsconf.CACertFile))
	secret2, _ := os.ReadFile(filepath.Join(dataDir, "secret"))
	if !bytes.Equal(ca1, ca2) || !bytes.Equal(secret1, secret2) {
		t.Error("the second start replaced the CA or the secret")
	}
}

func httpsClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal(fmt.Errorf("no certificate in %s", caFile))
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true,
	}}
}

// TestClientIDTokenAlg: `client add` and `client update` take
// --id-token-alg with any algorithm the server signs ID tokens with, show
// it in `client list`, and refuse any other (HMAC, none, a wrong case) with
// the supported ones named, changing nothing.
func TestClientIDTokenAlg(t *testing.T) {
	ctx := context.Background()
	dir := []string{"--data-dir", t.TempDir()}
	steps := []cliStep{
		{[]string{"client", "add", "--id", "ed", "--redirect-uri", "https://ed.example.com/cb", "--id-token-alg", "EdDSA"}, 0, "added client ed", ""},
		{[]string{"client", "add", "--id", "es", "--redirect-uri", "https://es.example.com/cb", "--id-token-alg", "ES256"}, 0, "added client es", ""},
		{[]string{"client", "add", "--id", "rs", "--redirect-uri", "https://rs.example.com/cb"}, 0, "added client rs", ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"ed",[^}]*"id_token_signed_response_alg":"EdDSA"(?s:.*)"client_id":"es",[^}]*"id_token_signed_response_alg":"ES256"(?s:.*)"client_id":"rs",[^}]*"id_token_signed_response_alg":"RS256"`, ""},
		{[]string{"client", "list"}, 0, `(?m)^ed\s+ed\s+confidential\s+client_secret_basic\s+\S+\s+\S+\s+-\s+EdDSA\s+no\s+https://ed.example.com/cb$`, ""},
		{[]string{"client", "add", "--id", "hs", "--redirect-uri", "https://hs.example.com/cb", "--id-token-alg", "HS256"}, 1, "^$", `ID token algorithm "HS256" is not supported \(want RS256, ES256, EdDSA\)`},
		{[]string{"client", "add", "--id", "no", "--redirect-uri", "https://no.example.com/cb", "--id-token-alg", "none"}, 1, "^$", `"none" is not supported`},
		{[]string{"client", "update", "--id", "rs", "--id-token-alg", "es256"}, 1, "^$", `"es256" is not supported \(want RS256, ES256, EdDSA\)`},
		{[]string{"client", "update", "--id", "rs", "--id-token-alg", "PS256", "--resource-server", "https://rs-api.example.com"}, 1, "^$", `"PS256" is not supported`},
		{[]string{"client", "update", "--id", "nope", "--id-token-alg", "ES256"}, 1, "^$", `no client "nope"`},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"rs",[^}]*"resource_audience":"","disabled":false,"id_token_signed_response_alg":"RS256"`, ""},
		{[]string{"client", "update", "--id", "rs", "--id-token-alg", "EdDSA"}, 0, "^client rs gets ID tokens signed with EdDSA\n$", ""},
		{[]string{"client", "update", "--id", "es", "--id-token-alg", ""}, 0, "^client es gets ID tokens signed with RS256\n$", ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"es",[^}]*"id_token_signed_response_alg":"RS256"(?s:.*)"client_id":"rs",[^}]*"id_token_signed_response_alg":"EdDSA"`, ""},
	}
	for _, s := range steps {
		runStep(t, ctx, dir, s)
	}
	if _, stdout, _ := gatehouse(t, ctx, "", nil, append([]string{"client", "list", "--json"}, dir...)...); strings.Contains(stdout, `"client_id":"hs"`) || strings.Contains(stdout, `"client_id":"no"`) {
		t.Errorf("a refused registration was stored: %s", stdout)
	}
}

// TestClientRequireMFA: `client add --require-mfa` registers a client
// whose every sign-in takes a second factor, `client update
// --require-mfa=true|false` changes that and says so, and `client list
// --json` shows it as require_mfa; an unknown client or a value that is no
// boolean changes nothing.
func TestClientRequireMFA(t *testing.T) {
	ctx := context.Background()
	dir := []string{"--data-dir", t.TempDir()}
	steps := []cliStep{
		{[]string{"client", "add", "--id", "bank", "--redirect-uri", "https://bank.example.com/cb", "--require-mfa"}, 0, "^added client bank\n", ""},
		{[]string{"client", "add", "--id", "plain", "--redirect-uri", "https://plain.example.com/cb"}, 0, "^added client plain\n", ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"bank",[^}]*"require_mfa":true(?s:.*)"client_id":"plain",[^}]*"require_mfa":false`, ""},
		{[]string{"client", "update", "--id", "bank", "--require-mfa=false"}, 0,
			"^client bank takes a second factor only when the server or its request asks for one\n$", ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"bank",[^}]*"require_mfa":false`, ""},
		{[]string{"client", "update", "--id", "plain", "--require-mfa"}, 0, "^client plain requires a second factor at every sign-in\n$", ""},
		{[]string{"client", "update", "--id", "bank", "--require-mfa=true"}, 0, "^client bank requires a second factor at every sign-in\n$", ""},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"bank",[^}]*"require_mfa":true(?s:.*)"client_id":"plain",[^}]*"require_mfa":true`, ""},
		{[]string{"client", "update", "--id", "nope", "--require-mfa"}, 1, "^$", `no client "nope"`},
		{[]string{"client", "update", "--id", "bank", "--require-mfa=maybe"}, 2, "^$", `invalid value "maybe" for --require-mfa`},
		{[]string{"client", "list", "--json"}, 0, `"client_id":"bank",[^}]*"require_mfa":true`, ""},
	}
	for _, s := range steps {
		runStep(t, ctx, dir, s)
	}
}

// TestStartGivesTheWebappClientES256: a start on a seeded database whose
// web app client (--webapp-client-id) is registered with no ID token
// algorithm gives it admin.WebappIDTokenAlg; one set explicitly, RS256
// included, is kept, and an unregistered --webapp-client-id is not an
// error.
func TestStartGivesTheWebappClientES256(t *testing.T) {
	ctx := context.Background()
	var c config.Serve
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--data-dir", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, &c.Storage)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, nc := range []admin.NewClient{
		{ID: admin.WebappClientID, RedirectURIs: []string{"https://127.0.0.1:5000/callback"}},
		{ID: "rsa-app", RedirectURIs: []string{"https://127.0.0.1:5001/callback"}, IDTokenAlg: "RS256"},
	} {
		if _, _, err := admin.AddClient(ctx, st, nc, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []struct {
		clientID, check, want string
	}{
		{admin.WebappClientID, admin.WebappClientID, admin.WebappIDTokenAlg},
		{admin.WebappClientID, admin.WebappClientID, admin.WebappIDTokenAlg},
		{"rsa-app", "rsa-app", "RS256"},
		{"unregistered", admin.WebappClientID, admin.WebappIDTokenAlg},
	} {
		c.WebappClientID = s.clientID
		if _, err := assemble.SeedOnFirstStart(ctx, &c, st, nil, nil, func(string) (string, bool) { return "", false }); err != nil {
			t.Fatalf("--webapp-client-id %s: %v", s.clientID, err)
		}
		if cl, err := st.GetClient(ctx, s.check); err != nil || cl.IDTokenAlg != s.want {
			t.Fatalf("--webapp-client-id %s: %s has ID token algorithm %q (%v), want %q", s.clientID, s.check, cl.IDTokenAlg, err, s.want)
		}
	}
}

// TestStartMakesTheAPIClientAResourceServer: a start on a seeded database
// whose API client (--api-client-id) is no resource server makes it one for
// the API's URL; one that is, for any audience, is left as it is, and an
// unregistered --api-client-id is not an error.
func TestStartMakesTheAPIClientAResourceServer(t *testing.T) {
	ctx := context.Background()
	var c config.Serve
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--data-dir", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, &c.Storage)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, nc := range []admin.NewClient{
		{ID: admin.APIClientID, GrantTypes: []string{}, Scopes: []string{}},
		{ID: "other-api", GrantTypes: []string{}, Scopes: []string{}, ResourceAudience: "https://other.example.com"},
	} {
		if _, _, err := admin.AddClient(ctx, st, nc, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	audience := func(id string) string {
		t.Helper()
		cl, err := st.GetClient(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return cl.ResourceAudience
	}
	steps := []struct {
		clientID string
		apiURL   string
		check    string // the client whose audience is checked
		want     string
	}{
		{admin.APIClientID, "https://api.example.com", admin.APIClientID, "https://api.example.com"},
		// The API moved: its client follows.
		{admin.APIClientID, "https://api2.example.com", admin.APIClientID, "https://api2.example.com"},
		{"other-api", "https://api.example.com", "other-api", "https://api.example.com"},
		{"unregistered", "https://api.example.com", admin.APIClientID, "https://api2.example.com"},
	}
	for _, s := range steps {
		c.APIClientID, c.APIURL = s.clientID, s.apiURL
		if _, err := assemble.SeedOnFirstStart(ctx, &c, st, nil, nil, func(string) (string, bool) { return "", false }); err != nil {
			t.Fatalf("--api-client-id %s --api-url %s: %v", s.clientID, s.apiURL, err)
		}
		if got := audience(s.check); got != s.want {
			t.Fatalf("--api-client-id %s --api-url %s: %s is a resource server for %q, want %q", s.clientID, s.apiURL, s.check, got, s.want)
		}
	}
}

// TestResetMFAIsAudited: `user reset-mfa` writes an audit event naming
// the person, on stderr beside what it prints.
func TestResetMFAIsAudited(t *testing.T) {
	ctx := context.Background()
	dir := []string{"--data-dir", t.TempDir()}
	if code, _, stderr := gatehouse(t, ctx, "correct horse battery\n", nil, append([]string{"user", "add", "--username", "alice", "--password-stdin"}, dir...)...); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, stderr)
	}
	code, _, stderr := gatehouse(t, ctx, "", nil, append([]string{"user", "reset-mfa", "--username", "alice"}, dir...)...)
	if code != 0 {
		t.Fatalf("reset-mfa: exit %d: %s", code, stderr)
	}
	for _, want := range []string{`"logger":"audit"`, `"event":"mfa_reset"`, `"username":"alice"`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %s", stderr, want)
		}
	}
}

// TestStartKeepsTheCLIClientRemoved: an operator who removed the CLI's
// client keeps it removed across restarts; gatehouse seed brings it back.
func TestStartKeepsTheCLIClientRemoved(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	env := map[string]string{"GATEHOUSE_DEMO_PASSWORD": "a demo password"}
	if code, _, stderr := gatehouse(t, ctx, "", env, "seed", "--data-dir", dir); code != 0 {
		t.Fatalf("seed: %s", stderr)
	}
	if code, _, stderr := gatehouse(t, ctx, "", env, "client", "remove", "--data-dir", dir, "--id", admin.CLIClientID); code != 0 {
		t.Fatalf("client remove: %s", stderr)
	}
	var c config.Serve
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	c.RegisterFlags(fs)
	if err := fs.Parse([]string{"--data-dir", dir}); err != nil {
		t.Fatal(err)
	}
	st, err := openStore(ctx, &c.Storage)
	if err != nil {
		t.Fatal(err)
	}
	res, err := assemble.LoadResources(&c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := assemble.SeedOnFirstStart(ctx, &c, st, nil, res, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetClient(ctx, admin.CLIClientID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("after a start: GetClient(%s) = %v, want not found: a start registered the removed client again", admin.CLIClientID, err)
	}
	st.Close()
	if code, _, stderr := gatehouse(t, ctx, "", env, "seed", "--data-dir", dir); code != 0 {
		t.Fatalf("seed again: %s", stderr)
	}
	st, err = openStore(ctx, &c.Storage)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.GetClient(ctx, admin.CLIClientID); err != nil {
		t.Fatalf("after gatehouse seed: %v", err)
	}
}

// cliStep is one gatehouse command of a test, run on the test's data
// directory, and what it must do: exit with code, and print what the
// regexps stdout and stderr match ("" for stderr: anything).
type cliStep struct {
	args           []string
	code           int
	stdout, stderr string
}

// runStep runs s and fails the test unless it does what it must; it
// returns what the command printed.
func runStep(t *testing.T, ctx context.Context, dir []string, s cliStep) (stdout, stderr string) {
	t.Helper()
	code, stdout, stderr := gatehouse(t, ctx, "", nil, append(s.args, dir...)...)
	if code != s.code {
		t.Fatalf("%v: exit %d, want %d (stderr %q)", s.args, code, s.code, stderr)
	}
	if !regexp.MustCompile(s.stdout).MatchString(stdout) {
		t.Fatalf("%v: stdout %q does not match %q", s.args, stdout, s.stdout)
	}
	if s.stderr != "" && !regexp.MustCompile(s.stderr).MatchString(stderr) {
		t.Fatalf("%v: stderr %q does not match %q", s.args, stderr, s.stderr)
	}
	return stdout, stderr
}
