package telemetry

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ServiceName is the service.name spans carry unless OTEL_SERVICE_NAME (or
// service.name in OTEL_RESOURCE_ATTRIBUTES) names another.
const ServiceName = "gatehouse"

// instrumentation is the name of the tracers Gatehouse makes spans with.
const instrumentation = "github.com/gatehouse-dev/gatehouse"

// Tracing is the process's tracing: a tracer provider exporting spans over
// OTLP/HTTP and the W3C Trace Context propagator, or, when off, a no-op
// tracer provider.
type Tracing struct {
	provider   trace.TracerProvider
	propagator propagation.TextMapPropagator
	// shutdown flushes and stops the exporting provider; nil when off.
	shutdown func(context.Context) error
}

// Off is tracing switched off.
func Off() *Tracing {
	return &Tracing{provider: noop.NewTracerProvider(), propagator: propagator()}
}

// propagator reads and writes W3C traceparent/tracestate and baggage.
func propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// New sets tracing up from the OTEL_* environment variables, which lookup
// reads (os.LookupEnv outside tests): it is off unless
// OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set,
// and off when OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is none.
// Spans are exported with OTLP over HTTP (protobuf); the exporter, the
// batching, the sampler and the resource read their own variables from the
// process environment. Call Shutdown before the process exits, to send the
// spans still buffered.
func New(ctx context.Context, lookup func(string) (string, bool)) (*Tracing, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return Off(), nil
	}
	if get("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
		return Off(), nil
	}
	switch e := get("OTEL_TRACES_EXPORTER"); e {
	case "", "otlp":
	case "none":
		return Off(), nil
	default:
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%s: gatehouse exports traces with otlp only (or none)", e)
	}
	protocol := get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if protocol == "" {
		protocol = get("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	if protocol != "" && protocol != "http/protobuf" {
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: gatehouse sends traces with OTLP over HTTP only (http/protobuf; a collector's port 4318)", protocol)
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(ServiceName)),
		resource.WithFromEnv(), // OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES win
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("trace resource (OTEL_RESOURCE_ATTRIBUTES?): %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{provider: tp, propagator: propagator(), shutdown: tp.Shutdown}, nil
}

// Enabled reports whether spans are exported.
func (t *Tracing) Enabled() bool { return t.shutdown != nil }

// TracerProvider is the provider spans are made with (a no-op one when
// off).
func (t *Tracing) TracerProvider() trace.TracerProvider { return t.provider }

// Propagator reads and writes the W3C traceparent header.
func (t *Tracing) Propagator() propagation.TextMapPropagator { return t.propagator }

// Shutdown sends the spans still buffered and stops exporting, within
// ctx's deadline. It does nothing when tracing is off.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.shutdown == nil {
		return nil
	}
	if err := t.shutdown(ctx); err != nil {
		return fmt.Errorf("flushing traces: %w", err)
	}
	return nil
}
