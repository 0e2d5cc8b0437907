package telemetry_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
)

func lookupIn(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// TestOffWhenUnset: without an OTLP endpoint (or with tracing disabled)
// there is no exporter: a no-op tracer provider, and the transport and log
// handler are the ones given, untouched.
func TestOffWhenUnset(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
	}{
		{"nothing set", nil},
		{"only a service name", map[string]string{"OTEL_SERVICE_NAME": "x"}},
		{"empty endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": " "}},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces", "OTEL_TRACES_EXPORTER": "none"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tel, err := telemetry.New(t.Context(), lookupIn(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if tel.Enabled() {
				t.Fatal("tracing is on")
			}
			if _, ok := tel.TracerProvider().(noop.TracerProvider); !ok {
				t.Errorf("tracer provider is %T, want the no-op one", tel.TracerProvider())
			}
			base := http.DefaultTransport
			if got := tel.Transport(base); got != base {
				t.Errorf("transport is wrapped (%T)", got)
			}
			h := slog.NewTextHandler(&bytes.Buffer{}, nil)
			if got := tel.LogHandler(h); got != slog.Handler(h) {
				t.Errorf("log handler is wrapped (%T)", got)
			}
			if err := tel.Shutdown(t.Context()); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestNewRefusesWhatItCannotSend: an exporter or protocol Gatehouse does
// not speak is a clear error, not silently no traces.
func TestNewRefusesWhatItCannotSend(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "http/protobuf"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"}, "http/protobuf"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "zipkin"}, "otlp only"},
	} {
		_, err := telemetry.New(t.Context(), lookupIn(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one mentioning %q", tc.env, err, tc.want)
		}
	}
}

// TestExportsAndFlushesOnShutdown: with an endpoint set, spans go to it
// over OTLP/HTTP, under OTEL_SERVICE_NAME, and Shutdown sends those still
// buffered.
func TestExportsAndFlushesOnShutdown(t *testing.T) {
	rc := newReceiver(t)
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": rc.srv.URL,
		"OTEL_SERVICE_NAME":           "gatehouse-test",
		"OTEL_BSP_SCHEDULE_DELAY":     "600000", // only Shutdown sends
	}
	for k, v := range env {
		t.Setenv(k, v) // the SDK reads the process environment itself
	}
	tel, err := telemetry.New(t.Context(), lookupIn(env))
	if err != nil {
		t.Fatal(err)
	}
	if !tel.Enabled() {
		t.Fatal("tracing is off")
	}
	_, sp := tel.TracerProvider().Tracer("test").Start(t.Context(), "work")
	sp.End()
	if n := len(rc.spans()); n != 0 {
		t.Fatalf("%d spans sent before Shutdown", n)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	got := rc.spans()
	if len(got) != 1 || got[0].GetName() != "work" || got[0].service != "gatehouse-test" {
		t.Fatalf("received %v, want the span work of gatehouse-test", got)
	}
}

// recording returns a tracer provider keeping its spans in memory.
func recording(t *testing.T) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp, exp
}

// TestTransportPropagatesTraceparent: a call through the transport is a
// client span, child of the caller's span, and the server called gets a
// traceparent naming that client span; the caller's request is left as it
// was.
func TestTransportPropagatesTraceparent(t *testing.T) {
	var gotHeader string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader = r.Header.Get("traceparent")
		w.WriteHeader(http.StatusTeapot)
	}))
	defer srv.Close()
	tp, exp := recording(t)
	hc := &http.Client{Transport: &telemetry.Transport{Base: srv.Client().Transport, Provider: tp, Propagator: propagation.TraceContext{}}}

	ctx, parent := tp.Tracer("test").Start(t.Context(), "request")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/token?code=secret", nil)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	parent.End()
	if req.Header.Get("traceparent") != "" {
		t.Error("the caller's request was modified")
	}
	spans := exp.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	client := spans[0]
	if client.Name != "POST /token" || client.SpanKind != trace.SpanKindClient {
		t.Errorf("client span %q kind %v", client.Name, client.SpanKind)
	}
	if client.Parent.SpanID() != parent.SpanContext().SpanID() || client.SpanContext.TraceID() != parent.SpanContext().TraceID() {
		t.Error("the client span is not the caller's span's child")
	}
	want := "00-" + client.SpanContext.TraceID().String() + "-" + client.SpanContext.SpanID().String() + "-01"
	if gotHeader != want {
		t.Errorf("server got traceparent %q, want %q", gotHeader, want)
	}
	attrs := map[string]string{}
	for _, kv := range client.Attributes {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["http.response.status_code"] != "418" || attrs["http.request.method"] != "POST" || strings.Contains(attrs["url.full"], "secret") {
		t.Errorf("client span attributes %v", attrs)
	}
	if client.Status.Code.String() != "Error" {
		t.Errorf("a 418 answer left status %v", client.Status.Code)
	}
}

// TestLogLinesCarryTraceID: a line logged within a span has its trace_id
// and span_id; one logged outside has neither.
func TestLogLinesCarryTraceID(t *testing.T) {
	tp, _ := recording(t)
	var buf bytes.Buffer
	log := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("role", "api")
	ctx, sp := tp.Tracer("test").Start(t.Context(), "request")
	log.InfoContext(ctx, "inside")
	sp.End()
	log.InfoContext(t.Context(), "outside")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log: %s", buf.String())
	}
	var in, out map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &in); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(lines[1]), &out); err != nil {
		t.Fatal(err)
	}
	if in["trace_id"] != sp.SpanContext().TraceID().String() || in["span_id"] != sp.SpanContext().SpanID().String() || in["role"] != "api" {
		t.Errorf("line within the span: %s", lines[0])
	}
	if _, ok := out["trace_id"]; ok {
		t.Errorf("line outside any span: %s", lines[1])
	}
}

// TestStartDB: a statement in a recording span gets a child span named by
// its operation, with db.system; outside one it gets none; no rows is no
// failure.
func TestStartDB(t *testing.T) {
	tp, exp := recording(t)
	ctx0 := t.Context()
	if ctx, end := telemetry.StartDB(ctx0, "sqlite", "SELECT 1"); ctx != ctx0 {
		t.Error("a span was started outside any traced request")
	} else {
		end(nil)
	}
	ctx, parent := tp.Tracer("test").Start(ctx0, "request")
	_, end := telemetry.StartDB(ctx, "postgres", "\n  select id FROM users WHERE id = $1")
	end(sql.ErrNoRows)
	_, end = telemetry.StartDBOperation(ctx, "mysql", "replace")
	end(sql.ErrConnDone)
	parent.End()

	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	for i, want := range []struct{ name, system, status string }{
		{"db SELECT", "postgresql", "Unset"},
		{"db REPLACE", "mysql", "Error"},
	} {
		s := spans[i]
		attrs := map[string]string{}
		for _, kv := range s.Attributes {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		if s.Name != want.name || attrs["db.system"] != want.system || attrs["db.system.name"] != want.system || s.Status.Code.String() != want.status {
			t.Errorf("span %d: %q %v status %v, want %+v", i, s.Name, attrs, s.Status.Code, want)
		}
		if s.Parent.SpanID() != parent.SpanContext().SpanID() {
			t.Errorf("span %q is not the request's child", s.Name)
		}
	}
}
