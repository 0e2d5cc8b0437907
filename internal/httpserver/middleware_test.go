package httpserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
)

func TestRequestID(t *testing.T) {
	generated := regexp.MustCompile(`^[A-Z2-7]{26}$`)
	tests := []struct {
		name     string
		incoming []string
		keep     bool
	}{
		{"none", nil, false},
		{"sane", []string{"abc-123_X.y"}, true},
		{"max length", []string{strings.Repeat("a", 64)}, true},
		{"too long", []string{strings.Repeat("a", 65)}, false},
		{"empty", []string{""}, false},
		{"space", []string{"a b"}, false},
		{"header injection", []string{"abc\r\nSet-Cookie: x=y"}, false},
		{"log injection", []string{`abc","level":"ERROR`}, false},
		{"non-ascii", []string{"ábc"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			h := httpserver.RequestID(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				seen = httpserver.RequestIDFrom(r.Context())
			}))
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, v := range tt.incoming {
				req.Header.Add("X-Request-ID", v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)

			got := rec.Header().Get("X-Request-ID")
			if got != seen {
				t.Errorf("response header %q != context value %q", got, seen)
			}
			if tt.keep {
				if got != tt.incoming[0] {
					t.Errorf("id = %q, want incoming %q kept", got, tt.incoming[0])
				}
			} else if !generated.MatchString(got) {
				t.Errorf("id = %q, want a generated one", got)
			}
		})
	}

	if id := httpserver.RequestIDFrom(context.Background()); id != "" {
		t.Errorf("RequestIDFrom(empty context) = %q", id)
	}
	// Two requests without an ID get different ones.
	ids := map[string]bool{}
	for range 2 {
		rec := httptest.NewRecorder()
		httpserver.RequestID(http.HandlerFunc(ok)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		ids[rec.Header().Get("X-Request-ID")] = true
	}
	if len(ids) != 2 {
		t.Error("generated request IDs repeat")
	}
}

func TestAccessLogNeverLogsQuery(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := http.NewServeMux()
	mux.HandleFunc("GET /callback", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, "12345")
	})
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadGateway)
	})
	h := httpserver.RequestID(httpserver.AccessLog(logger, nil, mux))

	req := httptest.NewRequest(http.MethodGet, "/callback?code=SECRETCODE&state=s3cr3tstate#frag", nil)
	req.Header.Set("X-Request-ID", "req-1")
	req.RemoteAddr = "192.0.2.7:4321"
	h.ServeHTTP(httptest.NewRecorder(), req)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/boom?access_token=SECRETTOKEN", nil))

	out := buf.String()
	for _, secret := range []string{"SECRETCODE", "s3cr3tstate", "SECRETTOKEN", "code=", "?"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2:\n%s", len(lines), out)
	}
	var first, second map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &second); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"level": "INFO", "method": "GET", "path": "/callback", "route": "GET /callback",
		"status": float64(418), "bytes": float64(5), "request_id": "req-1", "remote": "192.0.2.7:4321",
		"client": "192.0.2.7",
	}
	for k, v := range want {
		if first[k] != v {
			t.Errorf("%s = %v, want %v", k, first[k], v)
		}
	}
	if _, ok := first["duration"]; !ok {
		t.Error("no duration logged")
	}
	if second["level"] != "ERROR" || second["status"] != float64(502) {
		t.Errorf("5xx line = %v, want level ERROR status 502", second)
	}
}

