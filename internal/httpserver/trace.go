package httpserver

import (
	"net"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the tracer of the server spans.
const tracerName = "github.com/gatehouse-dev/gatehouse/internal/httpserver"

// Trace makes an OpenTelemetry server span of every request, with tp, for
// the given role. The span continues the trace of the request's W3C
// traceparent header, read with prop (a new trace when there is none or it
// is malformed), and is in the context the handlers, the access log and
// the database get, so their spans and log lines belong to it.
//
// The span is named, once the request is served, by its method and the
// route the [http.ServeMux] matched ("GET /api/{resource}"; just the method
// when none did) and carries, by the semantic conventions,
// http.request.method, http.route, http.response.status_code, url.path,
// url.scheme, client.address, the request ID, and the role. A 5xx status
// marks it failed. The query string and the headers are never recorded.
// Put it outermost, so that everything else runs within the span.
//
// A nil tp leaves next as it is: tracing off costs nothing.
func Trace(tp trace.TracerProvider, prop propagation.TextMapPropagator, role string, next http.Handler) http.Handler {
	if tp == nil {
		return next
	}
	tracer := tp.Tracer(tracerName)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		client := r.RemoteAddr
		if h, _, err := net.SplitHostPort(client); err == nil {
			client = h
		}
		method := spanMethod(r.Method)
		ctx, span := tracer.Start(ctx, method,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				semconv.HTTPRequestMethodKey.String(method),
				semconv.URLPath(truncate(r.URL.EscapedPath(), maxLoggedPath)),
				semconv.URLScheme(scheme),
				semconv.ClientAddress(client),
				attribute.String("role", role),
			))
		rec := newRecorder(w)
		r2 := r.WithContext(ctx)
		defer func() {
			status := rec.Status()
			if route := routePath(r.Pattern); route != "" {
				span.SetName(method + " " + route)
				span.SetAttributes(semconv.HTTPRoute(route))
			}
			span.SetAttributes(semconv.HTTPResponseStatusCode(status))
			if id := w.Header().Get(RequestIDHeader); id != "" {
				span.SetAttributes(attribute.StringSlice("http.response.header.x-request-id", []string{id}))
			}
			if status >= 500 {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			span.End()
		}()
		serveCopy(next, rec, r, r2)
	})
}

// routePath is the path part of a ServeMux pattern ("GET /api/{resource}"
// is /api/{resource}; a pattern with a host keeps it out), or "".
func routePath(pattern string) string {
	if _, rest, ok := strings.Cut(pattern, " "); ok {
		pattern = strings.TrimLeft(rest, " \t")
	}
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

// spanMethod is the request method as http.request.method records it:
// the standard methods as they are, any other as _OTHER.
func spanMethod(method string) string {
	if m := methodLabel(method); m != "OTHER" {
		return m
	}
	return "_OTHER"
}

// truncate cuts s, which is ASCII, to n bytes. (An escaped path is ASCII:
// OTLP refuses a batch holding a string that is not valid UTF-8, which a
// decoded path from a hostile client need not be.)
func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
