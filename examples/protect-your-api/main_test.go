package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/bearer"
	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// gatehouse builds the gatehouse binary once per test process.
var gatehouse gatehouseproc.Builder

// TestMain removes the binary gatehouse built.
func TestMain(m *testing.M) { os.Exit(gatehouse.Run(m)) }

const demoPassword = "protect-your-api-demo-pw-5120"

// installation is a `gatehouse serve` on a data directory of its own, on
// free ports, and its admin commands on the same data directory: what a
// fresh clone gets with ./gatehouse serve.
type installation struct {
	dataDir     string
	authz, api  string // base URLs
	client      *http.Client
	commands    gatehouseproc.Admin
	caFile, log string
}

// startGatehouse starts gatehouse serve and waits until it is ready. The
// process is killed when the test ends.
func startGatehouse(t *testing.T) *installation {
	t.Helper()
	root := t.TempDir()
	in := &installation{
		dataDir: filepath.Join(root, "gatehouse-data"),
		log:     filepath.Join(root, "gatehouse.log"),
	}
	bin := gatehouse.MustBin(t)
	env := []string{"GATEHOUSE_DEMO_PASSWORD=" + demoPassword}
	in.commands = gatehouseproc.Admin{Bin: bin, Env: env, Flags: []string{"--data-dir", in.dataDir}}

	// The local CA serve would create on its first start, created first so
	// that the test's client trusts it from the start.
	files, _, err := tlsconf.EnsureLocal(filepath.Join(in.dataDir, "tls"), time.Now())
	if err != nil {
		t.Fatalf("local certificates: %v", err)
	}
	in.caFile = files.CACert
	if in.client, err = tlsconf.HTTPClient(10*time.Second, in.caFile); err != nil {
		t.Fatal(err)
	}
	authzAddr, apiAddr, webappAddr := gatehouseproc.MustFreeAddr(t), gatehouseproc.MustFreeAddr(t), gatehouseproc.MustFreeAddr(t)
	in.authz, in.api = "https://"+authzAddr, "https://"+apiAddr
	p, err := gatehouseproc.Start(gatehouseproc.Spec{
		Bin: bin,
		Args: []string{"serve", "--data-dir", in.dataDir,
			"--authz-addr", authzAddr, "--api-addr", apiAddr, "--webapp-addr", webappAddr},
		Env: env,
		Log: in.log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gatehouse log, last lines:\n%s", gatehouseproc.Tail(in.log, 30))
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := gatehouseproc.WaitReady(ctx, in.client, p, 20*time.Millisecond,
		in.authz+"/readyz", in.api+"/readyz", "https://"+webappAddr+"/readyz"); err != nil {
		t.Fatalf("gatehouse: %v\n%s", err, gatehouseproc.Tail(in.log, 20))
	}
	return in
}

// admin runs a gatehouse admin command on the installation's data
// directory.
func (in *installation) admin(t *testing.T, args ...string) string {
	t.Helper()
	out, err := in.commands.Run(t.Context(), "", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// token posts form to /token as client c (client_secret_basic).
func (in *installation) token(t *testing.T, c flowtest.Client, form url.Values) flowtest.Reply {
	t.Helper()
	r, err := flowtest.Send(t.Context(), in.client, http.MethodPost, in.authz+"/token",
		flowtest.FormHeader(c.ID, c.Secret), []byte(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// accessToken is token for an answer that must carry an access token.
func (in *installation) accessToken(t *testing.T, c flowtest.Client, form url.Values) string {
	t.Helper()
	r := in.token(t, c, form)
	var tok flowtest.Tokens
	if err := json.Unmarshal(r.Body, &tok); r.Status != http.StatusOK || err != nil || tok.AccessToken == "" {
		t.Fatalf("token %v: %d %s", form, r.Status, r.Body)
	}
	return tok.AccessToken
}

// personToken signs the demo user in through the authorization code flow
// of client c, asking for a token for resource, and redeems the code.
func (in *installation) personToken(t *testing.T, c flowtest.Client, scope, resource string) string {
	t.Helper()
	ctx := t.Context()
	a := flowtest.NewAuthRequest(in.authz, c, scope)
	a.URL += "&resource=" + url.QueryEscape(resource)
	browser := flowtest.ClientDoer(flowtest.Browser(in.client))
	loc, r, err := flowtest.Walk(ctx, browser, http.MethodGet, a.URL, nil, c.RedirectURI,
		flowtest.Login{Username: "demo", Password: demoPassword})
	if err != nil || loc == nil {
		t.Fatalf("authorization flow: %v (last answer %d %.300s)", err, r.Status, r.Body)
	}
	g, err := a.Callback(loc)
	if err != nil {
		t.Fatal(err)
	}
	form := g.Exchange(c.RedirectURI)
	form.Set("resource", resource)
	return in.accessToken(t, c, form)
}

// buildExample builds this package's command into dir.
func buildExample(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "protect-your-api")
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startExample starts the example's binary bin on addr with the flags
// args, logging to a file in dir, and waits until its /healthz answers.
// The process is killed when the test ends, if it still runs.
func startExample(t *testing.T, bin, dir, addr string, args ...string) *gatehouseproc.Process {
	t.Helper()
	logPath := filepath.Join(dir, "example.log")
	args = append([]string{"--addr", addr}, args...)
	p, err := gatehouseproc.Start(gatehouseproc.Spec{Bin: bin, Args: args, Log: logPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("example log:\n%s", gatehouseproc.Tail(logPath, 20))
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	hc := &http.Client{Timeout: 5 * time.Second}
	if err := gatehouseproc.WaitReady(ctx, hc, p, 20*time.Millisecond, "http://"+addr+"/healthz"); err != nil {
		t.Fatalf("example: %v\n%s", err, gatehouseproc.Tail(logPath, 20))
	}
	return p
}

// tokenClaims are the claims of an access token, read without checking
// it: what the test expects Gatehouse to have put in it.
type tokenClaims struct {
	Aud   any    `json:"aud"` // a string or a list
	Scope string `json:"scope"`
}

func readClaims(t *testing.T, token string) tokenClaims {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.40s…", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	var c tokenClaims
	if err != nil || json.Unmarshal(payload, &c) != nil {
		t.Fatalf("JWT payload %q: %v", parts[1], err)
	}
	return c
}

func (c tokenClaims) audience() []string {
	switch a := c.Aud.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, v := range a {
			s, _ := v.(string)
			out = append(out, s)
		}
		return out
	}
	return nil
}

// TestProtectYourAPI runs the walk of docs/protect-your-api.md: a real gatehouse serve, the
// resource server and a client registered with the gatehouse commands, and
// this example's binary, with its default audience, trusting the local CA.
func TestProtectYourAPI(t *testing.T) {
	in := startGatehouse(t)
	dir := t.TempDir()
	exampleBin := buildExample(t, dir)

	addr := gatehouseproc.MustFreeAddr(t)
	audience := "http://" + addr
	out := in.admin(t, "client", "add", "--id", "reports-api", "--name", "Reports API", "--grant-types", "", "--scopes", "",
		"--resource-server", audience, "--resource-scopes", "reports:read,reports:write")
	_, apiSecret, ok := strings.Cut(out, "client secret (shown once): ")
	if !ok {
		t.Fatalf("client add printed %q, want the resource server's secret", out)
	}
	apiSecret = strings.TrimSpace(apiSecret)
	reporter := flowtest.Client{ID: "reporter"}
	var err error
	if reporter.Secret, err = in.commands.AddClient(t.Context(), "--id", "reporter", "--name", "Reporter",
		"--grant-types", "client_credentials", "--scopes", "reports:read,reports:write,todos:read"); err != nil {
		t.Fatal(err)
	}
	// A web client through which a person gets a token for the API. The
	// flow stops at the redirect to it, which nothing serves.
	web := flowtest.Client{ID: "reports-web", RedirectURI: "http://127.0.0.1:1/callback"}
	if web.Secret, err = in.commands.AddClient(t.Context(), "--id", "reports-web", "--name", "Reports web",
		"--redirect-uri", web.RedirectURI, "--scopes", "openid,reports:read"); err != nil {
		t.Fatal(err)
	}

	example := startExample(t, exampleBin, dir, addr, "--issuer", in.authz, "--ca-file", in.caFile)
	base := "http://" + addr
	hc := &http.Client{Timeout: 10 * time.Second}

	forAPI := url.Values{"grant_type": {"client_credentials"}, "resource": {audience}}
	full := in.accessToken(t, reporter, forAPI)
	readOnly := in.accessToken(t, reporter, with(forAPI, "scope", "reports:read"))
	writeOnly := in.accessToken(t, reporter, with(forAPI, "scope", "reports:write"))
	builtIn := in.accessToken(t, reporter, url.Values{"grant_type": {"client_credentials"}})
	person := in.personToken(t, web, "openid reports:read", audience)

	// What Gatehouse issued: a token for the API carries its audience
	// alone and its scopes; one without resource is for the built-in API.
	if c := readClaims(t, full); !slices.Equal(c.audience(), []string{audience}) || !sameScopes(c.Scope, "reports:read reports:write") {
		t.Fatalf("token for %s: aud %v, scope %q", audience, c.Aud, c.Scope)
	}
	if c := readClaims(t, builtIn); !slices.Equal(c.audience(), []string{in.api}) {
		t.Fatalf("token without resource: aud %v, want [%s]", c.Aud, in.api)
	}

	const (
		invalidToken = `Bearer error="invalid_token", error_description="the access token is invalid or expired"`
		needWrite    = `Bearer error="insufficient_scope", error_description="the access token lacks the scope reports:write", scope="reports:write"`
		needRead     = `Bearer error="insufficient_scope", error_description="the access token lacks the scope reports:read", scope="reports:read"`
	)
	tests := []struct {
		name         string
		method, path string
		token, body  string
		status       int
		challenge    string // the WWW-Authenticate header, one value
		error        string // the body's "error"
		check        func(t *testing.T, body []byte)
	}{
		{name: "no token", method: "GET", path: "/reports", status: 401, challenge: "Bearer"},
		{name: "no token, whoami", method: "GET", path: "/whoami", status: 401, challenge: "Bearer"},
		{name: "token for this API reads", method: "GET", path: "/reports", token: full, status: 200,
			check: func(t *testing.T, b []byte) {
				var list []report
				if err := json.Unmarshal(b, &list); err != nil || len(list) < 2 {
					t.Errorf("reports %s: %v", b, err)
				}
			}},
		{name: "token for this API writes", method: "POST", path: "/reports", token: full, body: `{"title":"Weekly sign-ups"}`, status: 201,
			check: func(t *testing.T, b []byte) {
				var r report
				if err := json.Unmarshal(b, &r); err != nil || r.Title != "Weekly sign-ups" || r.Author != "client:reporter" {
					t.Errorf("added %s: %v", b, err)
				}
			}},
		{name: "client's whoami", method: "GET", path: "/whoami", token: full, status: 200,
			check: wantWhoami("client:reporter", "reporter", "client", "reports:read reports:write")},
		{name: "person's whoami", method: "GET", path: "/whoami", token: person, status: 200,
			check: func(t *testing.T, b []byte) {
				var w whoamiBody
				if err := json.Unmarshal(b, &w); err != nil || w.Kind != "person" || w.Subject == "" ||
					strings.HasPrefix(w.Subject, "client:") || w.ClientID != "reports-web" || !slices.Contains(w.Scopes, "reports:read") {
					t.Errorf("whoami %s: %v", b, err)
				}
			}},
		{name: "read-only token reads", method: "GET", path: "/reports", token: readOnly, status: 200},
		{name: "read-only token writes", method: "POST", path: "/reports", token: readOnly, body: `{"title":"x"}`,
			status: 403, challenge: needWrite, error: "insufficient_scope"},
		{name: "write-only token reads", method: "GET", path: "/reports", token: writeOnly,
			status: 403, challenge: needRead, error: "insufficient_scope"},
		{name: "person's token without reports:write", method: "POST", path: "/reports", token: person, body: `{"title":"x"}`,
			status: 403, challenge: needWrite, error: "insufficient_scope"},
		{name: "token for the built-in API", method: "GET", path: "/reports", token: builtIn,
			status: 401, challenge: invalidToken, error: "invalid_token"},
		{name: "token for the built-in API, whoami", method: "GET", path: "/whoami", token: builtIn,
			status: 401, challenge: invalidToken, error: "invalid_token"},
		{name: "not a token", method: "GET", path: "/whoami", token: "not-a-token",
			status: 401, challenge: invalidToken, error: "invalid_token"},
		{name: "no title", method: "POST", path: "/reports", token: full, body: `{"name":"x"}`, status: 400},
		{name: "author set by the client", method: "POST", path: "/reports", token: full,
			body: `{"title":"x","author":"someone-else"}`, status: 400},
		{name: "title too long", method: "POST", path: "/reports", token: full,
			body: `{"title":"` + strings.Repeat("x", maxTitle+1) + `"}`, status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.token != "" {
				h = flowtest.Bearer(tc.token)
			}
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			r, err := flowtest.Send(t.Context(), hc, tc.method, base+tc.path, h, body)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.status {
				t.Fatalf("%d %s, want %d", r.Status, r.Body, tc.status)
			}
			if got := r.Header.Values("WWW-Authenticate"); tc.challenge != "" && !slices.Equal(got, []string{tc.challenge}) {
				t.Errorf("WWW-Authenticate %q, want %q", got, tc.challenge)
			}
			if tc.challenge == "Bearer" && len(r.Body) != 0 {
				t.Errorf("body %q, want none (RFC 6750 §3.1: no error information without a token)", r.Body)
			}
			if tc.error != "" {
				var e struct{ Error string }
				if err := json.Unmarshal(r.Body, &e); err != nil || e.Error != tc.error {
					t.Errorf("body %s, want error %q", r.Body, tc.error)
				}
			}
			if tc.check != nil {
				tc.check(t, r.Body)
			}
		})
	}

	t.Run("unknown resource", func(t *testing.T) {
		r := in.token(t, reporter, with(forAPI, "resource", "http://127.0.0.1:1/not-registered"))
		var e struct{ Error string }
		if err := json.Unmarshal(r.Body, &e); r.Status != http.StatusBadRequest || err != nil || e.Error != "invalid_target" {
			t.Errorf("%d %s, want 400 invalid_target", r.Status, r.Body)
		}
	})
	t.Run("the built-in API refuses a token for this API", func(t *testing.T) {
		r, err := flowtest.Send(t.Context(), in.client, http.MethodGet, in.api+"/api/todos", flowtest.Bearer(full), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusUnauthorized {
			t.Errorf("%d %s, want 401", r.Status, r.Body)
		}
	})

	// Introspection mode: the resource server authenticates with its own
	// client ID and secret, and Gatehouse vouches only for tokens for it.
	t.Run("introspection", func(t *testing.T) {
		v, err := bearer.NewIntrospectionVerifier(bearer.IntrospectionConfig{
			URL:      in.authz + "/introspect",
			ClientID: "reports-api", ClientSecret: apiSecret,
			Issuer: in.authz, Audience: audience,
			HTTPClient: in.client,
		})
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Verify(t.Context(), full)
		if err != nil || c.Subject != "client:reporter" || !c.HasScope("reports:write") {
			t.Errorf("token for this API: %+v, %v", c, err)
		}
		if _, err := v.Verify(t.Context(), builtIn); !errors.Is(err, bearer.ErrInvalidToken) {
			t.Errorf("token for the built-in API: %v, want ErrInvalidToken", err)
		}
	})

	// SIGTERM: the example shuts down gracefully and exits 0.
	code, took, err := example.Term(5 * time.Second)
	if err != nil || code != 0 {
		t.Fatalf("SIGTERM: exit code %d after %v, %v", code, took, err)
	}
}

// with returns a copy of v with key set to value.
func with(v url.Values, key, value string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	out.Set(key, value)
	return out
}

func sameScopes(got, want string) bool {
	g, w := strings.Fields(got), strings.Fields(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

type whoamiBody struct {
	Subject  string   `json:"subject"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
	Kind     string   `json:"kind"`
}

func wantWhoami(subject, clientID, kind, scopes string) func(t *testing.T, b []byte) {
	return func(t *testing.T, b []byte) {
		t.Helper()
		var w whoamiBody
		if err := json.Unmarshal(b, &w); err != nil || w.Subject != subject || w.ClientID != clientID ||
			w.Kind != kind || !sameScopes(strings.Join(w.Scopes, " "), scopes) {
			t.Errorf("whoami %s, want subject %s, client_id %s, kind %s, scopes %s", b, subject, clientID, kind, scopes)
		}
	}
}

// cancelled is a context already cancelled: run given it returns at once,
// nil if it could start.
func cancelled(t *testing.T) context.Context {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	return ctx
}

// TestRunRefusesNonLoopback: the example serves plain HTTP, so only on a
// loopback address.
func TestRunRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:9000", "localhost:9000", "example.com:9000"} {
		err := run(cancelled(t), []string{"--addr", addr}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "loopback") {
			t.Errorf("--addr %s: %v, want a refusal", addr, err)
		}
	}
}

// TestRunCAFile: --ca-file must name a readable PEM certificate.
func TestRunCAFile(t *testing.T) {
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(t.TempDir(), "missing.pem"), notPEM} {
		err := run(cancelled(t), []string{"--addr", "127.0.0.1:0", "--ca-file", f}, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--ca-file") {
			t.Errorf("--ca-file %s: %v, want an error", f, err)
		}
	}
}

// runInProcess runs the example in this process with args and returns
// its base URL and a function that cancels it and returns what run
// returned.
func runInProcess(t *testing.T, args ...string) (base, line string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, args, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("first line: %q, %v", line, err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	// serving http://127.0.0.1:PORT (audience http://127.0.0.1:PORT, issuer …)
	base, _, _ = strings.Cut(strings.TrimPrefix(line, "serving "), " ")
	return base, line, func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(5 * time.Second):
			t.Fatal("run did not return after ctx was cancelled")
			return nil
		}
	}
}

// TestRunInProcess runs the example in this process on a port of its
// choosing: it answers without Gatehouse running (a request without a
// token is refused before any token is checked), defaults its audience to
// the address it listens on, and returns nil once ctx is cancelled.
func TestRunInProcess(t *testing.T) {
	base, line, stop := runInProcess(t, "--addr", "127.0.0.1:0")
	if want := "(audience " + base + ","; !strings.HasPrefix(base, "http://127.0.0.1:") || !strings.Contains(line, want) {
		t.Fatalf("first line %q, want the address and the audience it implies", line)
	}
	hc := &http.Client{Timeout: 5 * time.Second}
	for path, want := range map[string]int{"/healthz": 200, "/reports": 401} {
		r, err := flowtest.Send(t.Context(), hc, http.MethodGet, base+path, nil, nil)
		if err != nil || r.Status != want {
			t.Errorf("GET %s: %d %v, want %d", path, r.Status, err, want)
		}
	}
	if err := stop(); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}

// TestIssuerHangs: while Gatehouse accepts connections but never answers,
// a request with a token gets 503 once the key fetch gives up, within the
// server's write deadline (a fetch outlasting it would leave the client
// an empty reply).
func TestIssuerHangs(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan []net.Conn, 1)
	go func() {
		var held []net.Conn // open, never answered
		for {
			c, err := ln.Accept()
			if err != nil {
				accepted <- held
				return
			}
			held = append(held, c)
		}
	}()
	defer func() {
		ln.Close()
		for _, c := range <-accepted {
			c.Close()
		}
	}()
	base, _, stop := runInProcess(t, "--addr", "127.0.0.1:0", "--issuer", "http://"+ln.Addr().String())
	hc := &http.Client{Timeout: 30 * time.Second}
	r, err := flowtest.Send(t.Context(), hc, http.MethodGet, base+"/reports",
		http.Header{"Authorization": {"Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6IngifQ.e30.c2ln"}}, nil)
	if err != nil || r.Status != http.StatusServiceUnavailable {
		t.Errorf("GET /reports while the issuer hangs: %d %v, want 503", r.Status, err)
	}
	if err := stop(); err != nil {
		t.Fatalf("run after cancel: %v", err)
	}
}
