package telemetry

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// maxQueryText bounds the statement text a database span records.
const maxQueryText = 2048

// StartDB starts a span for one database statement, query, on a database
// of the given dialect ("sqlite", "postgres" or "mysql"), named "db " and
// the statement's first keyword (db SELECT, db INSERT…), and returns the
// context to run the statement with and the function that ends the span
// with the statement's error (sql.ErrNoRows is no failure).
//
// The span is made with the tracer provider of the span in ctx, and only
// when that span is recording: a statement outside a traced request (or
// with tracing off) costs one context lookup and makes no span. query is
// recorded as db.query.text: Gatehouse's statements carry their values as
// arguments, never in the text.
func StartDB(ctx context.Context, dialect, query string) (context.Context, func(error)) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, endNothing
	}
	text := query
	if len(text) > maxQueryText {
		text = text[:maxQueryText]
	}
	return startDB(ctx, dialect, operation(query), semconv.DBQueryText(text))
}

// StartDBOperation is [StartDB] for an operation of several statements, or
// one whose statements are not known yet: the span is named "db " and
// operation (upper-cased: db INSERT, db REPLACE…) and has no query text.
func StartDBOperation(ctx context.Context, dialect, operation string) (context.Context, func(error)) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, endNothing
	}
	return startDB(ctx, dialect, strings.ToUpper(operation))
}

func startDB(ctx context.Context, dialect, op string, extra ...attribute.KeyValue) (context.Context, func(error)) {
	system := dbSystem(dialect)
	attrs := append([]attribute.KeyValue{
		semconv.DBSystemNameKey.String(system),
		attribute.String("db.system", system),
		semconv.DBOperationName(op),
	}, extra...)
	ctx, span := trace.SpanFromContext(ctx).TracerProvider().Tracer(instrumentation).Start(ctx, "db "+op,
		trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx, func(err error) {
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			span.RecordError(err)
			span.SetStatus(codes.Error, strings.ToValidUTF8(err.Error(), "\uFFFD"))
		}
		span.End()
	}
}

func endNothing(error) {}

// operation is the first keyword of query, upper-cased: SELECT, INSERT,
// UPDATE, DELETE…
func operation(query string) string {
	q := strings.TrimLeft(query, "( \t\r\n")
	if i := strings.IndexAny(q, " \t\r\n(;"); i >= 0 {
		q = q[:i]
	}
	if q == "" {
		return "statement"
	}
	return strings.ToUpper(q)
}

// dbSystem is the db.system.name of a Gatehouse dialect.
func dbSystem(dialect string) string {
	switch dialect {
	case "postgres", "pgx":
		return "postgresql"
	case "sqlite", "sqlite3":
		return "sqlite"
	}
	return dialect
}
