package telemetry

import (
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Transport makes a client span for every request it sends through Base
// and sends the span's W3C traceparent with the request, so that the
// server span of the role called becomes the span's child. The span is a
// child of the span in the request's context, if any; it ends when the
// response's headers have arrived.
type Transport struct {
	Base       http.RoundTripper // nil: http.DefaultTransport
	Provider   trace.TracerProvider
	Propagator propagation.TextMapPropagator
}

// Transport returns base with client spans (see [Transport]), or base
// itself when tracing is off.
func (t *Tracing) Transport(base http.RoundTripper) http.RoundTripper {
	if !t.Enabled() {
		return base
	}
	return &Transport{Base: base, Provider: t.provider, Propagator: t.propagator}
}

// RoundTrip implements [http.RoundTripper]. The request is not modified:
// the traceparent goes on a copy.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	ctx, span := t.Provider.Tracer(instrumentation).Start(req.Context(), req.Method+" "+req.URL.Path,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(clientAttributes(req)...))
	defer span.End()
	r2 := req.Clone(ctx) // Clone copies the header; the body is shared
	t.Propagator.Inject(ctx, propagation.HeaderCarrier(r2.Header))
	res, err := base.RoundTrip(r2)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, strings.ToValidUTF8(err.Error(), "\uFFFD"))
		return nil, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(res.StatusCode))
	if res.StatusCode >= 400 {
		span.SetStatus(codes.Error, res.Status)
	}
	return res, nil
}

// clientAttributes describes req by semantic conventions. url.full has
// neither the query (it may carry codes or tokens) nor user information.
func clientAttributes(req *http.Request) []attribute.KeyValue {
	u := url.URL{Scheme: req.URL.Scheme, Host: req.URL.Host, Path: req.URL.Path}
	attrs := []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(requestMethod(req.Method)),
		semconv.URLFull(u.String()),
	}
	host, port, err := net.SplitHostPort(req.URL.Host)
	if err != nil {
		host = req.URL.Host
		port = map[string]string{"http": "80", "https": "443"}[req.URL.Scheme]
	}
	attrs = append(attrs, semconv.ServerAddress(host))
	if p, err := strconv.Atoi(port); err == nil {
		attrs = append(attrs, semconv.ServerPort(p))
	}
	return attrs
}

// requestMethod is method as http.request.method records it: the standard
// methods as they are, any other as _OTHER.
func requestMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "_OTHER"
}
