package telemetry_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
	"github.com/gatehouse-dev/gatehouse/internal/gatehouseproc"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// gatehouse builds the gatehouse binary once per test process.
var gatehouse gatehouseproc.Builder

// TestMain removes the binary gatehouse built.
func TestMain(m *testing.M) { os.Exit(gatehouse.Run(m)) }

const demoPassword = "telemetry-demo-pw-2291"

// withTraceparent sends every request as the child of one span of the
// browser's (a browser with tracing of its own, or a proxy that starts the
// trace): without it each page load would be a trace of its own.
type withTraceparent struct {
	base        http.RoundTripper
	traceparent string
}

func (t withTraceparent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("traceparent", t.traceparent)
	return t.base.RoundTrip(r)
}

// TestSignInIsOneTrace runs the real gatehouse binary, its three roles in
// one process, with OTEL_EXPORTER_OTLP_ENDPOINT set to an in-process OTLP
// receiver, signs in to the web app (login at the authorization server,
// callback, the first page with its API call) and checks that the spans of
// the sign-in are one trace across the three roles: server spans of authz,
// webapp and api, client spans for the calls between them, database spans,
// every parent present; and that the log lines of its requests carry the
// trace ID.
func TestSignInIsOneTrace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs gatehouse")
	}
	rc := newReceiver(t)
	bin := gatehouse.MustBin(t)
	root := t.TempDir()
	dataDir := filepath.Join(root, "data")
	logPath := filepath.Join(root, "server.log")
	var addrs [3]string
	for i := range addrs {
		a, err := gatehouseproc.FreeAddr()
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = a
	}
	authz, api, webapp := "https://"+addrs[0], "https://"+addrs[1], "https://"+addrs[2]
	files, _, err := tlsconf.EnsureLocal(filepath.Join(dataDir, "tls"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	hc, err := tlsconf.HTTPClient(30*time.Second, files.CACert)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	p, err := gatehouseproc.Start(gatehouseproc.Spec{
		Bin: bin,
		Args: []string{"serve", "--data-dir", dataDir, "--db", "sqlite:" + filepath.Join(dataDir, "gatehouse.db"),
			"--authz-addr", addrs[0], "--api-addr", addrs[1], "--webapp-addr", addrs[2], "--log-format", "json"},
		Env: []string{
			"GATEHOUSE_SECRET=" + base64.StdEncoding.EncodeToString(key),
			"GATEHOUSE_DEMO_PASSWORD=" + demoPassword,
			"OTEL_EXPORTER_OTLP_ENDPOINT=" + rc.srv.URL,
			"OTEL_SERVICE_NAME=gatehouse-e2e",
			"OTEL_TRACES_SAMPLER=parentbased_always_on",
			"OTEL_BSP_SCHEDULE_DELAY=200",
		},
		Log: logPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log, last lines:\n%s", gatehouseproc.Tail(logPath, 40))
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if err := gatehouseproc.WaitReady(ctx, hc, p, 20*time.Millisecond, authz+"/readyz", api+"/readyz", webapp+"/readyz"); err != nil {
		t.Fatal(err)
	}

	// The sign-in, as one browser trace.
	var traceID, rootSpan [16]byte
	_, _ = rand.Read(traceID[:])
	_, _ = rand.Read(rootSpan[:8])
	tid, rootID := hex.EncodeToString(traceID[:]), hex.EncodeToString(rootSpan[:8])
	traced := *hc
	traced.Transport = withTraceparent{hc.Transport, "00-" + tid + "-" + rootID + "-01"}
	b := flowtest.Browser(&traced)
	_, page, err := flowtest.Walk(ctx, flowtest.ClientDoer(b), http.MethodGet, webapp+"/login", nil, "",
		flowtest.Login{Username: "demo", Password: demoPassword})
	if err != nil {
		t.Fatal(err)
	}
	if page.Status != http.StatusOK || !strings.Contains(string(page.Body), `action="/logout"`) {
		t.Fatalf("sign-in ended with %d: %.300s", page.Status, page.Body)
	}

	// Stopping the process sends the spans still buffered.
	if _, _, err := p.Term(30 * time.Second); err != nil {
		t.Fatalf("stopping gatehouse: %v", err)
	}

	byID := map[string]span{}
	var inTrace []span
	for _, s := range rc.spans() {
		if hexID(s.GetTraceId()) != tid {
			continue
		}
		inTrace = append(inTrace, s)
		byID[hexID(s.GetSpanId())] = s
	}
	if len(inTrace) == 0 {
		t.Fatalf("no span of the sign-in's trace among %d received", len(rc.spans()))
	}
	roles := map[string]bool{}
	var clientCalls, dbSpans, served []string
	for _, s := range inTrace {
		if s.service != "gatehouse-e2e" {
			t.Errorf("span %q of service %q", s.GetName(), s.service)
		}
		parent := hexID(s.GetParentSpanId())
		if _, ok := byID[parent]; !ok && parent != rootID {
			t.Errorf("span %q has parent %s, which is not in the trace", s.GetName(), parent)
		}
		switch s.GetKind() {
		case tracepb.Span_SPAN_KIND_SERVER:
			role := attr(s.GetAttributes(), "role")
			roles[role] = true
			served = append(served, role+" "+s.GetName())
			if attr(s.GetAttributes(), "http.request.method") == "" || attr(s.GetAttributes(), "http.response.status_code") == "" {
				t.Errorf("server span %q lacks the HTTP attributes", s.GetName())
			}
			// A server span of a call between roles is a client span's child.
			if parent != rootID && byID[parent].GetKind() != tracepb.Span_SPAN_KIND_CLIENT {
				t.Errorf("server span %q (%s) has a parent %q that is no client span", s.GetName(), role, byID[parent].GetName())
			}
		case tracepb.Span_SPAN_KIND_CLIENT:
			if strings.HasPrefix(s.GetName(), "db ") {
				if attr(s.GetAttributes(), "db.system") != "sqlite" {
					t.Errorf("db span %q without db.system sqlite", s.GetName())
				}
				dbSpans = append(dbSpans, s.GetName())
				continue
			}
			clientCalls = append(clientCalls, s.GetName())
		}
	}
	for _, r := range []string{"authz", "webapp", "api"} {
		if !roles[r] {
			t.Errorf("no server span of role %s in the trace (roles: %v)", r, roles)
		}
	}
	for _, want := range []string{"POST /par", "POST /token", "GET /api/todos"} {
		if !containsPrefix(clientCalls, want) {
			t.Errorf("no client span %q among %v", want, clientCalls)
		}
	}
	if len(dbSpans) == 0 {
		t.Error("no database span in the trace")
	}
	// Each role's server spans name its routes, also where a role routes
	// behind handlers of its own (the web app's sessions, the API's
	// resources).
	for _, want := range []string{"webapp GET /callback", "api GET /api/todos", "authz POST /token"} {
		if !slices.Contains(served, want) {
			t.Errorf("no server span %q among %v", want, served)
		}
	}
	t.Logf("trace %s: %d spans; served %v; client calls %v; %d db spans", tid, len(inTrace), served, clientCalls, len(dbSpans))

	// The log lines of the sign-in's requests carry its trace ID: an access
	// log line of every role.
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	logged := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		if line["msg"] == "http request" && line["trace_id"] == tid {
			if sid, _ := line["span_id"].(string); byID[sid].Span == nil {
				t.Errorf("access log line with span_id %q, no span of the trace", sid)
			}
			role, _ := line["role"].(string)
			logged[role] = true
		}
	}
	for _, r := range []string{"authz", "webapp", "api"} {
		if !logged[r] {
			t.Errorf("no access log line of role %s with the trace ID", r)
		}
	}
}

func containsPrefix(names []string, prefix string) bool {
	for _, n := range names {
		if strings.HasPrefix(n, prefix) {
			return true
		}
	}
	return false
}