func TestMetricsByRouteAndStatus(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := httpserver.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("id") == "missing" {
			http.NotFound(w, r)
			return
		}
		_, _ = io.WriteString(w, "thing")
	})
	// RequestID and LimitBody hand a copy of the request down; the matched
	// pattern must still reach Metrics.
	h := m.Wrap("api", httpserver.RequestID(httpserver.LimitBody(1024, mux)))

	for _, target := range []struct{ method, path string }{
		{"GET", "/things/1"}, {"GET", "/things/2"}, {"GET", "/things/missing"},
		{"GET", "/nope/1"}, {"GET", "/nope/2"}, {"POST", "/things/1"}, {"BREW", "/things/1"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(target.method, target.path, strings.NewReader("x")))
	}

	want := `
# HELP gatehouse_http_requests_total HTTP requests served, by role, route pattern, method and status code.
# TYPE gatehouse_http_requests_total counter
gatehouse_http_requests_total{code="200",method="GET",role="api",route="GET /things/{id}"} 2
gatehouse_http_requests_total{code="404",method="GET",role="api",route="GET /things/{id}"} 1
gatehouse_http_requests_total{code="404",method="GET",role="api",route="unmatched"} 2
gatehouse_http_requests_total{code="405",method="OTHER",role="api",route="unmatched"} 1
gatehouse_http_requests_total{code="405",method="POST",role="api",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gatehouse_http_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(reg, "gatehouse_http_request_duration_seconds"); n != 5 {
		t.Errorf("duration series = %d, want 5", n)
	}

	// Registering twice on one registry is an error, not a panic.
	if _, err := httpserver.NewMetrics(reg); err == nil {
		t.Error("second NewMetrics on the same registry succeeded")
	}

	// /metrics serves the registry.
	rec := httptest.NewRecorder()
	httpserver.MetricsHandler(reg).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `gatehouse_http_requests_total{code="200"`) {
		t.Errorf("/metrics = %d\n%s", rec.Code, rec.Body)
	}
}

func TestHealth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		ready      func(context.Context) error
		wantStatus int
		wantError  string
		maxTime    time.Duration
	}{
		{"ready", func(context.Context) error { return nil }, 200, "", time.Second},
		{"nil ready func", nil, 200, "", time.Second},
		{"reason shown, cause hidden", func(context.Context) error {
			return httpserver.NotReady("database unreachable", errors.New("dial tcp 10.0.0.5:5432: password=hunter2"))
		}, 503, "database unreachable", time.Second},
		{"plain error hidden", func(context.Context) error {
			return errors.New("dial tcp 10.0.0.5:5432: password=hunter2")
		}, 503, "not ready", time.Second},
		{"blocks honouring ctx", func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		}, 503, "readiness check timed out", 3 * time.Second},
		{"blocks ignoring ctx", func(context.Context) error {
			time.Sleep(time.Minute)
			return nil
		}, 503, "readiness check timed out", 3 * time.Second},
		{"panics", func(context.Context) error { panic("oops") }, 503, "not ready", time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mux := http.NewServeMux()
			httpserver.Health(mux, tt.ready)

			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
			if rec.Code != 200 || rec.Body.String() != "ok\n" {
				t.Errorf("/healthz = %d %q", rec.Code, rec.Body)
			}

			start := time.Now()
			rec = httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			took := time.Since(start)
			if took > tt.maxTime {
				t.Errorf("/readyz took %s, want under %s", took, tt.maxTime)
			}
			if rec.Code != tt.wantStatus {
				t.Errorf("/readyz status = %d, want %d", rec.Code, tt.wantStatus)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			if strings.Contains(rec.Body.String(), "hunter2") || strings.Contains(rec.Body.String(), "10.0.0.5") {
				t.Errorf("internal error leaked: %s", rec.Body)
			}
			var body map[string]string
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", rec.Body, err)
			}
			if tt.wantStatus == 200 {
				if body["status"] != "ok" {
					t.Errorf("body = %v", body)
				}
				return
			}
			if body["status"] != "unavailable" || body["error"] != tt.wantError {
				t.Errorf("body = %v, want unavailable / %q", body, tt.wantError)
			}
			if ra := rec.Header().Get("Retry-After"); ra == "" {
				t.Error("no Retry-After on 503")
			}
		})
	}
}

func TestLimitBody(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr bool
	}{
		{"under", "123456789", false},
		{"at limit", "1234567890", false},
		{"over", "12345678901", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var readErr error
			var got []byte
			h := httpserver.LimitBody(10, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				got, readErr = io.ReadAll(r.Body)
			}))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body)))
			var mbe *http.MaxBytesError
			if tt.wantErr {
				if !errors.As(readErr, &mbe) || mbe.Limit != 10 {
					t.Errorf("read error = %v, want *http.MaxBytesError with limit 10", readErr)
				}
				return
			}
			if readErr != nil || string(got) != tt.body {
				t.Errorf("read %q, %v", got, readErr)
			}
		})
	}
}

func TestRecover(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))

	t.Run("panic becomes 500", func(t *testing.T) {
		buf.Reset()
		h := httpserver.RequestID(httpserver.Recover(logger, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", "999")
			panic("boom")
		})))
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header.Set("X-Request-ID", "rid-9")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusInternalServerError {
			t.Errorf("status = %d, want 500", rec.Code)
		}
		if rec.Header().Get("Content-Length") == "999" {
			t.Error("handler's Content-Length kept")
		}
		if rec.Header().Get("X-Request-ID") != "rid-9" {
			t.Error("request ID header lost")
		}
		log := buf.String()
		for _, want := range []string{`"level":"ERROR"`, `"panic":"boom"`, `"request_id":"rid-9"`, `"stack":`} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %s: %s", want, log)
			}
		}
	})

	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"ErrAbortHandler passes through", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }},
		{"panic after writing aborts", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "partial")
			panic("late boom")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if v := recover(); v != http.ErrAbortHandler {
					t.Errorf("recovered %v, want http.ErrAbortHandler", v)
				}
			}()
			httpserver.Recover(logger, tt.handler).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
			t.Error("no panic reached the server")
		})
	}
}

func TestRecoverOverTheNetwork(t *testing.T) {
	srv := httptest.NewServer(httpserver.Recover(slog.New(slog.DiscardHandler), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	})))
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", resp.StatusCode)
	}
}

func TestSecurityHeaders(t *testing.T) {
	tests := []struct {
		name     string
		host     string
		tls      bool
		wantHSTS bool
	}{
		{"plain http", "gatehouse.example", false, false},
		{"tls", "gatehouse.example", true, true},
		{"tls with port", "gatehouse.example:8443", true, true},
		{"tls localhost", "localhost:5000", true, false},
		{"tls loopback ip", "127.0.0.1:5000", true, false},
		{"tls ipv6", "[::1]:5000", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Host = tt.host
			if tt.tls {
				req.TLS = &tls.ConnectionState{}
			}
			rec := httptest.NewRecorder()
			httpserver.SecurityHeaders(http.HandlerFunc(ok)).ServeHTTP(rec, req)
			want := map[string]string{
				"Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
				"X-Frame-Options":         "DENY",
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
			}
			for k, v := range want {
				if got := rec.Header().Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			hsts := rec.Header().Get("Strict-Transport-Security")
			if (hsts != "") != tt.wantHSTS {
				t.Errorf("Strict-Transport-Security = %q, want present=%v", hsts, tt.wantHSTS)
			}
		})
	}
}

func TestHSTSHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"gatehouse.example", true},
		{"gatehouse.example:443", true},
		{"Gatehouse.Example.", true},
		{"localhost", false},
		{"localhost:5000", false},
		{"LOCALHOST.:5000", false},
		{"app.localhost:5000", false},
		{"127.0.0.1", false},
		{"127.0.0.1:5000", false},
		{"10.0.0.2:443", false},
		{"[::1]", false},
		{"[::1]:5000", false},
		{"::1", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := httpserver.HSTSHost(tt.host); got != tt.want {
			t.Errorf("HSTSHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := httpserver.Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { order = append(order, "h") }),
		mw("a"), mw("b"))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if got := strings.Join(order, ","); got != "a,b,h" {
		t.Errorf("order = %s, want a,b,h", got)
	}
}

func TestFlushThroughWrappers(t *testing.T) {
	m, err := httpserver.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Wrap("webapp", httpserver.AccessLog(slog.New(slog.DiscardHandler), nil, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if _, ok := w.(http.Flusher); !ok {
			t.Error("wrapped writer is not an http.Flusher")
		}
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if !rec.Flushed {
		t.Error("flush did not reach the underlying writer")
	}
}

func TestDeadline(t *testing.T) {
	t.Run("deadline on the request's context", func(t *testing.T) {
		tests := []struct {
			name   string
			d      time.Duration
			parent time.Duration // the incoming context's own deadline; 0 for none
			want   time.Duration // the deadline the handler sees, from now; 0 for none
		}{
			{"request timeout", time.Hour, 0, time.Hour},
			{"earlier deadline of the caller kept", time.Hour, time.Minute, time.Minute},
			{"later deadline of the caller shortened", time.Minute, time.Hour, time.Minute},
			{"zero: no deadline", 0, 0, 0},
			{"negative: no deadline", -time.Second, 0, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var deadline time.Time
				var has bool
				h := httpserver.Deadline(tt.d, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
					deadline, has = r.Context().Deadline()
				}))
				before := time.Now()
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				if tt.parent > 0 {
					ctx, cancel := context.WithTimeout(req.Context(), tt.parent)
					defer cancel()
					req = req.WithContext(ctx)
				}
				h.ServeHTTP(httptest.NewRecorder(), req)
				after := time.Now()
				if tt.want == 0 {
					if has {
						t.Errorf("handler's context has a deadline (%s), want none", deadline)
					}
					return
				}
				// Between before+want and after+want: the deadline set (or
				// kept) is the expected one, not another.
				if !has || deadline.Before(before.Add(tt.want)) || deadline.After(after.Add(tt.want)) {
					t.Errorf("deadline %v (set %v), want %s from the request", deadline.Sub(before), has, tt.want)
				}
			})
		}
	})

	t.Run("a handler waiting on its context answers", func(t *testing.T) {
		var waitErr error
		h := httpserver.Deadline(10*time.Millisecond, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Stands for a query on a connection nobody answers.
			select {
			case <-r.Context().Done():
				waitErr = r.Context().Err()
			case <-time.After(time.Minute):
				waitErr = errors.New("not released by a deadline")
			}
			w.Header().Set("Retry-After", "5")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, "unavailable")
		}))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if !errors.Is(waitErr, context.DeadlineExceeded) {
			t.Errorf("handler's wait ended with %v, want context.DeadlineExceeded", waitErr)
		}
		if rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "unavailable" {
			t.Errorf("answer %d %q, want the handler's own 503 written after the deadline", rec.Code, rec.Body)
		}
	})

	t.Run("the client going away still cancels", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var err error
		h := httpserver.Deadline(time.Hour, http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			cancel()
			<-r.Context().Done()
			err = r.Context().Err()
		}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("handler's context ended with %v, want context.Canceled", err)
		}
	})

	t.Run("route pattern reaches the outer middleware", func(t *testing.T) {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /things/{id}", ok)
		req := httptest.NewRequest(http.MethodGet, "/things/1", nil)
		httpserver.Deadline(time.Hour, mux).ServeHTTP(httptest.NewRecorder(), req)
		if req.Pattern != "GET /things/{id}" {
			t.Errorf("outer request's pattern %q, want the matched route", req.Pattern)
		}
	})
}

type copyKey struct{}

// TestRouteFromInside: a role that serves a copy of the request the
// middlewares never see (as a session manager does), or that routes
// requests itself, still names the route for Metrics: the innermost one.
func TestRouteFromInside(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := httpserver.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	inner := http.NewServeMux()
	inner.HandleFunc("POST /todos/{id}/toggle", func(w http.ResponseWriter, r *http.Request) {})
	copying := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		httpserver.RecordRoute(inner).ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), copyKey{}, 1)))
	})
	outer := http.NewServeMux()
	outer.Handle("/", copying)
	outer.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		httpserver.SetRoute(r, "/api/todos/{id}")
		httpserver.SetRoute(r, "/api/ignored") // the first route recorded wins
	})
	h := m.Wrap("webapp", httpserver.RequestID(outer))
	for _, target := range []struct{ method, path string }{
		{"POST", "/todos/1/toggle"}, {"POST", "/todos/2/toggle"}, {"GET", "/api/todos/3"},
	} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(target.method, target.path, nil))
	}
	want := `
# HELP gatehouse_http_requests_total HTTP requests served, by role, route pattern, method and status code.
# TYPE gatehouse_http_requests_total counter
gatehouse_http_requests_total{code="200",method="GET",role="webapp",route="/api/todos/{id}"} 1
gatehouse_http_requests_total{code="200",method="POST",role="webapp",route="POST /todos/{id}/toggle"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gatehouse_http_requests_total"); err != nil {
		t.Error(err)
	}
}
