package httpserver

import (
	"log/slog"
	"net/http"
	"time"
)

// maxLoggedPath bounds the path written to the log so one request cannot
// flood it.
const maxLoggedPath = 256

// AccessLog writes one line per request once it is served: method, path,
// matched route, status, body bytes, duration, request ID, the connection's
// remote address, and the client's address as [TrustedProxies.ClientIP]
// resolves it with proxies (the remote host when no proxy is trusted).
// The query string is never logged — it may carry codes, tokens or other
// secrets — and neither are headers. Responses with a 5xx status are logged at
// error level, everything else at info.
func AccessLog(logger *slog.Logger, proxies TrustedProxies, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := newRecorder(w)
		defer func() {
			status := rec.Status()
			level := slog.LevelInfo
			if status >= 500 {
				level = slog.LevelError
			}
			path := r.URL.Path
			if len(path) > maxLoggedPath {
				path = path[:maxLoggedPath] + "…"
			}
			logger.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method),
				slog.String("path", path),
				slog.String("route", routeOf(r)),
				slog.Int("status", status),
				slog.Int64("bytes", rec.bytes),
				slog.Duration("duration", time.Since(start)),
				slog.String("request_id", requestIDOf(w, r)),
				slog.String("remote", r.RemoteAddr),
				slog.String("client", proxies.ClientIP(r)),
			)
		}()
		serveCopy(next, rec, r, r)
	})
}

// requestIDOf finds the request ID whether RequestID runs outside this
// middleware (context) or inside it (response header).
func requestIDOf(w http.ResponseWriter, r *http.Request) string {
	if id := RequestIDFrom(r.Context()); id != "" {
		return id
	}
	return w.Header().Get(RequestIDHeader)
}

// routeOf is the ServeMux pattern that served r, or "unmatched".
func routeOf(r *http.Request) string {
	if r.Pattern == "" {
		return "unmatched"
	}
	return r.Pattern
}
