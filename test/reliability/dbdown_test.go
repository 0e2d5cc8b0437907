package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
)

// Bounds checked while the database is away.
const (
	// downFor is how long the database stays away.
	downFor = 6 * time.Second
	// worstWhileRefused bounds any request while connections are refused:
	// they must fail fast, not wait for a timeout.
	worstWhileRefused = 3 * time.Second
	// requestTimeout is the server's deadline per request
	// (--request-timeout): what bounds every answer while nothing answers.
	requestTimeout = 3 * time.Second
	// worstWhilePartitioned bounds any request while nothing answers: the
	// request deadline, with slack for answering after it.
	worstWhilePartitioned = requestTimeout + 2*time.Second
	// clientTimeout is the test client's own limit per request.
	clientTimeout = 15 * time.Second
	// recoverWithin bounds how long service takes to come back.
	recoverWithin = 30 * time.Second
)

// probe is one request to one role, with what its answer must look like
// while the database is unreachable.
type probe struct {
	name string
	do   func(ctx context.Context) (flowtest.Reply, error)
	// up checks a normal answer; down the answer while the database is
	// unreachable (the status and Retry-After are checked for every probe).
	up   func(r flowtest.Reply) error
	down func(r flowtest.Reply) error
}

// TestDatabaseDown cuts the connection between a running gatehouse and its
// database (PostgreSQL, MariaDB) and restores it: every role answers 503
// with Retry-After in its own error shape, /readyz turns red on every role,
// no request outlives its deadline, and service comes back by itself.
func TestDatabaseDown(t *testing.T) {
	for _, b := range []struct {
		name string
		dsn  func(testing.TB) string
	}{
		{"postgres", storagetest.Postgres},
		{"mysql", storagetest.MySQL},
	} {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.dsn(t)
			u, err := url.Parse(dsn)
			if err != nil {
				t.Fatal(err)
			}
			proxy := newTCPProxy(t, u.Host)
			u.Host = proxy.addr
			// The DSN carries no timeouts of its own (no connect_timeout,
			// no MySQL readTimeout): what bounds the answers in a partition
			// is the server's deadline per request, which ends a query
			// waiting on a silent connection, a connection attempt nobody
			// answers and a wait for a connection from a full pool alike.
			in := newInstallation(t, u.String(), "--request-timeout", requestTimeout.String())
			in.start()
			testDatabaseDown(t, in, proxy)
		})
	}
}

func testDatabaseDown(t *testing.T, in *installation, proxy *tcpProxy) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	robot := in.robot()
	tok, _, err := clientCredentials(ctx, in.client, in.authz, robot)
	if err != nil {
		t.Fatal(err)
	}
	browser, err := webappSignIn(ctx, in.client, in.webapp)
	if err != nil {
		t.Fatal(err)
	}

	probes := []probe{
		{
			// Introspection reads the revoked list. (The token endpoint's
			// client-credentials grant writes nothing and authenticates
			// against cached clients, so for a few seconds it goes on
			// issuing tokens while the database is away.)
			name: "authz POST /introspect",
			do: func(ctx context.Context) (flowtest.Reply, error) {
				return flowtest.Send(ctx, in.client, http.MethodPost, in.authz+"/introspect", flowtest.FormHeader(robot.ID, robot.Secret),
					[]byte(url.Values{"token": {tok.AccessToken}}.Encode()))
			},
			up:   wantStatus(http.StatusOK),
			down: wantOAuthError,
		},
		{
			name: "api GET /api/todos",
			do: func(ctx context.Context) (flowtest.Reply, error) {
				return flowtest.Send(ctx, in.client, http.MethodGet, in.api+"/api/todos", flowtest.Bearer(tok.AccessToken), nil)
			},
			up:   wantStatus(http.StatusOK),
			down: wantEveError,
		},
		{
			name: "api POST /api/todos",
			do: func(ctx context.Context) (flowtest.Reply, error) {
				return flowtest.Send(ctx, in.client, http.MethodPost, in.api+"/api/todos", flowtest.Bearer(tok.AccessToken), []byte(`{"title":"while down"}`))
			},
			up:   wantStatus(http.StatusCreated),
			down: wantEveError,
		},
		{
			name: "webapp GET / (signed in)",
			do: func(ctx context.Context) (flowtest.Reply, error) {
				return flowtest.Send(ctx, browser, http.MethodGet, in.webapp+"/", nil, nil)
			},
			up:   wantStatus(http.StatusOK),
			down: wantHTMLPage,
		},
	}
	for _, role := range []struct{ name, base string }{{"authz", in.authz}, {"api", in.api}, {"webapp", in.webapp}} {
		probes = append(probes, probe{
			name: role.name + " GET /readyz",
			do: func(ctx context.Context) (flowtest.Reply, error) {
				return flowtest.Send(ctx, in.client, http.MethodGet, role.base+"/readyz", nil, nil)
			},
			up:   wantStatus(http.StatusOK),
			down: wantReadyzRed,
		})
	}

	for _, p := range probes {
		r, err := p.do(ctx)
		if err == nil {
			err = p.up(r)
		}
		if err != nil {
			t.Fatalf("%s before the fault: %v", p.name, err)
		}
	}
	for _, f := range []fault{
		{"refused", "connections refused and reset, as when the database stops", proxy.cut, proxy.restore, worstWhileRefused},
		{"partition", "nothing answers, as in a network partition", proxy.hold, proxy.release, worstWhilePartitioned},
	} {
		t.Run(f.name, func(t *testing.T) { faultAndRecover(t, ctx, probes, f) })
		if t.Failed() {
			return
		}
	}
}

