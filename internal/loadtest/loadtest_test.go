package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/flowtest"
)

// TestMain lets the test binary serve as the bare server's child process,
// as the tool's own executable does.
func TestMain(m *testing.M) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	if ran, err := RunBareChild(ctx); ran {
		stop()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	stop()
	os.Exit(m.Run())
}

const jwt = "aaa.bbb.ccc"

func TestCheckers(t *testing.T) {
	tests := []struct {
		name   string
		check  func(int, []byte) error
		status int
		body   string
		ok     bool
	}{
		{"token", tokenCheck(false, false), 200, `{"access_token":"` + jwt + `","token_type":"Bearer","expires_in":300}`, true},
		{"token lower-case bearer", tokenCheck(false, false), 200, `{"access_token":"` + jwt + `","token_type":"bearer","expires_in":300}`, true},
		{"token error status", tokenCheck(false, false), 401, `{"error":"invalid_client"}`, false},
		{"token not a JWT", tokenCheck(false, false), 200, `{"access_token":"opaque","token_type":"Bearer","expires_in":300}`, false},
		{"token without lifetime", tokenCheck(false, false), 200, `{"access_token":"` + jwt + `","token_type":"Bearer"}`, false},
		{"token wants refresh", tokenCheck(true, false), 200, `{"access_token":"` + jwt + `","token_type":"Bearer","expires_in":300}`, false},
		{"token wants ID token", tokenCheck(true, true), 200, `{"access_token":"` + jwt + `","token_type":"Bearer","expires_in":300,"refresh_token":"r","id_token":"x"}`, false},
		{"token full", tokenCheck(true, true), 200, `{"access_token":"` + jwt + `","token_type":"Bearer","expires_in":300,"refresh_token":"r","id_token":"` + jwt + `"}`, true},
		{"token not JSON", tokenCheck(false, false), 200, `<html>`, false},
		{"introspection active", checkIntrospection, 200, `{"active":true,"sub":"c"}`, true},
		{"introspection inactive", checkIntrospection, 200, `{"active":false}`, false},
		{"jwks", checkJWKS, 200, `{"keys":[{"kty":"EC","kid":"1"}]}`, true},
		{"jwks empty", checkJWKS, 200, `{"keys":[]}`, false},
		{"jwks key without kid", checkJWKS, 200, `{"keys":[{"kty":"EC"}]}`, false},
		{"item", func(s int, b []byte) error { return checkItem(s, b, "id1") }, 200, `{"_id":"id1","_etag":"e"}`, true},
		{"item other id", func(s int, b []byte) error { return checkItem(s, b, "id1") }, 200, `{"_id":"id2","_etag":"e"}`, false},
		{"item 404", func(s int, b []byte) error { return checkItem(s, b, "id1") }, 404, `{"_status":"ERR"}`, false},
		{"list", func(s int, b []byte) error { return checkList(s, b, 2) }, 200, `{"_items":[{"_id":"a"},{"_id":"b"}],"_meta":{"total":9}}`, true},
		{"list short page", func(s int, b []byte) error { return checkList(s, b, 2) }, 200, `{"_items":[{"_id":"a"}],"_meta":{"total":1}}`, false},
		{"list item without id", func(s int, b []byte) error { return checkList(s, b, 1) }, 200, `{"_items":[{}],"_meta":{"total":1}}`, false},
		{"created", checkCreated, 201, `{"_status":"OK","_id":"x"}`, true},
		{"created with 200", checkCreated, 200, `{"_status":"OK","_id":"x"}`, false},
		{"created ERR", checkCreated, 201, `{"_status":"ERR"}`, false},
		{"bare", func(s int, b []byte) error { return checkBare(s, b, 3) }, 200, `xxx`, true},
		{"bare short", func(s int, b []byte) error { return checkBare(s, b, 3) }, 200, `xx`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check(tt.status, []byte(tt.body))
			if (err == nil) != tt.ok {
				t.Fatalf("got %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func tokenCheck(refresh, id bool) func(int, []byte) error {
	return func(s int, b []byte) error { _, err := checkToken(s, b, refresh, id); return err }
}

func TestWantStatusExcerpt(t *testing.T) {
	err := wantStatus(429, 303, []byte("<!doctype html>\n<html>\n  "+strings.Repeat("y", 300)))
	if err == nil || strings.Contains(err.Error(), "\n") || len(err.Error()) > 200 {
		t.Fatalf("got %q, want one short line", err)
	}
}

func TestPercentile(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 1000; i++ {
		lat = append(lat, time.Duration(1001-i)*time.Millisecond) // reversed: summarize sorts
	}
	s := summarize(lat, 3, 2*time.Second)
	if s.P50 != 500*time.Millisecond || s.P99 != 990*time.Millisecond || s.P999 != 999*time.Millisecond {
		t.Fatalf("p50 %s p99 %s p99.9 %s", s.P50, s.P99, s.P999)
	}
	if s.Requests != 1000 || s.Errors != 3 || s.RPS != 500 {
		t.Fatalf("got %+v", s)
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Fatalf("empty: %s", got)
	}
	if got := percentile([]time.Duration{7}, 0.999); got != 7 {
		t.Fatalf("one: %s", got)
	}
}

func TestReportFormats(t *testing.T) {
	bare := Stats{RPS: 40000, P50: 300 * time.Microsecond, PeakRSS: 20 << 20}
	r := &Report{
		Date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Machine: "2 CPUs", Transport: TransportH1, Database: "SQLite",
		Conns: 64, Duration: 10 * time.Second,
		Rows: []Row{
			{Scenario: "client-credentials", Gatehouse: Stats{RPS: 10000, P50: 2 * time.Millisecond, P99: 15 * time.Millisecond,
				P999: 1500 * time.Millisecond, Errors: 2, PeakRSS: 40 << 20, FirstError: "status 500"}, Bare: &bare, Ratio: 0.25},
			{Scenario: "sign-in", Note: "argon2id", Gatehouse: Stats{RPS: 9.5, P50: 700 * time.Microsecond}},
		},
		StartupToReady: 120 * time.Millisecond, IdleRSS: 30 << 20,
		History: &History{ExpiredTokens: 1000, EmptyP50: 2 * time.Millisecond, FullP50: 2100 * time.Microsecond},
	}
	var md bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"2026-01-02 03:04 UTC, 2 CPUs, TLS, HTTP/1.1 keep-alive, 64 connections, 10s per scenario, SQLite",
		"| client-credentials | 10000 | 2.00 ms | 15.0 ms | 1.50 s | 2 | 40.0 MB | 40000 | 300 µs | 20.0 MB | 25.0% |",
		"| sign-in (argon2id) | 9.50 | 700 µs | – | – | 0 | – | – | – | – | – |",
		"start-up to ready on an existing data directory: 120.0 ms",
		"idle RSS after start: 30.0 MB",
		"2.00 ms on an empty store, 2.10 ms with 1000 expired tokens (+5.0%)",
		"client-credentials: first error: status 500",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Rows) != 2 || back.Rows[0].Bare.RPS != 40000 || back.Rows[0].Ratio != 0.25 || back.History.ExpiredTokens != 1000 {
		t.Fatalf("JSON round trip: %+v", back)
	}
}

func TestReportOpenLoop(t *testing.T) {
	g := Stats{RPS: 1990, P50: 2 * time.Millisecond, P99: 40 * time.Millisecond, P999: 90 * time.Millisecond,
		TargetRPS: 2000, Scheduled: 10000, Late: 12, Unanswered: 3}
	bare := Stats{RPS: 2000, P50: 300 * time.Microsecond, TargetRPS: 2000, Scheduled: 10000, Late: 1}
	r := &Report{Date: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Machine: "2 CPUs", Transport: TransportH1,
		Database: "SQLite", Conns: 16, Rate: 2000, Duration: 5 * time.Second,
		Rows: []Row{{Scenario: "client-credentials", Gatehouse: g, Bare: &bare, Ratio: 0.995}}}
	var md bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"TLS, HTTP/1.1 keep-alive, 16 connections open loop at 2000 req/s (the bare server too; latency from each request's intended start",
		"| scenario | req/s | p50 | p99 | p99.9 | errors | late | unanswered | server RSS |",
		"|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
		"| client-credentials | 1990 | 2.00 ms | 40.0 ms | 90.0 ms | 0 | 12 | 3 | – | 2000 | 300 µs | – | 99.5% |",
		"client-credentials (bare): 1 started late, 0 unanswered",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Rate != 2000 || back.Rows[0].Gatehouse.Late != 12 || back.Rows[0].Gatehouse.Unanswered != 3 || back.Rows[0].Gatehouse.TargetRPS != 2000 {
		t.Fatalf("JSON round trip: %+v", back)
	}
	if openLoopSummary(g) == "" || openLoopSummary(Stats{RPS: 5}) != "" {
		t.Errorf("progress summary: %q", openLoopSummary(g))
	}
}

func TestBareHandler(t *testing.T) {
	srv := httptest.NewServer(bareHandler())
	defer srv.Close()
	tests := []struct {
		query  string
		status int
		size   int
	}{{"n=0", 200, 0}, {"n=512", 200, 512}, {"n=-1", 400, -1}, {"n=x", 400, -1}, {"n=99999999", 400, -1}}
	for _, tt := range tests {
		r, err := flowtest.Send(context.Background(), srv.Client(), http.MethodPost, srv.URL+"/?"+tt.query, nil, []byte("body"))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != tt.status || (tt.size >= 0 && len(r.Body) != tt.size) {
			t.Errorf("%s: %d with %d bytes", tt.query, r.Status, len(r.Body))
		}
	}
}

func TestDriveBounds(t *testing.T) {
	ch := make(chan struct{}, 1000)
	s, err := drive(context.Background(), load{conns: 4, duration: 5 * time.Second, maxRequests: 50}, func(int) (op, error) {
		return func(context.Context) error {
			ch <- struct{}{}
			return nil
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := len(ch)
	// 4 untimed warm-up ops, then exactly maxRequests.
	if s.Requests != 50 || calls != 54 || s.Elapsed >= 5*time.Second {
		t.Fatalf("requests %d, calls %d, elapsed %s", s.Requests, calls, s.Elapsed)
	}
	s, err = drive(context.Background(), load{conns: 2, duration: 200 * time.Millisecond}, func(int) (op, error) {
		n := 0 // each connection's op has its own state
		return func(ctx context.Context) error {
			n++
			if n%2 == 0 {
				return fmt.Errorf("odd answer")
			}
			<-time.After(time.Millisecond)
			return nil
		}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Errors == 0 || s.FirstError != "odd answer" || s.Elapsed < 200*time.Millisecond || s.Elapsed > 2*time.Second {
		t.Fatalf("got %+v", s)
	}
}

func TestSchedule(t *testing.T) {
	begin := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		rate        float64
		d           time.Duration
		maxRequests int
		n           int64
		due3        time.Duration // op 3's time after the start
	}{
		{100, time.Second, 0, 100, 30 * time.Millisecond},
		{3, time.Second, 0, 3, time.Second}, // 0, 1/3 and 2/3 s fall within the second
		{0.5, 10 * time.Second, 0, 5, 6 * time.Second},
		{1000, time.Second, 50, 50, 3 * time.Millisecond},
	}
	for _, tt := range tests {
		s := newSchedule(begin, tt.rate, tt.d, tt.maxRequests)
		if s.n != tt.n || s.due(3).Sub(begin) != tt.due3 {
			t.Errorf("rate %v over %s: %d ops, op 3 at %s; want %d, %s", tt.rate, tt.d, s.n, s.due(3).Sub(begin), tt.n, tt.due3)
		}
	}
}

// sleepyServer answers every request after sleeping d, as a server
// slower than the offered rate.
func sleepyServer(t *testing.T, d time.Duration) func(int) (op, error) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(d)
	}))
	t.Cleanup(srv.Close)
	return func(int) (op, error) {
		c := clients{kind: TransportPlain}.new()
		return func(ctx context.Context) error {
			r, err := flowtest.Send(ctx, c, http.MethodGet, srv.URL, nil, nil)
			if err == nil && r.Status != http.StatusOK {
				err = fmt.Errorf("status %d", r.Status)
			}
			return err
		}, nil
	}
}

// TestOpenLoopCountsTheQueue drives one connection to a server that takes
// 20 ms per answer (50/s at most) at 100 requests/s. The closed loop sees
// 20 ms per request and hides the queue; the open loop times each request
// from when it was due, so its latencies grow with the queue, and what the
// server could not answer in the run is reported, not dropped.
func TestOpenLoopCountsTheQueue(t *testing.T) {
	const sleep = 20 * time.Millisecond
	newOp := sleepyServer(t, sleep)
	closed, err := drive(context.Background(), load{conns: 1, duration: time.Second}, newOp)
	if err != nil {
		t.Fatal(err)
	}
	open, err := drive(context.Background(), load{conns: 1, duration: time.Second, rate: 100}, newOp)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("closed: %d answers, p50 %s, p99 %s; open: %d answers, p50 %s, p99 %s, %d due, %d late, %d unanswered",
		closed.Requests, closed.P50, closed.P99, open.Requests, open.P50, open.P99, open.Scheduled, open.Late, open.Unanswered)
	if closed.Errors > 0 || open.Errors > 0 {
		t.Fatalf("errors: closed %q, open %q", closed.FirstError, open.FirstError)
	}
	if closed.Requests == 0 || closed.P50 < sleep || closed.P50 > 2*sleep {
		t.Errorf("closed loop: %d answers, p50 %s; want about %s", closed.Requests, closed.P50, sleep)
	}
	if open.P99 < 3*sleep || open.P99 < 2*closed.P99 {
		t.Errorf("open loop p99 %s: want above 3 × %s and twice the closed loop's %s", open.P99, sleep, closed.P99)
	}
	if open.Scheduled != 100 || open.TargetRPS != 100 || open.Late == 0 ||
		open.Unanswered < 20 || open.Requests+open.Errors+open.Unanswered != open.Scheduled {
		t.Errorf("open loop: %d due, %d answered, %d late, %d unanswered; want 100 due and about half unanswered",
			open.Scheduled, open.Requests, open.Late, open.Unanswered)
	}
	if closed.TargetRPS != 0 || closed.Scheduled != 0 || closed.Unanswered != 0 {
		t.Errorf("closed loop with open-loop figures: %+v", closed)
	}
}

// TestOpenLoopKeepsTheRate drives ops far faster than the rate: the rate
// achieved is the target, not what the ops could do.
func TestOpenLoopKeepsTheRate(t *testing.T) {
	quick := func(int) (op, error) {
		return func(context.Context) error { time.Sleep(time.Millisecond); return nil }, nil
	}
	s, err := drive(context.Background(), load{conns: 4, duration: time.Second, rate: 200}, quick)
	if err != nil {
		t.Fatal(err)
	}
	if s.RPS < 160 || s.RPS > 240 || s.Scheduled != 200 || s.Errors > 0 || s.Unanswered > 4 {
		t.Errorf("target 200/s: achieved %.1f/s, %d due, %d answered, %d unanswered", s.RPS, s.Scheduled, s.Requests, s.Unanswered)
	}
	// maxRequests bounds the schedule, which then ends early.
	s, err = drive(context.Background(), load{conns: 2, duration: 5 * time.Second, rate: 1000, maxRequests: 50}, quick)
	if err != nil {
		t.Fatal(err)
	}
	if s.Scheduled != 50 || s.Requests != 50 || s.Unanswered != 0 || s.Elapsed > 2*time.Second {
		t.Errorf("50 at most: %d due, %d answered in %s", s.Scheduled, s.Requests, s.Elapsed)
	}
}

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{Duration: time.Second, Conns: 2, Transport: TransportH1, ListOwn: 100, ListTotal: 200}
	}
	c := good()
	if err := c.Validate(); err != nil || len(c.Scenarios) != len(Scenarios) || c.HistoryDuration != time.Second || c.ListSort != "due" {
		t.Fatalf("got %v, %+v", err, c)
	}
	c = good()
	c.ListSort = "-_updated,due"
	if err := c.Validate(); err != nil || c.ListSort != "-_updated,due" {
		t.Fatalf("list sort -_updated,due: got %v, %q", err, c.ListSort)
	}
	for name, mutate := range map[string]func(*Config){
		"no duration":       func(c *Config) { c.Duration = 0 },
		"no connections":    func(c *Config) { c.Conns = 0 },
		"bad transport":     func(c *Config) { c.Transport = "h3" },
		"unknown scenario":  func(c *Config) { c.Scenarios = []string{"nope"} },
		"too few documents": func(c *Config) { c.ListOwn = 10 },
		"total below own":   func(c *Config) { c.ListTotal = 50 },
		"negative tokens":   func(c *Config) { c.ExpiredTokens = -1 },
		"list sort syntax":  func(c *Config) { c.ListSort = "due desc" },
		"list sort empty":   func(c *Config) { c.ListSort = "-" },
		"profile of many":   func(c *Config) { c.ProfileDir, c.DB, c.Instances = t.TempDir(), "postgres://x/y", 2 },
		"negative rate":     func(c *Config) { c.Rate = -1 },
		"rate too high":     func(c *Config) { c.Rate = maxRate + 1 },
		"rate not a number": func(c *Config) { c.Rate = math.NaN() },
	} {
		c := good()
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestListQuery(t *testing.T) {
	for _, sort := range []string{"due", "-_updated"} {
		v, err := url.ParseQuery(listQuery(sort, 3))
		if err != nil {
			t.Fatal(err)
		}
		want := url.Values{"where": {`{"done":false}`}, "sort": {sort}, "max_results": {"25"}, "page": {"3"}}
		if !reflect.DeepEqual(v, want) {
			t.Errorf("listQuery(%q, 3) = %v, want %v", sort, v, want)
		}
	}
}

// TestRunEndToEnd runs every scenario for a second against a real server
// built from this module, with a few documents and expired tokens.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a real server for about a minute")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	for _, transport := range []string{TransportH1, TransportPlain} {
		t.Run(transport, func(t *testing.T) {
			scenarios := Scenarios
			var profiles string
			if transport == TransportPlain {
				scenarios = []string{ScenarioClientCredentials, ScenarioAPIGet, ScenarioSignIn}
				profiles = t.TempDir() // and a CPU profile of the server per scenario
			}
			rep, err := Run(ctx, Config{Duration: time.Second, Conns: 4, MaxRequests: 2000, Transport: transport,
				Scenarios: scenarios, ListOwn: 200, ListTotal: 1000, ExpiredTokens: 1000, Self: self,
				ServerLogLevel: "warn", Progress: testWriter{t}, ProfileDir: profiles})
			if err != nil {
				t.Fatal(err)
			}
			for _, sc := range scenarios {
				if profiles == "" {
					break
				}
				// A gzipped protocol buffer, as go tool pprof reads.
				if b, err := os.ReadFile(filepath.Join(profiles, sc+".pprof")); err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
					t.Errorf("%s: no CPU profile (%d bytes, %v)", sc, len(b), err)
				}
			}
			var md bytes.Buffer
			_ = rep.WriteMarkdown(&md)
			t.Log("\n" + md.String())
			if len(rep.Rows) != len(scenarios) || rep.StartupToReady <= 0 || rep.IdleRSS <= 0 || rep.History == nil {
				t.Fatalf("incomplete report: %+v", rep)
			}
			for _, r := range rep.Rows {
				if r.Gatehouse.Requests == 0 {
					t.Errorf("%s: no successful request (%s)", r.Scenario, r.Gatehouse.FirstError)
				}
				if r.Scenario != ScenarioSignIn && r.Gatehouse.Errors > 0 {
					t.Errorf("%s: %d errors, first: %s", r.Scenario, r.Gatehouse.Errors, r.Gatehouse.FirstError)
				}
				if r.Scenario != ScenarioSignIn && (r.Bare == nil || r.Bare.Requests == 0 || r.Bare.Errors > 0) {
					t.Errorf("%s: bare server figures missing or with errors: %+v", r.Scenario, r.Bare)
				}
			}
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
