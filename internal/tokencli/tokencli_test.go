package tokencli_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
	"github.com/gatehouse-dev/gatehouse/internal/tokencli"
)

// demoPassword is the demo user's password (GATEHOUSE_DEMO_PASSWORD).
const demoPassword = "tokencli-demo-pw-3391"

// gatehouse builds the gatehouse binary once per test process.
var gatehouse gatehouseproc.Builder

func TestMain(m *testing.M) { os.Exit(gatehouse.Run(m)) }

// server is a running `gatehouse serve` on SQLite in a data directory of
// its own.
type server struct {
	issuer, api string
	client      *http.Client // trusts the installation's local CA
}

// start prepares an installation seeded before the CLI's client existed
// (seeded, then that client removed), starts serve on it and waits until
// every role is ready. The process is killed when the test ends.
func start(t *testing.T) *server {
	t.Helper()
	root := t.TempDir()
	dataDir := filepath.Join(root, "data")
	var authzAddr, apiAddr, webappAddr string
	for _, a := range []*string{&authzAddr, &apiAddr, &webappAddr} {
		var err error
		if *a, err = gatehouseproc.FreeAddr(); err != nil {
			t.Fatal(err)
		}
	}
	files, _, err := tlsconf.EnsureLocal(filepath.Join(dataDir, "tls"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s := &server{issuer: "https://" + authzAddr, api: "https://" + apiAddr}
	if s.client, err = tlsconf.HTTPClient(30*time.Second, files.CACert); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	bin := gatehouse.MustBin(t)
	admin := gatehouseproc.Admin{
		Bin:   bin,
		Env:   []string{"GATEHOUSE_SECRET=" + base64.StdEncoding.EncodeToString(key), "GATEHOUSE_DEMO_PASSWORD=" + demoPassword},
		Flags: []string{"--data-dir", dataDir},
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if _, err := admin.Run(ctx, "", "seed", "--api-addr", apiAddr, "--webapp-addr", webappAddr); err != nil {
		t.Fatal(err)
	}
	// An installation seeded without the CLI's client gets it from
	// gatehouse seed, run again.
	if _, err := admin.Run(ctx, "", "client", "remove", "--id", "gatehouse-cli"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Run(ctx, "", "seed", "--api-addr", apiAddr, "--webapp-addr", webappAddr); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(root, "server.log")
	p, err := gatehouseproc.Start(gatehouseproc.Spec{
		Bin: bin, Env: admin.Env, Log: logPath,
		Args: []string{"serve", "--data-dir", dataDir, "--authz-addr", authzAddr, "--api-addr", apiAddr, "--webapp-addr", webappAddr},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("server log, last lines:\n%s", gatehouseproc.Tail(logPath, 30))
		}
	})
	if err := gatehouseproc.WaitReady(ctx, s.client, p, 20*time.Millisecond, s.issuer+"/readyz", s.api+"/readyz", "https://"+webappAddr+"/readyz"); err != nil {
		t.Fatal(err)
	}
	return s
}

// browser is the person's browser in a test: a cookie jar that follows
// the authorization address, signs in as the demo user and answers the
// consent page. It records what it saw.
type browser struct {
	t       *testing.T
	client  *http.Client
	decide  string // the consent decision: allow or deny
	mu      sync.Mutex
	authURL *url.URL
	pages   []string // the callback's pages, in order
	before  func(ctx context.Context, callback *url.URL)
	done    chan struct{} // closed when open has returned
}

func newBrowser(t *testing.T, s *server, decide string) *browser {
	return &browser{t: t, client: flowtest.Browser(s.client), decide: decide, done: make(chan struct{})}
}

// open is the OpenBrowser of Options. It runs on in the background until
// the test's end (wait), as a browser outlives the command: it walks to
// the redirect to the loopback address, calls before (if set) with it,
// then follows it.
func (b *browser) open(_ context.Context, raw string) error {
	go func() {
		defer close(b.done)
		if err := b.walk(b.t.Context(), raw); err != nil {
			b.t.Errorf("browser: %v", err)
		}
	}()
	return nil
}

// wait waits until the browser is done.
func (b *browser) wait() {
	select {
	case <-b.done:
	case <-time.After(time.Minute):
		b.t.Error("the browser is still busy after a minute")
	}
}

func (b *browser) walk(ctx context.Context, raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.authURL = u
	b.mu.Unlock()
	do := flowtest.ClientDoer(b.client)
	decide := func(ctx context.Context, method string, u *url.URL, form url.Values) (flowtest.Reply, error) {
		if form != nil && form.Has("decision") {
			form.Set("decision", b.decide)
		}
		return do(ctx, method, u, form)
	}
	loc, r, err := flowtest.Walk(ctx, decide, http.MethodGet, raw, nil, u.Query().Get("redirect_uri"), flowtest.Login{Username: "demo", Password: demoPassword})
	if err != nil {
		return err
	}
	if loc == nil {
		return fmt.Errorf("the walk ended on a page, %d: %.300s", r.Status, r.Body)
	}
	if b.before != nil {
		b.before(ctx, loc)
	}
	b.get(ctx, loc.String(), "")
	return nil
}

// get fetches a callback address (with another Host header when host is
// set) and records the page.
func (b *browser) get(ctx context.Context, target, host string) flowtest.Reply {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		b.t.Error(err)
		return flowtest.Reply{}
	}
	if host != "" {
		req.Host = host
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Errorf("GET %s: %v", target, err)
		return flowtest.Reply{}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Errorf("GET %s: %v", target, err)
	}
	b.mu.Lock()
	b.pages = append(b.pages, fmt.Sprint(res.StatusCode, " ", string(body)))
	b.mu.Unlock()
	return flowtest.Reply{Status: res.StatusCode}
}

func (b *browser) lastPage() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pages) == 0 {
		return ""
	}
	return b.pages[len(b.pages)-1]
}

