package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// TestRRProxyTLSFront checks that the proxy's front speaks TLS with the
// local certificate, over HTTP/1.1 and HTTP/2, to a plain backend.
func TestRRProxyTLSFront(t *testing.T) {
	files, _, err := tlsconf.EnsureLocal(filepath.Join(t.TempDir(), "tls"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := tlsconf.ClientConfig(files.CACert)
	if err != nil {
		t.Fatal(err)
	}
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	defer backend.Close()
	fr, p, err := behindProxy(backend.URL, files, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	defer fr.close()
	if !strings.HasPrefix(fr.url, "https://") {
		t.Fatalf("front %s is not TLS", fr.url)
	}
	for _, kind := range []string{TransportH1, TransportH2} {
		c := clients{kind: kind, tls: cfg}.new()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, fr.url+"/", nil)
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		res.Body.Close()
		want := map[string]int{TransportH1: 1, TransportH2: 2}[kind]
		if res.StatusCode != http.StatusOK || res.ProtoMajor != want {
			t.Errorf("%s: %d over %s", kind, res.StatusCode, res.Proto)
		}
	}
}

func TestConfigInstances(t *testing.T) {
	const pg = "postgres://postgres@127.0.0.1:5432/x?sslmode=disable"
	tests := []struct {
		name      string
		instances int
		proxy     bool
		db        string
		err       string // empty: valid
		wantN     int
		wantProxy bool
	}{
		{"default", 0, false, "", "", 1, false},
		{"one, direct, SQLite", 1, false, "", "", 1, false},
		{"one behind the proxy on SQLite", 1, true, "", "", 1, true},
		{"three on PostgreSQL", 3, false, pg, "", 3, true},
		{"three on MySQL", 3, false, "mysql://root@127.0.0.1:3306/x", "", 3, true},
		{"three on SQLite by default", 3, false, "", "need a shared PostgreSQL or MySQL database", 0, false},
		{"three on an SQLite file", 3, true, "sqlite:/tmp/x.db", "not SQLite", 0, false},
		{"negative", -1, false, pg, "want 1 to", 0, false},
		{"too many", maxInstances + 1, false, pg, "want 1 to", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{Duration: time.Second, Conns: 2, Transport: TransportH1, ListOwn: 100, ListTotal: 200,
				Instances: tt.instances, Proxy: tt.proxy, DB: tt.db}
			err := c.Validate()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("got %v, want one line with %q", err, tt.err)
				}
				return
			}
			if err != nil || c.Instances != tt.wantN || c.Proxy != tt.wantProxy {
				t.Fatalf("got %v, %d instances, proxy %v; want %d, %v", err, c.Instances, c.Proxy, tt.wantN, tt.wantProxy)
			}
		})
	}
}

func TestReportInstances(t *testing.T) {
	r := &Report{Date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Machine: "2 CPUs", Transport: TransportH1,
		Database: "PostgreSQL", Conns: 64, Duration: 10 * time.Second, Instances: 3, Proxied: true,
		Rows:           []Row{{Scenario: "api-get", Gatehouse: Stats{RPS: 100, PeakRSS: 90 << 20}}},
		StartupToReady: time.Second, IdleRSS: 60 << 20}
	var b strings.Builder
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"PostgreSQL, 3 gatehouse instances behind a round-robin reverse proxy per role in the load tool (TLS ends at the proxy,",
		"| scenario, 3 instances behind the proxy | req/s |",
		"| server RSS (sum of 3) |",
		"| api-get | 100 |",
		"(the slowest of 3 started together)",
		"idle RSS after start: 60.0 MB (sum of 3 instances)",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, b.String())
		}
	}
	r.Instances = 1
	b.Reset()
	_ = r.WriteMarkdown(&b)
	if !strings.Contains(b.String(), "| scenario, 1 instance behind the proxy | req/s |") || strings.Contains(b.String(), "sum of") {
		t.Errorf("one instance behind the proxy:\n%s", b.String())
	}
}

func TestRSSSum(t *testing.T) {
	pid := os.Getpid()
	one, err := rssSum([]int{pid})
	if err != nil || one <= 0 {
		t.Fatalf("%d, %v", one, err)
	}
	two, err := rssSum([]int{pid, pid})
	if err != nil || two < one*3/2 {
		t.Fatalf("sum of twice this process %d, once %d (%v)", two, one, err)
	}
	if peak := startRSSSampler([]int{pid, pid})(); peak < one*3/2 {
		t.Fatalf("sampled peak %d, once %d", peak, one)
	}
	if _, err := rssSum([]int{pid, 1 << 30}); err == nil {
		t.Fatal("no error for a process that does not exist")
	}
}

// TestRunInstances runs a few scenarios against two instances on one
// fresh PostgreSQL database behind the proxies: every scenario succeeds,
// with sign-in state, codes and refresh tokens moving between instances,
// and both instances serve.
func TestRunInstances(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs two real servers")
	}
	dsn := storagetest.Postgres(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	scenarios := []string{ScenarioClientCredentials, ScenarioRefresh, ScenarioIntrospection, ScenarioAPIGet, ScenarioAPIPost}
	rep, err := Run(ctx, Config{Duration: time.Second, Conns: 4, MaxRequests: 500, Transport: TransportH1,
		DB: dsn, Instances: 2, Scenarios: scenarios, ListOwn: 200, ListTotal: 400, Self: self,
		ServerLogLevel: "warn", Progress: testWriter{t}})
	if err != nil {
		t.Fatal(err)
	}
	var md strings.Builder
	_ = rep.WriteMarkdown(&md)
	t.Log("\n" + md.String())
	if !rep.Proxied || rep.Instances != 2 || len(rep.Rows) != len(scenarios) || rep.IdleRSS <= 0 {
		t.Fatalf("incomplete report: %+v", rep)
	}
	for _, r := range rep.Rows {
		if r.Gatehouse.Requests == 0 || r.Gatehouse.Errors > 0 {
			t.Errorf("%s: %d requests, %d errors, first: %s", r.Scenario, r.Gatehouse.Requests, r.Gatehouse.Errors, r.Gatehouse.FirstError)
		}
		if r.Bare == nil || r.Bare.Requests == 0 || r.Bare.Errors > 0 {
			t.Errorf("%s: bare server behind the proxy: %+v", r.Scenario, r.Bare)
		}
	}
	for _, role := range []string{"authz", "api"} {
		if cs := rep.PerInstance[role]; len(cs) != 2 || cs[0] == 0 || cs[1] == 0 {
			t.Errorf("%s proxy: requests per instance %v, want both served", role, cs)
		}
	}
}
