package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/gatehouse-dev/gatehouse/internal/httpserver"
	"github.com/gatehouse-dev/gatehouse/internal/telemetry"
)

// TestTraceServerSpan: each request is a server span named by its route,
// continuing the traceparent it came with, with the semantic conventions'
// attributes and the role; the access log line carries its trace ID.
func TestTraceServerSpan(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())

	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/{resource}", func(w http.ResponseWriter, r *http.Request) {
		if !trace.SpanFromContext(r.Context()).IsRecording() {
			t.Error("the handler's context has no span")
		}
		if r.PathValue("resource") == "broken" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	var logs bytes.Buffer
	logger := slog.New(telemetry.NewLogHandler(slog.NewJSONHandler(&logs, nil)))
	h := httpserver.Chain(mux,
		func(next http.Handler) http.Handler {
			return httpserver.Trace(tp, propagation.TraceContext{}, "api", next)
		},
		httpserver.RequestID,
		func(next http.Handler) http.Handler {
			return httpserver.AccessLog(logger, httpserver.TrustedProxies{}, next)
		},
	)
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		parent  = "00f067aa0ba902b7"
	)
	for _, tc := range []struct {
		target, traceparent, name, route, status, code string
		continued                                      bool
	}{
		{"/api/todos?access_token=x", "00-" + traceID + "-" + parent + "-01", "GET /api/{resource}", "/api/{resource}", "200", "Unset", true},
		{"/api/broken", "", "GET /api/{resource}", "/api/{resource}", "503", "Error", false},
		{"/nowhere", "00-zz-bad-01", "GET", "", "404", "Unset", false},
	} {
		exp.Reset()
		logs.Reset()
		req := httptest.NewRequest(http.MethodGet, tc.target, nil)
		if tc.traceparent != "" {
			req.Header.Set("traceparent", tc.traceparent)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		spans := exp.GetSpans()
		if len(spans) != 1 {
			t.Fatalf("%s: %d spans", tc.target, len(spans))
		}
		s := spans[0]
		attrs := map[string]string{}
		for _, kv := range s.Attributes {
			attrs[string(kv.Key)] = kv.Value.String()
		}
		if s.Name != tc.name || s.SpanKind != trace.SpanKindServer || attrs["http.route"] != tc.route ||
			attrs["http.response.status_code"] != tc.status || attrs["http.request.method"] != "GET" ||
			attrs["role"] != "api" || s.Status.Code.String() != tc.code {
			t.Errorf("%s: span %q kind %v status %v %v", tc.target, s.Name, s.SpanKind, s.Status.Code, attrs)
		}
		if id := rec.Header().Get(httpserver.RequestIDHeader); attrs["http.response.header.x-request-id"] != `["`+id+`"]` {
			t.Errorf("%s: request ID attribute %q, header %q", tc.target, attrs["http.response.header.x-request-id"], id)
		}
		for k, v := range attrs {
			if strings.Contains(v, "access_token") {
				t.Errorf("%s: the query string is in %s", tc.target, k)
			}
		}
		continued := s.SpanContext.TraceID().String() == traceID && s.Parent.SpanID().String() == parent && s.Parent.IsRemote()
		if continued != tc.continued {
			t.Errorf("%s: continued the incoming trace: %v, want %v", tc.target, continued, tc.continued)
		}
		var line map[string]any
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
			t.Fatalf("%s: access log %q: %v", tc.target, logs.String(), err)
		}
		if line["trace_id"] != s.SpanContext.TraceID().String() || line["span_id"] != s.SpanContext.SpanID().String() {
			t.Errorf("%s: access log line %s lacks the span's IDs", tc.target, logs.String())
		}
	}
}

// TestTraceOff: without a tracer provider the handler is returned as it is.
func TestTraceOff(t *testing.T) {
	h := http.NotFoundHandler()
	if got := httpserver.Trace(nil, propagation.TraceContext{}, "api", h); got == nil || func() bool {
		rec := httptest.NewRecorder()
		got.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec.Code != http.StatusNotFound
	}() {
		t.Fatal("Trace(nil) changed the handler")
	}
}
