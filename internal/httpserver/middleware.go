package httpserver

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"
)

// Chain wraps h in the middleware mw, the first one outermost:
// Chain(h, a, b) is a(b(h)).
func Chain(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// LimitBody caps every request body at max bytes with [http.MaxBytesReader]:
// a handler reading past the limit gets an [*http.MaxBytesError] (and the
// connection is closed after the response), and answers it in its own
// protocol's error shape.
func LimitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		r2.Body = http.MaxBytesReader(w, r.Body, max)
		serveCopy(next, w, r, r2)
	})
}

// Deadline gives every request's context a deadline d from now, so that
// whatever the handler waits on through that context — a database query on a
// connection nobody answers, a connection from a full pool, a call to another
// role — ends by then instead of hanging. The drivers Gatehouse uses (pgx,
// go-sql-driver/mysql, modernc.org/sqlite) cancel a query when its context
// ends; the error then wraps [context.DeadlineExceeded], which the storage
// backends report as unavailable, so the handler answers 503 in its own
// protocol's error shape.
//
// Unlike [http.TimeoutHandler], Deadline writes nothing itself and buffers
// nothing: the handler still writes its own answer, after the deadline if it
// must. The deadline does not bound reading the request or writing the
// response; the server's read and write timeouts do. d ≤ 0 leaves requests
// without a deadline of their own.
func Deadline(d time.Duration, next http.Handler) http.Handler {
	if d <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		serveCopy(next, w, r, r.WithContext(ctx))
	})
}

// Recover turns a panic in next into a logged error (with the stack and the
// request ID) and a 500, so one bad request cannot crash the process. If the
// response was already started, the connection is aborted instead, so that the
// client never takes a truncated response for a whole one.
// [http.ErrAbortHandler] is passed on untouched: it is how a handler asks
// net/http to abort the connection quietly.
func Recover(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := newRecorder(w)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			logger.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("panic", fmt.Sprint(v)),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.String("request_id", requestIDOf(w, r)),
				slog.String("stack", string(debug.Stack())),
			)
			if rec.written {
				panic(http.ErrAbortHandler)
			}
			// Drop what the handler said about the body it never finished;
			// keep the rest (request ID, security headers).
			h := w.Header()
			for _, k := range []string{"Content-Length", "Content-Encoding", "Content-Disposition", "ETag", "Last-Modified", "Location"} {
				h.Del(k)
			}
			h.Set("Cache-Control", "no-store")
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		}()
		next.ServeHTTP(rec, r)
	})
}

// ContentSecurityPolicy is the policy [SecurityHeaders] sets: everything from
// our own origin only, no framing (clickjacking, RFC 9700 §4.16), no <base>
// and no plugins.
//
// It has no form-action: browsers apply form-action to every redirect that
// follows a form post, and the authorization server's login and consent forms
// end in a redirect to the client's registered redirect URI, on the client's
// origin. A role whose forms only stay on known origins adds its own
// form-action (the web app does).
const ContentSecurityPolicy = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// SecurityHeaders sets the browser security headers for roles that serve
// HTML: a strict Content-Security-Policy, X-Frame-Options DENY,
// X-Content-Type-Options nosniff, Referrer-Policy no-referrer (so codes and
// state in our URLs do not leak to other sites, RFC 9700 §4.2), and, for requests that came
// over TLS, Strict-Transport-Security.
//
// HSTS is sent only for hosts [HSTSHost] accepts.
//
// The headers are set before next runs, so a handler may still replace one
// (for example to add a nonce to the policy).
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.TLS != nil && HSTSHost(r.Host) {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// HSTSHost reports whether Strict-Transport-Security may be sent for
// hostport (a host name or IP literal, with or without a port). It is false
// for localhost, names under .localhost and IP literals: browsers ignore HSTS
// for IP literals (RFC 6797 §8.1), and a policy holds for a host whatever
// the port, so for "localhost" it would pin every service on every port of
// the person's machine to HTTPS for the max-age.
func HSTSHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "" || host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return false
	}
	return true
}
