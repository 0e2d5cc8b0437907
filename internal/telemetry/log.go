package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// LogHandler returns h writing, into every record logged with a context
// that holds a span (a traced request's), the span's trace_id and span_id,
// so a log line can be found from its trace and the other way round.
// Records logged without such a context pass through unchanged. When
// tracing is off it is h itself.
func (t *Tracing) LogHandler(h slog.Handler) slog.Handler {
	if !t.Enabled() {
		return h
	}
	return NewLogHandler(h)
}

// NewLogHandler returns h adding trace_id and span_id to the records logged
// within a span (see [Tracing.LogHandler]).
func NewLogHandler(h slog.Handler) slog.Handler { return &logHandler{next: h} }

type logHandler struct{ next slog.Handler }

func (h *logHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

func (h *logHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		r = r.Clone()
		r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
	}
	return h.next.Handle(ctx, r)
}

func (h *logHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &logHandler{next: h.next.WithAttrs(attrs)}
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	return &logHandler{next: h.next.WithGroup(name)}
}
