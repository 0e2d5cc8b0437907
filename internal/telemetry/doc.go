// Package telemetry sets up OpenTelemetry tracing for Gatehouse and holds
// the pieces that carry a trace across the roles: the tracer provider and
// W3C Trace Context propagator the process exports spans with ([New]), a
// client transport that makes a span for each call one role makes to
// another and sends the call's traceparent ([Tracing.Transport]), spans
// around database statements ([StartDB]), and a log handler that writes the
// trace and span IDs into every log line of a traced request
// ([LogHandler]). The server span of each request is made by
// httpserver.Trace.
//
// Tracing is configured only through the standard OTEL_* environment
// variables, which the OpenTelemetry SDK reads itself
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER,
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_BSP_*…). With neither endpoint variable
// set it is off: the tracer provider is a no-op one, and the middleware and
// transport that would use it are left out altogether.
//
// The package sets no global OpenTelemetry state: the tracer provider and
// propagator are passed explicitly to what uses them. Database spans take
// the tracer provider from the span already in the context (the request's),
// so the stores need no configuration and make no spans outside a traced
// request.
package telemetry