// fault is one way the database goes away, and how it comes back.
type fault struct {
	name, what string
	fail, heal func()
	// worstAnswer bounds every probe's latency while the database is away.
	worstAnswer time.Duration
}

// faultAndRecover runs every probe over and over, each in its own loop,
// while the database is away, then waits for every one to answer normally
// again.
func faultAndRecover(t *testing.T, ctx context.Context, probes []probe, f fault) {
	f.fail()
	failAt := time.Now()
	var (
		mu      sync.Mutex
		worst   = map[string]time.Duration{}
		answers int
		wg      sync.WaitGroup
	)
	for _, p := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(failAt) < downFor && ctx.Err() == nil {
				rctx, rcancel := context.WithTimeout(ctx, clientTimeout)
				t0 := time.Now()
				r, err := p.do(rctx)
				d := time.Since(t0)
				rcancel()
				if err == nil {
					err = checkDown(r, p.down)
				}
				mu.Lock()
				worst[p.name] = max(worst[p.name], d)
				answers++
				mu.Unlock()
				if err != nil {
					t.Errorf("%s, %s in: %v", p.name, time.Since(failAt).Round(time.Millisecond), err)
				}
				if d > f.worstAnswer {
					t.Errorf("%s took %s, want under %s", p.name, d.Round(time.Millisecond), f.worstAnswer)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	var overall time.Duration
	var lines []string
	for _, p := range probes {
		overall = max(overall, worst[p.name])
		lines = append(lines, fmt.Sprintf("  %-26s worst %s", p.name, worst[p.name].Round(time.Millisecond)))
	}
	t.Logf("database away for %s, %s: %d answers, worst latency %s\n%s",
		downFor, f.what, answers, overall.Round(time.Millisecond), strings.Join(lines, "\n"))

	// Back: every probe answers normally again, without a restart.
	f.heal()
	backAt := time.Now()
	for _, p := range probes {
		for {
			rctx, rcancel := context.WithTimeout(ctx, clientTimeout)
			r, err := p.do(rctx)
			rcancel()
			if err == nil {
				err = p.up(r)
			}
			if err == nil {
				break
			}
			if time.Since(backAt) > recoverWithin {
				t.Fatalf("%s not recovered %s after the database came back: %v", p.name, recoverWithin, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	t.Logf("recovered %s after the database came back, no restart", time.Since(backAt).Round(time.Millisecond))
}

// checkDown checks what every answer while the database is down has: 503
// and a Retry-After in seconds (RFC 9110 §10.2.3), then the role's shape.
func checkDown(r flowtest.Reply, shape func(flowtest.Reply) error) error {
	if r.Status != http.StatusServiceUnavailable {
		return fmt.Errorf("status %d, want 503: %.300s", r.Status, r.Body)
	}
	if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s <= 0 {
		return fmt.Errorf("Retry-After %q, want a number of seconds", r.Header.Get("Retry-After"))
	}
	return shape(r)
}

func wantStatus(code int) func(flowtest.Reply) error {
	return func(r flowtest.Reply) error {
		if r.Status != code {
			return fmt.Errorf("status %d, want %d: %.300s", r.Status, code, r.Body)
		}
		return nil
	}
}

// wantOAuthError wants an RFC 6749 §5.2 error response.
func wantOAuthError(r flowtest.Reply) error {
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return fmt.Errorf("Content-Type %q, want JSON", r.Header.Get("Content-Type"))
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Error == "" {
		return fmt.Errorf("body %.300s is not an RFC 6749 error (%v)", r.Body, err)
	}
	if e.Error != "server_error" && e.Error != "temporarily_unavailable" {
		return fmt.Errorf("error %q, want server_error or temporarily_unavailable", e.Error)
	}
	return nil
}

// wantEveError wants Eve's error envelope with the status as its code.
func wantEveError(r flowtest.Reply) error {
	var e struct {
		Status string `json:"_status"`
		Error  struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"_error"`
	}
	if err := json.Unmarshal(r.Body, &e); err != nil || e.Status != "ERR" || e.Error.Code != r.Status || e.Error.Message == "" {
		return fmt.Errorf("body %.300s is not Eve's error envelope for %d (%v)", r.Body, r.Status, err)
	}
	return nil
}

// wantHTMLPage wants the web app's own error page for people.
func wantHTMLPage(r flowtest.Reply) error {
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(r.Body), "<html") {
		return fmt.Errorf("Content-Type %q, want an HTML page: %.200s", r.Header.Get("Content-Type"), r.Body)
	}
	return nil
}

// wantReadyzRed wants {"status":"unavailable","error":…}.
func wantReadyzRed(r flowtest.Reply) error {
	var v struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal(r.Body, &v); err != nil || v.Status != "unavailable" || v.Error == "" {
		return fmt.Errorf("body %.200s, want {\"status\":\"unavailable\",\"error\":…}", r.Body)
	}
	return nil
}