// syncBuffer collects what Get writes for the person.
type syncBuffer struct {
	mu sync.Mutex
	sb strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sb.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sb.String()
}

func options(s *server, b *browser, out *syncBuffer) tokencli.Options {
	o := tokencli.Options{
		Issuer: s.issuer, ClientID: "gatehouse-cli", Scopes: []string{"openid", "todos:read", "todos:write"},
		HTTPClient: s.client, Out: out, Timeout: time.Minute,
	}
	if b != nil {
		o.OpenBrowser = b.open
	}
	return o
}

// TestGet runs the sign-in against a real gatehouse whose CLI client was
// registered by the start (the installation was seeded before it existed).
func TestGet(t *testing.T) {
	s := start(t)

	t.Run("the token reads the demo user's todos", func(t *testing.T) {
		b, out := newBrowser(t, s, "allow"), &syncBuffer{}
		tok, err := tokencli.Get(t.Context(), options(s, b, out))
		b.wait()
		if err != nil {
			t.Fatalf("Get: %v\n%s", err, out)
		}
		if tok.AccessToken == "" || !strings.EqualFold(tok.TokenType, "Bearer") || tok.ExpiresIn <= 0 || !strings.Contains(tok.Scope, "todos:read") {
			t.Fatalf("token response %+v", tok)
		}
		q := b.authURL.Query()
		redirect, err := url.Parse(q.Get("redirect_uri"))
		if err != nil || redirect.Scheme != "http" || redirect.Hostname() != "127.0.0.1" || redirect.Port() == "" || redirect.Path != "/callback" {
			t.Errorf("redirect_uri %q, want http://127.0.0.1:<port>/callback", q.Get("redirect_uri"))
		}
		if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || len(q.Get("state")) < 20 || len(q.Get("nonce")) < 20 {
			t.Errorf("authorization request %v lacks PKCE S256, a state or a nonce", q)
		}
		if !strings.Contains(out.String(), "Open this address in your browser: "+b.authURL.String()) {
			t.Errorf("the address is not shown: %q", out)
		}
		if p := b.lastPage(); !strings.HasPrefix(p, "200 ") || !strings.Contains(p, "You can close this tab") {
			t.Errorf("callback page %q", p)
		}
		r, err := flowtest.Send(t.Context(), s.client, http.MethodGet, s.api+"/api/todos", flowtest.Bearer(tok.AccessToken), nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != http.StatusOK || !strings.Contains(string(r.Body), "Call the API with curl") {
			t.Fatalf("GET /api/todos: %d %.300s", r.Status, r.Body)
		}
	})

	t.Run("the code is redeemed only with the PKCE verifier", func(t *testing.T) {
		b, out := newBrowser(t, s, "allow"), &syncBuffer{}
		var refusals []string
		b.before = func(ctx context.Context, callback *url.URL) {
			// Someone who intercepts the code cannot redeem it without
			// the verifier, which only the command holds.
			for _, v := range []string{"", "a-guessed-verifier-of-the-right-length-0123456789"} {
				form := url.Values{"grant_type": {"authorization_code"}, "client_id": {"gatehouse-cli"},
					"code": {callback.Query().Get("code")}, "redirect_uri": {b.authURL.Query().Get("redirect_uri")}}
				if v != "" {
					form.Set("code_verifier", v)
				}
				r, err := flowtest.Send(ctx, s.client, http.MethodPost, s.issuer+"/token", flowtest.FormHeader("", ""), []byte(form.Encode()))
				if err != nil {
					t.Error(err)
					return
				}
				var e struct{ Error string }
				_ = json.Unmarshal(r.Body, &e)
				refusals = append(refusals, fmt.Sprint(r.Status, " ", e.Error))
			}
		}
		_, err := tokencli.Get(t.Context(), options(s, b, out))
		b.wait()
		if err != nil {
			t.Fatalf("Get: %v\n%s", err, out)
		}
		if want := "400 invalid_grant"; len(refusals) != 2 || refusals[0] != want || refusals[1] != want {
			t.Fatalf("redeeming the code without or with a wrong verifier: %v, want %s twice", refusals, want)
		}
	})

	t.Run("access_denied is reported", func(t *testing.T) {
		b, out := newBrowser(t, s, "deny"), &syncBuffer{}
		_, err := tokencli.Get(t.Context(), options(s, b, out))
		b.wait()
		if err == nil || !strings.Contains(err.Error(), "access_denied") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("Get: %v, want one line naming access_denied", err)
		}
		if p := b.lastPage(); !strings.HasPrefix(p, "400 ") || !strings.Contains(p, "access_denied") {
			t.Errorf("callback page %q", p)
		}
	})

	t.Run("answers of other origins are refused and the wait goes on", func(t *testing.T) {
		b, out := newBrowser(t, s, "allow"), &syncBuffer{}
		b.before = func(ctx context.Context, callback *url.URL) {
			wrong := *callback
			q := wrong.Query()
			q.Set("state", "not-the-state-this-sign-in-sent")
			wrong.RawQuery = q.Encode()
			if r := b.get(ctx, wrong.String(), ""); r.Status != http.StatusBadRequest {
				t.Errorf("a wrong state answered %d", r.Status)
			}
			if p := b.lastPage(); !strings.Contains(p, "Not this sign-in") {
				t.Errorf("wrong state's page %q", p)
			}
			// The right state, through a name that is not the loopback
			// address (DNS rebinding).
			if r := b.get(ctx, callback.String(), "attacker.example:"+callback.Port()); r.Status != http.StatusBadRequest {
				t.Errorf("another Host answered %d", r.Status)
			}
		}
		tok, err := tokencli.Get(t.Context(), options(s, b, out))
		b.wait()
		if err != nil || tok.AccessToken == "" {
			t.Fatalf("Get: %v, %+v", err, tok)
		}
		if !strings.Contains(out.String(), "Refused an answer whose state is not this sign-in's") {
			t.Errorf("the refusal is not noted: %q", out)
		}
	})

	t.Run("no answer within the timeout", func(t *testing.T) {
		o := options(s, nil, &syncBuffer{})
		o.Timeout = 500 * time.Millisecond
		_, err := tokencli.Get(t.Context(), o)
		if err == nil || !strings.Contains(err.Error(), "no answer from the browser within 500ms") {
			t.Fatalf("Get: %v", err)
		}
	})
}

func TestGetIssuerUnreachable(t *testing.T) {
	addr, err := gatehouseproc.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	o := tokencli.Options{Issuer: "https://" + addr, ClientID: "gatehouse-cli", Scopes: []string{"openid"}, Timeout: 10 * time.Second,
		OpenBrowser: func(context.Context, string) error { t.Error("a browser was opened"); return nil }}
	_, err = tokencli.Get(t.Context(), o)
	if err == nil || !strings.Contains(err.Error(), "cannot use the authorization server https://"+addr) || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("Get: %v", err)
	}
}
